//! Mappers as the worker runs them: a [`Job`](super::Job), or a function
//! pointer with its parameters, each named by the function's address.

use super::Job;
use super::input::{Input, MapWith};
use crate::memory::{Element, SharedArray};
use crate::protocol::{Func, fn_ptr};
use crate::shm::LockedOutput;
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The worker-side half of a job: something that maps chunks of input `I`.
pub(crate) trait Mapper<I: Input>: Serialize + DeserializeOwned {
    type Out: Serialize + DeserializeOwned + 'static;
    fn map(&self, chunk: I::Chunk<'_>) -> Self::Out;
}

/// The worker-side half of a *held* job: one accumulator for all the
/// chunks a worker maps, committed once, in parts, when none is left. Only
/// for partials whose combining gives the same result in any order and
/// grouping (a keyed job with an order-free combiner), since which chunks
/// a worker gets depends on timing.
pub(crate) trait HeldMapper<I: Input>: Serialize + DeserializeOwned {
    type Acc: Serialize + DeserializeOwned + 'static;
    /// An empty accumulator.
    fn start(&self) -> Self::Acc;
    /// Maps one chunk into `acc`.
    fn map_into(&self, acc: &mut Self::Acc, chunk: I::Chunk<'_>);
    /// `acc` cut into parts of about `bytes` serialized bytes each (at
    /// least one part), which combine to it in any order.
    fn parts(&self, acc: Self::Acc, bytes: usize) -> Vec<Self::Acc>;
}

/// A [`Job`] seen as a mapper.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct JobMapper<J>(pub(crate) J);

impl<A: Element, D: Dimension + 'static, J: Job<A, D>> Mapper<SharedArray<A, D>> for JobMapper<J> {
    type Out = J::Partial;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> J::Partial {
        self.0.map(chunk)
    }
}

/// A mapper given as a function pointer plus parameters.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct FnMapper<P, I: Input, T> {
    params: P,
    mapper: Func<MapWith<P, I, T>>,
}

impl<P, I: Input, T> FnMapper<P, I, T> {
    pub(crate) fn new(params: P, mapper: MapWith<P, I, T>) -> Self {
        FnMapper {
            params,
            mapper: I::map_func(mapper),
        }
    }
}

impl<P, I, T> Mapper<I> for FnMapper<P, I, T>
where
    P: Serialize + DeserializeOwned + 'static,
    I: Input,
    T: Serialize + DeserializeOwned + 'static,
{
    type Out = T;
    fn map(&self, chunk: I::Chunk<'_>) -> T {
        I::map_call(&self.mapper, &self.params, chunk)
    }
}

/// A write job's mapper: parameters and a function of a type the entry
/// point knows.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct FnWith<P, F> {
    pub(crate) params: P,
    pub(crate) f: Func<F>,
}

/// A `map_in_place` mapper with parameters: the chunk, to write.
pub type InPlaceWith<P, A, D> = fn(&P, ArrayViewMut<'_, A, D>);
/// A `map_in_place` mapper without parameters.
pub type InPlaceBare<A, D> = fn(ArrayViewMut<'_, A, D>);

/// A `map_locked` mapper with parameters: the input chunk, and the output
/// written under its stripes' locks.
pub type LockedWith<P, A, D, B> = fn(&P, ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
/// A `map_locked` mapper without parameters.
pub type LockedBare<A, D, B> = fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);

fn_ptr! {
    [A, D, T] fn(ArrayView<'_, A, D>) -> T;
    [P, A, D, T] fn(&P, ArrayView<'_, A, D>) -> T;
    [A, D] fn(ArrayViewMut<'_, A, D>);
    [P, A, D] fn(&P, ArrayViewMut<'_, A, D>);
    [A, D, B, E] fn(ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
    [P, A, D, B, E] fn(&P, ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
    [A, D, B] fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
    [P, A, D, B] fn(&P, ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
}
