//! The array's bytes are never copied into a worker: while workers map a
//! 256 MiB array, its pages are shared with the coordinator and each
//! worker's private memory stays small.

mod common;
use shmr::SharedArray;
use shmr::builtin::Sum;
use std::collections::HashMap;

shmr::test_worker!();

const MIB: u64 = 1 << 20;

/// The kB fields of /proc/PID/smaps_rollup, in bytes.
fn rollup(pid: u32) -> HashMap<String, u64> {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb: u64 = v.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some((k.to_string(), kb * 1024))
        })
        .collect()
}

#[test]
fn workers_share_the_array_pages_instead_of_copying_them() {
    let len = 256 * MIB as usize / 8;
    let mut a = SharedArray::<f64, _>::zeros(len).unwrap();
    // Fill in place, so no second copy exists in the coordinator either.
    for (i, x) in a.view_mut().iter_mut().enumerate() {
        *x = (i % 1000) as f64;
    }
    let pool = common::pool(2);
    let total = pool.on(&a).run(&Sum).unwrap();
    let want = (len / 1000) as f64 * 499_500.0 + (0..len % 1000).sum::<usize>() as f64;
    assert_eq!(total, want);

    // Workers keep their mapping between jobs, so they map the array now.
    let mut shared_total = 0;
    for pid in pool.worker_pids() {
        let r = rollup(pid);
        let private = r["Private_Clean"] + r["Private_Dirty"];
        let shared = r["Shared_Clean"] + r["Shared_Dirty"];
        eprintln!(
            "worker {pid}: rss {} MiB, shared {} MiB, private {} MiB, anonymous {} MiB",
            r["Rss"] / MIB,
            shared / MIB,
            private / MIB,
            r["Anonymous"] / MIB
        );
        assert!(
            private < 16 * MIB,
            "worker {pid} has {private} private bytes"
        );
        assert!(
            r["Anonymous"] < 16 * MIB,
            "worker {pid} has {} anonymous bytes",
            r["Anonymous"]
        );
        shared_total += shared;
    }
    // Between them the workers touched every page of the array, and every
    // one of those pages is the coordinator's page too.
    assert!(
        shared_total >= 250 * MIB,
        "workers share only {} MiB of the 256 MiB array",
        shared_total / MIB
    );
    // The coordinator holds no anonymous copy of the array either.
    let me = rollup(std::process::id());
    assert!(
        me["Anonymous"] < 128 * MIB,
        "coordinator anonymous {} MiB",
        me["Anonymous"] / MIB
    );
}
