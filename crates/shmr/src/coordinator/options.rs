//! Per-job options (`JobOptions`), and `JobOptions::run`, where every job
//! ends: its partition, its plan, its rounds, its fold, and its outcome
//! agreed across ranks; with the read-only jobs that end there.

use super::across::{Ranks, combine, outcomes};
use super::plan::{InputPart, Plan};
use super::pool::Pool;
use super::settings::{ProgressFn, Settings};
use crate::error::Encoded;
use crate::error::{Error, Result};
use crate::job::keyed::{Delimiters, Tables};
use crate::job::{FnMapper, HeldMapper, Input, Job, JobMapper, JobReport, MapWith};
use crate::memory::{ArrayRef, Element, SharedArray};
use crate::shm::{ChunkSize, Partition};
use ndarray::Dimension;
use serde::{Serialize, de::DeserializeOwned};

/// The settings of one job on a [`Pool`]: the pool's, changed by the job's
/// builder ([`JobBuilder`](crate::JobBuilder)), which runs the job with them.
#[derive(Clone, Copy)]
pub(crate) struct JobOptions<'p> {
    pub(crate) pool: &'p Pool,
    pub(crate) settings: Settings,
    pub(crate) progress: Option<&'p ProgressFn<'p>>,
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
            chunk: None,
            across: None,
            delimiters: Delimiters::LINES,
            max_keys: None,
            tables: Tables::Auto,
        }
    }
}

impl<'p> JobOptions<'p> {
    /// A check made before the job's run, on a job across ranks: a rank
    /// whose check failed still makes the one exchange the job would have
    /// made (with its error), so the others learn of it instead of waiting
    /// for it forever, and every rank returns an error.
    pub(crate) fn checked<T>(&self, local: Result<T>) -> Result<T> {
        match (local, self.across) {
            (Err(e), Some(ranks)) => {
                let _ = outcomes::<(), ()>(ranks, Err(e.to_string()));
                Err(e)
            }
            (local, _) => local,
        }
    }

    fn chunk(&self) -> ChunkSize {
        self.chunk.unwrap_or(self.pool.inner.config.chunk)
    }

    /// How the arrays a job reads are cut into chunks: along axis 0, which
    /// every array read chunk by chunk must have of the same length, about
    /// the chunk size in bytes of all of them together.
    pub(crate) fn partition(&self, parts: &[InputPart<'_>]) -> Result<Partition> {
        self.chunk().check()?;
        let mut chunked = parts.iter().filter(|p| !p.side).map(|p| p.array.header);
        let first = chunked
            .next()
            .ok_or_else(|| Error::InvalidConfig("a job needs an array to map".into()))?;
        let rows = |shape: &[usize]| shape.first().copied().unwrap_or(1);
        let row_bytes = |h: &crate::memory::Header| {
            h.shape()
                .iter()
                .skip(1)
                .fold(h.dtype().size(), |acc, &n| acc.saturating_mul(n))
        };
        let mut bytes = row_bytes(first);
        for h in chunked {
            if rows(h.shape()) != rows(first.shape()) {
                return Err(Error::InvalidConfig(format!(
                    "the arrays a job reads together are cut into the same rows, so they need the \
                     same length along axis 0; got shapes {:?} and {:?} (pass an array every \
                     mapper needs whole with .side(&array) instead of .and(&array))",
                    first.shape(),
                    h.shape()
                )));
            }
            bytes = bytes.saturating_add(row_bytes(h));
        }
        Ok(Partition::of_rows(
            rows(first.shape()) as u64,
            bytes,
            self.chunk(),
        ))
    }

    /// A mapper with parameters: its job, with its report.
    pub(crate) fn map_reduce<I, P, T>(
        self,
        parts: &[InputPart<'_>],
        params: P,
        mapper: MapWith<P, I, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<(T, JobReport)>
    where
        I: Input,
        P: Serialize + DeserializeOwned + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        let mut reducer = reducer;
        let payload = postcard::to_allocvec(&FnMapper::<P, I, T>::new(params, mapper)).encoded();
        self.run(
            parts,
            |partition| {
                Ok(Plan::read::<I, FnMapper<P, I, T>>(
                    partition, parts, payload?,
                ))
            },
            &mut reducer,
        )
    }

    /// Runs a job of any kind, here and, with ranks, across them: its
    /// partition, the plan that `plan` makes of it (any check it makes is
    /// this rank's outcome, agreed with the others like the result), the
    /// rounds, and the partials folded with `reducer` (a job that writes
    /// has `()` partials: its outcome alone is agreed). Every job ends here.
    pub(crate) fn run<'a, T: Serialize + DeserializeOwned>(
        self,
        parts: &[InputPart<'a>],
        plan: impl FnOnce(Partition) -> Result<Plan<'a>>,
        reducer: &mut dyn FnMut(T, T) -> T,
    ) -> Result<(T, JobReport)> {
        let local = (|| {
            let plan = plan(self.partition(parts)?)?;
            let (value, report) = self
                .pool
                .execute(plan, self.settings, self.progress, reducer)?;
            Ok((
                value.expect("internal: a partition has at least one chunk"),
                report,
            ))
        })();
        match self.across {
            Some(ranks) => combine(ranks, local, reducer),
            None => local,
        }
    }

    /// A held job (see [`HeldMapper`]): each worker's one partial, folded
    /// with `reducer` in the order workers finish, with the report.
    pub(crate) fn map_reduce_held<I, H>(
        self,
        parts: &[InputPart<'_>],
        mapper: H,
        reducer: impl FnMut(H::Acc, H::Acc) -> H::Acc,
    ) -> Result<(H::Acc, JobReport)>
    where
        I: Input,
        H: HeldMapper<I>,
    {
        let mut reducer = reducer;
        let payload = postcard::to_allocvec(&mapper).encoded();
        self.run(
            parts,
            |partition| Ok(Plan::held::<I, H>(partition, parts, payload?)),
            &mut reducer,
        )
    }

    /// A [`Job`]'s run, with its report.
    pub(crate) fn run_job<A, D, J>(
        self,
        array: ArrayRef<'_>,
        job: &J,
    ) -> Result<(J::Partial, JobReport)>
    where
        A: Element,
        D: Dimension + 'static,
        J: Job<A, D>,
    {
        let parts = [InputPart { array, side: false }];
        self.run(
            &parts,
            |partition| {
                job.validate()?;
                // JobMapper is `serde(transparent)`: the job's bytes are its bytes.
                let payload = postcard::to_allocvec(job).encoded()?;
                Ok(Plan::read::<SharedArray<A, D>, JobMapper<J>>(
                    partition, &parts, payload,
                ))
            },
            &mut |a, b| job.reduce(a, b),
        )
    }
}
