//! Writes each chunk of its input in place: `map_in_place`.

use super::{FnWith, Fold, Kind, Ready, Writes, drive};
use crate::error::Result;
use crate::memory::{ArrayRef, Element};
use crate::protocol::{Failure, Func, fn_ptr};
use crate::shm::JobMemory;
use ndarray::{ArrayViewMut, Dimension};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A `map_in_place` mapper with parameters: the chunk, to write.
pub type InPlaceWith<P, A, D> = fn(&P, ArrayViewMut<'_, A, D>);
/// A `map_in_place` mapper without parameters.
pub type InPlaceBare<A, D> = fn(ArrayViewMut<'_, A, D>);

fn_ptr! {
    [A, D] fn(ArrayViewMut<'_, A, D>);
    [P, A, D] fn(&P, ArrayViewMut<'_, A, D>);
}

/// A job whose workers write each chunk they claim of its one array, as
/// mutable views that never overlap: no lock is taken. A chunk mapped
/// twice would be written twice, so a worker's death ends the job.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
#[serde(bound(serialize = "P: Serialize", deserialize = "P: DeserializeOwned"))]
pub(crate) struct WriteInPlace<P, A, D>(FnWith<P, InPlaceWith<P, A, D>>);

impl<P, A, D> WriteInPlace<P, A, D> {
    /// The job that writes `array` with `f`: refused if the array is
    /// mapped read-only; with `guard`, the rest of the array is
    /// write-protected in each worker while it maps a chunk.
    pub(crate) fn new<'a>(
        params: P,
        f: InPlaceWith<P, A, D>,
        array: ArrayRef<'a>,
        guard: bool,
    ) -> Result<Ready<'a, Self>>
    where
        Self: Kind,
    {
        array.check_writable()?;
        let f = Func::new(f);
        Ready::new(
            &WriteInPlace(FnWith { params, f }),
            Writes::InPlace { guard },
        )
    }
}

impl<P, A, D> Kind for WriteInPlace<P, A, D>
where
    P: Serialize + DeserializeOwned + 'static,
    A: Element,
    D: Dimension + 'static,
{
    type Partial = ();
    const FOLD: Fold = Fold::ChunkOrder;
    const RETRYABLE: bool = false;

    fn run(&self, memory: &mut JobMemory<'_>) -> Result<(), Failure> {
        let FnWith { params, f } = &self.0;
        let f = f.get();
        let guard = memory.guarded();
        let mut array = memory.in_place::<A, D>()?;
        // No view of the array exists in this worker while its protection
        // changes, and the pages are this worker's own mapping of it.
        if guard {
            array.protect(None, false)?;
        }
        let result = drive(memory, |claim| {
            if guard {
                // A failure here leaves the chunk read-only: the mapper's
                // first write faults, which ends the job with an error, not
                // a wrong answer.
                let _ = array.protect(Some(claim), true);
            }
            f(params, array.chunk_mut(claim));
            if guard {
                let _ = array.protect(Some(claim), false);
            }
        });
        if guard {
            array.protect(None, true)?;
        }
        result
    }
}
