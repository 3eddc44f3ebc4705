//! The worker process: how it is entered and what it does.
//!
//! A worker is this same executable, started again with `SHMR_WORKER` in
//! its environment. [`init`] sees it and never returns: the process serves
//! jobs until the coordinator says stop or goes away.

use crate::error::{Error, Result};
use crate::memory::{Header, Segment};
use crate::protocol::{
    self, Access, Channel, Entry, Failure, FromWorker, Inherited, Layout, MapJob, Mapping, Role,
    ToWorker, role,
};
use crate::shm::{JobMemory, LockTable, WorkerSlot};
use rustix::fd::OwnedFd;
use std::collections::HashMap;
use std::time::Duration;

/// Name of the test that [`test_worker!`](crate::test_worker) defines.
pub(crate) const TEST_ENTRY: &str = "shmr_worker_entry";

/// Diverts worker processes into the worker loop; a no-op in the program
/// itself. Call it first thing in `main`.
///
/// Workers are started by re-executing the current program, so every
/// program that uses a [`Pool`](crate::Pool) must call `init` before it does
/// anything else. In a test file, where libtest owns `main`, write
/// [`shmr::test_worker!();`](crate::test_worker) once instead.
///
/// # What runs before `init`, runs again in every worker
///
/// Everything `main` does before `init` is done once more by each worker
/// process, side effects included: a program that appends a line to a log
/// and then starts a pool of two workers finds three lines in the log. A
/// program that never calls `init` runs its whole `main` in each worker
/// until that `main` starts a pool, which then fails with
/// [`Error::WorkerStart`](crate::Error::WorkerStart) saying `init` is
/// missing: the error is clear, but the side effects have happened. So put
/// `init` first, before any output, file, socket or thread is made.
///
/// # Example
/// ```
/// fn main() -> Result<(), shmr::Error> {
///     shmr::init();
///     let data = shmr::SharedArray::from_array(&ndarray::arr1(&[1u8, 2, 3]))?;
///     assert_eq!(shmr::run(&data, &shmr::builtin::Sum)?, 6);
///     Ok(())
/// }
/// ```
pub fn init() {
    match role() {
        Role::Program => return,
        // The coordinator died before this worker got going: nothing to do,
        // and running the user's main instead would be wrong.
        Role::Orphan => std::process::exit(0),
        Role::Worker => {}
    }
    let code = match serve() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("shmr worker {}: {e}", std::process::id());
            2
        }
    };
    std::process::exit(code);
}

/// Whether this process is a worker (then it must not start pools of its
/// own: a mapper that tries gets an error rather than a pool per worker).
pub(crate) fn started_as_worker() -> bool {
    matches!(role(), Role::Worker | Role::Orphan)
}

fn serve() -> Result<()> {
    let Inherited { socket, output } = protocol::inherited()?;
    // Programs a mapper starts must not inherit the control socket: they
    // would keep it open after this worker died, hiding its death.
    rustix::io::fcntl_setfd(&socket, rustix::io::FdFlags::CLOEXEC)
        .map_err(Error::os("marking the control socket close-on-exec"))?;
    // The watchdog's own handle on the socket, close-on-exec like it.
    let hangup = rustix::io::fcntl_dupfd_cloexec(&socket, 0)
        .map_err(Error::os("duplicating the control socket"))?;
    let chan = Channel::from_fd(socket);
    rustix::stdio::dup2_stdout(&output).map_err(Error::os("redirecting worker output"))?;
    drop(output);
    watch_parent(hangup);
    crate::job::install_panic_hook();
    let Some((index, mut slot)) = protocol::join(&chan)? else {
        return Ok(());
    };
    let mut maps: Maps = HashMap::new();
    loop {
        let Some((msg, fds)) = chan.recv()? else {
            return Ok(()); // the coordinator is gone
        };
        match msg {
            ToWorker::Map(job) => {
                let reply = match run_job(&chan, &mut slot, &maps, &job) {
                    Ok(()) => FromWorker::Done { job: job.job },
                    Err(failure) => {
                        // Stop the other workers from claiming more chunks
                        // of a job that has failed; not for a partial too
                        // large for the slot, which the coordinator maps
                        // again after growing the slots.
                        if !matches!(failure, Failure::SlotOverflow { .. }) {
                            slot.shared().stop_claims();
                        }
                        FromWorker::Failed {
                            job: job.job,
                            failure,
                        }
                    }
                };
                // Before the reply: our slot writes are visible to the
                // coordinator it wakes (or that spins on `finished`).
                slot.shared().mark_finished();
                chan.send(&reply, &[])?;
            }
            ToWorker::Attach {
                segment,
                how,
                layout,
            } => {
                let fd = fds
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Protocol("attach without a descriptor".into()))?;
                // A segment that cannot be mapped is reported by the job
                // that needs it, with the reason, not by ending the worker.
                let mapped = Mapped::new(segment, fd, how, layout).map_err(|e| e.to_string());
                maps.insert((segment, how), mapped);
            }
            ToWorker::Release { segment } => {
                maps.retain(|&(id, _), _| id != segment);
            }
            ToWorker::Slots {
                workers,
                slot_bytes,
            } => {
                // A worker that cannot map them ends, and is replaced (with
                // the new slots) by the coordinator.
                slot = protocol::slot(index, workers, slot_bytes, fds.into_iter().next())?;
            }
            ToWorker::Shutdown => return Ok(()),
            ToWorker::Setup { .. } => return Err(Error::Protocol("second setup".into())),
        }
    }
}

/// The segments this worker was sent, by id and how: mapped, or why not.
type Maps = HashMap<(u64, Mapping), Result<Mapped, String>>;

/// One mapped segment, with its array header (none for a lock table).
struct Mapped {
    segment: Segment,
    header: Option<Header>,
}

impl Mapped {
    fn new(id: u64, fd: OwnedFd, how: Mapping, layout: Option<Layout>) -> Result<Mapped> {
        let segment = Segment::from_fd(id, fd, how != Mapping::ReadOnly)?;
        let header = match layout {
            Some(l) => Some(l.header(segment.len())?),
            None => None,
        };
        Ok(Mapped { segment, header })
    }
}

fn run_job(
    chan: &Channel,
    slot: &mut WorkerSlot,
    maps: &Maps,
    job: &MapJob,
) -> Result<(), Failure> {
    let find = |id: u64, how: Mapping| match maps.get(&(id, how)) {
        Some(Ok(m)) => Ok(m),
        Some(Err(why)) => Err(Failure::Other(format!(
            "segment {id} ({how:?}) could not be mapped: {why}"
        ))),
        None => Err(Failure::Other(format!(
            "segment {id} ({how:?}) was never sent"
        ))),
    };
    let array = |id: u64, how: Mapping| -> Result<(&Segment, &Header), Failure> {
        let m = find(id, how)?;
        let header = m
            .header
            .as_ref()
            .ok_or_else(|| Failure::Other(format!("segment {id} is not an array")))?;
        Ok((&m.segment, header))
    };
    let parts = job
        .parts
        .iter()
        .enumerate()
        .map(|(i, &id)| array(id, job.access.part_mapping(i)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let output = match job.access {
        Access::Into { output } | Access::Locked { output, .. } => {
            Some(array(output, Mapping::Writable)?)
        }
        Access::Read | Access::InPlace { .. } => None,
    };
    let locks = match job.access {
        Access::Locked { locks, stripes, .. } => Some(LockTable::new(
            &find(locks, Mapping::Locks)?.segment,
            stripes as usize,
        )?),
        _ => None,
    };
    // Tells the coordinator to take records: best effort, since a
    // coordinator that is gone ends this worker anyway.
    let notify = || {
        let _ = chan.send(&FromWorker::Full { job: job.job }, &[]);
    };
    let mut memory = JobMemory::new(
        parts,
        output,
        locks,
        job.partition,
        &job.selection,
        slot.job(&notify),
        matches!(job.access, Access::InPlace { guard: true }),
    );
    let entry: Entry = job.entry.get();
    entry(&mut memory, &job.payload)
}

/// How often a worker checks that its coordinator is alive, when the
/// control socket does not tell it first.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(100);

/// Ends this worker when the coordinator dies, even while a mapper is busy
/// (the main thread sees end of file on the control socket only between
/// jobs). The coordinator's death closes its end of the socket, which this
/// thread sees at once as a hang-up; a process the coordinator forked may
/// still hold that end, so the parent is also checked every
/// `WATCHDOG_PERIOD`.
///
/// Not `PR_SET_PDEATHSIG`: that fires when the *thread* that spawned the
/// worker exits, and the coordinator starts replacement workers from
/// whichever thread runs a job.
fn watch_parent(socket: OwnedFd) {
    let parent = rustix::process::getppid();
    let _ = std::thread::Builder::new()
        .name("shmr-watchdog".into())
        .spawn(move || {
            use rustix::event::{PollFd, PollFlags, Timespec};
            let period = Timespec {
                tv_sec: 0,
                tv_nsec: WATCHDOG_PERIOD.as_nanos() as _,
            };
            loop {
                // Only hang-ups and errors wake this: messages are the main
                // thread's to read.
                let mut fds = [PollFd::new(&socket, PollFlags::RDHUP)];
                let hung_up = match rustix::event::poll(&mut fds, Some(&period)) {
                    Ok(_) => fds[0]
                        .revents()
                        .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR),
                    Err(_) => {
                        std::thread::sleep(WATCHDOG_PERIOD);
                        false
                    }
                };
                if hung_up || rustix::process::getppid() != parent {
                    // SIGKILL, not exit(): exit runs atexit handlers and
                    // flushes C stdio, which can deadlock against a mapper
                    // stuck in native code holding those locks.
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::KILL,
                    );
                }
            }
        });
}
