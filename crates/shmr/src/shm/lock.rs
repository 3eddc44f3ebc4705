//! Striped, process-shared locks for jobs whose workers write where they
//! overlap, and the handle such a job's mapper writes through.
//!
//! Only [`map_locked`](crate::JobBuilder::map_locked) jobs take these
//! locks. Partitioned jobs (`map_reduce`, `map_in_place`, `map_into`) write
//! disjoint chunks and take none; the job report counts acquisitions to show
//! it.
//!
//! The lock table is one segment per pool, mapped by every worker:
//!
//! ```text
//! | abort flag: u32 | pad to 64 | stripe 0: holder u32 | pad to 64 | stripe 1 | ...
//! ```
//!
//! A stripe's word is 0 when free, else the slot index + 1 of the worker
//! holding it, so that when a worker dies the coordinator can see which
//! stripes it held. It then raises the abort flag, which every waiter checks
//! while it waits, so no worker waits for a dead one.

use crate::error::{Error, Result};
use crate::memory::Element;
use crate::memory::Segment;
use rustix::thread::futex;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const HEADER: usize = 64;
/// One cache line per stripe, so that locking one stripe does not slow
/// down workers locking its neighbours (false sharing).
const STRIPE_BYTES: usize = 64;
/// Stripes when a job does not say.
pub const DEFAULT_STRIPES: usize = 64;
/// The most stripes a job may ask for.
pub const MAX_STRIPES: usize = 1 << 20;

/// The flat indices of stripe `stripe` of an output of `len` elements cut
/// into `stripes` stripes of equal length (the last may be shorter or
/// empty): the one definition the workers' `LockedOutput` and the
/// coordinator's error messages share.
pub(crate) fn stripe_range(len: usize, stripes: usize, stripe: usize) -> Range<usize> {
    let per = stripe_len(len, stripes);
    let start = stripe.saturating_mul(per).min(len);
    start..start.saturating_add(per).min(len)
}

fn stripe_len(len: usize, stripes: usize) -> usize {
    len.div_ceil(stripes.max(1)).max(1)
}

/// Bytes of a lock table for `stripes` stripes.
pub(crate) fn table_bytes(stripes: usize) -> usize {
    HEADER + stripes * STRIPE_BYTES
}

/// A view of a lock table segment.
#[derive(Clone, Copy)]
pub(crate) struct LockTable<'a> {
    segment: &'a Segment,
    stripes: usize,
}

impl<'a> LockTable<'a> {
    pub(crate) fn new(segment: &'a Segment, stripes: usize) -> Result<LockTable<'a>> {
        if stripes == 0 || segment.len() < table_bytes(stripes) {
            return Err(Error::Protocol(format!(
                "a lock table of {} bytes cannot hold {stripes} stripes",
                segment.len()
            )));
        }
        Ok(LockTable { segment, stripes })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        self.segment.atomic_u32(offset)
    }

    fn abort(&self) -> &AtomicU32 {
        self.word(0)
    }

    /// Tells every worker waiting for a lock of this job to give up (a
    /// worker died, perhaps holding the lock they wait for), and wakes them.
    pub(crate) fn abort_job(&self) {
        self.abort().store(1, Ordering::Relaxed);
        self.wake_all();
    }

    pub(crate) fn holder(&self, stripe: usize) -> &AtomicU32 {
        assert!(stripe < self.stripes, "internal: stripe out of range");
        self.word(HEADER + stripe * STRIPE_BYTES)
    }

    /// Frees every stripe and lowers the abort flag, before a job.
    pub(crate) fn reset(&self) {
        self.abort().store(0, Ordering::Relaxed);
        for s in 0..self.stripes {
            self.holder(s).store(0, Ordering::Relaxed);
        }
    }

    /// The stripes worker `slot` holds.
    pub(crate) fn held_by(&self, slot: usize) -> Vec<usize> {
        (0..self.stripes)
            .filter(|&s| self.holder(s).load(Ordering::Acquire) & !WAITERS == slot as u32 + 1)
            .collect()
    }

    /// Takes `stripe` for worker `me` (its slot index + 1), waiting as long
    /// as it is held; unwinds with [`Aborted`] if the job is aborted
    /// meanwhile (its holder died).
    ///
    /// A stripe's word holds its holder, with [`WAITERS`] set once someone
    /// sleeps on it. Waiters spin briefly (a stripe is usually held for a
    /// few nanoseconds), then sleep in the kernel on the word (`futex`,
    /// shared between processes: the table is a shared mapping), and the
    /// holder wakes one when it lets go of a word marked so.
    fn lock(&self, stripe: usize, me: u32) -> Guard<'_> {
        let word = self.holder(stripe);
        let mut tries = 0u32;
        // Whether this worker has slept on the word: it then takes the lock
        // with WAITERS set, since it cannot know whether others still sleep.
        let mut slept = false;
        loop {
            let seen = word.load(Ordering::Relaxed);
            // Test before test-and-set: waiters read a shared cache line
            // instead of bouncing it between cores with failed writes.
            if seen == 0 {
                let mine = if slept { me | WAITERS } else { me };
                if word
                    .compare_exchange_weak(0, mine, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Guard { word };
                }
                continue;
            }
            tries = tries.saturating_add(1);
            if tries < SPINS {
                std::hint::spin_loop();
                continue;
            }
            if self.abort().load(Ordering::Relaxed) != 0 {
                std::panic::resume_unwind(Box::new(Aborted));
            }
            // Say that someone waits, then sleep while the word still says
            // so (the kernel compares before sleeping: no lost wake-up).
            let marked = seen | WAITERS;
            if seen & WAITERS == 0
                && word
                    .compare_exchange(seen, marked, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // The timeout bounds how late an abort is seen if its wake-up is
            // missed; the coordinator wakes every stripe when it aborts.
            let _ = futex::wait(word, futex::Flags::empty(), marked, Some(&WAIT_SLICE));
            slept = true;
        }
    }

    /// Wakes every worker sleeping on any stripe: after raising the abort
    /// flag, so that they see it now rather than at their next timeout.
    fn wake_all(&self) {
        for s in 0..self.stripes {
            if self.holder(s).load(Ordering::Relaxed) & WAITERS != 0 {
                let _ = futex::wake(self.holder(s), futex::Flags::empty(), u32::MAX);
            }
        }
    }
}

/// Set in a stripe's word when a worker sleeps on it (holder ids use the
/// low 31 bits: they are worker slots + 1, at most `MAX_WORKERS`).
const WAITERS: u32 = 1 << 31;
/// Spins before sleeping: a stripe is typically held for one update.
const SPINS: u32 = 512;
/// The longest one sleep on a stripe lasts before the abort flag is read.
const WAIT_SLICE: rustix::thread::futex::Timespec = rustix::thread::futex::Timespec {
    tv_sec: 0,
    tv_nsec: 10_000_000,
};

/// Unwinds a mapper whose job was aborted while it waited for a lock.
pub(crate) struct Aborted;

struct Guard<'a> {
    word: &'a AtomicU32,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            let _ = futex::wake(self.word, futex::Flags::empty(), 1);
        }
    }
}

/// The shared output of a [`map_locked`](crate::JobBuilder::map_locked)
/// job, as its mapper sees it: any element may be read or written, each
/// only while its stripe's lock is held, which the methods do.
///
/// Elements are addressed by their flat index in row-major order. The
/// output is cut into stripes of consecutive elements, one lock each, so
/// workers writing different stripes do not wait for each other.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use ndarray::Array1;
/// // Count values per bucket: a scatter-add that workers share.
/// let data = shmr::SharedArray::from_array(&Array1::from_iter((0..1000_u32).map(|x| x % 10)))?;
/// let mut counts = shmr::SharedArray::<u64, _>::zeros(10)?;
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let ((), report) = pool.on(&data).stripes(4).reported().map_locked(&mut counts, |chunk, out| {
///     for &x in chunk {
///         out.update(x as usize, |c| *c += 1);
///     }
/// })?;
/// assert_eq!(counts.view().to_vec(), vec![100; 10]);
/// assert_eq!(report.lock_acquisitions, 1000);
/// # Ok(()) }
/// ```
pub struct LockedOutput<'a, B> {
    data: *mut B,
    len: usize,
    shape: &'a [usize],
    stripe_len: usize,
    table: LockTable<'a>,
    me: u32,
    taken: &'a AtomicU64,
    _elem: PhantomData<&'a mut [B]>,
}

impl<'a, B: Element> LockedOutput<'a, B> {
    /// # Safety
    /// `data` points to `len` elements of `B` in a writable mapping that
    /// outlives 'a, every access to which, in every process, goes through a
    /// `LockedOutput` over the same lock table with the same stripes.
    pub(crate) unsafe fn new(
        data: *mut B,
        len: usize,
        shape: &'a [usize],
        table: LockTable<'a>,
        me: u32,
        taken: &'a AtomicU64,
    ) -> Self {
        LockedOutput {
            data,
            len,
            shape,
            stripe_len: stripe_len(len, table.stripes),
            table,
            me,
            taken,
            _elem: PhantomData,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the output has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The output's shape (flat indices are row-major over it).
    pub fn shape(&self) -> &[usize] {
        self.shape
    }
    /// Number of stripes that hold elements.
    pub fn stripes(&self) -> usize {
        self.len.div_ceil(self.stripe_len).max(1)
    }
    /// The stripe that holds element `index`.
    pub fn stripe_of(&self, index: usize) -> usize {
        index / self.stripe_len
    }
    /// The flat indices of `stripe`'s elements.
    pub fn stripe_range(&self, stripe: usize) -> Range<usize> {
        stripe_range(self.len, self.table.stripes, stripe)
    }

    fn take(&self, stripe: usize) -> Guard<'_> {
        let guard = self.table.lock(stripe, self.me);
        // This worker's own counter: no contention, read by the coordinator
        // after the job.
        self.taken.fetch_add(1, Ordering::Relaxed);
        guard
    }

    /// Runs `f` on element `index` with its stripe locked.
    ///
    /// # Panics
    /// If `index` is out of bounds (reported as the mapper's panic).
    pub fn update<R>(&mut self, index: usize, f: impl FnOnce(&mut B) -> R) -> R {
        assert!(
            index < self.len,
            "index {index} is out of bounds for a locked output of {} elements",
            self.len
        );
        let _held = self.take(self.stripe_of(index));
        // SAFETY: index < len, so the element is inside the output mapping
        // (see `new`); its stripe's lock is held until `_held` drops, and
        // every access to the output goes through that lock, so no other
        // process or thread touches this element meanwhile. `&mut self`
        // keeps `f` from locking again (which would deadlock).
        f(unsafe { &mut *self.data.add(index) })
    }

    /// Runs `f` on all of `stripe`'s elements at once, under one lock: the
    /// way to make many updates to one region cheaply.
    ///
    /// # Panics
    /// If `stripe` is out of range.
    pub fn with_stripe<R>(&mut self, stripe: usize, f: impl FnOnce(&mut [B]) -> R) -> R {
        assert!(
            stripe < self.stripes(),
            "stripe {stripe} is out of range: the output has {} stripes",
            self.stripes()
        );
        let range = self.stripe_range(stripe);
        let _held = self.take(stripe);
        // SAFETY: as in `update`, for every element of the range, all of
        // which lie in this stripe.
        let elems = unsafe {
            std::slice::from_raw_parts_mut(self.data.add(range.start), range.end - range.start)
        };
        f(elems)
    }
}
