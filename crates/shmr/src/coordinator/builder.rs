//! One way into every job: [`Pool::on`] makes a [`JobBuilder`] that holds
//! the pool, the input, the parameters and the options of one job; one
//! final call says what the job does.
//!
//! ```text
//! pool.on(&a)                        the input (or on_mut(&mut a) to write it)
//!     .params(p)                     what the mapper gets by reference
//!     .timeout(d).retries(n)         options of this job only
//!     .chunk_size(c).progress(&f).stop_when(&s)
//!     .reported()                    also return the JobReport
//!     .map_reduce(mapper, reducer)   or fold(start, step, merge), run(&job),
//!                                    map_in_place(f), map_into(&mut out, f),
//!                                    map_locked(&mut out, f)
//! ```
//!
//! A mapper without parameters takes the chunk alone; after `.params(p)`
//! it takes `&p` first. Both are the same method name on builders of two
//! types, so a closure coerces to the function pointer each expects.

use super::across::Ranks;
use super::bare;
use super::options::JobOptions;
use super::plan::InputPart;
use super::pool::Pool;
use super::settings::{ProgressFn, StopFn};
use crate::error::Result;
use crate::job::{
    Append, FoldBare, FoldWith, InPlaceBare, InPlaceWith, IndexRange, Input, IntoBare, IntoWith,
    Job, JobReport, Kind, LockedBare, LockedWith, MapBare, MapWith, PerChunk, PerWorker, Ready,
    Side, WriteInPlace, WriteInto, WriteLocked,
};
use crate::memory::{Element, SharedArray};
use crate::protocol::Func;
use crate::shm::{ChunkSize, Partition};
use ndarray::Dimension;
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
    pub(super) opts: JobOptions<'a>,
    /// The arrays the job reads, in order; `I` says their types.
    pub(super) parts: Vec<InputPart<'a>>,
    pub(super) params: P,
    pub(super) _types: PhantomData<(fn() -> I, R)>,
}

/// The input of a job that writes its array in place
/// ([`Pool::on_mut`]). A type only.
pub struct InPlace<A, D>(PhantomData<(A, D)>);

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
    /// assert_eq!(pool.on(&data).run(&shmr::builtin::Sum)?, 5050);
    /// # Ok(()) }
    /// ```
    pub fn on<'a, A: Element, D: Dimension + 'static>(
        &'a self,
        input: &'a SharedArray<A, D>,
    ) -> JobBuilder<'a, SharedArray<A, D>> {
        JobBuilder::new(self, InputPart::read(input))
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
    ) -> JobBuilder<'a, InPlace<A, D>> {
        // The builder keeps `input` borrowed mutably for 'a: nothing else
        // reads or writes it while the job is described and run.
        JobBuilder::new(self, InputPart::written(input))
    }

    /// Starts describing a job over the indices `0..n`, without an array:
    /// each chunk is a range of indices, the mapper's first argument (then
    /// the views of arrays read with it by [`and`](JobBuilder::and), which
    /// must have `n` rows, and of side arrays). For work driven by an
    /// index: the rows of a sparse matrix, a graph's nodes, samples drawn
    /// by seed. An index counts as 8 bytes toward the chunk size;
    /// [`ChunkSize::Rows`] says exactly how many per chunk.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// // The sum of squares of 0..1000, and a table of them.
    /// let sum: u64 = pool.range(1000).map_reduce(|rows| rows.map(|i| (i * i) as u64).sum(), |a, b| a + b)?;
    /// assert_eq!(sum, (0..1000_u64).map(|i| i * i).sum());
    /// let mut squares = shmr::SharedArray::<u64, _>::zeros(1000)?;
    /// pool.range(1000).map_into(&mut squares, |rows, mut out| {
    ///     for (o, i) in out.iter_mut().zip(rows) {
    ///         *o = (i * i) as u64;
    ///     }
    /// })?;
    /// assert_eq!(squares.view()[999], 998_001);
    /// # Ok(()) }
    /// ```
    pub fn range(&self, n: usize) -> JobBuilder<'_, IndexRange> {
        let mut opts = self.job();
        opts.range = Some(n as u64);
        JobBuilder {
            opts,
            parts: Vec::new(),
            params: (),
            _types: PhantomData,
        }
    }
}

impl<'a, I> JobBuilder<'a, I> {
    fn new(pool: &'a Pool, part: InputPart<'a>) -> Self {
        JobBuilder {
            opts: pool.job(),
            parts: vec![part],
            params: (),
            _types: PhantomData,
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
            parts: self.parts,
            params: Params(params),
            _types: PhantomData,
        }
    }
}

impl<'a, I: Input, P, R> JobBuilder<'a, I, P, R> {
    /// Reads `array` together with the input, chunk by chunk: the mapper
    /// gets a tuple of views, the same rows of each array, in the order
    /// given. The arrays must have the same length along axis 0 (the final
    /// call says so before any worker starts otherwise). Up to
    /// [`MAX_PARTS`](crate::job::MAX_PARTS) parts, side arrays included.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let x = shmr::SharedArray::from_array(&ndarray::Array1::linspace(0.0, 1.0, 1001))?;
    /// let y = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1001, 2.0_f64))?;
    /// let xy: f64 = pool.on(&x).and(&y).map_reduce(|(x, y)| x.dot(&y), |a, b| a + b)?;
    /// assert!((xy - 1001.0).abs() < 1e-9);
    /// # Ok(()) }
    /// ```
    pub fn and<B: Element, E: Dimension + 'static>(
        self,
        array: &'a SharedArray<B, E>,
    ) -> JobBuilder<'a, <I as Append<SharedArray<B, E>>>::Out, P, R>
    where
        I: Append<SharedArray<B, E>>,
    {
        self.append(InputPart::read(array))
    }

    /// Gives every mapper `array` whole, read-only, after the views of
    /// the chunk: centroids, a second matrix, a lookup table. It is handed
    /// over as its segment, like the input: its bytes are never copied
    /// and never pass through the job's message.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let codes = shmr::SharedArray::from_array(&ndarray::Array1::from_iter((0..1000_u32).map(|i| i % 4)))?;
    /// let table = shmr::SharedArray::from_array(&ndarray::arr1(&[1.5_f64, 2.0, 0.5, 4.0]))?;
    /// let total: f64 = pool
    ///     .on(&codes)
    ///     .side(&table)
    ///     .map_reduce(|(codes, table)| codes.iter().map(|&c| table[c as usize]).sum(), |a, b| a + b)?;
    /// assert_eq!(total, 250.0 * 8.0);
    /// # Ok(()) }
    /// ```
    pub fn side<C: Element, F: Dimension + 'static>(
        self,
        array: &'a SharedArray<C, F>,
    ) -> JobBuilder<'a, <I as Append<Side<C, F>>>::Out, P, R>
    where
        I: Append<Side<C, F>>,
    {
        self.append(InputPart::side(array))
    }

    pub(super) fn append<O>(mut self, part: InputPart<'a>) -> JobBuilder<'a, O, P, R> {
        self.parts.push(part);
        JobBuilder {
            opts: self.opts,
            parts: self.parts,
            params: self.params,
            _types: PhantomData,
        }
    }
}

impl<'a, I, P, R: ReportMode> JobBuilder<'a, I, P, R> {
    /// Makes this one job of several coordinators (MPI ranks): each runs
    /// it on its own part of the data, then the ranks fold their results
    /// up a tree in rank order with the job's reducer, through `ranks`, so
    /// every rank returns the same value; a keyed job's tables are instead
    /// shuffled by key, and each rank returns the shard of keys it owns
    /// ([`Keyed::shard`](crate::keyed::Keyed::shard)). A job that writes
    /// tells every rank whether all succeeded. A failure on one rank is
    /// [`Error::Rank`](crate::Error::Rank) on the others; the job's
    /// [`timeout`](JobBuilder::timeout) also ends the wait for a rank that
    /// does not come. See [`Ranks`](crate::Ranks) for an example.
    pub fn across(mut self, ranks: &'a dyn Ranks) -> Self {
        self.opts.across = Some(ranks);
        self
    }

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

    /// Calls `stop()` about every 50 ms while the job runs, on the calling
    /// thread; when it returns `true` the job ends with
    /// [`Error::Stopped`](crate::Error::Stopped): the workers still mapping
    /// are killed and replaced, as at a timeout, and the pool is ready for
    /// the next job. For a Ctrl-C, a cancel button, a deadline of the
    /// caller's own.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let data = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(64, 1.0_f64))?;
    /// let cancel = AtomicBool::new(true); // set by another thread, say
    /// let stop = || cancel.load(Ordering::Relaxed);
    /// let err = pool
    ///     .on(&data)
    ///     .chunk_size(shmr::ChunkSize::Rows(1))
    ///     .stop_when(&stop)
    ///     .map_reduce(|c| { std::thread::sleep(std::time::Duration::from_millis(200)); c.sum() }, |a, b| a + b)
    ///     .unwrap_err();
    /// assert!(matches!(err, shmr::Error::Stopped { .. }));
    /// assert_eq!(pool.on(&data).map_reduce(|c| c.sum(), |a, b| a + b)?, 64.0);
    /// # Ok(()) }
    /// ```
    pub fn stop_when(mut self, stop: &'a StopFn<'a>) -> Self {
        self.opts.stop = Some(stop);
        self
    }
    /// How this job's input will be cut into chunks: its own chunk size (or
    /// the pool's), a records job's default, and every array read chunk by
    /// chunk counted in a row's bytes. The partition the job will run.
    ///
    /// # Errors
    /// As the job would: arrays of different lengths read together, a
    /// chunk size of nothing.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let x = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(10_000, 1.0_f64))?;
    /// let job = pool.on(&x).chunk_size(shmr::ChunkSize::Rows(1000));
    /// assert_eq!(job.partition()?.len(), 10);
    /// # Ok(()) }
    /// ```
    pub fn partition(&self) -> Result<Partition> {
        self.opts.partition(&self.parts)
    }

    /// The job also returns its [`JobReport`]: `(result, report)`.
    pub fn reported(self) -> JobBuilder<'a, I, P, Reported> {
        JobBuilder {
            opts: self.opts,
            parts: self.parts,
            params: self.params,
            _types: PhantomData,
        }
    }
}

// Settings that mean something for one kind of job only are offered only
// on the builders of that kind: set anywhere else, they do not compile.

impl<'a, A: Element, D: Dimension + 'static, P, R: ReportMode>
    JobBuilder<'a, SharedArray<A, D>, P, R>
{
    /// Stripes (locks) of a [`map_locked`](JobBuilder::map_locked) job's
    /// output (default [`DEFAULT_STRIPES`](crate::DEFAULT_STRIPES)). More
    /// stripes, less waiting between workers that write different places.
    ///
    /// Only where a locked job can follow; an in-place job takes no locks,
    /// so this does not compile:
    /// ```compile_fail,E0599
    /// # fn main() -> Result<(), shmr::Error> {
    /// let pool = shmr::Pool::new()?;
    /// let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
    /// pool.on_mut(&mut a).stripes(4).map_in_place(|mut c| c.fill(1.0))?;
    /// # Ok(()) }
    /// ```
    pub fn stripes(mut self, stripes: usize) -> Self {
        self.opts.settings.stripes = stripes;
        self
    }
}

impl<'a, A: Element, D: Dimension + 'static, P, R: ReportMode> JobBuilder<'a, InPlace<A, D>, P, R> {
    /// Lets a worker write only the chunk it is mapping.
    /// The operating system then enforces what the API promises: while a
    /// worker maps a chunk, the rest of the array is read-only in that
    /// worker (`mprotect`), so a stray write from `unsafe` code in the
    /// mapper faults (the job ends with [`Error::WriteInterrupted`](crate::Error::WriteInterrupted) naming
    /// the chunk) instead of corrupting another chunk. Protection is per
    /// page: writes into the page a chunk shares with its neighbour are not
    /// caught. Costs two `mprotect` calls per chunk and two per job (see
    /// `docs/design.md` for the measured cost). Off by default.
    ///
    /// Only for in-place jobs; a job that reads cannot write its input at
    /// all, so this does not compile:
    /// ```compile_fail,E0599
    /// # fn main() -> Result<(), shmr::Error> {
    /// let pool = shmr::Pool::new()?;
    /// let a = shmr::SharedArray::<f64, _>::zeros(10)?;
    /// let s: f64 = pool.on(&a).guard_writes(true).map_reduce(|c| c.sum(), |x, y| x + y)?;
    /// # Ok(()) }
    /// ```
    pub fn guard_writes(mut self, guard: bool) -> Self {
        self.opts.settings.guard_writes = guard;
        self
    }
}

impl<'a, I, R: ReportMode> JobBuilder<'a, I, (), R> {
    /// The same job with `f`, a mapper without parameters (or several, as
    /// a tuple), as its parameters: the bare final methods call their
    /// params form on this, with an adapter of `bare.rs`.
    pub(super) fn bare_mapper<F>(self, f: F) -> JobBuilder<'a, I, Params<F>, R> {
        JobBuilder {
            opts: self.opts,
            parts: self.parts,
            params: Params(f),
            _types: PhantomData,
        }
    }
}

impl<'a, I, P, R: ReportMode> JobBuilder<'a, I, P, R> {
    /// Runs the job that `make` makes of the parameters (with its kind's
    /// constructor) over this builder's arrays, with its options: where
    /// every final method ends.
    pub(super) fn finish<K: Kind>(
        self,
        make: impl FnOnce(P) -> Result<Ready<'a, K>>,
        reducer: &mut dyn FnMut(K::Partial, K::Partial) -> K::Partial,
    ) -> Result<R::Out<K::Partial>> {
        let (v, r) = self.opts.run(&self.parts, make(self.params), reducer)?;
        Ok(R::out(v, r))
    }
}

/// The parameters of a job, given by [`JobBuilder::params`].
#[derive(Debug)]
pub struct Params<P>(pub(super) P);

impl<'a, I: Input, R: ReportMode> JobBuilder<'a, I, (), R> {
    /// Maps every chunk with `mapper` in the workers and folds the partials
    /// with `reducer`, in chunk order. `mapper` must capture nothing (see
    /// [`job`](crate::job) for why); `reducer` runs here. The mapper gets
    /// the chunk's view (a tuple of views after [`and`](JobBuilder::and)
    /// or [`side`](JobBuilder::side)).
    ///
    /// # Errors
    /// A mapper that panics: [`Error::MapperPanicked`](crate::Error::MapperPanicked)
    /// naming the chunk (it ran in a worker). A reducer that panics:
    /// [`Error::ReducerPanicked`](crate::Error::ReducerPanicked) (it ran
    /// here); the panic never unwinds into the caller, for any number of
    /// workers, and the pool stays usable. Worker deaths, timeouts and
    /// oversized partials: see docs/reliability.md.
    pub fn map_reduce<T>(
        self,
        mapper: MapBare<I, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        self.bare_mapper(I::bare_func(mapper))
            .map_reduce(bare::map::<I, T>, reducer)
    }

    /// Folds every chunk a worker maps into one accumulator per worker
    /// (started with `start`, fed each chunk by `step`), then merges the
    /// workers' accumulators here with `merge`: rayon's `fold` and
    /// `reduce`. A worker's accumulator is its own size, whatever the
    /// number of chunks, and crosses once, in pieces of its bytes, so a
    /// large one (a dense group-by's sums) costs what rayon's does; a
    /// [`map_reduce`](JobBuilder::map_reduce) would send one per chunk.
    ///
    /// Which chunks a worker folds depends on timing, and the workers'
    /// accumulators are merged in the order they finish. So the result is
    /// the same for any number of workers and any timing only when `step`
    /// and `merge` give the same result in any order and grouping:
    /// integer sums and counts, minima and maxima, set unions. A float
    /// sum may differ in its last bits from run to run; use `map_reduce`,
    /// whose partials are folded in chunk order, when the bits must match.
    ///
    /// A worker that dies loses its accumulator: all the chunks it had
    /// folded are mapped again (up to the job's
    /// [`retries`](JobBuilder::retries)), so nothing is counted twice or
    /// lost.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// // A group-by: the sum and count of the values of each key in 0..4.
    /// let keys = shmr::SharedArray::from_array(&ndarray::Array1::from_iter((0..10_000_u32).map(|i| i % 4)))?;
    /// let values = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(0..10_000_i64))?;
    /// let (sums, counts) = pool.on(&keys).and(&values).fold(
    ///     || (vec![0_i64; 4], vec![0_u64; 4]),
    ///     |(sums, counts), (k, v)| {
    ///         for (&k, &v) in k.iter().zip(v) {
    ///             sums[k as usize] += v;
    ///             counts[k as usize] += 1;
    ///         }
    ///     },
    ///     |(mut s, mut c), (s2, c2)| {
    ///         s.iter_mut().zip(s2).for_each(|(a, b)| *a += b);
    ///         c.iter_mut().zip(c2).for_each(|(a, b)| *a += b);
    ///         (s, c)
    ///     },
    /// )?;
    /// assert_eq!(counts, vec![2500; 4]);
    /// assert_eq!(sums[1], (0..10_000_i64).filter(|i| i % 4 == 1).sum::<i64>());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A `start` or `step` that panics: [`Error::MapperPanicked`](crate::Error::MapperPanicked)
    /// naming the chunk; a `merge` that panics: [`Error::ReducerPanicked`](crate::Error::ReducerPanicked).
    pub fn fold<T>(
        self,
        start: fn() -> T,
        step: FoldBare<I, T>,
        merge: fn(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        self.bare_mapper((Func::new(start), I::fold_bare_func(step)))
            .fold(bare::fold_start, bare::fold_step::<I, T>, merge)
    }

    /// Writes each chunk of `output` from the same rows of the input (the
    /// element type and the other axes may differ). No lock is taken.
    pub fn map_into<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: IntoBare<I, B, E>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        self.bare_mapper(I::into_bare_func(mapper))
            .map_into(output, bare::into::<I, B, E>)
    }
}

impl<'a, A: Element, D: Dimension + 'static, R: ReportMode>
    JobBuilder<'a, SharedArray<A, D>, (), R>
{
    /// Runs a [`Job`]: its value is its parameters.
    pub fn run<J: Job<A, D>>(self, job: &J) -> Result<R::Out<J::Partial>> {
        self.finish(|()| Ready::job(job), &mut |a, b| job.reduce(a, b))
    }

    /// Lets the mapper write anywhere in `output`, each element under its
    /// stripe's lock (see [`LockedOutput`](crate::LockedOutput)).
    pub fn map_locked<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: LockedBare<A, D, B>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        self.bare_mapper(Func::new(mapper))
            .map_locked(output, bare::locked::<A, D, B>)
    }
}

impl<'a, A: Element, D: Dimension + 'static, R: ReportMode> JobBuilder<'a, InPlace<A, D>, (), R> {
    /// Maps every chunk in place: each worker gets its own chunks as
    /// mutable views, disjoint by construction, so no lock is taken.
    pub fn map_in_place(self, mapper: InPlaceBare<A, D>) -> Result<R::Out<()>> {
        self.bare_mapper(Func::new(mapper))
            .map_in_place(bare::in_place::<A, D>)
    }
}

impl<'a, A: Element, D: Dimension + 'static, P, R: ReportMode>
    JobBuilder<'a, InPlace<A, D>, Params<P>, R>
where
    P: Serialize + DeserializeOwned + 'static,
{
    /// [`map_in_place`](JobBuilder::map_in_place) whose mapper gets the
    /// parameters first.
    pub fn map_in_place(self, mapper: InPlaceWith<P, A, D>) -> Result<R::Out<()>> {
        let guard = self.opts.settings.guard_writes;
        let array = self.parts[0].array;
        self.finish(
            |Params(p)| WriteInPlace::new(p, mapper, array, guard),
            &mut |(), ()| (),
        )
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
        mapper: MapWith<P, I, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let mut reducer = reducer;
        self.finish(
            |Params(p)| Ready::reads(&PerChunk::<_, I>::with(p, mapper)),
            &mut reducer,
        )
    }

    /// [`fold`](JobBuilder::fold) whose start and step get the parameters
    /// first.
    pub fn fold<T>(
        self,
        start: fn(&P) -> T,
        step: FoldWith<P, I, T>,
        merge: fn(T, T) -> T,
    ) -> Result<R::Out<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        self.finish(
            |Params(p)| Ready::reads(&PerWorker::<_, I>::fold(p, start, step)),
            &mut |a, b| merge(a, b),
        )
    }

    /// [`map_into`](JobBuilder::map_into) whose mapper gets the parameters
    /// first.
    pub fn map_into<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: IntoWith<P, I, B, E>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        let from = self.opts.input_shape(&self.parts);
        let output = output.shared();
        self.finish(
            |Params(p)| WriteInto::new(p, mapper, &from, output),
            &mut |(), ()| (),
        )
    }
}

impl<'a, A: Element, D: Dimension + 'static, P, R: ReportMode>
    JobBuilder<'a, SharedArray<A, D>, Params<P>, R>
where
    P: Serialize + DeserializeOwned + 'static,
{
    /// [`map_locked`](JobBuilder::map_locked) whose mapper gets the
    /// parameters first.
    pub fn map_locked<B, E>(
        self,
        output: &mut SharedArray<B, E>,
        mapper: LockedWith<P, A, D, B>,
    ) -> Result<R::Out<()>>
    where
        B: Element,
        E: Dimension + 'static,
    {
        let stripes = self.opts.settings.stripes;
        let output = output.shared();
        self.finish(
            |Params(p)| WriteLocked::new(p, mapper, output, stripes),
            &mut |(), ()| (),
        )
    }
}
