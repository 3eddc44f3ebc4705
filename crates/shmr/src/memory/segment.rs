//! Shared-memory segments: one `memfd` mapping with a self-describing header.
//!
//! A segment is the unit that crosses process boundaries. The coordinator
//! creates it; workers receive its file descriptor over the control channel
//! (`SCM_RIGHTS`) and map the same pages. Nothing is ever copied.
//!
//! Layout of an array segment (all integers little-endian):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `b"SHMRARR\0"` |
//! | 8  | 4 | format version (1) |
//! | 12 | 4 | dtype code ([`DType::code`]) |
//! | 16 | 4 | ndim (at most [`MAX_NDIM`]) |
//! | 20 | 4 | flags (0; reserved) |
//! | 24 | 8 | data offset (4096) |
//! | 32 | 8 | data length in bytes |
//! | 40 | 24 | reserved (0) |
//! | 64 | 8·ndim | shape, axis 0 first |
//! | 4096 | data length | elements in C (row-major) order |
//!
//! The data starts on a page boundary so that it is aligned for every element
//! type and so that later protection per page never touches the header.

use super::available::{check_memory, memory_available};
use crate::error::{Error, Result};
use crate::memory::DType;
use memmap2::{MmapOptions, MmapRaw};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FallocateFlags, MemfdFlags, SealFlags};
use rustix::mm::MprotectFlags;
use std::fs::File;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Bytes reserved for the header; the data starts here.
pub(crate) const HEADER_BYTES: usize = 4096;
/// The first eight bytes of every array segment.
pub(crate) const MAGIC: [u8; 8] = *b"SHMRARR\0";
/// The segment format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The most dimensions a segment header can describe.
pub(crate) const MAX_NDIM: usize = 32;

/// What an array segment says about itself.
///
/// # Example
/// ```
/// use shmr::{DType, Header};
/// let h = Header::new(DType::F32, &[3, 4]).unwrap();
/// let bytes = h.encode();
/// assert_eq!(Header::decode(&bytes, h.segment_len()).unwrap(), h);
/// // A header that claims more data than the segment holds is refused.
/// assert!(Header::decode(&bytes, 100).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    dtype: DType,
    shape: Vec<usize>,
    data_len: u64,
    /// Where the data starts in the segment or file.
    offset: u64,
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Header {
    /// A header for an array of `dtype` and `shape`, checking that its size
    /// is addressable.
    pub fn new(dtype: DType, shape: &[usize]) -> Result<Header> {
        let too_large = || Error::TooLarge {
            shape: shape.to_vec(),
            elem_bytes: dtype.size(),
        };
        if shape.len() > MAX_NDIM {
            return Err(Error::InvalidConfig(format!(
                "{} dimensions requested; at most {MAX_NDIM} are supported",
                shape.len()
            )));
        }
        let elems = shape
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
            .ok_or_else(too_large)?;
        let data_len = elems.checked_mul(dtype.size()).ok_or_else(too_large)?;
        // The mapping must fit in isize, as Rust requires of any allocation.
        if data_len > isize::MAX as usize - HEADER_BYTES {
            return Err(too_large());
        }
        Ok(Header {
            dtype,
            shape: shape.to_vec(),
            data_len: data_len as u64,
            offset: HEADER_BYTES as u64,
        })
    }

    /// The same array with its data at `offset` bytes into its segment or
    /// file (an `.npy` file's data follows its own header).
    pub(crate) fn at_offset(mut self, offset: u64) -> Result<Header> {
        let fits = offset
            .checked_add(self.data_len)
            .is_some_and(|end| end <= isize::MAX as u64);
        if !offset.is_multiple_of(self.dtype.size() as u64) || !fits {
            return Err(Error::InvalidSegment(format!(
                "data at offset {offset} is misaligned for {} or past the address space",
                self.dtype
            )));
        }
        self.offset = offset;
        Ok(self)
    }

    /// Where the data starts, in bytes from the start of the segment.
    pub fn offset(&self) -> usize {
        self.offset as usize
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The shape, axis 0 first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Bytes of element data.
    pub fn data_len(&self) -> usize {
        self.data_len as usize
    }
    /// Bytes of the whole segment: header plus data.
    pub fn segment_len(&self) -> u64 {
        self.offset + self.data_len
    }

    /// The header as the bytes that start a segment.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 8 * self.shape.len()];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.dtype.code().to_le_bytes());
        b[16..20].copy_from_slice(&(self.shape.len() as u32).to_le_bytes());
        b[24..32].copy_from_slice(&(HEADER_BYTES as u64).to_le_bytes());
        b[32..40].copy_from_slice(&self.data_len.to_le_bytes());
        for (i, &n) in self.shape.iter().enumerate() {
            b[64 + 8 * i..72 + 8 * i].copy_from_slice(&(n as u64).to_le_bytes());
        }
        b
    }

    /// Reads and validates a header from the first bytes of a segment of
    /// `segment_len` bytes. Anything inconsistent is an error, never a panic:
    /// these bytes may come from another process.
    pub fn decode(bytes: &[u8], segment_len: u64) -> Result<Header> {
        let bad = |what: String| Error::InvalidSegment(what);
        if bytes.len() < 64 {
            return Err(bad(format!(
                "{} bytes is too short for a header",
                bytes.len()
            )));
        }
        if bytes[0..8] != MAGIC {
            return Err(bad(
                "no shmr magic number at the start; this is not a shmr array segment".into(),
            ));
        }
        let version = read_u32(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}, but this build reads version {FORMAT_VERSION}; use matching shmr versions"
            )));
        }
        let code = read_u32(bytes, 12);
        let dtype =
            DType::from_code(code).ok_or_else(|| bad(format!("unknown dtype code {code}")))?;
        let ndim = read_u32(bytes, 16) as usize;
        if ndim > MAX_NDIM {
            return Err(bad(format!(
                "{ndim} dimensions; at most {MAX_NDIM} are supported"
            )));
        }
        if bytes.len() < 64 + 8 * ndim {
            return Err(bad("header truncated inside the shape".into()));
        }
        let flags = read_u32(bytes, 20);
        if flags != 0 {
            return Err(bad(format!("unknown flags {flags:#x}")));
        }
        let offset = read_u64(bytes, 24);
        if offset != HEADER_BYTES as u64 {
            return Err(bad(format!(
                "data offset {offset}, expected {HEADER_BYTES}"
            )));
        }
        let mut shape = Vec::with_capacity(ndim);
        for i in 0..ndim {
            let n = read_u64(bytes, 64 + 8 * i);
            shape.push(
                usize::try_from(n).map_err(|_| bad(format!("axis {i} length {n} overflows")))?,
            );
        }
        let header = Header::new(dtype, &shape).map_err(|e| bad(e.to_string()))?;
        let data_len = read_u64(bytes, 32);
        if data_len != header.data_len {
            return Err(bad(format!(
                "data length {data_len} does not match shape {shape:?} of {dtype} ({} bytes)",
                header.data_len
            )));
        }
        if header.segment_len() > segment_len {
            return Err(bad(format!(
                "segment is {segment_len} bytes but its header describes {} bytes; it is truncated",
                header.segment_len()
            )));
        }
        Ok(header)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One mapped shared-memory object.
///
/// The mapping is held as a raw pointer ([`MmapRaw`]) rather than a slice:
/// other processes share these bytes, so no `&[u8]` or `&mut [u8]` over the
/// whole segment is ever created; callers make typed views over the parts
/// they have a right to, for as long as they have it.
#[derive(Debug)]
pub(crate) struct Segment {
    id: u64,
    file: File,
    map: MmapRaw,
    len: usize,
    /// Mapped without write permission from a descriptor reopened
    /// read-only: no code in this process can write these pages.
    read_only: bool,
    /// The file or name behind a segment that is not a sealed memfd: one
    /// that another program can shrink, named in the error if it does.
    origin: Option<std::path::PathBuf>,
}

impl Segment {
    /// A writable segment this process made or opened, with a new id.
    fn made_here(
        file: File,
        map: MmapRaw,
        len: usize,
        origin: Option<std::path::PathBuf>,
    ) -> Segment {
        Segment {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            file,
            map,
            len,
            read_only: false,
            origin,
        }
    }

    /// Creates an anonymous segment of `len` bytes (at least one page).
    ///
    /// Its pages are reserved now (`fallocate`), so that running out of
    /// shared memory is an error here rather than a `SIGBUS` on first touch,
    /// and its size is sealed, so that no process holding the descriptor can
    /// shrink it under another's mapping (which would also be a `SIGBUS`).
    /// Anonymous means unnamed: the memory is freed when the last process
    /// holding its descriptor or mapping exits, so a crash leaks nothing.
    pub(crate) fn create(len: usize, what: &str) -> Result<Segment> {
        let len = len.max(1);
        let requested = len as u64;
        // Refuse what cannot be had before asking for it: on a memfd,
        // fallocate takes pages one at a time until memory runs out, and the
        // kernel's answer to that may be the OOM killer rather than an error.
        check_memory(requested, what, None)?;
        let file = new_memfd()?;
        rustix::fs::fallocate(&file, FallocateFlags::empty(), 0, requested)
            .map_err(|e| out_of_memory(what, requested, e.into()))?;
        Segment::sealed(file, len)
    }

    /// A new segment of `len` bytes holding `parts` (each bytes at an
    /// offset; the rest zero), written through the file before it is
    /// mapped. Writing a memfd (`pwrite`) puts each page in place with the
    /// bytes, where copying through a new mapping takes a fault per page
    /// and zeroes it first: 1.6-1.8x faster here (80 MB in 29-34 ms rather
    /// than 46-53 ms, 800 MB in 282-392 ms rather than 516-577 ms). Running
    /// out of memory is an error, as in [`Segment::create`].
    pub(crate) fn written(len: usize, parts: &[(u64, &[u8])], what: &str) -> Result<Segment> {
        use std::os::unix::fs::FileExt;
        let len = len.max(1);
        check_memory(len as u64, what, None)?;
        let file = new_memfd()?;
        rustix::fs::ftruncate(&file, len as u64)
            .map_err(|e| out_of_memory(what, len as u64, e.into()))?;
        for &(offset, bytes) in parts {
            debug_assert!(
                offset as usize + bytes.len() <= len,
                "internal: a part past the segment"
            );
            // pwrite, again after a short write or an interruption.
            file.write_all_at(bytes, offset).map_err(|e| {
                let full = [rustix::io::Errno::NOSPC, rustix::io::Errno::NOMEM]
                    .map(|n| Some(n.raw_os_error()))
                    .contains(&e.raw_os_error());
                if full {
                    out_of_memory(what, len as u64, e)
                } else {
                    Error::Io {
                        context: "writing an array into shared memory",
                        source: e,
                    }
                }
            })?;
        }
        Segment::sealed(file, len)
    }

    /// `file`, a new memfd whose `len` bytes are reserved or written,
    /// sealed against any change of size (so that no process holding it can
    /// shrink it under another's mapping), and mapped.
    fn sealed(file: File, len: usize) -> Result<Segment> {
        rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(Error::os("sealing the size of a new segment"))?;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(Error::io("mapping a new shared-memory segment"))?;
        Ok(Segment::made_here(file, map, len, None))
    }

    /// A segment holding `header` (rewritten once the length is known)
    /// and then everything `reader` gives until its end: a stream (a pipe,
    /// standard input) copied once, straight into shared memory. Returns
    /// the segment and the bytes read. The memfd grows as the stream comes,
    /// and before each block the memory it needs is checked to be there,
    /// so a stream larger than memory is an error, not the OOM killer.
    pub(crate) fn from_stream(
        reader: &mut dyn std::io::Read,
        what: &str,
    ) -> Result<(Segment, Header)> {
        use std::io::Write;
        const BLOCK: usize = 64 << 20;
        let mut file = new_memfd()?;
        file.write_all(&[0; HEADER_BYTES])
            .map_err(Error::io("writing a segment's header"))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut read: u64 = 0;
        let mut checked: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Io {
                        context: "reading a stream into shared memory",
                        source: e,
                    });
                }
            };
            if read + n as u64 > checked {
                check_memory(BLOCK as u64, what, None)?;
                checked += BLOCK as u64;
            }
            file.write_all(&buf[..n]).map_err(|e| {
                // Out of memory, or of what the memfd may grow to.
                let full = [rustix::io::Errno::NOSPC, rustix::io::Errno::NOMEM]
                    .map(|n| Some(n.raw_os_error()))
                    .contains(&e.raw_os_error());
                if full {
                    out_of_memory(what, read + n as u64, e)
                } else {
                    Error::Io {
                        context: "writing a stream into shared memory",
                        source: e,
                    }
                }
            })?;
            read += n as u64;
        }
        let len = usize::try_from(read).map_err(|_| Error::TooLarge {
            shape: vec![usize::MAX],
            elem_bytes: 1,
        })?;
        let header = Header::new(DType::U8, &[len])?;
        rustix::io::pwrite(&file, &header.encode(), 0)
            .map_err(Error::os("writing a segment's header"))?;
        Ok((Segment::sealed(file, HEADER_BYTES + len)?, header))
    }

    /// Maps a segment received from another process. With `writable` false
    /// the descriptor is first reopened read-only, so the pages cannot be
    /// made writable in this process at all, not even by `mprotect`.
    pub(crate) fn from_fd(id: u64, fd: OwnedFd, writable: bool) -> Result<Segment> {
        let len = rustix::fs::fstat(&fd)
            .map_err(Error::os("fstat on a received segment"))?
            .st_size;
        let len =
            usize::try_from(len).map_err(|_| Error::Protocol("negative segment size".into()))?;
        if len == 0 {
            return Err(Error::InvalidSegment("the segment is empty".into()));
        }
        let (file, map) = if writable {
            let file = File::from(fd);
            let map = MmapOptions::new().len(len).map_raw(&file);
            (file, map)
        } else {
            let file = File::from(reopen_read_only(fd)?);
            let map = MmapOptions::new().len(len).map_raw_read_only(&file);
            (file, map)
        };
        let map = map.map_err(Error::io("mapping a received shared-memory segment"))?;
        Ok(Segment {
            id,
            file,
            map,
            len,
            read_only: !writable,
            origin: None,
        })
    }

    /// Maps an open file (an `.npy` file, or a named segment in `/dev/shm`)
    /// whole. With `shared_writable` false the mapping is private and
    /// copy-on-write: writes in this process never reach the file, and the
    /// file may be open read-only.
    pub(crate) fn map_file(
        file: File,
        shared_writable: bool,
        origin: &std::path::Path,
    ) -> Result<Segment> {
        let len = file
            .metadata()
            .map_err(Error::io("reading the size of a file to map"))?
            .len();
        let bad = |reason: &str| Error::File {
            path: origin.to_path_buf(),
            reason: reason.into(),
        };
        let len = usize::try_from(len)
            .map_err(|_| bad("is larger than the address space; map a region of it (open_raw)"))?;
        if len == 0 {
            return Err(bad(
                "is empty: there is nothing to map (write the data first, or make the array with \
                 SharedArray::zeros)",
            ));
        }
        let map = if shared_writable {
            MmapOptions::new().len(len).map_raw(&file)
        } else {
            // SAFETY: `map_copy` is unsafe because another process may change
            // the file under the mapping; the callers' own `unsafe` contracts
            // (`open_npy`) make that the user's promise. The mapping is kept
            // as a raw pointer like every other, never as a slice.
            unsafe { MmapOptions::new().len(len).map_copy(&file) }.map(MmapRaw::from)
        }
        .map_err(Error::io("mapping a file"))?;
        Ok(Segment::made_here(
            file,
            map,
            len,
            Some(origin.to_path_buf()),
        ))
    }

    /// Maps a segment given by a descriptor from elsewhere (another
    /// process, say), read-write, after checking that its size is sealed:
    /// whoever else holds it must not be able to shrink it under this
    /// process's mapping, which would make reading the lost pages a `SIGBUS`.
    pub(crate) fn attach(fd: OwnedFd) -> Result<Segment> {
        let refuse = |why: String| {
            Error::InvalidSegment(format!(
                "{why}; any process holding it could shrink it and crash this one (SIGBUS) on access. \
                 Attach only segments made by shmr (memfds sealed against shrinking)"
            ))
        };
        match rustix::fs::fcntl_get_seals(&fd) {
            Ok(seals) if seals.contains(SealFlags::SHRINK) => {}
            Ok(_) => return Err(refuse("the segment is not sealed against shrinking".into())),
            Err(e) => {
                return Err(refuse(format!(
                    "the descriptor is not a sealable memfd ({e})"
                )));
            }
        }
        Segment::from_fd(NEXT_ID.fetch_add(1, Ordering::Relaxed), fd, true)
    }

    /// Checks that the file behind this segment still has the length it was
    /// mapped with. Sealed memfds cannot shrink; a file or a name in
    /// `/dev/shm` can, and reading its lost pages is a `SIGBUS` in whichever
    /// process touches them: the coordinator checks before each round and
    /// after a worker dies, so that the error says what happened.
    pub(crate) fn check_size(&self) -> Result<()> {
        let Some(origin) = &self.origin else {
            return Ok(());
        };
        let now = rustix::fs::fstat(&self.file).map_or(0, |st| st.st_size.max(0) as u64);
        if now < self.len as u64 {
            return Err(Error::InvalidSegment(format!(
                "{} shrank from {} to {now} bytes while shmr had it mapped (another program \
                 truncated or rewrote it); restore it, or open it again, before running jobs over it",
                origin.display(),
                self.len
            )));
        }
        Ok(())
    }

    /// Reads and validates the array header at the start of this segment.
    pub(crate) fn header(&self) -> Result<Header> {
        let n = self.len().min(HEADER_BYTES);
        // SAFETY: `n` bytes from the start of a live mapping, read into our
        // own copy at once. The header is written once, by the creator,
        // before the segment is shared; if another process changed it
        // anyway, we would decode different bytes, which `decode` validates
        // whatever they are (u8 has no invalid values), and the length it
        // checks against cannot change: the segment's size is sealed.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr(), n) }.to_vec();
        Header::decode(&bytes, self.len() as u64)
    }

    /// Makes the pages that `range` (bytes of this segment) touches
    /// writable or read-only, in this process's mapping only.
    pub(crate) fn protect(&self, range: std::ops::Range<usize>, writable: bool) -> Result<()> {
        const PAGE: usize = 4096;
        let start = range.start / PAGE * PAGE;
        let end = range
            .end
            .next_multiple_of(PAGE)
            .min(self.len.next_multiple_of(PAGE));
        if start >= end {
            return Ok(());
        }
        let flags = if writable {
            MprotectFlags::READ | MprotectFlags::WRITE
        } else {
            MprotectFlags::READ
        };
        // SAFETY: [start, end) lies within this segment's mapping (a mapping
        // covers whole pages, so rounding `len` up stays inside it), which
        // lives as long as `self`; it is a shared mapping of a file opened
        // read-write (only writable segments are protected), so adding
        // WRITE is allowed. Taking WRITE away only makes later writes fault,
        // which ends this worker: it cannot make Rust code unsound.
        unsafe { rustix::mm::mprotect(self.ptr().add(start).cast(), end - start, flags) }
            .map_err(Error::os("changing the protection of a segment's pages"))
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
    /// Start of the mapping. Valid for `len()` bytes while `self` lives.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Whether no code in this process can write this segment's pages
    /// (a received segment mapped from a read-only descriptor).
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The word at byte `offset`, which every process that maps this
    /// segment accesses only atomically.
    ///
    /// # Panics
    /// If the word is not inside the segment or not aligned: a layout bug
    /// in the caller, never something input can cause.
    pub(crate) fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        self.check_word(offset, size_of::<u64>());
        // SAFETY: in bounds and aligned (checked above; the mapping is
        // page-aligned), and the mapping lives as long as the borrow of
        // `self`. Atomics may alias other atomics, in this process and in
        // others mapping the same page; every non-atomic access to a
        // segment's bytes needs `unsafe` code (`ptr`), whose callers keep
        // to regions that no one reaches through this method. Every bit
        // pattern is a valid u64.
        unsafe { &*self.ptr().add(offset).cast::<AtomicU64>() }
    }

    /// The 32-bit word at byte `offset`; see [`Segment::atomic_u64`].
    pub(crate) fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        self.check_word(offset, size_of::<u32>());
        // SAFETY: as in `atomic_u64`, for a u32.
        unsafe { &*self.ptr().add(offset).cast::<AtomicU32>() }
    }

    fn check_word(&self, offset: usize, size: usize) {
        assert!(
            offset.is_multiple_of(size) && offset.checked_add(size).is_some_and(|e| e <= self.len),
            "internal: word at {offset} of a {}-byte segment",
            self.len
        );
        // Atomic writes to a read-only page would fault.
        assert!(
            !self.read_only,
            "internal: atomic word in a read-only segment"
        );
    }
}

/// A new anonymous memfd, sealable. The creator's pid in its name lets
/// anyone find (in /proc/*/fd and /proc/*/maps) which program a segment
/// came from.
fn new_memfd() -> Result<File> {
    let name = format!("shmr-{}", std::process::id());
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(Error::os("memfd_create"))?;
    Ok(File::from(fd))
}

/// The error of a segment that memory could not hold.
fn out_of_memory(what: &str, requested: u64, source: std::io::Error) -> Error {
    Error::OutOfSharedMemory {
        what: what.to_string(),
        requested,
        available: memory_available().unwrap_or(0),
        source,
    }
}

/// A read-only descriptor for the same object, through `/proc/self/fd`.
fn reopen_read_only(fd: OwnedFd) -> Result<OwnedFd> {
    use rustix::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::open(
        path.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(Error::os(
        "reopening a segment read-only through /proc/self/fd",
    ))
}

/// Fuzzing of everything decoded from a segment another process wrote: the
/// decoder must return an error, never panic or over-read, whatever the bytes.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn dtype() -> impl Strategy<Value = DType> {
        (1u32..=10).prop_map(|c| DType::from_code(c).unwrap())
    }

    proptest! {
        #![proptest_config(crate::fuzz_config())]

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..400),
            len in any::<u64>(),
        ) {
            match Header::decode(&bytes, len) {
                Ok(h) => {
                    prop_assert!(h.segment_len() <= len);
                    prop_assert_eq!(Header::decode(&h.encode(), len).unwrap(), h);
                }
                Err(e) => prop_assert!(matches!(e, Error::InvalidSegment(ref m) if !m.is_empty()), "{e:?}"),
            }
        }

        /// Every valid header reads back as itself, and is refused by a
        /// segment one byte too short for its data.
        #[test]
        fn valid_headers_round_trip_and_need_their_length(
            dtype in dtype(),
            shape in prop::collection::vec(0usize..1000, 0..6),
            spare in 0u64..10_000,
        ) {
            let h = Header::new(dtype, &shape).unwrap();
            let need = h.segment_len();
            prop_assert_eq!(Header::decode(&h.encode(), need + spare).unwrap(), h.clone());
            if h.data_len() > 0 {
                let short = Header::decode(&h.encode(), need - 1);
                prop_assert!(matches!(short, Err(Error::InvalidSegment(_))), "{short:?}");
            }
        }

        #[test]
        fn corrupted_valid_headers_are_refused_or_consistent(
            dtype in dtype(),
            shape in prop::collection::vec(0usize..50, 0..6),
            flips in prop::collection::vec((0usize..112, any::<u8>()), 1..6),
            cut in 0usize..200,
        ) {
            let h = Header::new(dtype, &shape).unwrap();
            let mut bytes = h.encode();
            bytes.resize(112, 0);
            for (at, b) in flips {
                bytes[at] = b;
            }
            bytes.truncate(cut.max(1));
            match Header::decode(&bytes, h.segment_len()) {
                // Whatever decodes describes data that fits the segment,
                // with a length that matches its shape.
                Ok(d) => {
                    prop_assert!(d.segment_len() <= h.segment_len());
                    let elems: usize = d.shape().iter().product();
                    prop_assert_eq!(elems * d.dtype().size(), d.data_len());
                }
                Err(e) => prop_assert!(matches!(e, Error::InvalidSegment(_))),
            }
        }
    }
}
