//! What keyed jobs cost in memory, measured by an allocator that counts
//! the bytes live in each process (this test binary is also its workers'
//! program, so workers count their own): a key limit that is hit keeps the
//! coordinator's memory and the result slots where they were, and a job
//! with millions of keys per chunk leaves no trace on the next small job.
//!
//! One test at a time (a lock): the coordinator's count is process-wide.

mod common;
use common::pool;
use ndarray::Array1;
use shmr::keyed::{Delimiters, Max, Sum};
use shmr::{ChunkSize, Error, SharedArray};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

shmr::test_worker!();

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the
// counters are only read, never used to allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as allocated above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The most bytes this process had live beyond what it had when `f`
/// began, while `f` ran.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// `n` distinct 40-byte keys, one per line.
fn distinct_lines(n: usize) -> SharedArray<u8, ndarray::Ix1> {
    let text: Vec<u8> = (0..n)
        .flat_map(|i| format!("{i:040}\n").into_bytes())
        .collect();
    SharedArray::from_array(&Array1::from_vec(text)).unwrap()
}

#[test]
fn a_key_limit_that_is_hit_keeps_slots_and_the_coordinators_memory_bounded() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 600,000 distinct keys (24 MB of text) against a limit of 150,000:
    // a table at the limit is about 10 MB, more than the 4 MiB slots hold.
    let (keys, max_keys) = (600_000, 150_000);
    let text = distinct_lines(keys);
    let pool = pool(2);
    let slots = pool.slot_bytes();
    // A table's keys alone, at the limit: the coordinator must not come
    // near holding one of them for a job whose tables all overflowed.
    let one_table = max_keys * 40;
    // Held (integer counts: one table per worker) and per chunk (float
    // sums), with chunks of about 300,000 keys, each over the limit.
    let held = || {
        pool.on(&text)
            .records(Delimiters::LINES)
            .chunk_size(ChunkSize::Bytes(12 << 20))
            .max_keys(max_keys)
            .keyed(Sum, |lines, out| {
                lines.iter().for_each(|l| out.emit(l, 1_u64))
            })
    };
    let per_chunk = || {
        pool.on(&text)
            .records(Delimiters::LINES)
            .chunk_size(ChunkSize::Bytes(12 << 20))
            .max_keys(max_keys)
            .keyed(Sum, |lines, out| {
                lines.iter().for_each(|l| out.emit(l, 1.0_f64))
            })
    };
    let (err, held_peak) = peak_during(|| held().unwrap_err());
    assert!(
        matches!(err, Error::KeyLimit { max_keys: m } if m == max_keys),
        "{err}"
    );
    let (err, chunk_peak) = peak_during(|| per_chunk().unwrap_err());
    assert!(
        matches!(err, Error::KeyLimit { max_keys: m } if m == max_keys),
        "{err}"
    );
    // The tables that overflowed were sent as that fact alone: no slot grew
    // for them (growing is what ran a second round before the error).
    assert_eq!(pool.slot_bytes(), slots, "slots grew for a failed job");
    assert!(
        held_peak < one_table && chunk_peak < one_table,
        "coordinator peaks of {held_peak} (held) and {chunk_peak} (per chunk) bytes, \
         against {one_table} bytes of keys in one full table"
    );
    // A limit that fits gives every key.
    let ok = pool
        .on(&text)
        .records(Delimiters::LINES)
        .max_keys(keys)
        .keyed(Sum, |lines, out| {
            lines.iter().for_each(|l| out.emit(l, 1_u64))
        })
        .unwrap();
    assert_eq!(ok.len(), keys);
}

/// The most bytes live in a worker while a small keyed job maps, each
/// chunk's mapper saying what its process holds (as the value of key 0,
/// kept by `Max`; a float, so one table per chunk, as the size hint is for).
fn small_job_worker_bytes(pool: &shmr::Pool, small: &SharedArray<u32, ndarray::Ix1>) -> f64 {
    let got = pool
        .on(small)
        .chunk_size(ChunkSize::Rows(100))
        .keyed(Max, |_chunk, out| {
            out.emit(&0_u32, LIVE.load(Ordering::Relaxed) as f64)
        })
        .unwrap();
    *got.get(&0).unwrap()
}

#[test]
fn a_job_with_a_million_keys_per_chunk_leaves_no_trace_on_the_next() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let small = SharedArray::from_array(&Array1::from_iter(0..2000_u32)).unwrap();
    let pool = pool(2);
    let before = small_job_worker_bytes(&pool, &small);
    // One chunk of a million distinct keys per worker's table.
    let n = 1_000_000_u64;
    let big = SharedArray::from_array(&Array1::from_iter(0..2 * n)).unwrap();
    let sums = pool
        .on(&big)
        .chunk_size(ChunkSize::Rows(n as usize))
        .keyed(Sum, |chunk, out| {
            chunk.iter().for_each(|k| out.emit(k, 0.5_f64))
        })
        .unwrap();
    assert_eq!(sums.len(), 2 * n as usize);
    drop(sums);
    let after = small_job_worker_bytes(&pool, &small);
    // A table sized for a million keys is tens of megabytes; the small
    // job's tables after the big job are what they were before it.
    assert!(
        after < before + 1e6,
        "a worker held {before} bytes in the small job before the big one, {after} after"
    );
}
