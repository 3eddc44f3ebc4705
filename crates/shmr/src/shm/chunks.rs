//! One job's shared memory as a worker sees it: the chunks it claims, and
//! the views of the job's arrays that a claim allows.
//!
//! This is where pointers into shared memory become `ndarray` views, so
//! that the worker's own code is safe code. The rules the views rest on:
//! an input is mapped read-only (no process writes it during the job: the
//! coordinator holds it borrowed); an output chunk is viewed mutably only
//! by the worker that claimed it, and a claim is handed out once per round
//! (the shared counter); a locked output is written only under its stripes.

use super::lock::{LockTable, LockedOutput};
use super::partition::{Partition, Selection};
use super::slots::{CLAIMING, HELD_LAST, HELD_PART, JobSlot};
use crate::error::{Error, Result};
use crate::memory::{Element, Header, Segment, dim_for};
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use serde::Serialize;
use std::ops::Range;
use std::sync::atomic::Ordering;

/// The arrays, locks and slot of one job in one worker.
pub(crate) struct JobMemory<'a> {
    /// The arrays the mapper reads, in the order of the job's input: each
    /// mapped chunk by chunk, or seen whole (a side array). The first is
    /// written in place by an in-place job.
    parts: Vec<(&'a Segment, &'a Header)>,
    /// Whether the first part was taken to be written in place.
    written: bool,
    output: Option<(&'a Segment, &'a Header)>,
    locks: Option<LockTable<'a>>,
    partition: Partition,
    selection: &'a Selection,
    /// How many chunks the selection holds: the round's claims.
    claims: u64,
    slot: JobSlot<'a>,
    guard: bool,
}

impl<'a> JobMemory<'a> {
    /// `parts` are the arrays the job reads (mapped read-only, but for the
    /// first of an in-place job); `output` the array it writes, if another;
    /// `guard`: an in-place job write-protects all but the chunk mapped.
    pub(crate) fn new(
        parts: Vec<(&'a Segment, &'a Header)>,
        output: Option<(&'a Segment, &'a Header)>,
        locks: Option<LockTable<'a>>,
        partition: Partition,
        selection: &'a Selection,
        slot: JobSlot<'a>,
        guard: bool,
    ) -> JobMemory<'a> {
        JobMemory {
            parts,
            written: false,
            output,
            locks,
            claims: selection.count(&partition),
            partition,
            selection,
            slot,
            guard,
        }
    }

    /// Whether an in-place job guards the rest of the array while a chunk
    /// is mapped.
    pub(crate) fn guarded(&self) -> bool {
        self.guard
    }

    /// Claims the next chunk, if any is left, and says so in the slot's
    /// `in progress` word.
    ///
    /// `CLAIMING` is stored before the claim, all in one total order
    /// (`SeqCst`) with the coordinator's reads of the counter and of
    /// `in progress`: a coordinator that sees every chunk claimed and this
    /// worker's word at 0 knows the worker holds no chunk and will write no
    /// more records in this round (see `coordinator/round.rs`).
    pub(crate) fn claim(&self) -> Option<Claim> {
        let slot = &self.slot;
        slot.in_progress.store(CLAIMING, Ordering::SeqCst);
        let chunk = self.next_claim();
        slot.in_progress
            .store(chunk.map_or(0, |i| i + 1), Ordering::SeqCst);
        chunk.map(|chunk| Claim {
            chunk,
            rows: self.partition.chunk(chunk),
        })
    }

    /// The chunk of this worker's next claim, if any is left. A round over
    /// every chunk keeps each worker to its own chunks of each block (see
    /// `Slots::claim`); a round over some chunks (lost ones, mapped again)
    /// takes them in order.
    fn next_claim(&self) -> Option<u64> {
        let affine = matches!(self.selection, Selection::All);
        let k = self.slot.claim(self.claims, affine)?;
        self.selection.nth(&self.partition, k)
    }

    /// Commits the partial result of a claimed chunk to the slot, which
    /// ends the claim.
    pub(crate) fn commit<T: Serialize>(&mut self, claim: Claim, value: &T) -> Result<()> {
        self.slot
            .writer
            .push(claim.chunk, value, self.slot.notify)?;
        // After the record is committed: a coordinator that reads 0 here
        // also sees the record.
        self.slot.in_progress.store(0, Ordering::SeqCst);
        Ok(())
    }

    /// [`claim`](JobMemory::claim) for a held job, whose worker commits
    /// its chunks only once none is left: `held` is the first chunk it
    /// holds, if any. Its `in progress` word then goes from chunk to chunk
    /// as it claims more, never through `CLAIMING` or 0, so the coordinator
    /// never takes it for a worker that holds nothing, and a death or a
    /// timeout names the chunk it was mapping. Once none is left, the word
    /// stays at its last chunk until the commit.
    pub(crate) fn claim_held(&self, held: Option<u64>) -> Option<Claim> {
        if held.is_none() {
            return self.claim();
        }
        let chunk = self.next_claim()?;
        self.slot.in_progress.store(chunk + 1, Ordering::SeqCst);
        Some(Claim {
            chunk,
            rows: self.partition.chunk(chunk),
        })
    }

    /// Commits a held job's partial for `chunks`, its encoded `bytes`
    /// cut into pieces of at most `piece` bytes, which ends the hold: every
    /// piece but the last as a [`HELD_PART`] record, the last with the list
    /// of chunks as the [`HELD_LAST`] record. The coordinator joins the
    /// pieces and counts the chunks done only when it has the last. In
    /// pieces, a partial of any size passes through a ring of fixed size:
    /// the coordinator takes each piece as soon as it is written.
    pub(crate) fn commit_held(&mut self, chunks: &[u64], bytes: &[u8], piece: usize) -> Result<()> {
        let mut pieces = bytes.chunks(piece.max(1));
        let last = pieces.next_back().unwrap_or(&[]);
        for p in pieces {
            self.slot
                .writer
                .push(HELD_PART, &Piece(p), self.slot.notify)?;
        }
        self.slot
            .writer
            .push(HELD_LAST, &(chunks, Piece(last)), self.slot.notify)?;
        self.slot.in_progress.store(0, Ordering::SeqCst);
        Ok(())
    }

    /// Bytes of this worker's ring: a held job cuts its partial into
    /// pieces that fit it several times over.
    pub(crate) fn ring_bytes(&self) -> usize {
        self.slot.writer.capacity()
    }

    fn part(&self, index: usize) -> Result<(&'a Segment, &'a Header)> {
        self.parts
            .get(index)
            .copied()
            .ok_or_else(|| Error::Protocol(format!("the job has no input {index}")))
    }

    /// Input `index`, to read chunk by chunk. Refused if it is mapped
    /// writable (an in-place job's, read and written through
    /// [`JobMemory::in_place`]).
    pub(crate) fn input<A: Element, D: Dimension>(
        &self,
        index: usize,
    ) -> Result<ChunkInput<'a, A, D>> {
        let (segment, header) = self.part(index)?;
        read_only(segment)?;
        Ok(ChunkInput(Typed::new(
            segment,
            header,
            Some(&self.partition),
        )?))
    }

    /// Input `index` whole: a side array, the same for every chunk.
    pub(crate) fn side<A: Element, D: Dimension>(
        &self,
        index: usize,
    ) -> Result<ArrayView<'a, A, D>> {
        let (segment, header) = self.part(index)?;
        read_only(segment)?;
        let whole = Typed::<A, D>::new(segment, header, None)?;
        // SAFETY: as in `ChunkInput::chunk`, for the whole array: `Typed`
        // checked it lies in the mapping, which lives for 'a; the mapping
        // is read-only, and the coordinator holds the array borrowed for
        // the job.
        Ok(unsafe { ArrayView::from_shape_ptr(whole.dim, whole.data) })
    }

    /// The first input, to write in place chunk by chunk. Taken once.
    pub(crate) fn in_place<A: Element, D: Dimension>(&mut self) -> Result<Output<'a, A, D>> {
        let (segment, header) = self.part(0)?;
        if std::mem::replace(&mut self.written, true) {
            return Err(taken("array to write in place"));
        }
        Output::new(segment, header, &self.partition)
    }

    /// The output, to write chunk by chunk (the same rows as the input's).
    /// Taken once.
    pub(crate) fn output<B: Element, E: Dimension>(&mut self) -> Result<Output<'a, B, E>> {
        let (segment, header) = self.output.take().ok_or_else(|| taken("output"))?;
        Output::new(segment, header, &self.partition)
    }

    /// The output, to write anywhere under the job's striped locks. Taken
    /// once.
    pub(crate) fn locked<B: Element>(&mut self) -> Result<LockedOutput<'a, B>> {
        let (segment, header) = self.output.take().ok_or_else(|| taken("output"))?;
        let table = self.locks.take().ok_or_else(|| taken("lock table"))?;
        if header.dtype() != B::DTYPE {
            return Err(Error::TypeMismatch {
                expected: format!("output elements of {}", B::DTYPE),
                found: format!("{}", header.dtype()),
            });
        }
        let (data, len) = elements::<B>(segment, header)?;
        // SAFETY: `elements` checked that the output's `len` elements lie in
        // its mapping, which lives for 'a; the output is mapped writable and
        // taken out of `self`, so this is its only user in this process; the
        // coordinator holds it mutably borrowed for the job, and every
        // worker of a locked job writes it only through a `LockedOutput`
        // over this same table (the job's access, the same for all).
        Ok(unsafe {
            LockedOutput::new(
                data,
                len,
                header.shape(),
                table,
                self.slot.holder,
                self.slot.locks_taken,
            )
        })
    }
}

/// Refuses to read a writable mapping as if nobody wrote it.
fn read_only(segment: &Segment) -> Result<()> {
    if segment.is_read_only() {
        Ok(())
    } else {
        Err(Error::Protocol(
            "an array a job reads is mapped writable".into(),
        ))
    }
}

fn taken(what: &str) -> Error {
    Error::Protocol(format!("the job has no {what} (or it was taken twice)"))
}

/// A piece of a held partial's bytes, encoded as bytes (a length and
/// the bytes, not one varint per byte); the coordinator decodes it as
/// `&[u8]`.
struct Piece<'b>(&'b [u8]);

impl Serialize for Piece<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A chunk this worker claimed: in this round no other process maps it.
/// Ended by [`JobMemory::commit`].
#[derive(Debug)]
pub(crate) struct Claim {
    chunk: u64,
    rows: Range<u64>,
}

impl Claim {
    pub(crate) fn chunk(&self) -> u64 {
        self.chunk
    }
    pub(crate) fn rows(&self) -> Range<u64> {
        self.rows.clone()
    }
}

/// The elements of the array `header` describes in `segment`, checked to
/// lie inside its mapping.
fn elements<A: Element>(segment: &Segment, header: &Header) -> Result<(*mut A, usize)> {
    let end = header.offset().checked_add(header.data_len());
    if end.is_none_or(|end| end > segment.len()) || !header.offset().is_multiple_of(align_of::<A>())
    {
        return Err(Error::InvalidSegment(format!(
            "an array of {} bytes at offset {} does not fit a segment of {}",
            header.data_len(),
            header.offset(),
            segment.len()
        )));
    }
    let len = header.shape().iter().product();
    // `wrapping_add` stays inside the mapping, as just checked.
    Ok((segment.ptr().wrapping_add(header.offset()).cast(), len))
}

/// An array of `A` in a segment, with its shape checked against the job's
/// partition.
struct Typed<'a, A, D> {
    segment: &'a Segment,
    /// Where the elements start in the segment, in bytes.
    offset: usize,
    data: *mut A,
    dim: D,
}

impl<'a, A: Element, D: Dimension> Typed<'a, A, D> {
    /// With `partition`, the array must have its rows.
    fn new(segment: &'a Segment, header: &Header, partition: Option<&Partition>) -> Result<Self> {
        let dim: D = dim_for::<A, D>(header)?;
        let rows = header.shape().first().copied().unwrap_or(1) as u64;
        if let Some(p) = partition.filter(|p| p.rows() != rows) {
            return Err(Error::Protocol(format!(
                "partition of {} rows for an array of {rows}",
                p.rows()
            )));
        }
        let (data, _) = elements::<A>(segment, header)?;
        Ok(Typed {
            segment,
            offset: header.offset(),
            data,
            dim,
        })
    }

    /// Shape and first element of `rows`.
    fn chunk(&self, rows: &Range<u64>) -> (D, *mut A) {
        if self.dim.ndim() == 0 {
            return (self.dim.clone(), self.data);
        }
        assert!(
            rows.start <= rows.end && rows.end <= self.dim[0] as u64,
            "internal: rows {rows:?} of an array of {}",
            self.dim[0]
        );
        let row_elems: usize = self.dim.slice()[1..].iter().product();
        let mut sub = self.dim.clone();
        sub[0] = (rows.end - rows.start) as usize;
        // In bounds: rows.end <= the rows of the array (asserted).
        let first = self.data.wrapping_add(rows.start as usize * row_elems);
        (sub, first)
    }
}

/// An array a job reads chunk by chunk, mapped read-only.
///
/// Public only because a sealed public trait (`Input`) names it as an
/// associated type; it cannot be named or made outside the crate.
#[doc(hidden)]
pub struct ChunkInput<'a, A, D>(Typed<'a, A, D>);

impl<A: Element, D: Dimension> ChunkInput<'_, A, D> {
    /// The rows of a claimed chunk.
    pub(crate) fn chunk(&self, claim: &Claim) -> ArrayView<'_, A, D> {
        let (shape, first) = self.0.chunk(&claim.rows);
        // SAFETY: `Typed::new` checked that the array's elements of A, in
        // standard layout and aligned, lie inside the mapping, which lives
        // as long as this borrow; a chunk is a run of whole rows inside it.
        // The mapping is read-only (checked by `JobMemory::input`), so no
        // code in this process writes it, and the coordinator holds the
        // array borrowed for the job, so no process does.
        unsafe { ArrayView::from_shape_ptr(shape, first) }
    }
}

/// A job's output (or an in-place job's array), written chunk by chunk.
pub(crate) struct Output<'a, B, E>(Typed<'a, B, E>);

impl<'a, B: Element, E: Dimension> Output<'a, B, E> {
    fn new(segment: &'a Segment, header: &Header, partition: &Partition) -> Result<Self> {
        if segment.is_read_only() {
            return Err(Error::Protocol(
                "the array a job writes is mapped read-only".into(),
            ));
        }
        Ok(Output(Typed::new(segment, header, Some(partition))?))
    }

    /// Makes the whole array, or the rows of `claim`, writable or
    /// read-only in this worker's mapping: the guard of in-place jobs,
    /// under which a mapper's stray write outside its chunk faults instead
    /// of corrupting another chunk.
    pub(crate) fn protect(&self, claim: Option<&Claim>, writable: bool) -> Result<()> {
        let t = &self.0;
        let bytes = |elems: u64| t.offset + elems as usize * size_of::<B>();
        let row_elems: u64 = t.dim.slice().iter().skip(1).product::<usize>() as u64;
        let rows = match claim {
            Some(c) if t.dim.ndim() > 0 => c.rows.clone(),
            _ => 0..t.dim.slice().first().map_or(1, |&r| r as u64),
        };
        t.segment.protect(
            bytes(rows.start * row_elems)..bytes(rows.end * row_elems),
            writable,
        )
    }

    /// The rows of a claimed chunk, to write. The view borrows the claim,
    /// so it ends before the claim is committed.
    pub(crate) fn chunk_mut<'v>(&'v mut self, claim: &'v Claim) -> ArrayViewMut<'v, B, E> {
        let (shape, first) = self.0.chunk(&claim.rows);
        // SAFETY: as in `ChunkInput::chunk`, over a writable mapping. The rows
        // are this worker's alone: chunks do not overlap, a claim is handed
        // out to one worker per round, and the coordinator holds the array
        // mutably borrowed, so no other process views them meanwhile; in
        // this process, `&mut self` allows one view at a time.
        unsafe { ArrayViewMut::from_shape_ptr(shape, first) }
    }
}
