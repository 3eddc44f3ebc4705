//! The pool: determinism, reuse, parameters, jobs, and its error paths.

mod common;
use common::{Rng, assert_close, pool, pool_with_rows, wait_until};
use ndarray::{Array1, ArrayView1, Ix1};
use serde::{Deserialize, Serialize};
use shmr::builtin::{Stats, Sum};
use shmr::{Element, Error, SharedArray};
use std::time::{Duration, Instant};

shmr::test_worker!();

fn random(n: usize, seed: u64) -> Array1<f64> {
    let mut r = Rng::new(seed);
    Array1::from_iter((0..n).map(|_| r.next_f64() * 2e6 - 1e6))
}

#[test]
fn f64_sum_is_bit_identical_for_any_worker_count() {
    let v = random(1_000_003, 1);
    let a = SharedArray::from_array(&v).unwrap();
    let rows = 10_000;
    // The definition: per-chunk kernel sums folded left in chunk order.
    let expected = v
        .as_slice()
        .unwrap()
        .chunks(rows)
        .map(f64::sum_slice)
        .reduce(|x, y| x + y)
        .unwrap();
    let naive: f64 = v.iter().sum();
    assert_close(
        expected,
        naive,
        v.mapv(f64::abs).sum(),
        1e-13,
        "chunked vs naive",
    );
    let mut stats = Vec::new();
    for workers in 1..=4 {
        let pool = pool_with_rows(workers, rows);
        for _ in 0..3 {
            let got = pool.on(&a).run(&Sum).unwrap();
            assert_eq!(
                got.to_bits(),
                expected.to_bits(),
                "{workers} workers: {got} vs {expected}"
            );
        }
        stats.push(pool.on(&a).run(&Stats).unwrap());
    }
    for s in &stats[1..] {
        assert_eq!(s, &stats[0], "Stats must not depend on the worker count");
    }
}

#[test]
fn a_thousand_small_jobs_on_one_pool() {
    let pool = pool_with_rows(2, 64);
    let mut r = Rng::new(5);
    let start_pids = pool.worker_pids();
    for i in 0..1000 {
        let n = (r.next_u64() % 500) as usize;
        let v = Array1::from_iter((0..n as i64).map(|x| x * (i % 7)));
        let a = SharedArray::from_array(&v).unwrap();
        let got = pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap();
        assert_eq!(got, v.sum(), "job {i} over {n} elements");
    }
    assert_eq!(
        pool.worker_pids(),
        start_pids,
        "the same workers served every job"
    );
}

#[test]
fn parameters_travel_to_the_workers() {
    let pool = pool_with_rows(2, 100);
    let v = random(10_000, 2);
    let a = SharedArray::from_array(&v).unwrap();
    #[derive(Serialize, Deserialize)]
    struct Window {
        lo: f64,
        hi: f64,
        label: String,
    }
    let params = Window {
        lo: -1000.0,
        hi: 5000.0,
        label: "w".repeat(1000),
    };
    let (count, len) = pool
        .on(&a)
        .params(params)
        .map_reduce(
            |w, c| {
                (
                    c.iter().filter(|&&x| x >= w.lo && x < w.hi).count(),
                    w.label.len(),
                )
            },
            |x, y| (x.0 + y.0, x.1.max(y.1)),
        )
        .unwrap();
    let want = v
        .iter()
        .filter(|&&x| (-1000.0..5000.0).contains(&x))
        .count();
    assert_eq!((count, len), (want, 1000));
}

/// A user-defined reusable job: mean absolute deviation from a centre.
#[derive(Serialize, Deserialize)]
struct AbsDev {
    centre: f64,
}

impl shmr::Job<f64, Ix1> for AbsDev {
    type Partial = (f64, u64);
    fn map(&self, chunk: ArrayView1<'_, f64>) -> (f64, u64) {
        (
            chunk.iter().map(|x| (x - self.centre).abs()).sum(),
            chunk.len() as u64,
        )
    }
    fn reduce(&self, a: (f64, u64), b: (f64, u64)) -> (f64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

#[test]
fn custom_job_trait() {
    let pool = pool_with_rows(3, 333);
    let v = random(5000, 3);
    let a = SharedArray::from_array(&v).unwrap();
    let (total, n) = pool.on(&a).run(&AbsDev { centre: 10.0 }).unwrap();
    let want: f64 = v.iter().map(|x| (x - 10.0).abs()).sum();
    assert_eq!(n, 5000);
    assert_close(total, want, want, 1e-12, "abs dev");
}

#[test]
fn a_panicking_mapper_is_an_error_and_the_pool_survives() {
    let pool = pool_with_rows(2, 10);
    let v = Array1::from_iter((0..100).map(f64::from));
    let a = SharedArray::from_array(&v).unwrap();
    let pids = pool.worker_pids();
    let err = pool
        .on(&a)
        .map_reduce(
            |c| {
                if c.iter().any(|&x| x == 42.0) {
                    panic!("found the answer");
                }
                c.sum()
            },
            |x, y| x + y,
        )
        .unwrap_err();
    match &err {
        Error::MapperPanicked {
            chunk,
            rows,
            message,
        } => {
            assert_eq!(*chunk, 4);
            assert_eq!(rows.clone(), 40..50);
            assert!(message.contains("found the answer"), "{message}");
            assert!(message.contains("pool.rs"), "location in {message}");
        }
        other => panic!("expected MapperPanicked, got {other:?}"),
    }
    assert!(err.to_string().contains("rows 40..50"), "{err}");
    assert_eq!(pool.worker_pids(), pids, "the workers survived the panic");
    assert_eq!(
        pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap(),
        4950.0
    );
}

#[test]
fn a_partial_larger_than_its_slot_grows_the_slots_up_to_their_limit() {
    let a = SharedArray::from_array(&Array1::<u8>::from_iter(0..100)).unwrap();
    // Each chunk's partial: 10,000 bytes that say which chunk it was.
    let big = |c: ndarray::ArrayView1<'_, u8>| vec![c[0]; 10_000];
    let fold = |mut x: Vec<u8>, y: Vec<u8>| {
        x.truncate(1);
        x.push(y[0]);
        x
    };
    // A 4 KiB slot grows, the job's chunks run again in it, the result is
    // the fold of every chunk in order; the pool keeps the larger slots.
    let pool = shmr::Pool::builder()
        .workers(2)
        .slot_bytes(4096)
        .chunk_size(shmr::ChunkSize::Rows(10))
        .build()
        .unwrap();
    let (v, report) = pool.on(&a).reported().map_reduce(big, fold).unwrap();
    assert_eq!(v, [0, 90], "the first chunk's start, then the last's");
    assert_eq!(report.slots_grown, 1);
    let (all, report) = pool
        .on(&a)
        .reported()
        .map_reduce(big, |x, y| [x, y].concat())
        .unwrap();
    assert_eq!(report.slots_grown, 0, "grown for good");
    let want: Vec<u8> = (0..10).flat_map(|c| vec![c * 10; 10_000]).collect();
    assert_eq!(all, want);
    // With a limit below the partial, a clear error naming the setting.
    let pool = shmr::Pool::builder()
        .workers(1)
        .slot_bytes(4096)
        .max_slot_bytes(8192)
        .build()
        .unwrap();
    let err = pool.on(&a).map_reduce(big, fold).unwrap_err();
    assert!(
        matches!(err, Error::SlotOverflow { capacity: 8192, needed, .. } if needed > 10_000),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_slot_bytes"), "{err}");
    // The pool still works.
    let n = pool.on(&a).map_reduce(|c| c.len(), |x, y| x + y).unwrap();
    assert_eq!(n, 100);
}

#[test]
fn oversized_parameters_are_refused() {
    let pool = pool(1);
    let a = SharedArray::from_array(&Array1::<u8>::zeros(10)).unwrap();
    let err = pool
        .on(&a)
        .params(vec![1u8; 1 << 20])
        .map_reduce(|p, c| p.len() + c.len(), |x, y| x + y)
        .unwrap_err();
    assert!(matches!(err, Error::ParamsTooLarge { .. }), "{err:?}");
}

#[test]
fn jobs_from_several_threads_queue_without_mixing() {
    let pool = pool_with_rows(2, 50);
    std::thread::scope(|s| {
        for t in 0..3_i64 {
            let pool = &pool;
            s.spawn(move || {
                let v = Array1::from_iter((0..1000).map(|x| x * (t + 1)));
                let a = SharedArray::from_array(&v).unwrap();
                for _ in 0..50 {
                    assert_eq!(
                        pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap(),
                        v.sum()
                    );
                }
            });
        }
    });
}

/// Lines of a worker's memory map that belong to shmr's memfd segments.
fn shmr_mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("memfd:shmr"))
        .count()
}

#[test]
fn workers_unmap_an_array_when_it_is_dropped() {
    let pool = pool_with_rows(2, 1);
    let pids = pool.worker_pids();
    // Warm up so both workers have mapped their slot segment and this array.
    let warm = SharedArray::from_array(&Array1::from_elem(64, 1u8)).unwrap();
    assert_eq!(pool.on(&warm).run(&Sum).unwrap(), 64);
    // A worker that had no chunk left may reach the job's messages after
    // the job returned: count once each maps its slots and `warm`.
    for &p in &pids {
        wait_until(Duration::from_secs(10), || shmr_mappings(p) == 2)
            .unwrap_or_else(|| panic!("worker {p} maps its slots and the warm-up array"));
    }
    let before = vec![2; pids.len()];
    let a = SharedArray::from_array(&Array1::from_elem(64, 1u32)).unwrap();
    assert_eq!(pool.on(&a).run(&Sum).unwrap(), 64);
    // A worker that had no chunk left to map may get to the job's messages
    // after the job returned; it maps the array when it does.
    for (&p, &b) in pids.iter().zip(&before) {
        wait_until(Duration::from_secs(10), || shmr_mappings(p) == b + 1)
            .unwrap_or_else(|| panic!("worker {p} maps the array during its life"));
    }
    drop(a);
    // The release is asynchronous; wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    for (&p, &b) in pids.iter().zip(&before) {
        while shmr_mappings(p) != b {
            assert!(
                Instant::now() < deadline,
                "worker {p} still maps a dropped array"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    drop(warm);
}

#[test]
fn an_array_dropped_during_another_job_is_unmapped_when_that_job_ends() {
    let pool = std::sync::Arc::new(pool_with_rows(1, 1000));
    let pid = pool.worker_pids()[0];
    let a = SharedArray::from_array(&Array1::from_elem(64, 1u32)).unwrap();
    assert_eq!(pool.on(&a).run(&Sum).unwrap(), 64);
    let with_a = shmr_mappings(pid);
    // A handshake through files: the mapper says it has started, then
    // waits for the word to go on, so `a` is surely dropped while the job
    // holds the pool.
    let dir = common::scratch_dir("drop-during");
    let (started, go) = (dir.join("started"), dir.join("go"));
    let slow = {
        let pool = pool.clone();
        let dir = dir.display().to_string();
        std::thread::spawn(move || {
            let b = SharedArray::from_array(&Array1::from_elem(8, 2.0_f64)).unwrap();
            let sum = pool.on(&b).params(dir).map_reduce(
                |dir, c| {
                    let dir = std::path::Path::new(dir);
                    std::fs::write(dir.join("started"), b"").unwrap();
                    let begun = Instant::now();
                    while !dir.join("go").exists() {
                        assert!(
                            begun.elapsed() < Duration::from_secs(60),
                            "no word to go on"
                        );
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    c.sum()
                },
                |x, y| x + y,
            );
            // Kept alive: dropping it would flush the queue and hide the bug.
            (sum, b)
        })
    };
    wait_until(Duration::from_secs(60), || started.exists()).expect("the slow job started");
    // The job holds the pool now: the release cannot be sent yet.
    drop(a);
    std::fs::write(&go, b"").unwrap();
    let (sum, b) = slow.join().unwrap();
    assert_eq!(sum.unwrap(), 16.0);
    // No job follows, and nothing else is dropped: the release must go out
    // when the slow job ends. The worker then maps the slots and `b`: as
    // many segments as it did with `a` instead of `b`.
    let deadline = Instant::now() + Duration::from_secs(10);
    while shmr_mappings(pid) > with_a {
        assert!(
            Instant::now() < deadline,
            "the worker still maps an array dropped during a job"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(b);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dropping_a_pool_reaps_its_workers() {
    let pool = pool(3);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 3);
    drop(pool);
    for pid in pids {
        // Reaped children have no /proc entry (a zombie would still have one).
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} left behind"
        );
    }
}

#[test]
fn invalid_pool_settings_are_refused() {
    let b = shmr::Pool::builder;
    for (builder, setting) in [
        (b().workers(0), "workers(0)"),
        (b().workers(shmr::MAX_WORKERS + 1), "workers(1025)"),
        (b().workers(usize::MAX), "workers("),
        (
            b().chunk_size(shmr::ChunkSize::Rows(0)),
            "chunk_size(Rows(0))",
        ),
        (
            b().chunk_size(shmr::ChunkSize::Bytes(0)),
            "chunk_size(Bytes(0))",
        ),
        (b().slot_bytes(0), "slot_bytes(0)"),
        (
            b().slot_bytes(usize::MAX),
            "slot_bytes(18446744073709551615)",
        ),
        (b().timeout(Duration::ZERO), "timeout of zero"),
        (b().start_timeout(Duration::ZERO), "start_timeout(0)"),
    ] {
        match builder.build() {
            Err(e @ Error::InvalidConfig(_)) => {
                assert!(e.to_string().contains(setting), "{setting}: {e}")
            }
            other => panic!("{setting}: expected InvalidConfig, got {other:?}"),
        }
    }
    // Per-job settings, checked before any worker is told anything.
    let pool = pool(1);
    let a = SharedArray::from_array(&Array1::from_elem(10, 1u32)).unwrap();
    let mut out = SharedArray::<u64, Ix1>::zeros(4).unwrap();
    for stripes in [0, shmr::MAX_STRIPES + 1] {
        let err = pool
            .on(&a)
            .stripes(stripes)
            .map_locked(&mut out, |c, o| o.update(0, |n| *n += c.len() as u64))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
        let want = format!(
            "stripes must be between 1 and {}, got {stripes}",
            shmr::MAX_STRIPES
        );
        assert!(err.to_string().contains(&want), "{err}");
    }
    let err = pool
        .on(&a)
        .timeout(Duration::ZERO)
        .map_reduce(|c| c.len(), |x, y| x + y)
        .unwrap_err();
    assert!(err.to_string().contains("timeout of zero"), "{err}");
    // The refusals cost nothing: the pool still works, and wrote nothing.
    assert_eq!(
        pool.on(&a).map_reduce(|c| c.len(), |x, y| x + y).unwrap(),
        10
    );
    assert_eq!(out.view().sum(), 0);
}

#[test]
fn duration_max_means_no_limit() {
    // Every timeout a user can give: the pool's start timeout and job
    // timeout, and one job's. `Instant::now() + Duration::MAX` overflows.
    let pool = shmr::Pool::builder()
        .workers(2)
        .start_timeout(Duration::MAX)
        .timeout(Duration::MAX)
        .chunk_size(shmr::ChunkSize::Rows(10))
        .build()
        .unwrap();
    let v = Array1::from_iter(0..1000_u64);
    let a = SharedArray::from_array(&v).unwrap();
    assert_eq!(pool.on(&a).run(&Sum).unwrap(), 499_500);
    let n = pool
        .on(&a)
        .timeout(Duration::MAX)
        .map_reduce(|c| c.len(), |x, y| x + y)
        .unwrap();
    assert_eq!(n, 1000);
    // Replacing a dead worker goes through the start timeout too.
    let victim = pool.worker_pids()[0];
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(victim as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_until(Duration::from_secs(60), || common::exited(victim)).unwrap();
    // The job after a death replaces the dead worker, or, if the other
    // worker had committed every chunk before the death was seen, the
    // next one does (before it starts).
    for _ in 0..2 {
        assert_eq!(pool.on(&a).run(&Sum).unwrap(), 499_500);
    }
    assert!(!pool.worker_pids().contains(&victim));
    assert_eq!(pool.worker_pids().len(), 2);
}

/// The builder's numeric settings, fuzzed: `build` returns an error or a
/// pool that computes the right answer; it never crashes the program (a
/// crash ends this test binary) nor hangs (bounded by `within`).
mod builder_fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Mostly sizes that work, so that most cases run a job; then the
    /// edges where arithmetic on them overflows.
    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            6 => 1usize..(1 << 20),
            1 => Just(0),
            1 => Just(usize::MAX),
            1 => Just(usize::MAX - 63),
            1 => any::<usize>(),
        ]
    }
    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            1 => Just(Duration::ZERO),
            2 => Just(Duration::MAX),
            3 => (1u64..5000).prop_map(Duration::from_millis),
            1 => any::<u64>().prop_map(Duration::from_secs),
        ]
    }

    proptest! {
        // Each case starts real workers: a few dozen cases, not thousands.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
        ))]

        #[test]
        fn numeric_settings_give_an_error_or_a_working_pool(
            workers in prop_oneof![
                6 => 1usize..=3, 1 => Just(0), 1 => Just(shmr::MAX_WORKERS + 1), 1 => any::<usize>()
            ],
            chunk_rows in prop::option::of(size()),
            chunk_bytes in size(),
            slot_bytes in size(),
            start_timeout in duration(),
            timeout in prop::option::of(duration()),
            retries in any::<u32>(),
        ) {
            let mut b = shmr::Pool::builder()
                .workers(workers)
                .chunk_size(chunk_rows.map_or(shmr::ChunkSize::Bytes(chunk_bytes), shmr::ChunkSize::Rows))
                .slot_bytes(slot_bytes)
                .start_timeout(start_timeout)
                .retries(retries);
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            let outcome = common::within(Duration::from_secs(120), move || {
                let pool = b.build()?;
                let a = SharedArray::from_array(&Array1::from_iter(0..5000_u32))?;
                pool.on(&a).run(&Sum)
            });
            match outcome {
                // A timeout of a few ms may pass before the job ends; a
                // small slot may not hold every partial. Both say so.
                Ok(sum) => prop_assert_eq!(sum, 4999 * 5000 / 2),
                Err(Error::InvalidConfig(m)) => prop_assert!(!m.is_empty()),
                Err(e @ (Error::Timeout { .. } | Error::SlotOverflow { .. } | Error::OutOfSharedMemory { .. })) => {
                    prop_assert!(!e.to_string().is_empty())
                }
                // A start timeout of a few ms can pass before a worker is up.
                Err(Error::WorkerStart(m)) if start_timeout < Duration::from_secs(10) => {
                    prop_assert!(m.contains("within") || m.contains("in time"), "{m}")
                }
                Err(e) => prop_assert!(false, "unexpected error: {e:?}"),
            }
        }
    }
}

#[test]
fn a_mapper_cannot_start_a_pool_of_its_own() {
    let pool = pool(1);
    let a = SharedArray::from_array(&Array1::from_elem(3, 1u8)).unwrap();
    let err: Option<String> = pool
        .on(&a)
        .map_reduce(
            |_| {
                shmr::Pool::builder()
                    .workers(1)
                    .build()
                    .err()
                    .map(|e| e.to_string())
            },
            |x, y| x.or(y),
        )
        .unwrap();
    let err = err.expect("starting a pool inside a worker must fail");
    assert!(err.contains("is a shmr worker"), "{err}");
}

#[test]
fn programs_a_mapper_starts_do_not_inherit_the_control_socket() {
    let pool = pool(1);
    let a = SharedArray::from_array(&Array1::from_elem(1, 1u8)).unwrap();
    let (env, fd3) = pool
        .on(&a)
        .map_reduce(
            |_| {
                let out = std::process::Command::new("sh")
                    .args([
                        "-c",
                        "echo \"$SHMR_WORKER\"; readlink /proc/$$/fd/3 || true",
                    ])
                    .output()
                    .expect("sh runs");
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut lines = text.lines().map(str::to_owned);
                (
                    lines.next().unwrap_or_default(),
                    lines.next().unwrap_or_default(),
                )
            },
            |x, _| x,
        )
        .unwrap();
    // The child does see the variable (environments are inherited), which is
    // why a worker is recognised by its parent, not by the variable alone...
    assert_eq!(env, std::process::id().to_string());
    // ...but not the socket.
    assert!(!fd3.starts_with("socket:"), "child inherited fd 3: {fd3}");
}

/// Rings that hold one partial each, thousands of chunks, and workers
/// that claim out of turn (some chunks sleep): a worker may map a later
/// chunk of a block before an earlier one, and the fold still moves (the
/// next chunk's block is taken early), to the sequential fold's bits.
#[test]
fn the_fold_moves_with_rings_of_one_partial_and_claims_out_of_turn() {
    let v = random(20_000, 7);
    let a = SharedArray::from_array(&v).unwrap();
    let rows = 10;
    // Four f64, 48 bytes with the record's header: one to a 64-byte ring.
    let part = |c: &[f64]| [c.iter().sum::<f64>(), c[0], c.len() as f64, 1.0];
    let add = |x: [f64; 4], y: [f64; 4]| [x[0] + y[0], x[1] * 0.5 + y[1], x[2] + y[2], x[3] + y[3]];
    let want = v
        .as_slice()
        .unwrap()
        .chunks(rows)
        .map(part)
        .reduce(add)
        .unwrap();
    for workers in [2, 3] {
        let pool = shmr::Pool::builder()
            .workers(workers)
            .slot_bytes(128)
            .max_slot_bytes(128)
            // A fold that stopped moving ends in a timeout, not a hang.
            .timeout(Duration::from_secs(60))
            .start_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let got = pool
            .on(&a)
            .chunk_size(shmr::ChunkSize::Rows(rows))
            .map_reduce(
                |c: ArrayView1<'_, f64>| {
                    let c = c.as_slice().expect("contiguous");
                    if c[0].to_bits().is_multiple_of(5) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    [c.iter().sum::<f64>(), c[0], c.len() as f64, 1.0]
                },
                add,
            )
            .unwrap();
        assert_eq!(
            got.map(f64::to_bits),
            want.map(f64::to_bits),
            "{workers} workers"
        );
    }
}
