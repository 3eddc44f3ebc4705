//! Arrays that live outside shmr: `.npy` files, memory-mapped (larger than
//! RAM is fine: workers read through the page cache), and named segments in
//! `/dev/shm` that other programs, numpy among them, attach to by name.
//!
//! A named segment is laid out as an `.npy` file image: the `.npy` header,
//! then the data. So Python needs nothing but numpy to use one:
//! `numpy.load("/dev/shm/NAME", mmap_mode="r+")`, or
//! `multiprocessing.shared_memory.SharedMemory(name=NAME)` with
//! `numpy.ndarray(shape, dtype, buffer=shm.buf, offset=OFFSET)`.
//! The `.npy` header is read and written with `ndarray-npy`.

use crate::error::{Error, Result};
use crate::memory::{DType, Element};
use crate::memory::{Header, Segment, check_memory};
use crate::memory::{SharedArray, dim_for};
use ndarray::{Dimension, IntoDimension, IxDyn};
use ndarray_npy::npy::header::{Header as NpyHeader, Layout as NpyLayout};
use rustix::fs::{FallocateFlags, Mode};
use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};

/// How [`SharedArray::open_npy`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyMode {
    /// Jobs read the file; in-place jobs are refused. Writes through
    /// [`SharedArray::view_mut`] stay private to this process
    /// (copy-on-write) and never reach the file or the workers.
    ReadOnly,
    /// Jobs may write the file in place (`map_in_place`, or as the output
    /// of `map_into`/`map_locked`); so does `view_mut`.
    ReadWrite,
}

/// The `.npy` type descriptor of each element type (little-endian; one-byte
/// types have no byte order).
fn descriptor(dtype: DType) -> &'static str {
    match dtype {
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    }
}

fn npy_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Npy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads and checks the `.npy` header at the start of `file`: the layout of
/// the array in the file, and whether its element type is one shmr maps.
pub(crate) fn read_header(file: &File, path: &Path) -> Result<Header> {
    let len = file
        .metadata()
        .map_err(Error::io("reading the size of an .npy file"))?
        .len();
    let mut at_start = file;
    at_start
        .rewind()
        .map_err(Error::io("reading an .npy header"))?;
    let mut reader = BufReader::new(at_start);
    let npy = NpyHeader::from_reader(&mut reader).map_err(|e| {
        let why = match e {
            _ if len == 0 => "the file is empty".to_string(),
            ndarray_npy::npy::header::ReadHeaderError::Io(io)
                if io.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                format!("its header is cut short: the file has only {len} bytes")
            }
            e => e.to_string(),
        };
        npy_error(
            path,
            format!("not a readable .npy file ({why}); write it with numpy.save or shmr gen"),
        )
    })?;
    let offset = reader
        .stream_position()
        .map_err(Error::io("reading an .npy header"))?;
    if npy.layout == NpyLayout::Fortran {
        return Err(npy_error(
            path,
            "the array is in Fortran (column-major) order; shmr cuts arrays into rows and needs C order: \
             save it from numpy with numpy.save(path, numpy.ascontiguousarray(a))",
        ));
    }
    // The descriptor is a Python literal such as '<f8'.
    let descr = npy.type_descriptor.to_string();
    let descr = descr.trim_matches('\'');
    let dtype = DType::ALL
        .into_iter()
        .find(|&d| descriptor(d) == descr || descriptor(d).replace('|', "<") == descr)
        .ok_or_else(|| {
            if descr.starts_with('>') {
                npy_error(
                    path,
                    format!(
                        "the array is big-endian ({descr}); convert it with a.astype(a.dtype.newbyteorder('<')) and save again"
                    ),
                )
            } else {
                let supported: Vec<&str> = DType::ALL.iter().map(|&d| descriptor(d)).collect();
                npy_error(
                    path,
                    format!(
                        "element type {descr} is not supported; shmr maps {}",
                        supported.join(", ")
                    ),
                )
            }
        })?;
    let header = Header::new(dtype, &npy.shape)
        .map_err(|e| npy_error(path, e.to_string()))?
        .at_offset(offset)
        .map_err(|e| npy_error(path, e.to_string()))?;
    if header.segment_len() > len {
        return Err(npy_error(
            path,
            format!(
                "the file is truncated: its header describes {} bytes of data after {offset} bytes of header, but the file has {len} bytes",
                header.data_len()
            ),
        ));
    }
    Ok(header)
}

/// Writes an `.npy` header for an array of `A` with `shape` into `file`
/// and extends the file with zeros (sparse) to hold the data.
fn write_zeroed<A: Element>(file: &File, shape: &[usize]) -> Result<()> {
    let shape = IxDyn(shape);
    let written =
        crate::with_dtype!(A::DTYPE, T => ndarray_npy::write_zeroed_npy::<T, _>(file, shape));
    written.map_err(|e| Error::Io {
        context: "writing an .npy header",
        source: std::io::Error::other(e.to_string()),
    })
}

/// Reserves the data's blocks now, so that a full disk or `/dev/shm` is an
/// error here and not a `SIGBUS` when a page is first written.
///
/// With `fallocate`, or, on a filesystem without it, by writing the zeros
/// (slower: every byte is written once, but a full disk is still an error
/// here). A sparse file is never left behind: its first write past the
/// free space would be a `SIGBUS` in whichever process touched it.
fn reserve(file: &File, header: &Header, what: &str) -> Result<()> {
    let (offset, len) = (header.offset() as u64, header.data_len() as u64);
    if len == 0 {
        return Ok(());
    }
    let reserved = match rustix::fs::fallocate(file, FallocateFlags::empty(), offset, len) {
        Err(rustix::io::Errno::OPNOTSUPP) => write_zeros(file, offset, len),
        other => other.map_err(std::io::Error::from),
    };
    reserved.map_err(|e| Error::OutOfSharedMemory {
        what: what.to_string(),
        requested: len,
        available: free_space(file),
        source: e,
    })
}

/// Writes `len` zero bytes at `offset`: reserves the blocks of a filesystem
/// that has no `fallocate`.
pub(crate) fn write_zeros(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let zeros = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], offset + done)?;
        done += n as u64;
    }
    // Written is not yet allocated on every filesystem (delayed allocation):
    // syncing makes a full disk fail here.
    file.sync_data()
}

/// `path` opened for reading, and for writing too if `mode` says so, if
/// it is a regular file (or a link to one); anything else is
/// [`Error::File`] saying what it is, at once.
///
/// A named pipe would block `open` until some process opened its other
/// end, and a directory or a device cannot be mapped as an array: so the
/// kind is looked at before opening, and the file is opened without
/// blocking and looked at again, in case it was replaced in between.
pub(crate) fn open_regular(path: &Path, mode: NpyMode) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let bad = |reason: String| Error::File {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
    not_regular(&meta.file_type()).map_or(Ok(()), |e| Err(bad(e)))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(mode == NpyMode::ReadWrite)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| bad(format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| bad(format!("cannot read its size: {e}")))?;
    not_regular(&meta.file_type()).map_or(Ok(file), |e| Err(bad(e)))
}

/// What is wrong with mapping a file of this kind, unless it is a regular
/// file.
fn not_regular(kind: &std::fs::FileType) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Some(format!(
        "is {what}, which cannot be mapped as an array: give the path of a regular file \
         (a stream is read into shared memory with SharedArray::read_from)"
    ))
}

impl SharedArray<u8, ndarray::Ix1> {
    /// A whole file's bytes as an array, in one call: mapped without
    /// reading it, its length the file's (a text for a records job). A
    /// regular file that says it is empty is read instead, since some have
    /// bytes all the same (`/proc` files); anything else that is not a
    /// regular file (a FIFO, a directory, a device) is
    /// [`Error::File`] naming it: stream those with
    /// [`read_from`](SharedArray::read_from).
    ///
    /// # Safety
    /// As for [`open_raw`](SharedArray::open_raw): while the array lives,
    /// no other process may truncate the file or, while views or jobs read
    /// it, write it.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use shmr::keyed::{Delimiters, Sum};
    /// let path = std::env::temp_dir().join(format!("shmr-bytes-{}.txt", std::process::id()));
    /// std::fs::write(&path, b"to be or not to be\n").unwrap();
    /// // SAFETY: nothing else touches the file meanwhile.
    /// let text = unsafe { shmr::SharedArray::open_bytes(&path, shmr::NpyMode::ReadOnly)? };
    /// let words = shmr::global_pool()?
    ///     .on(&text)
    ///     .records(Delimiters::WHITESPACE)
    ///     .keyed(Sum, |w, out| w.iter().for_each(|w| out.emit(w, 1_u32)))?;
    /// assert_eq!(words.get(&b"be"[..]), Some(&2));
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok(()) }
    /// ```
    pub unsafe fn open_bytes(path: impl AsRef<Path>, mode: NpyMode) -> Result<Self> {
        let path = path.as_ref();
        let file = open_regular(path, mode)?;
        let len = file
            .metadata()
            .map_err(|e| Error::File {
                path: path.to_path_buf(),
                reason: format!("cannot read its size: {e}"),
            })?
            .len();
        if len == 0 {
            return SharedArray::read_from(file).map_err(|e| match e {
                Error::Io { context, source } => Error::File {
                    path: path.to_path_buf(),
                    reason: format!("{context}: {source}"),
                },
                other => other,
            });
        }
        let len = usize::try_from(len).map_err(|_| Error::File {
            path: path.to_path_buf(),
            reason: "is larger than the address space; map a region of it (open_raw)".into(),
        })?;
        // SAFETY: the caller's promise, as for open_raw.
        unsafe { SharedArray::open_raw(path, 0, len, mode) }
    }
}

/// Free bytes on the filesystem holding `file`.
fn free_space(file: &File) -> u64 {
    rustix::fs::fstatvfs(file).map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Checks a name for `/dev/shm`: one path component, as `shm_open` wants.
fn shm_name(name: &str) -> Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.contains('/') || bare == "." || bare == ".." || bare.len() > 255 {
        return Err(Error::InvalidConfig(format!(
            "{name:?} is not a valid shared-memory name: use one word without slashes, such as \"my_array\""
        )));
    }
    Ok(bare)
}

impl<A: Element, D: Dimension> SharedArray<A, D> {
    /// Opens an `.npy` file as a shared array, without reading it: the file
    /// is memory-mapped, here and in every worker, so a job over a file
    /// larger than memory streams it through the page cache.
    ///
    /// The file must hold a C-order array of a supported element type in
    /// native (little-endian) byte order, with `D`'s number of dimensions;
    /// anything else is an error saying what to change.
    ///
    /// # Safety
    /// While the array lives, no other process may truncate the file (reading
    /// a page past its new end would crash this process with `SIGBUS`) or,
    /// while views or jobs read it, write its elements.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// let path = std::env::temp_dir().join(format!("shmr-doc-{}.npy", std::process::id()));
    /// let mut a = shmr::SharedArray::<f64, ndarray::Ix1>::create_npy(&path, 1000)?;
    /// a.view_mut().fill(0.5);
    /// drop(a);
    /// // SAFETY: nothing else touches the file meanwhile.
    /// let b = unsafe { shmr::SharedArray::<f64, ndarray::Ix1>::open_npy(&path, shmr::NpyMode::ReadOnly)? };
    /// assert_eq!(shmr::run(&b, &shmr::builtin::Sum)?, 500.0);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok(()) }
    /// ```
    pub unsafe fn open_npy(path: impl AsRef<Path>, mode: NpyMode) -> Result<Self> {
        let path = path.as_ref();
        let file = open_regular(path, mode)?;
        let header = read_header(&file, path)?;
        let dim = dim_for::<A, D>(&header)?;
        Self::from_file(file, header, dim, mode, path)
    }

    /// Maps a region of a raw binary file as an array, without reading
    /// it, as `numpy.memmap(path, dtype, mode, offset, shape)` does: `shape`
    /// elements of `A` in C order and native (little-endian) byte order,
    /// starting `offset` bytes into the file (past an image's header, say).
    /// The file is mapped here and in every worker; nothing is copied.
    ///
    /// Checked now: the offset is a multiple of the element size, and the
    /// file holds the whole region; checked before every job, as for
    /// `.npy` files: the file has not shrunk since.
    ///
    /// # Safety
    /// As for [`open_npy`](SharedArray::open_npy): while the array lives,
    /// no other process may truncate the file or, while views or jobs read
    /// it, write the region.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// // A 16-byte header, then 3 x 4 little-endian u16 pixels.
    /// let path = std::env::temp_dir().join(format!("shmr-raw-{}.bin", std::process::id()));
    /// let mut bytes = vec![0xAB_u8; 16];
    /// bytes.extend((0..12_u16).flat_map(|v| v.to_le_bytes()));
    /// std::fs::write(&path, &bytes).unwrap();
    /// // SAFETY: nothing else touches the file meanwhile.
    /// let px = unsafe {
    ///     shmr::SharedArray::<u16, ndarray::Ix2>::open_raw(&path, 16, (3, 4), shmr::NpyMode::ReadOnly)?
    /// };
    /// assert_eq!(px.view()[[2, 3]], 11);
    /// assert_eq!(shmr::run(&px, &shmr::builtin::Sum)?, 66);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok(()) }
    /// ```
    pub unsafe fn open_raw<Sh: IntoDimension<Dim = D>>(
        path: impl AsRef<Path>,
        offset: u64,
        shape: Sh,
        mode: NpyMode,
    ) -> Result<Self> {
        let path = path.as_ref();
        let bad = |reason: String| Error::File {
            path: path.to_path_buf(),
            reason,
        };
        let dim = shape.into_dimension();
        let size = A::DTYPE.size() as u64;
        if !offset.is_multiple_of(size) {
            return Err(bad(format!(
                "offset {offset} is not a multiple of the {size}-byte size of {}: elements must \
                 be aligned; copy the region into a new SharedArray (SharedArray::from_array) instead",
                A::DTYPE
            )));
        }
        let header = Header::new(A::DTYPE, dim.slice())?
            .at_offset(offset)
            .map_err(|_| {
                bad(format!(
                    "offset {offset} and {:?} elements of {} reach past the largest address \
                     (2^63 bytes): check the offset and the shape",
                    dim.slice(),
                    A::DTYPE
                ))
            })?;
        let file = open_regular(path, mode)?;
        let len = file
            .metadata()
            .map_err(|e| bad(format!("cannot read its size: {e}")))?
            .len();
        if len < header.segment_len() {
            return Err(bad(format!(
                "the file holds {len} bytes, but {:?} elements of {} at offset {offset} need {}: \
                 check the offset, the shape and the element type",
                dim.slice(),
                A::DTYPE,
                header.segment_len()
            )));
        }
        Self::from_file(file, header, dim, mode, path)
    }

    /// The array `header` describes in `file`, mapped as `mode` says.
    fn from_file(file: File, header: Header, dim: D, mode: NpyMode, path: &Path) -> Result<Self> {
        let writable = mode == NpyMode::ReadWrite;
        let segment = Segment::map_file(file, writable, path)?;
        Ok(Self::from_parts(segment, header, dim, writable))
    }

    /// Creates a new `.npy` file of zeros with `shape` (refusing to replace
    /// an existing file) and opens it read-write. Its disk blocks are
    /// reserved now, so a full disk is an error here.
    pub fn create_npy<Sh: IntoDimension<Dim = D>>(
        path: impl AsRef<Path>,
        shape: Sh,
    ) -> Result<Self> {
        let path = path.as_ref();
        let dim = shape.into_dimension();
        Header::new(A::DTYPE, dim.slice())?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| npy_error(path, format!("cannot create it: {e}")))?;
        let made = (|| {
            write_zeroed::<A>(&file, dim.slice())?;
            let header = read_header(&file, path)?;
            let what = format!("the file {}", path.display());
            reserve(&file, &header, &what)?;
            Ok::<_, Error>(header)
        })();
        let header = match made {
            Ok(h) => h,
            Err(e) => {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        };
        let segment = Segment::map_file(file, true, path)?;
        Ok(Self::from_parts(segment, header, dim, true))
    }

    /// Writes this array to a new `.npy` file that numpy (and
    /// [`open_npy`](SharedArray::open_npy)) can read.
    pub fn save_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut copy = SharedArray::<A, D>::create_npy(path, self.raw_dim())?;
        copy.view_mut().assign(&self.view());
        Ok(())
    }

    /// Creates a named shared array of zeros in `/dev/shm`, which other
    /// processes can attach to by `name` while this array lives; dropping
    /// it removes the name. The name is created exclusively (an existing
    /// one is an error, never silently attached) with owner-only
    /// permissions. The segment is an `.npy` image, so numpy reads it as
    /// `numpy.load("/dev/shm/" + name, mmap_mode="r+")`.
    ///
    /// Unlike shmr's anonymous arrays, a name outlives a program that is
    /// killed: remove it then with `rm /dev/shm/NAME`.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// let name = format!("shmr-doc-{}", std::process::id());
    /// let mut a = shmr::SharedArray::<i32, ndarray::Ix2>::create_named(&name, (2, 3))?;
    /// a.view_mut().fill(7);
    /// // Another process would do this; SAFETY: nobody writes meanwhile.
    /// let b = unsafe { shmr::SharedArray::<i32, ndarray::Ix2>::attach(&name)? };
    /// assert_eq!(b.view().sum(), 42);
    /// # Ok(()) }
    /// ```
    pub fn create_named<Sh: IntoDimension<Dim = D>>(name: &str, shape: Sh) -> Result<Self> {
        let bare = shm_name(name)?;
        let dim = shape.into_dimension();
        Header::new(A::DTYPE, dim.slice())?;
        let fd = rustix::shm::open(
            bare,
            rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| match e {
            rustix::io::Errno::EXIST => Error::InvalidConfig(format!(
                "a shared-memory segment named {bare:?} already exists; choose another name, or attach to it"
            )),
            e => Error::Io {
                context: "creating a named shared-memory segment",
                source: e.into(),
            },
        })?;
        let file = File::from(fd);
        let path = PathBuf::from("/dev/shm").join(bare);
        let made = (|| {
            write_zeroed::<A>(&file, dim.slice())?;
            let header = read_header(&file, &path)?;
            let what = format!(
                "the named array {bare:?} of shape {:?} of {}",
                dim.slice(),
                A::DTYPE
            );
            // The same check as for anonymous arrays: /dev/shm is memory.
            check_memory(header.data_len() as u64, &what, Some(free_space(&file)))?;
            reserve(&file, &header, &what)?;
            Ok(header)
        })();
        let header = match made {
            Ok(h) => h,
            Err(e) => {
                let _ = rustix::shm::unlink(bare);
                return Err(e);
            }
        };
        let segment = match Segment::map_file(file, true, &path) {
            Ok(s) => s,
            Err(e) => {
                let _ = rustix::shm::unlink(bare);
                return Err(e);
            }
        };
        let mut array = Self::from_parts(segment, header, dim, true);
        array.own_name(bare.to_string());
        Ok(array)
    }

    /// Attaches to a named array that [`create_named`](SharedArray::create_named)
    /// made (in this or another process), or to any `.npy` image in
    /// `/dev/shm`. Its header is checked as an `.npy` file's is.
    ///
    /// # Safety
    /// As for [`open_npy`](SharedArray::open_npy): while the array lives no
    /// other process may shrink the segment, nor write its elements while
    /// views or jobs read them.
    pub unsafe fn attach(name: &str) -> Result<Self> {
        let bare = shm_name(name)?;
        let file = open_shm(bare)?;
        let path = PathBuf::from("/dev/shm").join(bare);
        let header = read_header(&file, &path)?;
        let dim = dim_for::<A, D>(&header)?;
        let segment = Segment::map_file(file, true, &path)?;
        Ok(Self::from_parts(segment, header, dim, true))
    }

    /// Attaches to a raw shared-memory block that holds an array of `A` with
    /// `shape` in C order from its first byte, as Python's
    /// `multiprocessing.shared_memory.SharedMemory` makes them. The block
    /// must be at least as large as the array.
    ///
    /// # Safety
    /// As for [`attach`](SharedArray::attach).
    pub unsafe fn attach_raw<Sh: IntoDimension<Dim = D>>(name: &str, shape: Sh) -> Result<Self> {
        let bare = shm_name(name)?;
        let dim = shape.into_dimension();
        let header = Header::new(A::DTYPE, dim.slice())?.at_offset(0)?;
        let file = open_shm(bare)?;
        let len = file
            .metadata()
            .map_err(Error::io("reading the size of a shared-memory segment"))?
            .len();
        if len < header.data_len() as u64 || len == 0 {
            return Err(Error::InvalidSegment(format!(
                "segment {bare:?} has {len} bytes but an array of shape {:?} of {} needs {}",
                dim.slice(),
                A::DTYPE,
                header.data_len()
            )));
        }
        let segment = Segment::map_file(file, true, &PathBuf::from("/dev/shm").join(bare))?;
        Ok(Self::from_parts(segment, header, dim, true))
    }
}

fn open_shm(bare: &str) -> Result<File> {
    let fd = rustix::shm::open(bare, rustix::shm::OFlags::RDWR, Mode::empty()).map_err(|e| match e {
        rustix::io::Errno::NOENT => Error::InvalidConfig(format!(
            "no shared-memory segment named {bare:?} (looked in /dev/shm); is the program that made it still running?"
        )),
        e => Error::Io {
            context: "opening a named shared-memory segment",
            source: e.into(),
        },
    })?;
    Ok(File::from(fd))
}

/// Reads and checks the header of an `.npy` file (element type, shape, and
/// where the data starts) without mapping it: to pick the element type to
/// open it with.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// let path = std::env::temp_dir().join(format!("shmr-doc-h-{}.npy", std::process::id()));
/// drop(shmr::SharedArray::<u16, ndarray::Ix2>::create_npy(&path, (4, 5))?);
/// let h = shmr::npy_header(&path)?;
/// assert_eq!((h.dtype(), h.shape()), (shmr::DType::U16, &[4, 5][..]));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok(()) }
/// ```
pub fn npy_header(path: impl AsRef<Path>) -> Result<Header> {
    let path = path.as_ref();
    let file = open_regular(path, NpyMode::ReadOnly)?;
    read_header(&file, path)
}

#[cfg(test)]
mod tests {
    use super::write_zeros;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writing_zeros_reserves_blocks_or_says_the_disk_is_full() {
        let path = std::env::temp_dir().join(format!("shmr-zeros-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(3 << 20).unwrap(); // sparse, as write_zeroed_npy leaves it
        let before = file.metadata().unwrap().blocks();
        write_zeros(&file, 4096, (3 << 20) - 4096).unwrap();
        let after = file.metadata().unwrap().blocks() * 512;
        assert!(
            after >= (3 << 20) - 4096,
            "{before} -> {after} bytes allocated"
        );
        drop(file);
        let _ = std::fs::remove_file(path);
        // A full disk: /dev/full answers every write with ENOSPC.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let err = write_zeros(&full, 0, 1 << 20).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28), "{err}"); // ENOSPC
    }
}
