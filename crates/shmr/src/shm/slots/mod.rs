//! Result slots: where workers leave their partial results.
//!
//! One segment per pool. The first page holds the job's claim counter, which
//! workers bump to claim chunks (dynamic load balancing without a message per
//! chunk); the pages after it, a bit per chunk saying which chunks of the
//! round are taken (how claims use them: `claims.rs`). After them, each
//! worker owns one region of `slot_bytes`: a 64-byte region header, then a
//! ring of records, one per chunk it mapped:
//!
//! ```text
//! region header: | committed: u64 | chunk in progress + 1 (0: none): u64 | locks taken: u64 |
//!                | consumed: u64 | consumed count (futex word): u32 | 28 reserved |
//! record:        | chunk index: u64 | payload length: u64 | payload (postcard) | pad to 8 |
//! ```
//!
//! `committed` and `consumed` count bytes since the job began; record
//! bytes live at their count modulo the ring's size. The worker alone
//! writes records, in `[committed, consumed + size)`, and publishes each by
//! storing `committed` (`Release`); the coordinator alone reads them, in
//! `[consumed, committed)`, and gives their room back by storing
//! `consumed`. The two ranges never overlap, so neither side needs a lock,
//! and the coordinator can fold partials while the job runs: memory stays
//! at the ring's size however many chunks a worker maps. A record that
//! would cross the ring's end is preceded by a padding record (or, with
//! fewer than 16 bytes left, by nothing) and starts at the ring's start. A
//! worker whose ring is full waits on the consumed count (a futex), after
//! saying so on its control socket so that the coordinator wakes.
//!
//! The records of a worker that dies mid-job stay readable: only the chunk
//! it was mapping (named by `in progress`) is lost and run again.
//!
//! A *held* job's worker (a keyed job whose combiner is order-free) folds
//! all its chunks into one partial and writes it only when no chunk is left
//! to claim: as [`HELD_PART`] records, then one [`HELD_LAST`] record that
//! names the chunks they cover. Its `in progress` word names its first
//! chunk from its first claim until that last record: all its chunks are
//! lost, and run again, if it dies before.

use crate::error::{Error, Result};
use crate::memory::Segment;
use rustix::thread::futex;
use serde::Serialize;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

mod claims;

/// The page of control words (each on its own cache line).
const WORDS_BYTES: usize = 4096;
/// The control pages before the worker regions: the control words, then
/// the taken bits of claims (`claims.rs`).
const CONTROL_BYTES: usize = WORDS_BYTES + claims::TAKEN_BYTES;
const RECORD_HEADER: usize = 16;
/// The chunk index of a padding record, which fills the ring to its end.
const PAD: u64 = u64::MAX;
/// The chunk index of one part of a held job's partial (see the module's
/// documentation); more parts, or the last, follow.
pub(crate) const HELD_PART: u64 = u64::MAX - 1;
/// The chunk index of the last part of a held job's partial, whose payload
/// is the list of chunks the partial covers, then the part.
pub(crate) const HELD_LAST: u64 = u64::MAX - 2;

/// What a record in a ring holds, as its reader sees it: the indices that
/// mark held records never leave this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// The partial of one chunk.
    Chunk(u64),
    /// One part of a held job's partial; more follow.
    HeldPart,
    /// The last part of a held job's partial, after the list of the chunks
    /// it covers.
    HeldLast,
}

impl Record {
    /// The record whose header says `index`.
    pub(crate) fn of(index: u64) -> Record {
        match index {
            HELD_PART => Record::HeldPart,
            HELD_LAST => Record::HeldLast,
            chunk => Record::Chunk(chunk),
        }
    }
}
/// The header at the start of each worker's region.
pub(crate) const REGION_HEADER: usize = 64;
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

/// The slot size (header and ring) whose ring holds one record of
/// `record` bytes, if it is addressable.
pub(crate) fn slot_bytes_for(record: u64) -> Option<usize> {
    usize::try_from(record)
        .ok()?
        .checked_add(REGION_HEADER)?
        .checked_next_multiple_of(64)
        .filter(|&n| n <= MAX_SLOT_BYTES)
}

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

    /// How many workers have finished the current job. Only a hint that
    /// lets the coordinator spin briefly instead of sleeping until the
    /// replies wake it; the replies on the sockets remain the truth.
    pub(crate) fn finished(&self) -> u64 {
        self.control_word(1).load(Ordering::Acquire)
    }

    /// Counts this worker finished with the current job, after its last
    /// slot write and before its reply: the fence makes every write of this
    /// worker visible to a coordinator that sees the count, or that gets
    /// the reply and calls [`Slots::replied`].
    pub(crate) fn mark_finished(&self) {
        fence(Ordering::Release);
        self.control_word(1).fetch_add(1, Ordering::Release);
    }

    /// The coordinator's half of [`Slots::mark_finished`], on a worker's
    /// reply: its slot writes are visible from here on.
    pub(crate) fn replied(&self) {
        fence(Ordering::Acquire);
    }

    /// Word `i` of the control page, each on its own cache line so that
    /// claiming chunks and finishing do not contend.
    fn control_word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i * 64 + 8 <= WORDS_BYTES);
        self.segment.atomic_u64(i * 64)
    }

    /// Word `i` of `worker`'s region header, which is reached only through
    /// atomics (the records after it are not).
    fn region_word(&self, worker: usize, i: usize) -> &AtomicU64 {
        debug_assert!(i * 8 + 8 <= REGION_HEADER);
        self.segment.atomic_u64(self.region_start(worker) + i * 8)
    }

    /// Bytes of records `worker` has finished writing in the current job.
    pub(super) fn committed(&self, worker: usize) -> &AtomicU64 {
        self.region_word(worker, 0)
    }

    /// The chunk `worker` is mapping, plus one; 0 when it is between chunks;
    /// [`CLAIMING`] while it claims one.
    pub(super) fn in_progress(&self, worker: usize) -> &AtomicU64 {
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
    pub(super) fn locks_taken(&self, worker: usize) -> &AtomicU64 {
        self.region_word(worker, 2)
    }

    /// Bytes of `worker`'s ring the coordinator has taken back.
    fn consumed(&self, worker: usize) -> &AtomicU64 {
        self.region_word(worker, 3)
    }

    /// How many times the coordinator took records of `worker`: the word a
    /// worker waiting for room sleeps on.
    fn consumed_count(&self, worker: usize) -> &AtomicU32 {
        self.segment
            .atomic_u32(self.region_start(worker) + 4 * size_of::<u64>())
    }

    /// Workers waiting for room in their ring, which the coordinator wakes
    /// when it takes records.
    fn waiting(&self) -> &AtomicU64 {
        self.control_word(2)
    }

    /// Bytes of each ring.
    fn ring_bytes(&self) -> usize {
        self.slot_bytes - REGION_HEADER
    }

    /// Locks taken by all workers in the current job (read after it).
    pub(crate) fn total_locks_taken(&self) -> u64 {
        (0..self.workers)
            .map(|w| self.locks_taken(w).load(Ordering::Relaxed))
            .sum()
    }

    /// Clears every region header, and the taken bits of a round of
    /// `total` claims, before a job, visibly to the workers the coordinator
    /// tells of it next.
    pub(crate) fn reset(&self, total: u64) {
        self.clear_taken(total);
        for w in 0..self.workers {
            self.committed(w).store(0, Ordering::Relaxed);
            self.in_progress(w).store(0, Ordering::Relaxed);
            self.locks_taken(w).store(0, Ordering::Relaxed);
            self.consumed(w).store(0, Ordering::Relaxed);
        }
        self.claims().store(0, Ordering::Relaxed);
        self.control_word(1).store(0, Ordering::Relaxed);
        // A worker killed while it waited leaves its count behind.
        self.waiting().store(0, Ordering::Relaxed);
        // Visible to the workers woken by the next message.
        fence(Ordering::Release);
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

    /// `worker`'s ring as the coordinator reads it, with the positions
    /// of its unread records.
    fn unread(&self, worker: usize) -> Result<(RingBytes<'_>, u64, u64)> {
        let committed = self.committed(worker).load(Ordering::Acquire);
        // Only this process stores it.
        let consumed = self.consumed(worker).load(Ordering::Relaxed);
        let cap = self.ring_bytes();
        if committed < consumed || committed - consumed > cap as u64 {
            return Err(Error::Protocol(format!(
                "worker {worker} committed {committed} bytes to a ring of {cap} read up to {consumed}"
            )));
        }
        let ring = RingBytes {
            ptr: self.records_ptr(worker),
            cap,
            _segment: std::marker::PhantomData,
        };
        Ok((ring, consumed, committed))
    }

    /// Lets `worker` write again up to position `upto` + the ring's size,
    /// waking it if it waits.
    fn give_back(&self, worker: usize, upto: u64) {
        self.consumed(worker).store(upto, Ordering::Release);
        self.consumed_count(worker).fetch_add(1, Ordering::Release);
        if self.waiting().load(Ordering::SeqCst) > 0 {
            let _ = futex::wake(self.consumed_count(worker), futex::Flags::empty(), u32::MAX);
        }
    }

    /// Offers `worker`'s next committed record, if any, to `f` (its chunk
    /// and payload); if `f` takes it (returns `Some`), gives its room back
    /// to the worker, waking it if it waits. Padding before it is given
    /// back either way.
    pub(crate) fn take_if<R>(
        &self,
        worker: usize,
        f: impl FnOnce(Record, &[u8]) -> Option<R>,
    ) -> Result<Option<R>> {
        let (ring, consumed, committed) = self.unread(worker)?;
        // SAFETY: [consumed, committed) of the ring: its writer (the one
        // `WorkerSlot` of this region) writes only at positions in
        // [committed, consumed + cap), and published these bytes by storing
        // `committed` with Release, loaded with Acquire in `unread`; it
        // writes them again only after `give_back` stores a larger
        // `consumed`, which this process does only after its last read of
        // them.
        let head = unsafe { parse_head(&ring, consumed, committed) };
        let (at, head) = head.map_err(|at| corrupt(worker, at))?;
        // Padding before the next record (or at the end of what was
        // written) is room the writer may need: give it back now.
        if at > consumed {
            self.give_back(worker, at);
        }
        let Some(head) = head else {
            return Ok(None);
        };
        // SAFETY: the payload lies in [consumed, committed) (`parse_head`
        // checked), as above; the slice is dropped before `consumed` is
        // stored below.
        let out = f(Record::of(head.chunk), unsafe {
            ring.get(head.payload.clone())
        });
        if out.is_some() {
            self.give_back(worker, head.next);
        }
        Ok(out)
    }
}

fn corrupt(worker: usize, at: u64) -> Error {
    Error::Protocol(format!(
        "corrupt result record in slot {worker} at byte {at}"
    ))
}

/// Read access to the committed bytes of a ring.
struct RingBytes<'a> {
    ptr: *const u8,
    cap: usize,
    _segment: std::marker::PhantomData<&'a Segment>,
}

impl RingBytes<'_> {
    /// The bytes of `range` (offsets in the ring).
    ///
    /// # Safety
    /// `range` lies in the ring, at positions its writer has published and
    /// does not write while the slice lives.
    unsafe fn get(&self, range: std::ops::Range<usize>) -> &[u8] {
        debug_assert!(range.start <= range.end && range.end <= self.cap);
        // SAFETY: by the caller's promise, in bounds and not written.
        unsafe { std::slice::from_raw_parts(self.ptr.add(range.start), range.len()) }
    }
}

/// A record at the head of a ring.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    chunk: u64,
    /// Where its payload lies in the ring.
    payload: std::ops::Range<usize>,
    /// The ring position after it.
    next: u64,
}

/// The first record of `ring` between positions `from` and `to`, skipping
/// padding, with the position where it starts (`to` if there is none). A
/// record that does not fit is an error carrying its position. These bytes
/// come from another process, so nothing here may panic, whatever they
/// hold.
///
/// # Safety
/// The bytes at positions [from, to) are published by the ring's writer
/// and not written while this runs. Only those are read.
unsafe fn parse_head(
    ring: &RingBytes<'_>,
    mut from: u64,
    to: u64,
) -> Result<(u64, Option<Head>), u64> {
    let cap = ring.cap;
    while from < to {
        if cap == 0 {
            return Err(from);
        }
        let at = (from % cap as u64) as usize;
        let to_end = cap - at;
        if to_end < RECORD_HEADER {
            from += to_end as u64;
            continue;
        }
        if to - from < RECORD_HEADER as u64 {
            return Err(from);
        }
        // SAFETY: [at, at + 16) holds positions [from, from + 16), inside
        // [from, to) (checked just above): the caller's promise.
        let head = unsafe { ring.get(at..at + RECORD_HEADER) };
        let chunk = u64::from_le_bytes(head[..8].try_into().map_err(|_| from)?);
        let len = u64::from_le_bytes(head[8..].try_into().map_err(|_| from)?);
        let len = usize::try_from(len).map_err(|_| from)?;
        let end = (at + RECORD_HEADER).checked_add(len).ok_or(from)?;
        if end > cap {
            return Err(from);
        }
        let size = if chunk == PAD {
            to_end
        } else {
            end.next_multiple_of(8).min(cap) - at
        };
        let next = from + size as u64;
        if next > to {
            return Err(from);
        }
        if chunk != PAD {
            let head = Head {
                chunk,
                payload: at + RECORD_HEADER..end,
                next,
            };
            return Ok((from, Some(head)));
        }
        from = next;
    }
    Ok((to, None))
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
    /// words of its region header. `notify` tells the coordinator that
    /// this worker waits for room in its ring.
    pub(crate) fn job<'a>(&'a mut self, notify: &'a dyn Fn()) -> JobSlot<'a> {
        let slots = &self.slots;
        let w = self.index;
        JobSlot {
            writer: SlotWriter {
                ring: slots.records_ptr(w),
                cap: slots.ring_bytes(),
                pos: 0,
                committed: slots.committed(w),
                consumed: slots.consumed(w),
                consumed_count: slots.consumed_count(w),
                waiting: slots.waiting(),
            },
            slots,
            worker: w,
            in_progress: slots.in_progress(w),
            locks_taken: slots.locks_taken(w),
            holder: w as u32 + 1,
            notify,
        }
    }
}

/// One worker's part of the slot segment during one job.
pub(crate) struct JobSlot<'a> {
    pub(crate) writer: SlotWriter<'a>,
    /// The segment, for the claim counter and taken bits every worker
    /// shares.
    slots: &'a Slots,
    /// This worker's index: which chunk of a block it takes first.
    worker: usize,
    /// The chunk this worker maps, plus one (see [`Slots::in_progress`]).
    pub(crate) in_progress: &'a AtomicU64,
    /// This worker's count of lock acquisitions.
    pub(crate) locks_taken: &'a AtomicU64,
    /// This worker's holder id in lock words: its index plus one.
    pub(crate) holder: u32,
    /// Tells the coordinator this worker waits for room in its ring.
    pub(crate) notify: &'a dyn Fn(),
}

impl JobSlot<'_> {
    /// This worker's next claim (see [`Slots::claim`]).
    pub(crate) fn claim(&self, total: u64, affine: bool) -> Option<u64> {
        self.slots.claim(self.worker, total, affine)
    }
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

/// Appends records to one worker's ring.
pub(crate) struct SlotWriter<'a> {
    /// The ring: `cap` bytes in the slot segment, of which this writer may
    /// write those at positions in [pos, consumed + cap).
    ring: *mut u8,
    cap: usize,
    /// Bytes written since the job began (`committed` once published).
    pos: u64,
    committed: &'a AtomicU64,
    consumed: &'a AtomicU64,
    consumed_count: &'a AtomicU32,
    waiting: &'a AtomicU64,
}

impl SlotWriter<'_> {
    /// The free bytes of the ring from position `pos` to the ring's end or
    /// to the first byte not yet given back, whichever comes first.
    fn room(&mut self) -> (&mut [u8], usize) {
        let consumed = self.consumed.load(Ordering::Acquire);
        let free = self.cap - (self.pos - consumed) as usize;
        let at = (self.pos % self.cap as u64) as usize;
        let len = free.min(self.cap - at);
        // SAFETY: [at, at + len) lies in the ring (len <= cap - at), inside
        // the mapping, which outlives 'a. Those bytes are at positions in
        // [pos, consumed + cap): the coordinator has given them back (it
        // stored `consumed`, loaded with Acquire above, after its last
        // read of them) and reads them again only once `committed` says so;
        // this writer is the only one of its region (`WorkerSlot::new`)
        // and `&mut self` lets one slice exist at a time.
        (
            unsafe { std::slice::from_raw_parts_mut(self.ring.add(at), len) },
            free,
        )
    }

    /// Bytes of the ring.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends the partial result of `chunk`. Waits while the ring is too
    /// full, calling `notify` once (the worker tells the coordinator on
    /// its socket); fails with [`Error::SlotOverflow`] only if the record
    /// is larger than the whole ring.
    pub(crate) fn push<T: Serialize>(
        &mut self,
        chunk: u64,
        value: &T,
        notify: &dyn Fn(),
    ) -> Result<()> {
        let mut need: Option<usize> = None;
        let mut waited = false;
        loop {
            let cap = self.cap;
            let (room, free) = self.room();
            let fits = need.is_none_or(|n| n <= room.len());
            if fits && room.len() >= RECORD_HEADER {
                match postcard::to_slice(value, &mut room[RECORD_HEADER..]) {
                    Ok(written) => {
                        let len = written.len();
                        room[0..8].copy_from_slice(&chunk.to_le_bytes());
                        room[8..16].copy_from_slice(&(len as u64).to_le_bytes());
                        let size = (RECORD_HEADER + len).next_multiple_of(8).min(room.len());
                        self.publish(size);
                        // Someone waits for room: the coordinator may be
                        // waiting for this very record to take theirs.
                        if !waited && self.waiting.load(Ordering::SeqCst) > 0 {
                            notify();
                        }
                        return Ok(());
                    }
                    Err(postcard::Error::SerializeBufferFull) => {}
                    Err(e) => return Err(Error::Serialization(e.to_string())),
                }
            }
            let n = *need.get_or_insert_with(|| {
                postcard::to_allocvec(value)
                    .map_or(usize::MAX, |v| v.len())
                    .saturating_add(RECORD_HEADER)
                    .next_multiple_of(8)
            });
            if n > cap {
                return Err(Error::SlotOverflow {
                    chunk,
                    needed: n as u64,
                    available: free as u64,
                    capacity: (cap + REGION_HEADER) as u64,
                });
            }
            let at = (self.pos % cap as u64) as usize;
            let to_end = cap - at;
            if to_end < n {
                // Start again at the ring's start, once the bytes to its end
                // are free: a padding record says to skip them.
                self.wait_for(to_end, notify, &mut waited);
                let (room, _) = self.room();
                if room.len() >= RECORD_HEADER {
                    room[0..8].copy_from_slice(&PAD.to_le_bytes());
                    room[8..16].copy_from_slice(&((to_end - RECORD_HEADER) as u64).to_le_bytes());
                }
                self.publish(to_end);
            } else {
                self.wait_for(n, notify, &mut waited);
            }
        }
    }

    /// Publishes `size` more bytes: the record's bytes are visible to
    /// whoever reads this count (Release), even if this worker dies next.
    fn publish(&mut self, size: usize) {
        self.pos += size as u64;
        self.committed.store(self.pos, Ordering::Release);
    }

    /// Waits until `bytes` bytes from `pos` on are free.
    fn wait_for(&mut self, bytes: usize, notify: &dyn Fn(), waited: &mut bool) {
        let free =
            |w: &Self| w.cap - (w.pos - w.consumed.load(Ordering::Acquire)) as usize >= bytes;
        let mut registered = false;
        let mut spins = 0u32;
        loop {
            // Read before the test: a take after it changes the word, and
            // the futex then does not sleep (no lost wake-up).
            let seen = self.consumed_count.load(Ordering::Acquire);
            if free(self) {
                break;
            }
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            if !registered {
                // Counted before telling the coordinator, which wakes
                // sleepers when it sees the count.
                self.waiting.fetch_add(1, Ordering::SeqCst);
                registered = true;
                *waited = true;
                notify();
                continue;
            }
            let _ = futex::wait(
                self.consumed_count,
                futex::Flags::empty(),
                seen,
                Some(&WAIT_SLICE),
            );
        }
        if registered {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The longest one sleep for room lasts before the ring is looked at again.
const WAIT_SLICE: futex::Timespec = futex::Timespec {
    tv_sec: 0,
    tv_nsec: 10_000_000,
};

/// The ring, under fuzzing and under two threads.
#[cfg(test)]
mod tests;
