//! Every built-in job against a plain sequential computation, for every
//! element type, for 1-D and 2-D arrays, and for the edge cases of chunking.

mod common;
use common::{Rng, assert_close, pool_with_rows};
use ndarray::{Array, Array1, Array2, IxDyn};
use shmr::SharedArray;
use shmr::builtin::{Histogram, Stats, Sum};

shmr::test_worker!();

/// Integers in [lo, hi) as i128 (wide enough for every type): half of
/// them anywhere in the range, half near the histogram range below.
fn ints(n: usize, lo: i128, hi: i128, seed: u64) -> Vec<i128> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                lo + (r.next_u64() as u128 % (hi - lo) as u128) as i128
            } else {
                let near = HIST_LO.max(lo) - 16 + (r.next_u64() % 300) as i128;
                near.clamp(lo, hi - 1)
            }
        })
        .collect()
}

/// Histogram of 64 bins of width 4 from `HIST_LO` (or the type's minimum).
const HIST_LO: i128 = -128;

macro_rules! int_sum_and_stats {
    ($name:ident, $t:ty, $lo:expr, $hi:expr) => {
        #[test]
        fn $name() {
            let pool = pool_with_rows(2, 777);
            let raw = ints(10_001, $lo, $hi, 7);
            let v: Vec<$t> = raw.iter().map(|&x| x as $t).collect();
            let a = SharedArray::from_array(&Array1::from(v.clone())).unwrap();

            let want: i128 = raw.iter().sum();
            let got = pool.on(&a).run(&Sum).unwrap();
            assert_eq!(got as i128, want, "sum of {}", stringify!($t));

            let s = pool.on(&a).run(&Stats).unwrap();
            let n = raw.len() as f64;
            let mean = raw.iter().map(|&x| x as f64).sum::<f64>() / n;
            let var = raw.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
            let scale = raw.iter().map(|&x| (x as f64).abs()).sum::<f64>() / n;
            assert_eq!(s.count(), raw.len() as u64);
            assert_eq!(s.nan_count(), 0);
            assert_close(s.mean().unwrap(), mean, scale, 1e-12, "mean");
            assert_close(s.variance().unwrap(), var, var, 1e-9, "variance");
            assert_eq!(s.min().unwrap(), *raw.iter().min().unwrap() as f64);
            assert_eq!(s.max().unwrap(), *raw.iter().max().unwrap() as f64);

            // Width-4 bins: the bin of x is an integer division, independent
            // of the floating-point formula (all bin values are exact in f64).
            let lo = HIST_LO.max($lo);
            let hi = lo + 256;
            let bins = 64;
            let h = pool
                .on(&a)
                .run(&Histogram::new(bins, lo as f64..hi as f64))
                .unwrap();
            let mut want = vec![0u64; bins];
            let (mut below, mut above) = (0, 0);
            for &x in &raw {
                if x < lo {
                    below += 1
                } else if x >= hi {
                    above += 1
                } else {
                    want[((x - lo) / 4) as usize] += 1
                }
            }
            assert_eq!(h.counts(), &want[..]);
            assert_eq!((h.below(), h.above(), h.nan()), (below, above, 0));
        }
    };
}

int_sum_and_stats!(i8_jobs, i8, -128, 128);
int_sum_and_stats!(i16_jobs, i16, -30_000, 30_000);
int_sum_and_stats!(i32_jobs, i32, -2_000_000_000, 2_000_000_000);
int_sum_and_stats!(
    i64_jobs,
    i64,
    -4_000_000_000_000_000_000,
    4_000_000_000_000_000_000
);
int_sum_and_stats!(u8_jobs, u8, 0, 256);
int_sum_and_stats!(u16_jobs, u16, 0, 65_536);
int_sum_and_stats!(u32_jobs, u32, 0, 4_000_000_000);
int_sum_and_stats!(u64_jobs, u64, 0, 9_000_000_000_000_000_000);

#[test]
fn i64_sum_does_not_overflow() {
    let pool = pool_with_rows(2, 3);
    let a = SharedArray::from_array(&Array1::from_elem(10, i64::MAX)).unwrap();
    assert_eq!(pool.on(&a).run(&Sum).unwrap(), i64::MAX as i128 * 10);
    let b = SharedArray::from_array(&Array1::from_elem(10, u64::MAX)).unwrap();
    assert_eq!(pool.on(&b).run(&Sum).unwrap(), u64::MAX as u128 * 10);
}

macro_rules! float_jobs {
    ($name:ident, $t:ty, $rel:expr) => {
        #[test]
        fn $name() {
            let pool = pool_with_rows(2, 1000);
            let mut r = Rng::new(11);
            // Eighths in [-2, 10): exact in every float type, and the bins
            // below (width 1/2 over [0, 8)) are exact multiples.
            let mut v: Vec<$t> = (0..20_003)
                .map(|_| ((r.next_u64() % 96) as $t) / 8.0 - 2.0)
                .collect();
            v[17] = <$t>::NAN;
            v[5000] = <$t>::NAN;
            v[7000] = <$t>::INFINITY;
            let a = SharedArray::from_array(&Array1::from(v.clone())).unwrap();

            let s = pool.on(&a).run(&Stats).unwrap();
            assert_eq!(s.nan_count(), 2);
            assert_eq!(s.count(), v.len() as u64 - 2);
            assert_eq!(s.max(), Some(f64::INFINITY));
            assert_eq!(s.min(), Some(-2.0));
            // Stats over the finite values only (drop the infinity).
            let mut no_inf = v.clone();
            no_inf[7000] = 0.0;
            let b = SharedArray::from_array(&Array1::from(no_inf.clone())).unwrap();
            let s = pool.on(&b).run(&Stats).unwrap();
            let vals: Vec<f64> = no_inf
                .iter()
                .map(|&x| x as f64)
                .filter(|x| !x.is_nan())
                .collect();
            let n = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let var = vals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            assert_close(s.mean().unwrap(), mean, 1.0, 1e-12, "mean");
            assert_close(s.variance().unwrap(), var, var, 1e-10, "variance");
            assert_close(s.std().unwrap(), var.sqrt(), 1.0, 1e-10, "std");

            // Sum propagates NaN (it does not skip like Stats)...
            assert!(pool.on(&b).run(&Sum).unwrap().is_nan());
            // ...and agrees with a sequential sum when there is none.
            let clean: Vec<$t> = no_inf
                .iter()
                .map(|&x| if x.is_nan() { 0.0 } else { x })
                .collect();
            let c = SharedArray::from_array(&Array1::from(clean.clone())).unwrap();
            let sum = pool.on(&c).run(&Sum).unwrap();
            let want: f64 = clean.iter().map(|&x| x as f64).sum();
            let scale: f64 = clean.iter().map(|&x| (x as f64).abs()).sum();
            assert_close(sum, want, scale, $rel, "sum");
            assert!(
                pool.on(&a).run(&Sum).unwrap().is_nan(),
                "NaN and +inf give NaN"
            );

            let h = pool.on(&a).run(&Histogram::new(16, 0.0..8.0)).unwrap();
            let mut want = vec![0u64; 16];
            let (mut below, mut above, mut nan) = (0, 0, 0);
            for &x in &v {
                let x = x as f64;
                if x.is_nan() {
                    nan += 1
                } else if x < 0.0 {
                    below += 1
                } else if x >= 8.0 {
                    above += 1
                } else {
                    want[(x * 2.0) as usize] += 1
                }
            }
            assert_eq!(h.counts(), &want[..]);
            assert_eq!((h.below(), h.above(), h.nan()), (below, above, nan));
            assert_eq!(h.total(), v.len() as u64);
        }
    };
}

float_jobs!(f64_jobs, f64, 1e-14);
float_jobs!(f32_jobs, f32, 1e-14);

#[test]
fn two_d_arrays_chunk_by_rows() {
    let pool = pool_with_rows(2, 7);
    let mut r = Rng::new(3);
    let m = Array2::from_shape_fn((101, 13), |_| r.next_f64() * 100.0 - 50.0);
    let a = SharedArray::from_array(&m).unwrap();
    assert_close(
        pool.on(&a).run(&Sum).unwrap(),
        m.sum(),
        m.mapv(f64::abs).sum(),
        1e-14,
        "2-D sum",
    );
    let s = pool.on(&a).run(&Stats).unwrap();
    assert_eq!(s.count(), 101 * 13);
    assert_eq!(
        s.min().unwrap(),
        m.iter().copied().fold(f64::INFINITY, f64::min)
    );
    assert_close(
        s.mean().unwrap(),
        m.mean().unwrap(),
        50.0,
        1e-12,
        "2-D mean",
    );
    assert_close(
        s.variance().unwrap(),
        m.var(0.0),
        m.var(0.0),
        1e-10,
        "2-D var",
    );

    // A mapper sees whole rows: column sums come out exactly as computed
    // row-chunk by row-chunk, and equal ndarray's column sums.
    let cols: Vec<f64> = pool
        .on(&a)
        .map_reduce(
            |c| c.sum_axis(ndarray::Axis(0)).to_vec(),
            |x, y| x.iter().zip(&y).map(|(p, q)| p + q).collect(),
        )
        .unwrap();
    let want = m.sum_axis(ndarray::Axis(0));
    for (g, w) in cols.iter().zip(want.iter()) {
        assert_close(*g, *w, 5000.0, 1e-12, "column sum");
    }

    // Integer 2-D with IxDyn.
    let d = Array::from_shape_fn(IxDyn(&[9, 4, 3]), |ix| {
        (ix[0] * 100 + ix[1] * 10 + ix[2]) as i32
    });
    let b = SharedArray::from_array(&d).unwrap();
    assert_eq!(
        pool.on(&b).run(&Sum).unwrap(),
        d.iter().map(|&x| x as i128).sum::<i128>()
    );
    let rows: usize = pool
        .on(&b)
        .map_reduce(|c| c.shape()[0], |x, y| x + y)
        .unwrap();
    assert_eq!(rows, 9);
}

#[test]
fn edge_sizes() {
    let pool = pool_with_rows(4, 1000);
    // Empty: one empty chunk, so the identity of each job comes back.
    let e = SharedArray::<f64, _>::zeros(0).unwrap();
    assert_eq!(pool.on(&e).run(&Sum).unwrap(), 0.0);
    let s = pool.on(&e).run(&Stats).unwrap();
    assert_eq!((s.count(), s.mean(), s.min()), (0, None, None));
    assert_eq!(
        pool.on(&e)
            .run(&Histogram::new(4, 0.0..1.0))
            .unwrap()
            .total(),
        0
    );
    let n: usize = pool.on(&e).map_reduce(|c| c.len(), |a, b| a + b).unwrap();
    assert_eq!(n, 0);
    // Empty along another axis.
    let e2 = SharedArray::<i32, _>::zeros((5, 0)).unwrap();
    assert_eq!(pool.on(&e2).run(&Sum).unwrap(), 0);

    // One element, fewer elements than workers, chunk larger than the array.
    for len in [1usize, 2, 3, 999] {
        let v = Array1::from_iter((0..len).map(|i| i as f64 + 0.5));
        let a = SharedArray::from_array(&v).unwrap();
        assert_eq!(pool.on(&a).run(&Sum).unwrap(), v.sum(), "len {len}");
        let chunks: Vec<usize> = pool
            .on(&a)
            .map_reduce(
                |c| vec![c.len()],
                |mut x, y| {
                    x.extend(y);
                    x
                },
            )
            .unwrap();
        assert_eq!(
            chunks,
            vec![len],
            "one chunk holds the whole array of {len}"
        );
        assert_eq!(pool.on(&a).partition().unwrap().len(), 1);
    }

    // Zero-dimensional array: one element, one chunk.
    let z = SharedArray::from_array(&ndarray::arr0(42_u16)).unwrap();
    assert_eq!(pool.on(&z).run(&Sum).unwrap(), 42);
}

#[test]
fn histogram_parameters_are_checked() {
    let pool = pool_with_rows(1, 10);
    let a = SharedArray::from_array(&Array1::from_elem(5, 1.0)).unwrap();
    for h in [
        Histogram::new(0, 0.0..1.0),
        Histogram::new(4, 1.0..1.0),
        Histogram::new(4, 0.0..f64::INFINITY),
        Histogram::new(4, f64::NAN..1.0),
    ] {
        let err = pool.on(&a).run(&h).unwrap_err();
        assert!(matches!(err, shmr::Error::InvalidConfig(_)), "{h:?}: {err}");
    }
}

#[test]
fn stats_with_infinities_and_nans_at_the_start() {
    let pool = pool_with_rows(2, 2);
    let run = |v: &[f64]| {
        pool.on(&SharedArray::from_array(&Array1::from(v.to_vec())).unwrap())
            .run(&Stats)
            .unwrap()
    };
    // An infinity first must not poison the finite values' arithmetic.
    let s = run(&[f64::INFINITY, 1.0, 2.0]);
    assert_eq!(
        (s.count(), s.mean(), s.min(), s.max()),
        (3, Some(f64::INFINITY), Some(1.0), Some(f64::INFINITY))
    );
    assert!(
        s.variance().unwrap().is_nan(),
        "numpy: var([inf, 1, 2]) is nan"
    );
    assert_eq!(
        run(&[1.0, f64::NEG_INFINITY, 5.0, 7.0]).mean(),
        Some(f64::NEG_INFINITY)
    );
    // Opposite infinities have no mean (numpy: nan).
    assert!(
        run(&[f64::NEG_INFINITY, f64::INFINITY])
            .mean()
            .unwrap()
            .is_nan()
    );
    // NaNs first, then values.
    let s = run(&[f64::NAN, f64::NAN, 3.0, 5.0]);
    assert_eq!(
        (s.count(), s.nan_count(), s.mean(), s.variance()),
        (2, 2, Some(4.0), Some(1.0))
    );
    assert_eq!((s.min(), s.max()), (Some(3.0), Some(5.0)));
    // Only NaNs: nothing to describe.
    let s = run(&[f64::NAN; 5]);
    assert_eq!(
        (s.count(), s.nan_count(), s.mean(), s.min()),
        (0, 5, None, None)
    );
    // Large offset: shifted sums keep the variance exact where naive sums of
    // squares would cancel (values 1e9 + {1, 2, 3, 4}: variance 1.25).
    let s = run(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0, 1e9 + 4.0]);
    assert_eq!(s.variance(), Some(1.25));
}

/// The built-in jobs' old module path still works for one release, and
/// is the same job.
#[test]
#[allow(deprecated)]
fn the_old_module_name_still_runs_the_same_jobs() {
    let pool = pool_with_rows(2, 100);
    let xs: Vec<i64> = (0..1000).map(|i| i * 3 - 700).collect();
    let a = SharedArray::from_array(&Array1::from(xs.clone())).unwrap();
    let old: i128 = pool.on(&a).run(&shmr::jobs::Sum).unwrap();
    assert_eq!(old, xs.iter().map(|&x| x as i128).sum::<i128>());
}
