//! Jobs that span several coordinators (MPI ranks, one per machine or
//! more): each runs the job on its own part of the data with its own pool,
//! then the ranks swap their results through an [`Ranks`] and every
//! rank folds them in rank order.
//!
//! The fold is the job's own reducer, left to right over ranks, on every
//! rank, over the same bytes: every rank returns the same value, and the
//! same value from run to run for a given number of ranks and chunking.
//! A rank whose own part failed still takes part in the exchange (with its
//! error instead of a value), so a failure on one rank is an error on all
//! of them, never a rank waiting forever for another.

use crate::error::{Encoded, Error, Result};
use crate::job::JobReport;
use serde::{Serialize, de::DeserializeOwned};

/// How the coordinators of one job reach each other: the transport under
/// [`JobBuilder::across`](crate::JobBuilder::across). shmr's MPI backend
/// (`shmr::distributed::World`, cargo feature `mpi`) is one; a test or
/// another transport may be another.
///
/// # Example
/// One rank, which swaps with itself: the job's result as it is.
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// struct Alone;
/// impl shmr::Ranks for Alone {
///     fn rank(&self) -> usize { 0 }
///     fn all_gather(&self, mine: &[u8]) -> shmr::Result<Vec<Vec<u8>>> {
///         Ok(vec![mine.to_vec()])
///     }
/// }
/// let data = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(1..=100_i64))?;
/// let sum = shmr::global_pool()?.on(&data).across(&Alone).map_reduce(|c| c.sum(), |a, b| a + b)?;
/// assert_eq!(sum, 5050);
/// # Ok(()) }
/// ```
pub trait Ranks {
    /// This coordinator's place among them, from 0.
    fn rank(&self) -> usize;
    /// Every coordinator's bytes, in rank order, on every coordinator; a
    /// collective call: all of them make it, once per job.
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;
}

/// Every rank's outcome, in rank order, on every rank: their values if
/// all succeeded, else [`Error::Rank`] naming the first that failed. This
/// rank's `mine` is sent whatever it is (an error as its message), since
/// the others wait for it; a collective call, like [`Ranks::all_gather`].
pub(crate) fn outcomes<S: Serialize, T: DeserializeOwned>(
    ranks: &dyn Ranks,
    mine: std::result::Result<&S, String>,
) -> Result<Vec<T>> {
    let bytes = postcard::to_allocvec(&mine).encoded();
    // Even a value that would not encode is word for the others: they get
    // bytes that do not decode, an error on every rank.
    let all = ranks.all_gather(bytes.as_deref().unwrap_or(&[]))?;
    bytes?;
    all.iter()
        .enumerate()
        .map(|(rank, b)| {
            let theirs: std::result::Result<T, String> = postcard::from_bytes(b).encoded()?;
            theirs.map_err(|message| Error::Rank { rank, message })
        })
        .collect()
}

/// The job's result on every rank: each rank's own, folded in rank order.
/// A rank whose own part failed returns its own error.
pub(crate) fn combine<T: Serialize + DeserializeOwned>(
    ranks: &dyn Ranks,
    local: Result<(T, JobReport)>,
    reduce: &mut dyn FnMut(T, T) -> T,
) -> Result<(T, JobReport)> {
    let all = outcomes::<T, T>(
        ranks,
        local.as_ref().map(|(v, _)| v).map_err(|e| e.to_string()),
    );
    let (_, report) = local?;
    let all = all?;
    // The same fold over the same bytes on every rank: a reducer that
    // panics here panics on all of them, and each returns the error.
    let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        all.into_iter().reduce(reduce)
    }))
    .map_err(|p| Error::ReducerPanicked {
        message: crate::job::panic_message(&*p),
    })?
    .ok_or_else(|| Error::Protocol("an exchange with no rank".into()))?;
    Ok((value, report))
}

/// The old name of [`Ranks`] (a transport, not the shuffle that the name
/// means in Hadoop and Spark). A re-export cannot be marked deprecated:
/// this alias is kept one release, hidden, and goes then.
#[doc(hidden)]
pub use Ranks as Exchange;
