//! How an array is cut into non-overlapping chunks along axis 0.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Default chunk size in bytes of array data.
///
/// Chosen by measurement (see `docs/design.md`, "Chunk size"): large enough
/// that the per-chunk cost (one atomic claim, one partial written to a slot)
/// disappears, small enough that two workers finish within a chunk of each
/// other and that a chunk's pages stay in the cache for kernels that read
/// twice.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// The fewest chunks [`ChunkSize::Auto`] cuts an array into, when its
/// chunks can stay at least [`MIN_AUTO_CHUNK_BYTES`].
pub const MIN_AUTO_CHUNKS: usize = 32;
/// The smallest chunk [`ChunkSize::Auto`] makes to reach
/// [`MIN_AUTO_CHUNKS`] chunks.
pub const MIN_AUTO_CHUNK_BYTES: usize = 64 << 10;

/// How large a chunk is.
///
/// The chunk size never depends on the number of workers, so a result is the
/// same bit for bit whatever the pool's size.
///
/// # Example
/// ```
/// use shmr::ChunkSize;
/// // 1 MiB of f64 rows of 4 columns: 32768 rows per chunk.
/// assert_eq!(ChunkSize::Bytes(1 << 20).rows_for(&[100_000, 4], 8), 32_768);
/// assert_eq!(ChunkSize::Rows(10).rows_for(&[100_000, 4], 8), 10);
/// // The default: 1 MiB chunks of a large array, but at least 32 chunks of
/// // a smaller one (3.2 MB: 32 chunks of 100 KB), down to 64 KiB each.
/// assert_eq!(ChunkSize::Auto.rows_for(&[100_000_000, 4], 8), 32_768);
/// assert_eq!(ChunkSize::Auto.rows_for(&[100_000, 4], 8), 3125);
/// assert_eq!(ChunkSize::Auto.rows_for(&[10_000, 4], 8), 2048);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChunkSize {
    /// [`DEFAULT_CHUNK_BYTES`] per chunk, but smaller chunks for a smaller
    /// array, so that it has [`MIN_AUTO_CHUNKS`] chunks (none under
    /// [`MIN_AUTO_CHUNK_BYTES`]): workers share a compute-heavy job over a
    /// few megabytes instead of one of them doing it all. Depends on the
    /// array alone, never on the workers.
    #[default]
    Auto,
    /// About this many bytes of data per chunk (at least one row).
    Bytes(usize),
    /// Exactly this many rows (indices along axis 0) per chunk.
    Rows(usize),
}

impl ChunkSize {
    /// Refuses a chunk of nothing, for a pool as for one job.
    pub(crate) fn check(self) -> crate::error::Result<()> {
        if matches!(self, ChunkSize::Bytes(0) | ChunkSize::Rows(0)) {
            return Err(crate::error::Error::InvalidConfig(format!(
                "chunk_size({self:?}): a chunk must hold at least 1 byte or row"
            )));
        }
        Ok(())
    }

    /// Rows per chunk for an array of `shape` with `elem_bytes`-byte
    /// elements. Always at least 1.
    pub fn rows_for(self, shape: &[usize], elem_bytes: usize) -> u64 {
        let row_bytes = shape
            .iter()
            .skip(1)
            .fold(elem_bytes, |acc, &n| acc.saturating_mul(n));
        // Rows of zero bytes: any number fits, take them all.
        let rows_in = |b: usize| {
            b.checked_div(row_bytes)
                .map_or(u64::MAX, |r| r.max(1) as u64)
        };
        match self {
            ChunkSize::Rows(r) => r.max(1) as u64,
            ChunkSize::Bytes(b) => rows_in(b),
            ChunkSize::Auto => {
                let rows = shape.first().copied().unwrap_or(1) as u64;
                let want = rows.div_ceil(MIN_AUTO_CHUNKS as u64).max(1);
                want.clamp(rows_in(MIN_AUTO_CHUNK_BYTES), rows_in(DEFAULT_CHUNK_BYTES))
            }
        }
    }
}

/// The chunks of one job: `rows` rows cut every `chunk_rows`.
///
/// An empty array still has one (empty) chunk, so a job over it returns the
/// mapper's result for an empty view (0 for a sum) rather than nothing.
///
/// # Example
/// ```
/// use shmr::Partition;
/// let p = Partition::new(10, 4);
/// assert_eq!(p.len(), 3);
/// assert_eq!(p.chunk(2), 8..10);
/// assert_eq!(Partition::new(0, 4).len(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    rows: u64,
    chunk_rows: u64,
}

impl Partition {
    /// Cuts `rows` rows into chunks of `chunk_rows` (at least 1).
    pub fn new(rows: u64, chunk_rows: u64) -> Partition {
        Partition {
            rows,
            chunk_rows: chunk_rows.max(1),
        }
    }
    /// How an array of `shape`, of `elem_bytes`-byte elements, is cut into
    /// chunks of `chunk` along axis 0 (a 0-d array is one row).
    pub(crate) fn of(shape: &[usize], elem_bytes: usize, chunk: ChunkSize) -> Partition {
        let rows = shape.first().copied().unwrap_or(1) as u64;
        Partition::new(rows, chunk.rows_for(shape, elem_bytes))
    }

    /// How `rows` rows of `row_bytes` bytes each (of all the arrays a job
    /// reads together) are cut into chunks of `chunk`.
    pub(crate) fn of_rows(rows: u64, row_bytes: usize, chunk: ChunkSize) -> Partition {
        let shape = [usize::try_from(rows).unwrap_or(usize::MAX), row_bytes];
        Partition::new(rows, chunk.rows_for(&shape, 1))
    }

    /// Number of chunks (at least 1).
    #[allow(clippy::len_without_is_empty)] // never empty by construction
    pub fn len(&self) -> u64 {
        self.rows.div_ceil(self.chunk_rows).max(1)
    }
    /// Rows along axis 0.
    pub fn rows(&self) -> u64 {
        self.rows
    }
    /// Rows per chunk (the last one may have fewer).
    pub fn chunk_rows(&self) -> u64 {
        self.chunk_rows
    }
    /// The rows of chunk `i`.
    pub fn chunk(&self, i: u64) -> Range<u64> {
        let start = i.saturating_mul(self.chunk_rows).min(self.rows);
        start..start.saturating_add(self.chunk_rows).min(self.rows)
    }
}

/// Which chunks of a partition one round of a job maps: all of them, or,
/// when chunks lost with a dead worker are run again, a few runs of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Selection {
    All,
    /// Half-open runs `[start, end)` of chunk indices, in order.
    Runs(Vec<(u64, u64)>),
}

impl Selection {
    /// The selection of exactly `chunks` (ascending), as runs.
    pub(crate) fn of(chunks: impl IntoIterator<Item = u64>) -> Selection {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for c in chunks {
            match runs.last_mut() {
                Some((_, end)) if *end == c => *end += 1,
                _ => runs.push((c, c + 1)),
            }
        }
        Selection::Runs(runs)
    }

    /// How many chunks are selected: the claims of a round, numbered as
    /// [`nth`](Selection::nth) takes them.
    pub(crate) fn count(&self, p: &Partition) -> u64 {
        match self {
            Selection::All => p.len(),
            Selection::Runs(runs) => runs
                .iter()
                .map(|&(start, end)| end.saturating_sub(start))
                .sum(),
        }
    }

    /// The `k`-th selected chunk of `p`, if there are more than `k`.
    pub(crate) fn nth(&self, p: &Partition, k: u64) -> Option<u64> {
        match self {
            Selection::All => (k < p.len()).then_some(k),
            Selection::Runs(runs) => {
                let mut k = k;
                for &(start, end) in runs {
                    let n = end.saturating_sub(start);
                    if k < n {
                        // A run past the partition (which a coordinator never
                        // sends) selects nothing rather than rows that do not exist.
                        return (start + k < p.len()).then_some(start + k);
                    }
                    k -= n;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_enumerate_their_chunks_in_order() {
        let p = Partition::new(100, 10);
        let all: Vec<u64> = (0..).map_while(|k| Selection::All.nth(&p, k)).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let wanted = [1, 2, 3, 7, 9];
        let s = Selection::of(wanted);
        assert_eq!(s, Selection::Runs(vec![(1, 4), (7, 8), (9, 10)]));
        let got: Vec<u64> = (0..).map_while(|k| s.nth(&p, k)).collect();
        assert_eq!(got, wanted);
        assert_eq!(Selection::Runs(vec![(8, 12)]).nth(&p, 2), None);
    }
}
