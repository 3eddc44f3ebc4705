//! Reductions along axis 0 (`Columns`), against sequential computations
//! per column: sums, statistics and histograms of 2-D and 3-D arrays, the
//! same bits for 1, 2 and 3 workers, and a 1-D array as one column whose
//! result is the whole-array job's.

mod common;
use common::{Rng, assert_close, pool_with_rows};
use ndarray::{Array, Array1, Array2, Axis, IxDyn};
use shmr::builtin::{Columns, Histogram, Stats, Sum};
use shmr::{Error, SharedArray};

shmr::test_worker!();

fn table(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut r = Rng::new(seed);
    Array2::from_shape_fn((rows, cols), |(_, j)| {
        (r.normal() * (j as f64 + 1.0) + 10.0 * j as f64) as f32
    })
}

#[test]
fn column_statistics_match_per_column_loops_with_the_same_bits_for_any_worker_count() {
    let t = table(20_011, 8, 1);
    let a = SharedArray::from_array(&t).unwrap();
    let mut first: Option<(Vec<u64>, Vec<u64>)> = None;
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 999);
        let sums = pool.on(&a).run(&Columns(Sum)).unwrap();
        let stats = pool.on(&a).run(&Columns(Stats)).unwrap();
        assert_eq!((sums.len(), stats.len()), (8, 8));
        for (j, col) in t.axis_iter(Axis(1)).enumerate() {
            let xs: Vec<f64> = col.iter().map(|&x| f64::from(x)).collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let scale: f64 = xs.iter().map(|x| x.abs()).sum();
            assert_close(sums[j], mean * n, scale, 1e-12, "column sum");
            let s = &stats[j];
            assert_eq!(s.count(), xs.len() as u64);
            assert_close(s.mean().unwrap(), mean, scale / n, 1e-12, "column mean");
            assert_close(s.variance().unwrap(), var, var, 1e-9, "column variance");
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((s.min(), s.max()), (Some(min), Some(max)));
        }
        let bits = (
            sums.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            stats.iter().map(|s| s.std().unwrap().to_bits()).collect(),
        );
        match &first {
            None => first = Some(bits),
            Some(f) => assert_eq!(&bits, f, "{workers} workers"),
        }
    }
}

#[test]
fn integer_column_sums_are_exact() {
    let mut r = Rng::new(2);
    let t = Array2::from_shape_fn((10_007, 5), |_| r.next_u64() as i64 >> 3);
    let a = SharedArray::from_array(&t).unwrap();
    let want: Vec<i128> = t
        .axis_iter(Axis(1))
        .map(|c| c.iter().map(|&x| x as i128).sum())
        .collect();
    for workers in [1, 3] {
        let got = pool_with_rows(workers, 777)
            .on(&a)
            .run(&Columns(Sum))
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
    }
}

#[test]
fn a_three_axis_array_has_a_result_per_position_of_its_trailing_axes() {
    let t = Array::from_shape_fn(IxDyn(&[3001, 2, 3]), |ix| {
        (ix[0] * 7 + ix[1] * 100 + ix[2]) as u32
    });
    let a = SharedArray::from_array(&t).unwrap();
    let got = pool_with_rows(2, 500).on(&a).run(&Columns(Sum)).unwrap();
    let want: Vec<u128> = (0..2)
        .flat_map(|i| (0..3).map(move |k| (i, k)))
        .map(|(i, k)| (0..3001).map(|r| (r * 7 + i * 100 + k) as u128).sum())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_one_axis_array_is_one_column_with_the_whole_array_result() {
    let mut r = Rng::new(3);
    let v = Array1::from_iter((0..50_000).map(|_| r.normal()));
    let a = SharedArray::from_array(&v).unwrap();
    let pool = pool_with_rows(2, 4096);
    let sum = pool.on(&a).run(&Columns(Sum)).unwrap();
    assert_eq!(sum.len(), 1);
    assert_eq!(sum[0].to_bits(), pool.on(&a).run(&Sum).unwrap().to_bits());
    let stats = pool.on(&a).run(&Columns(Stats)).unwrap();
    assert_eq!(stats, vec![pool.on(&a).run(&Stats).unwrap()]);
}

#[test]
fn nans_and_histograms_are_counted_per_column() {
    // Column 0: 0..100 repeated; column 1: NaN every third row, else 50.
    let rows = 9000;
    let t = Array2::from_shape_fn((rows, 2), |(i, j)| match j {
        0 => (i % 100) as f64,
        _ if i % 3 == 0 => f64::NAN,
        _ => 50.0,
    });
    let a = SharedArray::from_array(&t).unwrap();
    let pool = pool_with_rows(3, 701);
    let stats = pool.on(&a).run(&Columns(Stats)).unwrap();
    assert_eq!((stats[0].nan_count(), stats[1].nan_count()), (0, 3000));
    assert_eq!(stats[1].mean(), Some(50.0));
    let hist = pool
        .on(&a)
        .run(&Columns(Histogram::new(10, 0.0..50.0)))
        .unwrap();
    // Column 0: values 0..49 in ten bins of five, 50..99 above.
    assert_eq!(hist[0].counts(), &[450; 10]);
    assert_eq!((hist[0].above(), hist[0].nan()), (4500, 0));
    assert_eq!(
        (hist[1].counts(), hist[1].above(), hist[1].nan()),
        (&[0; 10][..], 6000, 3000)
    );
    let err = pool
        .on(&a)
        .run(&Columns(Histogram::new(0, 0.0..1.0)))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
}
