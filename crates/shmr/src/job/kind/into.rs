//! Writes the output rows that match each chunk of its input: `map_into`.

use super::{FnWith, Fold, Kind, Ready, Writes, drive};
use crate::error::{Error, Result};
use crate::job::input::{Input, IntoWith};
use crate::memory::{ArrayRef, Element};
use crate::protocol::Failure;
use crate::shm::JobMemory;
use ndarray::Dimension;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A job whose workers read each chunk they claim of input `I` and write
/// the same rows of an output array of `B`/`E`: no lock is taken. A
/// chunk mapped twice writes the same values again, so the chunks of a
/// dead worker are mapped again.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct WriteInto<P, I: Input, B, E>(FnWith<P, IntoWith<P, I, B, E>>);

impl<P, I: Input, B: Element, E: Dimension> WriteInto<P, I, B, E> {
    /// The job that maps an input of shape `from` (its range, or its
    /// first array, chunk by chunk) with `f` into `output`: refused unless
    /// both have the same rows, and if the output is mapped read-only.
    pub(crate) fn new<'a>(
        params: P,
        f: IntoWith<P, I, B, E>,
        from: &[usize],
        output: ArrayRef<'a>,
    ) -> Result<Ready<'a, Self>>
    where
        Self: Kind,
    {
        let to = output.header.shape();
        if from.first() != to.first() {
            return Err(Error::InvalidConfig(format!(
                "map_into writes the output rows that match each input chunk's rows, so \
                 input and output need the same length along axis 0; got shapes {from:?} \
                 and {to:?}"
            )));
        }
        output.check_writable()?;
        let f = I::into_func(f);
        Ready::new(&WriteInto(FnWith { params, f }), Writes::Into(output))
    }
}

impl<P, I, B, E> Kind for WriteInto<P, I, B, E>
where
    P: Serialize + DeserializeOwned + 'static,
    I: Input,
    B: Element,
    E: Dimension + 'static,
{
    type Partial = ();
    const FOLD: Fold = Fold::ChunkOrder;
    const RETRYABLE: bool = true;

    fn run(&self, memory: &mut JobMemory<'_>) -> Result<(), Failure> {
        let FnWith { params, f } = &self.0;
        let input = I::prepare(memory)?;
        let mut output = memory.output::<B, E>()?;
        drive(memory, |claim| {
            I::into_call(f, params, I::chunk(&input, claim), output.chunk_mut(claim))
        })
    }
}
