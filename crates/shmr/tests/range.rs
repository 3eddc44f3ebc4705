//! `pool.range(n)`: jobs over indices without an array, for 1, 2 and 3
//! workers, against sequential loops: `map_reduce`, `fold` and `map_into`,
//! with side arrays, arrays read with the range, parameters; a CSR
//! matrix-vector product driven by its rows; inputs of six parts; the
//! errors of a range that does not match its arrays; a worker that dies.

mod common;
use common::{Rng, pool_with_rows};
use ndarray::{Array1, ArrayView1};
use shmr::{ChunkSize, SharedArray};
use std::ops::Range;

shmr::test_worker!();

/// A mixing function of an index: what a mapper computes from its
/// indices alone, which the sequential loop computes the same way.
fn mix(i: usize) -> u64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40
}

#[test]
fn a_range_job_sees_every_index_once_for_any_worker_count() {
    let n = 100_003;
    let want: u64 = (0..n).map(mix).sum();
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 1000);
        let got: u64 = pool
            .range(n)
            .map_reduce(|rows| rows.map(mix).sum(), |a, b| a + b)
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
        // The chunks tile 0..n in order, each the pool's 1000 indices.
        let tiles: Vec<Range<usize>> = pool
            .range(n)
            .map_reduce(
                |rows| vec![rows],
                |mut a, b| {
                    a.extend(b);
                    a
                },
            )
            .unwrap();
        assert_eq!(tiles.len(), n.div_ceil(1000));
        assert!(tiles.iter().all(|t| t.len() == 1000 || t.end == n));
        assert!(tiles.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!((tiles[0].start, tiles.last().unwrap().end), (0, n));
    }
}

/// A range of nothing is one empty chunk, like an empty array: the
/// mapper's result for no indices.
#[test]
fn an_empty_range_is_one_empty_chunk() {
    let pool = pool_with_rows(2, 1000);
    let got: Vec<Range<usize>> = pool.range(0).map_reduce(|r| vec![r], |a, _| a).unwrap();
    assert_eq!(got, vec![0..0]);
}

/// The default cut counts an index as 8 bytes; `ChunkSize::Rows` says
/// exactly how many indices a chunk has.
#[test]
fn a_range_is_cut_by_the_chunk_size_like_an_array_of_u64() {
    let pool = shmr::Pool::builder().workers(1).build().unwrap();
    let a = SharedArray::<u64, _>::zeros(10_000_000).unwrap();
    assert_eq!(
        pool.range(10_000_000).partition().unwrap(),
        pool.on(&a).partition().unwrap()
    );
    let job = pool.range(10).chunk_size(ChunkSize::Rows(3));
    assert_eq!(job.partition().unwrap().len(), 4);
}

/// A sparse matrix (CSR) times a vector: each chunk of rows reads its
/// slice of the offsets, the columns and values it points to, and the
/// vector, all side arrays, and writes its rows of the product.
#[test]
fn a_csr_product_driven_by_its_rows_is_the_sequential_one() {
    let (rows, cols) = (20_000, 5_000);
    let mut rng = Rng::new(7);
    let mut offsets = vec![0_u64];
    let (mut columns, mut values) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        for _ in 0..(rng.next_u64() % 12) {
            columns.push((rng.next_u64() % cols as u64) as u32);
            values.push((rng.next_u64() % 1000) as i64 - 500);
        }
        offsets.push(columns.len() as u64);
    }
    let x: Vec<i64> = (0..cols).map(|_| (rng.next_u64() % 100) as i64).collect();
    let want: Vec<i64> = (0..rows)
        .map(|r| {
            (offsets[r]..offsets[r + 1])
                .map(|k| values[k as usize] * x[columns[k as usize] as usize])
                .sum()
        })
        .collect();
    fn share<A: shmr::Element>(v: Vec<A>) -> SharedArray<A, ndarray::Ix1> {
        SharedArray::from_array(&Array1::from(v)).unwrap()
    }
    let (offsets, columns, values, x) = (share(offsets), share(columns), share(values), share(x));
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 777);
        let mut y = SharedArray::<i64, _>::zeros(rows).unwrap();
        pool.range(rows)
            .side(&offsets)
            .side(&columns)
            .side(&values)
            .side(&x)
            .map_into(&mut y, |(rows, off, col, val, x), mut out| {
                for (o, r) in out.iter_mut().zip(rows) {
                    let (a, b) = (off[r] as usize, off[r + 1] as usize);
                    *o = (a..b).map(|k| val[k] * x[col[k] as usize]).sum();
                }
            })
            .unwrap();
        assert_eq!(y.view().to_vec(), want, "{workers} workers");
    }
}

/// Arrays read with a range are cut into the same rows, which the mapper
/// gets as indices: the rows it maps and where they sit agree.
#[test]
fn arrays_read_with_a_range_get_the_rows_of_its_indices() {
    let n = 50_000;
    let v: Vec<u64> = (0..n).map(mix).collect();
    let a = SharedArray::from_array(&Array1::from(v.clone())).unwrap();
    let weights = SharedArray::from_array(&ndarray::arr1(&[3_u64, 5])).unwrap();
    let want: u64 = v.iter().enumerate().map(|(i, &x)| x * [3, 5][i % 2]).sum();
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 999);
        let got: u64 = pool
            .range(n)
            .and(&a)
            .side(&weights)
            .params(n)
            .map_reduce(
                |&n, (rows, a, w): (Range<usize>, ArrayView1<'_, u64>, ArrayView1<'_, u64>)| {
                    assert!(rows.end <= n && rows.len() == a.len());
                    rows.zip(a)
                        .map(|(i, &x)| {
                            assert_eq!(x, mix(i), "row {i} is not where its index says");
                            x * w[i % 2]
                        })
                        .sum()
                },
                |a, b| a + b,
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
    }
}

/// A fold over a range: one histogram of `mix` per worker, merged; the
/// same counts for any worker count.
#[test]
fn a_fold_over_a_range_is_the_sequential_histogram() {
    let n = 200_000;
    let mut want = vec![0_u64; 16];
    (0..n).for_each(|i| want[(mix(i) % 16) as usize] += 1);
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 4096);
        let got = pool
            .range(n)
            .params(16_usize)
            .fold(
                |&bins| vec![0_u64; bins],
                |&bins, acc, rows| rows.for_each(|i| acc[mix(i) as usize % bins] += 1),
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
    }
}

/// Six parts in one input: three arrays read together and three side
/// arrays; and a range with five side arrays.
#[test]
fn an_input_of_six_parts_reads_each_of_them() {
    let n = 30_000;
    let share =
        |f: fn(usize) -> i64| SharedArray::from_array(&Array1::from_iter((0..n).map(f))).unwrap();
    let (a, b, c) = (
        share(|i| i as i64),
        share(|i| 2 * i as i64),
        share(|i| i as i64 % 7),
    );
    let side = |x: i64| SharedArray::from_array(&ndarray::arr1(&[x])).unwrap();
    let (d, e, f) = (side(10), side(100), side(1000));
    let want: i64 = (0..n as i64)
        .map(|i| i * 10 + 2 * i * 100 + (i % 7) * 1000)
        .sum();
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 1000);
        let got: i64 = pool
            .on(&a)
            .and(&b)
            .and(&c)
            .side(&d)
            .side(&e)
            .side(&f)
            .map_reduce(
                |(a, b, c, d, e, f)| (&a * d[0] + &b * e[0] + &c * f[0]).sum(),
                |x, y| x + y,
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
        let got: i64 = pool
            .range(n)
            .side(&a)
            .side(&b)
            .side(&c)
            .side(&d)
            .side(&f)
            .map_reduce(
                |(rows, a, b, c, d, f)| rows.map(|i| a[i] * d[0] + b[i] * 100 + c[i] * f[0]).sum(),
                |x, y| x + y,
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers, range");
    }
}

/// A range whose arrays read with it, or whose output, has another length
/// is refused before any worker starts, naming both.
#[test]
fn a_range_that_does_not_match_its_arrays_is_refused_with_both_lengths() {
    let pool = pool_with_rows(2, 1000);
    let a = SharedArray::<f64, _>::zeros(999).unwrap();
    let err = pool
        .range(1000)
        .and(&a)
        .map_reduce(|(_, a)| a.sum(), |x, y| x + y)
        .unwrap_err();
    assert!(matches!(err, shmr::Error::InvalidConfig(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("0..1000") && msg.contains("[999]"), "{msg}");
    let mut out = SharedArray::<f64, _>::zeros(999).unwrap();
    let err = pool
        .range(1000)
        .map_into(&mut out, |_, mut o| o.fill(1.0))
        .unwrap_err();
    assert!(matches!(err, shmr::Error::InvalidConfig(_)), "{err}");
    assert!(err.to_string().contains("[1000]"), "{err}");
    // The pool is still usable.
    let s: usize = pool
        .range(10)
        .map_reduce(|r| r.sum(), |a, b| a + b)
        .unwrap();
    assert_eq!(s, 45);
}

/// A worker that dies in a range job: its chunks are mapped again and
/// the output is whole.
#[test]
fn a_worker_killed_in_a_range_job_loses_nothing() {
    let n = 40_000;
    for workers in [1, 2, 3] {
        let dir = common::scratch_dir(&format!("range-death-{workers}"));
        let marker = dir.join("died").display().to_string();
        let pool = pool_with_rows(workers, 1000);
        let mut out = SharedArray::<u64, _>::zeros(n).unwrap();
        let report = pool
            .range(n)
            .params(marker.clone())
            .reported()
            .map_into(&mut out, |marker, rows, mut o| {
                if rows.contains(&30_500) && std::fs::File::create_new(marker).is_ok() {
                    std::process::abort();
                }
                o.iter_mut().zip(rows).for_each(|(o, i)| *o = mix(i));
            })
            .unwrap()
            .1;
        assert_eq!(report.workers_replaced, 1, "{workers} workers");
        let want: Vec<u64> = (0..n).map(mix).collect();
        assert_eq!(out.view().to_vec(), want, "{workers} workers");
        let _ = std::fs::remove_dir_all(dir);
    }
}
