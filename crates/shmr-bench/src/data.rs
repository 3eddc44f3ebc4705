//! Benchmark data, generated straight into shared memory.

use crate::workloads::BenchElem;
use ndarray::{ArrayViewMut1, Ix1};
use shmr::SharedArray;

/// Fills `a` with SplitMix64 values mapped to `A`'s range, in place.
pub fn fill<A: BenchElem>(mut a: ArrayViewMut1<'_, A>, seed: u64) {
    let mut s = seed;
    for x in a.iter_mut() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        *x = A::from_unit((z >> 11) as f64 / (1u64 << 53) as f64);
    }
}

/// `len` values of `A` in a new shared array.
pub fn shared<A: BenchElem>(len: usize, seed: u64) -> Result<SharedArray<A, Ix1>, shmr::Error> {
    let mut a = SharedArray::<A, _>::zeros(len)?;
    fill(a.view_mut(), seed);
    Ok(a)
}
