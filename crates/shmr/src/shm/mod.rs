//! The structures workers and the coordinator share in memory: how arrays
//! are cut into chunks, the result slots with their chunk counter, and the
//! striped locks of jobs that write under locks.
//!
//! Built on `memory`; used by both sides of the protocol.

mod lock;
mod partition;
mod slots;

pub(crate) use lock::{Aborted, LockTable, stripe_range, table_bytes};
pub use lock::{DEFAULT_STRIPES, LockedOutput, MAX_STRIPES};
pub(crate) use partition::Selection;
pub use partition::{ChunkSize, DEFAULT_CHUNK_BYTES, Partition};
pub(crate) use slots::{
    CLAIMING, Holding, MAX_SLOT_BYTES, MIN_SLOT_BYTES, STOP_CLAIMS, SlotWriter, Slots,
};
