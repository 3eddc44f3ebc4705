//! The pool's workers as the coordinator drives them: starting and
//! replacing them (`start_missing`), and one round of a job: sending it,
//! watching replies, deaths, progress and the deadline, and burying the
//! dead. `State` and all its methods live here; the retry loop that runs
//! rounds is in `round.rs`, the fold of their partials in `fold.rs`.

use super::fold::Take;
use super::plan::Attachment;
use super::settings::WorkerCommand;
use crate::error::{Error, Result};
use crate::memory::Segment;
use crate::protocol::Failure;
use crate::protocol::{
    self, Channel, FromWorker, Mapping, OUTPUT_FD, PROTOCOL, ToWorker, WORKER_ENV, WORKER_FD,
};
use crate::shm::{self, Holding, LockTable, Partition, Record, Slots};
use crate::worker::TEST_ENTRY;
use command_fds::{CommandFdExt, FdMapping};
use rustix::fd::{AsFd, BorrowedFd};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The pool's workers and the shared memory they write, behind the pool's
/// lock: one job at a time holds it.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) workers: Vec<Option<Worker>>,
    pub(crate) slots: Slots,
    pub(crate) next_job: u64,
    /// The lock table of locked jobs, made on first use and grown as needed.
    pub(crate) locks: Option<Arc<Segment>>,
    /// How workers are started, if not as this executable.
    pub(crate) command: Option<WorkerCommand>,
}

/// One live worker process: its control socket, and what it has mapped.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) chan: Channel,
    pub(crate) pid: u32,
    /// Segments this worker has mapped, and how.
    pub(crate) mapped: HashSet<(u64, Mapping)>,
    /// The job whose reply this worker still owes, and since when: a round
    /// may end without it when it holds no chunk (see `State::settle_late`).
    pub(crate) owes: Option<(u64, Instant)>,
}

/// The lock of `m`, poisoned or not.
pub(crate) fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the state half-updated in
    // a way that matters (every step below is checked again), so poisoning
    // is not an error.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Starts workers for every empty place.
    pub(crate) fn start_missing(&mut self, timeout: Duration) -> Result<()> {
        let missing: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // Spawn them all first, then wait for all: start-up runs in parallel.
        let mut started = Vec::new();
        for &i in &missing {
            match spawn(self.command.as_ref()) {
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
        let deadline = deadline_after(timeout);
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
        deadline: Option<Instant>,
    ) -> Result<Worker> {
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            Error::WorkerStart(format!(
                "{why} (worker {status}). If this is a test binary, add `shmr::test_worker!();` to the test file; \
                 in a program, call shmr::init() first thing in main"
            ))
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if !protocol::wait_any(&[chan.as_fd()], left)?[0] {
            return Err(fail(
                &mut child,
                format!("no ready message within {:?}", left.unwrap_or_default()),
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
                if protocol != PROTOCOL || probe != protocol::probe() {
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
            probe: protocol::probe(),
        };
        if let Err(e) = chan.send(&setup, &[self.slots.segment().fd()]) {
            return Err(fail(
                &mut child,
                format!("could not send the worker its setup: {e}"),
            ));
        }
        // A worker that cannot use its setup (its slots, say) says so now,
        // so that `build` fails instead of the first job.
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if !protocol::wait_any(&[chan.as_fd()], left)?[0] {
            return Err(fail(&mut child, "no answer to its setup in time".into()));
        }
        match chan.recv::<FromWorker>() {
            Ok(Some((FromWorker::SetUp, _))) => {}
            Ok(Some((FromWorker::Refused { why }, _))) => {
                return Err(fail(
                    &mut child,
                    format!("the worker refused its setup: {why}"),
                ));
            }
            Ok(_) => {
                return Err(fail(
                    &mut child,
                    "the worker exited during its setup".into(),
                ));
            }
            Err(e) => return Err(fail(&mut child, e.to_string())),
        }
        Ok(Worker {
            child,
            chan,
            pid,
            mapped: HashSet::new(),
            owes: None,
        })
    }

    /// Tells the workers that mapped segment `id` to unmap it.
    pub(crate) fn release(&mut self, id: u64) {
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
}

/// Starts one worker process: this executable, with the control socket at
/// `WORKER_FD`, or `command`. The arguments select the worker entry test
/// when this is a libtest binary; a program that calls `shmr::init()` first
/// never reads them.
fn spawn(command: Option<&WorkerCommand>) -> Result<(Child, Channel)> {
    let (chan, theirs) = Channel::pair()?;
    let mut cmd = match command {
        Some(c) => {
            let mut cmd = Command::new(&c.program);
            cmd.args(&c.args);
            cmd
        }
        None => {
            let mut cmd = Command::new("/proc/self/exe");
            cmd.args([
                TEST_ENTRY,
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ]);
            cmd
        }
    };
    cmd.env(WORKER_ENV, std::process::id().to_string())
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
    let child = cmd.spawn().map_err(|e| {
        let program = command.map_or("/proc/self/exe".into(), |c| c.program.display().to_string());
        Error::WorkerStart(format!("could not execute {program}: {e}"))
    })?;
    Ok((child, chan))
}

/// `timeout` from now, or `None` (no deadline) when that is past what an
/// `Instant` can hold: `Duration::MAX` means "no limit", as elsewhere in Rust.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
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

impl State {
    /// Sends the encoded `Map` message of job `job` over `array` to every
    /// worker and waits until the round is over: every worker has replied
    /// or died, or the workers that have not replied hold no chunk and none
    /// is left to claim. Returns the deaths, and the proof that the round's
    /// slots may be read; a failure reported by a worker is in the round,
    /// the deadline passing (or the wait failing) is the error, and then
    /// every worker that could still write its slot has been killed.
    pub(super) fn run(&mut self, spec: RoundSpec<'_>, take: &mut dyn Take) -> Result<Round> {
        self.slots.reset(spec.chunks);
        let mut watch = Watch {
            pending: Vec::new(),
            deaths: Vec::new(),
            error: None,
            grow: None,
        };
        for i in 0..self.workers.len() {
            let Some(w) = self.workers[i].as_mut() else {
                continue;
            };
            let mut sent = Ok(());
            for (segment, how, fd, layout) in spec.attach {
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
            let sent = sent.and_then(|()| w.chan.send_encoded(spec.message, &[]));
            match sent {
                Ok(()) => watch.pending.push(i),
                // Dead before the job reached it: it mapped nothing.
                Err(_) => watch.deaths.push(self.bury(i)),
            }
        }
        match self.watch(&spec, &mut watch, take) {
            Ok(()) => Ok(Round {
                deaths: watch.deaths,
                error: watch.error,
                grow: watch.grow,
            }),
            Err(e) => {
                // Whoever is still pending could write its slot or the
                // arrays: none is left alive to do so behind our back.
                for i in std::mem::take(&mut watch.pending) {
                    self.bury(i);
                }
                Err(e)
            }
        }
    }

    /// Waits out one round: replies, deaths, progress and the deadline.
    /// On `Ok`, `watch.pending` is empty.
    fn watch(
        &mut self,
        spec: &RoundSpec<'_>,
        watch: &mut Watch,
        take: &mut dyn Take,
    ) -> Result<()> {
        let locks = spec.locks;
        // A short job is over in microseconds: watch the finished count for
        // a moment rather than sleep in poll and pay a wake-up on the
        // critical path. Long jobs fall through to poll after SPIN.
        const SPIN: Duration = Duration::from_micros(30);
        let spin_start = Instant::now();
        while (self.slots.finished() as usize) < watch.pending.len() && spin_start.elapsed() < SPIN
        {
            std::hint::spin_loop();
        }
        while !watch.pending.is_empty() {
            let mut wait = POLL_PERIOD;
            if let Some(tick) = spec.progress {
                tick(self.slots.claimed());
                wait = wait.min(PROGRESS_PERIOD);
            }
            if let Some(stop) = spec.stop {
                if stop() {
                    abort(locks);
                    let (chunk, killed) = self.cut_short(watch, spec);
                    return Err(Error::Stopped {
                        chunk,
                        rows: chunk.map(|c| spec.partition.chunk(c)),
                        killed,
                    });
                }
                wait = wait.min(PROGRESS_PERIOD);
            }
            if let Some((timeout, at)) = spec.deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    abort(locks);
                    let (chunk, killed) = self.cut_short(watch, spec);
                    return Err(Error::Timeout {
                        timeout,
                        chunk,
                        rows: chunk.map(|c| spec.partition.chunk(c)),
                        killed,
                        ranks: Vec::new(),
                    });
                }
                wait = wait.min(left);
            }
            let ready = {
                let fds: Vec<BorrowedFd<'_>> = watch
                    .pending
                    .iter()
                    .map(|&i| self.live(i).chan.as_fd())
                    .collect();
                protocol::wait_any(&fds, Some(wait))?
            };
            let mut still = Vec::new();
            for (&i, r) in watch.pending.iter().zip(ready) {
                if !r {
                    // A worker whose socket stays open may still be dead: a
                    // process it forked can hold the socket.
                    let w = self.workers[i].as_mut().expect("pending worker exists");
                    if matches!(w.child.try_wait(), Ok(Some(_))) {
                        watch.deaths.push(self.bury(i));
                        abort(locks);
                    } else {
                        still.push(i);
                    }
                    continue;
                }
                match self.live(i).chan.recv::<FromWorker>() {
                    Ok(Some((FromWorker::Done { job: j }, _))) if j == spec.job => {
                        self.slots.replied();
                    }
                    // Waiting for room: records are taken below.
                    Ok(Some((FromWorker::Full { job: j }, _))) if j == spec.job => {
                        still.push(i);
                    }
                    Ok(Some((
                        FromWorker::Failed {
                            job: j,
                            failure: Failure::SlotOverflow { needed, chunk, .. },
                        },
                        _,
                    ))) if j == spec.job => {
                        watch.grow = watch.grow.max(Some((needed, chunk)));
                    }
                    Ok(Some((FromWorker::Failed { job: j, failure }, _))) if j == spec.job => {
                        watch.error.get_or_insert(failure.into());
                    }
                    Ok(Some((other, _))) => {
                        let e = Error::Protocol(format!("unexpected reply {other:?}"));
                        self.bury(i);
                        watch.error.get_or_insert(e);
                    }
                    Ok(None) | Err(_) => {
                        watch.deaths.push(self.bury(i));
                        abort(locks);
                    }
                }
            }
            watch.pending = still;
            // Fold what has arrived, in chunk order, giving room back to
            // the workers; once a chunk is lost (a death, a partial too
            // large) the order cannot advance this round: take everything,
            // so that no worker waits for room that would never come.
            let drain = watch.error.is_some() || !watch.deaths.is_empty() || watch.grow.is_some();
            take.pass(&self.slots, drain)?;
            if !watch.pending.is_empty() && self.nothing_left(spec, &watch.pending) {
                // Every chunk is committed or lost with a dead worker, and
                // the workers yet to reply hold none: they cannot hold the
                // job back. They reply before the next round or are replaced.
                // A dead one among them (its socket held open by a process
                // it shares with another program, say) is replaced now.
                let since = Instant::now();
                for i in std::mem::take(&mut watch.pending) {
                    let w = self.workers[i].as_mut().expect("pending worker exists");
                    if matches!(w.child.try_wait(), Ok(Some(_))) {
                        watch.deaths.push(self.bury(i));
                    } else {
                        w.owes = Some((spec.job, since));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether no chunk of the round is left to claim and none of
    /// `pending` holds one, so none of them writes its slot again this
    /// round.
    ///
    /// The counter is read before each `in_progress`, and workers mark
    /// `in_progress` before they claim, all `SeqCst` (see `Task::claim`):
    /// a worker that took one of the round's chunks is seen holding it,
    /// or having committed it.
    fn nothing_left(&self, spec: &RoundSpec<'_>, pending: &[usize]) -> bool {
        let claimed = self.slots.claimed();
        claimed >= spec.chunks
            && pending
                .iter()
                .all(|&i| self.slots.holding(i) == Holding::Nothing)
    }

    /// Larger slots, after a record of `needed` bytes did not fit a
    /// worker's ring: twice that (so that a worker can write one partial
    /// while the coordinator takes the last), capped at `max` bytes a
    /// slot. Every live worker gets the new segment; one that cannot be
    /// told is replaced, with the new slots, before the next round.
    pub(super) fn grow_slots(&mut self, needed: u64, chunk: u64, max: usize) -> Result<()> {
        let old = self.slots.slot_bytes();
        let (available, capacity) = (max.saturating_sub(shm::REGION_HEADER) as u64, max as u64);
        let overflow = || match Record::of(chunk) {
            Record::Chunk(chunk) => Error::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            },
            // Not a chunk's partial: a part of a held job's table.
            Record::HeldPart | Record::HeldLast => Error::TableOverflow {
                needed,
                available,
                capacity,
            },
        };
        let fits = shm::slot_bytes_for(needed).ok_or_else(overflow)?;
        if fits > max {
            return Err(overflow());
        }
        let want = shm::slot_bytes_for(needed.saturating_mul(2))
            .unwrap_or(max)
            .clamp(fits, max)
            .max(old);
        let slots = Slots::create(self.slots.workers(), want)?;
        for i in 0..self.workers.len() {
            let Some(w) = self.workers[i].as_ref() else {
                continue;
            };
            let msg = ToWorker::Slots {
                workers: slots.workers() as u32,
                slot_bytes: slots.slot_bytes() as u64,
            };
            if w.chan.send(&msg, &[slots.segment().fd()]).is_err() {
                self.bury(i);
            }
        }
        self.slots = slots;
        Ok(())
    }

    /// The lock table, with room for `stripes` stripes.
    pub(super) fn lock_table(&mut self, stripes: usize) -> Result<Arc<Segment>> {
        if let Some(t) = &self.locks
            && t.len() >= shm::table_bytes(stripes)
        {
            return Ok(t.clone());
        }
        let stripes = stripes.max(shm::DEFAULT_STRIPES);
        let what = format!("the lock table of {stripes} stripes");
        let table = Arc::new(Segment::create(shm::table_bytes(stripes), &what)?);
        if let Some(old) = self.locks.replace(table.clone()) {
            self.release(old.id());
        }
        Ok(table)
    }

    fn live(&self, i: usize) -> &Worker {
        self.workers[i]
            .as_ref()
            .expect("internal: a pending worker is alive")
    }

    /// The job ends before its chunks are done (its deadline passed, or
    /// it was told to stop): stop its claiming, kill the workers still
    /// mapping (or claiming), and say which chunk was the oldest and how
    /// many were killed. Pending workers that hold no chunk are spared:
    /// they reply soon (no chunk is left to claim), or are replaced before
    /// the next round.
    fn cut_short(&mut self, watch: &mut Watch, spec: &RoundSpec<'_>) -> (Option<u64>, usize) {
        self.slots.stop_claims();
        let since = Instant::now();
        let mut stuck = Vec::new();
        for i in std::mem::take(&mut watch.pending) {
            if self.slots.holding(i) == Holding::Nothing {
                if let Some(w) = self.workers[i].as_mut() {
                    w.owes = Some((spec.job, since));
                }
            } else {
                stuck.push(self.bury(i).chunk);
            }
        }
        (stuck.iter().flatten().min().copied(), stuck.len())
    }

    /// Workers that still owe the reply of an earlier round (they held no
    /// chunk when it ended) reply within `LATE_GRACE` of its end, or are
    /// killed; `start_missing` replaces them. A worker that replies late
    /// never sees the slots or the counter of a later round.
    pub(super) fn settle_late(&mut self) {
        for i in 0..self.workers.len() {
            let Some((job, since)) = self.workers[i].as_ref().and_then(|w| w.owes) else {
                continue;
            };
            let w = self.live(i);
            let deadline = since + LATE_GRACE;
            let mut replied = false;
            // Its last `Full` notices may come before its reply.
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if !protocol::wait_any(&[w.chan.as_fd()], Some(left)).is_ok_and(|r| r[0]) {
                    break;
                }
                match w.chan.recv::<FromWorker>() {
                    Ok(Some((FromWorker::Full { .. }, _))) => continue,
                    Ok(Some((
                        FromWorker::Done { job: j } | FromWorker::Failed { job: j, .. },
                        _,
                    ))) => replied = j == job,
                    _ => {}
                }
                break;
            }
            if replied {
                self.workers[i].as_mut().expect("checked above").owes = None;
            } else {
                self.bury(i);
            }
        }
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
        let chunk = self.slots.holding(i).chunk();
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

/// How long after the end of a round a worker that had not replied yet
/// (holding no chunk) may take to reply before the next round replaces it.
/// Long enough that a healthy worker on a loaded machine, merely not yet
/// scheduled, is never killed for it (200 ms was not, with the test suite
/// running two pools per core); a stopped one costs the next job this once.
const LATE_GRACE: Duration = Duration::from_secs(2);

/// One round of a job, as `State::run` sends and watches it.
pub(super) struct RoundSpec<'a> {
    pub(super) job: u64,
    /// How many chunks the round maps.
    pub(super) chunks: u64,
    /// The encoded `Map` message, the same for every worker.
    pub(super) message: &'a [u8],
    /// Segments each worker must have mapped first.
    pub(super) attach: &'a [Attachment<'a>],
    pub(super) partition: &'a Partition,
    pub(super) deadline: Option<(Duration, Instant)>,
    /// A locked job's table, whose abort flag a death raises.
    pub(super) locks: Option<&'a LockTable<'a>>,
    /// Called with the chunk counter while the round runs.
    pub(super) progress: Option<&'a dyn Fn(u64)>,
    /// Asked while the round runs whether to stop the job.
    pub(super) stop: Option<&'a dyn Fn() -> bool>,
}

/// What happened to the workers in one round of a job.
pub(super) struct Round {
    pub(super) deaths: Vec<Death>,
    /// The first failure a worker reported (a panic, say).
    pub(super) error: Option<Error>,
    /// The largest record that did not fit a worker's ring, in bytes, and
    /// its chunk.
    pub(super) grow: Option<(u64, u64)>,
}

/// The state of one round while `State::watch` waits it out.
pub(super) struct Watch {
    /// Workers given the round that have not replied.
    pub(super) pending: Vec<usize>,
    pub(super) deaths: Vec<Death>,
    pub(super) error: Option<Error>,
    pub(super) grow: Option<(u64, u64)>,
}

/// A job whose worker died holding a lock must not leave the others waiting
/// for it: they see this flag while they wait, and give up.
fn abort(locks: Option<&LockTable<'_>>) {
    if let Some(t) = locks {
        t.abort_job();
    }
}

/// A worker that died during a round.
#[derive(Debug)]
pub(super) struct Death {
    pub(super) pid: u32,
    /// Its slot index (its place in the pool).
    pub(super) slot: usize,
    pub(super) status: String,
    /// The chunk it was mapping (lost unless it had just committed it).
    pub(super) chunk: Option<u64>,
}

impl Death {
    pub(super) fn error(&self, partition: &Partition, attempts: u32) -> Error {
        Error::WorkerDied {
            pid: self.pid,
            status: self.status.clone(),
            chunk: self.chunk,
            rows: self.chunk.map(|c| partition.chunk(c)),
            attempts,
        }
    }
}
