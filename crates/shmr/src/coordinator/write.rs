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
//! ```compile_fail
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! // error[E0502]: cannot borrow `a` as mutable because it is also borrowed as immutable
//! pool.map_into(&a, &mut a, |input, mut output| output.assign(&input))?;
//! # Ok(()) }
//! ```
//!
//! A view taken before an in-place job cannot be used after it starts,
//! since the workers write under it:
//!
//! ```compile_fail
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let before = a.view();
//! // error[E0502]: cannot borrow `a` as mutable because it is also borrowed as immutable
//! pool.map_in_place(&mut a, |mut c| c.fill(1.0))?;
//! assert_eq!(before[0], 0.0);
//! # Ok(()) }
//! ```
//!
//! A mapper sees only its own chunk, and cannot reach another through a
//! captured view, because it cannot capture at all:
//!
//! ```compile_fail
//! # fn main() -> Result<(), shmr::Error> {
//! let pool = shmr::Pool::new()?;
//! let mut a = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let mut b = shmr::SharedArray::<f64, _>::zeros(10)?;
//! let mut other = b.view_mut();
//! // error: closures can only be coerced to `fn` types if they do not capture any variables
//! pool.map_in_place(&mut a, |mut c| { other[0] = 1.0; c.fill(1.0) })?;
//! # Ok(()) }
//! ```
//!
//! Jobs whose workers must write where they overlap use
//! [`map_locked`](JobOptions::map_locked): the output is reachable only
//! through a [`LockedOutput`], whose methods hold the lock of the region
//! written.

use super::options::JobOptions;
use super::pool::Pool;
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
    /// Number of stripes (locks) the output of a
    /// [`map_locked`](JobOptions::map_locked) job is cut into (default
    /// [`DEFAULT_STRIPES`](crate::DEFAULT_STRIPES)). More stripes, less
    /// waiting between workers that write different places.
    pub fn stripes(mut self, stripes: usize) -> Self {
        self.settings.stripes = stripes;
        self
    }

    /// In-place jobs: let a worker write only the chunk it is mapping.
    /// The operating system then enforces what the API promises: while a
    /// worker maps a chunk, the rest of the array is read-only in that
    /// worker (`mprotect`), so a stray write from `unsafe` code in the
    /// mapper faults (the job ends with [`Error::WriteInterrupted`] naming
    /// the chunk) instead of corrupting another chunk. Protection is per
    /// page: writes into the page a chunk shares with its neighbour are not
    /// caught. Costs two `mprotect` calls per chunk and two per job (see
    /// `docs/design.md` for the measured cost). Off by default.
    pub fn guard_writes(mut self, guard: bool) -> Self {
        self.settings.guard_writes = guard;
        self
    }

    /// [`Pool::map_in_place`] with these settings.
    pub fn map_in_place<A, D>(
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

    /// [`Pool::map_in_place_with`] with these settings.
    pub fn map_in_place_with<A, D, P>(
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

    /// [`Pool::map_into`] with these settings.
    pub fn map_into<A, D, B, E>(
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

    /// [`Pool::map_into_with`] with these settings.
    pub fn map_into_with<A, D, B, E, P>(
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

    /// [`Pool::map_locked`] with these settings.
    pub fn map_locked<A, D, B, E>(
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

    /// [`Pool::map_locked_with`] with these settings.
    pub fn map_locked_with<A, D, B, E, P>(
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

impl Pool {
    /// Runs `mapper` on every chunk of `array` in the workers, each chunk
    /// mutably, in place. Chunks are disjoint, so no lock is taken.
    ///
    /// If a worker dies mid-job the job is not retried (a chunk mapped
    /// twice would be transformed twice): the error,
    /// [`Error::WriteInterrupted`], names the rows that may be partly
    /// written.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let mut a = shmr::SharedArray::from_array(&ndarray::arr2(&[[1.0_f32, 2.0], [3.0, 4.0]]))?;
    /// pool.map_in_place(&mut a, |mut rows| rows.mapv_inplace(|x| x * x))?;
    /// assert_eq!(a.view(), ndarray::arr2(&[[1.0, 4.0], [9.0, 16.0]]));
    /// # Ok(()) }
    /// ```
    pub fn map_in_place<A, D>(
        &self,
        array: &mut SharedArray<A, D>,
        mapper: fn(ArrayViewMut<'_, A, D>),
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
    {
        self.job().map_in_place(array, mapper)
    }

    /// Like [`map_in_place`](Pool::map_in_place), with parameters.
    pub fn map_in_place_with<A, D, P>(
        &self,
        array: &mut SharedArray<A, D>,
        params: P,
        mapper: InPlaceFn<P, A, D>,
    ) -> Result<JobReport>
    where
        A: Element,
        D: Dimension + 'static,
        P: Serialize + DeserializeOwned + 'static,
    {
        self.job().map_in_place_with(array, params, mapper)
    }

    /// Runs `mapper` on every chunk of `input` with the matching rows of
    /// `output` (same length along axis 0; element type and other axes may
    /// differ), which it writes. Chunks are disjoint, so no lock is taken;
    /// the input is mapped read-only. A chunk whose worker died is mapped
    /// again (it overwrites the same output rows from the same input).
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let pool = shmr::Pool::builder().workers(2).build()?;
    /// let input = shmr::SharedArray::from_array(&ndarray::arr1(&[1_i32, -2, 3]))?;
    /// let mut output = shmr::SharedArray::<f64, _>::zeros(3)?;
    /// pool.map_into(&input, &mut output, |i, mut o| o.assign(&i.mapv(|x| f64::from(x).abs())))?;
    /// assert_eq!(output.view(), ndarray::arr1(&[1.0, 2.0, 3.0]));
    /// # Ok(()) }
    /// ```
    pub fn map_into<A, D, B, E>(
        &self,
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
        self.job().map_into(input, output, mapper)
    }

    /// Like [`map_into`](Pool::map_into), with parameters.
    pub fn map_into_with<A, D, B, E, P>(
        &self,
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
        self.job().map_into_with(input, output, params, mapper)
    }

    /// Runs `mapper` on every chunk of `input`; it may write anywhere in
    /// `output`, through a [`LockedOutput`] that locks the stripe of each
    /// element it touches. For scatter-adds, shared histograms, stencils:
    /// writes that overlap between workers.
    ///
    /// If a worker dies holding a lock, the workers waiting for it give up,
    /// and the job fails with [`Error::WriteInterrupted`] naming the stripe
    /// (its elements may be partly updated); it is not retried.
    ///
    /// See [`LockedOutput`] for an example, and `docs/locks.md` for when
    /// locks pay and when per-worker partials do better.
    pub fn map_locked<A, D, B, E>(
        &self,
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
        self.job().map_locked(input, output, mapper)
    }

    /// Like [`map_locked`](Pool::map_locked), with parameters.
    pub fn map_locked_with<A, D, B, E, P>(
        &self,
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
        self.job().map_locked_with(input, output, params, mapper)
    }
}

fn payload<P: Serialize, F: FnPtr>(params: P, f: Func<F>) -> Result<Vec<u8>> {
    postcard::to_allocvec(&FnWith { params, f }).encoded()
}

fn in_place_plain<A: Element, D: Dimension>(
    f: &Func<fn(ArrayViewMut<'_, A, D>)>,
    chunk: ArrayViewMut<'_, A, D>,
) {
    // SAFETY: decoded from the job's message, which the coordinator of
    // this same executable encoded.
    let f = unsafe { f.get() };
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
    // SAFETY: as in `in_place_plain`.
    let f = unsafe { f.get() };
    f(input, output)
}

fn locked_plain<A: Element, D: Dimension, B: Element>(
    f: &Func<LockedPlainFn<A, D, B>>,
    input: ArrayView<'_, A, D>,
    output: &mut LockedOutput<'_, B>,
) {
    // SAFETY: as in `in_place_plain`.
    let f = unsafe { f.get() };
    f(input, output)
}
