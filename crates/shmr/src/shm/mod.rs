//! The structures workers and the coordinator share in memory: how arrays
//! are cut into chunks, the result slots with their chunk counter, the
//! striped locks of jobs that write under locks, and a job's memory as a
//! worker sees it (the chunks it claims and the views a claim allows).
//!
//! One of the three layers where unsafe code may live: this is where
//! pointers into shared memory become views, behind types (`Claim`,
//! `WorkerSlot`, `ChunkInput`) that carry the invariants.
//!
//! Built on `memory`; used by both sides of the protocol.

#![allow(unsafe_code)]

mod chunks;
mod lock;
mod partition;
mod slots;

pub(crate) use chunks::{ChunkInput, Claim, JobMemory};
pub(crate) use lock::{Aborted, LockTable, stripe_range, table_bytes};
pub use lock::{DEFAULT_STRIPES, LockedOutput, MAX_STRIPES};
pub(crate) use partition::Selection;
pub use partition::{
    ChunkSize, DEFAULT_CHUNK_BYTES, MIN_AUTO_CHUNK_BYTES, MIN_AUTO_CHUNKS, Partition,
};
pub(crate) use slots::{
    Holding, MAX_SLOT_BYTES, MIN_SLOT_BYTES, REGION_HEADER, Record, Slots, WorkerSlot,
    slot_bytes_for,
};
