//! Kinds of job, each in one file: what its workers get, how they run its
//! chunks, what it writes, whether a chunk lost with a dead worker may be
//! mapped again, and how the coordinator folds what its workers commit.
//!
//! | kind | file | workers commit | folded | writes | lost chunks |
//! |---|---|---|---|---|---|
//! | [`PerChunk`] | `per_chunk.rs` | a partial per chunk | in chunk order | nothing | mapped again |
//! | [`PerWorker`] | `per_worker.rs` | one accumulator per worker | in any order | nothing | all its chunks mapped again |
//! | [`WriteInPlace`] | `in_place.rs` | nothing | | its input's chunks | an error |
//! | [`WriteInto`] | `into.rs` | nothing | | an output's same rows | mapped again |
//! | [`WriteLocked`] | `locked.rs` | nothing | | an output, under locks | an error |
//!
//! `map_reduce`, [`Job`](super::Job)s, records jobs and keyed jobs with a
//! table per chunk are [`PerChunk`] jobs with different mappers; `fold`
//! and keyed jobs with a table per worker are [`PerWorker`] jobs. A new kind is a new file
//! here (its worker loop in [`Kind::run`], a constructor that checks its
//! arrays and says what it [`Writes`]), a line below, and the builder's
//! method that makes it and hands it to the coordinator's one `run`.
//!
//! # How the API keeps views from aliasing
//!
//! A job that writes an array takes it by `&mut`, for the whole job. While
//! the job runs, the coordinator can hold no other view of that array (the
//! borrow checker refuses), and each worker gets a mutable view of exactly
//! the chunk it claimed: chunks do not overlap and each is claimed by one
//! worker. So no two live views alias mutably, in any process.
//!
//! An array cannot be both the input and the output of `map_into`, which
//! would let a worker read rows another is writing:
//!
//! ```compile_fail,E0502
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! // error[E0502]: cannot borrow `a` as mutable because it is also borrowed as immutable
//! pool.on(&a).map_into(&mut a, |input, mut output| output.assign(&input))?;
//! # Ok(()) }
//! ```
//!
//! A view taken before an in-place job cannot be used after it starts,
//! since the workers write under it:
//!
//! ```compile_fail,E0502
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let before = a.view();
//! // error[E0502]: cannot borrow `a` as mutable because it is also borrowed as immutable
//! pool.on_mut(&mut a).map_in_place(|mut c| c.fill(1.0))?;
//! assert_eq!(before[0], 0.0);
//! # Ok(()) }
//! ```
//!
//! A mapper sees only its own chunk, and cannot reach another through a
//! captured view, because it cannot capture at all:
//!
//! ```compile_fail,E0308
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let mut b = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let mut other = b.view_mut();
//! // error[E0308]: closures can only be coerced to `fn` types if they do not capture any variables
//! pool.on_mut(&mut a).map_in_place(|mut c| { other[0] = 1.0; c.fill(1.0) })?;
//! # Ok(()) }
//! ```
//!
//! Jobs whose workers must write where they overlap use
//! [`map_locked`](crate::JobBuilder::map_locked): the output is reachable only
//! through a [`LockedOutput`](crate::LockedOutput), whose methods hold the
//! lock of the region written.

mod mapped;

mod in_place;
mod into;
mod locked;
mod per_chunk;
mod per_worker;

pub(crate) use in_place::WriteInPlace;
pub use in_place::{InPlaceBare, InPlaceWith};
pub(crate) use into::WriteInto;
pub(crate) use locked::WriteLocked;
pub use locked::{LockedBare, LockedWith};
#[allow(deprecated)]
pub use mapped::{chunk_rows, current_rows};
pub(crate) use mapped::{install_panic_hook, panic_message};
pub(crate) use per_chunk::PerChunk;
pub(crate) use per_worker::{HeldMapper, PerWorker};

use crate::error::Encoded;
use crate::memory::ArrayRef;
use crate::protocol::{Entry, Failure, Func};
use crate::shm::{Aborted, Claim, JobMemory};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A kind of job, as its workers get it: the value is sent to every
/// worker (serialized, with the mapper as a function address), which runs
/// the job's chunks with it.
pub(crate) trait Kind: Serialize + DeserializeOwned + 'static {
    /// What a worker commits for the coordinator to fold (`()` for a job
    /// that writes its results into an array).
    type Partial: Serialize + DeserializeOwned + 'static;
    /// How the coordinator folds the partials.
    const FOLD: Fold;
    /// Whether mapping a chunk twice is harmless, so that the chunks lost
    /// with a dead worker can be mapped again: true when a chunk's work
    /// only reads, or overwrites the same output rows with the same values.
    const RETRYABLE: bool;
    /// Claims the job's chunks in a worker until none is left, mapping each
    /// and committing what the coordinator folds.
    fn run(&self, memory: &mut JobMemory<'_>) -> Result<(), Failure>;
}

/// How the coordinator folds a job's partials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fold {
    /// One partial per chunk, folded in chunk order: the same left fold
    /// for any number of workers and any timing.
    ChunkOrder,
    /// One partial per worker (committed in parts), folded in the order
    /// workers finish: for partials that combine alike in any order.
    AnyOrder,
}

/// What a job writes, as its kind's constructor says.
#[derive(Clone, Copy)]
pub(crate) enum Writes<'a> {
    Nothing,
    /// Its input's chunks; with `guard`, the rest of the array is
    /// write-protected while a worker maps a chunk.
    InPlace {
        guard: bool,
    },
    /// The rows of `output` that match each chunk.
    Into(ArrayRef<'a>),
    /// Anywhere in `output`, under `stripes` striped locks.
    Locked {
        output: ArrayRef<'a>,
        stripes: usize,
    },
}

/// A job of kind `K` ready for its workers: its value encoded (what each
/// worker decodes into a `K`), and what it writes. Made by the kind's
/// constructor, which checks the job's arrays first.
pub(crate) struct Ready<'a, K> {
    pub(crate) payload: Vec<u8>,
    pub(crate) writes: Writes<'a>,
    kind: PhantomData<fn() -> K>,
}

impl<'a, K: Kind> Ready<'a, K> {
    /// `kind`, which writes what `writes` says.
    pub(crate) fn new(kind: &K, writes: Writes<'a>) -> crate::Result<Self> {
        Ready::encoded(kind, writes)
    }

    /// `kind`, which writes nothing: its partials are its result.
    pub(crate) fn reads(kind: &K) -> crate::Result<Self> {
        Ready::new(kind, Writes::Nothing)
    }

    /// The job whose workers decode `value` as a `K`: `value` must encode
    /// exactly as a `K` does (a `K` or its borrowed twin).
    fn encoded(value: &impl Serialize, writes: Writes<'a>) -> crate::Result<Self> {
        Ok(Ready {
            payload: postcard::to_allocvec(value).encoded()?,
            writes,
            kind: PhantomData,
        })
    }

    /// The workers' entry point.
    pub(crate) fn entry(&self) -> Func<Entry> {
        Func::new(run::<K> as Entry)
    }
}

fn run<K: Kind>(memory: &mut JobMemory<'_>, payload: &[u8]) -> Result<(), Failure> {
    let kind: K = postcard::from_bytes(payload).encoded()?;
    kind.run(memory)
}

/// A write job's mapper: parameters and a function of a type its kind
/// knows.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct FnWith<P, F> {
    pub(crate) params: P,
    pub(crate) f: Func<F>,
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
    catch_unwind(AssertUnwindSafe(|| mapped::in_mapper(claim.rows(), f))).map_err(|payload| {
        if payload.is::<Aborted>() {
            Failure::Aborted
        } else {
            let rows = claim.rows();
            Failure::Panicked {
                chunk: claim.chunk(),
                rows: (rows.start, rows.end),
                message: panic_message(&*payload),
            }
        }
    })
}
