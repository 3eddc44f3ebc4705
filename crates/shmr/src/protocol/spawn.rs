//! How a worker process is recognised and joins its coordinator: the
//! environment variable and descriptors the coordinator starts it with, and
//! the handshake that gives it its slot.

use super::channel::{Channel, FromWorker, PROTOCOL, ToWorker};
use super::fnaddr::{probe, trust};
use crate::error::{Error, Result};
use crate::memory::Segment;
use crate::shm::{Slots, WorkerSlot};
use rustix::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Environment variable that marks a worker process; its value is the
/// coordinator's process id. A process is a worker only if that process is
/// its parent: a program a mapper starts inherits the variable but has the
/// worker, not the coordinator, as its parent.
pub(crate) const WORKER_ENV: &str = "SHMR_WORKER";
/// Where the control socket is placed in the worker.
pub(crate) const WORKER_FD: RawFd = 3;
/// Where the coordinator's stderr is placed in the worker; the worker makes
/// it its stdout. Until then stdout is `/dev/null`, which swallows the
/// banner libtest prints before it reaches the worker entry test.
pub(crate) const OUTPUT_FD: RawFd = 4;

/// What this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A program (perhaps a coordinator).
    Program,
    /// A worker whose coordinator is its parent.
    Worker,
    /// A worker whose coordinator died before it started.
    Orphan,
}

pub(crate) fn role() -> Role {
    let Some(coordinator) = std::env::var(WORKER_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return Role::Program;
    };
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if parent == Some(coordinator) {
        return Role::Worker;
    }
    // Not our parent: either a program started by a mapper (which inherited
    // the variable, but not the control socket, which workers mark
    // close-on-exec), or a worker whose coordinator died before it started.
    let fd = std::fs::read_link(format!("/proc/self/fd/{WORKER_FD}")).unwrap_or_default();
    if fd.to_string_lossy().starts_with("socket:") {
        Role::Orphan
    } else {
        Role::Program
    }
}

/// The descriptors a worker is started with: its end of the control
/// socket, and the coordinator's stderr.
pub(crate) struct Inherited {
    pub(crate) socket: OwnedFd,
    pub(crate) output: OwnedFd,
}

/// Takes the descriptors the coordinator placed in this worker. Once per
/// process, and only in a worker.
pub(crate) fn inherited() -> Result<Inherited> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if role() != Role::Worker {
        return Err(Error::Protocol("not a worker process".into()));
    }
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(Error::Protocol(
            "the worker's descriptors were taken twice".into(),
        ));
    }
    // SAFETY: this process is a worker of its parent (`role`), which placed
    // its end of the control socket at WORKER_FD and its stderr at
    // OUTPUT_FD when it spawned us (`coordinator/pool.rs`, `spawn`); the
    // worker takes them first thing (`shmr::init`), before it opens
    // anything, so nothing else in this process owns them, and `TAKEN`
    // lets them be taken once.
    Ok(unsafe {
        Inherited {
            socket: OwnedFd::from_raw_fd(WORKER_FD),
            output: OwnedFd::from_raw_fd(OUTPUT_FD),
        }
    })
}

/// Worker `index`'s view of the slot segment `fd` (of `workers` slots of
/// `slot_bytes`), from `Setup` or a later `Slots` message.
pub(crate) fn slot(
    index: u32,
    workers: u32,
    slot_bytes: u64,
    fd: Option<OwnedFd>,
) -> Result<WorkerSlot> {
    let fd = fd.ok_or_else(|| Error::Protocol("slots without their segment".into()))?;
    let bytes = usize::try_from(slot_bytes)
        .map_err(|_| Error::Protocol(format!("slot of {slot_bytes} bytes")))?;
    let slots = Slots::from_segment(Segment::from_fd(0, fd, true)?, bytes, workers as usize)?;
    // SAFETY: the coordinator sends `Setup { index }` to one worker per
    // index, and gives an index again only to the replacement of a worker
    // it has killed and reaped (`coordinator/pool.rs`); `Slots` messages go
    // to each live worker with its own index's region.
    unsafe { WorkerSlot::new(slots, index as usize) }
}

/// The worker's side of the handshake: says it is ready, receives its slot,
/// checks that its coordinator runs the same build, and answers whether it
/// can use the slot. `None` if the coordinator went away instead. Returns
/// the worker's index and slot.
pub(crate) fn join(chan: &Channel) -> Result<Option<(u32, WorkerSlot)>> {
    chan.send(
        &FromWorker::Ready {
            pid: std::process::id(),
            protocol: PROTOCOL,
            probe: probe(),
        },
        &[],
    )?;
    let Some((
        ToWorker::Setup {
            index,
            workers,
            slot_bytes,
            probe,
        },
        mut fds,
    )) = chan.recv()?
    else {
        return Ok(None);
    };
    let slot = trust(probe).and_then(|()| slot(index, workers, slot_bytes, fds.pop()));
    match slot {
        Ok(slot) => {
            chan.send(&FromWorker::SetUp, &[])?;
            Ok(Some((index, slot)))
        }
        Err(e) => {
            chan.send(&FromWorker::Refused { why: e.to_string() }, &[])?;
            Err(e)
        }
    }
}
