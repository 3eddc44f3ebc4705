//! Per-job options (`JobOptions`), and `JobOptions::run`, where every job
//! of every kind ends: its partition, its plan, its rounds, its fold, and
//! its outcome agreed across ranks.

use super::across::{Deadline, Ranks, shuffle, tree};
use super::plan::{InputPart, Plan};
use super::pool::Pool;
use super::settings::{ProgressFn, Settings, StopFn};
use crate::error::{Error, Result};
use crate::job::keyed::{Delimiters, Tables};
use crate::job::{JobReport, Kind, Ready};
use crate::shm::{ChunkSize, Partition};

/// The settings of one job on a [`Pool`]: the pool's, changed by the job's
/// builder ([`JobBuilder`](crate::JobBuilder)), which runs the job with them.
#[derive(Clone, Copy)]
pub(crate) struct JobOptions<'p> {
    pub(crate) pool: &'p Pool,
    pub(crate) settings: Settings,
    pub(crate) progress: Option<&'p ProgressFn<'p>>,
    /// Asked while the job runs whether to stop it.
    pub(crate) stop: Option<&'p StopFn<'p>>,
    /// This job's chunk size, if not the pool's.
    pub(crate) chunk: Option<ChunkSize>,
    /// The other coordinators of a job across ranks.
    pub(crate) across: Option<&'p dyn Ranks>,
    /// A records job's delimiters.
    pub(crate) delimiters: Delimiters,
    /// A keyed job's limit on distinct keys, if not the default.
    pub(crate) max_keys: Option<usize>,
    /// Where a keyed job's workers keep their tables.
    pub(crate) tables: Tables,
    /// A job over indices ([`Pool::range`]): how many, cut into chunks
    /// like the rows of an array.
    pub(crate) range: Option<u64>,
}

impl std::fmt::Debug for JobOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobOptions")
            .field("settings", &self.settings)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

// The pool's entry points to jobs live here, beside the options they are
// made of, so that `pool.rs` (workers) does not import this module back.
impl Pool {
    /// The pool's settings, as one job starts with them.
    pub(crate) fn job(&self) -> JobOptions<'_> {
        JobOptions {
            pool: self,
            settings: self.inner.config.settings,
            progress: None,
            stop: None,
            chunk: None,
            across: None,
            delimiters: Delimiters::LINES,
            max_keys: None,
            tables: Tables::Auto,
            range: None,
        }
    }
}

impl<'p> JobOptions<'p> {
    /// A check made before the job's run, on a job across ranks: a rank
    /// whose check failed still makes the exchange the job would have made
    /// (the tree, or for a keyed job the shuffle), with its error, so the
    /// others learn of it instead of waiting for it forever, and every
    /// rank returns an error.
    pub(crate) fn checked<T>(&self, local: Result<T>, keyed: bool) -> Result<T> {
        match (local, self.across) {
            (Err(e), Some(ranks)) => {
                let deadline = self.deadline();
                let nothing = &mut |(), ()| ();
                let out = if keyed {
                    shuffle::<()>(ranks, Err(e), &|(), p| vec![(); p], nothing, deadline)
                } else {
                    tree::<()>(ranks, Err(e), nothing, deadline)
                };
                // The exchange returns this rank's own error.
                Err(out.err().unwrap_or_else(|| {
                    Error::Protocol("a failed check came back as a result".into())
                }))
            }
            (local, _) => local,
        }
    }

    fn chunk(&self) -> ChunkSize {
        self.chunk.unwrap_or(self.pool.inner.config.chunk)
    }

    /// How the arrays a job reads are cut into chunks: along axis 0, which
    /// every array read chunk by chunk must have of the same length, about
    /// the chunk size in bytes of all of them together. A job over a range
    /// cuts its indices, each counted as 8 bytes (a `u64`) besides the
    /// rows of the arrays read with it.
    pub(crate) fn partition(&self, parts: &[InputPart<'_>]) -> Result<Partition> {
        self.chunk().check()?;
        let rows = |shape: &[usize]| shape.first().copied().unwrap_or(1) as u64;
        let row_bytes = |h: &crate::memory::Header| {
            h.shape()
                .iter()
                .skip(1)
                .fold(h.dtype().size(), |acc, &n| acc.saturating_mul(n))
        };
        let mut chunked = parts.iter().filter(|p| !p.side).map(|p| p.array.header);
        // What drives the cut: the range, or the first array read chunk by
        // chunk, which the others must match.
        let (n, mut bytes, first) = match self.range {
            Some(n) => (n, size_of::<u64>(), format!("the range 0..{n}")),
            None => {
                let first = chunked
                    .next()
                    .ok_or_else(|| Error::InvalidConfig("a job needs an array to map".into()))?;
                let shape = first.shape();
                (rows(shape), row_bytes(first), format!("shape {shape:?}"))
            }
        };
        for h in chunked {
            if rows(h.shape()) != n {
                return Err(Error::InvalidConfig(format!(
                    "the arrays a job reads together are cut into the same rows, so they need the \
                     same length along axis 0; got {first} and shape {:?} (pass an array every \
                     mapper needs whole with .side(&array) instead of .and(&array))",
                    h.shape()
                )));
            }
            bytes = bytes.saturating_add(row_bytes(h));
        }
        Ok(Partition::of_rows(n, bytes, self.chunk()))
    }

    /// The input's shape as a `map_into` matches its output to it: the
    /// range's length, or the first array's shape.
    pub(crate) fn input_shape(&self, parts: &[InputPart<'_>]) -> Vec<usize> {
        match (self.range, parts.first()) {
            (Some(n), _) => vec![usize::try_from(n).unwrap_or(usize::MAX)],
            (None, Some(p)) => p.array.header.shape().to_vec(),
            (None, None) => Vec::new(),
        }
    }

    /// Runs a job of kind `K`, here and, with ranks, across them: the
    /// job's partition, then `job` (as its kind's constructor made it, or
    /// the error of its checks, which is this rank's outcome, agreed with
    /// the others like the result), the rounds, and the partials
    /// folded with `reducer` (a job that writes has `()` partials: its
    /// outcome alone is agreed); across ranks, their results folded up a
    /// tree. Every job with one result ends here.
    pub(crate) fn run<'a, K: Kind>(
        self,
        parts: &[InputPart<'a>],
        job: Result<Ready<'a, K>>,
        reducer: &mut dyn FnMut(K::Partial, K::Partial) -> K::Partial,
    ) -> Result<(K::Partial, JobReport)> {
        let deadline = self.deadline();
        let local = self.run_here(parts, job, reducer);
        match self.across {
            Some(ranks) => tree(ranks, local, reducer, deadline),
            None => local,
        }
    }

    /// [`run`](JobOptions::run) for a keyed job: across ranks, each rank's
    /// table is cut by key owner (`cut`) and shuffled, and each rank ends
    /// with the keys it owns.
    pub(crate) fn run_shuffled<'a, K: Kind>(
        self,
        parts: &[InputPart<'a>],
        job: Result<Ready<'a, K>>,
        reducer: &mut dyn FnMut(K::Partial, K::Partial) -> K::Partial,
        cut: &dyn Fn(K::Partial, usize) -> Vec<K::Partial>,
    ) -> Result<(K::Partial, JobReport)> {
        let deadline = self.deadline();
        let local = self.run_here(parts, job, reducer);
        match self.across {
            Some(ranks) => shuffle(ranks, local, cut, reducer, deadline),
            None => local,
        }
    }

    /// When a job across ranks stops waiting for the others: its timeout
    /// from its start.
    fn deadline(&self) -> Option<Deadline> {
        self.settings.timeout.and_then(Deadline::after)
    }

    /// This coordinator's own part of a job.
    fn run_here<'a, K: Kind>(
        self,
        parts: &[InputPart<'a>],
        job: Result<Ready<'a, K>>,
        reducer: &mut dyn FnMut(K::Partial, K::Partial) -> K::Partial,
    ) -> Result<(K::Partial, JobReport)> {
        let partition = self.partition(parts)?;
        let plan = Plan::new(partition, parts, job?);
        let (value, report) =
            self.pool
                .execute(plan, self.settings, self.progress, self.stop, reducer)?;
        Ok((
            value.expect("internal: a partition has at least one chunk"),
            report,
        ))
    }
}
