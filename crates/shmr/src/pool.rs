//! The pool of worker processes and the coordinator's side of a job.

use crate::array::ArrayRef;
use crate::array::SharedArray;
use crate::channel::{
    self, Access, Channel, FromWorker, Layout, MapJob, Mapping, PROTOCOL, ToWorker,
};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::job::{FnAddr, JobReport};
use crate::job::{FnMapper, Job, JobMapper, MapFn, Mapper, entry_for};
use crate::lock::{self, DEFAULT_STRIPES, LockTable, MAX_STRIPES};
use crate::partition::{ChunkSize, Partition, Selection};
use crate::segment::Segment;
use crate::slots::{MIN_SLOT_BYTES, STOP_CLAIMS, Slots};
use crate::worker::{OUTPUT_FD, TEST_ENTRY, WORKER_ENV, WORKER_FD};
use command_fds::{CommandFdExt, FdMapping};
use ndarray::{ArrayView, Dimension};
use rustix::fd::{AsFd, BorrowedFd};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Default size of each worker's result slot.
pub const DEFAULT_SLOT_BYTES: usize = 4 << 20;

/// Configures and starts a [`Pool`].
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let pool = shmr::Pool::builder()
///     .workers(2)
///     .chunk_size(shmr::ChunkSize::Rows(1000))
///     .build()?;
/// assert_eq!(pool.workers(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    workers: Option<usize>,
    chunk: ChunkSize,
    slot_bytes: usize,
    start_timeout: Duration,
    settings: Settings,
}

/// Default number of times the chunks lost with a dead worker are run again.
pub const DEFAULT_RETRIES: u32 = 2;

/// What a job may cost before it fails: set on the pool, changed per job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    timeout: Option<Duration>,
    retries: u32,
    pub(crate) stripes: usize,
    pub(crate) guard_writes: bool,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: None,
            chunk: ChunkSize::default(),
            slot_bytes: DEFAULT_SLOT_BYTES,
            start_timeout: Duration::from_secs(30),
            settings: Settings {
                timeout: None,
                retries: DEFAULT_RETRIES,
                stripes: DEFAULT_STRIPES,
                guard_writes: false,
            },
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: the CPUs this process may use).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }
    /// How arrays are cut into chunks (default: about 1 MiB of data).
    pub fn chunk_size(mut self, chunk: ChunkSize) -> Self {
        self.chunk = chunk;
        self
    }
    /// Bytes of each worker's result slot, which must hold the partials of
    /// all chunks one worker maps in one job (default 4 MiB; the pages are
    /// reserved up front).
    pub fn slot_bytes(mut self, bytes: usize) -> Self {
        self.slot_bytes = bytes;
        self
    }
    /// How long a new worker may take to report ready (default 30 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Ends any job that runs longer than `timeout` with
    /// [`Error::Timeout`], killing and replacing the workers still mapping
    /// (default: no timeout). [`Pool::job`] overrides it for one job.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }
    /// How many more times the chunks lost with a worker that died are run,
    /// on a fresh worker, before the job fails with [`Error::WorkerDied`]
    /// (default [`DEFAULT_RETRIES`]). A panicking mapper is never retried:
    /// it would panic again. [`Pool::job`] overrides it for one job.
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings.retries = retries;
        self
    }

    /// Whether in-place jobs write-protect all but the chunk each worker
    /// is mapping (default: no); see [`JobOptions::guard_writes`].
    pub fn guard_writes(mut self, guard: bool) -> Self {
        self.settings.guard_writes = guard;
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if workers == 0 {
            return Err(Error::InvalidConfig(
                "a pool needs at least 1 worker, got workers(0)".into(),
            ));
        }
        if workers > u32::MAX as usize {
            return Err(Error::InvalidConfig(format!(
                "{workers} workers is too many"
            )));
        }
        if matches!(self.chunk, ChunkSize::Bytes(0) | ChunkSize::Rows(0)) {
            return Err(Error::InvalidConfig("chunk size must be at least 1".into()));
        }
        if self.slot_bytes < MIN_SLOT_BYTES {
            return Err(Error::InvalidConfig(format!(
                "slot_bytes must be at least {MIN_SLOT_BYTES}, got {}",
                self.slot_bytes
            )));
        }
        self.settings.check()?;
        if crate::worker::started_as_worker() {
            return Err(Error::WorkerStart(
                "this process is a shmr worker but is trying to start a pool: \
                 call shmr::init() first thing in main (or shmr::test_worker!() in a test file), \
                 and do not start pools inside mappers"
                    .into(),
            ));
        }
        let slots = Slots::create(workers, self.slot_bytes)?;
        let mut state = State {
            workers: (0..workers).map(|_| None).collect(),
            slots,
            next_job: 0,
            locks: None,
        };
        state.start_missing(self.start_timeout)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            released: Mutex::new(Vec::new()),
            config: self,
            workers,
        });
        registry().push(Arc::downgrade(&inner));
        Ok(Pool { inner })
    }
}

/// A pool of persistent worker processes that run map-reduce jobs over
/// [`SharedArray`]s.
///
/// Workers are started once and reused by every job. A job takes the pool
/// for its whole run: jobs from several threads queue, one after another.
/// Dropping the pool stops the workers and waits for them.
///
/// # Example
/// ```
/// fn main() -> Result<(), shmr::Error> {
///     shmr::init();
///     let pool = shmr::Pool::builder().workers(2).build()?;
///     let data = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(1..=100_i64))?;
///     let total = pool.map_reduce(&data, |c| c.sum(), |a, b| a + b)?;
///     assert_eq!(total, 5050);
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Segments dropped since the workers were last told.
    released: Mutex<Vec<u64>>,
    config: PoolBuilder,
    workers: usize,
}

#[derive(Debug)]
struct State {
    workers: Vec<Option<Worker>>,
    slots: Slots,
    next_job: u64,
    /// The lock table of locked jobs, made on first use and grown as needed.
    locks: Option<Arc<Segment>>,
}

#[derive(Debug)]
struct Worker {
    child: Child,
    chan: Channel,
    pid: u32,
    /// Segments this worker has mapped, and how.
    mapped: HashSet<(u64, Mapping)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the state half-updated in
    // a way that matters (every step below is checked again), so poisoning
    // is not an error.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// A builder with default settings.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A pool with default settings.
    pub fn new() -> Result<Pool> {
        PoolBuilder::default().build()
    }

    /// Number of worker processes.
    pub fn workers(&self) -> usize {
        self.inner.workers
    }

    /// The chunk size jobs on this pool use.
    pub fn chunk_size(&self) -> ChunkSize {
        self.inner.config.chunk
    }

    /// Process ids of the live workers (for monitoring).
    pub fn worker_pids(&self) -> Vec<u32> {
        lock(&self.inner.state)
            .workers
            .iter()
            .flatten()
            .map(|w| w.pid)
            .collect()
    }

    /// How `array` is cut into chunks on this pool.
    pub fn partition<A: Element, D: Dimension>(&self, array: &SharedArray<A, D>) -> Partition {
        let rows = array.shape().first().copied().unwrap_or(1) as u64;
        let chunk_rows = self
            .inner
            .config
            .chunk
            .rows_for(array.shape(), A::DTYPE.size());
        Partition::new(rows, chunk_rows)
    }

    /// Settings for one job, overriding the pool's timeout or retries.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use std::time::Duration;
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let data = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1000, 1.0_f64))?;
    /// let total = pool
    ///     .job()
    ///     .timeout(Duration::from_secs(10))
    ///     .retries(0)
    ///     .map_reduce(&data, |c| c.sum(), |a, b| a + b)?;
    /// assert_eq!(total, 1000.0);
    /// # Ok(()) }
    /// ```
    pub fn job(&self) -> JobOptions<'_> {
        JobOptions {
            pool: self,
            settings: self.inner.config.settings,
            progress: None,
        }
    }

    /// Maps every chunk of `array` with `mapper` in the workers and folds
    /// the partials with `reducer`, in chunk order.
    ///
    /// `mapper` must be a function or a closure that captures nothing (see
    /// [`job`](crate::job) for why); `reducer` runs in this process and may
    /// capture freely.
    pub fn map_reduce<A, D, T>(
        &self,
        array: &SharedArray<A, D>,
        mapper: fn(ArrayView<'_, A, D>) -> T,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<T>
    where
        A: Element,
        D: Dimension + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        self.job().map_reduce(array, mapper, reducer)
    }

    /// Like [`map_reduce`](Pool::map_reduce), with parameters sent to the
    /// workers once per job and passed to `mapper` by reference.
    pub fn map_reduce_with<A, D, P, T>(
        &self,
        array: &SharedArray<A, D>,
        params: P,
        mapper: MapFn<P, A, D, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<T>
    where
        A: Element,
        D: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        self.job().map_reduce_with(array, params, mapper, reducer)
    }

    /// Runs a [`Job`].
    pub fn run<A, D, J>(&self, array: &SharedArray<A, D>, job: &J) -> Result<J::Partial>
    where
        A: Element,
        D: Dimension + 'static,
        J: Job<A, D>,
    {
        self.job().run(array, job)
    }

    /// Runs one job and returns its partials in chunk order.
    ///
    /// A job runs in rounds: the first maps every chunk; if workers die,
    /// their committed partials are kept and the chunks they were mapping
    /// are mapped again, on replacement workers, in a further round, up to
    /// `settings.retries` times, when mapping a chunk twice is harmless
    /// (reads, and out-of-place writes). A job that writes in place or under
    /// locks is never retried: its error says what may be partly written.
    pub(crate) fn execute<T: DeserializeOwned>(
        &self,
        plan: Plan<'_>,
        settings: Settings,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<(Vec<T>, JobReport)> {
        settings.check()?;
        let started = Instant::now();
        let partition = plan.partition;
        let mut state = lock(&self.inner.state);
        // The timeout covers the job's run, not its wait for the pool.
        let deadline = settings.timeout.map(|t| (t, Instant::now() + t));
        self.inner.flush_released(&mut state);
        let locks = match plan.writes {
            Writes::Locked { stripes, .. } => Some(state.lock_table(stripes)?),
            _ => None,
        };
        let mut payload = plan.payload.clone();
        let (access, attach) = plan.access(locks.as_deref());
        let mut report = JobReport {
            chunks: partition.len(),
            ..JobReport::default()
        };
        let mut out: Vec<Option<T>> = (0..partition.len()).map(|_| None).collect();
        let mut job = MapJob {
            job: 0,
            entry: plan.entry,
            segment: plan.input.segment.id(),
            access,
            partition,
            selection: Selection::All,
            payload: std::mem::take(&mut payload),
        };
        let start_timeout = self.inner.config.start_timeout;
        // Rounds in which a worker died mapping a chunk count against the
        // retries. Rounds in which workers died between chunks (idle before
        // the job reached them, say) lost no work and do not, up to a bound
        // that stops a pool whose workers die as soon as they start.
        let mut attempt = 1;
        let mut idle_deaths = 0;
        loop {
            state.start_missing(start_timeout)?;
            state.next_job += 1;
            job.job = state.next_job;
            report.rounds += 1;
            let table = match (&locks, access) {
                (Some(seg), Access::Locked { stripes, .. }) => {
                    let t = LockTable::new(seg, stripes as usize)?;
                    t.reset();
                    Some(t)
                }
                _ => None,
            };
            // One encoding for every worker; too large is refused before any
            // worker is told anything.
            let msg = ToWorker::Map(job);
            let message = Channel::encode(&msg)?;
            let ToWorker::Map(this_round) = msg else {
                unreachable!("built as a Map message just above")
            };
            job = this_round;
            let done_before = out.iter().filter(|p| p.is_some()).count() as u64;
            let in_round = partition.len() - done_before;
            let tick = progress.map(|f| {
                move |claimed: u64| f(done_before + claimed.min(in_round), partition.len())
            });
            let round = state.run(RoundSpec {
                job: job.job,
                message: &message,
                attach: &attach,
                partition: &partition,
                deadline,
                locks: table.as_ref(),
                progress: tick.as_ref().map(|t| t as &dyn Fn(u64)),
            });
            // SAFETY: `run` returns only once every worker it gave the job
            // has replied or is dead and reaped, and no worker is given
            // another job, nor replaced, until the next round, after this.
            let decoded = unsafe { state.collect(&mut out) };
            report.lock_acquisitions += state.slots.total_locks_taken();
            // Which stripes the dead held: read before anything resets them.
            let held: Vec<(usize, Vec<usize>)> = match (&table, &round) {
                (Some(t), Ok(r)) => r
                    .deaths
                    .iter()
                    .map(|d| (d.slot, t.held_by(d.slot)))
                    .collect(),
                _ => Vec::new(),
            };
            // Replace the dead now, so the pool is whole for the next job
            // even if this one failed.
            let restarted = state.start_missing(start_timeout);
            let round = round?;
            report.workers_replaced += round.deaths.len() as u32;
            if !access.retryable()
                && let Some(d) = round.deaths.iter().find(|d| d.chunk.is_some())
            {
                let stripe = held
                    .iter()
                    .find(|(slot, _)| *slot == d.slot)
                    .and_then(|(_, s)| s.first().copied());
                let elements = match (stripe, plan.writes) {
                    (Some(s), Writes::Locked { stripes, output }) => {
                        let len: usize = output.header.shape().iter().product();
                        let per = len.div_ceil(stripes).max(1);
                        Some((s * per).min(len)..((s + 1) * per).min(len))
                    }
                    _ => None,
                };
                return Err(Error::WriteInterrupted {
                    pid: d.pid,
                    status: d.status.clone(),
                    chunk: d.chunk,
                    rows: d.chunk.map(|c| partition.chunk(c)),
                    stripe,
                    elements,
                });
            }
            if let Some(e) = round.error {
                return Err(e);
            }
            decoded?;
            restarted?;
            let missing: Vec<u64> = (0..partition.len())
                .filter(|&i| out[i as usize].is_none())
                .collect();
            let Some(last) = round.deaths.last() else {
                if let Some(&i) = missing.first() {
                    return Err(Error::Protocol(format!("no result for chunk {i}")));
                }
                break;
            };
            if missing.is_empty() {
                break; // the worker died after its last chunk
            }
            if round.deaths.iter().all(|d| d.chunk.is_none()) && idle_deaths < MAX_IDLE_DEATH_ROUNDS
            {
                idle_deaths += 1;
            } else if attempt > settings.retries {
                // Name a worker that died mapping, if one did.
                let death = round.deaths.iter().rev().find(|d| d.chunk.is_some());
                return Err(death.unwrap_or(last).error(&partition, attempt));
            } else {
                attempt += 1;
            }
            job.selection = Selection::of(missing);
        }
        drop(state);
        report.elapsed = started.elapsed();
        Ok((out.into_iter().flatten().collect(), report))
    }
}

/// What the coordinator needs to run one job.
pub(crate) struct Plan<'a> {
    pub(crate) input: ArrayRef<'a>,
    pub(crate) partition: Partition,
    pub(crate) writes: Writes<'a>,
    pub(crate) entry: FnAddr,
    pub(crate) payload: Vec<u8>,
}

/// What a job writes.
#[derive(Clone, Copy)]
pub(crate) enum Writes<'a> {
    Nothing,
    InPlace {
        guard: bool,
    },
    Into(ArrayRef<'a>),
    Locked {
        output: ArrayRef<'a>,
        stripes: usize,
    },
}

/// A segment a worker must have mapped for a job: its id, how, its
/// descriptor (sent the first time), and the array's layout in it.
type Attachment<'a> = (u64, Mapping, BorrowedFd<'a>, Option<Layout>);

impl<'p> Plan<'p> {
    /// A read-only job over `array` with mapper `M`.
    pub(crate) fn read<A, D, M>(pool: &Pool, array: &'p SharedArray<A, D>, payload: Vec<u8>) -> Self
    where
        A: Element,
        D: Dimension,
        M: Mapper<A, D>,
    {
        Plan {
            input: array.shared(),
            partition: pool.partition(array),
            writes: Writes::Nothing,
            entry: entry_for::<M, A, D>(),
            payload,
        }
    }

    /// The access the workers are told, and the segments they must have
    /// mapped for it, with their descriptors.
    fn access<'s>(&'s self, locks: Option<&'s Segment>) -> (Access, Vec<Attachment<'s>>)
    where
        'p: 's,
    {
        let access = match (self.writes, locks) {
            (Writes::Nothing, _) => Access::Read,
            (Writes::InPlace { guard }, _) => Access::InPlace { guard },
            (Writes::Into(out), _) => Access::Into {
                output: out.segment.id(),
            },
            (Writes::Locked { output, stripes }, Some(l)) => Access::Locked {
                output: output.segment.id(),
                locks: l.id(),
                stripes: stripes as u64,
            },
            (Writes::Locked { .. }, None) => unreachable!("a locked job gets its lock table first"),
        };
        let output = match self.writes {
            Writes::Into(o) | Writes::Locked { output: o, .. } => Some(o),
            _ => None,
        };
        let find = |id: u64| -> Attachment<'s> {
            let arrays = [Some(self.input), output];
            if let Some(a) = arrays.into_iter().flatten().find(|a| a.segment.id() == id) {
                return (
                    id,
                    Mapping::ReadOnly,
                    a.segment.fd(),
                    Some(Layout::of(a.header)),
                );
            }
            let table = locks.expect("internal: a mapping names a segment of the job");
            (id, Mapping::Locks, table.fd(), None)
        };
        let attach = access
            .mappings(self.input.segment.id())
            .into_iter()
            .map(|(id, how)| {
                let (id, _, fd, layout) = find(id);
                (id, how, fd, layout)
            })
            .collect();
        (access, attach)
    }
}

/// Settings for one job on a [`Pool`], made by [`Pool::job`]: start from the
/// pool's, change what this job needs, then run it.
#[derive(Clone, Copy)]
#[must_use = "a JobOptions does nothing until one of its run methods is called"]
pub struct JobOptions<'p> {
    pub(crate) pool: &'p Pool,
    pub(crate) settings: Settings,
    pub(crate) progress: Option<&'p ProgressFn<'p>>,
}

impl std::fmt::Debug for JobOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobOptions")
            .field("settings", &self.settings)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl<'p> JobOptions<'p> {
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
    /// let sum = pool.job().progress(&report).map_reduce(&data, |c| c.sum(), |a, b| a + b)?;
    /// assert_eq!(sum, (1 << 20) as f64);
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self, progress: &'p ProgressFn<'p>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Ends the job with [`Error::Timeout`] if it runs longer than
    /// `timeout`; the workers still mapping are killed and replaced.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }
    /// No timeout for this job, whatever the pool's.
    pub fn no_timeout(mut self) -> Self {
        self.settings.timeout = None;
        self
    }
    /// How many more times chunks lost with a dead worker are run (see
    /// [`PoolBuilder::retries`]).
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings.retries = retries;
        self
    }

    /// [`Pool::map_reduce`] with these settings.
    pub fn map_reduce<A, D, T>(
        self,
        array: &SharedArray<A, D>,
        mapper: fn(ArrayView<'_, A, D>) -> T,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<T>
    where
        A: Element,
        D: Dimension + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        self.map_reduce_with(
            array,
            FnAddrOf::from(mapper),
            call_plain::<A, D, T>,
            reducer,
        )
    }

    /// [`Pool::map_reduce_with`] with these settings.
    pub fn map_reduce_with<A, D, P, T>(
        self,
        array: &SharedArray<A, D>,
        params: P,
        mapper: MapFn<P, A, D, T>,
        reducer: impl FnMut(T, T) -> T,
    ) -> Result<T>
    where
        A: Element,
        D: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
        T: Serialize + DeserializeOwned + 'static,
    {
        Ok(self.map_reduce_reported(array, params, mapper, reducer)?.0)
    }

    /// [`map_reduce_with`](JobOptions::map_reduce_with), also returning the
    /// job's [`JobReport`].
    pub fn map_reduce_reported<A, D, P, T>(
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
        let payload = postcard::to_allocvec(&FnMapper::new(params, mapper))?;
        let plan = Plan::read::<A, D, FnMapper<P, A, D, T>>(self.pool, array, payload);
        let (partials, report) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok((fold(partials, reducer), report))
    }

    /// [`Pool::run`] with these settings.
    pub fn run<A, D, J>(self, array: &SharedArray<A, D>, job: &J) -> Result<J::Partial>
    where
        A: Element,
        D: Dimension + 'static,
        J: Job<A, D>,
    {
        Ok(self.run_reported(array, job)?.0)
    }

    /// [`run`](JobOptions::run), also returning the job's [`JobReport`].
    pub fn run_reported<A, D, J>(
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
        let payload = postcard::to_allocvec(job)?;
        let plan = Plan::read::<A, D, JobMapper<J>>(self.pool, array, payload);
        let (partials, report) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok((fold(partials, |a, b| job.reduce(a, b)), report))
    }
}

impl Settings {
    fn check(&self) -> Result<()> {
        if self.stripes == 0 || self.stripes > MAX_STRIPES {
            return Err(Error::InvalidConfig(format!(
                "stripes must be between 1 and {MAX_STRIPES}, got {}",
                self.stripes
            )));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidConfig(
                "a timeout of zero would fail every job; give a positive duration, or none".into(),
            ));
        }
        Ok(())
    }
}

/// Adapts a parameterless mapper to the parameterized form.
fn call_plain<A: Element, D: Dimension, T>(f: &FnAddrOf<A, D, T>, chunk: ArrayView<'_, A, D>) -> T {
    // SAFETY: an `FnAddrOf<A, D, T>` is only made (by `From`, in the
    // coordinator of this same executable) from a
    // `fn(ArrayView<'_, A, D>) -> T`, and this function is instantiated for
    // exactly those A, D, T.
    let f: fn(ArrayView<'_, A, D>) -> T = unsafe { f.0.resolve() };
    f(chunk)
}

/// A parameterless mapper passed as the parameter of `call_plain`.
#[derive(Serialize, serde::Deserialize)]
#[serde(transparent, bound = "")]
struct FnAddrOf<A, D, T>(
    crate::job::FnAddr,
    #[serde(skip)] crate::job::Types<A, D, T>,
);

impl<A, D, T> From<fn(ArrayView<'_, A, D>) -> T> for FnAddrOf<A, D, T> {
    fn from(f: fn(ArrayView<'_, A, D>) -> T) -> Self {
        FnAddrOf(crate::job::FnAddr::of(f as usize), std::marker::PhantomData)
    }
}

// A pool is shared between threads; jobs queue on its lock.
const _: fn() = || {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Pool>();
};

fn fold<T>(partials: Vec<T>, mut reducer: impl FnMut(T, T) -> T) -> T {
    let mut it = partials.into_iter();
    let first = it
        .next()
        .expect("internal: a partition has at least one chunk");
    it.fold(first, &mut reducer)
}

impl State {
    /// Starts workers for every empty place.
    fn start_missing(&mut self, timeout: Duration) -> Result<()> {
        let missing: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // Spawn them all first, then wait for all: start-up runs in parallel.
        let mut started = Vec::new();
        for &i in &missing {
            match spawn() {
                Ok(w) => started.push((i, w)),
                Err(e) => {
                    // Reap the ones already started: no child is left behind.
                    for (_, (mut child, chan)) in started {
                        drop(chan);
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    return Err(e);
                }
            }
        }
        let deadline = Instant::now() + timeout;
        let mut first_err = None;
        for (i, (child, chan)) in started {
            match self.handshake(i, child, chan, deadline) {
                Ok(w) => self.workers[i] = Some(w),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn handshake(
        &self,
        index: usize,
        mut child: Child,
        chan: Channel,
        deadline: Instant,
    ) -> Result<Worker> {
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            Error::WorkerStart(format!(
                "{why} (worker {status}). If this is a test binary, add `shmr::test_worker!();` to the test file; \
                 in a program, call shmr::init() first thing in main"
            ))
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if !channel::wait_any(&[chan.as_fd()], left)?[0] {
            return Err(fail(
                &mut child,
                format!("no ready message within {:?}", left),
            ));
        }
        let pid = match chan.recv::<FromWorker>() {
            Ok(Some((
                FromWorker::Ready {
                    pid,
                    protocol,
                    probe,
                },
                _,
            ))) => {
                if protocol != PROTOCOL || probe != crate::worker::probe() {
                    return Err(fail(
                        &mut child,
                        "the worker runs a different build of this program (was the executable replaced?)".into(),
                    ));
                }
                pid
            }
            Ok(_) => {
                return Err(fail(
                    &mut child,
                    "the worker exited before it was ready".into(),
                ));
            }
            Err(e) => return Err(fail(&mut child, e.to_string())),
        };
        let setup = ToWorker::Setup {
            index: index as u32,
            workers: self.slots.workers() as u32,
            slot_bytes: self.slots.slot_bytes() as u64,
        };
        if let Err(e) = chan.send(&setup, &[self.slots.segment().fd()]) {
            return Err(fail(
                &mut child,
                format!("could not send the worker its setup: {e}"),
            ));
        }
        Ok(Worker {
            child,
            chan,
            pid,
            mapped: HashSet::new(),
        })
    }

    /// Sends the encoded `Map` message of job `job` over `array` to every
    /// worker and waits until each has replied or died. Returns the deaths;
    /// a failure reported by a worker, or the deadline passing, is the error.
    fn run(&mut self, spec: RoundSpec<'_>) -> Result<Round> {
        let RoundSpec {
            job,
            message,
            attach,
            partition,
            deadline,
            locks,
            progress,
        } = spec;
        self.slots.reset();
        // The resets must be visible to workers woken by the message below.
        fence(Ordering::Release);
        let mut pending = Vec::new();
        let mut deaths = Vec::new();
        let mut error: Option<Error> = None;
        for i in 0..self.workers.len() {
            let Some(w) = self.workers[i].as_mut() else {
                continue;
            };
            let mut sent = Ok(());
            for (segment, how, fd, layout) in attach {
                let (segment, how) = (*segment, *how);
                if sent.is_ok() && !w.mapped.contains(&(segment, how)) {
                    let layout = layout.clone();
                    let msg = ToWorker::Attach {
                        segment,
                        how,
                        layout,
                    };
                    sent = w.chan.send(&msg, &[*fd]);
                    w.mapped.insert((segment, how));
                }
            }
            let sent = sent.and_then(|()| w.chan.send_encoded(message, &[]));
            match sent {
                Ok(()) => pending.push(i),
                // Dead before the job reached it: it mapped nothing.
                Err(_) => deaths.push(self.bury(i)),
            }
        }
        // A short job is over in microseconds: watch the finished count for
        // a moment rather than sleep in poll and pay a wake-up on the
        // critical path. Long jobs fall through to poll after SPIN.
        const SPIN: Duration = Duration::from_micros(30);
        let spin_start = Instant::now();
        while (self.slots.finished().load(Ordering::Acquire) as usize) < pending.len()
            && spin_start.elapsed() < SPIN
        {
            std::hint::spin_loop();
        }
        while !pending.is_empty() {
            let mut wait = POLL_PERIOD;
            if let Some(tick) = progress {
                tick(self.slots.claims().load(Ordering::Relaxed));
                wait = wait.min(PROGRESS_PERIOD);
            }
            if let Some((timeout, at)) = deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    if let Some(t) = locks {
                        t.abort().store(1, Ordering::Relaxed);
                    }
                    return Err(self.time_out(&pending, timeout, partition));
                }
                wait = wait.min(left);
            }
            let ready = {
                let fds: Vec<BorrowedFd<'_>> =
                    pending.iter().map(|&i| self.live(i).chan.as_fd()).collect();
                channel::wait_any(&fds, wait)?
            };
            let mut still = Vec::new();
            for (&i, r) in pending.iter().zip(ready) {
                if !r {
                    // A worker whose socket stays open may still be dead: a
                    // process it forked can hold the socket.
                    let w = self.workers[i].as_mut().expect("pending worker exists");
                    if matches!(w.child.try_wait(), Ok(Some(_))) {
                        deaths.push(self.bury(i));
                        abort(locks);
                    } else {
                        still.push(i);
                    }
                    continue;
                }
                match self.live(i).chan.recv::<FromWorker>() {
                    Ok(Some((FromWorker::Done { job: j }, _))) if j == job => {
                        fence(Ordering::Acquire);
                    }
                    Ok(Some((FromWorker::Failed { job: j, failure }, _))) if j == job => {
                        error.get_or_insert(failure.into());
                    }
                    Ok(Some((other, _))) => {
                        let e = Error::Protocol(format!("unexpected reply {other:?}"));
                        self.bury(i);
                        error.get_or_insert(e);
                    }
                    Ok(None) | Err(_) => {
                        deaths.push(self.bury(i));
                        abort(locks);
                    }
                }
            }
            pending = still;
        }
        Ok(Round { deaths, error })
    }

    /// The lock table, with room for `stripes` stripes.
    fn lock_table(&mut self, stripes: usize) -> Result<Arc<Segment>> {
        if let Some(t) = &self.locks
            && t.len() >= lock::table_bytes(stripes)
        {
            return Ok(t.clone());
        }
        let table = Arc::new(Segment::create(lock::table_bytes(
            stripes.max(lock::DEFAULT_STRIPES),
        ))?);
        if let Some(old) = self.locks.replace(table.clone()) {
            self.release(old.id());
        }
        Ok(table)
    }

    /// Tells the workers that mapped segment `id` to unmap it.
    fn release(&mut self, id: u64) {
        for w in self.workers.iter_mut().flatten() {
            let before = w.mapped.len();
            w.mapped.retain(|&(s, _)| s != id);
            if w.mapped.len() != before {
                // A failed send means the worker is dead; the next job
                // notices and replaces it.
                let _ = w.chan.send(&ToWorker::Release { segment: id }, &[]);
            }
        }
    }

    fn live(&self, i: usize) -> &Worker {
        self.workers[i]
            .as_ref()
            .expect("internal: a pending worker is alive")
    }

    /// The deadline passed with `pending` workers still mapping: stop the
    /// job's claiming, kill them, and say which chunk was the oldest.
    fn time_out(&mut self, pending: &[usize], timeout: Duration, partition: &Partition) -> Error {
        self.slots
            .claims()
            .fetch_max(STOP_CLAIMS, Ordering::Relaxed);
        let stuck = pending.iter().filter_map(|&i| self.bury(i).chunk).min();
        Error::Timeout {
            timeout,
            chunk: stuck,
            rows: stuck.map(|c| partition.chunk(c)),
            killed: pending.len(),
        }
    }

    /// Decodes every partial committed in this round, by live and dead
    /// workers alike, into `out`, checking that no chunk was mapped twice.
    ///
    /// # Safety
    /// Every worker given the round's job has replied or is dead, and none
    /// is given another job (nor replaced) meanwhile.
    unsafe fn collect<T: DeserializeOwned>(&self, out: &mut [Option<T>]) -> Result<()> {
        let chunks = out.len();
        for slot in 0..self.slots.workers() {
            // SAFETY: forwarded from the caller.
            for (chunk, bytes) in unsafe { self.slots.records(slot)? } {
                let place = usize::try_from(chunk)
                    .ok()
                    .and_then(|c| out.get_mut(c))
                    .ok_or_else(|| {
                        Error::Protocol(format!("result for chunk {chunk} of {chunks}"))
                    })?;
                if place.is_some() {
                    return Err(Error::Protocol(format!("chunk {chunk} was mapped twice")));
                }
                *place = Some(postcard::from_bytes(bytes)?);
            }
        }
        Ok(())
    }

    /// Removes a dead (or misbehaving, or stuck) worker, kills and reaps it,
    /// and says how it ended and what it was mapping. Its place is refilled
    /// by `start_missing`.
    fn bury(&mut self, i: usize) -> Death {
        let Some(mut w) = self.workers[i].take() else {
            return Death {
                pid: 0,
                slot: i,
                status: "already gone".into(),
                chunk: None,
            };
        };
        let _ = w.child.kill();
        let status = w
            .child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        // Dead and reaped: the word is final.
        let chunk = self
            .slots
            .in_progress(i)
            .load(Ordering::Acquire)
            .checked_sub(1);
        Death {
            pid: w.pid,
            slot: i,
            status,
            chunk,
        }
    }
}

/// How long the coordinator sleeps between checks while a job runs; bounds
/// how late it notices a worker that died without closing its socket.
const POLL_PERIOD: Duration = Duration::from_millis(200);
/// How often a job's progress callback is called.
const PROGRESS_PERIOD: Duration = Duration::from_millis(50);

/// A job's progress callback: chunks claimed so far, and chunks in all.
pub type ProgressFn<'a> = dyn Fn(u64, u64) + Sync + 'a;

/// One round of a job, as `State::run` sends and watches it.
struct RoundSpec<'a> {
    job: u64,
    /// The encoded `Map` message, the same for every worker.
    message: &'a [u8],
    /// Segments each worker must have mapped first.
    attach: &'a [Attachment<'a>],
    partition: &'a Partition,
    deadline: Option<(Duration, Instant)>,
    /// A locked job's table, whose abort flag a death raises.
    locks: Option<&'a LockTable<'a>>,
    /// Called with the chunk counter while the round runs.
    progress: Option<&'a dyn Fn(u64)>,
}

/// What happened to the workers in one round of a job.
struct Round {
    deaths: Vec<Death>,
    /// The first failure a worker reported (a panic, say).
    error: Option<Error>,
}

/// A job whose worker died holding a lock must not leave the others waiting
/// for it: they see this flag while they wait, and give up.
fn abort(locks: Option<&LockTable<'_>>) {
    if let Some(t) = locks {
        t.abort().store(1, Ordering::Relaxed);
    }
}

/// A worker that died during a round.
#[derive(Debug)]
struct Death {
    pid: u32,
    /// Its slot index (its place in the pool).
    slot: usize,
    status: String,
    /// The chunk it was mapping (lost unless it had just committed it).
    chunk: Option<u64>,
}

/// Rounds of one job, beyond its retries, in which every worker that died
/// did so between chunks.
const MAX_IDLE_DEATH_ROUNDS: u32 = 2;

impl Death {
    fn error(&self, partition: &Partition, attempts: u32) -> Error {
        Error::WorkerDied {
            pid: self.pid,
            status: self.status.clone(),
            chunk: self.chunk,
            rows: self.chunk.map(|c| partition.chunk(c)),
            attempts,
        }
    }
}

/// Starts one worker process: this executable, with the control socket at
/// `WORKER_FD`. The arguments select the worker entry test when this is a
/// libtest binary; a program that calls `shmr::init()` first never reads them.
fn spawn() -> Result<(Child, Channel)> {
    let (chan, theirs) = Channel::pair()?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args([
        TEST_ENTRY,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(WORKER_ENV, std::process::id().to_string())
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    // What a mapper prints goes to our stderr, so that a program's stdout
    // (JSON, say) is never mixed with it; `init` moves it onto stdout.
    let output = rustix::io::dup(rustix::stdio::stderr())
        .map_err(Error::os("duplicating stderr for a worker"))?;
    cmd.fd_mappings(vec![
        FdMapping {
            parent_fd: theirs,
            child_fd: WORKER_FD,
        },
        FdMapping {
            parent_fd: output,
            child_fd: OUTPUT_FD,
        },
    ])
    .map_err(|_| Error::Protocol("descriptor mapping collision".into()))?;
    let child = cmd
        .spawn()
        .map_err(|e| Error::WorkerStart(format!("could not execute /proc/self/exe: {e}")))?;
    Ok((child, chan))
}

impl Inner {
    fn flush_released(&self, state: &mut State) {
        let ids: Vec<u64> = std::mem::take(&mut *lock(&self.released));
        for id in ids {
            state.release(id);
        }
    }
}

/// Stops and reaps every worker: when the pool is dropped, and also when
/// `build` fails after some workers had started.
impl Drop for State {
    fn drop(&mut self) {
        for w in self.workers.iter().flatten() {
            let _ = w.chan.send(&ToWorker::Shutdown, &[]);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for w in self.workers.iter_mut().flatten() {
            loop {
                match w.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    _ => {
                        let _ = w.child.kill();
                        let _ = w.child.wait();
                        break;
                    }
                }
            }
        }
    }
}

/// Pools that may hold mappings of arrays, told when an array is dropped.
fn registry() -> MutexGuard<'static, Vec<Weak<Inner>>> {
    static POOLS: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
    lock(&POOLS)
}

/// Called when an array is dropped: every pool tells its workers to unmap
/// it, now if the pool is idle, or when its current job ends.
pub(crate) fn forget_segment(id: u64) {
    let pools: Vec<Arc<Inner>> = {
        let mut reg = registry();
        reg.retain(|w| w.strong_count() > 0);
        reg.iter().filter_map(Weak::upgrade).collect()
    };
    for pool in pools {
        lock(&pool.released).push(id);
        if let Ok(mut state) = pool.state.try_lock() {
            pool.flush_released(&mut state);
        }
    }
}

/// The pool behind the free functions [`map_reduce`](crate::map_reduce) and
/// friends, started on first use with default settings and kept for the life
/// of the process (its workers exit when the process does).
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let pool = shmr::global_pool()?;
/// assert!(pool.workers() >= 1);
/// # Ok(()) }
/// ```
pub fn global_pool() -> Result<&'static Pool> {
    static GLOBAL: OnceLock<Pool> = OnceLock::new();
    static START: Mutex<()> = Mutex::new(());
    if let Some(p) = GLOBAL.get() {
        return Ok(p);
    }
    let _one_at_a_time = lock(&START);
    if let Some(p) = GLOBAL.get() {
        return Ok(p);
    }
    let pool = Pool::new()?;
    Ok(GLOBAL.get_or_init(|| pool))
}
