//! `SharedArray`: an n-dimensional array whose bytes live in shared memory.

use super::element::{DType, Element};
use super::segment::{HEADER_BYTES, Header, Segment};
use crate::error::{Error, Result};
use ndarray::{ArrayBase, ArrayView, ArrayViewMut, Data, Dimension, IntoDimension};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::fmt;
use std::marker::PhantomData;

/// An n-dimensional array of `A` held in one shared-memory segment.
///
/// Workers of a [`Pool`](crate::Pool) map the same pages, so a job never
/// copies the array: it is written once, here, and read in place by every
/// worker. The array is always in standard (C, row-major) layout.
///
/// The segment is anonymous: it has no name in `/dev/shm`, so nothing is left
/// behind if the program crashes.
///
/// # Example
/// ```
/// use ndarray::array;
/// let mut a = shmr::SharedArray::<f64, _>::zeros((2, 3))?;
/// a.view_mut()[[1, 2]] = 5.0;
/// assert_eq!(a.view().sum(), 5.0);
///
/// let b = shmr::SharedArray::from_array(&array![[1_i32, 2], [3, 4]])?;
/// assert_eq!(b.shape(), &[2, 2]);
/// assert_eq!(b.view(), array![[1, 2], [3, 4]]);
/// # Ok::<(), shmr::Error>(())
/// ```
pub struct SharedArray<A: Element, D: Dimension> {
    segment: Segment,
    header: Header,
    dim: D,
    /// Whether the mapping behind this array is shared and writable, so
    /// that jobs may write it (false for `.npy` files opened read-only).
    writable: bool,
    /// A name in `/dev/shm` that this array created and unlinks on drop.
    owned_name: Option<String>,
    _elem: PhantomData<A>,
}

impl<A: Element, D: Dimension> SharedArray<A, D> {
    /// A new array of zeros (fresh shared pages are zero, which is `0` for
    /// every element type).
    pub fn zeros<Sh: IntoDimension<Dim = D>>(shape: Sh) -> Result<Self> {
        let dim = shape.into_dimension();
        let header = Header::new(A::DTYPE, dim.slice())?;
        let what = format!("an array of shape {:?} of {}", dim.slice(), A::DTYPE);
        let segment = Segment::create(HEADER_BYTES + header.data_len(), &what)?;
        let bytes = header.encode();
        // SAFETY: the segment was just created by us, is at least
        // HEADER_BYTES long (> bytes.len(), since ndim <= MAX_NDIM), and no
        // other process has its descriptor yet, so nothing else can access it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), segment.ptr(), bytes.len()) };
        Ok(Self::from_parts(segment, header, dim, true))
    }

    /// An array over a mapped segment whose layout `header` describes
    /// (checked to fit the segment by the caller).
    pub(crate) fn from_parts(segment: Segment, header: Header, dim: D, writable: bool) -> Self {
        SharedArray {
            segment,
            header,
            dim,
            writable,
            owned_name: None,
            _elem: PhantomData,
        }
    }

    /// Marks this array as the owner of `name` in `/dev/shm`: dropping it
    /// unlinks the name.
    pub(crate) fn own_name(&mut self, name: String) {
        self.owned_name = Some(name);
    }

    /// Whether jobs may write this array (false for a read-only `.npy`).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The layout: element type, shape, and where the data starts.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// A shared copy of `array` (the one copy into shared memory; after this
    /// the bytes never move). Any layout is accepted; the copy is in
    /// standard layout.
    pub fn from_array<S: Data<Elem = A>>(array: &ArrayBase<S, D>) -> Result<Self> {
        let dim = array.raw_dim();
        let Some(data) = array.as_slice() else {
            let mut shared = Self::zeros(dim)?;
            shared.view_mut().assign(array);
            return Ok(shared);
        };
        // In standard layout: written into the segment's file before it is
        // mapped, which is faster than copying through a new mapping (see
        // `Segment::written`).
        let header = Header::new(A::DTYPE, dim.slice())?;
        let what = format!("an array of shape {:?} of {}", dim.slice(), A::DTYPE);
        let segment = Segment::written(
            HEADER_BYTES + header.data_len(),
            &[
                (0, &header.encode()),
                (header.offset() as u64, A::as_bytes(data)),
            ],
            &what,
        )?;
        Ok(Self::from_parts(segment, header, dim, true))
    }

    /// Attaches to an array that another `SharedArray`, in this or another
    /// process, created: `fd` is its segment's descriptor (from
    /// [`as_fd`](AsFd::as_fd) there, passed by `SCM_RIGHTS` or inherited).
    /// Nothing is copied; both sides see the same pages.
    ///
    /// The segment is checked before use: its size must be sealed (so
    /// nobody can shrink it under this mapping), its header must be valid
    /// and fit the segment, and its element type and number of dimensions
    /// must be `A` and `D`'s. Each failure is an error saying which.
    ///
    /// # Safety
    /// While this array or any view of it lives, no other process may write
    /// the array's elements: views are plain Rust references, which assume
    /// the data does not change under them.
    ///
    /// # Example
    /// ```
    /// use std::os::fd::AsFd;
    /// let a = shmr::SharedArray::from_array(&ndarray::arr1(&[1.5_f64, 2.5]))?;
    /// let fd = a.as_fd().try_clone_to_owned().unwrap();
    /// // SAFETY: nobody writes `a` while `b` lives.
    /// let b = unsafe { shmr::SharedArray::<f64, ndarray::Ix1>::from_fd(fd)? };
    /// assert_eq!(b.view(), a.view());
    /// // The wrong element type is refused.
    /// let fd = a.as_fd().try_clone_to_owned().unwrap();
    /// let err = unsafe { shmr::SharedArray::<f32, ndarray::Ix1>::from_fd(fd) }.unwrap_err();
    /// assert!(matches!(err, shmr::Error::TypeMismatch { .. }));
    /// # Ok::<(), shmr::Error>(())
    /// ```
    pub unsafe fn from_fd(fd: OwnedFd) -> Result<Self> {
        let segment = Segment::attach(fd)?;
        let header = segment.header()?;
        let dim = dim_for::<A, D>(&header)?;
        Ok(Self::from_parts(segment, header, dim, true))
    }

    /// A read-only view of the whole array, without copying.
    pub fn view(&self) -> ArrayView<'_, A, D> {
        // SAFETY: the data starts at the header's offset into a live mapping
        // of at least HEADER_BYTES + len * size_of::<A>() bytes, so it is
        // aligned and in bounds for the standard-layout shape `dim`. The
        // borrow of `self` keeps the mapping alive. Workers only read it
        // (they map it read-only), and `view_mut` needs `&mut self`, so no
        // one writes while this view lives.
        unsafe { ArrayView::from_shape_ptr(self.dim.clone(), self.data_ptr()) }
    }

    /// A mutable view of the whole array, without copying.
    pub fn view_mut(&mut self) -> ArrayViewMut<'_, A, D> {
        // SAFETY: as for `view`; `&mut self` guarantees this is the only view
        // in this process, and jobs (which borrow the array) cannot run while
        // it lives, so no worker reads it either.
        unsafe { ArrayViewMut::from_shape_ptr(self.dim.clone(), self.data_ptr()) }
    }

    /// The shape, axis 0 first.
    pub fn shape(&self) -> &[usize] {
        self.dim.slice()
    }
    /// The dimension value (`Ix1`, `Ix2`, `IxDyn`, ...).
    pub fn raw_dim(&self) -> D {
        self.dim.clone()
    }
    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.dim.ndim()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dim.size()
    }
    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        A::DTYPE
    }

    /// The segment and its layout, as a job sends them to workers.
    pub(crate) fn shared(&self) -> ArrayRef<'_> {
        ArrayRef {
            segment: &self.segment,
            header: &self.header,
            writable: self.writable,
        }
    }

    fn data_ptr(&self) -> *mut A {
        // SAFETY: the header's offset is within the segment (every
        // constructor checks offset + data length against the mapping's
        // length) and aligned for A (`Header::at_offset` checks it; shmr's
        // own segments put the data on a page boundary).
        unsafe { self.segment.ptr().add(self.header.offset()).cast::<A>() }
    }
}

/// The segment's descriptor, to hand the array to another process (see
/// [`SharedArray::from_fd`]).
impl<A: Element, D: Dimension> AsFd for SharedArray<A, D> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.segment.fd()
    }
}

impl<A: Element, D: Dimension> Drop for SharedArray<A, D> {
    fn drop(&mut self) {
        // Workers keep their mappings between jobs; tell them to let go so
        // the memory is freed now, not when the pool ends.
        super::release::released(self.segment.id());
        if let Some(name) = self.owned_name.take() {
            unlink_if_ours(&name, self.segment.fd());
        }
    }
}

/// Unlinks `/dev/shm/NAME` only if that name still leads to the object
/// behind `ours` (same device and inode). The name may have been removed
/// and made again by another program since this array created it (Python's
/// resource tracker unlinks the names it saw, for one); that program's
/// segment is not ours to delete. Nothing to do if the name is gone.
///
/// Between the check and the unlink another program could replace the name
/// once more; no system call unlinks by descriptor, so that window (a few
/// microseconds) stays open.
fn unlink_if_ours(name: &str, ours: BorrowedFd<'_>) {
    let (Ok(mine), Ok(now)) = (
        rustix::fs::fstat(ours),
        rustix::fs::stat(std::path::Path::new("/dev/shm").join(name)),
    ) else {
        return;
    };
    if (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino) {
        let _ = rustix::shm::unlink(name);
    }
}

impl<A: Element, D: Dimension> fmt::Debug for SharedArray<A, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedArray")
            .field("dtype", &A::DTYPE)
            .field("shape", &self.shape())
            .finish_non_exhaustive()
    }
}

/// An array's segment and layout, without its element type.
#[derive(Clone, Copy)]
pub(crate) struct ArrayRef<'a> {
    pub(crate) segment: &'a Segment,
    pub(crate) header: &'a Header,
    /// Whether jobs may write it (false for a read-only `.npy`).
    pub(crate) writable: bool,
}

impl ArrayRef<'_> {
    /// Refuses a job that writes this array if its mapping is read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.writable {
            return Ok(());
        }
        Err(Error::InvalidConfig(
            "this array was opened read-only, so jobs cannot write it; open the file \
             read-write (NpyMode::ReadWrite) or copy it into a new SharedArray"
                .into(),
        ))
    }
}

/// Checks that a header describes an array of `A` with `D`'s dimensionality,
/// and builds the `D` value for it.
pub(crate) fn dim_for<A: Element, D: Dimension>(header: &Header) -> Result<D> {
    if header.dtype() != A::DTYPE {
        return Err(Error::TypeMismatch {
            expected: format!("elements of {}", A::DTYPE),
            found: format!("elements of {}", header.dtype()),
        });
    }
    let shape = header.shape();
    let mut dim = D::zeros(D::NDIM.unwrap_or(shape.len()));
    if dim.ndim() != shape.len() {
        return Err(Error::TypeMismatch {
            expected: format!("{} dimensions", dim.ndim()),
            found: format!("{} dimensions (shape {shape:?})", shape.len()),
        });
    }
    dim.slice_mut().copy_from_slice(shape);
    Ok(dim)
}

impl SharedArray<u8, ndarray::Ix1> {
    /// The bytes of a stream (a pipe, standard input, a socket) read to
    /// its end straight into shared memory: the one copy, from the stream
    /// into the pages the workers map. For text that arrives as a stream
    /// rather than a file (`zcat logs.gz | program`); a file is better
    /// mapped without reading ([`open_raw`](SharedArray::open_raw)).
    ///
    /// The memory is checked to be there block by block as the stream
    /// comes, so a stream larger than the machine's memory ends in
    /// [`Error::OutOfSharedMemory`] rather than with the process killed.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// let text = shmr::SharedArray::read_from(&b"one two three\n"[..])?;
    /// assert_eq!(text.len(), 14);
    /// assert_eq!(text.view()[4], b't');
    /// # Ok(()) }
    /// ```
    pub fn read_from(mut reader: impl std::io::Read) -> Result<Self> {
        let (segment, header) = Segment::from_stream(&mut reader, "the bytes of a stream")?;
        let dim = ndarray::Ix1(header.shape()[0]);
        Ok(Self::from_parts(segment, header, dim, true))
    }
}
