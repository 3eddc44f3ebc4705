//! Multi-process MapReduce over numeric arrays held in shared memory.
//!
//! The array's bytes never move: a [`SharedArray`] lives in one shared-memory
//! segment; a [`Pool`] of worker processes maps the same pages, each worker
//! claims chunks (ranges of rows along axis 0) through a counter in shared
//! memory, maps them straight out of the segment, and writes its partial
//! results into its own result slot, also in shared memory. The coordinator
//! reduces the partials in chunk order once every worker has reported done,
//! so results are the same bit for bit from run to run and for any number of
//! workers. Only small control messages cross a socket.
//!
//! Workers are processes rather than threads, so a crashing mapper cannot
//! take the program down and mappers may call native code that is not
//! thread-safe.
//!
//! ```
//! fn main() -> Result<(), shmr::Error> {
//!     shmr::init(); // first line of main: worker processes are diverted here
//!     let data = shmr::SharedArray::from_array(&ndarray::Array1::<f64>::linspace(0., 1., 1_000_001))?;
//!     let total: f64 = shmr::map_reduce(&data, |chunk| chunk.sum(), |a, b| a + b)?;
//!     assert!((total - 500_000.5).abs() < 1e-6);
//!     let hist = shmr::run(&data, &shmr::builtin::Histogram::new(64, 0.0..1.0))?;
//!     assert_eq!(hist.total(), 1_000_001);
//!     Ok(())
//! }
//! ```
//!
//! See `docs/design.md` in the repository for the data flow and the reasons
//! behind each decision.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unreachable_pub)]
// Unsafe code is allowed only in the three bottom layers (memory, shm,
// protocol), each saying so at its top (see docs/design.md, "Unsafe code").
#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("shmr needs Linux (memfd, /proc/self/exe, SCM_RIGHTS)");

// The layers, each importing only those listed before it (checked by
// `tests/layers.rs`); see docs/design.md, "Crate layout".
pub mod builtin;
mod coordinator;
#[cfg(feature = "mpi")]
pub mod distributed;
mod error;
pub mod job;
mod memory;
mod protocol;
mod shm;
mod worker;

pub use coordinator::{
    ByRecords, DEFAULT_RETRIES, DEFAULT_SLOT_BYTES, Deadline, Exchange, InPlace, JobBuilder,
    KeyedInput, MAX_WORKERS, Params, Plain, Pool, PoolBuilder, ProgressFn, Ranks, ReportMode,
    Reported, StopFn, global_pool,
};
pub use error::{Error, Result};
#[allow(deprecated)]
pub use job::kind::chunk_rows;
pub use job::kind::current_rows;
pub use job::{Input, Job, JobReport, Raw, RawArray, Side, keyed};
pub use memory::{DType, Element, Header, NpyMode, SharedArray, npy_header};
pub use shm::{
    ChunkSize, DEFAULT_CHUNK_BYTES, DEFAULT_STRIPES, LockedOutput, MAX_STRIPES,
    MIN_AUTO_CHUNK_BYTES, MIN_AUTO_CHUNKS, Partition,
};
pub use worker::init;

/// The old name of [`builtin`], one letter from [`job`] (the traits jobs
/// are made of), which it was misread for.
#[deprecated(since = "0.1.0", note = "renamed shmr::builtin")]
#[doc(hidden)]
pub mod jobs {
    pub use crate::builtin::*;
}

use ndarray::{ArrayView, Dimension};
use serde::{Serialize, de::DeserializeOwned};

/// Maps every chunk of `array` with `mapper` in worker processes and folds
/// the partials with `reducer`, in chunk order, on the global pool.
///
/// `mapper` must capture nothing (see [`job`] for why); to give it
/// parameters, or to set options, describe the job with [`Pool::on`]:
/// `shmr::global_pool()?.on(&a).params(p).map_reduce(mapper, reducer)`.
/// `reducer` runs in this process.
///
/// # Example
/// ```
/// fn main() -> Result<(), shmr::Error> {
///     shmr::init();
///     let data = shmr::SharedArray::from_array(&ndarray::arr1(&[3_u32, 1, 4, 1, 5]))?;
///     let max = shmr::map_reduce(&data, |c| c.iter().copied().max(), |a, b| a.max(b))?;
///     assert_eq!(max, Some(5));
///     Ok(())
/// }
/// ```
pub fn map_reduce<A, D, T>(
    array: &SharedArray<A, D>,
    mapper: fn(ArrayView<'_, A, D>) -> T,
    reducer: impl FnMut(T, T) -> T,
) -> Result<T>
where
    A: Element,
    D: Dimension + 'static,
    T: Serialize + DeserializeOwned + 'static,
{
    global_pool()?.on(array).map_reduce(mapper, reducer)
}

/// Runs a [`Job`] on the global pool.
///
/// # Example
/// ```
/// fn main() -> Result<(), shmr::Error> {
///     shmr::init();
///     let data = shmr::SharedArray::from_array(&ndarray::arr2(&[[1_i16, 2], [3, 4]]))?;
///     assert_eq!(shmr::run(&data, &shmr::builtin::Sum)?, 10);
///     Ok(())
/// }
/// ```
pub fn run<A, D, J>(array: &SharedArray<A, D>, job: &J) -> Result<J::Partial>
where
    A: Element,
    D: Dimension + 'static,
    J: Job<A, D>,
{
    global_pool()?.on(array).run(job)
}

/// Defines the entry point that worker processes use in a test binary.
///
/// Integration tests and benches run under libtest, which owns `main`, so
/// [`init`] cannot be its first line. Write this once at the top level of
/// each test file that starts pools:
///
/// ```ignore
/// shmr::test_worker!();
/// ```
///
/// It defines an ignored test named `shmr_worker_entry`; a pool started from
/// the test binary runs the binary again with arguments that select just that
/// test, which calls [`init`]. In normal test runs it shows as ignored.
#[macro_export]
macro_rules! test_worker {
    () => {
        #[test]
        #[ignore = "entry point of shmr worker processes, not a test"]
        fn shmr_worker_entry() {
            $crate::init();
        }
    };
}

#[cfg(test)]
test_worker!();

/// Cases per fuzz property: 2000 in a normal test run; set `PROPTEST_CASES`
/// to fuzz longer (`PROPTEST_CASES=1000000 cargo test -p shmr --lib fuzz`).
#[cfg(test)]
fn fuzz_config() -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    proptest::test_runner::Config::with_cases(cases)
}
