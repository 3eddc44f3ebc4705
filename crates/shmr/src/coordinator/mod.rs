//! The coordinator's side: the pool of worker processes, the settings of
//! pools and jobs, and the rounds of a job, from sending the plan to
//! folding the partials.
//!
//! The top layer of the machinery: it starts workers (`worker`), talks to
//! them (`protocol`), reads their slots (`shm`) and hands them arrays
//! (`memory`).

mod across;
mod bare;
mod builder;
mod fold;
mod keyed;
mod options;
mod plan;
mod pool;
mod round;
mod settings;
mod state;

#[cfg(feature = "mpi")]
pub(crate) use across::outcomes;
pub use across::{Deadline, Exchange, Ranks};
pub use builder::{InPlace, JobBuilder, Params, Plain, ReportMode, Reported};
pub use keyed::{ByRecords, KeyedInput};
pub use pool::{DEFAULT_RETRIES, DEFAULT_SLOT_BYTES, MAX_WORKERS, Pool, PoolBuilder, global_pool};
pub use settings::{ProgressFn, StopFn};
