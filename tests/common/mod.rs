//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

/// SplitMix64: a tiny, well-known generator, so test data is the same on
/// every machine without depending on a crate's stream stability.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn pool(workers: usize) -> shmr::Pool {
    shmr::Pool::builder()
        .workers(workers)
        .start_timeout(Duration::from_secs(60))
        .build()
        .expect("pool starts")
}

pub fn pool_with_rows(workers: usize, rows: usize) -> shmr::Pool {
    shmr::Pool::builder()
        .workers(workers)
        .chunk_size(shmr::ChunkSize::Rows(rows))
        .start_timeout(Duration::from_secs(60))
        .build()
        .expect("pool starts")
}

/// Asserts `a` and `b` agree to `rel` of `scale` (a magnitude such as the
/// sum of absolute values).
pub fn assert_close(a: f64, b: f64, scale: f64, rel: f64, what: &str) {
    let tol = rel * scale.max(1.0);
    assert!(
        (a - b).abs() <= tol,
        "{what}: {a} vs {b} differ by {} > {tol}",
        (a - b).abs()
    );
}
