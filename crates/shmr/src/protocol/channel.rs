//! The control channel between the coordinator and one worker.
//!
//! A `SOCK_SEQPACKET` Unix socket pair: each message is one packet (no
//! framing to get wrong), the kernel says when the peer is gone (end of file),
//! and file descriptors of shared-memory segments travel alongside as
//! `SCM_RIGHTS` ancillary data. Messages are small `serde` values encoded
//! with `postcard`; array data never crosses this channel.

use super::Failure;
use crate::error::Encoded;
use crate::error::{Error, Result};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::{Serialize, de::DeserializeOwned};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::time::Duration;

/// Largest control message, in bytes. Well under the default socket buffer
/// (about 208 KiB), so one packet always fits.
pub(crate) const MAX_MESSAGE: usize = 128 * 1024;
/// Most descriptors attached to one message.
const MAX_FDS: usize = 4;

#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
    /// Reused for every message: allocating and zeroing `MAX_MESSAGE` bytes
    /// per message was a fifth of a job's round trip.
    buf: std::sync::Mutex<Vec<u8>>,
}

impl Channel {
    /// A connected pair: `(this end, the end to hand to the other process)`.
    pub(crate) fn pair() -> Result<(Channel, OwnedFd)> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(Error::os("creating a control socket pair"))?;
        Ok((Channel::from_fd(a), b))
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            buf: std::sync::Mutex::new(vec![0u8; MAX_MESSAGE]),
        }
    }

    /// Encodes a message, refusing one larger than a packet may be.
    pub(crate) fn encode<M: Serialize>(msg: &M) -> Result<Vec<u8>> {
        let bytes = postcard::to_allocvec(msg).encoded()?;
        if bytes.len() > MAX_MESSAGE {
            return Err(Error::ParamsTooLarge {
                bytes: bytes.len(),
                limit: MAX_MESSAGE,
            });
        }
        Ok(bytes)
    }

    /// Sends one message with `fds` attached.
    pub(crate) fn send<M: Serialize>(&self, msg: &M, fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.send_encoded(&Self::encode(msg)?, fds)
    }

    /// Sends a message made by [`Channel::encode`], so that one message for
    /// every worker is encoded once.
    pub(crate) fn send_encoded(&self, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        assert!(
            fds.len() <= MAX_FDS,
            "internal: too many descriptors in one message"
        );
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(Error::Protocol("ancillary buffer too small".into()));
        }
        loop {
            // NOSIGNAL: a dead peer must be an error here, not a SIGPIPE that
            // kills the coordinator.
            match rustix::net::sendmsg(
                &self.fd,
                &[IoSlice::new(bytes)],
                &mut control,
                SendFlags::NOSIGNAL,
            ) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::os("sending a control message")(e)),
            }
        }
    }

    /// Receives one message, blocking. `Ok(None)` means the peer has closed
    /// its end (it exited or died).
    pub(crate) fn recv<M: DeserializeOwned>(&self) -> Result<Option<(M, Vec<OwnedFd>)>> {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = loop {
            match rustix::net::recvmsg(
                &self.fd,
                &mut [IoSliceMut::new(&mut buf[..])],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(m) => break m,
                Err(Errno::INTR) => continue,
                Err(Errno::CONNRESET) => return Ok(None),
                Err(e) => return Err(Error::os("receiving a control message")(e)),
            }
        };
        let mut fds = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = m {
                fds.extend(rights);
            }
        }
        if msg
            .flags
            .intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC)
        {
            return Err(Error::Protocol("control message truncated".into()));
        }
        if msg.bytes == 0 {
            return Ok(None);
        }
        let value = postcard::from_bytes(&buf[..msg.bytes]).encoded()?;
        Ok(Some((value, fds)))
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Waits until at least one of `fds` is readable or closed, or `timeout`
/// passes (`None`: no limit). Returns which ones are ready.
pub(crate) fn wait_any(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Result<Vec<bool>> {
    let mut polls: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    // Past what a timespec holds is as good as no limit.
    let ts = timeout.and_then(|t| {
        Some(Timespec {
            tv_sec: i64::try_from(t.as_secs()).ok()?,
            tv_nsec: t.subsec_nanos().into(),
        })
    });
    match rustix::event::poll(&mut polls, ts.as_ref()) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(e) => return Err(Error::os("waiting for workers")(e)),
    }
    Ok(polls.iter().map(|p| !p.revents().is_empty()).collect())
}

/// Version of the messages below; a worker of another version is refused.
pub(crate) const PROTOCOL: u32 = 5;

/// Coordinator to worker.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum ToWorker {
    /// First message: which slot is the worker's. Carries the slot segment,
    /// and the coordinator's probe, which the worker checks before it
    /// trusts the function addresses of later messages.
    Setup {
        index: u32,
        workers: u32,
        slot_bytes: u64,
        probe: super::FnAddr,
    },
    /// Map a segment, whose descriptor comes with the message, and keep it
    /// mapped until `Release`. Sent the first time a worker needs a segment
    /// in a given way; later jobs reuse the mapping.
    Attach {
        segment: u64,
        how: Mapping,
        layout: Option<Layout>,
    },
    /// Map chunks of an array (attached before).
    Map(MapJob),
    /// Larger result slots, replacing the worker's (same index); carries
    /// the new slot segment. Sent between jobs, when a partial did not fit.
    Slots { workers: u32, slot_bytes: u64 },
    /// The array is gone: drop the mapping.
    Release { segment: u64 },
    /// Exit now.
    Shutdown,
}

/// Where an array lies in its segment: the coordinator tells workers, who
/// check it against the segment's size (an `.npy` file has its own header,
/// which workers need not parse).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Layout {
    pub(crate) dtype: u32,
    pub(crate) shape: Vec<u64>,
    pub(crate) offset: u64,
}

impl Layout {
    pub(crate) fn of(h: &crate::memory::Header) -> Layout {
        Layout {
            dtype: h.dtype().code(),
            shape: h.shape().iter().map(|&n| n as u64).collect(),
            offset: h.offset() as u64,
        }
    }

    /// The header this layout describes, if it fits a segment of
    /// `segment_len` bytes.
    pub(crate) fn header(&self, segment_len: usize) -> Result<crate::memory::Header> {
        let bad = |why: String| Error::InvalidSegment(why);
        let dtype = crate::memory::DType::from_code(self.dtype)
            .ok_or_else(|| bad(format!("unknown dtype code {}", self.dtype)))?;
        let shape = self
            .shape
            .iter()
            .map(|&n| usize::try_from(n).map_err(|_| bad(format!("axis length {n}"))))
            .collect::<Result<Vec<usize>>>()?;
        let h = crate::memory::Header::new(dtype, &shape)?.at_offset(self.offset)?;
        if h.segment_len() > segment_len as u64 {
            return Err(bad(format!(
                "the array needs {} bytes but its segment has {segment_len}",
                h.segment_len()
            )));
        }
        Ok(h)
    }
}

/// How a worker maps a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) enum Mapping {
    /// An array a job reads: reopened read-only, so that not even `unsafe`
    /// code in a mapper can write it.
    ReadOnly,
    /// An array a job writes.
    Writable,
    /// The pool's lock table.
    Locks,
}

/// What a job does with its arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Access {
    /// Reads the input; partials go to the slots.
    Read,
    /// Writes each chunk of the input in place; with `guard`, the rest of
    /// the array is write-protected while a worker maps a chunk.
    InPlace { guard: bool },
    /// Reads the input, writes the same rows of `output`.
    Into { output: u64 },
    /// Reads the input, writes anywhere in `output` under striped locks.
    Locked {
        output: u64,
        locks: u64,
        stripes: u64,
    },
}

impl Access {
    /// How the job's input `parts` (segment ids, in order) are mapped: the
    /// first writable in an in-place job, all others read-only.
    pub(crate) fn part_mapping(&self, index: usize) -> Mapping {
        match (self, index) {
            (Access::InPlace { .. }, 0) => Mapping::Writable,
            _ => Mapping::ReadOnly,
        }
    }

    /// The segments this access needs mapped, the input's `parts` first,
    /// each once.
    pub(crate) fn mappings(&self, parts: &[u64]) -> Vec<(u64, Mapping)> {
        let mut all: Vec<(u64, Mapping)> = parts
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, self.part_mapping(i)))
            .collect();
        match *self {
            Access::Read | Access::InPlace { .. } => {}
            Access::Into { output } => all.push((output, Mapping::Writable)),
            Access::Locked { output, locks, .. } => {
                all.push((output, Mapping::Writable));
                all.push((locks, Mapping::Locks));
            }
        }
        let mut seen = std::collections::HashSet::new();
        all.retain(|m| seen.insert(*m));
        all
    }
}

/// The function a worker calls for a job: it decodes the job's mapper from
/// the payload and maps chunks of the job's memory.
pub(crate) type Entry =
    fn(&mut crate::shm::JobMemory<'_>, &[u8]) -> std::result::Result<(), Failure>;

super::fn_ptr! {
    [] fn(&mut crate::shm::JobMemory<'_>, &[u8]) -> std::result::Result<(), Failure>;
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct MapJob {
    pub(crate) job: u64,
    pub(crate) entry: super::Func<Entry>,
    /// The segments of the arrays the mapper reads, in the input's order.
    pub(crate) parts: Vec<u64>,
    pub(crate) access: Access,
    pub(crate) partition: crate::shm::Partition,
    /// The chunks of this round: all, or those lost with a dead worker.
    pub(crate) selection: crate::shm::Selection,
    pub(crate) payload: Vec<u8>,
}

/// Worker to coordinator.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum FromWorker {
    /// Sent once at start; `probe` lets the coordinator check the worker
    /// runs the same executable (same function offsets).
    Ready {
        pid: u32,
        protocol: u32,
        probe: super::FnAddr,
    },
    /// The answer to `Setup`: the worker can use its slot.
    SetUp,
    /// The answer to `Setup` of a worker that cannot use it; it exits.
    Refused { why: String },
    /// This worker's part of the job is finished; its records are
    /// committed in its slot.
    Done { job: u64 },
    /// This worker waits for room in its slot's ring (or has just
    /// committed a record while another waits): the coordinator should
    /// take records. Not a reply: more messages follow.
    Full { job: u64 },
    /// This worker's part failed; it is still alive and ready for more.
    Failed { job: u64, failure: super::Failure },
}

/// Fuzzing of control messages: a worker or coordinator that sends garbage
/// (a bug, another build) must be an error on the other side, not a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::shm::{Partition, Selection};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::fuzz_config())]

        #[test]
        fn arbitrary_messages_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = postcard::from_bytes::<ToWorker>(&bytes);
            let _ = postcard::from_bytes::<FromWorker>(&bytes);
        }

        #[test]
        fn any_selection_names_only_chunks_of_the_partition(
            rows in 0u64..1000,
            chunk_rows in 1u64..100,
            runs in prop::collection::vec((any::<u64>(), any::<u64>()), 0..8),
            k in 0u64..2000,
        ) {
            let p = Partition::new(rows, chunk_rows);
            if let Some(c) = Selection::Runs(runs).nth(&p, k) {
                prop_assert!(c < p.len());
            }
        }
    }
}
