//! Partials of any size: a chunk's partial larger than the slot the pool
//! started with (the slots grow, and stay at a few partials' size however
//! many chunks there are), ndarray arrays as partials, partials folded as
//! they arrive with workers waiting for room, and results the same bit for
//! bit for any number of workers.

mod common;
use common::Rng;
use ndarray::{Array1, Array2, ArrayView2, Axis, Ix2};
use shmr::{ChunkSize, Error, Pool, Raw, RawArray, SharedArray};

shmr::test_worker!();

fn pool(workers: usize) -> Pool {
    Pool::builder().workers(workers).build().unwrap()
}

/// The scatter matrix of a block of observations: X^T X, d x d.
fn scatter(x: ArrayView2<'_, f64>) -> Array2<f64> {
    x.t().dot(&x)
}

/// `n` random observations of `d` variables in shared memory, and the sum
/// of the scatter matrices of their blocks of 20, folded in order.
fn observations(n: usize, d: usize, seed: u64) -> (SharedArray<f64, Ix2>, Array2<f64>) {
    let mut r = Rng::new(seed);
    let x = Array2::from_shape_fn((n, d), |_| r.next_f64() - 0.5);
    let want = x
        .axis_chunks_iter(Axis(0), 20)
        .map(scatter)
        .reduce(|a, b| a + b)
        .unwrap();
    (SharedArray::from_array(&x).unwrap(), want)
}

#[test]
fn a_covariance_sized_partial_grows_the_slots_once_and_folds_in_order() {
    // 800 variables: each chunk's partial is 800 x 800 f64, 5.1 MB, over
    // the 4 MiB slot a pool starts with; 24 chunks of 20 observations.
    let (sx, want) = observations(480, 800, 11);
    let d = 800;
    let partial = d * d * 8;
    for workers in [1, 2, 3] {
        let pool = pool(workers);
        assert!(pool.slot_bytes() < partial, "the pool starts smaller");
        let (got, report) = pool
            .on(&sx)
            .chunk_size(ChunkSize::Rows(20))
            .reported()
            .map_reduce(scatter, |a, b| a + b)
            .unwrap();
        assert_eq!(report.chunks, 24);
        assert_eq!(report.slots_grown, 1);
        // Bit for bit: the same left fold in chunk order, whatever the workers.
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{workers} workers"
        );
        // Memory: each slot holds two partials (plus a little), not the
        // job's 24: the coordinator folded as the partials came.
        let slot = pool.slot_bytes();
        assert!(
            slot > partial && slot < 3 * partial,
            "{slot} bytes a slot for {partial}-byte partials"
        );
        // Larger slots stay: the next job grows nothing.
        let (_, again) = pool
            .on(&sx)
            .chunk_size(ChunkSize::Rows(20))
            .reported()
            .map_reduce(scatter, |a, b| a + b)
            .unwrap();
        assert_eq!(again.slots_grown, 0);
    }
}

#[test]
fn many_partials_stream_through_a_small_ring() {
    // 400 chunks of 5,000-byte partials through 16 KiB slots: each ring
    // holds three records, so workers wait for the coordinator to take
    // records while the job runs, many times over.
    let pool = Pool::builder()
        .workers(2)
        .slot_bytes(16 << 10)
        .max_slot_bytes(16 << 10)
        .build()
        .unwrap();
    let v = Array1::from_iter((0..400_000u32).map(|i| i.wrapping_mul(2_654_435_761)));
    let a = SharedArray::from_array(&v).unwrap();
    let got: Vec<u32> = pool
        .on(&a)
        .chunk_size(ChunkSize::Rows(1000))
        .map_reduce(
            // Every fifth value of the chunk, in order: 200 values, 5 KB
            // with postcard's varints.
            |c| c.iter().step_by(5).copied().collect::<Vec<u32>>(),
            |mut x, y| {
                x.extend(y);
                x
            },
        )
        .unwrap();
    let want: Vec<u32> = v
        .axis_chunks_iter(Axis(0), 1000)
        .flat_map(|c| c.iter().step_by(5).copied().collect::<Vec<_>>())
        .collect();
    assert_eq!(got, want);
    assert_eq!(pool.slot_bytes(), 16 << 10, "no growth needed");
}

#[test]
fn a_reducer_that_panics_leaves_the_pool_working() {
    let pool = pool(2);
    let a = SharedArray::from_array(&Array1::<u64>::from_elem(100_000, 1)).unwrap();
    let err = pool
        .on(&a)
        .chunk_size(ChunkSize::Rows(1000))
        .map_reduce(
            |c| c.sum(),
            |x, y| {
                if x > 5000 {
                    panic!("reducer gave up")
                } else {
                    x + y
                }
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::ReducerPanicked { message } if message.contains("reducer gave up")),
        "{err:?}"
    );
    // The same pool runs the next job, with every chunk.
    let sum = pool
        .on(&a)
        .chunk_size(ChunkSize::Rows(1000))
        .map_reduce(|c| c.sum(), |x, y| x + y)
        .unwrap();
    assert_eq!(sum, 100_000);
}

#[test]
fn raw_partials_of_fixed_size_beyond_serde_count_every_value() {
    // A 768-bin count, `[u64; 768]`: no Serialize impl exists for it, so
    // it travels as `Raw`, its bytes copied into the ring.
    let mut r = Rng::new(5);
    let v = Array1::from_shape_fn(300_000, |_| (r.next_u64() % 768) as u16);
    let a = SharedArray::from_array(&v).unwrap();
    let mut want = [0u64; 768];
    v.iter().for_each(|&x| want[x as usize] += 1);
    for workers in [1, 2, 3] {
        let got = pool(workers)
            .on(&a)
            .chunk_size(ChunkSize::Rows(7_000))
            .map_reduce(
                |c| {
                    let mut counts = Raw([0u64; 768]);
                    c.iter().for_each(|&x| counts[x as usize] += 1);
                    counts
                },
                |mut x, y| {
                    x.iter_mut().zip(y.iter()).for_each(|(s, t)| *s += t);
                    x
                },
            )
            .unwrap();
        assert_eq!(got.0, want, "{workers} workers");
    }
}

#[test]
fn raw_array_partials_fold_to_the_sequential_bits_in_slots_under_three_partials() {
    // The covariance-sized job again, its partials as `RawArray`: the same
    // fold of the same values, so the same bits as through serde, and the
    // slots stay under three raw partials however many chunks there are.
    let (sx, want) = observations(240, 700, 12);
    let d = 700;
    for workers in [1, 3] {
        let pool = pool(workers);
        let (got, report) = pool
            .on(&sx)
            .chunk_size(ChunkSize::Rows(20))
            .reported()
            .map_reduce(|c| RawArray(scatter(c)), |a, b| RawArray(a.0 + b.0))
            .unwrap();
        assert_eq!(report.chunks, 12);
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{workers} workers"
        );
        let partial = d * d * 8;
        assert!(pool.slot_bytes() < 3 * partial + 4096);
    }
}
