//! A user's mapper as a worker calls it: under a mark that its panic hook
//! and [`current_rows`] read, so that a mapper's panic is reported as the
//! job's error (with its message and place) rather than printed, and a
//! mapper can learn which rows its chunk is.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ops::Range;

thread_local! {
    static IN_MAPPER: Cell<bool> = const { Cell::new(false) };
    static CHUNK_ROWS: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A mapper's panic is reported to the coordinator as an error, so the hook
/// records it instead of printing it; any other panic prints as usual.
pub(crate) fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_MAPPER.get() {
            let msg = info.payload_as_str().unwrap_or("Box<dyn Any>");
            let text = match info.location() {
                Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
                None => msg.to_string(),
            };
            LAST_PANIC.set(Some(text));
        } else {
            default(info);
        }
    }));
}

/// Runs a user mapper on the chunk of `rows`, marking it so the panic
/// hook knows, and so that [`current_rows`] can say which rows they are.
pub(crate) fn in_mapper<R>(rows: Range<u64>, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_MAPPER.set(false);
            CHUNK_ROWS.set(None);
        }
    }
    IN_MAPPER.set(true);
    CHUNK_ROWS.set(Some((rows.start, rows.end)));
    let _reset = Reset;
    f()
}

/// The rows (indices along axis 0) of the chunk being mapped, when called
/// from a mapper; `None` anywhere else. For mappers that need to know
/// where their chunk lies in the whole array: to index a side array by
/// row, to write the rows of a result that match them. A job over
/// [`Pool::range`](crate::Pool::range) gets them as its mapper's first
/// argument instead (`pool.range(n).and(&a)` reads `a` with them), which
/// is the way to prefer: what a mapper needs is in its arguments.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let a = shmr::SharedArray::from_array(&ndarray::Array1::from_elem(1000, 1_u8))?;
/// // The sum of the row indices, from each chunk's own range.
/// let total = pool
///     .on(&a)
///     .chunk_size(shmr::ChunkSize::Rows(64))
///     .map_reduce(|_| shmr::current_rows().expect("in a mapper").sum::<usize>(), |x, y| x + y)?;
/// assert_eq!(total, (0..1000).sum::<usize>());
/// assert_eq!(shmr::current_rows(), None);
/// # Ok(()) }
/// ```
pub fn current_rows() -> Option<Range<usize>> {
    CHUNK_ROWS
        .get()
        .map(|(start, end)| start as usize..end as usize)
}

/// The old name of [`current_rows`], which read as rows *per* chunk, as
/// [`Partition::chunk_rows`](crate::Partition::chunk_rows) is.
#[deprecated(since = "0.1.0", note = "renamed current_rows")]
pub fn chunk_rows() -> Option<Range<usize>> {
    current_rows()
}

/// The text of the panic just caught.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    LAST_PANIC.take().unwrap_or_else(|| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".into())
    })
}
