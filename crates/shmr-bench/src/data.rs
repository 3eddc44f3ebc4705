//! Benchmark data, generated straight into shared memory.

use crate::workloads::BenchElem;
use ndarray::{ArrayViewMut1, Ix1};
use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};
use shmr::SharedArray;

/// The one generator of the workspace's test and benchmark data:
/// SplitMix64 (from rand_xoshiro), a fixed algorithm, so that a seed gives
/// the same values on every machine and with every version.
pub struct Rng(SplitMix64);

impl Rng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::seed_from_u64(seed))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Fills `a` with values mapped to `A`'s range from `seed`, in place.
pub fn fill<A: BenchElem>(mut a: ArrayViewMut1<'_, A>, seed: u64) {
    let mut rng = Rng::new(seed);
    for x in a.iter_mut() {
        *x = A::from_unit(rng.next_f64());
    }
}

/// `len` values of `A` in a new shared array.
pub fn shared<A: BenchElem>(len: usize, seed: u64) -> Result<SharedArray<A, Ix1>, shmr::Error> {
    let mut a = SharedArray::<A, _>::zeros(len)?;
    fill(a.view_mut(), seed);
    Ok(a)
}
