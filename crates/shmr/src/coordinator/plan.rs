//! What the coordinator needs to run one job: the arrays it reads, how
//! they are cut, what it writes, its kind's entry point and payload, and
//! how its partials are folded; and what each worker must have mapped.

use crate::error::Result;
use crate::job::{Fold, Kind, Ready, Writes};
use crate::memory::{ArrayRef, Element, Segment, SharedArray};
use crate::protocol::{Access, Entry, Func, Layout, Mapping};
use crate::shm::Partition;
use ndarray::Dimension;
use rustix::fd::BorrowedFd;

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
    /// The kind's [`Kind::RETRYABLE`].
    pub(crate) retryable: bool,
    /// The kind's [`Kind::FOLD`].
    pub(crate) fold: Fold,
}

/// A segment a worker must have mapped for a job: its id, how, its
/// descriptor (sent the first time), and the array's layout in it.
pub(super) type Attachment<'a> = (u64, Mapping, BorrowedFd<'a>, Option<Layout>);

impl<'p> Plan<'p> {
    /// `job` over `parts`, cut by `partition`.
    pub(crate) fn new<K: Kind>(
        partition: Partition,
        parts: &[InputPart<'p>],
        job: Ready<'p, K>,
    ) -> Self {
        Plan {
            parts: parts.iter().map(|p| p.array).collect(),
            partition,
            writes: job.writes,
            entry: job.entry(),
            payload: job.payload,
            retryable: K::RETRYABLE,
            fold: K::FOLD,
        }
    }

    /// Checks that no file behind the job's arrays has shrunk.
    pub(super) fn check_sizes(&self) -> Result<()> {
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
    pub(super) fn access<'s>(&'s self, locks: Option<&'s Segment>) -> (Access, Vec<Attachment<'s>>)
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
