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
use super::round::{Plan, Writes};
use crate::error::Encoded;
use crate::error::{Error, Result};
use crate::job::{FnWith, InPlaceFn, IntoFn, JobReport, LockedFn};
use crate::memory::Element;
use crate::memory::SharedArray;
use crate::protocol::{FnPtr, Func};
use crate::shm::LockedOutput;
use crate::worker::{in_place_entry, into_entry, locked_entry};
use ndarray::{ArrayView, ArrayViewMut, Dimension};
use serde::{Serialize, de::DeserializeOwned};

impl JobOptions<'_> {
    /// An in-place job, without parameters.
    pub(crate) fn map_in_place<A, D>(
        self,
        array: &mut SharedArray<A, D>,
        mapper: fn(ArrayViewMut<'_, A, D>),
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
    {
        self.map_in_place_with(array, Func::new(mapper), in_place_plain::<A, D>)
    }

    /// An in-place job whose mapper gets parameters.
    pub(crate) fn map_in_place_with<A, D, P>(
        self,
        array: &mut SharedArray<A, D>,
        params: P,
        mapper: InPlaceFn<P, A, D>,
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        array.check_writable()?;
        let plan = Plan {
            input: array.shared(),
            partition: self.partition(array),
            writes: Writes::InPlace {
                guard: self.settings.guard_writes,
            },
            entry: in_place_entry::<P, A, D>(),
            payload: payload(params, Func::new(mapper))?,
        };
        let (_, report): (Vec<()>, _) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok(report)
    }

    /// An out-of-place job, without parameters.
    pub(crate) fn map_into<A, D, B, E>(
        self,
        input: &SharedArray<A, D>,
        output: &mut SharedArray<B, E>,
        mapper: fn(ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>),
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        B: Element,
        E: Dimension + 'static,
    {
        self.map_into_with(input, output, Func::new(mapper), into_plain::<A, D, B, E>)
    }

    /// An out-of-place job whose mapper gets parameters.
    pub(crate) fn map_into_with<A, D, B, E, P>(
        self,
        input: &SharedArray<A, D>,
        output: &mut SharedArray<B, E>,
        params: P,
        mapper: IntoFn<P, A, D, B, E>,
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        B: Element,
        E: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        let (rows_in, rows_out) = (input.shape().first(), output.shape().first());
        if rows_in != rows_out {
            return Err(Error::InvalidConfig(format!(
                "map_into writes the output rows that match each input chunk's rows, so input \
                 and output need the same length along axis 0; got shapes {:?} and {:?}",
                input.shape(),
                output.shape()
            )));
        }
        output.check_writable()?;
        let plan = Plan {
            input: input.shared(),
            partition: self.partition(input),
            writes: Writes::Into(output.shared()),
            entry: into_entry::<P, A, D, B, E>(),
            payload: payload(params, Func::new(mapper))?,
        };
        let (_, report): (Vec<()>, _) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok(report)
    }

    /// A locked job, without parameters.
    pub(crate) fn map_locked<A, D, B, E>(
        self,
        input: &SharedArray<A, D>,
        output: &mut SharedArray<B, E>,
        mapper: fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>),
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        B: Element,
        E: Dimension + 'static,
    {
        self.map_locked_with(input, output, Func::new(mapper), locked_plain::<A, D, B>)
    }

    /// A locked job whose mapper gets parameters.
    pub(crate) fn map_locked_with<A, D, B, E, P>(
        self,
        input: &SharedArray<A, D>,
        output: &mut SharedArray<B, E>,
        params: P,
        mapper: LockedFn<P, A, D, B>,
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        B: Element,
        E: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        output.check_writable()?;
        let plan = Plan {
            input: input.shared(),
            partition: self.partition(input),
            writes: Writes::Locked {
                output: output.shared(),
                stripes: self.settings.stripes,
            },
            entry: locked_entry::<P, A, D, B>(),
            payload: payload(params, Func::new(mapper))?,
        };
        let (_, report): (Vec<()>, _) = self.pool.execute(plan, self.settings, self.progress)?;
        Ok(report)
    }
}

fn payload<P: Serialize, F: FnPtr>(params: P, f: Func<F>) -> Result<Vec<u8>> {
    postcard::to_allocvec(&FnWith { params, f }).encoded()
}

fn in_place_plain<A: Element, D: Dimension>(
    f: &Func<fn(ArrayViewMut<'_, A, D>)>,
    chunk: ArrayViewMut<'_, A, D>,
) {
    let f = f.get();
    f(chunk)
}

/// A parameterless out-of-place mapper.
type IntoPlainFn<A, D, B, E> = fn(ArrayView<'_, A, D>, ArrayViewMut<'_, B, E>);
/// A parameterless locked mapper.
type LockedPlainFn<A, D, B> = fn(ArrayView<'_, A, D>, &mut LockedOutput<'_, B>);

fn into_plain<A: Element, D: Dimension, B: Element, E: Dimension>(
    f: &Func<IntoPlainFn<A, D, B, E>>,
    input: ArrayView<'_, A, D>,
    output: ArrayViewMut<'_, B, E>,
) {
    let f = f.get();
    f(input, output)
}

fn locked_plain<A: Element, D: Dimension, B: Element>(
    f: &Func<LockedPlainFn<A, D, B>>,
    input: ArrayView<'_, A, D>,
    output: &mut LockedOutput<'_, B>,
) {
    let f = f.get();
    f(input, output)
}
