//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

pub mod crash;

/// The workspace's one generator of test data (seeded SplitMix64).
#[allow(unused_imports)] // not every test file draws random data
pub use shmr_bench::data::Rng;

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

/// Runs `f` on its own thread and returns its result, failing the test if
/// it takes longer than `limit`: a regression that hangs shows as a failure
/// rather than a stuck CI run.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {limit:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the thread panicked"),
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns how
/// long it took, or `None` if it never held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = std::time::Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` has exited (gone, or a zombie waiting to be reaped).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// A fresh, empty scratch directory for one test.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shmr-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
