//! One job's run on the pool: its plan, its rounds, and what happens when
//! workers die or hang during one.
//!
//! A job runs in rounds. The first maps every chunk; if workers die, their
//! committed partials are kept and the chunks they were mapping are mapped
//! again in a further round on live and replacement workers, when mapping a
//! chunk twice is harmless. See `docs/design.md`, "The life of one job".

use super::fold::{Folder, Take};
use super::plan::Plan;
use super::pool::Pool;
use super::settings::{ProgressFn, Settings, StopFn};
use super::state::{RoundSpec, deadline_after, guard};
use crate::error::{Error, Result};
use crate::job::{JobReport, Writes};
use crate::protocol::{Access, Channel, MapJob, ToWorker};
use crate::shm::Selection;
use crate::shm::{self, LockTable};
use serde::de::DeserializeOwned;
use std::time::Instant;

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
        stop: Option<&StopFn<'_>>,
        reduce: &mut dyn FnMut(T, T) -> T,
    ) -> Result<(Option<T>, JobReport)> {
        let result = self.rounds(plan, settings, progress, stop, reduce);
        // Arrays dropped while this job held the pool are released now.
        self.inner.flush_if_idle();
        result
    }

    fn rounds<T: DeserializeOwned>(
        &self,
        mut plan: Plan<'_>,
        settings: Settings,
        progress: Option<&ProgressFn<'_>>,
        stop: Option<&StopFn<'_>>,
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
        let mut folder = Folder::new(partition.len(), plan.fold, reduce);
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
                    stop: stop.map(|s| s as &dyn Fn() -> bool),
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
            folder.drop_unfinished_held();
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
            if !plan.retryable
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
        report.partial_bytes = folder.bytes;
        Ok((folder.finish()?, report))
    }
}

/// Rounds of one job, beyond its retries, in which every worker that died
/// did so between chunks.
const MAX_IDLE_DEATH_ROUNDS: u32 = 2;
