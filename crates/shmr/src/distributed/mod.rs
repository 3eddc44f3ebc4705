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

use crate::coordinator::outcomes;
use crate::{Deadline, Error, JobBuilder, NpyMode, Pool, PoolBuilder, Ranks, Result, SharedArray};
use mpi::Count;
use mpi::datatype::Equivalence;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::request::StaticScope;
use mpi::topology::Process;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use ndarray::{Dimension, IxDyn};
use std::cell::Cell;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// What one rank sent and received between ranks in the last job (from
/// the meeting before its exchange on, and whatever the program swapped
/// after it, a [`Keyed::gather`](crate::keyed::Keyed::gather) say): the
/// numbers the table in docs/distributed.md is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes this rank sent.
    pub sent_bytes: u64,
    /// Bytes this rank received.
    pub received_bytes: u64,
    /// Messages this rank sent.
    pub sent_messages: u64,
    /// Messages this rank received.
    pub received_messages: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    /// What was sent and received between two readings.
    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            sent_bytes: self.sent_bytes - earlier.sent_bytes,
            received_bytes: self.received_bytes - earlier.received_bytes,
            sent_messages: self.sent_messages - earlier.sent_messages,
            received_messages: self.received_messages - earlier.received_messages,
        }
    }
}

impl Traffic {
    fn add(&mut self, sent: u64, received: u64, sent_messages: u64, received_messages: u64) {
        self.sent_bytes += sent;
        self.received_bytes += received;
        self.sent_messages += sent_messages;
        self.received_messages += received_messages;
    }
}

/// The largest message shmr sends by default: 1 GiB, under MPI's 2 GiB
/// limit on one message's count; longer ones go as several.
pub const MESSAGE_LIMIT: usize = 1 << 30;

/// How long a step polls for its messages before it sleeps between polls.
const SPIN: Duration = Duration::from_millis(2);

/// How long ranks wait for rank 0's word past their own deadline at a
/// meeting: rank 0 speaks at its deadline, and the ranks' deadlines differ
/// by how far apart they started the job.
const MEET_GRACE: Duration = Duration::from_millis(500);

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

    /// A barrier that sleeps while it waits. MPI's blocking collectives
    /// spin: a rank that finished its part would take a core from the
    /// workers of a rank still mapping on the same machine (measured: a
    /// 1 GiB sum under `mpirun -np 2` on 2 cores took 1.33x the
    /// single-machine time with spinning, see docs/distributed.md). So the
    /// ranks first meet in a non-blocking barrier tested with growing
    /// sleeps (10 us to 200 us), and only then swap their results.
    fn arrive(&self) {
        let mut request = self.world.immediate_barrier();
        let mut nap = Duration::from_micros(10);
        loop {
            match request.test() {
                Ok(_) => return,
                Err(r) => request = r,
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_micros(200));
        }
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

impl Ranks for World {
    fn rank(&self) -> usize {
        World::rank(self)
    }

    fn size(&self) -> usize {
        World::size(self)
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let waited = Instant::now();
        self.arrive();
        self.last_wait.set(self.last_wait.get() + waited.elapsed());
        let t = Instant::now();
        let out = all_gather(&self.world, mine)?;
        self.last_exchange
            .set(self.last_exchange.get() + t.elapsed());
        let received: usize = out.iter().map(Vec::len).sum::<usize>() - mine.len();
        let peers = (self.size() - 1) as u64;
        self.count(|t| t.add(mine.len() as u64 * peers, received as u64, peers, peers));
        Ok(out)
    }

    fn exchange(
        &self,
        to: Vec<(usize, Vec<u8>)>,
        from: &[usize],
        deadline: Option<Deadline>,
    ) -> Result<Vec<Vec<u8>>> {
        let t = Instant::now();
        let tag = self.next_tag();
        let limit = self.message_limit.get();
        let sent: usize = to.iter().map(|(_, b)| b.len()).sum();
        let messages = to.iter().map(|(_, b)| b.len() / limit + 1).sum::<usize>();
        let dests: Vec<usize> = to.iter().map(|(r, _)| *r).collect();
        let mut outbox = Outbox::default();
        for (rank, bytes) in to {
            outbox.send(&self.world.process_at_rank(rank as i32), bytes, limit, tag);
        }
        let mut inbox: Vec<(usize, Vec<u8>, bool)> =
            from.iter().map(|&r| (r, Vec::new(), false)).collect();
        let mut pieces = 0;
        let mut idle = Instant::now();
        loop {
            let mut progress = false;
            for (rank, bytes, whole) in inbox.iter_mut().filter(|m| !m.2) {
                let source = self.world.process_at_rank(*rank as i32);
                while let Some((msg, status)) = source.immediate_matched_probe_with_tag(tag) {
                    let n = status.count(u8::equivalent_datatype()) as usize;
                    let at = bytes.len();
                    bytes.resize(at + n, 0);
                    msg.matched_receive_into(&mut bytes[at..]);
                    pieces += 1;
                    progress = true;
                    if n < limit {
                        *whole = true;
                        break;
                    }
                }
            }
            outbox.settle();
            if outbox.is_empty() && inbox.iter().all(|m| m.2) {
                break;
            }
            if let Some(d) = deadline.filter(Deadline::passed) {
                outbox.abandon();
                let mut late: Vec<usize> = inbox.iter().filter(|m| !m.2).map(|m| m.0).collect();
                if late.is_empty() {
                    late = dests;
                }
                return Err(d.missed(late));
            }
            // The ranks have met, so the messages are coming: poll, giving
            // the core to any runnable worker, and only sleep if they are
            // long in coming. A sleep lasts 50 us or more (the kernel's
            // timer slack), and MPI moves a long message only while both
            // ends poll: sleeping from the first miss made one swap of
            // 0 bytes take 140 us, one of 8 MB 7.4 ms (docs/distributed.md).
            if progress {
                idle = Instant::now();
            } else if idle.elapsed() < SPIN {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let received: usize = inbox.iter().map(|m| m.1.len()).sum();
        self.count(|t| t.add(sent as u64, received as u64, messages as u64, pieces));
        self.last_exchange
            .set(self.last_exchange.get() + t.elapsed());
        Ok(inbox.into_iter().map(|m| m.1).collect())
    }

    fn meet(&self, deadline: Option<Deadline>) -> Result<()> {
        let t = Instant::now();
        self.traffic.set(Traffic::default());
        self.last_exchange.set(Duration::ZERO);
        let met = match deadline {
            _ if self.size() == 1 => Ok(()),
            None => {
                self.arrive();
                Ok(())
            }
            Some(d) => self.meet_by(d),
        };
        self.last_wait.set(t.elapsed());
        met
    }
}

impl World {
    /// The tag of the next step's messages: MPI guarantees tags up to
    /// 32767; a step's number modulo 8192, in two kinds (data, word).
    fn next_tag(&self) -> i32 {
        let step = self.steps.get();
        self.steps.set(step + 1);
        1 + 2 * (step % 8192) as i32
    }

    fn count(&self, f: impl FnOnce(&mut Traffic)) {
        let mut t = self.traffic.get();
        f(&mut t);
        self.traffic.set(t);
    }

    /// A timed meeting, through rank 0, which is told of every arrival
    /// and so knows which ranks are missing at its deadline: each rank
    /// sends rank 0 a word and waits for its answer, the ranks that did
    /// not come (empty: all came). A rank that hears nothing from rank 0
    /// by its own deadline plus [`MEET_GRACE`] names rank 0, and tells it
    /// so; rank 0 that hears this, or finds itself past its deadline when
    /// all have come, was the late one and names itself.
    fn meet_by(&self, deadline: Deadline) -> Result<()> {
        let tag = self.next_tag();
        let word = tag + 1;
        let (p, me) = (self.size(), self.rank());
        let mut outbox = Outbox::default();
        let mut nap = Duration::from_micros(10);
        let sleep = |nap: &mut Duration| {
            std::thread::sleep(*nap);
            *nap = (*nap * 2).min(Duration::from_micros(200));
        };
        if me != 0 {
            let root = self.world.process_at_rank(0);
            outbox.send(&root, Vec::new(), MESSAGE_LIMIT, tag);
            let late = loop {
                if let Some((msg, status)) = root.immediate_matched_probe_with_tag(word) {
                    let n = status.count(u8::equivalent_datatype()) as usize;
                    let mut missing = vec![0u8; n];
                    msg.matched_receive_into(&mut missing[..]);
                    break missing
                        .chunks_exact(8)
                        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
                        .collect::<Vec<_>>();
                }
                outbox.settle();
                if Instant::now() > deadline.at() + MEET_GRACE {
                    // Rank 0 is told, should it come back: it was late.
                    outbox.send(&root, Vec::new(), MESSAGE_LIMIT, word);
                    break vec![0];
                }
                sleep(&mut nap);
            };
            // Rank 0 answered after it heard this rank's word, so the
            // word is out, unless rank 0 gave up on it.
            outbox.settle();
            outbox.abandon();
            return if late.is_empty() {
                Ok(())
            } else {
                Err(deadline.missed(late))
            };
        }
        let mut missing: Vec<usize> = (1..p).collect();
        let gave_up = || {
            let any = self.world.any_process();
            any.immediate_matched_probe_with_tag(word).map(|(msg, _)| {
                msg.matched_receive_into(&mut [0u8; 0][..]);
            })
        };
        loop {
            if gave_up().is_some() {
                // Another rank waited for this one past its deadline.
                missing = vec![0];
                break;
            }
            missing.retain(|&r| {
                let source = self.world.process_at_rank(r as i32);
                match source.immediate_matched_probe_with_tag(tag) {
                    Some((msg, _)) => {
                        msg.matched_receive_into(&mut [0u8; 0][..]);
                        false
                    }
                    None => true,
                }
            });
            if missing.is_empty() {
                if Instant::now() > deadline.at() + MEET_GRACE / 2 {
                    missing.push(0);
                }
                break;
            }
            if deadline.passed() {
                break;
            }
            sleep(&mut nap);
        }
        let answer: Vec<u8> = missing
            .iter()
            .flat_map(|&r| (r as u64).to_le_bytes())
            .collect();
        for r in 1..p {
            let dest = self.world.process_at_rank(r as i32);
            outbox.send(&dest, answer.clone(), MESSAGE_LIMIT, word);
        }
        // The answer is a few bytes, sent at once; a rank that is stopped
        // may never take it, and is not waited for.
        let until = Instant::now() + MEET_GRACE;
        while !outbox.is_empty() && Instant::now() < until {
            outbox.settle();
            sleep(&mut nap);
        }
        outbox.abandon();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(deadline.missed(missing))
        }
    }
}

/// Sends in flight, with the bytes they read. MPI reads a non-blocking
/// send's bytes until the send completes, which a receiver that stopped
/// may never let happen, so the bytes are not borrowed from the caller but
/// lent for good (`'static`) and taken back once every send has completed;
/// sends abandoned past a deadline keep their bytes, which leak (the ranks
/// are out of step then, and the program should end).
#[derive(Default)]
struct Outbox {
    requests: Vec<mpi::request::Request<'static, [u8], StaticScope>>,
    lent: Vec<*mut [u8]>,
}

// The second unsafe item outside the low layers: MPI's non-blocking sends
// read memory that no Rust lifetime can name once a receiver may never
// take them.
#[allow(unsafe_code)]
impl Outbox {
    /// Sends `bytes` to `dest` as pieces of `limit` bytes, then a shorter
    /// one (empty, if need be) that tells the receiver the message is
    /// whole.
    fn send(&mut self, dest: &Process<'_>, bytes: Vec<u8>, limit: usize, tag: i32) {
        let raw = Box::into_raw(bytes.into_boxed_slice());
        self.lent.push(raw);
        // SAFETY: `raw` is the allocation Box::into_raw just gave up; it is
        // freed only by `settle` once no request is pending (every send
        // that reads it has completed), or never (`abandon`), and nothing
        // writes to it meanwhile. The reference does not leave this call
        // except inside the requests.
        let mut rest: &'static [u8] = unsafe { &*raw };
        loop {
            let n = rest.len().min(limit);
            self.requests
                .push(dest.immediate_send_with_tag(StaticScope, &rest[..n], tag));
            rest = &rest[n..];
            if n < limit {
                break;
            }
        }
    }

    /// Drops the sends that have completed; once none is pending, frees
    /// their bytes.
    fn settle(&mut self) {
        let mut pending = Vec::with_capacity(self.requests.len());
        for r in self.requests.drain(..) {
            if let Err(r) = r.test() {
                pending.push(r);
            }
        }
        self.requests = pending;
        if self.requests.is_empty() {
            for raw in self.lent.drain(..) {
                // SAFETY: made by Box::into_raw in `send`, freed once: every
                // request that read it has completed, and no other
                // reference to it is left.
                drop(unsafe { Box::from_raw(raw) });
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Gives up on the sends still pending, leaving their bytes to MPI.
    fn abandon(&mut self) {
        self.settle();
        self.requests.drain(..).for_each(std::mem::forget);
        self.lent.clear();
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The communicator as an [`Ranks`] before the [`World`] around it is
/// whole (while it starts).
struct Collective<'w>(&'w SimpleCommunicator);

impl Ranks for Collective<'_> {
    fn rank(&self) -> usize {
        self.0.rank() as usize
    }
    fn size(&self) -> usize {
        self.0.size() as usize
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        all_gather(self.0, mine)
    }
}

/// Every rank's bytes, in rank order, on every rank.
fn all_gather(world: &SimpleCommunicator, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
    // A length over MPI's limit is sent as -1, so that every rank
    // learns of it and fails, rather than the others waiting.
    let len = Count::try_from(mine.len()).unwrap_or(-1);
    let mut lens = vec![0 as Count; world.size() as usize];
    world.all_gather_into(&len, &mut lens[..]);
    let too_big = || {
        Error::Mpi(
            "the ranks' results together are over MPI's 2 GiB message limit: return \
             smaller partials from the job"
                .into(),
        )
    };
    let mut displs = Vec::with_capacity(lens.len());
    let mut total: Count = 0;
    for &l in &lens {
        displs.push(total);
        total = total
            .checked_add(l)
            .filter(|_| l >= 0)
            .ok_or_else(too_big)?;
    }
    if total == 0 {
        // Every rank knows it: Open MPI refuses MPI_Allgatherv of nothing
        // at all (MPI_ERR_ARG, fatal), so no rank makes the call.
        return Ok(vec![Vec::new(); lens.len()]);
    }
    let mut buf = vec![0u8; total as usize];
    {
        let mut parts = PartitionMut::new(&mut buf[..], &lens[..], &displs[..]);
        world.all_gather_varcount_into(mine, &mut parts);
    }
    Ok(lens
        .iter()
        .zip(&displs)
        .map(|(&l, &d)| buf[d as usize..(d + l) as usize].to_vec())
        .collect())
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
