//! `Columns`: a built-in job along axis 0, numpy's `axis=0`: one result
//! per column of a table.

use super::{Histogram, HistogramCounts, Stats, Sum, Summary};
use crate::{Element, Job, Result};
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize};

/// [`Sum`], [`Stats`] or [`Histogram`] along axis 0, as numpy's
/// `a.sum(axis=0)`, `a.mean(axis=0)`, `a.std(axis=0)`, `a.min(axis=0)`:
/// one result for each column of a 2-D array, in column order; for an
/// array of more axes, one for each position of the trailing axes, in C
/// order (reshape the result to `shape[1..]`). A 1-D array is one column.
///
/// Each chunk of rows is transposed once, in the cache, and each column
/// summarized with the whole-array kernel; the chunks' results are merged
/// in chunk order, so the results are the same bits for any number of
/// workers (for a given chunk size), as the whole-array jobs' are.
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
    fn of<D: Dimension>(chunk: &ArrayView<'_, A, D>) -> Self {
        let columns: usize = chunk.shape().iter().skip(1).product();
        let rows = chunk.shape().first().copied().unwrap_or(1);
        let columns = columns.max(1);
        let owned;
        let xs = match chunk.as_slice() {
            Some(xs) => xs,
            // Chunks of a SharedArray are contiguous; for completeness.
            None => {
                owned = chunk.iter().copied().collect::<Vec<A>>();
                &owned
            }
        };
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

impl<A: Element, D: Dimension> Job<A, D> for Columns<Sum> {
    type Partial = Vec<A::Sum>;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Vec<A::Sum> {
        Transposed::of(&chunk).map(A::sum_slice)
    }
    fn reduce(&self, a: Vec<A::Sum>, b: Vec<A::Sum>) -> Vec<A::Sum> {
        a.into_iter().zip(b).map(|(x, y)| x + y).collect()
    }
}

impl<A: Element, D: Dimension> Job<A, D> for Columns<Stats> {
    type Partial = Vec<Summary>;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Vec<Summary> {
        Transposed::of(&chunk).map(Summary::from_slice)
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
        Transposed::of(&chunk).map(|c| self.0.count(c))
    }
    fn reduce(&self, a: Vec<HistogramCounts>, b: Vec<HistogramCounts>) -> Vec<HistogramCounts> {
        a.into_iter().zip(&b).map(|(x, y)| x.merge(y)).collect()
    }
}
