//! The job builder: every kind of job through `pool.on(&a)` /
//! `pool.on_mut(&mut a)`, with and without parameters, each checked against
//! a sequential computation, and the per-job options (chunk size, report,
//! timeout, stripes, progress) doing what they say.

mod common;
use common::{Rng, pool};
use ndarray::{Array1, Array2, Axis, Ix1, Ix2};
use shmr::{ChunkSize, SharedArray};
use std::time::Duration;

shmr::test_worker!();

fn data(n: usize) -> (Array1<f64>, SharedArray<f64, Ix1>) {
    let mut r = Rng::new(5);
    let v = Array1::from_iter((0..n).map(|_| r.next_f64() - 0.5));
    let a = SharedArray::from_array(&v).unwrap();
    (v, a)
}

#[test]
fn reductions_with_and_without_parameters() {
    let pool = pool(2);
    let (v, a) = data(100_000);
    // The default chunking, folded in chunk order, sequentially.
    let rows = pool.on(&a).partition().unwrap().chunk_rows() as usize;
    let want = v
        .axis_chunks_iter(Axis(0), rows)
        .map(|c| c.sum())
        .reduce(|x, y| x + y)
        .unwrap();
    let got: f64 = pool.on(&a).map_reduce(|c| c.sum(), |x, y| x + y).unwrap();
    assert_eq!(got.to_bits(), want.to_bits());
    let above = pool
        .on(&a)
        .params(0.25_f64)
        .map_reduce(|t, c| c.iter().filter(|&&x| x > *t).count(), |x, y| x + y)
        .unwrap();
    assert_eq!(above, v.iter().filter(|&&x| x > 0.25).count());
    // Sum's own kernel adds in another order: close, not equal bits.
    let sum = pool.on(&a).run(&shmr::builtin::Sum).unwrap();
    common::assert_close(sum, want, v.len() as f64, 1e-12, "Sum");
    // The one-line entry on the global pool gives the same bits.
    let global: f64 = shmr::map_reduce(&a, |c| c.sum(), |x, y| x + y).unwrap();
    assert_eq!(global.to_bits(), want.to_bits());
}

#[test]
fn the_chunk_size_is_a_setting_of_one_job() {
    let pool = pool(2);
    let (v, a) = data(1000);
    for rows in [1usize, 7, 10, 1000] {
        let (sum, report) = pool
            .on(&a)
            .chunk_size(ChunkSize::Rows(rows))
            .reported()
            .map_reduce(|c| c.sum(), |x, y| x + y)
            .unwrap();
        let want = v
            .axis_chunks_iter(Axis(0), rows)
            .map(|c| c.sum())
            .reduce(|x, y| x + y)
            .unwrap();
        assert_eq!(sum.to_bits(), want.to_bits(), "{rows} rows per chunk");
        assert_eq!(report.chunks, 1000_u64.div_ceil(rows as u64));
        assert_eq!((report.rounds, report.lock_acquisitions), (1, 0));
    }
    // The pool's own chunk size is untouched.
    assert_eq!(pool.chunk_size(), ChunkSize::default());
}

#[test]
fn jobs_that_write_with_and_without_parameters() {
    let pool = pool(2);
    let v = Array1::from_iter((0..5000).map(f64::from));
    let mut a = SharedArray::from_array(&v).unwrap();
    pool.on_mut(&mut a)
        .map_in_place(|mut c| c.mapv_inplace(|x| x * 2.0))
        .unwrap();
    pool.on_mut(&mut a)
        .params(3.0_f64)
        .map_in_place(|k, mut c| c.mapv_inplace(|x| x + k))
        .unwrap();
    assert_eq!(a.view(), v.mapv(|x| x * 2.0 + 3.0));

    // Into another array, of another type and shape.
    let mut halves = SharedArray::<f32, Ix2>::zeros((5000, 2)).unwrap();
    pool.on(&a)
        .map_into(&mut halves, |i, mut o| {
            o.column_mut(0).assign(&i.mapv(|x| (x / 2.0) as f32))
        })
        .unwrap();
    pool.on(&a)
        .params(10.0_f32)
        .map_into(&mut halves, |k, i, mut o| {
            o.column_mut(1).assign(&i.mapv(|x| x as f32 * k))
        })
        .unwrap();
    let want = Array2::from_shape_fn((5000, 2), |(r, c)| {
        let x = v[r] * 2.0 + 3.0;
        if c == 0 {
            (x / 2.0) as f32
        } else {
            x as f32 * 10.0
        }
    });
    assert_eq!(halves.view(), want);

    // Under locks: a histogram of the last digit, counted exactly.
    let keys = SharedArray::from_array(&Array1::from_iter((0..10_000_u32).map(|x| x * 7))).unwrap();
    let mut counts = SharedArray::<u64, Ix1>::zeros(10).unwrap();
    let ((), report) = pool
        .on(&keys)
        .stripes(3)
        .reported()
        .map_locked(&mut counts, |c, out| {
            for &k in c {
                out.update((k % 10) as usize, |n| *n += 1);
            }
        })
        .unwrap();
    assert_eq!(report.lock_acquisitions, 10_000);
    let mut weighted = SharedArray::<u64, Ix1>::zeros(10).unwrap();
    pool.on(&keys)
        .params(2_u64)
        .map_locked(&mut weighted, |w, c, out| {
            for &k in c {
                out.update((k % 10) as usize, |n| *n += w);
            }
        })
        .unwrap();
    let mut want = [0u64; 10];
    (0..10_000_u32).for_each(|x| want[(x * 7 % 10) as usize] += 1);
    assert_eq!(counts.view().to_vec(), want.to_vec());
    assert_eq!(weighted.view().to_vec(), want.map(|n| 2 * n).to_vec());
}

#[test]
fn options_of_one_job() {
    let pool = pool(2);
    let (v, a) = data(1 << 20);
    let seen = std::sync::atomic::AtomicU64::new(0);
    let tick = |claimed: u64, total: u64| {
        assert!(claimed <= total);
        seen.fetch_max(total, std::sync::atomic::Ordering::Relaxed);
    };
    // 1024 chunks of about a millisecond each: the job outlasts several
    // 50 ms progress ticks.
    let n = pool
        .on(&a)
        .timeout(Duration::MAX)
        .retries(0)
        .chunk_size(ChunkSize::Rows(1 << 10))
        .progress(&tick)
        .map_reduce(
            |c| {
                std::thread::sleep(Duration::from_millis(1));
                c.len()
            },
            |x, y| x + y,
        )
        .unwrap();
    assert_eq!(n, v.len());
    // Progress was reported, against this job's own chunk count.
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1024);
    // A job that waits longer than its timeout is ended by it.
    let err = pool
        .on(&a)
        .timeout(Duration::from_millis(200))
        .map_reduce(
            |c| {
                std::thread::sleep(Duration::from_secs(60));
                c.len()
            },
            |x, y| x + y,
        )
        .unwrap_err();
    assert!(matches!(err, shmr::Error::Timeout { .. }), "{err:?}");
}

#[test]
fn a_job_told_to_stop_ends_with_stopped_and_the_pool_goes_on() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let pool = common::pool_with_rows(2, 1);
    let data = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(0..200_u64)).unwrap();
    let flag = AtomicBool::new(false);
    let stop = || flag.load(Ordering::Relaxed);
    // A job that is not stopped returns Ok after 10 s, and fails the test.
    let err = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            flag.store(true, Ordering::Relaxed);
        });
        // 200 chunks of 100 ms each on 2 workers: 10 s if not stopped.
        pool.on(&data)
            .stop_when(&stop)
            .map_reduce(
                |c| {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    c.sum()
                },
                |a, b| a + b,
            )
            .unwrap_err()
    });
    let shmr::Error::Stopped { killed, chunk, .. } = &err else {
        panic!("expected Stopped, got {err:?}")
    };
    assert!(*killed >= 1 && chunk.is_some(), "{err}");
    assert!(err.to_string().contains("stop_when"), "{err}");
    // The workers killed were replaced: the next job has the whole pool.
    let sum = pool
        .on(&data)
        .map_reduce(|c| c.sum(), |a, b| a + b)
        .unwrap();
    assert_eq!(sum, (0..200_u64).sum::<u64>());
    assert_eq!(pool.workers(), 2);
}
