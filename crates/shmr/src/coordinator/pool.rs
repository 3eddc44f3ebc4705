//! The pool of worker processes as users see it: its settings
//! (`PoolBuilder`), the `Pool` and the global one. Its workers are started,
//! replaced and driven through a job's rounds in `state.rs`; every job
//! enters through `JobOptions::run` (`options.rs`) and runs in `round.rs`.

use super::settings::{Settings, WorkerCommand};
use super::state::{State, guard};
use crate::error::{Error, Result};
use crate::memory::Element;
use crate::memory::SharedArray;
use crate::memory::release;
use crate::shm::DEFAULT_STRIPES;
use crate::shm::{ChunkSize, Partition};
use crate::shm::{MAX_SLOT_BYTES, MIN_SLOT_BYTES, Slots};
use ndarray::Dimension;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Default size of each worker's result slot.
pub const DEFAULT_SLOT_BYTES: usize = 4 << 20;

/// Most worker processes one pool may have. One worker per core is the
/// rule; far more only costs memory and start-up time, and a mistyped count
/// (100000) should be an error, not a fork bomb.
pub const MAX_WORKERS: usize = 1024;

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
    pub(crate) workers: Option<usize>,
    pub(crate) chunk: ChunkSize,
    pub(crate) slot_bytes: usize,
    pub(crate) max_slot_bytes: usize,
    pub(crate) start_timeout: Duration,
    pub(crate) settings: Settings,
    pub(crate) command: Option<WorkerCommand>,
}

/// Default number of times the chunks lost with a dead worker are run again.
pub const DEFAULT_RETRIES: u32 = 2;

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: None,
            chunk: ChunkSize::default(),
            slot_bytes: DEFAULT_SLOT_BYTES,
            max_slot_bytes: MAX_SLOT_BYTES,
            start_timeout: Duration::from_secs(30),
            settings: Settings {
                timeout: None,
                retries: DEFAULT_RETRIES,
                stripes: DEFAULT_STRIPES,
                guard_writes: false,
            },
            command: None,
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: the CPUs this process may use).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }
    /// How arrays are cut into chunks (default [`ChunkSize::Auto`]: about
    /// 1 MiB of data, at least 32 chunks down to 64 KiB).
    pub fn chunk_size(mut self, chunk: ChunkSize) -> Self {
        self.chunk = chunk;
        self
    }
    /// Bytes of each worker's result slot at the start (default 4 MiB; the
    /// pages are reserved up front). A slot is a ring the coordinator
    /// empties as it folds, so it holds a few partials at a time, not all
    /// of a job's; a partial larger than the ring makes the slots grow (to
    /// twice it) and its chunk run again, up to
    /// [`max_slot_bytes`](PoolBuilder::max_slot_bytes).
    pub fn slot_bytes(mut self, bytes: usize) -> Self {
        self.slot_bytes = bytes;
        self
    }
    /// The largest each worker's slot may grow to (default 1 TiB: in
    /// practice, the memory the machine has). A partial that would need
    /// more is [`Error::SlotOverflow`].
    pub fn max_slot_bytes(mut self, bytes: usize) -> Self {
        self.max_slot_bytes = bytes;
        self
    }
    /// How long a new worker may take to report ready (default 30 s;
    /// `Duration::MAX` means no limit).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Ends any job that runs longer than `timeout` with
    /// [`Error::Timeout`], killing and replacing the workers still mapping
    /// (default: no timeout; `Duration::MAX` also means none).
    /// A job's builder ([`Pool::on`]) overrides it for one job.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }
    /// How many more times the chunks lost with a worker that died are run,
    /// on a fresh worker, before the job fails with [`Error::WorkerDied`]
    /// (default [`DEFAULT_RETRIES`]). A panicking mapper is never retried:
    /// it would panic again. A job's builder ([`Pool::on`]) overrides it for one job.
    pub fn retries(mut self, retries: u32) -> Self {
        self.settings.retries = retries;
        self
    }

    /// Starts each worker as `program args..` instead of as this
    /// executable again. For a host whose executable is not the program
    /// that uses shmr, such as a Python interpreter that loads shmr as an
    /// extension module: the command must load the same build of shmr (the
    /// same library file) and call [`init`](crate::init) before anything
    /// else, which serves as a worker and never returns. A worker of
    /// another build is refused at its handshake
    /// ([`Error::WorkerStart`]).
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// // What the default does, written out: this program, again.
    /// let exe = std::env::current_exe().expect("this program");
    /// let pool = shmr::Pool::builder()
    ///     .workers(1)
    ///     .worker_command(exe, std::env::args_os().skip(1))
    ///     .build();
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn worker_command<I>(mut self, program: impl Into<std::path::PathBuf>, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString>,
    {
        self.command = Some(WorkerCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether in-place jobs write-protect all but the chunk each worker
    /// is mapping (default: no); see [`JobBuilder::guard_writes`](crate::JobBuilder::guard_writes).
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
        if workers > MAX_WORKERS {
            return Err(Error::InvalidConfig(format!(
                "workers({workers}) is more than the {MAX_WORKERS} worker processes a pool may have; \
                 one per CPU core is usually best"
            )));
        }
        self.chunk.check()?;
        if self.slot_bytes < MIN_SLOT_BYTES || self.slot_bytes > MAX_SLOT_BYTES {
            return Err(Error::InvalidConfig(format!(
                "slot_bytes({}) must be between {MIN_SLOT_BYTES} and {MAX_SLOT_BYTES}",
                self.slot_bytes
            )));
        }
        if self.max_slot_bytes < self.slot_bytes || self.max_slot_bytes > MAX_SLOT_BYTES {
            return Err(Error::InvalidConfig(format!(
                "max_slot_bytes({}) must be between slot_bytes ({}) and {MAX_SLOT_BYTES}",
                self.max_slot_bytes, self.slot_bytes
            )));
        }
        if self.start_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "start_timeout(0) would fail every worker start; give a positive duration, \
                 or Duration::MAX for no limit"
                    .into(),
            ));
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
            command: self.command.clone(),
        };
        state.start_missing(self.start_timeout)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            released: Mutex::new(Vec::new()),
            config: self,
            workers,
        });
        let listener: Weak<dyn release::Listener> = Arc::downgrade(&inner) as _;
        release::listen(listener);
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
///     let total = pool.on(&data).map_reduce(|c| c.sum(), |a, b| a + b)?;
///     assert_eq!(total, 5050);
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct Pool {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    /// Segments dropped since the workers were last told.
    released: Mutex<Vec<u64>>,
    pub(crate) config: PoolBuilder,
    workers: usize,
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

    /// Bytes of each worker's result slot now: what the pool started with,
    /// or more if a partial made the slots grow. The slots' shared memory
    /// is this times [`workers`](Pool::workers), whatever the jobs' sizes.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).slot_bytes(1 << 16).build()?;
    /// assert_eq!(pool.slot_bytes(), 1 << 16);
    /// # Ok(()) }
    /// ```
    pub fn slot_bytes(&self) -> usize {
        guard(&self.inner.state).slots.slot_bytes()
    }

    /// The chunk size jobs on this pool use.
    pub fn chunk_size(&self) -> ChunkSize {
        self.inner.config.chunk
    }

    /// Process ids of the live workers (for monitoring).
    pub fn worker_pids(&self) -> Vec<u32> {
        guard(&self.inner.state)
            .workers
            .iter()
            .flatten()
            .map(|w| w.pid)
            .collect()
    }

    /// How `array` is cut into chunks on this pool, with the pool's chunk
    /// size: what a job over it alone, with no chunk size of its own, runs.
    #[deprecated(
        since = "0.1.0",
        note = "ignores a job's own chunk size, a records job's default and arrays read \
                together; use the job's own: `pool.on(&a)....partition()`"
    )]
    pub fn partition<A: Element, D: Dimension>(&self, array: &SharedArray<A, D>) -> Partition {
        Partition::of(array.shape(), A::DTYPE.size(), self.inner.config.chunk)
    }
}

impl Inner {
    pub(crate) fn flush_released(&self, state: &mut State) {
        let ids: Vec<u64> = std::mem::take(&mut *guard(&self.released));
        for id in ids {
            state.release(id);
        }
    }

    /// Sends the queued releases now if no job holds the pool. Called after
    /// queueing one and after every job: an array dropped while a job ran
    /// is released when that job ends, not whenever the next one starts
    /// (which may be never). Either this finds the pool idle, or whoever
    /// holds it calls this again when done, so nothing stays queued.
    pub(crate) fn flush_if_idle(&self) {
        if guard(&self.released).is_empty() {
            return;
        }
        if let Ok(mut state) = self.state.try_lock() {
            self.flush_released(&mut state);
        }
    }
}

/// A pool hears of every dropped array: its workers may have it mapped.
/// They are told to unmap it now if the pool is idle, or when its current
/// job ends.
impl release::Listener for Inner {
    fn released(&self, id: u64) {
        guard(&self.released).push(id);
        self.flush_if_idle();
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
    let _one_at_a_time = guard(&START);
    if let Some(p) = GLOBAL.get() {
        return Ok(p);
    }
    let pool = Pool::new()?;
    Ok(GLOBAL.get_or_init(|| pool))
}
