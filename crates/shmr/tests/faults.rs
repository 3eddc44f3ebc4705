//! Faults: workers that die, hang or are killed, and a coordinator that is
//! killed. Every test bounds its own waiting (`within`, `wait_until`), so a
//! regression shows as a failure, never as a hung run.

mod common;
use common::crash::{Crash, How, TRIGGER, crashing_sum};
use common::{Rng, exited, pool_with_rows, scratch_dir, wait_until, within};
use ndarray::Array1;
use rustix::process::{Pid, Signal};
use shmr::{Error, Pool, SharedArray};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

shmr::test_worker!();

/// Rows per chunk in these tests, and the row that holds the trigger value.
const ROWS: usize = 100;
const TRIGGER_ROW: usize = 4321;
const LIMIT: Duration = Duration::from_secs(120);

/// Random data with the trigger at `TRIGGER_ROW` (chunk 43), and its sum
/// computed in this process, chunk by chunk in chunk order, as the pool
/// folds it: so equal bits are expected, not just a close value.
fn data() -> (SharedArray<f64, ndarray::Ix1>, f64) {
    let mut r = Rng::new(99);
    let mut v = Array1::from_iter((0..10_000).map(|_| r.next_f64() * 100.0));
    v[TRIGGER_ROW] = TRIGGER;
    let expected = v
        .exact_chunks(ROWS)
        .into_iter()
        .map(|c| c.sum())
        .reduce(|a, b| a + b)
        .unwrap();
    (SharedArray::from_array(&v).unwrap(), expected)
}

fn chunk_of_trigger() -> (u64, std::ops::Range<u64>) {
    let c = (TRIGGER_ROW / ROWS) as u64;
    (c, c * ROWS as u64..(c + 1) * ROWS as u64)
}

#[test]
fn a_worker_that_dies_mid_job_is_replaced_and_its_chunk_mapped_again() {
    let dir = scratch_dir("dies");
    within(LIMIT, move || {
        let pool = pool_with_rows(2, ROWS);
        let (a, expected) = data();
        for how in [
            How::Abort,
            How::Segfault,
            How::OutOfMemory,
            How::StackOverflow,
            How::Exit,
        ] {
            let before = pool.worker_pids();
            let marker = dir.join(format!("{how:?}"));
            let p = Crash {
                how,
                once: Some(marker.to_string_lossy().into()),
            };
            let total = pool
                .on(&a)
                .params(p)
                .map_reduce(crashing_sum, |x, y| x + y)
                .unwrap_or_else(|e| panic!("{how:?}: {e}"));
            assert_eq!(total.to_bits(), expected.to_bits(), "{how:?}");
            let victim: u32 = std::fs::read_to_string(&marker)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!(
                before.contains(&victim),
                "{how:?}: a worker of this pool crashed"
            );
            let after = pool.worker_pids();
            assert_eq!(after.len(), 2);
            assert!(
                !after.contains(&victim),
                "{how:?}: the dead worker was replaced"
            );
            assert!(exited(victim), "{how:?}: and reaped");
        }
    });
}

#[test]
fn a_chunk_that_kills_every_worker_fails_after_the_retries() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .workers(2)
            .chunk_size(shmr::ChunkSize::Rows(ROWS))
            .retries(2)
            .build()
            .unwrap();
        let (a, expected) = data();
        let always = Crash {
            how: How::Abort,
            once: None,
        };
        let (chunk, rows) = chunk_of_trigger();
        for (retries, err) in [
            (
                2,
                pool.on(&a)
                    .params(always.clone())
                    .map_reduce(crashing_sum, |x, y| x + y),
            ),
            (
                0,
                pool.on(&a)
                    .retries(0)
                    .params(always.clone())
                    .map_reduce(crashing_sum, |x, y| x + y),
            ),
        ] {
            match err.unwrap_err() {
                e @ Error::WorkerDied { .. } => {
                    let msg = e.to_string();
                    let Error::WorkerDied {
                        status,
                        chunk: c,
                        rows: r,
                        attempts,
                        ..
                    } = e
                    else {
                        unreachable!()
                    };
                    assert_eq!(attempts, retries + 1);
                    assert_eq!((c, r), (Some(chunk), Some(rows.clone())));
                    assert!(status.contains("SIGABRT"), "{status}");
                    assert!(msg.contains(&format!("rows {rows:?}")), "{msg}");
                }
                other => panic!("expected WorkerDied, got {other:?}"),
            }
        }
        let sum = pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap();
        assert_eq!(sum.to_bits(), expected.to_bits(), "the pool still works");
    });
}

#[test]
fn a_worker_killed_from_outside_mid_job() {
    let dir = scratch_dir("killed");
    within(LIMIT, move || {
        let pool = Arc::new(pool_with_rows(2, ROWS));
        let (a, expected) = data();
        let a = Arc::new(a);
        for retries in [1, 0] {
            let marker = dir.join(format!("retries-{retries}"));
            // The first worker to reach the trigger hangs there (and says
            // who it is); the retry finds the marker and does not.
            let p = Crash {
                how: How::Hang,
                once: Some(marker.to_string_lossy().into()),
            };
            let job = {
                let (pool, a) = (pool.clone(), a.clone());
                std::thread::spawn(move || {
                    pool.on(&a)
                        .retries(retries)
                        .params(p)
                        .map_reduce(crashing_sum, |x, y| x + y)
                })
            };
            let mut victim = 0;
            wait_until(LIMIT, || {
                victim = std::fs::read_to_string(&marker)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                victim != 0
            })
            .expect("a worker reached the trigger");
            rustix::process::kill_process(Pid::from_raw(victim as i32).unwrap(), Signal::KILL)
                .unwrap();
            let result = job.join().unwrap();
            if retries == 0 {
                match result.unwrap_err() {
                    Error::WorkerDied {
                        pid, status, rows, ..
                    } => {
                        assert_eq!(pid, victim);
                        assert!(status.contains("SIGKILL"), "{status}");
                        assert_eq!(rows, Some(chunk_of_trigger().1));
                    }
                    other => panic!("expected WorkerDied, got {other:?}"),
                }
            } else {
                assert_eq!(result.unwrap().to_bits(), expected.to_bits());
            }
            assert!(!pool.worker_pids().contains(&victim));
        }
    });
}

#[test]
fn a_hanging_mapper_times_out_and_its_worker_is_replaced() {
    within(LIMIT, || {
        let hang = Crash {
            how: How::Hang,
            once: None,
        };
        let (a, expected) = data();
        let (chunk, rows) = chunk_of_trigger();
        // Set per job, and on the pool.
        let pool = pool_with_rows(2, ROWS);
        let per_job = pool
            .on(&a)
            .timeout(Duration::from_millis(300))
            .params(hang.clone())
            .map_reduce(crashing_sum, |x, y| x + y);
        let strict = Pool::builder()
            .workers(2)
            .chunk_size(shmr::ChunkSize::Rows(ROWS))
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let before = strict.worker_pids();
        let per_pool = strict
            .on(&a)
            .params(hang)
            .map_reduce(crashing_sum, |x, y| x + y);
        for err in [per_job, per_pool] {
            match err.unwrap_err() {
                e @ Error::Timeout { .. } => {
                    assert!(e.to_string().contains("timeout"), "{e}");
                    let Error::Timeout {
                        chunk: c,
                        rows: r,
                        killed,
                        ..
                    } = e
                    else {
                        unreachable!()
                    };
                    assert_eq!((c, r), (Some(chunk), Some(rows.clone())));
                    // Only the stuck worker: the other had mapped every
                    // other chunk and replied.
                    assert_eq!(killed, 1, "only the worker holding the chunk is killed");
                }
                other => panic!("expected Timeout, got {other:?}"),
            }
        }
        let after = strict.worker_pids();
        assert_eq!(after.len(), 2);
        assert_eq!(
            before.iter().filter(|p| after.contains(p)).count(),
            1,
            "the stuck worker replaced, the idle one spared: {before:?} -> {after:?}"
        );
        for p in [&pool, &strict] {
            let sum = p.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap();
            assert_eq!(sum.to_bits(), expected.to_bits(), "the pool still works");
        }
        // A job within its timeout is unaffected by it.
        let sum = pool
            .on(&a)
            .timeout(Duration::from_secs(60))
            .map_reduce(|c| c.sum(), |x, y| x + y)
            .unwrap();
        assert_eq!(sum.to_bits(), expected.to_bits());
    });
}

/// The program that `workers_exit_when_the_coordinator_is_killed` starts and
/// kills: a coordinator whose workers are busy in a mapper that never returns.
#[test]
#[ignore = "a coordinator process for workers_exit_when_the_coordinator_is_killed"]
fn coordinator_to_kill() {
    let Some(marker) = std::env::var_os("SHMR_TEST_MARKER") else {
        return;
    };
    let pool = pool_with_rows(2, 10);
    let a = SharedArray::from_array(&Array1::from_elem(1000, TRIGGER)).unwrap();
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("workers {}", pids.join(" "));
    let hang = Crash {
        how: How::Hang,
        once: Some(marker.to_string_lossy().into()),
    };
    let _ = pool
        .on(&a)
        .params(hang)
        .map_reduce(crashing_sum, |x, y| x + y);
    unreachable!("the mapper never returns");
}

/// Segments of process `pid` still open or mapped anywhere on the system.
fn segments_of(pid: u32) -> Vec<String> {
    let name = format!("memfd:shmr-{pid} ");
    let mut found = Vec::new();
    for proc_dir in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = proc_dir.path();
        if let Ok(maps) = std::fs::read_to_string(p.join("maps")) {
            found.extend(maps.lines().filter(|l| l.contains(&name)).map(String::from));
        }
        for fd in std::fs::read_dir(p.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if format!("{} ", target.display()).contains(&name) {
                found.push(format!("{}", fd.path().display()));
            }
        }
    }
    found
}

fn dev_shm() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn workers_exit_when_the_coordinator_is_killed() {
    // Orphaned workers are handed to this process (not to init), so that it
    // can reap them and leave no zombie behind.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    let dir = scratch_dir("coordinator");
    let marker = dir.join("busy");
    let shm_before = dev_shm();
    let mut coordinator = Command::new("/proc/self/exe")
        .args([
            "coordinator_to_kill",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("SHMR_TEST_MARKER", &marker)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cpid = coordinator.id();
    let stdout = coordinator.stdout.take().unwrap();
    let workers: Vec<u32> = within(LIMIT, move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("workers ")
                    .map(|w| w.split(' ').map(|p| p.parse().unwrap()).collect())
            })
            .expect("the coordinator reports its workers")
    });
    assert_eq!(workers.len(), 2);
    wait_until(LIMIT, || marker.exists()).expect("a mapper is running");
    assert!(
        !segments_of(cpid).is_empty(),
        "the coordinator's segments exist"
    );

    coordinator.kill().unwrap(); // SIGKILL
    coordinator.wait().unwrap();
    let took = wait_until(Duration::from_secs(1), || {
        workers.iter().all(|&p| exited(p))
    });
    // Reap them (they are ours now) whatever happened.
    for &p in &workers {
        let _ = rustix::process::kill_process(Pid::from_raw(p as i32).unwrap(), Signal::KILL);
        let _ = rustix::process::waitpid(
            Some(Pid::from_raw(p as i32).unwrap()),
            rustix::process::WaitOptions::empty(),
        );
    }
    let took = took.expect("every worker exits within a second of its coordinator's death");
    eprintln!("workers exited {took:?} after the coordinator was killed");
    assert_eq!(
        segments_of(cpid),
        Vec::<String>::new(),
        "nothing holds the segments"
    );
    assert_eq!(dev_shm(), shm_before, "nothing was left in /dev/shm");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn workers_that_died_idle_are_replaced_without_costing_a_retry() {
    within(LIMIT, || {
        let pool = pool_with_rows(2, ROWS);
        let (a, expected) = data();
        let before = pool.worker_pids();
        for &p in &before {
            rustix::process::kill_process(Pid::from_raw(p as i32).unwrap(), Signal::KILL).unwrap();
        }
        // Not reaped yet (the pool reaps them), but dead.
        wait_until(LIMIT, || before.iter().all(|&p| exited(p))).expect("the kills took");
        let sum = pool
            .on(&a)
            .retries(0)
            .map_reduce(|c| c.sum(), |x, y| x + y)
            .unwrap();
        assert_eq!(sum.to_bits(), expected.to_bits());
        let after = pool.worker_pids();
        assert_eq!(after.len(), 2);
        assert!(after.iter().all(|p| !before.contains(p)), "both replaced");
    });
}

fn signal(pid: u32, sig: Signal) {
    rustix::process::kill_process(Pid::from_raw(pid as i32).unwrap(), sig).unwrap();
}

/// Stops `pid` and waits until every thread of it is stopped: a stop
/// signal takes effect when each thread next passes through the kernel,
/// which may be after the job the test means it to miss has started.
fn stop(pid: u32) {
    signal(pid, Signal::STOP);
    let stopped = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.flatten().all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('T')))
        })
    };
    wait_until(LIMIT, stopped).expect("the worker stops");
}

#[test]
fn a_stopped_worker_that_holds_no_chunk_does_not_hold_the_job_back() {
    within(LIMIT, || {
        let pool = pool_with_rows(2, ROWS);
        let (a, expected) = data();
        let stopped = pool.worker_pids()[0];
        stop(stopped);
        // No timeout (the default): the job ends because every chunk is
        // committed by the other worker, not because anything gave up.
        let report = pool
            .on(&a)
            .params(())
            .reported()
            .map_reduce(|_, c| c.sum(), |x, y| x + y);
        let (sum, report) = report.unwrap();
        assert_eq!(sum.to_bits(), expected.to_bits());
        assert_eq!((report.rounds, report.workers_replaced), (1, 0));
        // With a timeout, no Timeout either; and the stopped worker, which
        // never replied, is replaced before this second job starts.
        let sum = pool
            .on(&a)
            .timeout(Duration::from_secs(60))
            .map_reduce(|c| c.sum(), |x, y| x + y)
            .unwrap();
        assert_eq!(sum.to_bits(), expected.to_bits());
        let now = pool.worker_pids();
        assert_eq!(now.len(), 2);
        assert!(!now.contains(&stopped), "{stopped} replaced: {now:?}");
        assert!(exited(stopped), "and killed and reaped");

        // A worker stopped and continued between jobs replies late: it is
        // kept or replaced, but never maps a later job's chunks with an
        // earlier job's plan. Every answer stays exact.
        for round in 0..10 {
            let late = pool.worker_pids()[round % 2];
            stop(late);
            let sum = pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap();
            assert_eq!(sum.to_bits(), expected.to_bits(), "round {round}");
            let _ =
                rustix::process::kill_process(Pid::from_raw(late as i32).unwrap(), Signal::CONT);
            let max = pool
                .on(&a)
                .map_reduce(|c| c.fold(f64::MIN, |m, &x| m.max(x)), f64::max)
                .unwrap();
            assert_eq!(
                max,
                a.view().fold(f64::MIN, |m, &x| m.max(x)),
                "round {round}"
            );
        }
    });
}

#[test]
fn a_timeout_names_the_chunk_really_held_and_spares_a_stopped_idle_worker() {
    within(LIMIT, || {
        let pool = pool_with_rows(2, ROWS);
        let (a, _) = data();
        let (chunk, rows) = chunk_of_trigger();
        let pids = pool.worker_pids();
        // One worker stopped before the job (it holds nothing), the other
        // hangs on the trigger chunk.
        stop(pids[0]);
        let hang = Crash {
            how: How::Hang,
            once: None,
        };
        let err = pool
            .on(&a)
            .timeout(Duration::from_millis(500))
            .params(hang)
            .map_reduce(crashing_sum, |x, y| x + y)
            .unwrap_err();
        let Error::Timeout {
            chunk: c,
            rows: r,
            killed,
            ..
        } = err
        else {
            panic!("expected Timeout, got {err:?}")
        };
        assert_eq!((c, r, killed), (Some(chunk), Some(rows), 1));
        assert!(exited(pids[1]), "the hanging worker was killed");
        // The stopped one was spared by the timeout, and is replaced before
        // the next job since it never replies.
        assert!(!exited(pids[0]));
        let n = pool.on(&a).map_reduce(|c| c.len(), |x, y| x + y).unwrap();
        assert_eq!(n, 10_000);
        assert!(exited(pids[0]));
        assert!(pool.worker_pids().iter().all(|p| !pids.contains(p)));
    });
}
