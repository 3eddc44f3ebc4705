//! A pool whose workers cannot all start must fail cleanly: an error, and
//! no child process left behind, not even a zombie. (Its own test binary, so
//! that no other test's workers are counted.)

use std::path::Path;
use std::time::Duration;

/// The worker entry, with a way to break workers on purpose: when
/// `SHMR_TEST_BROKEN` names a directory, the first worker to start works and
/// every other one exits, or hangs, before reporting ready (as
/// `SHMR_TEST_HOW` says). A partly started pool, without depending on timing.
#[test]
#[ignore = "entry point of shmr worker processes, not a test"]
fn shmr_worker_entry() {
    if let Some(dir) = std::env::var_os("SHMR_TEST_BROKEN") {
        let first = std::fs::create_dir(Path::new(&dir).join("first")).is_ok();
        if !first {
            if std::env::var("SHMR_TEST_HOW").as_deref() == Ok("hang") {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            std::process::exit(3);
        }
    }
    shmr::init();
}

/// Sets the variables the workers of the next pool read.
fn break_workers(how: Option<&str>) {
    // SAFETY: this binary runs one test, on one thread, and nothing reads
    // the environment concurrently; the workers get a copy when spawned.
    unsafe {
        match how {
            Some(how) => {
                let dir = std::env::temp_dir()
                    .join(format!("shmr-start-failure-{}-{how}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                std::env::set_var("SHMR_TEST_BROKEN", &dir);
                std::env::set_var("SHMR_TEST_HOW", how);
            }
            None => {
                std::env::remove_var("SHMR_TEST_BROKEN");
                std::env::remove_var("SHMR_TEST_HOW");
            }
        }
    }
}

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
    // One worker starts; the others exit before reporting ready.
    break_workers(Some("exit"));
    let err = shmr::Pool::builder().workers(4).build().unwrap_err();
    assert!(matches!(err, shmr::Error::WorkerStart(_)), "{err:?}");
    assert!(
        err.to_string().contains("exited before it was ready"),
        "{err}"
    );
    assert_eq!(children(), Vec::<String>::new(), "workers left behind");
    // One worker starts; the others hang until the start timeout.
    break_workers(Some("hang"));
    let err = shmr::Pool::builder()
        .workers(3)
        .start_timeout(Duration::from_millis(500))
        .build()
        .unwrap_err();
    assert!(matches!(err, shmr::Error::WorkerStart(_)), "{err:?}");
    assert!(err.to_string().contains("no ready message"), "{err}");
    assert_eq!(children(), Vec::<String>::new(), "workers left behind");
    break_workers(None);
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
