//! The benchmarked jobs, each written three ways over the same memory:
//!
//! * **baseline**: the single-process loop a user would write first
//!   (`iter().sum()`, a two-pass mean/variance loop, a plain histogram loop,
//!   `iter().map(..).sum()`), compiled with the same optimizations;
//! * **rayon**: threads in one process, the same 1 MiB chunks and the same
//!   kernels as shmr's built-in jobs, so the comparison isolates processes
//!   against threads;
//! * **shmr**: the built-in job (or `map_reduce` for the heavy map) on a warm
//!   pool.

use ndarray::Ix1;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use shmr::builtin::{Histogram, Stats, Sum, Summary};
use shmr::{Element, Pool, SharedArray};

/// Bins of the histogram workload.
pub const BINS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    Sum,
    Stats,
    Histogram,
    /// Sum of `sin(x) * exp(-x)`: compute-bound.
    HeavyMap,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Sum,
        Workload::Stats,
        Workload::Histogram,
        Workload::HeavyMap,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Workload::Sum => "sum",
            Workload::Stats => "stats",
            Workload::Histogram => "histogram",
            Workload::HeavyMap => "heavy_map",
        }
    }
    /// The Python peer's name for it.
    pub fn python(self) -> &'static str {
        self.name()
    }
}

/// Element types the harness runs, with their baseline sum and the value
/// range of their generated data.
pub trait BenchElem: Element {
    /// Data range; the histogram covers it.
    const RANGE: (f64, f64);
    fn from_unit(u: f64) -> Self;
    fn baseline_sum(xs: &[Self]) -> f64;
    fn sum_to_f64(s: Self::Sum) -> f64;
}

impl BenchElem for f64 {
    const RANGE: (f64, f64) = (0.0, 1.0);
    fn from_unit(u: f64) -> f64 {
        u
    }
    fn baseline_sum(xs: &[f64]) -> f64 {
        xs.iter().sum()
    }
    fn sum_to_f64(s: f64) -> f64 {
        s
    }
}

impl BenchElem for f32 {
    const RANGE: (f64, f64) = (0.0, 1.0);
    fn from_unit(u: f64) -> f32 {
        u as f32
    }
    fn baseline_sum(xs: &[f32]) -> f64 {
        xs.iter().map(|&x| x as f64).sum()
    }
    fn sum_to_f64(s: f64) -> f64 {
        s
    }
}

impl BenchElem for i32 {
    const RANGE: (f64, f64) = (0.0, 1024.0);
    fn from_unit(u: f64) -> i32 {
        (u * 1024.0) as i32
    }
    fn baseline_sum(xs: &[i32]) -> f64 {
        xs.iter().map(|&x| x as i64).sum::<i64>() as f64
    }
    fn sum_to_f64(s: i128) -> f64 {
        s as f64
    }
}

/// One number that identifies a job's answer, to check the three ways agree.
pub type Check = f64;

/// The single-process loop.
pub fn baseline<A: BenchElem>(w: Workload, xs: &[A]) -> Check {
    match w {
        Workload::Sum => A::baseline_sum(xs),
        Workload::Stats => {
            let (mut sum, mut lo, mut hi) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
            for &x in xs {
                let x = x.to_f64();
                sum += x;
                lo = lo.min(x);
                hi = hi.max(x);
            }
            let mean = sum / xs.len() as f64;
            let mut ss = 0.0;
            for &x in xs {
                let d = x.to_f64() - mean;
                ss += d * d;
            }
            std::hint::black_box((lo, hi, ss));
            mean
        }
        Workload::Histogram => {
            let (lo, hi) = A::RANGE;
            let scale = BINS as f64 / (hi - lo);
            let mut counts = [0u64; BINS];
            let mut out = 0u64;
            for &x in xs {
                let x = x.to_f64();
                if x >= lo && x < hi {
                    counts[(((x - lo) * scale) as usize).min(BINS - 1)] += 1;
                } else {
                    out += 1;
                }
            }
            std::hint::black_box(out);
            counts[0] as f64
        }
        Workload::HeavyMap => xs.iter().map(|&x| heavy(x.to_f64())).sum(),
    }
}

#[inline]
fn heavy(x: f64) -> f64 {
    x.sin() * (-x).exp()
}

fn histogram<A: BenchElem>() -> Histogram {
    Histogram::new(BINS, A::RANGE.0..A::RANGE.1)
}

/// Rayon threads over the same slice, in `chunk`-element pieces.
pub fn rayon<A: BenchElem>(w: Workload, xs: &[A], chunk: usize, pool: &rayon::ThreadPool) -> Check {
    pool.install(|| match w {
        Workload::Sum => A::sum_to_f64(
            xs.par_chunks(chunk)
                .map(A::sum_slice)
                .reduce(A::Sum::default, |a, b| a + b),
        ),
        Workload::Stats => xs
            .par_chunks(chunk)
            .map(Summary::from_slice)
            .reduce(Summary::default, Summary::merge)
            .mean()
            .unwrap_or(f64::NAN),
        Workload::Histogram => {
            let h = histogram::<A>();
            let first = xs
                .par_chunks(chunk)
                .map(|c| h.count(c))
                .reduce(|| h.count::<A>(&[]), |a, b| a.merge(&b));
            first.counts()[0] as f64
        }
        Workload::HeavyMap => xs
            .par_chunks(chunk)
            .map(|c| c.iter().map(|&x| heavy(x.to_f64())).sum::<f64>())
            .sum(),
    })
}

/// shmr on a warm pool.
pub fn shmr<A: BenchElem>(
    w: Workload,
    a: &SharedArray<A, Ix1>,
    pool: &Pool,
) -> Result<Check, shmr::Error> {
    Ok(match w {
        Workload::Sum => A::sum_to_f64(pool.on(a).run(&Sum)?),
        Workload::Stats => pool.on(a).run(&Stats)?.mean().unwrap_or(f64::NAN),
        Workload::Histogram => pool.on(a).run(&histogram::<A>())?.counts()[0] as f64,
        Workload::HeavyMap => pool.on(a).map_reduce(
            |c| c.iter().map(|&x| heavy(x.to_f64())).sum::<f64>(),
            |x, y| x + y,
        )?,
    })
}

/// Whether two answers agree: exactly for counts, to `1e-9` relative for
/// sums and means (which add in different orders).
pub fn agree(w: Workload, a: Check, b: Check) -> bool {
    match w {
        Workload::Histogram => a == b,
        _ => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300),
    }
}
