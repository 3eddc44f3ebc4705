//! The same jobs across machines, through MPI (cargo feature `mpi`).
//!
//! Two levels, as on any cluster: MPI ranks across machines, shmr's worker
//! processes and shared memory inside each. A [`World`] is this rank: MPI
//! started, and a pool of workers sized to this rank's share of the
//! machine's cores (the cores divided among the ranks MPI placed on the
//! same machine, found with `MPI_Comm_split_type(SHARED)`). Each rank holds
//! a contiguous block of rows of the global array ([`RankArray`]: read
//! from its rows of an `.npy` file, or made by the program); a job runs on
//! each rank's block with the ordinary builder, and the ranks' results are
//! folded up a tree in rank order, or, for keyed jobs, shuffled by key so
//! that each rank keeps the keys it owns (see
//! [`JobBuilder::across`](crate::JobBuilder::across)). Everything is the
//! single-machine code path plus that exchange, in steps of point-to-point
//! messages, after a meeting in which a job's timeout ends the wait for a
//! rank that does not come.
//!
//! Launch with `mpirun -np N program` (or Slurm's `srun`); a program run
//! without `mpirun` is a world of one rank. See `docs/distributed.md`.
//!
//! # Example
//! ```no_run
//! use shmr::distributed::World;
//!
//! fn main() -> Result<(), shmr::Error> {
//!     shmr::init(); // workers are diverted here, before MPI starts
//!     let world = World::init()?;
//!     // SAFETY: no one truncates or writes the file while it is mapped.
//!     let part = unsafe { world.open_npy::<f64, ndarray::Ix1>("data.npy")? };
//!     let sum = world.on(&part).run(&shmr::builtin::Sum)?; // the same on every rank
//!     if world.rank() == 0 {
//!         println!("sum of {} values: {sum}", part.total_rows());
//!     }
//!     Ok(())
//! }
//! ```

mod transport;

pub use transport::{MESSAGE_LIMIT, Traffic};

use crate::coordinator::outcomes;
use crate::{Error, JobBuilder, NpyMode, Pool, PoolBuilder, Result, SharedArray};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use ndarray::{Dimension, IxDyn};
use std::cell::Cell;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};
use transport::Collective;

/// This process as one rank of an MPI job, with its own pool of workers.
///
/// Made once per program ([`World::init`]); dropping it stops the workers,
/// then MPI (`MPI_Finalize`).
pub struct World {
    // Fields drop in order: the workers go before MPI does.
    pool: Pool,
    world: SimpleCommunicator,
    node_ranks: usize,
    init: Duration,
    last_exchange: Cell<Duration>,
    last_wait: Cell<Duration>,
    traffic: Cell<Traffic>,
    /// Steps of point-to-point messages so far, the same count on every
    /// rank: each step's messages carry its number in their tag.
    steps: Cell<u64>,
    message_limit: Cell<usize>,
    _universe: Universe,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .field("node_ranks", &self.node_ranks)
            .field("workers", &self.pool.workers())
            .finish_non_exhaustive()
    }
}

/// Ranks the launcher says it started this process among, from the
/// variables a launcher sets for each process it starts (Open MPI's
/// `mpirun`, MPICH's Hydra, PMIx, Slurm's `srun`): to tell a binary started
/// by another MPI's launcher, where each process is a world of one. Each
/// size counts only beside its launcher's own per-process rank: the
/// variables of an allocation (`SLURM_NTASKS` in every shell of `salloc`
/// or of an `sbatch` script) say what may be launched, not that this
/// process was, and a program run there without `srun` is a world of one.
fn launcher_ranks() -> Option<(String, usize)> {
    const LAUNCHED: [(&str, &str); 4] = [
        ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
        ("PMI_SIZE", "PMI_RANK"),
        ("PMIX_SIZE", "PMIX_RANK"),
        // srun's step, not the allocation: set for the tasks it starts.
        ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
    ];
    LAUNCHED.into_iter().find_map(|(size, rank)| {
        std::env::var_os(rank)?;
        if size.starts_with("SLURM") {
            std::env::var_os("SLURM_STEP_ID")?;
        }
        let n = std::env::var(size).ok()?.parse().ok()?;
        Some((size.to_string(), n))
    })
}

impl World {
    /// Starts MPI and this rank's pool with its share of the machine's
    /// cores (at least one worker).
    ///
    /// # Errors
    /// [`Error::Mpi`] if MPI was started already, or if the launcher
    /// started more ranks than MPI sees (a binary built against one MPI
    /// and started by another's `mpirun` runs as separate one-rank jobs,
    /// each computing the whole answer alone); the pool's errors.
    pub fn init() -> Result<World> {
        Self::with_pool(Pool::builder())
    }

    /// [`init`](World::init) with the pool's settings given; its worker
    /// count, if set, is used as it is.
    pub fn with_pool(pool: PoolBuilder) -> Result<World> {
        let t = Instant::now();
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| Error::Mpi("MPI was initialized already: make one World".into()))?;
        let init = t.elapsed();
        let world = universe.world();
        let size = world.size() as usize;
        if let Some((var, n)) = launcher_ranks()
            && n != size
        {
            return Err(Error::Mpi(format!(
                "the launcher started {n} ranks ({var}={n}) but this MPI sees a world of {size}: \
                 the program was built against another MPI than the mpirun that started it; \
                 run it with the mpirun of the MPI it was built with (check `mpirun --version` \
                 and the mpi crate's build)"
            )));
        }
        let node_ranks = world.split_shared(world.rank()).size() as usize;
        let pool = if pool.workers.is_some() {
            pool
        } else {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            pool.workers((cores / node_ranks).max(1))
        }
        .build();
        // Every rank learns whether every other started its pool: a rank
        // that returned here alone would leave the others waiting in their
        // first collective.
        let mine = pool.as_ref().map(|_| &()).map_err(ToString::to_string);
        let all = outcomes::<(), ()>(&Collective(&world), mine);
        let pool = pool?;
        all?;
        Ok(World {
            pool,
            world,
            node_ranks,
            init,
            last_exchange: Cell::new(Duration::ZERO),
            last_wait: Cell::new(Duration::ZERO),
            traffic: Cell::new(Traffic::default()),
            steps: Cell::new(0),
            message_limit: Cell::new(MESSAGE_LIMIT),
            _universe: universe,
        })
    }

    /// This rank's outcome of some step of its own, agreed with every
    /// other rank's: `Ok` on every rank only if it is `Ok` on all of them,
    /// otherwise an error on every rank, this rank's own where it failed,
    /// [`Error::Rank`] naming the first that failed on the others. A
    /// collective call: every rank makes it, at the same point.
    ///
    /// For anything a rank does alone before the next collective (opening
    /// or making its part of the data, checking its arguments): a rank
    /// that returned early on its own error would leave the others waiting
    /// in that collective forever. Jobs and [`World::from_rows`] agree on
    /// their own outcomes already.
    ///
    /// # Example
    /// ```no_run
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let world = shmr::distributed::World::init()?;
    /// let path = format!("part-{}.bin", world.rank());
    /// // Fails on every rank, naming the rank whose file is missing.
    /// let len = world.all_ok(std::fs::metadata(&path).map(|m| m.len()).map_err(|e| {
    ///     shmr::Error::File { path: path.clone().into(), reason: e.to_string() }
    /// }))?;
    /// # let _ = len; Ok(()) }
    /// ```
    pub fn all_ok<T>(&self, local: Result<T>) -> Result<T> {
        let all = outcomes::<(), ()>(
            self,
            local.as_ref().map(|_| &()).map_err(ToString::to_string),
        );
        let value = local?;
        all?;
        Ok(value)
    }

    /// This rank, from 0.
    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    /// How many ranks there are.
    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// How many ranks share this machine (this one included).
    pub fn node_ranks(&self) -> usize {
        self.node_ranks
    }

    /// This rank's pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// How long `MPI_Init` took.
    pub fn init_time(&self) -> Duration {
        self.init
    }

    /// How long the last job's exchange between ranks took on this rank,
    /// once all had arrived: its steps of messages (the tree, or the
    /// shuffle), and any swap the program made after it.
    pub fn last_exchange(&self) -> Duration {
        self.last_exchange.get()
    }

    /// What this rank sent and received in the last job's exchange.
    pub fn last_traffic(&self) -> Traffic {
        self.traffic.get()
    }

    /// Sends messages longer than `bytes` as several of `bytes` each
    /// (default [`MESSAGE_LIMIT`], 1 GiB, under MPI's 2 GiB limit); every
    /// rank must set the same. For tests of long messages with short ones.
    pub fn set_message_limit(&self, bytes: usize) {
        self.message_limit.set(bytes.clamp(1, MESSAGE_LIMIT));
    }

    /// Ends every rank of the MPI job with `code` (`MPI_Abort`): after an
    /// [`Error::Timeout`] between ranks, whose messages MPI cannot take
    /// back, when the program cannot simply return an error from `main`.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// How long this rank waited for the others to finish their parts of
    /// the last job (0 for the slowest).
    pub fn last_wait(&self) -> Duration {
        self.last_wait.get()
    }

    /// Waits until every rank gets here.
    pub fn barrier(&self) {
        self.arrive();
    }

    /// This rank's rows of `total` rows: contiguous blocks in rank order,
    /// the first `total % size` ranks one row longer.
    pub fn rows(&self, total: usize) -> Range<usize> {
        let (size, rank) = (self.size(), self.rank());
        let (base, extra) = (total / size, total % size);
        let start = rank * base + rank.min(extra);
        start..start + base + usize::from(rank < extra)
    }

    /// Starts a job on this rank's block, across all ranks: the ordinary
    /// builder, ended by the ordinary calls; every rank must make the same
    /// calls in the same order.
    pub fn on<'a, A: crate::Element, D: Dimension + 'static>(
        &'a self,
        part: &'a RankArray<A, D>,
    ) -> JobBuilder<'a, SharedArray<A, D>> {
        self.pool.on(&part.local).across(self)
    }

    /// Maps this rank's rows of an `.npy` file (the whole file is opened on
    /// every rank; only these rows are read). Every rank must call it with
    /// its own path to the same data; all ranks check together that each
    /// opened it and that they agree on its element type and shape.
    ///
    /// # Safety
    /// As for [`SharedArray::open_npy`]: no one truncates the file, or
    /// writes it, while it is mapped.
    ///
    /// # Errors
    /// On every rank: [`Error::Rank`] naming a rank that could not open its
    /// file (missing on that host, say) with its reason, or [`Error::Mpi`]
    /// if the ranks' files differ in element type or shape.
    // The one unsafe item outside the low layers: it passes the file
    // mapping's contract on to the caller, as `SharedArray::open_npy` does.
    #[allow(unsafe_code)]
    pub unsafe fn open_npy<A: crate::Element, D: Dimension + 'static>(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<RankArray<A, D>> {
        let path = path.as_ref();
        let local = (|| {
            let h = crate::npy_header(path)?;
            if h.dtype() != A::DTYPE || D::NDIM.is_some_and(|n| n != h.shape().len()) {
                return Err(Error::TypeMismatch {
                    expected: format!("{} with {:?} axes", A::DTYPE, D::NDIM),
                    found: format!("{} of shape {:?}", h.dtype(), h.shape()),
                });
            }
            let shape = h.shape().to_vec();
            let total = shape.first().copied().unwrap_or(1);
            let rows = self.rows(total);
            let row_bytes = shape.iter().skip(1).product::<usize>() * A::DTYPE.size();
            let mut mine = shape.clone();
            if let Some(first) = mine.first_mut() {
                *first = rows.len();
            }
            let dim = D::from_dimension(&IxDyn(&mine))
                .ok_or_else(|| Error::InvalidConfig(format!("shape {shape:?}")))?;
            let offset = (h.offset() + rows.start * row_bytes) as u64;
            // SAFETY: the caller's promise, passed on.
            let local =
                unsafe { SharedArray::<A, D>::open_raw(path, offset, dim, NpyMode::ReadOnly)? };
            Ok((local, rows, shape))
        })();
        self.agree(local)
    }

    /// This rank's block made by the program: `local` holds rows `rows` of
    /// a global array of `shape` (rows along axis 0). All ranks check
    /// together that the blocks tile the rows in rank order and that they
    /// agree on element type and shape.
    pub fn from_rows<A: crate::Element, D: Dimension + 'static>(
        &self,
        local: SharedArray<A, D>,
        rows: Range<usize>,
        shape: &[usize],
    ) -> Result<RankArray<A, D>> {
        self.agree(Ok((local, rows, shape.to_vec())))
    }

    /// Every rank's block checked against every other's, on every rank.
    fn agree<A: crate::Element, D: Dimension>(
        &self,
        local: Result<Block<A, D>>,
    ) -> Result<RankArray<A, D>> {
        /// What a rank says of its block: element type, global shape, its
        /// rows, and its block's length along axis 0.
        type Said = (String, Vec<usize>, usize, usize, Option<usize>);
        let mine: std::result::Result<Said, String> = match &local {
            Ok((a, rows, shape)) => Ok((
                A::DTYPE.to_string(),
                shape.clone(),
                rows.start,
                rows.end,
                a.shape().first().copied(),
            )),
            Err(e) => Err(e.to_string()),
        };
        let all = outcomes::<Said, Said>(self, mine.as_ref().map_err(Clone::clone));
        let (array, rows, shape) = local?;
        let total = shape.first().copied().unwrap_or(1);
        let mut next = 0;
        for (rank, (dtype, their_shape, start, end, len)) in all?.into_iter().enumerate() {
            if dtype != A::DTYPE.to_string() || their_shape != shape {
                return Err(Error::Mpi(format!(
                    "rank {rank} has an array of {dtype} of shape {their_shape:?}, rank {} one of \
                     {} of shape {shape:?}: every rank must open the same data",
                    self.rank(),
                    A::DTYPE
                )));
            }
            if start != next || end < start || end > total || len != Some(end - start) {
                return Err(Error::Mpi(format!(
                    "rank {rank} holds rows {start}..{end} in a block of {len:?} rows; the \
                     ranks' blocks must tile rows 0..{total} in rank order (use World::rows)"
                )));
            }
            next = end;
        }
        if next != total {
            return Err(Error::Mpi(format!(
                "the ranks' blocks end at row {next} of {total}"
            )));
        }
        Ok(RankArray {
            local: array,
            rows,
            shape,
        })
    }
}

/// A rank's block as it is opened: the array, its rows, the global shape.
type Block<A, D> = (SharedArray<A, D>, Range<usize>, Vec<usize>);

/// One rank's block of rows of a global array, and where it lies.
#[derive(Debug)]
pub struct RankArray<A: crate::Element, D: Dimension> {
    local: SharedArray<A, D>,
    rows: Range<usize>,
    shape: Vec<usize>,
}

impl<A: crate::Element, D: Dimension> RankArray<A, D> {
    /// This rank's rows, as an ordinary shared array.
    pub fn local(&self) -> &SharedArray<A, D> {
        &self.local
    }

    /// Which rows of the global array they are.
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }

    /// Rows of the global array.
    pub fn total_rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// The global array's shape.
    pub fn global_shape(&self) -> &[usize] {
        &self.shape
    }
}
