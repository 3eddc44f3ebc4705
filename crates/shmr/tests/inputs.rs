//! Jobs over several inputs read together (`.and`) and side arrays seen
//! whole (`.side`), each checked against a sequential computation of the
//! same thing; a length mismatch is an error before any work is sent; the
//! result does not depend on the number of workers.

mod common;
use common::{Rng, pool};
use ndarray::{Array1, Array2, Axis, Ix1, Ix2, s};
use shmr::{ChunkSize, Error, SharedArray};

shmr::test_worker!();

fn ints(rows: usize, cols: usize, seed: u64) -> Array2<i64> {
    let mut r = Rng::new(seed);
    Array2::from_shape_fn((rows, cols), |_| (r.next_u64() % 201) as i64 - 100)
}

#[test]
fn two_arrays_are_read_chunk_by_chunk_together() {
    let pool = pool(2);
    let x = ints(10_007, 3, 1);
    let y = ints(10_007, 1, 2).remove_axis(Axis(1));
    let (sx, sy) = (
        SharedArray::from_array(&x).unwrap(),
        SharedArray::from_array(&y).unwrap(),
    );
    // Sum over rows of (row sum of x) * y.
    let want: i64 = x
        .axis_iter(Axis(0))
        .zip(y.iter())
        .map(|(r, &w)| r.sum() * w)
        .sum();
    for rows in [1usize, 13, 10_007] {
        let (got, report) = pool
            .on(&sx)
            .and(&sy)
            .chunk_size(ChunkSize::Rows(rows))
            .reported()
            .map_reduce(
                |(x, y)| {
                    assert_eq!(x.nrows(), y.len(), "the same rows of both arrays");
                    x.axis_iter(Axis(0))
                        .zip(y)
                        .map(|(r, &w)| r.sum() * w)
                        .sum::<i64>()
                },
                |a, b| a + b,
            )
            .unwrap();
        assert_eq!(got, want, "chunks of {rows} rows");
        assert_eq!(report.chunks, 10_007usize.div_ceil(rows) as u64);
    }
    // With parameters, and which rows each chunk saw.
    let seen: Vec<(usize, i64)> = pool
        .on(&sx)
        .and(&sy)
        .params(10_i64)
        .chunk_size(ChunkSize::Rows(1000))
        .map_reduce(
            |k, (x, y)| vec![(x.nrows(), x[[0, 0]] * k + y[0])],
            |mut a, b| {
                a.extend(b);
                a
            },
        )
        .unwrap();
    let want: Vec<(usize, i64)> = (0..11)
        .map(|c| {
            let first = c * 1000;
            ((10_007 - first).min(1000), x[[first, 0]] * 10 + y[first])
        })
        .collect();
    assert_eq!(seen, want);
}

#[test]
fn a_side_array_is_seen_whole_by_every_mapper() {
    let pool = pool(2);
    // Nearest of k centroids for each point: kmeans' assignment step.
    let points = ints(20_000, 2, 3);
    let centroids = ints(7, 2, 4);
    let (sp, sc) = (
        SharedArray::from_array(&points).unwrap(),
        SharedArray::from_array(&centroids).unwrap(),
    );
    fn nearest(p: ndarray::ArrayView1<'_, i64>, c: ndarray::ArrayView2<'_, i64>) -> usize {
        (0..c.nrows())
            .min_by_key(|&j| (&c.row(j) - &p).mapv(|d| d * d).sum())
            .unwrap()
    }
    let mut want = vec![0u64; 7];
    for p in points.axis_iter(Axis(0)) {
        want[nearest(p, centroids.view())] += 1;
    }
    let got = pool
        .on(&sp)
        .side(&sc)
        .map_reduce(
            |(points, centroids)| {
                assert_eq!(centroids.dim(), (7, 2), "the side array whole");
                let mut counts = vec![0u64; centroids.nrows()];
                for p in points.axis_iter(Axis(0)) {
                    counts[nearest(p, centroids)] += 1;
                }
                counts
            },
            |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
        )
        .unwrap();
    assert_eq!(got, want);
    // The same array as the input and as a side array (each row against
    // all rows, as a covariance does): mapped once, read both ways.
    let dots: i64 = pool
        .on(&sc)
        .side(&sc)
        .chunk_size(ChunkSize::Rows(2))
        .map_reduce(|(rows, all)| rows.dot(&all.t()).sum(), |a, b| a + b)
        .unwrap();
    assert_eq!(dots, centroids.dot(&centroids.t()).sum());
}

#[test]
fn a_product_is_written_by_row_blocks_with_the_second_matrix_whole() {
    let pool = pool(2);
    let a = ints(300, 40, 5);
    let b = ints(40, 50, 6);
    let (sa, sb) = (
        SharedArray::from_array(&a).unwrap(),
        SharedArray::from_array(&b).unwrap(),
    );
    let mut c = SharedArray::<i64, Ix2>::zeros((300, 50)).unwrap();
    pool.on(&sa)
        .side(&sb)
        .chunk_size(ChunkSize::Rows(7))
        .map_into(&mut c, |(a, b), mut c| c.assign(&a.dot(&b)))
        .unwrap();
    assert_eq!(c.view(), a.dot(&b));
    // Four parts, with parameters: c = k * (a + a2) x b + bias.
    let a2 = ints(300, 40, 7);
    let bias = ints(300, 50, 8);
    let (sa2, sbias) = (
        SharedArray::from_array(&a2).unwrap(),
        SharedArray::from_array(&bias).unwrap(),
    );
    pool.on(&sa)
        .and(&sa2)
        .side(&sb)
        .and(&sbias)
        .params(3_i64)
        .map_into(&mut c, |k, (a, a2, b, bias), mut c| {
            c.assign(&((&a + &a2).dot(&b) * *k + bias))
        })
        .unwrap();
    assert_eq!(c.view(), (&a + &a2).dot(&b) * 3 + &bias);
}

#[test]
fn arrays_of_different_lengths_are_refused_before_any_work() {
    let pool = pool(2);
    let x = SharedArray::from_array(&Array1::<f64>::zeros(10)).unwrap();
    let y = SharedArray::from_array(&Array1::<f64>::zeros(11)).unwrap();
    let before = pool.worker_pids();
    let err = pool
        .on(&x)
        .and(&y)
        .reported()
        .map_reduce(|(x, y)| x.sum() + y.sum(), |a, b| a + b)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("same length along axis 0") && msg.contains("[10]") && msg.contains("[11]"),
        "{msg}"
    );
    assert!(
        msg.contains(".side("),
        "the message names the way out: {msg}"
    );
    // The pool is untouched and still works; a side array may differ in length.
    assert_eq!(pool.worker_pids(), before);
    let n = pool
        .on(&x)
        .side(&y)
        .map_reduce(|(x, y)| x.len() + y.len(), |a, b| a + b)
        .unwrap();
    assert_eq!(n, 10 + 11 * pool.on(&x).partition().unwrap().len() as usize);
}

#[test]
fn the_result_is_the_same_for_any_number_of_workers() {
    let mut r = Rng::new(9);
    let n = 200_003;
    let x = Array1::from_iter((0..n).map(|_| r.next_f64() - 0.5));
    let y = Array2::from_shape_fn((n, 2), |_| r.next_f64());
    let w = Array1::from_iter((0..16).map(|_| r.next_f64()));
    let (sx, sy, sw) = (
        SharedArray::<f64, Ix1>::from_array(&x).unwrap(),
        SharedArray::<f64, Ix2>::from_array(&y).unwrap(),
        SharedArray::<f64, Ix1>::from_array(&w).unwrap(),
    );
    let run = |workers: usize| -> f64 {
        pool(workers)
            .on(&sx)
            .and(&sy)
            .side(&sw)
            .chunk_size(ChunkSize::Rows(4096))
            .map_reduce(
                |(x, y, w)| {
                    x.iter()
                        .zip(y.axis_iter(Axis(0)))
                        .enumerate()
                        .map(|(i, (&x, y))| x * y[0] - y[1] * w[i % 16])
                        .sum::<f64>()
                },
                |a, b| a + b,
            )
            .unwrap()
    };
    // The sequential fold over the same chunks, in chunk order.
    let want = (0..n)
        .step_by(4096)
        .map(|start| {
            let end = (start + 4096).min(n);
            let (xc, yc) = (x.slice(s![start..end]), y.slice(s![start..end, ..]));
            xc.iter()
                .zip(yc.axis_iter(Axis(0)))
                .enumerate()
                .map(|(i, (&x, y))| x * y[0] - y[1] * w[i % 16])
                .sum::<f64>()
        })
        .reduce(|a, b| a + b)
        .unwrap();
    for workers in [1, 2, 3] {
        assert_eq!(run(workers).to_bits(), want.to_bits(), "{workers} workers");
    }
}
