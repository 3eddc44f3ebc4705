//! Soak: 10,000 jobs of random sizes on one pool, from two threads, some of
//! them failing on purpose in every way a job can fail. Afterwards the pool
//! still answers correctly, and the coordinator's file descriptors, its
//! memory, its workers' mappings and `/dev/shm` have not grown. (Its own test
//! binary: descriptors and memory are counted for the whole process.)

mod common;
use common::crash::{Crash, How, TRIGGER, crashing_sum};
use common::{Rng, scratch_dir, wait_until, within};
use ndarray::{Array1, Axis};
use shmr::{Error, Pool, SharedArray};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

shmr::test_worker!();

const JOBS: usize = 10_000;
const THREADS: usize = 2;
const ROWS: usize = 1000;
/// Small slots, so that overflowing one is cheap: ample for these jobs'
/// partials (at most 100 chunks of a few dozen bytes).
const SLOT_BYTES: usize = 64 << 10;

/// What one job was meant to do, and so which outcome is right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Sum,
    Stats,
    Panic,
    SlotOverflow,
    CrashOnce,
    CrashAlways,
    Hang,
}

fn kind(r: &mut Rng) -> Kind {
    match r.next_u64() % 1000 {
        0..=1 => Kind::Hang,
        2..=6 => Kind::CrashAlways,
        7..=11 => Kind::CrashOnce,
        12..=31 => Kind::SlotOverflow,
        32..=81 => Kind::Panic,
        82..=181 => Kind::Stats,
        _ => Kind::Sum,
    }
}

/// Sizes spread over orders of magnitude: 0 to about 100,000 elements.
fn size(r: &mut Rng) -> usize {
    let exp = r.next_f64() * 5.0;
    (10f64.powf(exp) as usize).saturating_sub(1)
}

fn panicking_sum(_: &(), c: ndarray::ArrayView1<'_, f64>) -> f64 {
    if c.iter().any(|&x| x == TRIGGER) {
        panic!("soak: panic on purpose");
    }
    c.sum()
}

fn one_job(pool: &Pool, r: &mut Rng, k: Kind, marker: &std::path::Path) {
    let n = size(r).max(1);
    let mut v = Array1::from_iter((0..n).map(|_| r.next_f64()));
    if matches!(
        k,
        Kind::Panic | Kind::CrashOnce | Kind::CrashAlways | Kind::Hang
    ) {
        v[r.next_u64() as usize % n] = TRIGGER;
    }
    // Partials folded in chunk order, as the pool does: equal bits expected.
    let expected = v
        .axis_chunks_iter(Axis(0), ROWS)
        .map(|c| c.sum())
        .reduce(|a, b| a + b)
        .unwrap();
    let a = SharedArray::from_array(&v).unwrap();
    let crash = |how, once: bool| Crash {
        how,
        once: once.then(|| marker.to_string_lossy().into_owned()),
    };
    match k {
        Kind::Sum => {
            let got = pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap();
            assert_eq!(got.to_bits(), expected.to_bits(), "sum of {n}");
        }
        Kind::Stats => {
            let s = pool.on(&a).run(&shmr::builtin::Stats).unwrap();
            assert_eq!(s.count(), n as u64);
            let max = v.iter().copied().fold(f64::MIN, f64::max);
            assert_eq!(s.max(), Some(max));
        }
        Kind::Panic => {
            let err = pool
                .on(&a)
                .params(())
                .map_reduce(panicking_sum, |x, y| x + y)
                .unwrap_err();
            assert!(matches!(err, Error::MapperPanicked { .. }), "{err:?}");
        }
        Kind::SlotOverflow => {
            let err = pool
                .on(&a)
                .map_reduce(|_| vec![0u8; SLOT_BYTES + 1], |x, _| x)
                .unwrap_err();
            assert!(matches!(err, Error::SlotOverflow { .. }), "{err:?}");
        }
        Kind::CrashOnce => {
            let _ = std::fs::remove_file(marker);
            let got = pool
                .on(&a)
                .params(crash(How::Abort, true))
                .map_reduce(crashing_sum, |x, y| x + y)
                .unwrap();
            assert_eq!(got.to_bits(), expected.to_bits(), "re-executed sum of {n}");
        }
        Kind::CrashAlways => {
            let err = pool
                .on(&a)
                .params(crash(How::Abort, false))
                .map_reduce(crashing_sum, |x, y| x + y)
                .unwrap_err();
            assert!(matches!(err, Error::WorkerDied { .. }), "{err:?}");
        }
        Kind::Hang => {
            let err = pool
                .on(&a)
                .timeout(Duration::from_millis(100))
                .params(crash(How::Hang, false))
                .map_reduce(crashing_sum, |x, y| x + y)
                .unwrap_err();
            assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        }
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn dev_shm_entries() -> usize {
    std::fs::read_dir("/dev/shm").map_or(0, |d| d.count())
}

/// Lines of the workers' memory maps that belong to shmr segments.
fn worker_mappings(pool: &Pool) -> usize {
    pool.worker_pids()
        .iter()
        .map(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("memfd:shmr-"))
                .count()
        })
        .sum()
}

struct Usage {
    fds: usize,
    rss_kib: u64,
    shm: usize,
    mappings: usize,
}

fn usage(pool: &Pool) -> Usage {
    Usage {
        fds: open_fds(),
        rss_kib: rss_kib(),
        shm: dev_shm_entries(),
        mappings: worker_mappings(pool),
    }
}

fn run_jobs(pool: &Arc<Pool>, jobs: usize, seed: u64) -> BTreeMap<Kind, usize> {
    let handles: Vec<_> = (0..THREADS as u64)
        .map(|t| {
            let pool = pool.clone();
            let marker = scratch_dir(&format!("soak-{seed}-{t}")).join("crashed");
            std::thread::spawn(move || {
                let mut r = Rng::new(seed * 100 + t);
                let mut kinds = BTreeMap::new();
                for _ in 0..jobs / THREADS {
                    let k = kind(&mut r);
                    one_job(&pool, &mut r, k, &marker);
                    *kinds.entry(k).or_insert(0) += 1;
                }
                kinds
            })
        })
        .collect();
    let mut kinds = BTreeMap::new();
    for h in handles {
        for (k, n) in h.join().expect("a soak thread failed") {
            *kinds.entry(k).or_insert(0) += n;
        }
    }
    kinds
}

#[test]
fn ten_thousand_jobs_leave_nothing_behind() {
    within(Duration::from_secs(600), || {
        let pool = Arc::new(
            Pool::builder()
                .workers(2)
                .chunk_size(shmr::ChunkSize::Rows(ROWS))
                .retries(1)
                .slot_bytes(SLOT_BYTES)
                .max_slot_bytes(SLOT_BYTES)
                .build()
                .unwrap(),
        );
        // Warm up: every code path once, so first-use allocations (thread
        // locals, buffers, the allocator's arenas) are not counted as growth.
        let warm = JOBS / 10;
        run_jobs(&pool, warm, 1);
        // Releases are messages the workers handle on their own time: give
        // them a moment (bounded) to unmap the last arrays, before measuring
        // as after (a release still in flight at the first measurement once
        // made a worker seem to hold one mapping fewer at the end).
        let idle = |pool: &Pool| {
            wait_until(Duration::from_secs(10), || {
                worker_mappings(pool) == pool.worker_pids().len()
            })
        };
        let _ = idle(&pool);
        let before = usage(&pool);
        let kinds = run_jobs(&pool, JOBS - warm, 2);
        let _ = idle(&pool);
        let after = usage(&pool);
        eprintln!("jobs by kind: {kinds:?}");
        eprintln!(
            "fds {} -> {}, rss {} -> {} KiB, /dev/shm {} -> {}, worker mappings {} -> {}",
            before.fds,
            after.fds,
            before.rss_kib,
            after.rss_kib,
            before.shm,
            after.shm,
            before.mappings,
            after.mappings
        );
        for k in [
            Kind::Panic,
            Kind::SlotOverflow,
            Kind::CrashOnce,
            Kind::CrashAlways,
            Kind::Hang,
        ] {
            assert!(kinds.get(&k).copied().unwrap_or(0) > 0, "no {k:?} job ran");
        }
        assert!(after.fds <= before.fds, "descriptors grew");
        assert!(after.shm <= before.shm, "/dev/shm grew");
        // The workers hold the pool's slot segment and nothing else between
        // jobs: every array was dropped, and unmapped.
        assert_eq!(
            after.mappings,
            pool.worker_pids().len(),
            "a worker still maps something beside the slot segment"
        );
        // 9,000 jobs: a leak of 500 bytes a job would pass this allowance,
        // which is for the allocator keeping freed pages (measured: under
        // 0.2 MiB of growth).
        assert!(
            after.rss_kib <= before.rss_kib + 4 * 1024,
            "memory grew from {} to {} KiB",
            before.rss_kib,
            after.rss_kib
        );
        // And the pool still answers correctly.
        let v = Array1::from_iter((0..100_000).map(f64::from));
        let a = SharedArray::from_array(&v).unwrap();
        assert_eq!(pool.on(&a).run(&shmr::builtin::Sum).unwrap(), v.sum());
    });
}
