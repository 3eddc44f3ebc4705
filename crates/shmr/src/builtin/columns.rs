//! `Columns`: a built-in job along axis 0, numpy's `axis=0`: one result
//! per column of a table.

use super::{Histogram, HistogramCounts, Stats, Sum, Summary};
use crate::memory::combine_lanes;
use crate::{Element, Job, Result};
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize};

/// [`Sum`], [`Stats`] or [`Histogram`] along axis 0, as numpy's
/// `a.sum(axis=0)`, `a.mean(axis=0)`, `a.std(axis=0)`, `a.min(axis=0)`:
/// one result for each column of a 2-D array, in column order; for an
/// array of more axes, one for each position of the trailing axes, in C
/// order (reshape the result to `shape[1..]`). A 1-D array is one column.
///
/// Sums and statistics read each chunk row by row, in the order the table
/// lies in memory, into a few accumulators per column (so that the loop
/// vectorizes whatever the number of columns); a histogram transposes each
/// chunk in the cache and counts each column with the whole-array kernel.
/// The chunks' results are merged in chunk order, so the results are the
/// same bits for any number of workers (for a given chunk size), as the
/// whole-array jobs' are; a single column gives the whole-array job's
/// bits.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::builtin::{Columns, Stats, Sum};
/// // Three columns: 0, 1, 2, ...; all 5; 0, 2, 4, ...
/// let t = ndarray::Array2::from_shape_fn((1000, 3), |(i, j)| [i as f64, 5.0, 2.0 * i as f64][j]);
/// let t = shmr::SharedArray::from_array(&t)?;
/// let pool = shmr::global_pool()?;
/// assert_eq!(pool.on(&t).run(&Columns(Sum))?, vec![499_500.0, 5000.0, 999_000.0]);
/// let stats = pool.on(&t).run(&Columns(Stats))?;
/// assert_eq!(stats[1].std(), Some(0.0));
/// assert_eq!(stats[2].max(), Some(1998.0));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns<J>(pub J);

/// A chunk's values column by column: each column's values contiguous,
/// in row order.
struct Transposed<A> {
    values: Vec<A>,
    rows: usize,
    columns: usize,
}

impl<A: Element> Transposed<A> {
    /// Rows of `columns` values laid end to end, column by column.
    fn of(xs: &[A], columns: usize) -> Self {
        let rows = xs.len() / columns;
        let mut values = vec![A::default(); rows * columns];
        // In tiles of rows, so that the rows read stay in the L1 cache while
        // each column's run of the tile is written in one stride-1 pass.
        const TILE: usize = 64;
        for r0 in (0..rows).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows);
            let tile = &xs[r0 * columns..r1 * columns];
            for (j, out) in values.chunks_exact_mut(rows.max(1)).enumerate() {
                for (o, row) in out[r0..r1].iter_mut().zip(tile.chunks_exact(columns)) {
                    *o = row[j];
                }
            }
        }
        Transposed {
            values,
            rows,
            columns,
        }
    }

    fn map<T>(&self, f: impl FnMut(&[A]) -> T) -> Vec<T> {
        if self.rows == 0 {
            return (0..self.columns).map(|_| &[][..]).map(f).collect();
        }
        self.values.chunks_exact(self.rows).map(f).collect()
    }
}

/// A chunk's values row after row, and how many columns a row has.
fn rows_of<'c, A: Element, D: Dimension>(
    chunk: &'c ArrayView<'_, A, D>,
    owned: &'c mut Vec<A>,
) -> (&'c [A], usize) {
    let cols = chunk.shape().iter().skip(1).product::<usize>().max(1);
    let xs = match chunk.as_slice() {
        Some(xs) => xs,
        // Chunks of a SharedArray are contiguous; for completeness.
        None => {
            *owned = chunk.iter().copied().collect();
            owned
        }
    };
    (xs, cols)
}

/// Shifted sums (of `x - shift[j]` and its square) and extremes of
/// columns `off..off + C` of rows of `cols` values, read row by row, `R`
/// rows at a time: the `R * C` lanes of each accumulator are fixed-size
/// arrays, which stay in registers (lanes sized at run time go to memory
/// and back for every value, which halves the speed). The lanes of a
/// column are combined in a fixed order; the same bits in every compiled
/// version (no FMA).
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+avx"))]
pub(super) fn column_sums<A: Element, const C: usize, const R: usize>(
    xs: &[A],
    cols: usize,
    off: usize,
    shift: &[f64],
) -> [Vec<f64>; 4] {
    let sh: [f64; C] = std::array::from_fn(|j| shift[j]);
    let mut s1 = [[0.0f64; C]; R];
    let mut s2 = [[0.0f64; C]; R];
    let mut lo = [[f64::INFINITY; C]; R];
    let mut hi = [[f64::NEG_INFINITY; C]; R];
    let mut add = |r: usize, row: &[A]| {
        let row = &row[off..off + C];
        for j in 0..C {
            let x = row[j].to_f64();
            let d = x - sh[j];
            s1[r][j] += d;
            s2[r][j] += d * d;
            lo[r][j] = if x < lo[r][j] { x } else { lo[r][j] };
            hi[r][j] = if x > hi[r][j] { x } else { hi[r][j] };
        }
    };
    let mut blocks = xs.chunks_exact(R * cols);
    for b in &mut blocks {
        for r in 0..R {
            add(r, &b[r * cols..(r + 1) * cols]);
        }
    }
    for (r, row) in blocks.remainder().chunks_exact(cols).enumerate() {
        add(r, row);
    }
    let flat = |a: [[f64; C]; R]| a.iter().flatten().copied().collect::<Vec<f64>>();
    [
        combine_lanes(&flat(s1), C, |a, b| a + b),
        combine_lanes(&flat(s2), C, |a, b| a + b),
        combine_lanes(&flat(lo), C, f64::min),
        combine_lanes(&flat(hi), C, f64::max),
    ]
}

/// The most columns one pass of [`column_sums`] takes: a wider table is
/// read in groups of this many (its chunk, about a megabyte, stays in the
/// cache from one group to the next).
const GROUP: usize = 8;

/// The summary of each column of rows of `cols` values: shifted by the
/// first row; a column with a NaN or an infinity is summarized again,
/// value by value.
fn column_summaries<A: Element>(xs: &[A], cols: usize) -> Vec<Summary> {
    let rows = xs.len() / cols;
    if rows == 0 {
        return vec![Summary::default(); cols];
    }
    let shift: Vec<f64> = xs[..cols].iter().map(|x| x.to_f64()).collect();
    let mut out = Vec::with_capacity(cols);
    for off in (0..cols).step_by(GROUP) {
        let sh = &shift[off..(off + GROUP).min(cols)];
        // Rows per block for each width, as measured: enough lanes to hide
        // the latency of the adds where that paid (2 and 4 columns), few
        // enough that four accumulators stay in registers (10-12 lanes
        // spilled and ran at half speed).
        let [s1, s2, lo, hi] = match sh.len() {
            1 => column_sums::<A, 1, 8>(xs, cols, off, sh),
            2 => column_sums::<A, 2, 4>(xs, cols, off, sh),
            3 => column_sums::<A, 3, 1>(xs, cols, off, sh),
            4 => column_sums::<A, 4, 2>(xs, cols, off, sh),
            5 => column_sums::<A, 5, 1>(xs, cols, off, sh),
            6 => column_sums::<A, 6, 1>(xs, cols, off, sh),
            7 => column_sums::<A, 7, 1>(xs, cols, off, sh),
            _ => column_sums::<A, 8, 1>(xs, cols, off, sh),
        };
        out.extend(sh.iter().enumerate().map(|(j, &shift)| {
            Summary::of_shifted(rows, shift, [s1[j], s2[j], lo[j], hi[j]])
                .unwrap_or_else(|| xs[off + j..].iter().step_by(cols).copied().collect())
        }));
    }
    out
}

impl<A: Element, D: Dimension> Job<A, D> for Columns<Sum> {
    type Partial = Vec<A::Sum>;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Vec<A::Sum> {
        match rows_of(&chunk, &mut Vec::new()) {
            (xs, 1) => vec![A::sum_slice(xs)],
            (xs, cols) => A::sum_columns(xs, cols),
        }
    }
    fn reduce(&self, a: Vec<A::Sum>, b: Vec<A::Sum>) -> Vec<A::Sum> {
        a.into_iter().zip(b).map(|(x, y)| x + y).collect()
    }
}

impl<A: Element, D: Dimension> Job<A, D> for Columns<Stats> {
    type Partial = Vec<Summary>;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Vec<Summary> {
        match rows_of(&chunk, &mut Vec::new()) {
            (xs, 1) => vec![Summary::from_slice(xs)],
            (xs, cols) => column_summaries(xs, cols),
        }
    }
    fn reduce(&self, a: Vec<Summary>, b: Vec<Summary>) -> Vec<Summary> {
        a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect()
    }
}

impl<A: Element, D: Dimension> Job<A, D> for Columns<Histogram> {
    type Partial = Vec<HistogramCounts>;
    fn validate(&self) -> Result<()> {
        <Histogram as Job<A, D>>::validate(&self.0)
    }
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Vec<HistogramCounts> {
        let mut owned = Vec::new();
        let (xs, cols) = rows_of(&chunk, &mut owned);
        Transposed::of(xs, cols).map(|c| self.0.count(c))
    }
    fn reduce(&self, a: Vec<HistogramCounts>, b: Vec<HistogramCounts>) -> Vec<HistogramCounts> {
        a.into_iter().zip(&b).map(|(x, y)| x.merge(y)).collect()
    }
}
