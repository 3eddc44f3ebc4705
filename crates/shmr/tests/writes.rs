//! Jobs that write: in place, out of place, under locks; what they cost in
//! locks (nothing, when partitioned), and what happens when a worker dies
//! in the middle of a write.

mod common;
use common::{Rng, exited, pool_with_rows, scratch_dir, wait_until, within};
use ndarray::{Array1, Array2, ArrayView1, ArrayViewMut1, Axis, Ix1, Ix2};
use rustix::process::{Pid, Signal};
use shmr::{Element, Error, LockedOutput, Pool, SharedArray};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

shmr::test_worker!();

const LIMIT: Duration = Duration::from_secs(120);

fn random<A: Element>(n: usize, seed: u64, f: impl Fn(f64) -> A) -> Array1<A> {
    let mut r = Rng::new(seed);
    Array1::from_iter((0..n).map(|_| f(r.next_f64())))
}

#[test]
fn in_place_equals_the_sequential_result_for_several_types_and_shapes() {
    // 7 rows per chunk: chunks end mid-array and the last one is short.
    let pool = pool_with_rows(2, 7);
    macro_rules! check {
        ($t:ty, $gen:expr, $f:expr) => {{
            let v: Array1<$t> = random(1000, 1, $gen);
            let mut a = SharedArray::from_array(&v).unwrap();
            let ((), report) = pool
                .on_mut(&mut a)
                .reported()
                .map_in_place(|mut c| c.mapv_inplace($f))
                .unwrap();
            assert_eq!(a.view(), v.mapv($f), "{}", stringify!($t));
            assert_eq!(report.lock_acquisitions, 0);
            assert_eq!(report.chunks, 143);
        }};
    }
    check!(f64, |x| x * 100.0 - 50.0, |x: f64| x * x);
    check!(f32, |x| x as f32, |x: f32| x.sqrt());
    check!(i32, |x| (x * 1e6) as i32 - 500_000, |x: i32| x
        .wrapping_mul(x));
    check!(u8, |x| (x * 255.0) as u8, |x: u8| x / 3);
    check!(i64, |x| (x * 1e12) as i64, |x: i64| -x);

    // 2-D: each chunk is whole rows.
    let m = Array2::from_shape_fn((101, 13), |(i, j)| (i * 13 + j) as f64);
    let mut a = SharedArray::from_array(&m).unwrap();
    pool.on_mut(&mut a)
        .params(0.5_f64)
        .map_in_place(|k, mut rows| {
            for mut row in rows.rows_mut() {
                let first = row[0];
                row.mapv_inplace(|x| (x - first) * k);
            }
        })
        .unwrap();
    let mut expected = m.clone();
    for mut row in expected.rows_mut() {
        let first = row[0];
        row.mapv_inplace(|x| (x - first) * 0.5);
    }
    assert_eq!(a.view(), expected);
}

#[test]
fn out_of_place_equals_the_sequential_result_across_types_and_dimensions() {
    let pool = pool_with_rows(2, 9);
    // Another element type.
    let v: Array1<i32> = random(1000, 2, |x| (x * 2000.0) as i32 - 1000);
    let input = SharedArray::from_array(&v).unwrap();
    let mut out = SharedArray::<f32, Ix1>::zeros(1000).unwrap();
    let ((), report) = pool
        .on(&input)
        .reported()
        .map_into(&mut out, |i, mut o| o.assign(&i.mapv(|x| (x as f32).abs())))
        .unwrap();
    assert_eq!(out.view(), v.mapv(|x| (x as f32).abs()));
    assert_eq!(report.lock_acquisitions, 0);
    assert_eq!(input.view(), v, "the input is untouched");

    // 2-D in, 1-D out: one value per row, with a parameter.
    let m = Array2::from_shape_fn((333, 5), |(i, j)| (i as f64) - (j as f64) * 0.25);
    let input = SharedArray::from_array(&m).unwrap();
    let mut sums = SharedArray::<f64, Ix1>::zeros(333).unwrap();
    pool.on(&input)
        .params(2.0_f64)
        .map_into(&mut sums, |k, rows, mut out| {
            for (o, row) in out.iter_mut().zip(rows.rows()) {
                *o = row.sum() * *k;
            }
        })
        .unwrap();
    assert_eq!(sums.view(), m.sum_axis(Axis(1)) * 2.0);

    // Rows that do not match are refused before anything runs.
    let mut short = SharedArray::<f64, Ix2>::zeros((332, 1)).unwrap();
    let err = pool.on(&input).map_into(&mut short, |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    assert!(err.to_string().contains("axis 0"), "{err}");
}

#[test]
fn partitioned_jobs_take_no_lock_and_locked_jobs_count_theirs() {
    let pool = pool_with_rows(2, 100);
    let v: Array1<f64> = random(10_000, 3, |x| x);
    let a = SharedArray::from_array(&v).unwrap();
    let (_, report) = pool
        .on(&a)
        .params(())
        .reported()
        .map_reduce(|_, c| c.sum(), |x, y| x + y)
        .unwrap();
    assert_eq!(
        (report.lock_acquisitions, report.chunks, report.rounds),
        (0, 100, 1)
    );
    let (_, report) = pool.on(&a).reported().run(&shmr::builtin::Stats).unwrap();
    assert_eq!(report.lock_acquisitions, 0);

    let mut counts = SharedArray::<u64, Ix1>::zeros(10).unwrap();
    let ((), report) = pool
        .on(&a)
        .reported()
        .map_locked(&mut counts, |c, out| {
            for &x in c {
                out.update((x * 10.0) as usize, |n| *n += 1);
            }
        })
        .unwrap();
    assert_eq!(report.lock_acquisitions, 10_000, "one per update");
    assert_eq!(counts.view().sum(), 10_000);
}

/// Adds 1 to cell `x % cells` for every input value `x`, through the
/// locks; every fourth chunk takes whole stripes instead of single cells.
fn hammer(_: &(), chunk: ArrayView1<'_, u32>, out: &mut LockedOutput<'_, u64>) {
    let cells = out.len();
    if chunk[0].is_multiple_of(4) {
        for s in 0..out.stripes() {
            let range = out.stripe_range(s);
            out.with_stripe(s, |elems| {
                for &x in chunk {
                    let cell = x as usize % cells;
                    if range.contains(&cell) {
                        elems[cell - range.start] += 1;
                    }
                }
            });
        }
    } else {
        for &x in chunk {
            // A read-modify-write that takes a while, to widen any race.
            out.update(x as usize % cells, |n| {
                let seen = *n;
                std::hint::black_box(seen);
                *n = seen + 1;
            });
        }
    }
}

#[test]
fn workers_hammering_a_few_cells_through_the_locks_get_exact_counts() {
    within(LIMIT, || {
        let pool = pool_with_rows(3, 500);
        let n = 200_000;
        let mut r = Rng::new(4);
        let v = Array1::from_iter((0..n).map(|_| r.next_u64() as u32));
        let input = SharedArray::from_array(&v).unwrap();
        for (cells, stripes) in [(4, 1), (4, 2), (4, 4), (64, 8), (1, 1)] {
            let mut expected = vec![0u64; cells];
            for &x in &v {
                expected[x as usize % cells] += 1;
            }
            for round in 0..10 {
                let mut out = SharedArray::<u64, Ix1>::zeros(cells).unwrap();
                let ((), report) = pool
                    .on(&input)
                    .stripes(stripes)
                    .params(())
                    .reported()
                    .map_locked(&mut out, hammer)
                    .unwrap();
                if round == 0 {
                    eprintln!("cells {cells} stripes {stripes}: {report:?}");
                }
                assert_eq!(
                    out.view().to_vec(),
                    expected,
                    "cells {cells}, stripes {stripes}, round {round}"
                );
            }
        }
    });
}

/// Takes the lock of the stripe holding cell 0 and, the first time (the
/// marker file does not exist yet), writes its pid there and never lets go.
fn hold_lock_forever(marker: &String, chunk: ArrayView1<'_, u32>, out: &mut LockedOutput<'_, u64>) {
    out.update(0, |n| {
        *n += chunk.len() as u64;
        if std::fs::write(
            Path::new(marker).with_extension("tmp"),
            std::process::id().to_string(),
        )
        .is_ok()
            && std::fs::hard_link(Path::new(marker).with_extension("tmp"), marker).is_ok()
        {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
}

fn read_pid(marker: &Path) -> u32 {
    let mut pid = 0;
    wait_until(LIMIT, || {
        pid = std::fs::read_to_string(marker)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0
    })
    .expect("a worker reached the marker");
    pid
}

fn kill(pid: u32) {
    rustix::process::kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::KILL).unwrap();
}

#[test]
fn a_worker_killed_holding_a_lock_ends_the_job_with_an_error_naming_the_stripe() {
    let dir = scratch_dir("lock-holder");
    within(LIMIT, move || {
        let pool = Arc::new(pool_with_rows(2, 100));
        let input = Arc::new(SharedArray::from_array(&Array1::from_elem(10_000, 1u32)).unwrap());
        let marker = dir.join("holder");
        let job = {
            let (pool, input, marker) = (pool.clone(), input.clone(), marker.clone());
            std::thread::spawn(move || {
                let mut out = SharedArray::<u64, Ix1>::zeros(64).unwrap();
                pool.on(&input)
                    .stripes(8)
                    .params(marker.to_string_lossy().into_owned())
                    .map_locked(&mut out, hold_lock_forever)
            })
        };
        let victim = read_pid(&marker);
        kill(victim);
        match job.join().unwrap().unwrap_err() {
            e @ Error::WriteInterrupted { .. } => {
                let msg = e.to_string();
                let Error::WriteInterrupted {
                    pid,
                    stripe,
                    elements,
                    status,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(pid, victim);
                assert!(status.contains("SIGKILL"), "{status}");
                assert_eq!(stripe, Some(0));
                assert_eq!(elements, Some(0..8));
                assert!(msg.contains("stripe 0") && msg.contains("0..8"), "{msg}");
            }
            other => panic!("expected WriteInterrupted, got {other:?}"),
        }
        assert!(exited(victim));
        // The next job, locked or not, runs on a whole pool.
        let mut out = SharedArray::<u64, Ix1>::zeros(4).unwrap();
        let ((), report) = pool
            .on(&input)
            .reported()
            .map_locked(&mut out, |c, out| {
                for (i, &x) in c.iter().enumerate() {
                    out.update(i % 4, |n| *n += u64::from(x));
                }
            })
            .unwrap();
        assert_eq!(out.view().sum(), 10_000);
        assert_eq!(report.lock_acquisitions, 10_000);
        assert!(!pool.worker_pids().contains(&victim));
    });
}

/// Squares its chunk, except that the first worker to reach the row
/// holding -1 writes half of it, leaves its pid in the marker, and hangs.
fn square_or_hang(marker: &String, mut chunk: ArrayViewMut1<'_, f64>) {
    if chunk.iter().any(|&x| x == -1.0)
        && std::fs::create_dir(Path::new(marker).with_extension("claimed")).is_ok()
    {
        let half = chunk.len() / 2;
        chunk.slice_mut(ndarray::s![..half]).mapv_inplace(|x| x * x);
        std::fs::write(marker, std::process::id().to_string()).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    chunk.mapv_inplace(|x| x * x);
}

#[test]
fn a_worker_killed_mid_write_in_place_is_an_error_naming_the_rows_and_not_retried() {
    let dir = scratch_dir("in-place");
    within(LIMIT, move || {
        let pool = Arc::new(pool_with_rows(2, 100));
        let mut v = Array1::from_iter((0..10_000).map(|x| x as f64 * 0.5));
        v[4321] = -1.0;
        let marker = dir.join("writer");
        let job = {
            let (pool, v, marker) = (pool.clone(), v.clone(), marker.clone());
            std::thread::spawn(move || {
                let mut a = SharedArray::from_array(&v).unwrap();
                let r = pool
                    .on_mut(&mut a)
                    .params(marker.to_string_lossy().into_owned())
                    .map_in_place(square_or_hang);
                (r, a.view().to_owned())
            })
        };
        let victim = read_pid(&marker);
        kill(victim);
        let (result, after) = job.join().unwrap();
        match result.unwrap_err() {
            Error::WriteInterrupted {
                pid,
                chunk,
                rows,
                stripe,
                ..
            } => {
                assert_eq!(pid, victim);
                assert_eq!((chunk, rows, stripe), (Some(43), Some(4300..4400), None));
            }
            other => panic!("expected WriteInterrupted, got {other:?}"),
        }
        // Not retried: the interrupted chunk is half written, as the worker
        // left it, not squared twice; every other chunk is squared once.
        for (i, (&got, &orig)) in after.iter().zip(&v).enumerate() {
            let squared_once = orig * orig;
            let want = if (4300..4350).contains(&i) || !(4300..4400).contains(&i) {
                squared_once
            } else {
                orig
            };
            assert_eq!(got, want, "row {i}");
        }
        // The pool still works.
        let mut b = SharedArray::from_array(&v).unwrap();
        pool.on_mut(&mut b)
            .map_in_place(|mut c| c.mapv_inplace(|x| x + 1.0))
            .unwrap();
        assert_eq!(b.view(), v.mapv(|x| x + 1.0));
    });
}

#[test]
fn a_mapper_cannot_write_the_input_of_a_read_only_job() {
    within(LIMIT, || {
        let pool = Pool::builder()
            .workers(2)
            .chunk_size(shmr::ChunkSize::Rows(100))
            .retries(0)
            .build()
            .unwrap();
        let v = Array1::from_iter((0..1000).map(f64::from));
        let a = SharedArray::from_array(&v).unwrap();
        let err = pool
            .on(&a)
            .map_reduce(
                |c| {
                    if c.iter().any(|&x| x == 555.0) {
                        let p = c.as_ptr() as *mut f64;
                        // SAFETY: none, on purpose: this is the write that
                        // a buggy mapper's unsafe code might make. The
                        // mapping is read-only, so it faults.
                        unsafe { p.write_volatile(-1.0) };
                    }
                    c.sum()
                },
                |x, y| x + y,
            )
            .unwrap_err();
        match err {
            Error::WorkerDied {
                status,
                chunk,
                rows,
                ..
            } => {
                assert!(status.contains("SIGSEGV"), "{status}");
                assert_eq!((chunk, rows), (Some(5), Some(500..600)));
            }
            other => panic!("expected WorkerDied, got {other:?}"),
        }
        assert_eq!(a.view(), v, "the array is unchanged");
    });
}

/// Squares its chunk; the chunk holding -1 also writes, through a raw
/// pointer, 1024 elements (two pages) before its own start: the stray write
/// of a buggy mapper's unsafe code.
fn square_and_stray(_: &(), mut chunk: ArrayViewMut1<'_, f64>) {
    if chunk.iter().any(|&x| x == -1.0) {
        let p = chunk.as_mut_ptr();
        // SAFETY: none, on purpose; see above. The address is inside the
        // array (the test puts -1 far from its start).
        unsafe { p.sub(1024).write_volatile(f64::NAN) };
    }
    chunk.mapv_inplace(|x| x * x);
}

#[test]
fn guarded_in_place_jobs_fault_on_writes_outside_the_chunk() {
    within(LIMIT, || {
        // 512 f64 rows: every chunk is exactly one page.
        let pool = pool_with_rows(2, 512);
        let mut v = Array1::from_iter((0..100_000).map(|x| x as f64));
        v[50_000] = -1.0;
        let chunk = 50_000 / 512;

        let mut a = SharedArray::from_array(&v).unwrap();
        match pool
            .on_mut(&mut a)
            .guard_writes(true)
            .params(())
            .map_in_place(square_and_stray)
            .unwrap_err()
        {
            Error::WriteInterrupted {
                status, chunk: c, ..
            } => {
                assert!(status.contains("SIGSEGV"), "{status}");
                assert_eq!(c, Some(chunk as u64));
            }
            other => panic!("expected WriteInterrupted, got {other:?}"),
        }
        let stray = 50_000 / 512 * 512 - 1024;
        assert!(!a.view()[stray].is_nan(), "the stray write did not land");

        // Unguarded, the same bug goes unnoticed: that is what the guard is for.
        let mut b = SharedArray::from_array(&v).unwrap();
        pool.on_mut(&mut b)
            .params(())
            .map_in_place(square_and_stray)
            .unwrap();
        // (NaN whichever of the stray write and that chunk's squaring came first.)
        assert!(b.view()[stray].is_nan());

        // Guarded jobs that stay in their chunks give the right answer.
        let mut c = SharedArray::from_array(&v).unwrap();
        pool.on_mut(&mut c)
            .guard_writes(true)
            .map_in_place(|mut c| c.mapv_inplace(|x| x + 1.0))
            .unwrap();
        assert_eq!(c.view(), v.mapv(|x| x + 1.0));
    });
}
