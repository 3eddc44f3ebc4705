//! Writes anywhere in an output, under striped locks: `map_locked`.

use super::{FnWith, Fold, Kind, Ready, Writes, drive};
use crate::error::Result;
use crate::memory::{ArrayRef, Element};
use crate::protocol::{Failure, Func, fn_ptr};
use crate::shm::{JobMemory, LockedOutput};
use ndarray::{ArrayView, Dimension};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A `map_locked` mapper with parameters: the input chunk, and the output
/// written under its stripes' locks.
pub type LockedWith<P, A, D, B> = fn(&P, ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
/// A `map_locked` mapper without parameters.
pub type LockedBare<A, D, B> = fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);

fn_ptr! {
    [A, D, B] fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
    [P, A, D, B] fn(&P, ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);
}

/// A job whose workers read each chunk they claim of one array and write
/// anywhere in an output of `B`, each element under its stripe's lock.
/// Writes may add up, so a chunk mapped twice could count twice: a
/// worker's death ends the job, naming the stripe it held.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct WriteLocked<P, A, D, B>(FnWith<P, LockedWith<P, A, D, B>>);

impl<P, A, D, B> WriteLocked<P, A, D, B> {
    /// The job that writes `output` with `f` under `stripes` locks:
    /// refused if the output is mapped read-only.
    pub(crate) fn new<'a>(
        params: P,
        f: LockedWith<P, A, D, B>,
        output: ArrayRef<'a>,
        stripes: usize,
    ) -> Result<Ready<'a, Self>>
    where
        Self: Kind,
    {
        output.check_writable()?;
        let f = Func::new(f);
        let writes = Writes::Locked { output, stripes };
        Ready::new(&WriteLocked(FnWith { params, f }), writes)
    }
}

impl<P, A, D, B> Kind for WriteLocked<P, A, D, B>
where
    P: Serialize + DeserializeOwned + 'static,
    A: Element,
    D: Dimension + 'static,
    B: Element,
{
    type Partial = ();
    const FOLD: Fold = Fold::ChunkOrder;
    const RETRYABLE: bool = false;

    fn run(&self, memory: &mut JobMemory<'_>) -> Result<(), Failure> {
        let FnWith { params, f } = &self.0;
        let f = f.get();
        let input = memory.input::<A, D>(0)?;
        let mut out = memory.locked::<B>()?;
        drive(memory, |claim| f(params, input.chunk(claim), &mut out))
    }
}
