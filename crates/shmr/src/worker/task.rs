//! What a worker runs for one job: claiming chunks, viewing them straight
//! out of shared memory, running the mapper under `catch_unwind`, and
//! committing each partial to the worker's slot. The coordinator names the
//! entry point of a job by the address of one of the functions here.

use crate::error::Encoded;
use crate::job::{FnWith, HeldMapper, InPlaceWith, Input, IntoWith, LockedWith, Mapper};
use crate::memory::Element;
use crate::protocol::{Entry, Failure, Func};
use crate::shm::{Aborted, Claim, JobMemory};
use ndarray::Dimension;
use serde::{Serialize, de::DeserializeOwned};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The entry point for mapper type `M` over input `I`.
pub(crate) fn entry_for<M: Mapper<I>, I: Input>() -> Func<Entry> {
    Func::new(run_chunks::<M, I> as Entry)
}

/// The entry point for held mapper type `H` over input `I`.
pub(crate) fn held_entry_for<H: HeldMapper<I>, I: Input>() -> Func<Entry> {
    Func::new(run_held::<H, I> as Entry)
}

/// The entry point of an in-place job with parameters `P`.
pub(crate) fn in_place_entry<P: DeserializeOwned, A: Element, D: Dimension>() -> Func<Entry> {
    Func::new(run_in_place::<P, A, D> as Entry)
}

/// The entry point of an out-of-place job with parameters `P`.
pub(crate) fn into_entry<P, I, B, E>() -> Func<Entry>
where
    P: DeserializeOwned,
    I: Input,
    B: Element,
    E: Dimension,
{
    Func::new(run_into::<P, I, B, E> as Entry)
}

/// The entry point of a locked job with parameters `P`.
pub(crate) fn locked_entry<P, A, D, B>() -> Func<Entry>
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
{
    Func::new(run_locked::<P, A, D, B> as Entry)
}

/// Claims chunks until none are left, running `map` on each under
/// `catch_unwind` and committing its result to the slot.
fn drive<T: Serialize>(
    memory: &mut JobMemory<'_>,
    mut map: impl FnMut(&Claim) -> T,
) -> Result<(), Failure> {
    while let Some(claim) = memory.claim() {
        let out = mapped(&claim, || map(&claim))?;
        memory.commit(claim, &out)?;
    }
    Ok(())
}

/// Runs the mapper `f` of `claim` under `catch_unwind`: a panic is the
/// job's failure, naming the chunk.
fn mapped<T>(claim: &Claim, f: impl FnOnce() -> T) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(|| {
        crate::worker::in_mapper(claim.rows(), f)
    }))
    .map_err(|payload| {
        if payload.is::<Aborted>() {
            Failure::Aborted
        } else {
            let rows = claim.rows();
            Failure::Panicked {
                chunk: claim.chunk(),
                rows: (rows.start, rows.end),
                message: crate::worker::panic_message(&*payload),
            }
        }
    })
}

/// A held job: every chunk this worker claims is mapped into one
/// accumulator, committed in parts once no chunk is left.
fn run_held<H: HeldMapper<I>, I: Input>(
    memory: &mut JobMemory<'_>,
    payload: &[u8],
) -> Result<(), Failure> {
    let mapper: H = postcard::from_bytes(payload).encoded()?;
    let input = I::prepare(memory)?;
    let mut acc = mapper.start();
    let mut chunks = Vec::new();
    while let Some(claim) = memory.claim_held(chunks.first().copied()) {
        mapped(&claim, || {
            mapper.map_into(&mut acc, I::chunk(&input, &claim))
        })?;
        chunks.push(claim.chunk());
    }
    if chunks.is_empty() {
        return Ok(());
    }
    // A quarter of the ring a part: the coordinator takes each as soon as
    // it is written, so the ring never has to hold the whole partial.
    let parts = mapper.parts(acc, (memory.ring_bytes() / 4).max(1));
    memory.commit_held(&chunks, &parts)?;
    Ok(())
}

fn run_chunks<M: Mapper<I>, I: Input>(
    memory: &mut JobMemory<'_>,
    payload: &[u8],
) -> Result<(), Failure> {
    let mapper: M = postcard::from_bytes(payload).encoded()?;
    let input = I::prepare(memory)?;
    drive(memory, |claim| mapper.map(I::chunk(&input, claim)))
}

fn run_in_place<P: DeserializeOwned, A: Element, D: Dimension>(
    memory: &mut JobMemory<'_>,
    payload: &[u8],
) -> Result<(), Failure> {
    let m: FnWith<P, InPlaceWith<P, A, D>> = postcard::from_bytes(payload).encoded()?;
    let f = m.f.get();
    let guard = memory.guarded();
    let mut array = memory.in_place::<A, D>()?;
    // No view of the array exists in this worker while its protection
    // changes, and the pages are this worker's own mapping of it.
    if guard {
        array.protect(None, false)?;
    }
    let result = drive(memory, |claim| {
        if guard {
            // A failure here leaves the chunk read-only: the mapper's first
            // write faults, which ends the job with an error, not a wrong answer.
            let _ = array.protect(Some(claim), true);
        }
        f(&m.params, array.chunk_mut(claim));
        if guard {
            let _ = array.protect(Some(claim), false);
        }
    });
    if guard {
        array.protect(None, true)?;
    }
    result
}

fn run_into<P, I, B, E>(memory: &mut JobMemory<'_>, payload: &[u8]) -> Result<(), Failure>
where
    P: DeserializeOwned,
    I: Input,
    B: Element,
    E: Dimension,
{
    let m: FnWith<P, IntoWith<P, I, B, E>> = postcard::from_bytes(payload).encoded()?;
    let input = I::prepare(memory)?;
    let mut output = memory.output::<B, E>()?;
    drive(memory, |claim| {
        I::into_call(
            &m.f,
            &m.params,
            I::chunk(&input, claim),
            output.chunk_mut(claim),
        )
    })
}

fn run_locked<P, A, D, B>(memory: &mut JobMemory<'_>, payload: &[u8]) -> Result<(), Failure>
where
    P: DeserializeOwned,
    A: Element,
    D: Dimension,
    B: Element,
{
    let m: FnWith<P, LockedWith<P, A, D, B>> = postcard::from_bytes(payload).encoded()?;
    let f = m.f.get();
    let input = memory.input::<A, D>(0)?;
    let mut out = memory.locked::<B>()?;
    drive(memory, |claim| f(&m.params, input.chunk(claim), &mut out))
}
