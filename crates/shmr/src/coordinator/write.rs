//! Jobs that write: in place, out of place, and under striped locks.
//!
//! # How the API keeps views from aliasing
//!
//! A job that writes an array takes it by `&mut`, for the whole job. While
//! the job runs, the coordinator can hold no other view of that array (the
//! borrow checker refuses), and each worker gets a mutable view of exactly
//! the chunk it claimed: chunks do not overlap and each is claimed by one
//! worker. So no two live views alias mutably, in any process.
//!
//! An array cannot be both the input and the output of `map_into`, which
//! would let a worker read rows another is writing:
//!
//! ```compile_fail,E0502
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! // error[E0502]: cannot borrow `a` as mutable because it is also borrowed as immutable
//! pool.on(&a).map_into(&mut a, |input, mut output| output.assign(&input))?;
//! # Ok(()) }
//! ```
//!
//! A view taken before an in-place job cannot be used after it starts,
//! since the workers write under it:
//!
//! ```compile_fail,E0502
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let before = a.view();
//! // error[E0502]: cannot borrow `a` as mutable because it is also borrowed as immutable
//! pool.on_mut(&mut a).map_in_place(|mut c| c.fill(1.0))?;
//! assert_eq!(before[0], 0.0);
//! # Ok(()) }
//! ```
//!
//! A mapper sees only its own chunk, and cannot reach another through a
//! captured view, because it cannot capture at all:
//!
//! ```compile_fail,E0308
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let mut b = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let mut other = b.view_mut();
//! // error[E0308]: closures can only be coerced to `fn` types if they do not capture any variables
//! pool.on_mut(&mut a).map_in_place(|mut c| { other[0] = 1.0; c.fill(1.0) })?;
//! # Ok(()) }
//! ```
//!
//! Jobs whose workers must write where they overlap use
//! [`map_locked`](crate::JobBuilder::map_locked): the output is reachable only
//! through a [`LockedOutput`], whose methods hold the lock of the region
//! written.

use super::options::JobOptions;
use super::plan::InputPart;
use super::plan::{Plan, Writes};
use crate::error::Encoded;
use crate::error::{Error, Result};
use crate::job::{FnWith, InPlaceWith, Input, IntoWith, JobReport, LockedWith};
use crate::memory::{ArrayRef, Element, SharedArray};
use crate::protocol::Func;
use crate::shm::Partition;
use crate::worker::{in_place_entry, into_entry, locked_entry};
use ndarray::Dimension;
use serde::{Serialize, de::DeserializeOwned};

impl JobOptions<'_> {
    /// An in-place job.
    pub(crate) fn map_in_place<A, D, P>(
        self,
        array: InputPart<'_>,
        params: P,
        mapper: InPlaceWith<P, A, D>,
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        let parts = [array];
        self.write(&parts, |partition| {
            array.array.check_writable()?;
            let writes = Writes::InPlace {
                guard: self.settings.guard_writes,
            };
            let payload = payload(params, Func::new(mapper))?;
            Ok(Plan::new(
                partition,
                &parts,
                writes,
                in_place_entry::<P, A, D>(),
                payload,
            ))
        })
    }

    /// An out-of-place job whose mapper gets parameters.
    pub(crate) fn map_into<I, B, E, P>(
        self,
        parts: &[InputPart<'_>],
        output: &mut SharedArray<B, E>,
        params: P,
        mapper: IntoWith<P, I, B, E>,
    ) -> Result<JobReport>
    where
        I: Input,
        B: Element,
        E: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        self.write(parts, |partition| {
            let input = parts[0].array.header.shape();
            if input.first() != output.shape().first() {
                return Err(Error::InvalidConfig(format!(
                    "map_into writes the output rows that match each input chunk's rows, so \
                     input and output need the same length along axis 0; got shapes {:?} and {:?}",
                    input,
                    output.shape()
                )));
            }
            output.check_writable()?;
            let payload = payload(params, I::into_func(mapper))?;
            let writes = Writes::Into(output.shared());
            Ok(Plan::new(
                partition,
                parts,
                writes,
                into_entry::<P, I, B, E>(),
                payload,
            ))
        })
    }

    /// A locked job whose mapper gets parameters.
    pub(crate) fn map_locked<A, D, B, E, P>(
        self,
        input: ArrayRef<'_>,
        output: &mut SharedArray<B, E>,
        params: P,
        mapper: LockedWith<P, A, D, B>,
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        B: Element,
        E: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        let parts = [InputPart {
            array: input,
            side: false,
        }];
        self.write(&parts, |partition| {
            output.check_writable()?;
            let writes = Writes::Locked {
                output: output.shared(),
                stripes: self.settings.stripes,
            };
            let payload = payload(params, Func::new(mapper))?;
            Ok(Plan::new(
                partition,
                &parts,
                writes,
                locked_entry::<P, A, D, B>(),
                payload,
            ))
        })
    }

    /// Runs a job that writes: no partials to fold, its outcome agreed
    /// with the other ranks of a job across them.
    fn write<'a>(
        self,
        parts: &[InputPart<'a>],
        plan: impl FnOnce(Partition) -> Result<Plan<'a>>,
    ) -> Result<JobReport> {
        let ((), report) = self.run(parts, plan, &mut |(), ()| ())?;
        Ok(report)
    }
}

fn payload<P: Serialize, F>(params: P, f: Func<F>) -> Result<Vec<u8>> {
    postcard::to_allocvec(&FnWith { params, f }).encoded()
}
