//! One job's run on the pool: its plan, its rounds, and what happens when
//! workers die or hang during one.
//!
//! A job runs in rounds. The first maps every chunk; if workers die, their
//! committed partials are kept and the chunks they were mapping are mapped
//! again in a further round on live and replacement workers, when mapping a
//! chunk twice is harmless. See `docs/design.md`, "The life of one job".

use super::pool::{Pool, State, Worker, deadline_after, guard};
use super::settings::{ProgressFn, Settings};
use crate::error::Encoded;
use crate::error::{Error, Result};
use crate::job::{HeldMapper, Input, JobReport, Mapper};
use crate::memory::{ArrayRef, Element, Segment, SharedArray};
use crate::protocol::Failure;
use crate::protocol::{
    self, Access, Channel, Entry, FromWorker, Func, Layout, MapJob, Mapping, ToWorker,
};
use crate::shm::{self, LockTable, Slots};
use crate::shm::{Holding, Record};
use crate::shm::{Partition, Selection};
use crate::worker::{entry_for, held_entry_for};
use ndarray::Dimension;
use rustix::fd::{AsFd, BorrowedFd};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Pool {
    /// Runs one job, folding its partials with `reduce` in chunk order as
    /// they arrive, and returns the result (`None` only for a job of no
    /// chunk, which a partition never has).
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
        reduce: &mut dyn FnMut(T, T) -> T,
    ) -> Result<(Option<T>, JobReport)> {
        let result = self.rounds(plan, settings, progress, reduce);
        // Arrays dropped while this job held the pool are released now.
        self.inner.flush_if_idle();
        result
    }

    fn rounds<T: DeserializeOwned>(
        &self,
        mut plan: Plan<'_>,
        settings: Settings,
        progress: Option<&ProgressFn<'_>>,
        reduce: &mut dyn FnMut(T, T) -> T,
    ) -> Result<(Option<T>, JobReport)> {
        settings.check()?;
        plan.check_sizes()?;
        let started = Instant::now();
        let partition = plan.partition;
        let mut state = guard(&self.inner.state);
        // The timeout covers the job's run, not its wait for the pool;
        // one too long for an Instant (Duration::MAX) is no timeout.
        let deadline = settings.timeout.and_then(|t| Some((t, deadline_after(t)?)));
        self.inner.flush_released(&mut state);
        let locks = match plan.writes {
            Writes::Locked { stripes, .. } => Some(state.lock_table(stripes)?),
            _ => None,
        };
        // Moved into the message; the plan is only borrowed from here on.
        let payload = std::mem::take(&mut plan.payload);
        let (access, attach) = plan.access(locks.as_deref());
        let mut report = JobReport {
            chunks: partition.len(),
            ..JobReport::default()
        };
        let mut folder = Folder::new(partition.len(), reduce);
        let mut job = MapJob {
            job: 0,
            entry: plan.entry,
            parts: plan.parts.iter().map(|p| p.segment.id()).collect(),
            access,
            partition,
            selection: Selection::All,
            payload,
        };
        let start_timeout = self.inner.config.start_timeout;
        // Rounds in which a worker died mapping a chunk count against the
        // retries. Rounds in which workers died between chunks (idle before
        // the job reached them, say) lost no work and do not, up to a bound
        // that stops a pool whose workers die as soon as they start.
        let mut attempt = 1;
        let mut idle_deaths = 0;
        loop {
            // Workers still owing the reply of an earlier round reply now or
            // are replaced: none may see the slots reset under it.
            state.settle_late();
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
            // Counted only for a job that reports progress: nothing is added
            // to the others' path.
            let done_before = partition.len() - folder.missing_count();
            let tick = progress.map(|f| {
                let in_round = partition.len() - done_before;
                move |claimed: u64| f(done_before + claimed.min(in_round), partition.len())
            });
            let chunks = folder.missing_count();
            let round = state.run(
                RoundSpec {
                    job: job.job,
                    chunks,
                    message: &message,
                    attach: &attach,
                    partition: &partition,
                    deadline,
                    locks: table.as_ref(),
                    progress: tick.as_ref().map(|t| t as &dyn Fn(u64)),
                },
                &mut folder,
            );
            let round = match round {
                Ok(r) => r,
                Err(e) => {
                    // Replace the dead now, so the pool is whole for the
                    // next job; this one's slots are never read.
                    let _ = state.start_missing(start_timeout);
                    return Err(e);
                }
            };
            // What is left in the rings, in any order: the round is over.
            let decoded = folder.pass(&state.slots, true);
            // Parts of held partials whose last part never came are of
            // workers that died: their chunks are mapped again.
            folder.pending.clear();
            report.lock_acquisitions += state.slots.total_locks_taken();
            // Which stripes the dead held: read before anything resets them.
            let held: Vec<(usize, Vec<usize>)> = match &table {
                Some(t) => round
                    .deaths
                    .iter()
                    .map(|d| (d.slot, t.held_by(d.slot)))
                    .collect(),
                None => Vec::new(),
            };
            // Replace the dead now, so the pool is whole for the next job
            // even if this one failed.
            let restarted = state.start_missing(start_timeout);
            report.workers_replaced += round.deaths.len() as u32;
            if !round.deaths.is_empty() {
                // A file that shrank kills whoever reads its lost pages
                // (SIGBUS): say so rather than "worker died", and do not
                // retry what must fail again.
                plan.check_sizes()?;
            }
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
                        Some(shm::stripe_range(len, stripes, s))
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
            let missing = folder.missing();
            if let Some((needed, chunk)) = round.grow {
                // A partial did not fit a worker's ring: its chunk (and what
                // was left to claim) is mapped again in larger slots. Not a
                // retry: nothing failed, and slots at least double each time.
                state.grow_slots(needed, chunk, self.inner.config.max_slot_bytes)?;
                report.slots_grown += 1;
                if missing.is_empty() {
                    break;
                }
                job.selection = Selection::of(missing);
                continue;
            }
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
        Ok((folder.finish()?, report))
    }
}

/// One array a job reads, as the job's builder collects them.
#[derive(Clone, Copy)]
pub(crate) struct InputPart<'a> {
    pub(crate) array: ArrayRef<'a>,
    /// Seen whole by every mapper, rather than chunk by chunk.
    pub(crate) side: bool,
}

impl<'a> InputPart<'a> {
    pub(crate) fn read<A: Element, D: Dimension>(array: &'a SharedArray<A, D>) -> Self {
        InputPart {
            array: array.shared(),
            side: false,
        }
    }
    pub(crate) fn side<A: Element, D: Dimension>(array: &'a SharedArray<A, D>) -> Self {
        InputPart {
            array: array.shared(),
            side: true,
        }
    }
    /// An array the job writes in place; the caller holds it mutably
    /// borrowed for 'a.
    pub(crate) fn written<A: Element, D: Dimension>(array: &'a mut SharedArray<A, D>) -> Self {
        InputPart::read(array)
    }
}

/// What the coordinator needs to run one job.
pub(crate) struct Plan<'a> {
    /// The arrays the mapper reads, in the input's order.
    pub(crate) parts: Vec<ArrayRef<'a>>,
    pub(crate) partition: Partition,
    pub(crate) writes: Writes<'a>,
    pub(crate) entry: Func<Entry>,
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
    /// A read-only job over input `I` (whose arrays are `parts`) with
    /// mapper `M`.
    pub(crate) fn read<I: Input, M: Mapper<I>>(
        partition: Partition,
        parts: &[InputPart<'p>],
        payload: Vec<u8>,
    ) -> Self {
        Plan::reading(entry_for::<M, I>(), partition, parts, payload)
    }

    /// A held job over input `I` with mapper `H`: each worker folds all its
    /// chunks into one partial.
    pub(crate) fn held<I: Input, H: HeldMapper<I>>(
        partition: Partition,
        parts: &[InputPart<'p>],
        payload: Vec<u8>,
    ) -> Self {
        Plan::reading(held_entry_for::<H, I>(), partition, parts, payload)
    }

    fn reading(
        entry: Func<Entry>,
        partition: Partition,
        parts: &[InputPart<'p>],
        payload: Vec<u8>,
    ) -> Self {
        Plan {
            parts: parts.iter().map(|p| p.array).collect(),
            partition,
            writes: Writes::Nothing,
            entry,
            payload,
        }
    }

    /// Checks that no file behind the job's arrays has shrunk.
    fn check_sizes(&self) -> Result<()> {
        for part in &self.parts {
            part.segment.check_size()?;
        }
        match self.writes {
            Writes::Into(o) | Writes::Locked { output: o, .. } => o.segment.check_size(),
            Writes::Nothing | Writes::InPlace { .. } => Ok(()),
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
        // The descriptor of segment `id`, and the array's layout in it (the
        // lock table has none).
        let find = |id: u64| -> (BorrowedFd<'s>, Option<Layout>) {
            let arrays = self.parts.iter().copied().chain(output);
            match arrays.into_iter().find(|a| a.segment.id() == id) {
                Some(a) => (a.segment.fd(), Some(Layout::of(a.header))),
                None => {
                    let table = locks.expect("internal: a mapping names a segment of the job");
                    (table.fd(), None)
                }
            }
        };
        let parts: Vec<u64> = self.parts.iter().map(|p| p.segment.id()).collect();
        let attach = access
            .mappings(&parts)
            .into_iter()
            .map(|(id, how)| {
                let (fd, layout) = find(id);
                (id, how, fd, layout)
            })
            .collect();
        (access, attach)
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
    fn run(&mut self, spec: RoundSpec<'_>, take: &mut dyn Take) -> Result<Round> {
        self.slots.reset();
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
            if let Some((timeout, at)) = spec.deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    abort(locks);
                    return Err(self.time_out(watch, timeout, spec));
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
    fn grow_slots(&mut self, needed: u64, chunk: u64, max: usize) -> Result<()> {
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
    fn lock_table(&mut self, stripes: usize) -> Result<Arc<Segment>> {
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

    /// The deadline passed: stop the job's claiming, kill the workers
    /// still mapping (or claiming), and say which chunk was the oldest.
    /// Pending workers that hold no chunk are spared: they reply soon (no
    /// chunk is left to claim), or are replaced before the next round.
    fn time_out(&mut self, watch: &mut Watch, timeout: Duration, spec: &RoundSpec<'_>) -> Error {
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
        let oldest = stuck.iter().flatten().min().copied();
        Error::Timeout {
            timeout,
            chunk: oldest,
            rows: oldest.map(|c| spec.partition.chunk(c)),
            killed: stuck.len(),
        }
    }

    /// Workers that still owe the reply of an earlier round (they held no
    /// chunk when it ended) reply within `LATE_GRACE` of its end, or are
    /// killed; `start_missing` replaces them. A worker that replies late
    /// never sees the slots or the counter of a later round.
    fn settle_late(&mut self) {
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
struct RoundSpec<'a> {
    job: u64,
    /// How many chunks the round maps.
    chunks: u64,
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
    /// The largest record that did not fit a worker's ring, in bytes, and
    /// its chunk.
    grow: Option<(u64, u64)>,
}

/// The state of one round while `State::watch` waits it out.
struct Watch {
    /// Workers given the round that have not replied.
    pending: Vec<usize>,
    deaths: Vec<Death>,
    error: Option<Error>,
    grow: Option<(u64, u64)>,
}

/// Takes records out of the slots while a round runs (a [`Folder`],
/// without its partial type).
pub(crate) trait Take {
    /// Takes what can be folded now; with `drain`, everything committed.
    fn pass(&mut self, slots: &Slots, drain: bool) -> Result<()>;
}

/// A job's partials folded in chunk order as they arrive: chunk 0, then
/// 1, ..., each folded as soon as it and all before it have arrived, so the
/// result is the same left fold whatever the workers and their timing.
/// Partials that arrive early stay in their worker's ring (where the
/// worker waits for room once it is full), unless the round can no longer
/// fold in order (a chunk was lost), when they are decoded and kept here.
pub(crate) struct Folder<'r, T> {
    next: u64,
    acc: Option<T>,
    /// Decoded partials after `next`.
    early: std::collections::BTreeMap<u64, T>,
    /// Which chunks have a partial, folded or early.
    done: Vec<bool>,
    reduce: &'r mut dyn FnMut(T, T) -> T,
    /// A panic of the reducer, returned as an error once the round is
    /// over (the pool's state stays whole meanwhile).
    panicked: Option<Box<dyn std::any::Any + Send>>,
    /// A held job's parts so far, by worker slot, combined: folded only
    /// with the worker's last part, which says which chunks they cover.
    pending: std::collections::HashMap<usize, T>,
}

/// A record taken from a slot.
enum Taken<T> {
    /// The partial of one chunk.
    Chunk(u64, T),
    /// A part of a held partial.
    Part(T),
    /// The last part of a held partial, and the chunks it covers.
    Last(Vec<u64>, T),
}

impl<'r, T: DeserializeOwned> Folder<'r, T> {
    fn new(chunks: u64, reduce: &'r mut dyn FnMut(T, T) -> T) -> Self {
        Folder {
            next: 0,
            acc: None,
            early: std::collections::BTreeMap::new(),
            done: vec![false; chunks as usize],
            reduce,
            panicked: None,
            pending: std::collections::HashMap::new(),
        }
    }

    /// `reduce(a, b)`, unless the reducer has panicked (now or before):
    /// then `None`, and the panic is kept for [`Folder::finish`].
    fn combine(&mut self, a: Option<T>, b: T) -> Option<T> {
        if self.panicked.is_some() {
            return None;
        }
        let Some(a) = a else {
            return Some(b);
        };
        let reduce = &mut self.reduce;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reduce(a, b))) {
            Ok(v) => Some(v),
            Err(p) => {
                self.panicked = Some(p);
                None
            }
        }
    }

    /// Takes a held job's record of worker `w`: parts wait for the last,
    /// which marks its chunks done; the whole is folded in whatever order
    /// workers finish (a held job's partials combine alike in any order).
    fn take_held(&mut self, w: usize, taken: Taken<T>) -> Result<()> {
        match taken {
            Taken::Part(part) => {
                let so_far = self.pending.remove(&w);
                if let Some(v) = self.combine(so_far, part) {
                    self.pending.insert(w, v);
                }
            }
            Taken::Last(chunks, part) => {
                let n = self.done.len();
                for &c in &chunks {
                    let done = self
                        .done
                        .get_mut(c as usize)
                        .ok_or_else(|| Error::Protocol(format!("result for chunk {c} of {n}")))?;
                    if std::mem::replace(done, true) {
                        return Err(Error::Protocol(format!("chunk {c} was mapped twice")));
                    }
                }
                let so_far = self.pending.remove(&w);
                let whole = self.combine(so_far, part);
                if let Some(whole) = whole {
                    let acc = self.acc.take();
                    self.acc = self.combine(acc, whole);
                }
            }
            Taken::Chunk(..) => unreachable!("internal: a chunk's record is not held"),
        }
        Ok(())
    }

    fn missing(&self) -> Vec<u64> {
        (0..self.done.len() as u64)
            .filter(|&c| !self.done[c as usize])
            .collect()
    }

    fn missing_count(&self) -> u64 {
        self.done.iter().filter(|d| !**d).count() as u64
    }

    /// Folds the partial of chunk `next`, then those that arrived early
    /// and now follow.
    fn fold(&mut self, value: T) {
        self.fold_one(value);
        while let Some(v) = self.early.remove(&self.next) {
            self.fold_one(v);
        }
    }

    fn fold_one(&mut self, value: T) {
        self.next += 1;
        let acc = self.acc.take();
        self.acc = self.combine(acc, value);
    }

    /// The result, or the reducer's panic as [`Error::ReducerPanicked`].
    fn finish(self) -> Result<Option<T>> {
        match self.panicked {
            Some(p) => Err(Error::ReducerPanicked {
                message: crate::worker::panic_message(&*p),
            }),
            None => Ok(self.acc),
        }
    }
}

impl<T: DeserializeOwned> Take for Folder<'_, T> {
    fn pass(&mut self, slots: &Slots, drain: bool) -> Result<()> {
        let chunks = self.done.len() as u64;
        loop {
            let mut took = false;
            for w in 0..slots.workers() {
                loop {
                    // Decoded only if it is taken: the next in order, or any
                    // when draining; anything else stays in the ring.
                    let next = self.next;
                    let done = &self.done;
                    let taken = slots.take_if(w, |record, bytes| {
                        let chunk = match record {
                            Record::Chunk(chunk) => chunk,
                            // A held job's records are taken as they come.
                            Record::HeldPart => {
                                return Some(
                                    postcard::from_bytes(bytes).encoded().map(Taken::Part),
                                );
                            }
                            Record::HeldLast => {
                                return Some(
                                    postcard::from_bytes::<(Vec<u64>, T)>(bytes)
                                        .encoded()
                                        .map(|(c, v)| Taken::Last(c, v)),
                                );
                            }
                        };
                        if chunk >= chunks {
                            return Some(Err(Error::Protocol(format!(
                                "result for chunk {chunk} of {chunks}"
                            ))));
                        }
                        if done[chunk as usize] {
                            return Some(Err(Error::Protocol(format!(
                                "chunk {chunk} was mapped twice"
                            ))));
                        }
                        if chunk != next && !drain {
                            return None;
                        }
                        Some(
                            postcard::from_bytes::<T>(bytes)
                                .encoded()
                                .map(|v| Taken::Chunk(chunk, v)),
                        )
                    })?;
                    let Some(taken) = taken else {
                        break;
                    };
                    let (chunk, value) = match taken? {
                        Taken::Chunk(chunk, value) => (chunk, value),
                        held => {
                            self.take_held(w, held)?;
                            took = true;
                            continue;
                        }
                    };
                    self.done[chunk as usize] = true;
                    took = true;
                    if chunk == self.next {
                        self.fold(value);
                    } else {
                        self.early.insert(chunk, value);
                    }
                }
            }
            if !took {
                return Ok(());
            }
        }
    }
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
