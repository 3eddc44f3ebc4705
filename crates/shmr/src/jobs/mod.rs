//! Built-in jobs: [`Sum`], [`Stats`] and [`Histogram`].
//!
//! Each is a [`Job`](crate::Job) with `run` (on the global pool) and
//! `run_on` (on a given pool). Their kernels are written so the compiler
//! vectorizes them: independent accumulator lanes, combined in a fixed order,
//! so results are reproducible bit for bit for a given chunk size.

mod histogram;
mod stats;
mod sum;

pub use histogram::{Histogram, HistogramCounts};
pub use stats::{Stats, Summary};
pub use sum::Sum;

/// `run` and `run_on` for a built-in job, without importing the trait.
macro_rules! runners {
    ($job:ty) => {
        impl $job {
            /// Runs the job over `array` on the global pool.
            pub fn run<A, D>(
                &self,
                array: &$crate::SharedArray<A, D>,
            ) -> $crate::Result<<Self as $crate::Job<A, D>>::Partial>
            where
                A: $crate::Element,
                D: ndarray::Dimension + 'static,
            {
                $crate::global_pool()?.run(array, self)
            }

            /// Runs the job over `array` on `pool`.
            pub fn run_on<A, D>(
                &self,
                pool: &$crate::Pool,
                array: &$crate::SharedArray<A, D>,
            ) -> $crate::Result<<Self as $crate::Job<A, D>>::Partial>
            where
                A: $crate::Element,
                D: ndarray::Dimension + 'static,
            {
                pool.run(array, self)
            }
        }
    };
}
use runners;
