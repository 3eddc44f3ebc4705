//! A partial per chunk, folded in chunk order: `map_reduce`, a [`Job`],
//! a records job, a keyed job with a table per chunk.

use super::{Fold, Kind, Ready, Writes, drive};
use crate::error::Result;
use crate::job::Job;
use crate::job::input::{Input, MapWith};
use crate::memory::{Element, SharedArray};
use crate::protocol::{Failure, Func};
use crate::shm::JobMemory;
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::marker::PhantomData;

/// What maps each chunk of input `I` to a partial, in a worker.
pub(crate) trait Mapper<I: Input>: Serialize + DeserializeOwned {
    type Out: Serialize + DeserializeOwned + 'static;
    fn map(&self, chunk: I::Chunk<'_>) -> Self::Out;
}

/// A job whose workers map each chunk of input `I` with `M` and commit
/// each chunk's partial; the coordinator folds them in chunk order.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
#[serde(bound(serialize = "M: Serialize", deserialize = "M: DeserializeOwned"))]
pub(crate) struct PerChunk<M, I> {
    mapper: M,
    #[serde(skip)]
    _input: PhantomData<fn() -> I>,
}

impl<M, I> PerChunk<M, I> {
    pub(crate) fn new(mapper: M) -> Self {
        PerChunk {
            mapper,
            _input: PhantomData,
        }
    }
}

impl<P, I: Input, T> PerChunk<FnMapper<P, I, T>, I> {
    /// The job that maps each chunk with `mapper`, given `params`.
    pub(crate) fn with(params: P, mapper: MapWith<P, I, T>) -> Self {
        PerChunk::new(FnMapper {
            params,
            mapper: I::map_func(mapper),
        })
    }
}

impl<M: Mapper<I> + 'static, I: Input> Kind for PerChunk<M, I> {
    type Partial = M::Out;
    const FOLD: Fold = Fold::ChunkOrder;
    const RETRYABLE: bool = true;

    fn run(&self, memory: &mut JobMemory<'_>) -> Result<(), Failure> {
        let input = I::prepare(memory)?;
        drive(memory, |claim| self.mapper.map(I::chunk(&input, claim)))
    }
}

/// A [`Job`] seen as a mapper: its value is its parameters.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct JobMapper<J>(pub(crate) J);

impl<A: Element, D: Dimension + 'static, J: Job<A, D>> Mapper<SharedArray<A, D>> for JobMapper<J> {
    type Out = J::Partial;
    fn map(&self, chunk: ArrayView<'_, A, D>) -> J::Partial {
        self.0.map(chunk)
    }
}

impl<'a, A: Element, D: Dimension + 'static, J: Job<A, D>>
    Ready<'a, PerChunk<JobMapper<J>, SharedArray<A, D>>>
{
    /// The per-chunk job that runs `job`, once it has validated itself.
    pub(crate) fn job(job: &J) -> Result<Self> {
        job.validate()?;
        // Its borrowed twin, which encodes as the owned job does (`&J` as
        // `J`), so that the caller keeps its job.
        let twin: PerChunk<JobMapper<&J>, SharedArray<A, D>> = PerChunk::new(JobMapper(job));
        Ready::encoded(&twin, Writes::Nothing)
    }
}

/// A mapper given as a function pointer plus parameters.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct FnMapper<P, I: Input, T> {
    params: P,
    mapper: Func<MapWith<P, I, T>>,
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
