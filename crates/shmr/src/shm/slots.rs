//! Result slots: where workers leave their partial results.
//!
//! One segment per pool. The first page holds the job's chunk counter, which
//! workers bump to claim chunks (dynamic load balancing without a message per
//! chunk). After it, each worker owns one region of `slot_bytes`: a 64-byte
//! region header, then one record per chunk it mapped:
//!
//! ```text
//! region header: | committed bytes: u64 | chunk in progress + 1 (0: none): u64 | locks taken: u64 | 40 reserved |
//! record:        | chunk index: u64 | payload length: u64 | payload (postcard) | pad to 8 |
//! ```
//!
//! A region is written only by its worker while a job runs and read only by
//! the coordinator after that worker has replied or died, so no lock is
//! needed. The worker publishes `committed` after each record, so the records
//! of a worker that dies mid-job are still usable: only the chunk it was
//! mapping (named by `in progress`) is lost and run again.

use crate::error::{Error, Result};
use crate::memory::Segment;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// The control page before the worker regions.
const CONTROL_BYTES: usize = 4096;
const RECORD_HEADER: usize = 16;
/// The header at the start of each worker's region.
const REGION_HEADER: usize = 64;
/// A claim count past any selection: stores of it stop a job's claiming,
/// with room left so that later increments cannot wrap.
pub(crate) const STOP_CLAIMS: u64 = u64::MAX / 2;
/// What a worker stores in its `in_progress` word while it claims a chunk:
/// it may be about to hold one.
pub(crate) const CLAIMING: u64 = u64::MAX;
/// The smallest slot: its header and one empty record.
pub(crate) const MIN_SLOT_BYTES: usize = REGION_HEADER + 64;
/// The largest slot: its size, rounded up to 64 bytes and times the
/// workers, must not overflow, and record lengths fit in a u64.
pub(crate) const MAX_SLOT_BYTES: usize = 1 << 40;

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
        let too_large = || {
            Error::InvalidConfig(format!(
                "{workers} workers x slot_bytes({slot_bytes}) is more memory than can be addressed; \
                 use fewer workers or a smaller slot_bytes"
            ))
        };
        let slot_bytes = slot_bytes
            .checked_next_multiple_of(64)
            .ok_or_else(too_large)?;
        let len = workers
            .checked_mul(slot_bytes)
            .and_then(|n| n.checked_add(CONTROL_BYTES))
            .ok_or_else(too_large)?;
        let what = format!(
            "the result slots of {workers} workers of {} each (PoolBuilder::workers and slot_bytes)",
            crate::error::human_bytes(slot_bytes as u64)
        );
        Ok(Slots {
            segment: Segment::create(len, &what)?,
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
            .checked_mul(slot_bytes)
            .and_then(|n| n.checked_add(CONTROL_BYTES));
        if need.is_none_or(|need| segment.len() < need)
            || !slot_bytes.is_multiple_of(64)
            || slot_bytes < MIN_SLOT_BYTES
            || workers == 0
        {
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
        self.segment.atomic_u64(i * 64)
    }

    /// Word `i` of `worker`'s region header, which is reached only through
    /// atomics (the records after it are not).
    fn region_word(&self, worker: usize, i: usize) -> &AtomicU64 {
        debug_assert!(i * 8 + 8 <= REGION_HEADER);
        self.segment.atomic_u64(self.region_start(worker) + i * 8)
    }

    /// Bytes of records `worker` has finished writing in the current job.
    pub(crate) fn committed(&self, worker: usize) -> &AtomicU64 {
        self.region_word(worker, 0)
    }

    /// The chunk `worker` is mapping, plus one; 0 when it is between chunks;
    /// [`CLAIMING`] while it claims one.
    pub(crate) fn in_progress(&self, worker: usize) -> &AtomicU64 {
        self.region_word(worker, 1)
    }

    /// What `worker` is doing, from its `in_progress` word.
    pub(crate) fn holding(&self, worker: usize) -> Holding {
        match self.in_progress(worker).load(Ordering::SeqCst) {
            0 => Holding::Nothing,
            CLAIMING => Holding::Claiming,
            n => Holding::Chunk(n - 1),
        }
    }

    /// How many locks `worker` has taken in the current job.
    pub(crate) fn locks_taken(&self, worker: usize) -> &AtomicU64 {
        self.region_word(worker, 2)
    }

    /// Locks taken by all workers in the current job (read after it).
    pub(crate) fn total_locks_taken(&self) -> u64 {
        (0..self.workers)
            .map(|w| self.locks_taken(w).load(Ordering::Relaxed))
            .sum()
    }

    /// Clears every region header before a job.
    pub(crate) fn reset(&self) {
        for w in 0..self.workers {
            self.committed(w).store(0, Ordering::Relaxed);
            self.in_progress(w).store(0, Ordering::Relaxed);
            self.locks_taken(w).store(0, Ordering::Relaxed);
        }
        self.claims().store(0, Ordering::Relaxed);
        self.finished().store(0, Ordering::Relaxed);
    }

    /// Where `worker`'s region starts in the segment.
    fn region_start(&self, worker: usize) -> usize {
        assert!(worker < self.workers, "internal: slot index out of range");
        CONTROL_BYTES + worker * self.slot_bytes
    }

    /// Start of `worker`'s records area.
    fn records_ptr(&self, worker: usize) -> *mut u8 {
        // `wrapping_add` stays in bounds: CONTROL_BYTES + workers *
        // slot_bytes <= the segment's length (checked at creation).
        self.segment
            .ptr()
            .wrapping_add(self.region_start(worker) + REGION_HEADER)
    }

    /// The records `worker` committed in the current job, as
    /// `(chunk, payload)` pairs.
    ///
    /// # Safety
    /// The worker must have replied to the current job, or be dead, and must
    /// not be given another job (nor be replaced) while the returned slices
    /// live.
    pub(crate) unsafe fn records(&self, worker: usize) -> Result<Vec<(u64, &[u8])>> {
        let used = self.committed(worker).load(Ordering::Acquire);
        let area = self.slot_bytes - REGION_HEADER;
        let used = usize::try_from(used).unwrap_or(usize::MAX);
        if used > area {
            return Err(Error::Protocol(format!(
                "worker {worker} committed {used} bytes of results to a {area}-byte slot"
            )));
        }
        // SAFETY: in bounds (used <= the records area), and by the caller's
        // promise nobody writes the region while we read it.
        let region = unsafe { std::slice::from_raw_parts(self.records_ptr(worker), used) };
        parse_records(region).map_err(|at| {
            Error::Protocol(format!(
                "corrupt result record in slot {worker} at byte {at}"
            ))
        })
    }
}

/// The slot segment as one worker sees it: its own region, which it alone
/// writes, and the words every worker shares.
#[derive(Debug)]
pub(crate) struct WorkerSlot {
    slots: Slots,
    index: usize,
}

impl WorkerSlot {
    /// The view of worker `index` of `slots`.
    ///
    /// # Safety
    /// No other process may write region `index` while this value lives:
    /// the coordinator gives each index to one worker, and gives it again
    /// only once that worker is dead.
    pub(crate) unsafe fn new(slots: Slots, index: usize) -> Result<WorkerSlot> {
        if index >= slots.workers {
            return Err(Error::Protocol(format!(
                "slot {index} of {}",
                slots.workers
            )));
        }
        Ok(WorkerSlot { slots, index })
    }

    /// The words every worker shares: the chunk counter, the finish count.
    pub(crate) fn shared(&self) -> &Slots {
        &self.slots
    }

    /// This worker's region for one job: a writer starting empty, and the
    /// words of its region header.
    pub(crate) fn job(&mut self) -> JobSlot<'_> {
        let slots = &self.slots;
        let w = self.index;
        JobSlot {
            writer: SlotWriter {
                // SAFETY: the records area is `slot_bytes - REGION_HEADER`
                // bytes inside the mapping (see `records_ptr`), which lives
                // as long as the borrow of `self`. No other process writes
                // it (the promise of `new`), the coordinator reads it only
                // after this worker's reply, and `&mut self` makes this the
                // only writer in this process. The region header is not
                // part of the slice: it is reached only through atomics.
                region: unsafe {
                    std::slice::from_raw_parts_mut(
                        slots.records_ptr(w),
                        slots.slot_bytes - REGION_HEADER,
                    )
                },
                used: 0,
                committed: slots.committed(w),
            },
            claims: slots.claims(),
            in_progress: slots.in_progress(w),
            locks_taken: slots.locks_taken(w),
            holder: w as u32 + 1,
        }
    }
}

/// One worker's part of the slot segment during one job.
pub(crate) struct JobSlot<'a> {
    pub(crate) writer: SlotWriter<'a>,
    /// The job's chunk counter, shared by all workers.
    pub(crate) claims: &'a AtomicU64,
    /// The chunk this worker maps, plus one (see [`Slots::in_progress`]).
    pub(crate) in_progress: &'a AtomicU64,
    /// This worker's count of lock acquisitions.
    pub(crate) locks_taken: &'a AtomicU64,
    /// This worker's holder id in lock words: its index plus one.
    pub(crate) holder: u32,
}

/// What a worker holds, as its slot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Holding {
    /// Between chunks: it writes no record until it claims another.
    Nothing,
    /// Claiming: it may be about to hold a chunk.
    Claiming,
    /// Mapping this chunk.
    Chunk(u64),
}

impl Holding {
    /// The chunk it holds, if it surely holds one.
    pub(crate) fn chunk(self) -> Option<u64> {
        match self {
            Holding::Chunk(c) => Some(c),
            _ => None,
        }
    }
}

/// Splits a records area into `(chunk, payload)` pairs; a record that does
/// not fit is an error carrying its offset. These bytes come from another
/// process, so nothing here may panic, whatever they hold.
pub(crate) fn parse_records(region: &[u8]) -> Result<Vec<(u64, &[u8])>, usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < region.len() {
        let head = region.get(at..at.saturating_add(RECORD_HEADER)).ok_or(at)?;
        let (chunk, len) = head.split_at(8);
        let chunk = u64::from_le_bytes(chunk.try_into().map_err(|_| at)?);
        let len = u64::from_le_bytes(len.try_into().map_err(|_| at)?);
        let len = usize::try_from(len).map_err(|_| at)?;
        let start = at + RECORD_HEADER;
        let payload = region
            .get(start..start.checked_add(len).ok_or(at)?)
            .ok_or(at)?;
        out.push((chunk, payload));
        at = (start + len).checked_next_multiple_of(8).ok_or(at)?;
    }
    Ok(out)
}

/// Appends records to one worker's region.
pub(crate) struct SlotWriter<'a> {
    region: &'a mut [u8],
    used: usize,
    committed: &'a AtomicU64,
}

impl SlotWriter<'_> {
    /// Appends the partial result of `chunk`.
    pub(crate) fn push<T: Serialize>(&mut self, chunk: u64, value: &T) -> Result<()> {
        let capacity = self.region.len();
        let overflow = |needed: usize, used: usize| Error::SlotOverflow {
            chunk,
            needed: needed as u64,
            available: (capacity - used) as u64,
            // The size the user set (PoolBuilder::slot_bytes), header included.
            capacity: (capacity + REGION_HEADER) as u64,
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
            Err(e) => return Err(Error::Serialization(e.to_string())),
        };
        let head = &mut self.region[self.used..start];
        head[0..8].copy_from_slice(&chunk.to_le_bytes());
        head[8..16].copy_from_slice(&(len as u64).to_le_bytes());
        self.used = (start + len).next_multiple_of(8).min(capacity);
        // Release: the record's bytes are visible to whoever reads this
        // count, even if this worker dies right after.
        self.committed.store(self.used as u64, Ordering::Release);
        Ok(())
    }
}

/// Fuzzing of the result records a worker leaves in shared memory.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::fuzz_config())]

        #[test]
        fn arbitrary_regions_never_panic(region in prop::collection::vec(any::<u8>(), 0..300)) {
            match parse_records(&region) {
                Ok(records) => {
                    let bytes: usize = records.iter().map(|(_, p)| p.len() + RECORD_HEADER).sum();
                    prop_assert!(bytes <= region.len());
                }
                // The offset of the record that did not fit, inside the region.
                Err(at) => prop_assert!(at < region.len() && at % 8 == 0, "{at}"),
            }
        }

        /// A region cut anywhere (a worker that died mid-record, a count
        /// torn by a bug): exactly the records wholly before the cut are
        /// read, and a cut inside a record is an error at its offset.
        #[test]
        fn cut_regions_give_the_whole_records_or_the_offset_of_the_cut_one(
            partials in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..12),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut region = vec![0u8; 1 << 12];
            let committed = AtomicU64::new(0);
            let mut w = SlotWriter { region: &mut region, used: 0, committed: &committed };
            // (start, unpadded end) of each record.
            let mut spans = Vec::new();
            for (chunk, p) in partials.iter().enumerate() {
                let start = w.used;
                w.push(chunk as u64, p).unwrap();
                spans.push((start, start + RECORD_HEADER + postcard::to_allocvec(p).unwrap().len()));
            }
            let used = committed.load(Ordering::Relaxed) as usize;
            let cut = cut.index(used + 1);
            let got = parse_records(&region[..cut]);
            match spans.iter().position(|&(start, end)| start < cut && cut < end) {
                Some(k) => prop_assert_eq!(got, Err(spans[k].0)),
                None => {
                    let whole = spans.iter().filter(|&&(_, end)| end <= cut).count();
                    let got = got.unwrap();
                    prop_assert_eq!(got.len(), whole);
                    for (i, (chunk, bytes)) in got.iter().enumerate() {
                        prop_assert_eq!(*chunk, i as u64);
                        prop_assert_eq!(&postcard::from_bytes::<Vec<u8>>(bytes).unwrap(), &partials[i]);
                    }
                }
            }
        }

        #[test]
        fn written_records_read_back(
            partials in prop::collection::vec(
                (any::<u64>(), prop::collection::vec(any::<u32>(), 0..20)), 0..20),
        ) {
            let mut region = vec![0u8; 1 << 14];
            let committed = AtomicU64::new(0);
            let mut w = SlotWriter { region: &mut region, used: 0, committed: &committed };
            for (chunk, value) in &partials {
                w.push(*chunk, value).unwrap();
            }
            let used = committed.load(Ordering::Relaxed) as usize;
            let records = parse_records(&region[..used]).unwrap();
            prop_assert_eq!(records.len(), partials.len());
            for ((chunk, bytes), (want_chunk, want)) in records.iter().zip(&partials) {
                prop_assert_eq!(chunk, want_chunk);
                prop_assert_eq!(&postcard::from_bytes::<Vec<u32>>(bytes).unwrap(), want);
            }
        }
    }
}
