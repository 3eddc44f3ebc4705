//! Jobs: the [`Job`] trait, what one job did ([`JobReport`]), and mappers
//! as the worker runs them.
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
//! ([`JobBuilder::params`](crate::JobBuilder::params)) or as a [`Job`] value.
//! A capturing closure is a compile error:
//!
//! ```compile_fail,E0308
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
//! let total = shmr::global_pool()?
//!     .on(&data)
//!     .params(scale)
//!     .map_reduce(|s, c| c.sum() * s, |a, b| a + b)?;
//! assert_eq!(total, 6.0);
//! # Ok(()) }
//! ```

mod input;
pub mod keyed;
pub(crate) mod kind;
pub mod mappers;
mod raw;

pub use input::{
    Append, FoldBare, FoldWith, IndexRange, Input, IntoBare, IntoWith, MAX_PARTS, MapBare, MapWith,
    Part, Side,
};
pub(crate) use kind::{
    Fold, HeldMapper, Kind, PerChunk, PerWorker, Ready, WriteInPlace, WriteInto, WriteLocked,
    Writes, install_panic_hook, panic_message,
};
pub use kind::{InPlaceBare, InPlaceWith, LockedBare, LockedWith};

/// The old name of [`LockedWith`].
#[deprecated(since = "0.1.0", note = "renamed LockedWith (shmr::job::mappers)")]
pub type LockedMapFn<P, A, D, B> = LockedWith<P, A, D, B>;
pub use raw::{Raw, RawArray};

use crate::memory::Element;
use ndarray::{ArrayView, Dimension};
use serde::{Serialize, de::DeserializeOwned};

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

/// What one job did: returned beside the job's result when its builder
/// says [`reported`](crate::JobBuilder::reported).
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
/// let ((), report) = pool.on_mut(&mut a).reported().map_in_place(|mut c| c.mapv_inplace(|x| x * x))?;
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
    /// Times the pool's result slots grew during the job because a
    /// partial did not fit (they stay grown for later jobs).
    pub slots_grown: u32,
    /// Time from holding the pool to the last partial decoded.
    pub elapsed: std::time::Duration,
    /// Bytes of the partials that crossed the slots, encoded, in all
    /// rounds (for a `fold`, each worker's accumulator once). A
    /// `map_reduce` whose partials add up to more than the array it read
    /// spends its time moving them: a dense group-by's partial of every
    /// group per chunk, say; make it a [`fold`](crate::JobBuilder::fold),
    /// or give it larger chunks.
    pub partial_bytes: u64,
}
