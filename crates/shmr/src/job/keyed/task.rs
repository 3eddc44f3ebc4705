//! A keyed or records job as its workers run it: the user's function with
//! its parameters, delimiters, combiner and key limit, and the entry points
//! that map a chunk (or all of a worker's chunks) into a table.

use super::combiner::{Combiner, Key, Value};
use super::records::{Delimiters, Records, records_of};
use super::table::{Emit, Table};
use crate::job::{HeldMapper, Side};
use crate::memory::SharedArray;
use crate::protocol::{Func, fn_ptr};
use ndarray::{ArrayView1, Ix1};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// A records mapper with parameters: a chunk's whole records to a value.
pub type RecordsWith<P, T> = for<'c> fn(&P, Records<'c>) -> T;
/// A records mapper without parameters.
pub type RecordsBare<T> = for<'c> fn(Records<'c>) -> T;

/// A keyed mapper of records, with parameters: emits `(key, value)` pairs.
pub type KeyedWith<P, K, V, C> = for<'c, 'e> fn(&P, Records<'c>, &mut Emit<'e, K, V, C>);
/// A keyed mapper of records, without parameters.
pub type KeyedBare<K, V, C> = for<'c, 'e> fn(Records<'c>, &mut Emit<'e, K, V, C>);

/// A [`fold`](crate::JobBuilder::fold) step over records, with
/// parameters: folds a chunk's whole records into the worker's accumulator.
pub type FoldRecordsWith<P, T> = for<'c> fn(&P, &mut T, Records<'c>);
/// A fold step over records, without parameters.
pub type FoldRecordsBare<T> = for<'c> fn(&mut T, Records<'c>);

fn_ptr! {
    [P, T] for<'c> fn(&P, &mut T, Records<'c>);
    [T] for<'c> fn(&mut T, Records<'c>);
    [P, T] for<'c> fn(&P, Records<'c>) -> T;
    [T] for<'c> fn(Records<'c>) -> T;
    [P, K, V, C] for<'c, 'e> fn(&P, Records<'c>, &mut Emit<'e, K, V, C>);
    [K, V, C] for<'c, 'e> fn(Records<'c>, &mut Emit<'e, K, V, C>);
}

/// What the workers of a records job or a keyed job (over records or an
/// array) get: the user's function and what it needs: its parameters, the
/// delimiters, the combiner and the key limit (`F` a mapper type above).
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize, C: Serialize",
    deserialize = "P: DeserializeOwned, C: DeserializeOwned"
))]
pub(crate) struct UserFn<P, F, C = ()> {
    pub(crate) delimiters: Delimiters,
    pub(crate) params: P,
    pub(crate) f: Func<F>,
    pub(crate) combiner: C,
    pub(crate) max_keys: usize,
    /// The most keys a chunk's table held in this job, in this worker (a
    /// hint for the next chunk's, never a limit); not sent.
    #[serde(skip)]
    pub(crate) chunk_keys: Cell<usize>,
}

impl<P, F, C> UserFn<P, F, C> {
    /// What a keyed mapper emits through into `table`: the job's combiner
    /// and limit.
    pub(super) fn emit_into<'e, K, V>(&'e self, table: &'e mut Table<K, V>) -> Emit<'e, K, V, C> {
        Emit::new(table, &self.combiner, self.max_keys)
    }
}

impl<P, K: Key, V: Value, C: Combiner<V>> UserFn<P, KeyedWith<P, K, V, C>, C> {
    /// Maps a chunk's records into `table`: a chunk's own, or the one
    /// table of a worker that holds all its chunks.
    fn map_records_into(&self, table: &mut Table<K, V>, (chunk, whole): RecordViews<'_>) {
        let records = records_of(&chunk, &whole, self.delimiters);
        (self.f.get())(&self.params, records, &mut self.emit_into(table));
    }
}

/// The two views a records job's mapper gets: its chunk and the whole.
pub(crate) type RecordViews<'c> = (ArrayView1<'c, u8>, ArrayView1<'c, u8>);

/// A records job's mapper, as the worker calls it.
pub(crate) fn map_records<P, T>(
    job: &UserFn<P, RecordsWith<P, T>>,
    (chunk, whole): RecordViews<'_>,
) -> T {
    (job.f.get())(&job.params, records_of(&chunk, &whole, job.delimiters))
}

/// A keyed records job's mapper: one table per chunk.
pub(crate) fn map_keyed_records<P, K: Key, V: Value, C: Combiner<V>>(
    job: &UserFn<P, KeyedWith<P, K, V, C>, C>,
    views: RecordViews<'_>,
) -> Table<K, V> {
    let mut table = Table::new();
    job.map_records_into(&mut table, views);
    table
}

/// What a records job's workers read: the text chunk by chunk, and whole.
pub(crate) type RecordsInput = (SharedArray<u8, Ix1>, Side<u8, Ix1>);

/// A keyed records job whose combiner is order-free, as its workers run
/// it: one table for all of a worker's chunks.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize, C: Serialize",
    deserialize = "P: DeserializeOwned, C: DeserializeOwned"
))]
#[serde(transparent)]
pub(crate) struct HeldRecords<P, K, V, C>(pub(crate) UserFn<P, KeyedWith<P, K, V, C>, C>);

impl<P, K, V, C> HeldMapper<RecordsInput> for HeldRecords<P, K, V, C>
where
    P: Serialize + DeserializeOwned + 'static,
    K: Key,
    V: Value,
    C: Combiner<V>,
{
    type Acc = Table<K, V>;
    fn start(&self) -> Table<K, V> {
        Table::new()
    }
    fn map_into(&self, table: &mut Table<K, V>, views: RecordViews<'_>) {
        self.0.map_records_into(table, views);
    }
}

/// A fold over records as its workers get it: the user's start and step,
/// their parameters and the delimiters. Run as a fold over the records
/// input's two views ([`fold_records_start`], [`fold_records_step`]).
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct RecordsFold<P, T> {
    pub(crate) delimiters: Delimiters,
    pub(crate) params: P,
    pub(crate) start: Func<fn(&P) -> T>,
    pub(crate) step: Func<FoldRecordsWith<P, T>>,
}

/// A records fold's start, as the worker calls it.
pub(crate) fn fold_records_start<P, T>(job: &RecordsFold<P, T>) -> T {
    (job.start.get())(&job.params)
}

/// A records fold's step, as the worker calls it: the chunk's records.
pub(crate) fn fold_records_step<P, T>(
    job: &RecordsFold<P, T>,
    acc: &mut T,
    (chunk, whole): RecordViews<'_>,
) {
    (job.step.get())(&job.params, acc, records_of(&chunk, &whole, job.delimiters))
}
