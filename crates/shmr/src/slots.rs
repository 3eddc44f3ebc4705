//! Result slots: where workers leave their partial results.
//!
//! One segment per pool. The first page holds the job's chunk counter, which
//! workers bump to claim chunks (dynamic load balancing without a message per
//! chunk). After it, each worker owns one region of `slot_bytes` into which it
//! appends one record per chunk it mapped:
//!
//! ```text
//! | chunk index: u64 | payload length: u64 | payload (postcard) | pad to 8 |
//! ```
//!
//! A region is written only by its worker while a job runs and read only by
//! the coordinator after that worker has reported done, so no lock is needed.

use crate::error::{Error, Result};
use crate::segment::Segment;
use serde::Serialize;
use std::sync::atomic::AtomicU64;

/// The control page before the worker regions.
const CONTROL_BYTES: usize = 4096;
const RECORD_HEADER: usize = 16;

/// The pool's slot segment, as mapped by the coordinator or by a worker.
#[derive(Debug)]
pub(crate) struct Slots {
    segment: Segment,
    slot_bytes: usize,
    workers: usize,
}

impl Slots {
    /// Creates the segment for `workers` regions of `slot_bytes` each.
    pub(crate) fn create(workers: usize, slot_bytes: usize) -> Result<Slots> {
        let slot_bytes = slot_bytes.next_multiple_of(64);
        let len = workers
            .checked_mul(slot_bytes)
            .and_then(|n| n.checked_add(CONTROL_BYTES))
            .ok_or_else(|| Error::InvalidConfig("slot_bytes * workers overflows".into()))?;
        Ok(Slots {
            segment: Segment::create(len)?,
            slot_bytes,
            workers,
        })
    }

    /// The worker's view of a slot segment it received.
    pub(crate) fn from_segment(
        segment: Segment,
        slot_bytes: usize,
        workers: usize,
    ) -> Result<Slots> {
        let need = workers
            .saturating_mul(slot_bytes)
            .saturating_add(CONTROL_BYTES);
        if segment.len() < need || !slot_bytes.is_multiple_of(64) {
            return Err(Error::Protocol(format!(
                "slot segment of {} bytes cannot hold {workers} slots of {slot_bytes}",
                segment.len()
            )));
        }
        Ok(Slots {
            segment,
            slot_bytes,
            workers,
        })
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.segment
    }
    pub(crate) fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }
    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    /// The shared chunk counter.
    pub(crate) fn claims(&self) -> &AtomicU64 {
        self.control_word(0)
    }

    /// How many workers have finished the current job. Only a hint that
    /// lets the coordinator spin briefly instead of sleeping until the
    /// replies wake it; the replies on the sockets remain the truth.
    pub(crate) fn finished(&self) -> &AtomicU64 {
        self.control_word(1)
    }

    /// Word `i` of the control page, each on its own cache line so that
    /// claiming chunks and finishing do not contend.
    fn control_word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i * 64 + 8 <= CONTROL_BYTES);
        // SAFETY: offset i * 64 of a page-aligned mapping at least
        // CONTROL_BYTES long that lives as long as `self`; AtomicU64 has the
        // size and alignment of u64, every bit pattern is valid, and the
        // word is only ever accessed atomically, by this process and by the
        // others mapping the same page.
        unsafe { &*self.segment.ptr().add(i * 64).cast::<AtomicU64>() }
    }

    fn region_ptr(&self, worker: usize) -> *mut u8 {
        assert!(worker < self.workers, "internal: slot index out of range");
        // SAFETY: CONTROL_BYTES + workers * slot_bytes <= segment length
        // (checked at creation), so the region is inside the mapping.
        unsafe {
            self.segment
                .ptr()
                .add(CONTROL_BYTES + worker * self.slot_bytes)
        }
    }

    /// A writer for `worker`'s region, starting empty.
    ///
    /// # Safety
    /// The caller must be that worker, during a job, so that nothing else
    /// reads or writes the region while the writer lives.
    pub(crate) unsafe fn writer(&self, worker: usize) -> SlotWriter<'_> {
        SlotWriter {
            // SAFETY: the region is `slot_bytes` long and inside the mapping
            // (see region_ptr); the caller guarantees exclusive access.
            region: unsafe {
                std::slice::from_raw_parts_mut(self.region_ptr(worker), self.slot_bytes)
            },
            used: 0,
        }
    }

    /// The records `worker` wrote, as `(chunk, payload)` pairs.
    ///
    /// # Safety
    /// The worker must have reported done for the current job and must not
    /// be given another job while the returned slices live.
    pub(crate) unsafe fn records(&self, worker: usize, used: u64) -> Result<Vec<(u64, &[u8])>> {
        let used = usize::try_from(used).unwrap_or(usize::MAX);
        if used > self.slot_bytes {
            return Err(Error::Protocol(format!(
                "worker {worker} reported {used} bytes of results"
            )));
        }
        // SAFETY: in bounds (used <= slot_bytes), and by the caller's promise
        // nobody writes the region while we read it.
        let region = unsafe { std::slice::from_raw_parts(self.region_ptr(worker), used) };
        let mut out = Vec::new();
        let mut at = 0;
        while at < used {
            let corrupt = || {
                Error::Protocol(format!(
                    "corrupt result record in slot {worker} at byte {at}"
                ))
            };
            let head = region.get(at..at + RECORD_HEADER).ok_or_else(corrupt)?;
            let chunk = u64::from_le_bytes(head[0..8].try_into().map_err(|_| corrupt())?);
            let len = u64::from_le_bytes(head[8..16].try_into().map_err(|_| corrupt())?);
            let len = usize::try_from(len).map_err(|_| corrupt())?;
            let start = at + RECORD_HEADER;
            let payload = region
                .get(start..start.checked_add(len).ok_or_else(corrupt)?)
                .ok_or_else(corrupt)?;
            out.push((chunk, payload));
            at = (start + len).next_multiple_of(8);
        }
        Ok(out)
    }
}

/// Appends records to one worker's region.
pub(crate) struct SlotWriter<'a> {
    region: &'a mut [u8],
    used: usize,
}

impl SlotWriter<'_> {
    /// Appends the partial result of `chunk`.
    pub(crate) fn push<T: Serialize>(&mut self, chunk: u64, value: &T) -> Result<()> {
        let capacity = self.region.len();
        let overflow = |needed: usize, used: usize| Error::SlotOverflow {
            chunk,
            needed: needed as u64,
            available: (capacity - used) as u64,
            capacity: capacity as u64,
        };
        let start = self.used + RECORD_HEADER;
        if start > capacity {
            return Err(overflow(RECORD_HEADER, self.used));
        }
        let len = match postcard::to_slice(value, &mut self.region[start..]) {
            Ok(written) => written.len(),
            Err(postcard::Error::SerializeBufferFull) => {
                let needed = postcard::to_allocvec(value)
                    .map(|v| v.len())
                    .unwrap_or(usize::MAX);
                return Err(overflow(needed.saturating_add(RECORD_HEADER), self.used));
            }
            Err(e) => return Err(e.into()),
        };
        let head = &mut self.region[self.used..start];
        head[0..8].copy_from_slice(&chunk.to_le_bytes());
        head[8..16].copy_from_slice(&(len as u64).to_le_bytes());
        self.used = (start + len).next_multiple_of(8).min(capacity);
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn used(&self) -> u64 {
        self.used as u64
    }
}
