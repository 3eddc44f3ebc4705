//! What a job maps: one array, or several read together chunk by chunk
//! (`.and(&b)`), and side arrays that every mapper sees whole
//! (`.side(&c)`), as types, so that the mapper's arguments are checked at
//! compile time.
//!
//! The traits here are sealed: their hidden methods are how a worker turns
//! a job's memory into the mapper's views, and how a mapper of the shape
//! the input calls for travels as a typed function address.

// The hidden methods of these sealed traits name crate-private types (a
// job's memory, a claim, a function address): users can neither call nor
// implement them.
#![allow(private_interfaces)]

use crate::error::Result;
use crate::memory::{Element, SharedArray};
use crate::protocol::{Func, fn_ptr};
use crate::shm::{ChunkInput, Claim, JobMemory};
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use std::marker::PhantomData;
use std::ops::Range;

/// A side array in a job's input: every mapper sees it whole, read-only
/// ([`JobBuilder::side`](crate::JobBuilder::side)). A type only; its
/// values are never made.
pub struct Side<A, D>(PhantomData<(A, D)>);

/// The input of a job over the indices `0..n` rather than an array
/// ([`Pool::range`](crate::Pool::range)): each chunk is a range of indices,
/// which the mapper gets as its first argument. A type only.
pub struct IndexRange(PhantomData<()>);

/// One array of a job's input: mapped chunk by chunk (a [`SharedArray`]
/// type) or seen whole (a [`Side`]).
pub trait Part: sealed::Sealed + 'static {
    /// Its element type.
    type Elem: Element;
    /// Its dimension.
    type Dim: Dimension + 'static;
    #[doc(hidden)]
    type Prepared<'m>;
    #[doc(hidden)]
    fn prepare<'m>(memory: &JobMemory<'m>, index: usize) -> Result<Self::Prepared<'m>>;
    #[doc(hidden)]
    fn view<'c>(
        prepared: &'c Self::Prepared<'_>,
        claim: &'c Claim,
    ) -> ArrayView<'c, Self::Elem, Self::Dim>;
}

impl<A: Element, D: Dimension + 'static> Part for SharedArray<A, D> {
    type Elem = A;
    type Dim = D;
    type Prepared<'m> = ChunkInput<'m, A, D>;
    fn prepare<'m>(memory: &JobMemory<'m>, index: usize) -> Result<ChunkInput<'m, A, D>> {
        memory.input(index)
    }
    fn view<'c>(prepared: &'c ChunkInput<'_, A, D>, claim: &'c Claim) -> ArrayView<'c, A, D> {
        prepared.chunk(claim)
    }
}

impl<A: Element, D: Dimension + 'static> Part for Side<A, D> {
    type Elem = A;
    type Dim = D;
    type Prepared<'m> = ArrayView<'m, A, D>;
    fn prepare<'m>(memory: &JobMemory<'m>, index: usize) -> Result<ArrayView<'m, A, D>> {
        memory.side(index)
    }
    fn view<'c>(prepared: &'c ArrayView<'_, A, D>, _: &'c Claim) -> ArrayView<'c, A, D> {
        prepared.view()
    }
}

/// A `map_reduce` mapper with parameters for input `I`: `fn(&P, chunk) -> T`.
pub type MapWith<P, I, T> = for<'c> fn(&P, <I as Input>::Chunk<'c>) -> T;
/// A `map_reduce` mapper without parameters for input `I`: `fn(chunk) -> T`.
pub type MapBare<I, T> = for<'c> fn(<I as Input>::Chunk<'c>) -> T;

/// A `map_into` mapper with parameters for input `I`, writing the rows of
/// an output of `B`/`E` that match its chunk.
pub type IntoWith<P, I, B, E> = for<'c, 'o> fn(&P, <I as Input>::Chunk<'c>, ArrayViewMut<'o, B, E>);
/// A `map_into` mapper without parameters.
pub type IntoBare<I, B, E> = for<'c, 'o> fn(<I as Input>::Chunk<'c>, ArrayViewMut<'o, B, E>);

/// A [`fold`](crate::JobBuilder::fold) step with parameters for input
/// `I`: folds one chunk into the worker's accumulator.
pub type FoldWith<P, I, T> = for<'c> fn(&P, &mut T, <I as Input>::Chunk<'c>);
/// A [`fold`](crate::JobBuilder::fold) step without parameters.
pub type FoldBare<I, T> = for<'c> fn(&mut T, <I as Input>::Chunk<'c>);

/// What a job reads: one array (a [`SharedArray`] type), or a tuple of
/// [`Part`]s that [`and`](crate::JobBuilder::and) and
/// [`side`](crate::JobBuilder::side) build. `Chunk` is what the mapper
/// gets for one chunk: for one array, its view of the chunk's rows; for a
/// tuple, a tuple of views in the order the parts were given (the chunk's
/// rows of each array, each side array whole).
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let x = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(0..1000_i64))?;
/// let y = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1000, 2_i64))?;
/// let w = shmr::SharedArray::from_array(&ndarray::arr1(&[10_i64]))?;
/// // The sum of x * y * w[0], reading x and y chunk by chunk and w whole.
/// let dot: i64 = pool
///     .on(&x)
///     .and(&y)
///     .side(&w)
///     .map_reduce(|(x, y, w)| x.dot(&y) * w[0], |a, b| a + b)?;
/// assert_eq!(dot, 999 * 1000 * 10);
/// # Ok(()) }
/// ```
pub trait Input: sealed::Sealed + 'static {
    /// What the mapper gets for one chunk.
    type Chunk<'c>;
    #[doc(hidden)]
    type Prepared<'m>;
    #[doc(hidden)]
    fn prepare<'m>(memory: &JobMemory<'m>) -> Result<Self::Prepared<'m>>;
    #[doc(hidden)]
    fn chunk<'c>(prepared: &'c Self::Prepared<'_>, claim: &'c Claim) -> Self::Chunk<'c>;
    #[doc(hidden)]
    fn map_func<P, T>(f: MapWith<P, Self, T>) -> Func<MapWith<P, Self, T>>;
    #[doc(hidden)]
    fn map_call<P, T>(f: &Func<MapWith<P, Self, T>>, params: &P, chunk: Self::Chunk<'_>) -> T;
    #[doc(hidden)]
    fn bare_func<T>(f: MapBare<Self, T>) -> Func<MapBare<Self, T>>;
    #[doc(hidden)]
    fn bare_call<T>(f: &Func<MapBare<Self, T>>, chunk: Self::Chunk<'_>) -> T;
    #[doc(hidden)]
    fn into_func<P, B: Element, E: Dimension>(
        f: IntoWith<P, Self, B, E>,
    ) -> Func<IntoWith<P, Self, B, E>>;
    #[doc(hidden)]
    fn into_call<P, B: Element, E: Dimension>(
        f: &Func<IntoWith<P, Self, B, E>>,
        params: &P,
        chunk: Self::Chunk<'_>,
        out: ArrayViewMut<'_, B, E>,
    );
    #[doc(hidden)]
    fn into_bare_func<B: Element, E: Dimension>(
        f: IntoBare<Self, B, E>,
    ) -> Func<IntoBare<Self, B, E>>;
    #[doc(hidden)]
    fn into_bare_call<B: Element, E: Dimension>(
        f: &Func<IntoBare<Self, B, E>>,
        chunk: Self::Chunk<'_>,
        out: ArrayViewMut<'_, B, E>,
    );
    #[doc(hidden)]
    fn fold_func<P, T>(f: FoldWith<P, Self, T>) -> Func<FoldWith<P, Self, T>>;
    #[doc(hidden)]
    fn fold_call<P, T>(
        f: &Func<FoldWith<P, Self, T>>,
        params: &P,
        acc: &mut T,
        chunk: Self::Chunk<'_>,
    );
    #[doc(hidden)]
    fn fold_bare_func<T>(f: FoldBare<Self, T>) -> Func<FoldBare<Self, T>>;
    #[doc(hidden)]
    fn fold_bare_call<T>(f: &Func<FoldBare<Self, T>>, acc: &mut T, chunk: Self::Chunk<'_>);
}

/// The function-address methods of [`Input`], the same for every input:
/// each body names the concrete function type, for which `fn_ptr!` below
/// implements `FnPtr`.
macro_rules! input_fns {
    () => {
        fn map_func<P, T>(f: MapWith<P, Self, T>) -> Func<MapWith<P, Self, T>> {
            Func::new(f)
        }
        fn map_call<P, T>(f: &Func<MapWith<P, Self, T>>, params: &P, chunk: Self::Chunk<'_>) -> T {
            (f.get())(params, chunk)
        }
        fn bare_func<T>(f: MapBare<Self, T>) -> Func<MapBare<Self, T>> {
            Func::new(f)
        }
        fn bare_call<T>(f: &Func<MapBare<Self, T>>, chunk: Self::Chunk<'_>) -> T {
            (f.get())(chunk)
        }
        fn into_func<P, B: Element, E: Dimension>(
            f: IntoWith<P, Self, B, E>,
        ) -> Func<IntoWith<P, Self, B, E>> {
            Func::new(f)
        }
        fn into_call<P, B: Element, E: Dimension>(
            f: &Func<IntoWith<P, Self, B, E>>,
            params: &P,
            chunk: Self::Chunk<'_>,
            out: ArrayViewMut<'_, B, E>,
        ) {
            (f.get())(params, chunk, out)
        }
        fn into_bare_func<B: Element, E: Dimension>(
            f: IntoBare<Self, B, E>,
        ) -> Func<IntoBare<Self, B, E>> {
            Func::new(f)
        }
        fn into_bare_call<B: Element, E: Dimension>(
            f: &Func<IntoBare<Self, B, E>>,
            chunk: Self::Chunk<'_>,
            out: ArrayViewMut<'_, B, E>,
        ) {
            (f.get())(chunk, out)
        }
        fn fold_func<P, T>(f: FoldWith<P, Self, T>) -> Func<FoldWith<P, Self, T>> {
            Func::new(f)
        }
        fn fold_call<P, T>(
            f: &Func<FoldWith<P, Self, T>>,
            params: &P,
            acc: &mut T,
            chunk: Self::Chunk<'_>,
        ) {
            (f.get())(params, acc, chunk)
        }
        fn fold_bare_func<T>(f: FoldBare<Self, T>) -> Func<FoldBare<Self, T>> {
            Func::new(f)
        }
        fn fold_bare_call<T>(f: &Func<FoldBare<Self, T>>, acc: &mut T, chunk: Self::Chunk<'_>) {
            (f.get())(acc, chunk)
        }
    };
}

impl<A: Element, D: Dimension + 'static> Input for SharedArray<A, D> {
    type Chunk<'c> = ArrayView<'c, A, D>;
    type Prepared<'m> = ChunkInput<'m, A, D>;
    fn prepare<'m>(memory: &JobMemory<'m>) -> Result<ChunkInput<'m, A, D>> {
        memory.input(0)
    }
    fn chunk<'c>(prepared: &'c ChunkInput<'_, A, D>, claim: &'c Claim) -> ArrayView<'c, A, D> {
        prepared.chunk(claim)
    }
    input_fns!();
}

fn_ptr! {
    [A, D, T] fn(ArrayView<'_, A, D>) -> T;
    [P, A, D, T] fn(&P, ArrayView<'_, A, D>) -> T;
    [A, D, B, E] fn(ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
    [P, A, D, B, E] fn(&P, ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
    [P, A, D, T] fn(&P, &mut T, ArrayView<'_, A, D>);
    [A, D, T] fn(&mut T, ArrayView<'_, A, D>);
}

/// `Input` for tuples of parts, and the function pointer types their
/// mappers have.
macro_rules! tuple_input {
    ($($x:ident $a:ident $d:ident $i:tt),+) => {
        impl<$($x: Part),+> Input for ($($x,)+) {
            type Chunk<'c> = ($(ArrayView<'c, $x::Elem, $x::Dim>,)+);
            type Prepared<'m> = ($($x::Prepared<'m>,)+);
            fn prepare<'m>(memory: &JobMemory<'m>) -> Result<Self::Prepared<'m>> {
                Ok(($($x::prepare(memory, $i)?,)+))
            }
            fn chunk<'c>(prepared: &'c Self::Prepared<'_>, claim: &'c Claim) -> Self::Chunk<'c> {
                ($($x::view(&prepared.$i, claim),)+)
            }
            input_fns!();
        }
        fn_ptr! {
            [P, $($a, $d,)+ T] for<'c> fn(&P, ($(ArrayView<'c, $a, $d>,)+)) -> T;
            [$($a, $d,)+ T] for<'c> fn(($(ArrayView<'c, $a, $d>,)+)) -> T;
            [P, $($a, $d,)+ B, E] for<'c, 'o> fn(&P, ($(ArrayView<'c, $a, $d>,)+), ArrayViewMut<'o, B, E>);
            [$($a, $d,)+ B, E] for<'c, 'o> fn(($(ArrayView<'c, $a, $d>,)+), ArrayViewMut<'o, B, E>);
            [P, $($a, $d,)+ T] for<'c> fn(&P, &mut T, ($(ArrayView<'c, $a, $d>,)+));
            [$($a, $d,)+ T] for<'c> fn(&mut T, ($(ArrayView<'c, $a, $d>,)+));
        }
    };
}

tuple_input!(X0 A0 D0 0, X1 A1 D1 1);
tuple_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2);
tuple_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2, X3 A3 D3 3);
tuple_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2, X3 A3 D3 3, X4 A4 D4 4);
tuple_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2, X3 A3 D3 3, X4 A4 D4 4, X5 A5 D5 5);

/// The rows of a claimed chunk as indices. A chunk's rows index an array
/// in this process's memory, or come from a range of `usize` length.
fn indices(claim: &Claim) -> Range<usize> {
    let rows = claim.rows();
    rows.start as usize..rows.end as usize
}

impl Input for IndexRange {
    type Chunk<'c> = Range<usize>;
    type Prepared<'m> = ();
    fn prepare(_: &JobMemory<'_>) -> Result<()> {
        Ok(())
    }
    fn chunk<'c>(_: &'c (), claim: &'c Claim) -> Range<usize> {
        indices(claim)
    }
    input_fns!();
}

fn_ptr! {
    [T] fn(Range<usize>) -> T;
    [P, T] fn(&P, Range<usize>) -> T;
    [B, E] fn(Range<usize>, ArrayViewMut<'_, B, E>);
    [P, B, E] fn(&P, Range<usize>, ArrayViewMut<'_, B, E>);
    [P, T] fn(&P, &mut T, Range<usize>);
    [T] fn(&mut T, Range<usize>);
}

/// `Input` for an index range followed by parts: the job's memory holds
/// the parts alone, so part `i` of the tuple is the memory's `i - 1`.
macro_rules! range_input {
    ($($x:ident $a:ident $d:ident $m:tt),+) => {
        impl<$($x: Part),+> Input for (IndexRange, $($x,)+) {
            type Chunk<'c> = (Range<usize>, $(ArrayView<'c, $x::Elem, $x::Dim>,)+);
            type Prepared<'m> = ($($x::Prepared<'m>,)+);
            fn prepare<'m>(memory: &JobMemory<'m>) -> Result<Self::Prepared<'m>> {
                Ok(($($x::prepare(memory, $m)?,)+))
            }
            fn chunk<'c>(prepared: &'c Self::Prepared<'_>, claim: &'c Claim) -> Self::Chunk<'c> {
                (indices(claim), $($x::view(&prepared.$m, claim),)+)
            }
            input_fns!();
        }
        fn_ptr! {
            [P, $($a, $d,)+ T] for<'c> fn(&P, (Range<usize>, $(ArrayView<'c, $a, $d>,)+)) -> T;
            [$($a, $d,)+ T] for<'c> fn((Range<usize>, $(ArrayView<'c, $a, $d>,)+)) -> T;
            [P, $($a, $d,)+ B, E] for<'c, 'o> fn(&P, (Range<usize>, $(ArrayView<'c, $a, $d>,)+), ArrayViewMut<'o, B, E>);
            [$($a, $d,)+ B, E] for<'c, 'o> fn((Range<usize>, $(ArrayView<'c, $a, $d>,)+), ArrayViewMut<'o, B, E>);
            [P, $($a, $d,)+ T] for<'c> fn(&P, &mut T, (Range<usize>, $(ArrayView<'c, $a, $d>,)+));
            [$($a, $d,)+ T] for<'c> fn(&mut T, (Range<usize>, $(ArrayView<'c, $a, $d>,)+));
        }
    };
}

range_input!(X0 A0 D0 0);
range_input!(X0 A0 D0 0, X1 A1 D1 1);
range_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2);
range_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2, X3 A3 D3 3);
range_input!(X0 A0 D0 0, X1 A1 D1 1, X2 A2 D2 2, X3 A3 D3 3, X4 A4 D4 4);

/// The most parts a job's input has: arrays read chunk by chunk and side
/// arrays, the index range of [`Pool::range`](crate::Pool::range)
/// counted as one.
pub const MAX_PARTS: usize = 6;

/// An input that one more part can join: [`JobBuilder::and`] and
/// [`JobBuilder::side`] append to a job's input, up to [`MAX_PARTS`]
/// parts.
///
/// [`JobBuilder::and`]: crate::JobBuilder::and
/// [`JobBuilder::side`]: crate::JobBuilder::side
pub trait Append<X: Part>: Input {
    /// The input with `X` after the parts it has.
    type Out: Input;
}

impl<A: Element, D: Dimension + 'static, X: Part> Append<X> for SharedArray<A, D> {
    type Out = (SharedArray<A, D>, X);
}
impl<X: Part> Append<X> for IndexRange {
    type Out = (IndexRange, X);
}

/// `Append` for tuples of parts, and for an index range followed by
/// parts, that have room for one more.
macro_rules! append {
    (parts $($x:ident),+) => {
        impl<$($x: Part,)+ X: Part> Append<X> for ($($x,)+) {
            type Out = ($($x,)+ X);
        }
    };
    (range $($x:ident),+) => {
        impl<$($x: Part,)+ X: Part> Append<X> for (IndexRange, $($x,)+) {
            type Out = (IndexRange, $($x,)+ X);
        }
    };
}

append!(parts X0, X1);
append!(parts X0, X1, X2);
append!(parts X0, X1, X2, X3);
append!(parts X0, X1, X2, X3, X4);
append!(range X0);
append!(range X0, X1);
append!(range X0, X1, X2);
append!(range X0, X1, X2, X3);

mod sealed {
    pub trait Sealed {}
    impl<A: crate::Element, D: ndarray::Dimension> Sealed for crate::SharedArray<A, D> {}
    impl<A, D> Sealed for super::Side<A, D> {}
    impl Sealed for super::IndexRange {}
    impl<X0, X1> Sealed for (X0, X1) {}
    impl<X0, X1, X2> Sealed for (X0, X1, X2) {}
    impl<X0, X1, X2, X3> Sealed for (X0, X1, X2, X3) {}
    impl<X0, X1, X2, X3, X4> Sealed for (X0, X1, X2, X3, X4) {}
    impl<X0, X1, X2, X3, X4, X5> Sealed for (X0, X1, X2, X3, X4, X5) {}
}
