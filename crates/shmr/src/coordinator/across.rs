//! Jobs that span several coordinators (MPI ranks, one per machine or
//! more): each runs the job on its own part of the data with its own pool,
//! then the ranks swap their results through an [`Exchange`] and every
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
/// impl shmr::Exchange for Alone {
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
pub trait Exchange {
    /// This coordinator's place among them, from 0.
    fn rank(&self) -> usize;
    /// Every coordinator's bytes, in rank order, on every coordinator; a
    /// collective call: all of them make it, once per job.
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;
}

/// The job's result on every rank: each rank's own, folded in rank order.
pub(crate) fn combine<T: Serialize + DeserializeOwned>(
    ranks: &dyn Exchange,
    local: Result<(T, JobReport)>,
    reduce: &mut dyn FnMut(T, T) -> T,
) -> Result<(T, JobReport)> {
    let mine: std::result::Result<&T, String> = match &local {
        Ok((value, _)) => Ok(value),
        Err(e) => Err(e.to_string()),
    };
    let bytes = postcard::to_allocvec(&mine).encoded();
    // Whatever happened here, the others are waiting for this rank's word.
    let all = ranks.all_gather(bytes.as_deref().unwrap_or(&[]))?;
    let (_, report) = local?;
    bytes?;
    let mut acc = None;
    for (rank, b) in all.iter().enumerate() {
        let theirs: std::result::Result<T, String> = postcard::from_bytes(b).encoded()?;
        let value = theirs.map_err(|message| Error::Rank { rank, message })?;
        acc = Some(match acc {
            None => value,
            Some(a) => reduce(a, value),
        });
    }
    let value = acc.ok_or_else(|| Error::Protocol("an exchange with no rank".into()))?;
    Ok((value, report))
}

/// A job that writes: every rank learns whether every other succeeded.
pub(crate) fn settle(ranks: &dyn Exchange, local: Result<JobReport>) -> Result<JobReport> {
    let mine: std::result::Result<(), String> =
        local.as_ref().map(|_| ()).map_err(|e| e.to_string());
    let bytes = postcard::to_allocvec(&mine).encoded();
    let all = ranks.all_gather(bytes.as_deref().unwrap_or(&[]))?;
    let report = local?;
    bytes?;
    for (rank, b) in all.iter().enumerate() {
        let theirs: std::result::Result<(), String> = postcard::from_bytes(b).encoded()?;
        theirs.map_err(|message| Error::Rank { rank, message })?;
    }
    Ok(report)
}
