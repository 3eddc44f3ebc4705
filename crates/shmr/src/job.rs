//! Jobs: what a worker runs on each chunk, and how the coordinator names it.
//!
//! # Why mappers are functions, not capturing closures
//!
//! A worker is a separate process. A closure that captures variables holds
//! pointers into the coordinator's memory, which the worker does not have;
//! there is no sound way to send it. What the worker *does* have is the same
//! executable (it is started from `/proc/self/exe`), so the same functions at
//! the same offsets from any fixed function in the binary. shmr therefore
//! sends a function as that offset: a mapper is a `fn` pointer (a closure
//! that captures nothing coerces to one), and everything else the mapper
//! needs travels as a serializable parameter value
//! ([`map_reduce_with`](crate::map_reduce_with)) or as a [`Job`] value.
//! A capturing closure is a compile error:
//!
//! ```compile_fail
//! # fn main() -> Result<(), shmr::Error> {
//! let data = shmr::SharedArray::from_array(&ndarray::arr1(&[1.0, 2.0]))?;
//! let scale = 2.0;
//! // error: closures can only be coerced to `fn` types if they do not capture any variables
//! let _ = shmr::map_reduce(&data, |c| c.sum() * scale, |a, b| a + b);
//! # Ok(()) }
//! ```
//!
//! Pass `scale` as a parameter instead:
//!
//! ```
//! # fn main() -> Result<(), shmr::Error> {
//! # shmr::init();
//! let data = shmr::SharedArray::from_array(&ndarray::arr1(&[1.0, 2.0]))?;
//! let scale = 2.0;
//! let total = shmr::map_reduce_with(&data, scale, |s, c| c.sum() * s, |a, b| a + b)?;
//! assert_eq!(total, 6.0);
//! # Ok(()) }
//! ```

use crate::array::dim_for;
use crate::element::Element;
use crate::error::Error;
use crate::lock::{Aborted, LockTable, LockedOutput};
use crate::partition::{Partition, Selection};
use crate::segment::{Header, Segment};
use crate::slots::{CLAIMING, SlotWriter};
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

/// A reusable map-reduce job over arrays of `A` with dimension `D`.
///
/// The job value itself is the parameter set: it is serialized once per run,
/// sent to every worker, and `map` runs there on each chunk. `reduce` runs in
/// the coordinator, folding the partials in chunk order.
///
/// # Example
/// ```
/// use ndarray::{ArrayView1, Ix1};
/// use serde::{Deserialize, Serialize};
///
/// /// Counts values above a threshold.
/// #[derive(Serialize, Deserialize)]
/// struct CountAbove(f64);
///
/// impl shmr::Job<f64, Ix1> for CountAbove {
///     type Partial = u64;
///     fn map(&self, chunk: ArrayView1<'_, f64>) -> u64 {
///         chunk.iter().filter(|&&x| x > self.0).count() as u64
///     }
///     fn reduce(&self, a: u64, b: u64) -> u64 {
///         a + b
///     }
/// }
///
/// fn main() -> Result<(), shmr::Error> {
///     shmr::init();
///     let data = shmr::SharedArray::from_array(&ndarray::Array1::linspace(0.0, 1.0, 101))?;
///     assert_eq!(shmr::run(&data, &CountAbove(0.5))?, 50);
///     Ok(())
/// }
/// ```
pub trait Job<A: Element, D: Dimension>: Serialize + DeserializeOwned + 'static {
    /// What `map` returns for one chunk; it travels back through a result
    /// slot, so it must be serializable.
    type Partial: Serialize + DeserializeOwned + 'static;
    /// Checks the job's parameters before any worker sees them (default:
    /// nothing to check). An error here is returned by the run as it is.
    fn validate(&self) -> crate::Result<()> {
        Ok(())
    }
    /// Maps one chunk (in a worker process).
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Self::Partial;
    /// Combines two partials (in the coordinator); `a` comes from earlier
    /// chunks than `b`.
    fn reduce(&self, a: Self::Partial, b: Self::Partial) -> Self::Partial;
}

/// What one job did: returned by jobs that write, and by the `_reported`
/// variants of the others.
///
/// `lock_acquisitions` is the proof that partitioned jobs take no lock: it
/// is 0 for `map_reduce`, `run`, `map_in_place` and `map_into`, and counts
/// every stripe lock taken in a `map_locked` job.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let mut a = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1000, 3.0_f64))?;
/// let report = pool.map_in_place(&mut a, |mut c| c.mapv_inplace(|x| x * x))?;
/// assert_eq!(a.view().sum(), 9000.0);
/// assert_eq!(report.lock_acquisitions, 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobReport {
    /// Chunks the array was cut into.
    pub chunks: u64,
    /// Rounds the job took: 1, plus one per re-execution of lost chunks.
    pub rounds: u32,
    /// Workers that died during the job and were replaced.
    pub workers_replaced: u32,
    /// Stripe locks taken, by all workers together.
    pub lock_acquisitions: u64,
    /// Time from holding the pool to the last partial decoded.
    pub elapsed: std::time::Duration,
}

/// The worker-side half of a job: something that maps chunks.
pub(crate) trait Mapper<A: Element, D: Dimension>: Serialize + DeserializeOwned {
    type Out: Serialize + DeserializeOwned + 'static;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> Self::Out;
}

/// A [`Job`] seen as a mapper.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct JobMapper<J>(pub(crate) J);

impl<A: Element, D: Dimension, J: Job<A, D>> Mapper<A, D> for JobMapper<J> {
    type Out = J::Partial;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> J::Partial {
        self.0.map(chunk)
    }
}

/// A mapper given as a function pointer plus parameters.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct FnMapper<P, A, D, T> {
    params: P,
    mapper: FnAddr,
    #[serde(skip)]
    _types: Types<A, D, T>,
}

/// Marks the types a serialized function works on, without owning any.
pub(crate) type Types<A, D, T> = PhantomData<fn() -> (A, D, T)>;

/// The mapper type of [`map_reduce_with`](crate::map_reduce_with).
pub(crate) type MapFn<P, A, D, T> = fn(&P, ArrayView<'_, A, D>) -> T;

impl<P, A, D, T> FnMapper<P, A, D, T> {
    pub(crate) fn new(params: P, mapper: MapFn<P, A, D, T>) -> Self {
        FnMapper {
            params,
            mapper: FnAddr::of(mapper as usize),
            _types: PhantomData,
        }
    }
}

impl<P, A, D, T> Mapper<A, D> for FnMapper<P, A, D, T>
where
    P: Serialize + DeserializeOwned + 'static,
    A: Element,
    D: Dimension,
    T: Serialize + DeserializeOwned + 'static,
{
    type Out = T;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> T {
        // SAFETY: `mapper` was made by `FnMapper::new` from a
        // `MapFn<P, A, D, T>` in the coordinator, which runs the same
        // executable (see FnAddr), and this `FnMapper` was deserialized by the
        // entry point monomorphized for exactly these P, A, D, T.
        let f: MapFn<P, A, D, T> = unsafe { self.mapper.resolve() };
        f(&self.params, chunk)
    }
}

/// A function's address as an offset from a fixed point in this executable,
/// which survives the re-execution of a worker (whose base address differs
/// under ASLR, but whose image has the same layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FnAddr(i64);

/// The fixed point. A static, not a function: a small function may be
/// copied into several codegen units, each copy at its own address, but a
/// static has exactly one.
static ANCHOR: u8 = 0;

fn anchor() -> usize {
    &ANCHOR as *const u8 as usize
}

impl FnAddr {
    pub(crate) fn of(addr: usize) -> FnAddr {
        FnAddr(addr.wrapping_sub(anchor()) as i64)
    }

    /// The function at this offset in this process.
    ///
    /// # Safety
    /// `self` must have been made by `FnAddr::of` from a function pointer of
    /// type `F` in a process running this same executable, and `F` must be a
    /// function pointer type.
    pub(crate) unsafe fn resolve<F: Copy>(self) -> F {
        const { assert!(size_of::<F>() == size_of::<usize>()) };
        let addr = anchor().wrapping_add(self.0 as usize);
        // SAFETY: by the caller's promise, `addr` is the address of a function
        // of type F in this executable's text, which the worker has mapped at
        // the same offset from `anchor` as the coordinator.
        unsafe { std::mem::transmute_copy::<usize, F>(&addr) }
    }
}

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

/// Why a worker could not finish its part of a job.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    Panicked {
        chunk: u64,
        rows: (u64, u64),
        message: String,
    },
    SlotOverflow {
        chunk: u64,
        needed: u64,
        available: u64,
        capacity: u64,
    },
    /// The job was aborted (a worker died holding a lock) while this one
    /// waited for that lock.
    Aborted,
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            } => Failure::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            },
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Panicked {
                chunk,
                rows,
                message,
            } => Error::MapperPanicked {
                chunk,
                rows: rows.0..rows.1,
                message,
            },
            Failure::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            } => Error::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            },
            Failure::Aborted => Error::Protocol(
                "a worker's job was aborted, but the coordinator saw no death".into(),
            ),
            Failure::Other(m) => Error::Protocol(format!("worker failed: {m}")),
        }
    }
}

/// The type-erased entry point a worker calls for a job.
pub(crate) type Entry = fn(&mut Task<'_>, &[u8]) -> Result<(), Failure>;

/// The entry point for mapper type `M` over `A`/`D` arrays.
pub(crate) fn entry_for<M: Mapper<A, D>, A: Element, D: Dimension>() -> FnAddr {
    FnAddr::of(run_chunks::<M, A, D> as Entry as usize)
}

/// The entry point of an in-place job with parameters `P`.
pub(crate) fn in_place_entry<P: DeserializeOwned, A: Element, D: Dimension>() -> FnAddr {
    FnAddr::of(run_in_place::<P, A, D> as Entry as usize)
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
    FnAddr::of(run_into::<P, A, D, B, E> as Entry as usize)
}

/// The entry point of a locked job with parameters `P`.
pub(crate) fn locked_entry<P, A, D, B>() -> FnAddr
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
{
    FnAddr::of(run_locked::<P, A, D, B> as Entry as usize)
}

/// A write job's mapper: parameters and a function address, whose type the
/// entry point knows.
#[derive(Serialize, Deserialize)]
pub(crate) struct FnWith<P> {
    pub(crate) params: P,
    pub(crate) f: FnAddr,
}

/// An in-place mapper.
pub(crate) type InPlaceFn<P, A, D> = fn(&P, ArrayViewMut<'_, A, D>);
/// An out-of-place mapper.
pub(crate) type IntoFn<P, A, D, B, E> = fn(&P, ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
/// A locked mapper.
pub(crate) type LockedFn<P, A, D, B> = fn(&P, ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
/// The mapper type of [`Pool::map_locked_with`](crate::Pool::map_locked_with):
/// parameters, the input chunk, and the locked output.
pub type LockedMapFn<P, A, D, B> = LockedFn<P, A, D, B>;

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
    let mapper: M = postcard::from_bytes(payload).map_err(Error::from)?;
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
    let m: FnWith<P> = postcard::from_bytes(payload).map_err(Error::from)?;
    // SAFETY: made by the coordinator from an `InPlaceFn<P, A, D>` in this
    // same executable, for this entry point monomorphized for P, A, D.
    let f: InPlaceFn<P, A, D> = unsafe { m.f.resolve() };
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
    let m: FnWith<P> = postcard::from_bytes(payload).map_err(Error::from)?;
    // SAFETY: made by the coordinator from an `IntoFn<P, A, D, B, E>` in
    // this same executable, for this entry point monomorphized alike.
    let f: IntoFn<P, A, D, B, E> = unsafe { m.f.resolve() };
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
    let m: FnWith<P> = postcard::from_bytes(payload).map_err(Error::from)?;
    // SAFETY: made by the coordinator from a `LockedFn<P, A, D, B>` in this
    // same executable, for this entry point monomorphized alike.
    let f: LockedFn<P, A, D, B> = unsafe { m.f.resolve() };
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
