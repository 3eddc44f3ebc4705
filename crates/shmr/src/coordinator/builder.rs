//! One way into every job: [`Pool::on`] makes a [`JobBuilder`] that holds
//! the pool, the input, the parameters and the options of one job; one
//! final call says what the job does.
//!
//! ```text
//! pool.on(&a)                        the input (or on_mut(&mut a) to write it)
//!     .params(p)                     what the mapper gets by reference
//!     .timeout(d).retries(n)         options of this job only
//!     .chunk_size(c).progress(&f)
//!     .reported()                    also return the JobReport
//!     .map_reduce(mapper, reducer)   or run(&job), map_in_place(f),
//!                                    map_into(&mut out, f), map_locked(&mut out, f)
//! ```
//!
//! A mapper without parameters takes the chunk alone; after `.params(p)`
//! it takes `&p` first. Both are the same method name on builders of two
//! types, so a closure coerces to the function pointer each expects.

use super::options::JobOptions;
use super::pool::Pool;
use super::settings::ProgressFn;
use crate::error::Result;
use crate::job::{InPlaceFn, IntoFn, Job, JobReport, LockedFn, MapFn};
use crate::memory::{Element, SharedArray};
use crate::shm::{ChunkSize, LockedOutput};
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use serde::{Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use std::time::Duration;

/// One job on a pool, described step by step, run by its last call.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use std::time::Duration;
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let data = shmr::SharedArray::from_array(&ndarray::Array1::linspace(0.0, 1.0, 1001))?;
/// let total: f64 = pool.on(&data).map_reduce(|c| c.sum(), |a, b| a + b)?;
/// let (above, report) = pool
///     .on(&data)
///     .params(0.5_f64)
///     .timeout(Duration::from_secs(10))
///     .reported()
///     .map_reduce(|t, c| c.iter().filter(|&&x| x > *t).count(), |a, b| a + b)?;
/// assert!((total - 500.5).abs() < 1e-9);
/// assert_eq!((above, report.lock_acquisitions), (500, 0));
/// # Ok(()) }
/// ```
#[must_use = "a JobBuilder does nothing until its last call (map_reduce, run, map_in_place, ...)"]
pub struct JobBuilder<'a, I, P = (), R = Plain> {
    opts: JobOptions<'a>,
    input: I,
    params: P,
    _report: PhantomData<R>,
}

/// What a job returns: its result alone ([`Plain`]), or with its
/// [`JobReport`] ([`Reported`]), chosen by [`JobBuilder::reported`].
pub trait ReportMode: sealed::Sealed {
    /// The value a job of result `T` returns.
    type Out<T>;
    #[doc(hidden)]
    fn out<T>(value: T, report: JobReport) -> Self::Out<T>;
}

/// Jobs return their result.
#[derive(Debug)]
pub struct Plain;
/// Jobs return their result and their [`JobReport`].
#[derive(Debug)]
pub struct Reported;

impl ReportMode for Plain {
    type Out<T> = T;
    fn out<T>(value: T, _: JobReport) -> T {
        value
    }
}

impl ReportMode for Reported {
    type Out<T> = (T, JobReport);
    fn out<T>(value: T, report: JobReport) -> (T, JobReport) {
        (value, report)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Plain {}
    impl Sealed for super::Reported {}
    impl<A: crate::Element, D: ndarray::Dimension> Sealed for &crate::SharedArray<A, D> {}
    impl<A: crate::Element, D: ndarray::Dimension> Sealed for &mut crate::SharedArray<A, D> {}
}

/// The input of a job: an array read (`&SharedArray`) or, for jobs that
/// write it in place, written (`&mut SharedArray`).
pub trait Input: sealed::Sealed {
    /// Its element type.
    type Elem: Element;
    /// Its dimension.
    type Dim: Dimension + 'static;
    #[doc(hidden)]
    fn array(&self) -> &SharedArray<Self::Elem, Self::Dim>;
}

impl<A: Element, D: Dimension + 'static> Input for &SharedArray<A, D> {
    type Elem = A;
    type Dim = D;
    fn array(&self) -> &SharedArray<A, D> {
        self
    }
}

impl<A: Element, D: Dimension + 'static> Input for &mut SharedArray<A, D> {
    type Elem = A;
    type Dim = D;
    fn array(&self) -> &SharedArray<A, D> {
        self
    }
}

impl Pool {
    /// Starts describing a job that reads `input`.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let data = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(1..=100_i64))?;
    /// assert_eq!(pool.on(&data).map_reduce(|c| c.sum(), |a, b| a + b)?, 5050);
    /// assert_eq!(pool.on(&data).run(&shmr::jobs::Sum)?, 5050);
    /// # Ok(()) }
    /// ```
    pub fn on<'a, A: Element, D: Dimension + 'static>(
        &'a self,
        input: &'a SharedArray<A, D>,
    ) -> JobBuilder<'a, &'a SharedArray<A, D>> {
        JobBuilder::new(self, input)
    }

    /// Starts describing a job that may write `input` in place.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let mut a = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1000, 3.0_f64))?;
    /// pool.on_mut(&mut a).map_in_place(|mut c| c.mapv_inplace(|x| x * x))?;
    /// assert_eq!(a.view().sum(), 9000.0);
    /// # Ok(()) }
    /// ```
    pub fn on_mut<'a, A: Element, D: Dimension + 'static>(
        &'a self,
        input: &'a mut SharedArray<A, D>,
    ) -> JobBuilder<'a, &'a mut SharedArray<A, D>> {
        JobBuilder::new(self, input)
    }
}

impl<'a, I: Input> JobBuilder<'a, I> {
    fn new(pool: &'a Pool, input: I) -> Self {
        JobBuilder {
            opts: pool.job(),
            input,
            params: (),
            _report: PhantomData,
        }
    }

    /// Parameters sent to every worker once per job and passed to the
    /// mapper by reference (its first argument from here on).
    pub fn params<P: Serialize + DeserializeOwned + 'static>(
        self,
        params: P,
    ) -> JobBuilder<'a, I, Params<P>> {
        JobBuilder {
            opts: self.opts,
            input: self.input,
            params: Params(params),
            _report: PhantomData,
        }
    }
}

impl<'a, I: Input, P, R: ReportMode> JobBuilder<'a, I, P, R> {
    /// Ends the job with [`Error::Timeout`](crate::Error::Timeout) if it
    /// runs longer than `timeout` (`Duration::MAX`: no limit); the workers
    /// still mapping are killed and replaced.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.settings.timeout = Some(timeout);
        self
    }
    /// No timeout for this job, whatever the pool's.
    pub fn no_timeout(mut self) -> Self {
        self.opts.settings.timeout = None;
        self
    }
    /// How many more times chunks lost with a dead worker are run (see
    /// [`PoolBuilder::retries`](crate::PoolBuilder::retries)).
    pub fn retries(mut self, retries: u32) -> Self {
        self.opts.settings.retries = retries;
        self
    }
    /// How this job's input is cut into chunks, instead of the pool's.
    pub fn chunk_size(mut self, chunk: ChunkSize) -> Self {
        self.opts.chunk = Some(chunk);
        self
    }
    /// Calls `progress(claimed, total)` about every 50 ms while the job
    /// runs, from the thread that runs it: chunks claimed by workers so far
    /// (read from the chunk counter in shared memory; no extra messages),
    /// and chunks in all. For progress bars.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let data = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1 << 20, 1.0_f64))?;
    /// let seen = std::sync::atomic::AtomicU64::new(0);
    /// let report = |claimed: u64, total: u64| {
    ///     assert!(claimed <= total);
    ///     seen.fetch_max(claimed, std::sync::atomic::Ordering::Relaxed);
    /// };
    /// let sum = pool.on(&data).progress(&report).map_reduce(|c| c.sum(), |a, b| a + b)?;
    /// assert_eq!(sum, (1 << 20) as f64);
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self, progress: &'a ProgressFn<'a>) -> Self {
        self.opts.progress = Some(progress);
        self
    }
    /// Stripes (locks) of a [`map_locked`](JobBuilder::map_locked) job's
    /// output (default [`DEFAULT_STRIPES`](crate::DEFAULT_STRIPES)). More
    /// stripes, less waiting between workers that write different places.
    pub fn stripes(mut self, stripes: usize) -> Self {
        self.opts.settings.stripes = stripes;
        self
    }
    /// In-place jobs: let a worker write only the chunk it is mapping.
    /// The operating system then enforces what the API promises: while a
    /// worker maps a chunk, the rest of the array is read-only in that
    /// worker (`mprotect`), so a stray write from `unsafe` code in the
    /// mapper faults (the job ends with [`Error::WriteInterrupted`](crate::Error::WriteInterrupted) naming
    /// the chunk) instead of corrupting another chunk. Protection is per
    /// page: writes into the page a chunk shares with its neighbour are not
    /// caught. Costs two `mprotect` calls per chunk and two per job (see
    /// `docs/design.md` for the measured cost). Off by default.
    pub fn guard_writes(mut self, guard: bool) -> Self {
        self.opts.settings.guard_writes = guard;
        self
    }
    /// The job also returns its [`JobReport`]: `(result, report)`.
    pub fn reported(self) -> JobBuilder<'a, I, P, Reported> {
        JobBuilder {
            opts: self.opts,
            input: self.input,
            params: self.params,
            _report: PhantomData,
        }
    }
}

/// An out-of-place mapper without parameters.
type IntoBare<A, D, B, E> = fn(ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
/// A locked mapper without parameters.
type LockedBare<A, D, B> = fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);

/// The parameters of a job, given by [`JobBuilder::params`].
#[derive(Debug)]
pub struct Params<P>(P);

impl<'a, I: Input, R: ReportMode> JobBuilder<'a, I, (), R> {
    /// Maps every chunk with `mapper` in the workers and folds the partials
    /// with `reducer`, in chunk order. `mapper` must capture nothing (see
    /// [`job`](crate::job) for why); `reducer` runs here.
    pub fn map_reduce<T>(
        self,
        mapper: fn(ArrayView<'_, I::Elem, I::Dim>) -> T,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let (v, r) = self
            .opts
            .map_reduce_plain_reported(self.input.array(), mapper, reducer)?;
        Ok(R::out(v, r))
    }

    /// Runs a [`Job`]: its value is its parameters.
    pub fn run<J: Job<I::Elem, I::Dim>>(self, job: &J) -> Result<R::Out<J::Partial>> {
        let (v, r) = self.opts.run_reported(self.input.array(), job)?;
        Ok(R::out(v, r))
    }

    /// Writes each chunk of `output` from the same rows of the input (the
    /// element type and the other axes may differ). No lock is taken.
    pub fn map_into<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: IntoBare<I::Elem, I::Dim, B, E>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        let r = self.opts.map_into(self.input.array(), output, mapper)?;
        Ok(R::out((), r))
    }

    /// Lets the mapper write anywhere in `output`, each element under its
    /// stripe's lock (see [`LockedOutput`]).
    pub fn map_locked<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: LockedBare<I::Elem, I::Dim, B>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        let r = self.opts.map_locked(self.input.array(), output, mapper)?;
        Ok(R::out((), r))
    }
}

impl<'a, A: Element, D: Dimension + 'static, R: ReportMode>
    JobBuilder<'a, &'a mut SharedArray<A, D>, (), R>
{
    /// Maps every chunk in place: each worker gets its own chunks as
    /// mutable views, disjoint by construction, so no lock is taken.
    pub fn map_in_place(self, mapper: fn(ArrayViewMut<'_, A, D>)) -> Result<R::Out<()>> {
        let r = self.opts.map_in_place(self.input, mapper)?;
        Ok(R::out((), r))
    }
}

impl<'a, A: Element, D: Dimension + 'static, P, R: ReportMode>
    JobBuilder<'a, &'a mut SharedArray<A, D>, Params<P>, R>
where
    P: Serialize + DeserializeOwned + 'static,
{
    /// [`map_in_place`](JobBuilder::map_in_place) whose mapper gets the
    /// parameters first.
    pub fn map_in_place(self, mapper: InPlaceFn<P, A, D>) -> Result<R::Out<()>> {
        let r = self
            .opts
            .map_in_place_with(self.input, self.params.0, mapper)?;
        Ok(R::out((), r))
    }
}

impl<'a, I: Input, P, R: ReportMode> JobBuilder<'a, I, Params<P>, R>
where
    P: Serialize + DeserializeOwned + 'static,
{
    /// [`map_reduce`](JobBuilder::map_reduce) whose mapper gets the
    /// parameters first.
    pub fn map_reduce<T>(
        self,
        mapper: MapFn<P, I::Elem, I::Dim, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let (v, r) =
            self.opts
                .map_reduce_reported(self.input.array(), self.params.0, mapper, reducer)?;
        Ok(R::out(v, r))
    }

    /// [`map_into`](JobBuilder::map_into) whose mapper gets the parameters
    /// first.
    pub fn map_into<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: IntoFn<P, I::Elem, I::Dim, B, E>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        let r = self
            .opts
            .map_into_with(self.input.array(), output, self.params.0, mapper)?;
        Ok(R::out((), r))
    }

    /// [`map_locked`](JobBuilder::map_locked) whose mapper gets the
    /// parameters first.
    pub fn map_locked<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: LockedFn<P, I::Elem, I::Dim, B>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        let r = self
            .opts
            .map_locked_with(self.input.array(), output, self.params.0, mapper)?;
        Ok(R::out((), r))
    }
}
