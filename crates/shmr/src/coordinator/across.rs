//! Jobs that span several coordinators (MPI ranks, one per machine or
//! more): each runs the job on its own part of the data with its own pool,
//! then the ranks combine their results through a [`Ranks`] transport in
//! one of two ways.
//!
//! - **A tree** for every job with one result (numbers, arrays, a fold's
//!   accumulator): a fixed binomial tree in rank order, `ceil(log2 P)`
//!   steps up, in which rank `r` receives the partial of `r + d` (ranks
//!   above its own, so the job's reducer folds in rank order) and `r + d`
//!   is done; then the same steps down, the root's result passed on as the
//!   bytes it arrived in. Every rank receives O(partial) bytes per step,
//!   and the fold's shape depends on P alone: the same bits from run to
//!   run for a given number of ranks.
//! - **A shuffle** for keyed jobs: each rank cuts its table by a hash of
//!   each key into P parts and sends part `s` to rank `s`; each rank
//!   merges what it owns in rank order and keeps it. The result is
//!   partitioned ([`Keyed::shard`]); [`Keyed::gather`], [`Keyed::all_gather`]
//!   and [`Keyed::global_top`] bring it together when asked.
//!
//! Before either, the ranks meet ([`Ranks::meet`]), which is where they wait
//! for each other: a rank that waits past the job's timeout returns
//! [`Error::Timeout`] naming the ranks it waited for. A rank whose own part
//! failed still takes part (with its error instead of a value), so a
//! failure on one rank is an error on all of them, never a rank waiting
//! forever for another.

use crate::error::{Encoded, Error, Result};
use crate::job::JobReport;
use crate::job::keyed::{Key, Keyed, Value};
use serde::{Serialize, de::DeserializeOwned};
use std::cmp::Ordering;
use std::time::{Duration, Instant};

/// How the coordinators of one job reach each other: the transport under
/// [`JobBuilder::across`](crate::JobBuilder::across). shmr's MPI backend
/// (`shmr::distributed::World`, cargo feature `mpi`) is one; a test or
/// another transport may be another.
///
/// Only [`all_gather`](Ranks::all_gather) must be written: the point to
/// point steps default to it (each rank then receives every message of
/// the step, which is correct and does not scale), and the meeting
/// defaults to none (no timeout covers the wait for other ranks).
///
/// # Example
/// One rank, which swaps with itself: the job's result as it is.
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// struct Alone;
/// impl shmr::Ranks for Alone {
///     fn rank(&self) -> usize { 0 }
///     fn size(&self) -> usize { 1 }
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

    /// How many there are.
    fn size(&self) -> usize;

    /// Every coordinator's bytes, in rank order, on every coordinator; a
    /// collective call: all of them make it.
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// One step of point-to-point messages: sends each `(rank, bytes)` of
    /// `to` to that rank, and returns the message of each rank of `from`,
    /// in `from`'s order. Every rank makes the same steps (one with nothing
    /// to send or receive passes two empty lists), and they match: `r`
    /// lists `s` in `to` exactly when `s` lists `r` in `from`. A rank that
    /// waits past `deadline` returns [`Error::Timeout`] naming the ranks of
    /// `from` it did not hear from.
    fn exchange(
        &self,
        to: Vec<(usize, Vec<u8>)>,
        from: &[usize],
        deadline: Option<Deadline>,
    ) -> Result<Vec<Vec<u8>>> {
        let _ = deadline;
        let all = self.all_gather(&postcard::to_allocvec(&to).encoded()?)?;
        let me = self.rank();
        from.iter()
            .map(|&r| {
                let theirs: Vec<(usize, Vec<u8>)> =
                    postcard::from_bytes(all.get(r).map_or(&[][..], |b| b)).encoded()?;
                theirs
                    .into_iter()
                    .find_map(|(to, b)| (to == me).then_some(b))
                    .ok_or_else(|| {
                        Error::Protocol(format!("rank {r} sent nothing to rank {me} in a step"))
                    })
            })
            .collect()
    }

    /// Waits until every rank has reached the exchange of a job, or until
    /// `deadline`: then [`Error::Timeout`] naming the ranks that had not
    /// (this rank's own number if it is the one that came too late). A
    /// collective call, once per job across ranks, before its exchange.
    /// By default the exchange's own steps are the meeting, untimed.
    fn meet(&self, deadline: Option<Deadline>) -> Result<()> {
        let _ = deadline;
        Ok(())
    }
}

/// When the ranks of a job stop waiting for each other: the job's start
/// plus its timeout ([`JobBuilder::timeout`](crate::JobBuilder::timeout)).
///
/// # Example
/// ```
/// use std::time::Duration;
/// let d = shmr::Deadline::after(Duration::from_secs(5)).expect("a finite timeout");
/// assert!(!d.passed());
/// let e = d.missed(vec![3]);
/// assert!(e.to_string().contains("rank(s) [3]"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now; `None` if that is past the end of time
    /// (`Duration::MAX`: no timeout).
    pub fn after(timeout: Duration) -> Option<Deadline> {
        Some(Deadline {
            at: Instant::now().checked_add(timeout)?,
            timeout,
        })
    }

    /// The instant itself.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// The timeout it was made from.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The error of a rank that waited past it for `ranks`.
    pub fn missed(&self, ranks: Vec<usize>) -> Error {
        Error::Timeout {
            timeout: self.timeout,
            chunk: None,
            rows: None,
            killed: 0,
            ranks,
        }
    }
}

/// What a rank passes on: its value, or the first failure (by rank) among
/// the ranks it stands for, with that rank's message.
type Outcome<T> = std::result::Result<T, (usize, String)>;

/// This rank's outcome as it travels, and its own error kept whole: a rank
/// returns its own error, the others [`Error::Rank`].
fn split_local<T>(
    me: usize,
    local: Result<(T, JobReport)>,
) -> (Outcome<T>, Option<Error>, Option<JobReport>) {
    match local {
        Ok((v, r)) => (Ok(v), None, Some(r)),
        Err(e) => (Err((me, e.to_string())), Some(e), None),
    }
}

fn encode<T: Serialize>(outcome: &Outcome<T>, me: usize) -> Vec<u8> {
    postcard::to_allocvec(outcome)
        .or_else(|e| {
            postcard::to_allocvec(&Outcome::<()>::Err((
                me,
                format!("a result that does not encode: {e}"),
            )))
        })
        .unwrap_or_default()
}

fn decode<T: DeserializeOwned>(bytes: &[u8], from: usize) -> Outcome<T> {
    postcard::from_bytes(bytes)
        .unwrap_or_else(|e| Err((from, format!("its result did not decode: {e}"))))
}

/// Two outcomes, lower ranks' first, folded: the first failure, or the
/// values reduced (a reducer that panics is this rank's failure).
fn fold<T>(
    me: usize,
    a: Outcome<T>,
    b: Outcome<T>,
    reduce: &mut dyn FnMut(T, T) -> T,
) -> Outcome<T> {
    let (a, b) = (a?, b?);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reduce(a, b))).map_err(|p| {
        let e = Error::ReducerPanicked {
            message: crate::job::panic_message(&*p),
        };
        (me, e.to_string())
    })
}

/// The end of an exchange on one rank: its own error if it had one, else
/// the job's outcome.
fn finish<T>(
    outcome: Outcome<T>,
    own: Option<Error>,
    report: Option<JobReport>,
) -> Result<(T, JobReport)> {
    if let Some(e) = own {
        return Err(e);
    }
    let value = outcome.map_err(|(rank, message)| Error::Rank { rank, message })?;
    Ok((
        value,
        report.expect("internal: a rank without an error has its report"),
    ))
}

/// The job's result on every rank: every rank's own, folded up a binomial
/// tree in rank order and passed back down.
pub(crate) fn tree<T: Serialize + DeserializeOwned>(
    ranks: &dyn Ranks,
    local: Result<(T, JobReport)>,
    reduce: &mut dyn FnMut(T, T) -> T,
    deadline: Option<Deadline>,
) -> Result<(T, JobReport)> {
    let (p, me) = (ranks.size(), ranks.rank());
    let (mut acc, own, report) = split_local(me, local);
    let met = ranks.meet(deadline);
    if let Err(e) = met {
        return Err(own.unwrap_or(e));
    }
    let mut d = 1;
    while d < p {
        let (to, from) = if me % (2 * d) == d {
            (vec![(me - d, encode(&acc, me))], vec![])
        } else if me % (2 * d) == 0 && me + d < p {
            (vec![], vec![me + d])
        } else {
            (vec![], vec![])
        };
        for bytes in ranks.exchange(to, &from, deadline)? {
            acc = fold(me, acc, decode(&bytes, me + d), reduce);
        }
        d *= 2;
    }
    // Down: the root's result, as the bytes it left in.
    let mut result: Option<Vec<u8>> = (me == 0 && p > 1).then(|| encode(&acc, me));
    while d > 1 {
        d /= 2;
        let (to, from) = if me % (2 * d) == 0 && me + d < p {
            let bytes = result.clone().expect("internal: a sender holds the result");
            (vec![(me + d, bytes)], vec![])
        } else if me % (2 * d) == d {
            (vec![], vec![me - d])
        } else {
            (vec![], vec![])
        };
        if let Some(bytes) = ranks.exchange(to, &from, deadline)?.pop() {
            result = Some(bytes);
        }
    }
    if me != 0 {
        acc = decode(result.as_deref().unwrap_or(&[]), 0);
    }
    finish(acc, own, report)
}

/// This rank's share of a keyed job's result: every rank's table cut by
/// owner (`cut`), part `s` sent to rank `s`, and the parts this rank owns
/// merged in rank order.
pub(crate) fn shuffle<T: Serialize + DeserializeOwned>(
    ranks: &dyn Ranks,
    local: Result<(T, JobReport)>,
    cut: &dyn Fn(T, usize) -> Vec<T>,
    reduce: &mut dyn FnMut(T, T) -> T,
    deadline: Option<Deadline>,
) -> Result<(T, JobReport)> {
    let (p, me) = (ranks.size(), ranks.rank());
    let (mine, own, report) = split_local(me, local);
    let met = ranks.meet(deadline);
    if let Err(e) = met {
        return Err(own.unwrap_or(e));
    }
    // Every rank's message, to every other: its part, or its failure.
    let parts: Vec<Outcome<T>> = match mine {
        Ok(v) => cut(v, p).into_iter().map(Ok).collect(),
        Err(f) => (0..p).map(|_| Err(f.clone())).collect(),
    };
    if parts.len() != p {
        return Err(Error::Protocol(format!(
            "a table cut into {} parts for {p} ranks",
            parts.len()
        )));
    }
    let mut kept = None;
    let mut to = Vec::with_capacity(p - 1);
    for (s, part) in parts.into_iter().enumerate() {
        if s == me {
            kept = Some(part);
        } else {
            to.push((s, encode(&part, me)));
        }
    }
    let others: Vec<usize> = (0..p).filter(|&s| s != me).collect();
    let mut got = ranks.exchange(to, &others, deadline)?.into_iter();
    let mut acc: Option<Outcome<T>> = None;
    for s in 0..p {
        let theirs = if s == me {
            kept.take().expect("internal: this rank's part")
        } else {
            decode(&got.next().unwrap_or_default(), s)
        };
        acc = Some(match acc {
            None => theirs,
            Some(a) => fold(me, a, theirs, reduce),
        });
    }
    finish(acc.expect("internal: at least one rank"), own, report)
}

/// Every rank's outcome, in rank order, on every rank: their values if
/// all succeeded, else [`Error::Rank`] naming the first that failed. This
/// rank's `mine` is sent whatever it is (an error as its message), since
/// the others wait for it; a collective call, like [`Ranks::all_gather`].
#[cfg(feature = "mpi")]
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

// The ways to bring a shuffled result together live beside the shuffle
// that cut it.
impl<K: Key, V: Value> Keyed<K, V> {
    /// The whole result on rank `root` (`Some` there, `None` elsewhere),
    /// from a keyed job across ranks whose result each rank holds a shard
    /// of: every rank sends its shard to `root` alone. A collective call.
    /// A result that is whole already (a job on one machine) is returned
    /// as it is on `root`.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// # struct Alone;
    /// # impl shmr::Ranks for Alone {
    /// #     fn rank(&self) -> usize { 0 }
    /// #     fn size(&self) -> usize { 1 }
    /// #     fn all_gather(&self, mine: &[u8]) -> shmr::Result<Vec<Vec<u8>>> { Ok(vec![mine.to_vec()]) }
    /// # }
    /// use shmr::keyed::Sum;
    /// let keys = shmr::SharedArray::from_array(&ndarray::arr1(&[3_u32, 1, 3, 2, 3]))?;
    /// let counts = shmr::global_pool()?
    ///     .on(&keys)
    ///     .across(&Alone)
    ///     .keyed(Sum, |c, out| c.iter().for_each(|k| out.emit(k, 1_u64)))?;
    /// let whole = counts.gather(&Alone, 0)?.expect("rank 0 is the root");
    /// assert_eq!(whole.into_vec(), vec![(1, 1), (2, 1), (3, 3)]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if `root` is not a rank; the transport's.
    pub fn gather(self, ranks: &dyn Ranks, root: usize) -> Result<Option<Keyed<K, V>>> {
        let (p, me) = (ranks.size(), ranks.rank());
        if root >= p {
            return Err(Error::InvalidConfig(format!(
                "gather to rank {root} of {p} ranks: the root must be a rank"
            )));
        }
        if self.shard().is_none() {
            return Ok((me == root).then_some(self));
        }
        let (to, from) = if me == root {
            (vec![], (0..p).filter(|&s| s != me).collect())
        } else {
            (
                vec![(root, postcard::to_allocvec(self.as_slice()).encoded()?)],
                vec![],
            )
        };
        let got = ranks.exchange(to, &from, None)?;
        if me != root {
            return Ok(None);
        }
        let mut entries = self.into_vec();
        for bytes in got {
            entries.extend(postcard::from_bytes::<Vec<(K, V)>>(&bytes).encoded()?);
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(Keyed::of_sorted(entries)))
    }

    /// The whole result on every rank (every rank receives every shard):
    /// for results that fit each rank, when every rank needs them all. A
    /// collective call.
    pub fn all_gather(self, ranks: &dyn Ranks) -> Result<Keyed<K, V>> {
        if self.shard().is_none() {
            return Ok(self);
        }
        let all = ranks.all_gather(&postcard::to_allocvec(self.as_slice()).encoded()?)?;
        let mut entries = Vec::new();
        for bytes in all {
            entries.extend(postcard::from_bytes::<Vec<(K, V)>>(&bytes).encoded()?);
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Keyed::of_sorted(entries))
    }

    /// The `n` keys of largest value across all shards, largest first, ties
    /// by key, smaller first (as [`Keyed::top`]), on every rank: each rank's
    /// own `n`, then one all-gather of those. A collective call.
    pub fn global_top(&self, ranks: &dyn Ranks, n: usize) -> Result<Vec<(K, V)>>
    where
        K: Clone,
        V: Ord + Clone,
    {
        self.global_top_by(ranks, n, |a, b| b.cmp(a))
    }

    /// [`global_top`](Keyed::global_top) in the order `cmp` says (the same
    /// on every rank), as [`Keyed::top_by`].
    pub fn global_top_by(
        &self,
        ranks: &dyn Ranks,
        n: usize,
        mut cmp: impl FnMut(&V, &V) -> Ordering,
    ) -> Result<Vec<(K, V)>>
    where
        K: Clone,
        V: Clone,
    {
        let mine: Vec<(K, V)> = self
            .top_by(n, &mut cmp)
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if self.shard().is_none() {
            return Ok(mine);
        }
        let mut all = Vec::new();
        for bytes in ranks.all_gather(&postcard::to_allocvec(&mine).encoded()?)? {
            all.extend(postcard::from_bytes::<Vec<(K, V)>>(&bytes).encoded()?);
        }
        all.sort_by(|a, b| cmp(&a.1, &b.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        Ok(all)
    }
}

/// The old name of [`Ranks`] (a transport, not the shuffle that the name
/// means in Hadoop and Spark). A re-export cannot be marked deprecated:
/// this alias is kept one release, hidden, and goes then.
#[doc(hidden)]
pub use Ranks as Exchange;
