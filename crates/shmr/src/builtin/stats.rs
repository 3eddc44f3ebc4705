//! `Stats`: count, NaNs, mean, variance, standard deviation, min and max in
//! one pass, merged across chunks with Chan's formula.

use crate::{Element, Job};
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
/// `nanmean`/`nanvar`. Infinities are values: they count, they can be the
/// minimum or maximum, the mean is `+inf` or `-inf` when infinities of one
/// sign are present (NaN when both are), and the variance is NaN when any
/// is, all as numpy does.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let data = shmr::SharedArray::from_array(&ndarray::arr1(&[1.0, 2.0, f64::NAN, 3.0, 4.0]))?;
/// let s = shmr::run(&data, &shmr::builtin::Stats)?;
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
    /// Non-NaN values.
    count: u64,
    nan_count: u64,
    /// Finite values, which `mean` and `m2` describe.
    finite: u64,
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
            finite: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// Independent lanes per accumulator: four accumulators of eight lanes
/// fill the sixteen SSE2 registers' worth of work without spilling.
const LANES: usize = 8;

fn lane_sum(v: [f64; LANES]) -> f64 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

/// Shifted sums and extremes of values assumed finite, in vectorizable
/// form. A NaN or an infinity anywhere makes `s1` or `s2` non-finite, which
/// is how the caller knows to take the careful path instead.
///
/// Lane `j` takes values `j`, `j + 8`, ...: the columns of rows of eight,
/// so this is the per-column kernel (`columns::column_sums`, compiled for
/// AVX2 and AVX and chosen at run time; without FMA every version gives
/// the same bits) over eight columns, then the lanes combined. The same
/// bits as the loop over `chunks_exact(8)` it replaced, which kept its
/// lanes in zipped iterators the compiler did not keep in registers: 2x
/// slower on f64 and 3x on f32, one thread, 16 M values (3.4 ms against
/// 10.5 ms for f32).
fn fast<A: Element>(xs: &[A], shift: f64) -> (f64, f64, f64, f64) {
    // Lane j takes values j, j + 8, ...: the columns of rows of eight,
    // which the column kernel keeps in registers.
    let body = xs.len() / LANES * LANES;
    let [mut s1, mut s2, mut lo, mut hi] =
        super::columns::column_sums::<A, LANES, 1>(&xs[..body], LANES, 0, &[shift; LANES]);
    for (j, &x) in xs[body..].iter().enumerate() {
        let x = x.to_f64();
        let d = x - shift;
        s1[j] += d;
        s2[j] += d * d;
        lo[j] = lo[j].min(x);
        hi[j] = hi[j].max(x);
    }
    let lanes = |v: Vec<f64>| -> [f64; LANES] { std::array::from_fn(|j| v[j]) };
    (
        lane_sum(lanes(s1)),
        lane_sum(lanes(s2)),
        lo.into_iter().fold(f64::INFINITY, f64::min),
        hi.into_iter().fold(f64::NEG_INFINITY, f64::max),
    )
}

impl Summary {
    /// Summarizes a slice (the kernel each worker runs on a chunk).
    ///
    /// ```
    /// let s = shmr::builtin::Summary::from_slice(&[2_i32, 4, 6]);
    /// assert_eq!(s.mean(), Some(4.0));
    /// assert_eq!(s.sample_variance(), Some(4.0));
    /// ```
    pub fn from_slice<A: Element>(xs: &[A]) -> Summary {
        let Some(first) = xs.first().map(|x| x.to_f64()) else {
            return Summary::default();
        };
        // Subtracting a value near the data keeps the sum of squares from
        // cancelling precision away.
        if first.is_finite() {
            let (s1, s2, min, max) = fast(xs, first);
            if let Some(s) = Summary::of_shifted(xs.len(), first, [s1, s2, min, max]) {
                return s;
            }
        }
        Self::careful(xs)
    }

    /// The summary of `n` values whose sums shifted by `shift` are `s1`
    /// and `s2` (of `x - shift` and its square), with their extremes: `None`
    /// if a sum is not finite (a NaN or an infinity among the values, for
    /// the careful path to take).
    pub(crate) fn of_shifted(
        n: usize,
        shift: f64,
        [s1, s2, min, max]: [f64; 4],
    ) -> Option<Summary> {
        if !(shift.is_finite() && s1.is_finite() && s2.is_finite()) {
            return None;
        }
        let nf = n as f64;
        Some(Summary {
            count: n as u64,
            nan_count: 0,
            finite: n as u64,
            mean: shift + s1 / nf,
            m2: (s2 - s1 * s1 / nf).max(0.0),
            min,
            max,
        })
    }

    /// The same, value by value, for slices holding NaNs or infinities.
    fn careful<A: Element>(xs: &[A]) -> Summary {
        let shift = xs
            .iter()
            .map(|x| x.to_f64())
            .find(|v| v.is_finite())
            .unwrap_or(0.0);
        let mut s = Summary::default();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in xs {
            let x = x.to_f64();
            if x.is_nan() {
                s.nan_count += 1;
                continue;
            }
            s.count += 1;
            s.min = s.min.min(x);
            s.max = s.max.max(x);
            if x.is_finite() {
                s.finite += 1;
                let d = x - shift;
                s1 += d;
                s2 += d * d;
            }
        }
        if s.finite > 0 {
            let n = s.finite as f64;
            s.mean = shift + s1 / n;
            s.m2 = (s2 - s1 * s1 / n).max(0.0);
        }
        s
    }

    /// Merges two summaries (Chan et al.); `self` describes earlier values.
    pub fn merge(self, other: Summary) -> Summary {
        let (mean, m2) = match (self.finite, other.finite) {
            (_, 0) => (self.mean, self.m2),
            (0, _) => (other.mean, other.m2),
            (a, b) => {
                let (na, nb) = (a as f64, b as f64);
                let n = na + nb;
                let delta = other.mean - self.mean;
                (
                    self.mean + delta * (nb / n),
                    self.m2 + other.m2 + delta * delta * (na * nb / n),
                )
            }
        };
        Summary {
            count: self.count + other.count,
            nan_count: self.nan_count + other.nan_count,
            finite: self.finite + other.finite,
            mean,
            m2,
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
    fn has_infinity(&self) -> bool {
        self.finite < self.count
    }
    /// Mean of the non-NaN values.
    pub fn mean(&self) -> Option<f64> {
        let (pos, neg) = (self.max == f64::INFINITY, self.min == f64::NEG_INFINITY);
        self.some(match (pos, neg) {
            (true, true) => f64::NAN,
            (true, false) => f64::INFINITY,
            (false, true) => f64::NEG_INFINITY,
            (false, false) => self.mean,
        })
    }
    /// Population variance (divided by `count`, numpy's `ddof=0`).
    pub fn variance(&self) -> Option<f64> {
        self.some(if self.has_infinity() {
            f64::NAN
        } else {
            self.m2 / self.count as f64
        })
    }
    /// Sample variance (divided by `count - 1`); `None` below two values.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| {
            if self.has_infinity() {
                f64::NAN
            } else {
                self.m2 / (self.count - 1) as f64
            }
        })
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

/// A summary of values from anywhere (a column of a table, strided): the
/// same as [`Summary::from_slice`] of them in that order.
///
/// ```
/// let t = ndarray::arr2(&[[1.0, 10.0], [2.0, 20.0], [6.0, 30.0]]);
/// let first: shmr::builtin::Summary = t.column(0).iter().copied().collect();
/// assert_eq!((first.mean(), first.max()), (Some(3.0), Some(6.0)));
/// ```
impl<A: Element> FromIterator<A> for Summary {
    fn from_iter<I: IntoIterator<Item = A>>(values: I) -> Summary {
        Summary::from_slice(&values.into_iter().collect::<Vec<A>>())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's bits are those of its documented order: lane `j` adds
    /// values `j`, `j + 8`, ... in turn, and the lanes combine as
    /// `lane_sum` says. Computed here one value at a time, for lengths
    /// around the lanes, f32 and f64.
    #[test]
    fn the_kernel_adds_in_its_documented_lane_order() {
        fn by_hand<A: Element>(xs: &[A]) -> (f64, f64, f64, f64) {
            let shift = xs[0].to_f64();
            let (mut s1, mut s2) = ([0.0; LANES], [0.0; LANES]);
            for (i, x) in xs.iter().enumerate() {
                let d = x.to_f64() - shift;
                s1[i % LANES] += d;
                s2[i % LANES] += d * d;
            }
            let lo = xs.iter().map(|x| x.to_f64()).fold(f64::INFINITY, f64::min);
            let hi = xs
                .iter()
                .map(|x| x.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            (lane_sum(s1), lane_sum(s2), lo, hi)
        }
        for n in [1, 7, 8, 9, 15, 16, 17, 1000, 4099] {
            let xs: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 1013) as f64 / 3.0 - 100.0)
                .collect();
            let got = fast(&xs, xs[0]);
            let want = by_hand(&xs);
            assert_eq!(
                [got.0, got.1, got.2, got.3].map(f64::to_bits),
                [want.0, want.1, want.2, want.3].map(f64::to_bits),
                "f64, {n} values"
            );
            let ys: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            let (got, want) = (fast(&ys, f64::from(ys[0])), by_hand(&ys));
            assert_eq!(got.0.to_bits(), want.0.to_bits(), "f32, {n} values");
            assert_eq!(got.1.to_bits(), want.1.to_bits(), "f32, {n} values");
        }
    }
}
