//! `Sum`: the sum of every element, exact for integers (i128/u128), pairwise
//! in f64 lanes for floats.

use crate::{Element, Job};
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize};

/// The sum of all elements: `f64` for float arrays (accumulated in `f64`
/// even for `f32`), exact `i128`/`u128` for integer arrays.
///
/// Float sums use 16 lanes per chunk, combined pairwise, then chunk sums in
/// chunk order: more accurate than a plain running sum, and the same bits
/// on every run and for every number of workers. A NaN anywhere makes the
/// sum NaN (use [`Stats`](super::Stats) to skip and count NaNs).
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let data = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1000, 0.5_f32))?;
/// assert_eq!(shmr::run(&data, &shmr::builtin::Sum)?, 500.0_f64);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sum;

impl<A: Element, D: Dimension> Job<A, D> for Sum {
    type Partial = A::Sum;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> A::Sum {
        match chunk.as_slice() {
            Some(xs) => A::sum_slice(xs),
            // Chunks of a SharedArray are always contiguous; this is for
            // completeness only.
            None => A::sum_slice(&chunk.iter().copied().collect::<Vec<_>>()),
        }
    }
    fn reduce(&self, a: A::Sum, b: A::Sum) -> A::Sum {
        a + b
    }
}
