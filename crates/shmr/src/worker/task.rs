//! What a worker runs for one job: claiming chunks, viewing them straight
//! out of shared memory, running the mapper under `catch_unwind`, and
//! committing each partial to the worker's slot. The coordinator names the
//! entry point of a job by the address of one of the functions here.

use crate::error::Encoded;
use crate::error::Error;
use crate::job::{FnWith, InPlaceFn, IntoFn, LockedFn, Mapper};
use crate::memory::{Element, Header, Segment, dim_for};
use crate::protocol::{Failure, FnAddr};
use crate::shm::{Aborted, CLAIMING, LockTable, LockedOutput, Partition, Selection, SlotWriter};
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use serde::{Serialize, de::DeserializeOwned};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a worker needs to run one job.
pub(crate) struct Task<'a> {
    pub(crate) input: &'a Segment,
    pub(crate) header: &'a Header,
    /// The array an out-of-place or locked job writes.
    pub(crate) output: Option<(&'a Segment, &'a Header)>,
    /// A locked job's lock table, this worker's holder id, and its counter
    /// of acquisitions.
    pub(crate) locks: Option<(LockTable<'a>, u32, &'a AtomicU64)>,
    pub(crate) claims: &'a AtomicU64,
    pub(crate) partition: Partition,
    /// In-place jobs: write-protect all but the chunk being mapped.
    pub(crate) guard: bool,
    pub(crate) selection: &'a Selection,
    /// Where this worker says which chunk it is mapping, so that the
    /// coordinator can name it if the worker dies or hangs there.
    pub(crate) in_progress: &'a AtomicU64,
    pub(crate) slot: SlotWriter<'a>,
}

impl Task<'_> {
    /// Claims the next chunk, if any is left, and says so in `in_progress`.
    ///
    /// `CLAIMING` is stored before the claim, all in one total order
    /// (`SeqCst`) with the coordinator's reads of the counter and of
    /// `in_progress`: a coordinator that sees every chunk claimed and this
    /// worker's `in_progress` at 0 knows the worker holds no chunk and will
    /// write no more records in this round (see `round.rs`, `State::run`).
    fn claim(&self) -> Option<u64> {
        self.in_progress.store(CLAIMING, Ordering::SeqCst);
        let k = self.claims.fetch_add(1, Ordering::SeqCst);
        let chunk = self.selection.nth(&self.partition, k);
        self.in_progress
            .store(chunk.map_or(0, |i| i + 1), Ordering::SeqCst);
        chunk
    }
}

/// The type-erased entry point a worker calls for a job.
pub(crate) type Entry = fn(&mut Task<'_>, &[u8]) -> Result<(), Failure>;

crate::protocol::fn_ptr! {
    [] fn(&mut Task<'_>, &[u8]) -> Result<(), Failure>;
}

/// The entry point for mapper type `M` over `A`/`D` arrays.
pub(crate) fn entry_for<M: Mapper<A, D>, A: Element, D: Dimension>() -> FnAddr {
    FnAddr::of(run_chunks::<M, A, D> as Entry)
}

/// The entry point of an in-place job with parameters `P`.
pub(crate) fn in_place_entry<P: DeserializeOwned, A: Element, D: Dimension>() -> FnAddr {
    FnAddr::of(run_in_place::<P, A, D> as Entry)
}

/// The entry point of an out-of-place job with parameters `P`.
pub(crate) fn into_entry<P, A, D, B, E>() -> FnAddr
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
    E: Dimension,
{
    FnAddr::of(run_into::<P, A, D, B, E> as Entry)
}

/// The entry point of a locked job with parameters `P`.
pub(crate) fn locked_entry<P, A, D, B>() -> FnAddr
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
{
    FnAddr::of(run_locked::<P, A, D, B> as Entry)
}

/// The array in `segment`, typed, with its shape checked against the job's
/// partition.
fn typed<A: Element, D: Dimension>(
    segment: &Segment,
    header: &Header,
    partition: &Partition,
) -> Result<(D, *mut A), Failure> {
    let dim: D = dim_for::<A, D>(header)?;
    let rows = header.shape().first().copied().unwrap_or(1) as u64;
    if rows != partition.rows() {
        return Err(Failure::Other(format!(
            "partition of {} rows for an array of {rows}",
            partition.rows()
        )));
    }
    // SAFETY: the header's offset and data are inside the segment: the
    // layout was checked against the segment's length when it was mapped.
    Ok((dim, unsafe {
        segment.ptr().add(header.offset()).cast::<A>()
    }))
}

/// Shape and element offset of the chunk `rows` of an array of shape `dim`.
fn chunk_of<D: Dimension>(dim: &D, rows: &Range<u64>) -> (D, usize) {
    if dim.ndim() == 0 {
        return (dim.clone(), 0);
    }
    let row_elems: usize = dim.slice()[1..].iter().product();
    let mut sub = dim.clone();
    sub.slice_mut()[0] = (rows.end - rows.start) as usize;
    (sub, rows.start as usize * row_elems)
}

/// Claims chunks until none are left, running `map` on each under
/// `catch_unwind` and committing its result to the slot.
fn drive<T: Serialize>(
    task: &mut Task<'_>,
    mut map: impl FnMut(&Range<u64>) -> T,
) -> Result<(), Failure> {
    while let Some(i) = task.claim() {
        let rows = task.partition.chunk(i);
        let out = catch_unwind(AssertUnwindSafe(|| crate::worker::in_mapper(|| map(&rows))))
            .map_err(|payload| {
                if payload.is::<Aborted>() {
                    Failure::Aborted
                } else {
                    Failure::Panicked {
                        chunk: i,
                        rows: (rows.start, rows.end),
                        message: crate::worker::panic_message(&*payload),
                    }
                }
            })?;
        task.slot.push(i, &out)?;
        // After the record is committed: a coordinator that reads 0 here
        // also sees the record.
        task.in_progress.store(0, Ordering::SeqCst);
    }
    Ok(())
}

fn run_chunks<M: Mapper<A, D>, A: Element, D: Dimension>(
    task: &mut Task<'_>,
    payload: &[u8],
) -> Result<(), Failure> {
    let mapper: M = postcard::from_bytes(payload).encoded()?;
    let (dim, data) = typed::<A, D>(task.input, task.header, &task.partition)?;
    drive(task, |rows| {
        let (shape, offset) = chunk_of(&dim, rows);
        // SAFETY: `typed` checked the header (validated against the
        // segment's length) holds `dim` elements of A in standard layout,
        // page-aligned; a chunk is a run of whole rows inside it. The
        // mapping is read-only and outlives the view; the coordinator holds
        // a shared borrow of the array, so nobody writes it during the job.
        let chunk = unsafe { ArrayView::from_shape_ptr(shape, data.add(offset)) };
        mapper.map(chunk)
    })
}

fn run_in_place<P: DeserializeOwned, A: Element, D: Dimension>(
    task: &mut Task<'_>,
    payload: &[u8],
) -> Result<(), Failure> {
    let m: FnWith<P, InPlaceFn<P, A, D>> = postcard::from_bytes(payload).encoded()?;
    // SAFETY: decoded from the job's message, which the coordinator of this
    // same executable encoded.
    let f = unsafe { m.f.get() };
    let (dim, data) = typed::<A, D>(task.input, task.header, &task.partition)?;
    let segment = task.input;
    let guard = task.guard;
    let start = task.header.offset();
    let elem_bytes = |elems: usize| start + elems * size_of::<A>();
    let whole = start..elem_bytes(dim.size());
    // No view of the data exists in this worker while its protection
    // changes, and the range is this worker's own mapping of the array.
    if guard {
        segment.protect(whole.clone(), false)?;
    }
    let result = drive(task, |rows| {
        let (shape, offset) = chunk_of(&dim, rows);
        let bytes = elem_bytes(offset)..elem_bytes(offset + shape.size());
        if guard {
            // A failure here leaves the chunk read-only: the mapper's first
            // write faults, which ends the job with an error, not a wrong answer.
            let _ = segment.protect(bytes.clone(), true);
        }
        // SAFETY: as in `run_chunks`, over a writable mapping. The chunk is
        // this worker's alone: chunks do not overlap, each is claimed by one
        // worker (an atomic counter), and the coordinator holds the array
        // mutably borrowed for the job, so no other view of these rows
        // exists in any process while this one lives.
        let chunk = unsafe { ArrayViewMut::from_shape_ptr(shape, data.add(offset)) };
        f(&m.params, chunk);
        if guard {
            let _ = segment.protect(bytes, false);
        }
    });
    if guard {
        segment.protect(whole, true)?;
    }
    result
}

fn run_into<P, A, D, B, E>(task: &mut Task<'_>, payload: &[u8]) -> Result<(), Failure>
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
    E: Dimension,
{
    let m: FnWith<P, IntoFn<P, A, D, B, E>> = postcard::from_bytes(payload).encoded()?;
    // SAFETY: as in `run_in_place`.
    let f = unsafe { m.f.get() };
    let (dim, data) = typed::<A, D>(task.input, task.header, &task.partition)?;
    let (out_seg, out_header) = task
        .output
        .ok_or_else(|| Failure::Other("an out-of-place job without output".into()))?;
    let (out_dim, out_data) = typed::<B, E>(out_seg, out_header, &task.partition)?;
    drive(task, |rows| {
        let (shape, offset) = chunk_of(&dim, rows);
        let (out_shape, out_offset) = chunk_of(&out_dim, rows);
        // SAFETY: the input chunk as in `run_chunks`; the output chunk as
        // the chunk of `run_in_place`, in the output's writable mapping
        // (another segment than the input: the coordinator borrows one
        // shared and the other mutably, which Rust refuses for one array).
        let (chunk, out) = unsafe {
            (
                ArrayView::from_shape_ptr(shape, data.add(offset)),
                ArrayViewMut::from_shape_ptr(out_shape, out_data.add(out_offset)),
            )
        };
        f(&m.params, chunk, out)
    })
}

fn run_locked<P, A, D, B>(task: &mut Task<'_>, payload: &[u8]) -> Result<(), Failure>
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
{
    let m: FnWith<P, LockedFn<P, A, D, B>> = postcard::from_bytes(payload).encoded()?;
    // SAFETY: as in `run_in_place`.
    let f = unsafe { m.f.get() };
    let (dim, data) = typed::<A, D>(task.input, task.header, &task.partition)?;
    let (out_seg, out_header) = task
        .output
        .ok_or_else(|| Failure::Other("a locked job without output".into()))?;
    if out_header.dtype() != B::DTYPE {
        return Err(Error::TypeMismatch {
            expected: format!("output elements of {}", B::DTYPE),
            found: format!("{}", out_header.dtype()),
        }
        .into());
    }
    let (table, me, taken) = task
        .locks
        .take()
        .ok_or_else(|| Failure::Other("a locked job without locks".into()))?;
    let shape = out_header.shape().to_vec();
    // SAFETY: the output header was validated against its segment, which
    // is mapped writable and outlives this function; the coordinator holds
    // the output mutably borrowed, and every worker writes it only through
    // a LockedOutput over the same table and stripes.
    let mut out = unsafe {
        LockedOutput::new(
            out_seg.ptr().add(out_header.offset()).cast::<B>(),
            shape.iter().product(),
            &shape,
            &table,
            me,
            taken,
        )
    };
    drive(task, |rows| {
        let (sub, offset) = chunk_of(&dim, rows);
        // SAFETY: as in `run_chunks`.
        let chunk = unsafe { ArrayView::from_shape_ptr(sub, data.add(offset)) };
        f(&m.params, chunk, &mut out)
    })
}
