//! One accumulator per worker, merged in any order: `fold`, and a keyed
//! job whose combiner is order-free, with a table per worker.

use super::{Fold, Kind};
use crate::error::Encoded;
use crate::job::input::{FoldWith, Input};
use crate::protocol::{Failure, Func};
use crate::shm::JobMemory;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::marker::PhantomData;

/// What folds every chunk a worker maps into one accumulator, committed
/// once, in parts, when none is left. Only for accumulators whose
/// combining gives the same result in any order and grouping (a keyed
/// job with an order-free combiner), since which chunks a worker gets
/// depends on timing.
pub(crate) trait HeldMapper<I: Input>: Serialize + DeserializeOwned {
    type Acc: Serialize + DeserializeOwned + 'static;
    /// An empty accumulator.
    fn start(&self) -> Self::Acc;
    /// Maps one chunk into `acc`.
    fn map_into(&self, acc: &mut Self::Acc, chunk: I::Chunk<'_>);
}

/// A job whose workers each fold all the chunks they map with `H` into
/// one accumulator; the coordinator folds the workers' accumulators in
/// the order they finish. A worker that dies loses its accumulator, so
/// all its chunks are mapped again.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
#[serde(bound(serialize = "H: Serialize", deserialize = "H: DeserializeOwned"))]
pub(crate) struct PerWorker<H, I> {
    mapper: H,
    #[serde(skip)]
    _input: PhantomData<fn() -> I>,
}

impl<H, I> PerWorker<H, I> {
    pub(crate) fn new(mapper: H) -> Self {
        PerWorker {
            mapper,
            _input: PhantomData,
        }
    }
}

impl<H: HeldMapper<I> + 'static, I: Input> Kind for PerWorker<H, I> {
    type Partial = H::Acc;
    const FOLD: Fold = Fold::AnyOrder;
    const RETRYABLE: bool = true;

    fn run(&self, memory: &mut JobMemory<'_>) -> Result<(), Failure> {
        let input = I::prepare(memory)?;
        let mut acc = None;
        let mut chunks = Vec::new();
        while let Some(claim) = memory.claim_held(chunks.first().copied()) {
            super::mapped(&claim, || {
                // Started with the first chunk, so that a start that panics
                // is reported as the mapper's panic, naming the chunk.
                let acc = acc.get_or_insert_with(|| self.mapper.start());
                self.mapper.map_into(acc, I::chunk(&input, &claim))
            })?;
            chunks.push(claim.chunk());
        }
        let Some(acc) = acc else {
            return Ok(());
        };
        // Encoded once, then committed a quarter of the ring a piece: the
        // coordinator takes each piece as soon as it is written, so the
        // ring never has to hold the whole accumulator, of any size.
        let bytes = postcard::to_allocvec(&acc).encoded()?;
        drop(acc);
        memory.commit_held(&chunks, &bytes, memory.ring_bytes() / 4)?;
        Ok(())
    }
}

/// A fold given as functions: the accumulator's start and the step that
/// folds one chunk into it, with the job's parameters.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct FoldFn<P, I: Input, T> {
    params: P,
    start: Func<fn(&P) -> T>,
    step: Func<FoldWith<P, I, T>>,
}

impl<P, I: Input, T> PerWorker<FoldFn<P, I, T>, I> {
    /// The job whose workers each start an accumulator with `start` and
    /// fold every chunk they map into it with `step`.
    pub(crate) fn fold(params: P, start: fn(&P) -> T, step: FoldWith<P, I, T>) -> Self {
        PerWorker::new(FoldFn {
            params,
            start: Func::new(start),
            step: I::fold_func(step),
        })
    }
}

impl<P, I, T> HeldMapper<I> for FoldFn<P, I, T>
where
    P: Serialize + DeserializeOwned + 'static,
    I: Input,
    T: Serialize + DeserializeOwned + 'static,
{
    type Acc = T;
    fn start(&self) -> T {
        (self.start.get())(&self.params)
    }
    fn map_into(&self, acc: &mut T, chunk: I::Chunk<'_>) {
        I::fold_call(&self.step, &self.params, acc, chunk)
    }
}
