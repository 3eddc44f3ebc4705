//! Keyed jobs over arrays: one array, or several read together chunk by
//! chunk (`.and(&b)`), with side arrays seen whole (`.side(&c)`), as a
//! group-by over keys and values is written.

// The hidden methods of this sealed trait name crate-private types (a
// function address): users can neither call nor implement them.
#![allow(private_interfaces)]

use super::combiner::{Combiner, Key, Value};
use super::table::{Emit, Table};
use super::task::UserFn;
use crate::job::{HeldMapper, Input, Part};
use crate::memory::{Element, SharedArray};
use crate::protocol::{Func, fn_ptr};
use ndarray::{ArrayView, Dimension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A keyed mapper of the chunks of input `I` (one array, or a tuple of
/// arrays read together and side arrays), with parameters: emits
/// `(key, value)` pairs.
pub type KeyedPartsWith<P, I, K, V, C> =
    for<'c, 'e> fn(&P, <I as Input>::Chunk<'c>, &mut Emit<'e, K, V, C>);
/// A keyed mapper of the chunks of input `I`, without parameters.
pub type KeyedPartsBare<I, K, V, C> =
    for<'c, 'e> fn(<I as Input>::Chunk<'c>, &mut Emit<'e, K, V, C>);

/// A keyed mapper of one array's chunks, with parameters
/// ([`KeyedPartsWith`] of that array).
pub type KeyedArrayWith<P, A, D, K, V, C> =
    for<'c, 'e> fn(&P, ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);
/// A keyed mapper of one array's chunks, without parameters.
pub type KeyedArrayBare<A, D, K, V, C> =
    for<'c, 'e> fn(ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);

/// What a keyed job over arrays can read: one array, or a tuple of arrays
/// read together and side arrays (what [`and`](crate::JobBuilder::and)
/// and [`side`](crate::JobBuilder::side) build). Sealed.
pub trait KeyedParts: Input {
    #[doc(hidden)]
    fn keyed_func<P, K, V, C>(
        f: KeyedPartsWith<P, Self, K, V, C>,
    ) -> Func<KeyedPartsWith<P, Self, K, V, C>>;
    #[doc(hidden)]
    fn keyed_call<P, K, V, C>(
        f: &Func<KeyedPartsWith<P, Self, K, V, C>>,
        params: &P,
        chunk: Self::Chunk<'_>,
        out: &mut Emit<'_, K, V, C>,
    );
    #[doc(hidden)]
    fn keyed_bare_func<K, V, C>(
        f: KeyedPartsBare<Self, K, V, C>,
    ) -> Func<KeyedPartsBare<Self, K, V, C>>;
    #[doc(hidden)]
    fn keyed_bare_call<K, V, C>(
        f: &Func<KeyedPartsBare<Self, K, V, C>>,
        chunk: Self::Chunk<'_>,
        out: &mut Emit<'_, K, V, C>,
    );
}

/// The methods of [`KeyedParts`], the same for every input: each body
/// names the concrete function type, for which `fn_ptr!` implements
/// `FnPtr`.
macro_rules! keyed_fns {
    () => {
        fn keyed_func<P, K, V, C>(
            f: KeyedPartsWith<P, Self, K, V, C>,
        ) -> Func<KeyedPartsWith<P, Self, K, V, C>> {
            Func::new(f)
        }
        fn keyed_call<P, K, V, C>(
            f: &Func<KeyedPartsWith<P, Self, K, V, C>>,
            params: &P,
            chunk: Self::Chunk<'_>,
            out: &mut Emit<'_, K, V, C>,
        ) {
            (f.get())(params, chunk, out)
        }
        fn keyed_bare_func<K, V, C>(
            f: KeyedPartsBare<Self, K, V, C>,
        ) -> Func<KeyedPartsBare<Self, K, V, C>> {
            Func::new(f)
        }
        fn keyed_bare_call<K, V, C>(
            f: &Func<KeyedPartsBare<Self, K, V, C>>,
            chunk: Self::Chunk<'_>,
            out: &mut Emit<'_, K, V, C>,
        ) {
            (f.get())(chunk, out)
        }
    };
}

impl<A: Element, D: Dimension + 'static> KeyedParts for SharedArray<A, D> {
    keyed_fns!();
}

fn_ptr! {
    [P, A, D, K, V, C] for<'c, 'e> fn(&P, ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);
    [A, D, K, V, C] for<'c, 'e> fn(ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);
}

macro_rules! tuple_parts {
    ($($x:ident $a:ident $d:ident),+) => {
        impl<$($x: Part),+> KeyedParts for ($($x,)+) {
            keyed_fns!();
        }
        fn_ptr! {
            [P, $($a, $d,)+ K, V, C] for<'c, 'e> fn(&P, ($(ArrayView<'c, $a, $d>,)+), &mut Emit<'e, K, V, C>);
            [$($a, $d,)+ K, V, C] for<'c, 'e> fn(($(ArrayView<'c, $a, $d>,)+), &mut Emit<'e, K, V, C>);
        }
    };
}

tuple_parts!(X0 A0 D0, X1 A1 D1);
tuple_parts!(X0 A0 D0, X1 A1 D1, X2 A2 D2);
tuple_parts!(X0 A0 D0, X1 A1 D1, X2 A2 D2, X3 A3 D3);
tuple_parts!(X0 A0 D0, X1 A1 D1, X2 A2 D2, X3 A3 D3, X4 A4 D4);
tuple_parts!(X0 A0 D0, X1 A1 D1, X2 A2 D2, X3 A3 D3, X4 A4 D4, X5 A5 D5);

/// A keyed job over arrays, as its workers get it.
pub(crate) type KeyedPartsJob<P, I, K, V, C> = UserFn<P, KeyedPartsWith<P, I, K, V, C>, C>;

/// Maps a chunk into `table`: a chunk's own, or the one table of a
/// worker that holds all its chunks.
fn map_chunk_into<P, I: KeyedParts, K: Key, V: Value, C: Combiner<V>>(
    job: &KeyedPartsJob<P, I, K, V, C>,
    table: &mut Table<K, V>,
    chunk: I::Chunk<'_>,
) {
    I::keyed_call(&job.f, &job.params, chunk, &mut job.emit_into(table));
}

/// A keyed job over arrays: one table per chunk.
pub(crate) fn map_keyed_parts<P, I: KeyedParts, K: Key, V: Value, C: Combiner<V>>(
    job: &KeyedPartsJob<P, I, K, V, C>,
    chunk: I::Chunk<'_>,
) -> Table<K, V> {
    let mut table = Table::for_chunk(&job.chunk_keys, job.max_keys);
    map_chunk_into::<P, I, K, V, C>(job, &mut table, chunk);
    table.note_chunk(&job.chunk_keys);
    table
}

/// A keyed job over arrays whose combiner is order-free, as its workers
/// run it: one table for all of a worker's chunks.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize, C: Serialize",
    deserialize = "P: DeserializeOwned, C: DeserializeOwned"
))]
#[serde(transparent)]
pub(crate) struct HeldParts<P, I: Input, K, V, C>(pub(crate) KeyedPartsJob<P, I, K, V, C>);

impl<P, I, K, V, C> HeldMapper<I> for HeldParts<P, I, K, V, C>
where
    P: Serialize + DeserializeOwned + 'static,
    I: KeyedParts,
    K: Key,
    V: Value,
    C: Combiner<V>,
{
    type Acc = Table<K, V>;
    fn start(&self) -> Table<K, V> {
        Table::new()
    }
    fn map_into(&self, table: &mut Table<K, V>, chunk: I::Chunk<'_>) {
        map_chunk_into::<P, I, K, V, C>(&self.0, table, chunk);
    }
}
