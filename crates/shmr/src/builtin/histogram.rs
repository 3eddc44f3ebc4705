//! `Histogram`: counts in equal-width bins over a half-open range, with the
//! values below, above and NaN counted apart.

use crate::{Element, Error, Job, Result};
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Counts of values in equal-width bins over a half-open range `[lo, hi)`.
///
/// Value `x` with `lo <= x < hi` goes to bin `floor((x - lo) * bins / (hi -
/// lo))` (clamped to the last bin against rounding). Nothing is dropped
/// silently: values below `lo`, at or above `hi`, and NaNs are counted
/// separately. Integers are converted to `f64` first.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let data = shmr::SharedArray::from_array(&ndarray::arr1(&[0.1, 0.6, 0.7, 1.0, -2.0, f64::NAN]))?;
/// let h = shmr::run(&data, &shmr::builtin::Histogram::new(2, 0.0..1.0))?;
/// assert_eq!(h.counts(), &[1, 2]);
/// assert_eq!((h.below(), h.above(), h.nan()), (1, 1, 1));
/// assert_eq!(h.total(), 6);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    bins: usize,
    lo: f64,
    hi: f64,
}

impl Histogram {
    /// `bins` equal-width bins over `range`. Checked when the job runs: at
    /// least one bin, a finite range with `start < end`.
    pub fn new(bins: usize, range: Range<f64>) -> Histogram {
        Histogram {
            bins,
            lo: range.start,
            hi: range.end,
        }
    }

    /// The counts of a slice (the kernel each worker runs on a chunk).
    ///
    /// ```
    /// let h = shmr::builtin::Histogram::new(4, 0.0..4.0).count(&[0.5_f32, 3.5, 3.9, 9.0]);
    /// assert_eq!((h.counts(), h.above()), (&[1, 0, 0, 2][..], 1));
    /// ```
    pub fn count<A: Element>(&self, xs: &[A]) -> HistogramCounts {
        let mut h = HistogramCounts::empty(self);
        if self.bins == 0 {
            return h;
        }
        // Slots past the bins: below, above, NaN.
        let (below, above, nan) = (self.bins, self.bins + 1, self.bins + 2);
        let stride = self.bins + 3;
        // Four tables, element k counted in table k % 4: consecutive values
        // in the same bin then update different memory, instead of waiting
        // for each other's store.
        let mut tables = vec![0u64; 4 * stride];
        count_into(xs, self.lo, self.hi, self.bins, &mut tables);
        for t in tables.chunks_exact(stride) {
            for (c, &n) in h.counts.iter_mut().zip(t) {
                *c += n;
            }
            h.below += t[below];
            h.above += t[above];
            h.nan += t[nan];
        }
        h
    }
}

/// The histogram kernel over `tables` (four interleaved tables of
/// `bins + 3` slots: the bins, then below, above and NaN). Compiled for AVX2
/// and AVX as well and chosen at run time: the classification loop
/// vectorizes.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+avx"))]
fn count_into<A: Element>(xs: &[A], lo: f64, hi: f64, bins: usize, tables: &mut [u64]) {
    let (below, above, nan) = (bins, bins + 1, bins + 2);
    let stride = bins + 3;
    let scale = bins as f64 / (hi - lo);
    let last = (bins - 1) as f64;
    const BLOCK: usize = 512;
    let mut slot = [0u32; BLOCK];
    for block in xs.chunks(BLOCK) {
        // Classify without branches (this loop vectorizes), then count.
        for (s, &x) in slot.iter_mut().zip(block) {
            let x = x.to_f64();
            let bin = ((x - lo) * scale).clamp(0.0, last) as u32;
            *s = if x >= lo && x < hi {
                bin
            } else if x < lo {
                below as u32
            } else if x >= hi {
                above as u32
            } else {
                nan as u32
            };
        }
        let mut quads = slot[..block.len()].chunks_exact(4);
        for q in &mut quads {
            for (t, &s) in q.iter().enumerate() {
                tables[t * stride + s as usize] += 1;
            }
        }
        for &s in quads.remainder() {
            tables[s as usize] += 1;
        }
    }
}

/// The result of a [`Histogram`] job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistogramCounts {
    counts: Vec<u64>,
    below: u64,
    above: u64,
    nan: u64,
    lo: f64,
    hi: f64,
}

impl HistogramCounts {
    fn empty(h: &Histogram) -> HistogramCounts {
        HistogramCounts {
            counts: vec![0; h.bins],
            below: 0,
            above: 0,
            nan: 0,
            lo: h.lo,
            hi: h.hi,
        }
    }
    /// Count per bin.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    /// Values below the range.
    pub fn below(&self) -> u64 {
        self.below
    }
    /// Values at or above the range's end (including `+inf`).
    pub fn above(&self) -> u64 {
        self.above
    }
    /// NaN values.
    pub fn nan(&self) -> u64 {
        self.nan
    }
    /// Every value counted: bins, below, above and NaN.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.below + self.above + self.nan
    }
    /// The `bins + 1` bin edges.
    pub fn edges(&self) -> Vec<f64> {
        let n = self.counts.len();
        (0..=n)
            .map(|i| self.lo + (self.hi - self.lo) * i as f64 / n as f64)
            .collect()
    }
    /// Adds another histogram over the same bins.
    pub fn merge(mut self, other: &HistogramCounts) -> HistogramCounts {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.below += other.below;
        self.above += other.above;
        self.nan += other.nan;
        self
    }
}

impl Histogram {
    /// The most bins a histogram may have: each worker counts into four
    /// interleaved tables of `bins + 3` `u64`s (512 MiB at this size), and
    /// every chunk's partial holds all the counts.
    pub const MAX_BINS: usize = 1 << 24;
}

impl<A: Element, D: Dimension> Job<A, D> for Histogram {
    type Partial = HistogramCounts;
    fn validate(&self) -> Result<()> {
        if self.bins == 0 || self.bins > Histogram::MAX_BINS {
            return Err(Error::InvalidConfig(format!(
                "a histogram needs between 1 and {} bins, got {}",
                Histogram::MAX_BINS,
                self.bins
            )));
        }
        if !(self.lo.is_finite() && self.hi.is_finite() && self.lo < self.hi) {
            return Err(Error::InvalidConfig(format!(
                "histogram range {}..{} must be finite with start < end",
                self.lo, self.hi
            )));
        }
        Ok(())
    }
    fn map(&self, chunk: ArrayView<'_, A, D>) -> HistogramCounts {
        match chunk.as_slice() {
            Some(xs) => self.count(xs),
            None => self.count(&chunk.iter().copied().collect::<Vec<_>>()),
        }
    }
    fn reduce(&self, a: HistogramCounts, b: HistogramCounts) -> HistogramCounts {
        a.merge(&b)
    }
}
