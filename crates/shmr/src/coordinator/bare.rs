//! Mappers without parameters, as mappers whose parameter is the mapper.
//!
//! A job's mapper either takes the chunk alone or takes `&params` first
//! ([`JobBuilder::params`]). Only the builder's final methods know the
//! difference: each bare one hands its mapper over as the job's parameters
//! (`JobBuilder::bare_mapper`) and calls its params form with one of the
//! adapters below, which calls the mapper without them. Below the builder
//! every job has parameters.

use crate::job::keyed::{
    Combiner, Emit, FoldRecordsBare, Key, KeyedBare, KeyedParts, KeyedPartsBare, Records,
    RecordsBare, Value,
};
use crate::job::{FoldBare, InPlaceBare, Input, IntoBare, LockedBare, MapBare};
use crate::memory::Element;
use crate::protocol::Func;
use crate::shm::LockedOutput;
use ndarray::{ArrayView, ArrayViewMut, Dimension};

/// A `map_reduce` mapper without parameters.
pub(super) fn map<I: Input, T>(f: &Func<MapBare<I, T>>, chunk: I::Chunk<'_>) -> T {
    I::bare_call(f, chunk)
}

/// A `fold`'s start and step without parameters, as its parameters.
pub(super) type FoldFns<I, T> = (Func<fn() -> T>, Func<FoldBare<I, T>>);

/// A `fold`'s start without parameters (over arrays or records: `S` is
/// its step).
pub(super) fn fold_start<S, T>(f: &(Func<fn() -> T>, S)) -> T {
    (f.0.get())()
}

/// A `fold`'s step without parameters.
pub(super) fn fold_step<I: Input, T>(f: &FoldFns<I, T>, acc: &mut T, chunk: I::Chunk<'_>) {
    I::fold_bare_call(&f.1, acc, chunk)
}

/// A `map_into` mapper without parameters.
pub(super) fn into<I: Input, B: Element, E: Dimension>(
    f: &Func<IntoBare<I, B, E>>,
    input: I::Chunk<'_>,
    output: ArrayViewMut<'_, B, E>,
) {
    I::into_bare_call(f, input, output)
}

/// A `map_in_place` mapper without parameters.
pub(super) fn in_place<A, D: Dimension>(
    f: &Func<InPlaceBare<A, D>>,
    chunk: ArrayViewMut<'_, A, D>,
) {
    (f.get())(chunk)
}

/// A `map_locked` mapper without parameters.
pub(super) fn locked<A, D: Dimension, B>(
    f: &Func<LockedBare<A, D, B>>,
    input: ArrayView<'_, A, D>,
    output: &mut LockedOutput<'_, B>,
) {
    (f.get())(input, output)
}

/// A records `map_reduce` mapper without parameters.
pub(super) fn records<T>(f: &Func<RecordsBare<T>>, r: Records<'_>) -> T {
    (f.get())(r)
}

/// A records `fold`'s start and step without parameters, as its
/// parameters.
pub(super) type FoldRecordsFns<T> = (Func<fn() -> T>, Func<FoldRecordsBare<T>>);

/// A records `fold`'s step without parameters.
pub(super) fn fold_records_step<T>(f: &FoldRecordsFns<T>, acc: &mut T, r: Records<'_>) {
    (f.1.get())(acc, r)
}

/// A keyed mapper of records without parameters.
pub(super) fn keyed_records<K: Key, V: Value, C: Combiner<V>>(
    f: &Func<KeyedBare<K, V, C>>,
    r: Records<'_>,
    out: &mut Emit<'_, K, V, C>,
) {
    (f.get())(r, out)
}

/// A keyed mapper of arrays without parameters.
pub(super) fn keyed_parts<I: KeyedParts, K: Key, V: Value, C: Combiner<V>>(
    f: &Func<KeyedPartsBare<I, K, V, C>>,
    chunk: I::Chunk<'_>,
    out: &mut Emit<'_, K, V, C>,
) {
    I::keyed_bare_call(f, chunk, out)
}
