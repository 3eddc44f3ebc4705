//! Keyed MapReduce over records: a byte array cut only between records,
//! mappers that emit `(key, value)` pairs into a table that combines every
//! emit at once, and the merged result sorted by key.
//!
//! # Why it is built this way
//!
//! * **Records.** A chunk of a text is a range of bytes, and a range cut
//!   at a fixed size splits a word or a line in two. Each chunk is therefore
//!   moved to whole records: it holds the records that *start* inside its
//!   nominal range, from the first record start at or after its start to
//!   the first at or after its end. A worker finds both ends itself by
//!   scanning forward from the nominal positions to the next delimiter, so
//!   nothing reads the whole input first, the chunks still never overlap,
//!   and a record longer than a chunk simply makes some chunks empty.
//! * **A table per chunk, combined at every emit.** Intermediate data never
//!   grows beyond the distinct keys of a chunk (Phoenix++'s lesson), and
//!   the worker's table goes into its result slot in shared memory as one
//!   flat record of pairs.
//! * **One table per worker when the combiner is order-free**
//!   ([`Combiner::order_free`]: integer sums, minima, maxima). A worker
//!   maps all its chunks into one table and writes it once no chunk is
//!   left, in parts that fit its ring; which chunks it got does not matter
//!   to the result. A worker that dies before its last part loses all its
//!   chunks to the next round.
//! * **Otherwise one table per chunk, merged in chunk order.** The
//!   coordinator merges the chunk tables as they arrive, in chunk order:
//!   for each key the values are combined in the order of the records in
//!   the input, whatever the number of workers. So any combiner, even one
//!   that is not commutative or a floating-point sum, gives the same bits
//!   for 1, 2 or 3 workers. Chunk tables cost one insertion per distinct
//!   key per chunk, in the worker and again in the coordinator; records
//!   jobs therefore take larger chunks by default ([`record_chunk_bytes`]).
//! * **Bounded.** A job's tables hold at most
//!   [`max_keys`](crate::JobBuilder::max_keys) distinct keys; a job whose
//!   keys outgrow that ends with [`Error::KeyLimit`](crate::Error::KeyLimit),
//!   naming the setting, never with the machine out of memory.

mod accumulator;
mod combiner;
mod parts;
mod records;
mod result;
mod table;
mod task;

pub use accumulator::{DenseTable, KeyedTable};
pub use combiner::{Combiner, Count, Key, Max, Mean, Min, SmallBytes, Sum, Tables, Value};
pub(crate) use parts::{HeldParts, map_keyed_parts};
pub use parts::{KeyedArrayBare, KeyedArrayWith, KeyedParts, KeyedPartsBare, KeyedPartsWith};
pub use records::{
    Delimiters, MAX_RECORD_CHUNK_BYTES, RECORD_CHUNK_BYTES, RECORD_CHUNKS, RecordIter, Records,
    record_chunk_bytes,
};
pub use result::{Keyed, Shard};
pub use table::{DEFAULT_MAX_KEYS, Emit};
pub(crate) use table::{Table, finish, merge};
pub use task::{FoldRecordsBare, FoldRecordsWith, KeyedBare, KeyedWith, RecordsBare, RecordsWith};
pub(crate) use task::{
    HeldRecords, RecordViews, RecordsFold, RecordsInput, UserFn, fold_records_start,
    fold_records_step, map_keyed_records, map_records,
};

/// The old name of [`RecordsWith`].
#[deprecated(since = "0.1.0", note = "renamed RecordsWith (shmr::job::mappers)")]
pub type RecordFn<P, T> = RecordsWith<P, T>;
/// The old name of [`RecordsBare`].
#[deprecated(since = "0.1.0", note = "renamed RecordsBare (shmr::job::mappers)")]
pub type RecordBare<T> = RecordsBare<T>;
/// The old name of [`KeyedWith`].
#[deprecated(since = "0.1.0", note = "renamed KeyedWith (shmr::job::mappers)")]
pub type KeyedFn<P, K, V, C> = KeyedWith<P, K, V, C>;
/// The old name of [`KeyedArrayWith`].
#[deprecated(since = "0.1.0", note = "renamed KeyedArrayWith (shmr::job::mappers)")]
pub type KeyedArrayFn<P, A, D, K, V, C> = KeyedArrayWith<P, A, D, K, V, C>;
