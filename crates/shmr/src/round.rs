//! One job's run on the pool: its plan, its rounds, and what happens when
//! workers die or hang during one.
//!
//! A job runs in rounds. The first maps every chunk; if workers die, their
//! committed partials are kept and the chunks they were mapping are mapped
//! again in a further round on live and replacement workers, when mapping a
//! chunk twice is harmless. See `docs/design.md`, "The life of one job".

use crate::array::{ArrayRef, SharedArray};
use crate::channel::{self, Access, Channel, FromWorker, Layout, MapJob, Mapping, ToWorker};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::job::{FnAddr, JobReport, Mapper, entry_for};
use crate::lock::{self, LockTable};
use crate::options::{ProgressFn, Settings};
use crate::partition::{Partition, Selection};
use crate::pool::{Pool, State, Worker, guard};
use crate::segment::Segment;
use crate::slots::STOP_CLAIMS;
use ndarray::Dimension;
use rustix::fd::{AsFd, BorrowedFd};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

impl Pool {
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
        let result = self.rounds(plan, settings, progress);
        // Arrays dropped while this job held the pool are released now.
        self.inner.flush_if_idle();
        result
    }

    fn rounds<T: DeserializeOwned>(
        &self,
        mut plan: Plan<'_>,
        settings: Settings,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<(Vec<T>, JobReport)> {
        settings.check()?;
        let started = Instant::now();
        let partition = plan.partition;
        let mut state = guard(&self.inner.state);
        // The timeout covers the job's run, not its wait for the pool.
        let deadline = settings.timeout.map(|t| (t, Instant::now() + t));
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
        let mut out: Vec<Option<T>> = (0..partition.len()).map(|_| None).collect();
        let mut job = MapJob {
            job: 0,
            entry: plan.entry,
            segment: plan.input.segment.id(),
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
            let tick = progress.map(|f| {
                let done_before = out.iter().filter(|p| p.is_some()).count() as u64;
                let in_round = partition.len() - done_before;
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
                        Some(lock::stripe_range(len, stripes, s))
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
        // The descriptor of segment `id`, and the array's layout in it (the
        // lock table has none).
        let find = |id: u64| -> (BorrowedFd<'s>, Option<Layout>) {
            let arrays = [Some(self.input), output];
            match arrays.into_iter().flatten().find(|a| a.segment.id() == id) {
                Some(a) => (a.segment.fd(), Some(Layout::of(a.header))),
                None => {
                    let table = locks.expect("internal: a mapping names a segment of the job");
                    (table.fd(), None)
                }
            }
        };
        let attach = access
            .mappings(self.input.segment.id())
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
