//! Faults of the newer surface (records, keyed and held jobs, raw files,
//! ring partials) as a careless user or an attacker meets them, each with
//! real workers: every one ends in a clear error that names what to look
//! at, at once, or in the right answer; none hangs, none panics into the
//! caller, none gives a wrong answer.

mod common;
use common::{pool, scratch_dir, within};
use ndarray::{Array1, Ix1};
use serde::{Deserialize, Serialize};
use shmr::keyed::{Combiner, Delimiters, Sum};
use shmr::{ChunkSize, Error, NpyMode, RawArray, SharedArray};
use std::path::Path;
use std::time::Duration;

shmr::test_worker!();

const LIMIT: Duration = Duration::from_secs(60);

/// `open_raw` of `path` as bytes, its error.
fn open_raw_err(path: &Path, offset: u64, len: usize) -> Error {
    // SAFETY: nothing writes these files while the tests hold them.
    unsafe { SharedArray::<u8, Ix1>::open_raw(path, offset, len, NpyMode::ReadOnly) }.unwrap_err()
}

/// `open_npy` of `path`, its error.
fn open_npy_err(path: &Path) -> Error {
    // SAFETY: as above.
    unsafe { SharedArray::<f64, Ix1>::open_npy(path, NpyMode::ReadOnly) }.unwrap_err()
}

/// Asserts `err` is [`Error::File`] for `path`, whose message says `what`.
fn names(err: &Error, path: &Path, what: &str) {
    match err {
        Error::File { path: p, reason } => {
            assert_eq!(p, path, "{err}");
            assert!(reason.contains(what), "{err}");
        }
        other => panic!("expected Error::File for {}, got {other:?}", path.display()),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn what_is_not_a_regular_file_is_refused_at_once_with_its_kind() {
    // A named pipe with no writer made open() block forever.
    let dir = scratch_dir("kinds");
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let sock = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let link = dir.join("link-to-dir");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let cases = [
        (fifo, "named pipe"),
        (sock, "socket"),
        (dir.clone(), "directory"),
        (link, "directory"),
        ("/dev/null".into(), "character device"),
    ];
    for (path, what) in cases {
        let (raw, npy, header) = within(LIMIT, {
            let path = path.clone();
            move || {
                (
                    open_raw_err(&path, 0, 1),
                    open_npy_err(&path),
                    shmr::npy_header(&path).unwrap_err(),
                )
            }
        });
        names(&raw, &path, what);
        names(&npy, &path, what);
        names(&header, &path, what);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn file_errors_name_the_file_and_what_to_change() {
    let dir = scratch_dir("file-errors");
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let err = open_raw_err(&empty, 0, 0);
    names(&err, &empty, "empty");
    let some = dir.join("some.bin");
    std::fs::write(&some, [7u8; 64]).unwrap();
    // An offset past the address space.
    let err = open_raw_err(&some, u64::MAX, 1);
    names(&err, &some, "offset");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_chunk_size_of_nothing_is_refused_per_job_as_per_pool() {
    let pool = pool(2);
    let a = SharedArray::from_array(&Array1::from_iter(0..1000_u64)).unwrap();
    let text = SharedArray::from_array(&Array1::from_vec(b"a b c\n".repeat(100))).unwrap();
    for chunk in [ChunkSize::Bytes(0), ChunkSize::Rows(0)] {
        let err = pool
            .on(&a)
            .chunk_size(chunk)
            .map_reduce(|c| c.sum(), |x, y| x + y)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig(ref m) if m.contains("at least 1")),
            "{err}"
        );
        let err = pool
            .on(&text)
            .records(Delimiters::WHITESPACE)
            .chunk_size(chunk)
            .keyed(Sum, |w, out| w.iter().for_each(|w| out.emit(w, 1_u64)))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    }
}

#[test]
fn records_far_longer_than_their_chunks_count_right() {
    // 2 MB in one word, then a few short ones, in 4 KiB chunks: 500 chunks
    // inside the one record (each of which used to scan to its end).
    let mut text = vec![b'w'; 2 << 20];
    text.extend_from_slice(b" two three two\n");
    let a = SharedArray::from_array(&Array1::from_vec(text)).unwrap();
    for workers in [1, 2] {
        let got = pool(workers)
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(4096))
            .keyed(Sum, |w, out| w.iter().for_each(|w| out.emit(w, 1_u64)))
            .unwrap();
        let lens: Vec<(usize, u64)> = got.iter().map(|(k, n)| (k.len(), *n)).collect();
        assert_eq!(lens, [(5, 1), (3, 2), (2 << 20, 1)], "{workers} workers");
    }
}

/// The row whose chunk brings its worker down: in chunk 100 of 10,000-row
/// chunks, long after the worker's first chunk.
const FATAL_ROW: u64 = 1_000_005;

#[test]
fn a_held_job_names_the_chunk_it_was_mapping_when_its_worker_died() {
    let pool = pool(1);
    let a = SharedArray::from_array(&Array1::from_iter(0..2_000_000_u64)).unwrap();
    // Integer counts: one table for all the worker's chunks (held).
    let err = pool
        .on(&a)
        .chunk_size(ChunkSize::Rows(10_000))
        .retries(0)
        .keyed(Sum, |chunk, out| {
            for &x in chunk {
                if x == FATAL_ROW {
                    std::process::abort();
                }
                out.emit(&(x % 7), 1_u64);
            }
        })
        .unwrap_err();
    let Error::WorkerDied { chunk, rows, .. } = &err else {
        panic!("expected WorkerDied, got {err:?}")
    };
    assert_eq!(*chunk, Some(100), "{err}");
    assert_eq!(rows.clone(), Some(1_000_000..1_010_000), "{err}");
}

#[test]
fn a_held_job_that_times_out_names_the_chunk_still_being_mapped() {
    let pool = pool(1);
    let a = SharedArray::from_array(&Array1::from_iter(0..2_000_000_u64)).unwrap();
    let err = within(LIMIT, move || {
        pool.on(&a)
            .chunk_size(ChunkSize::Rows(10_000))
            .timeout(Duration::from_secs(2))
            .keyed(Sum, |chunk, out| {
                for &x in chunk {
                    if x == FATAL_ROW {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                    out.emit(&(x % 7), 1_u64);
                }
            })
            .unwrap_err()
    });
    let Error::Timeout { chunk, .. } = &err else {
        panic!("expected Timeout, got {err:?}")
    };
    assert_eq!(*chunk, Some(100), "{err}");
}

#[test]
fn a_workers_table_that_cannot_fit_says_what_overflowed_and_what_helps() {
    // One worker holds 20,000 chunks in one table; the list of them it
    // sends with its last part (about 40 KB) cannot fit a 16 KiB slot.
    let pool = shmr::Pool::builder()
        .workers(1)
        .slot_bytes(16 << 10)
        .max_slot_bytes(16 << 10)
        .build()
        .unwrap();
    let a = SharedArray::from_array(&Array1::from_iter(0..200_000_u64)).unwrap();
    let err = pool
        .on(&a)
        .chunk_size(ChunkSize::Rows(10))
        .keyed(Sum, |chunk, out| {
            chunk.iter().for_each(|x| out.emit(&(x % 3), 1_u64))
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::TableOverflow { .. }), "{err:?}");
    assert!(!msg.contains("18446744073709551"), "{msg}");
    assert!(
        msg.contains("max_slot_bytes") && msg.contains("larger chunks"),
        "{msg}"
    );
}

/// Sums, but panics when asked to add two sums both over 1000: never in a
/// worker (whose chunks here are small), only when the coordinator merges
/// the workers' tables.
#[derive(Clone, Serialize, Deserialize)]
struct Fragile {
    order_free: bool,
}
impl Combiner<u64> for Fragile {
    fn combine(&self, acc: &mut u64, v: u64) {
        assert!(
            *acc <= 1000 || v <= 1000,
            "Fragile cannot add {acc} and {v}"
        );
        *acc += v;
    }
    fn order_free(&self) -> bool {
        self.order_free
    }
}

#[test]
fn a_combiner_that_panics_in_the_coordinator_is_an_error_never_a_panic() {
    let a = SharedArray::from_array(&Array1::from_elem(400_000, 1_u64)).unwrap();
    for order_free in [false, true] {
        for workers in [1, 2, 3] {
            let got = pool(workers)
                .on(&a)
                .chunk_size(ChunkSize::Rows(100_000))
                .keyed(Fragile { order_free }, |chunk, out| {
                    chunk.iter().for_each(|&x| out.emit(&0_u8, x))
                });
            match got {
                Err(Error::ReducerPanicked { message }) => {
                    assert!(message.contains("Fragile cannot add"), "{message}")
                }
                // One table per worker: with one worker, or a worker that
                // took every chunk, no two tables met, the combiner was
                // never asked to add two large sums, and the sum is right.
                Ok(k) if order_free => assert_eq!(k.get(&0), Some(&400_000)),
                // Chunk tables (four) always meet in the coordinator.
                other => panic!("{workers} workers, order-free {order_free}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_partial_of_zero_sized_elements_arrives() {
    let pool = pool(2);
    let a = SharedArray::from_array(&Array1::from_iter(0..10_000_u32)).unwrap();
    let got = pool
        .on(&a)
        .chunk_size(ChunkSize::Rows(1000))
        .map_reduce(
            |c| RawArray(ndarray::Array1::from_elem(c.len(), ())),
            |x, y| RawArray(ndarray::concatenate![ndarray::Axis(0), x.0, y.0]),
        )
        .unwrap();
    assert_eq!(got.len(), 10_000);
}

#[test]
fn a_stream_is_read_into_shared_memory_and_counted_like_its_file() {
    // What the CLI does with a pipe: the same counts as the file mapped.
    let text = b"the cat and the hat\nand the bat\n".repeat(5000);
    let dir = scratch_dir("stream");
    let file = dir.join("text.txt");
    std::fs::write(&file, &text).unwrap();
    let mut cat = std::process::Command::new("cat")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let streamed = SharedArray::read_from(cat.stdout.take().unwrap()).unwrap();
    assert!(cat.wait().unwrap().success());
    // SAFETY: nothing writes the file meanwhile.
    let mapped =
        unsafe { SharedArray::<u8, Ix1>::open_raw(&file, 0, text.len(), NpyMode::ReadOnly) }
            .unwrap();
    assert_eq!(streamed.view(), mapped.view());
    let pool = pool(2);
    let count = |a: &SharedArray<u8, Ix1>| {
        pool.on(a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(4096))
            .keyed(Sum, |w, out| w.iter().for_each(|w| out.emit(w, 1_u64)))
            .unwrap()
    };
    let got = count(&streamed);
    assert_eq!(got, count(&mapped));
    assert_eq!(got.get(&b"the"[..]), Some(&15_000));
    // An empty stream is an empty array, not an error.
    assert!(SharedArray::read_from(&b""[..]).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// A whole file's bytes in one call: a regular file mapped (its word count
/// the sequential one), one that says it is empty read (an empty file, a
/// `/proc` file with bytes all the same), and what is not a regular file
/// refused at once, naming it.
#[test]
fn a_whole_file_opens_as_bytes_in_one_call() {
    let dir = scratch_dir("whole-file");
    let text = b"the cat and the hat\nand the bat\n".repeat(500);
    let file = dir.join("text.txt");
    std::fs::write(&file, &text).unwrap();
    // SAFETY: nothing else touches these files meanwhile.
    let bytes = unsafe { SharedArray::open_bytes(&file, NpyMode::ReadOnly) }.unwrap();
    assert_eq!(bytes.view().as_slice().unwrap(), &text[..]);
    let the = pool(2)
        .on(&bytes)
        .records(Delimiters::WHITESPACE)
        .chunk_size(ChunkSize::Bytes(777))
        .keyed(Sum, |w, out| w.iter().for_each(|w| out.emit(w, 1_u64)))
        .unwrap();
    let want = text
        .split(|b| b" \n".contains(b))
        .filter(|w| *w == b"the")
        .count() as u64;
    assert_eq!(the.get(&b"the"[..]), Some(&want));

    let empty = dir.join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let none = unsafe { SharedArray::open_bytes(&empty, NpyMode::ReadOnly) }.unwrap();
    assert_eq!(none.len(), 0);

    let status = Path::new("/proc/self/status");
    if std::fs::metadata(status).is_ok_and(|m| m.len() == 0) {
        let read = unsafe { SharedArray::open_bytes(status, NpyMode::ReadOnly) }.unwrap();
        let text = String::from_utf8(read.view().to_vec()).unwrap();
        assert!(text.starts_with("Name:"), "{text}");
    }

    let fifo = dir.join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, what) in [(fifo, "named pipe"), (dir.clone(), "directory")] {
        let err = within(LIMIT, {
            let path = path.clone();
            move || unsafe { SharedArray::open_bytes(&path, NpyMode::ReadOnly) }.unwrap_err()
        });
        names(&err, &path, what);
    }
    let _ = std::fs::remove_dir_all(dir);
}
