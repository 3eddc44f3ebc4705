use crate::element::Element;
use crate::job::Job;
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize};

/// Count, mean, variance, standard deviation, minimum and maximum, in one
/// pass over the data.
///
/// Each chunk is summarized with shifted sums (the chunk's first value is
/// subtracted before squaring, so large offsets do not cancel precision
/// away); chunk summaries are merged with the parallel formula of Chan,
/// Golub and LeVeque, in chunk order. Values are converted to `f64`.
///
/// **NaN policy:** NaNs are skipped and counted ([`Summary::nan_count`]);
/// every other statistic describes the non-NaN values, like numpy's
/// `nanmean`/`nanvar`. Infinities are values and propagate.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let data = shmr::SharedArray::from_array(&ndarray::arr1(&[1.0, 2.0, f64::NAN, 3.0, 4.0]))?;
/// let s = shmr::jobs::Stats.run(&data)?;
/// assert_eq!(s.count(), 4);
/// assert_eq!(s.nan_count(), 1);
/// assert_eq!(s.mean(), Some(2.5));
/// assert_eq!(s.variance(), Some(1.25));
/// assert_eq!((s.min(), s.max()), (Some(1.0), Some(4.0)));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats;

/// The result of [`Stats`]: a mergeable summary of values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    count: u64,
    nan_count: u64,
    mean: f64,
    /// Sum of squared deviations from the mean.
    m2: f64,
    min: f64,
    max: f64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            count: 0,
            nan_count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

const LANES: usize = 8;

fn lane_sum(v: [f64; LANES]) -> f64 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

impl Summary {
    /// Summarizes a slice (the kernel each worker runs on a chunk).
    ///
    /// ```
    /// let s = shmr::jobs::Summary::from_slice(&[2_i32, 4, 6]);
    /// assert_eq!(s.mean(), Some(4.0));
    /// assert_eq!(s.sample_variance(), Some(4.0));
    /// ```
    pub fn from_slice<A: Element>(xs: &[A]) -> Summary {
        let Some(shift) = xs.iter().map(|x| x.to_f64()).find(|v| !v.is_nan()) else {
            return Summary {
                nan_count: xs.len() as u64,
                ..Summary::default()
            };
        };
        let mut n = [0.0f64; LANES];
        let mut s1 = [0.0f64; LANES];
        let mut s2 = [0.0f64; LANES];
        let mut lo = [f64::INFINITY; LANES];
        let mut hi = [f64::NEG_INFINITY; LANES];
        let mut step = |j: usize, x: f64| {
            let ok = !x.is_nan();
            let d = if ok { x - shift } else { 0.0 };
            n[j] += if ok { 1.0 } else { 0.0 };
            s1[j] += d;
            s2[j] += d * d;
            // f64::min/max ignore a NaN operand.
            lo[j] = lo[j].min(x);
            hi[j] = hi[j].max(x);
        };
        let mut blocks = xs.chunks_exact(LANES);
        for b in &mut blocks {
            for (j, &x) in b.iter().enumerate() {
                step(j, x.to_f64());
            }
        }
        for (j, &x) in blocks.remainder().iter().enumerate() {
            step(j, x.to_f64());
        }
        let count = lane_sum(n);
        let (s1, s2) = (lane_sum(s1), lane_sum(s2));
        let min = lo.iter().copied().fold(f64::INFINITY, f64::min);
        let max = hi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Summary {
            count: count as u64,
            nan_count: xs.len() as u64 - count as u64,
            mean: shift + s1 / count,
            m2: (s2 - s1 * s1 / count).max(0.0),
            min,
            max,
        }
    }

    /// Merges two summaries (Chan et al.); `self` describes earlier values.
    pub fn merge(self, other: Summary) -> Summary {
        let nan_count = self.nan_count + other.nan_count;
        if other.count == 0 {
            return Summary { nan_count, ..self };
        }
        if self.count == 0 {
            return Summary { nan_count, ..other };
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        Summary {
            count: self.count + other.count,
            nan_count,
            mean: self.mean + delta * (nb / n),
            m2: self.m2 + other.m2 + delta * delta * (na * nb / n),
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// Number of non-NaN values.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// Number of NaNs skipped.
    pub fn nan_count(&self) -> u64 {
        self.nan_count
    }
    fn some(&self, v: f64) -> Option<f64> {
        (self.count > 0).then_some(v)
    }
    /// Mean of the non-NaN values.
    pub fn mean(&self) -> Option<f64> {
        self.some(self.mean)
    }
    /// Population variance (divided by `count`, numpy's `ddof=0`).
    pub fn variance(&self) -> Option<f64> {
        self.some(self.m2 / self.count as f64)
    }
    /// Sample variance (divided by `count - 1`); `None` below two values.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| self.m2 / (self.count - 1) as f64)
    }
    /// Population standard deviation.
    pub fn std(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }
    /// Smallest non-NaN value.
    pub fn min(&self) -> Option<f64> {
        self.some(self.min)
    }
    /// Largest non-NaN value.
    pub fn max(&self) -> Option<f64> {
        self.some(self.max)
    }
}

impl<A: Element, D: Dimension> Job<A, D> for Stats {
    type Partial = Summary;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Summary {
        match chunk.as_slice() {
            Some(xs) => Summary::from_slice(xs),
            None => Summary::from_slice(&chunk.iter().copied().collect::<Vec<_>>()),
        }
    }
    fn reduce(&self, a: Summary, b: Summary) -> Summary {
        a.merge(b)
    }
}

super::runners!(Stats);
