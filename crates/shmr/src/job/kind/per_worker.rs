//! One accumulator per worker, folded in any order: a keyed job whose
//! combiner is order-free, with a table per worker.

use super::{Fold, Kind};
use crate::error::Encoded;
use crate::job::input::Input;
use crate::protocol::Failure;
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
        let mut acc = self.mapper.start();
        let mut chunks = Vec::new();
        while let Some(claim) = memory.claim_held(chunks.first().copied()) {
            super::mapped(&claim, || {
                self.mapper.map_into(&mut acc, I::chunk(&input, &claim))
            })?;
            chunks.push(claim.chunk());
        }
        if chunks.is_empty() {
            return Ok(());
        }
        // Encoded once, then committed a quarter of the ring a piece: the
        // coordinator takes each piece as soon as it is written, so the
        // ring never has to hold the whole accumulator, of any size.
        let bytes = postcard::to_allocvec(&acc).encoded()?;
        drop(acc);
        memory.commit_held(&chunks, &bytes, memory.ring_bytes() / 4)?;
        Ok(())
    }
}
