//! Per-job options (`JobOptions`), and the read-only jobs run with them,
//! with the pool's entry points to them.

use super::pool::Pool;
use super::round::Plan;
use super::settings::{ProgressFn, Settings};
use crate::error::Encoded;
use crate::error::Result;
use crate::job::{FnMapper, Job, JobMapper, JobReport, MapFn};
use crate::memory::Element;
use crate::memory::SharedArray;
use crate::protocol::Func;
use crate::shm::{ChunkSize, Partition};
use ndarray::{ArrayView, Dimension};
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
        }
    }
}

impl<'p> JobOptions<'p> {
    /// How `array` is cut into chunks for this job.
    pub(crate) fn partition<A: Element, D: Dimension>(
        &self,
        array: &SharedArray<A, D>,
    ) -> Partition {
        let chunk = self.chunk.unwrap_or(self.pool.inner.config.chunk);
        Partition::of(array.shape(), A::DTYPE.size(), chunk)
    }

    /// A parameterless mapper's job, with its report.
    pub(crate) fn map_reduce_plain_reported<A, D, T>(
        self,
        array: &SharedArray<A, D>,
        mapper: fn(ArrayView<'_, A, D>) -> T,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<(T, JobReport)>
    where
        A: Element,
        D: Dimension + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        let plain = call_plain::<A, D, T> as MapFn<PlainFn<A, D, T>, A, D, T>;
        self.map_reduce_reported(array, Func::new(mapper), plain, reducer)
    }

    /// A mapper with parameters: its job, with its report.
    pub(crate) fn map_reduce_reported<A, D, P, T>(
        self,
        array: &SharedArray<A, D>,
        params: P,
        mapper: MapFn<P, A, D, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<(T, JobReport)>
    where
        A: Element,
        D: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        let payload = postcard::to_allocvec(&FnMapper::new(params, mapper)).encoded()?;
        let plan = Plan::read::<A, D, FnMapper<P, A, D, T>>(self.partition(array), array, payload);
        let (partials, report) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok((fold(partials, reducer), report))
    }

    /// A [`Job`]'s run, with its report.
    pub(crate) fn run_reported<A, D, J>(
        self,
        array: &SharedArray<A, D>,
        job: &J,
    ) -> Result<(J::Partial, JobReport)>
    where
        A: Element,
        D: Dimension + 'static,
        J: Job<A, D>,
    {
        job.validate()?;
        // JobMapper is `serde(transparent)`: the job's bytes are its bytes.
        let payload = postcard::to_allocvec(job).encoded()?;
        let plan = Plan::read::<A, D, JobMapper<J>>(self.partition(array), array, payload);
        let (partials, report) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok((fold(partials, |a, b| job.reduce(a, b)), report))
    }
}

/// A parameterless mapper, as the parameter of `call_plain`.
type PlainFn<A, D, T> = Func<fn(ArrayView<'_, A, D>) -> T>;

/// Adapts a parameterless mapper to the parameterized form.
fn call_plain<A: Element, D: Dimension, T>(f: &PlainFn<A, D, T>, chunk: ArrayView<'_, A, D>) -> T {
    let f = f.get();
    f(chunk)
}

fn fold<T>(partials: Vec<T>, mut reducer: impl FnMut(T, T) -> T) -> T {
    let mut it = partials.into_iter();
    let first = it
        .next()
        .expect("internal: a partition has at least one chunk");
    it.fold(first, &mut reducer)
}
