//! A pool whose workers cannot all start must fail cleanly: an error, and
//! no child process left behind, not even a zombie. (Its own test binary, so
//! that no other test's workers are counted.)

use std::time::Duration;

shmr::test_worker!();

/// Children of this process, from every thread's /proc children list.
fn children() -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        out.extend(
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from),
        );
    }
    out
}

#[test]
fn a_failed_start_leaves_no_children() {
    assert!(children().is_empty());
    // Not every worker can exec and report within zero time (the first
    // ones may, which exercises the clean-up of a partly started pool).
    let err = shmr::Pool::builder()
        .workers(8)
        .start_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, shmr::Error::WorkerStart(_)), "{err:?}");
    assert!(err.to_string().contains("no ready message"), "{err}");
    assert_eq!(children(), Vec::<String>::new(), "workers left behind");
    // And the same program can still start a pool afterwards.
    let pool = shmr::Pool::builder().workers(2).build().unwrap();
    assert_eq!(pool.worker_pids().len(), 2);
    drop(pool);
    assert_eq!(
        children(),
        Vec::<String>::new(),
        "workers left behind after drop"
    );
}
