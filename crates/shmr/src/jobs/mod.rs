//! Built-in jobs: [`Sum`], [`Stats`] and [`Histogram`].
//!
//! Each is a [`Job`](crate::Job), run like any other:
//! `shmr::run(&data, &Sum)` on the global pool, `pool.on(&data).run(&Sum)`
//! on yours. Their kernels are written so the compiler
//! vectorizes them: independent accumulator lanes, combined in a fixed order,
//! so results are reproducible bit for bit for a given chunk size.

mod histogram;
mod stats;
mod sum;

pub use histogram::{Histogram, HistogramCounts};
pub use stats::{Stats, Summary};
pub use sum::Sum;
