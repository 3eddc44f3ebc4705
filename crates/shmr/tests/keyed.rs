//! Records and keyed jobs with real workers, each checked against a
//! sequential computation: records that straddle every chunk boundary and
//! records longer than a chunk are each seen once, whole; keyed results are
//! identical for 1, 2 and 3 workers, also with a combiner that depends on
//! order; a key table that outgrows its limit is a clear error.

mod common;
use common::{Rng, pool};
use ndarray::Array1;
use serde::{Deserialize, Serialize};
use shmr::builtin::WordCounts;
use shmr::keyed::{Combiner, Delimiters, Keyed, Max, Min, Sum};
use shmr::{ChunkSize, Error, SharedArray};
use shmr_bench::text::{Layout, Zipf, generate};
use std::collections::BTreeMap;

shmr::test_worker!();

fn shared(bytes: &[u8]) -> SharedArray<u8, ndarray::Ix1> {
    SharedArray::from_array(&Array1::from_vec(bytes.to_vec())).unwrap()
}

/// Random words of a small alphabet (so they repeat) between runs of
/// random separators.
fn words_text(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng::new(seed);
    let mut t = Vec::with_capacity(len + 32);
    while t.len() < len {
        for _ in 0..1 + r.next_u64() % 12 {
            t.push(b"abcde"[(r.next_u64() % 5) as usize]);
        }
        for _ in 0..1 + r.next_u64() % 3 {
            t.push(b" \t\n"[(r.next_u64() % 3) as usize]);
        }
    }
    t
}

/// The sequential answer: each whitespace-separated word and its count.
fn counted(text: &[u8]) -> Vec<(Vec<u8>, u64)> {
    let mut m = BTreeMap::new();
    for w in text
        .split(|b| b" \t\r\n".contains(b))
        .filter(|w| !w.is_empty())
    {
        *m.entry(w.to_vec()).or_insert(0_u64) += 1;
    }
    m.into_iter().collect()
}

fn word_count(
    pool: &shmr::Pool,
    text: &SharedArray<u8, ndarray::Ix1>,
    chunk: usize,
) -> Keyed<Vec<u8>, u64> {
    pool.on(text)
        .records(Delimiters::WHITESPACE)
        .chunk_size(ChunkSize::Bytes(chunk))
        .keyed(Sum, |words, out| {
            for w in words.iter() {
                out.emit(w, 1);
            }
        })
        .unwrap()
}

#[test]
fn records_that_straddle_every_boundary_are_seen_once_whole() {
    let pool = pool(2);
    let text = words_text(20_000, 1);
    let want = counted(&text);
    let records = want.iter().map(|(_, n)| n).sum::<u64>();
    let a = shared(&text);
    // Chunks from one byte (every record straddles) to the whole text.
    for chunk in [1, 2, 3, 7, 64, 999, 20_000, 1 << 20] {
        assert_eq!(
            word_count(&pool, &a, chunk).into_vec(),
            want,
            "chunk {chunk}"
        );
        // Each chunk's records are whole and tile the text: their count,
        // and their offsets and lengths, as a plain reduction.
        let (n, tiles) = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(chunk))
            .map_reduce(
                |r| {
                    (
                        r.iter().count() as u64,
                        vec![(r.offset(), r.as_bytes().len())],
                    )
                },
                |mut a, b| {
                    a.0 += b.0;
                    a.1.extend(b.1);
                    a
                },
            )
            .unwrap();
        assert_eq!(n, records, "chunk {chunk}");
        // (A chunk inside a long record is empty, and where it says it is
        // does not matter: it is not looked for past its own end.)
        let mut at = 0;
        for (offset, len) in tiles.into_iter().filter(|&(_, len)| len > 0) {
            assert_eq!(offset, at, "chunk {chunk}");
            at += len;
        }
        assert_eq!(at, text.len());
    }
}

#[test]
fn records_longer_than_a_chunk_are_seen_once_whole() {
    let pool = pool(2);
    let mut r = Rng::new(2);
    let mut text = Vec::new();
    let mut lines = Vec::new();
    for i in 0..60 {
        // Lines of 0 to 5000 bytes; the line's key is its first byte.
        let len = (r.next_u64() % 5000) as usize;
        let line: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        text.extend_from_slice(&line);
        text.push(b'\n');
        lines.push(line);
    }
    let a = shared(&text);
    let mut want: BTreeMap<u8, (u64, usize)> = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.is_empty()) {
        let e = want.entry(l[0]).or_insert((0, 0));
        e.0 += 1;
        e.1 = e.1.max(l.len());
    }
    for chunk in [100, 999, 4096] {
        let counts = pool
            .on(&a)
            .records(Delimiters::LINES)
            .chunk_size(ChunkSize::Bytes(chunk))
            .keyed(Sum, |lines, out| {
                for l in lines.iter() {
                    out.emit(&l[0], 1_u64);
                }
            })
            .unwrap();
        let longest = pool
            .on(&a)
            .records(Delimiters::LINES)
            .chunk_size(ChunkSize::Bytes(chunk))
            .keyed(Max, |lines, out| {
                for l in lines.iter() {
                    out.emit(&l[0], l.len());
                }
            })
            .unwrap();
        let got: Vec<(u8, (u64, usize))> = counts
            .iter()
            .zip(longest.iter())
            .map(|(&(k, n), &(k2, m))| {
                assert_eq!(k, k2);
                (k, (n, m))
            })
            .collect();
        assert_eq!(
            got,
            want.clone().into_iter().collect::<Vec<_>>(),
            "chunk {chunk}"
        );
    }
}

/// Keeps the first value of a key: depends on the order values come in.
#[derive(Clone, Serialize, Deserialize)]
struct First;
impl Combiner<u64> for First {
    fn combine(&self, _acc: &mut u64, _value: u64) {}
}

fn zipf_text(len: usize) -> Vec<u8> {
    let mut t = vec![0; len];
    generate(len, &Zipf::new(20_000, 1.0), Layout::Prose, &[], 9, &mut t);
    t
}

#[test]
fn keys_are_identical_for_one_two_and_three_workers() {
    let text = zipf_text(3 << 20);
    let a = shared(&text);
    let want = counted(&text);
    // Floating-point sums depend on order: equal bits say the order is.
    let mut first = None;
    for workers in [1, 2, 3] {
        let pool = pool(workers);
        let counts = word_count(&pool, &a, 64 << 10);
        assert_eq!(counts.as_slice(), &want[..], "{workers} workers");
        let weights = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(64 << 10))
            .keyed(Sum, |words, out| {
                for w in words.iter() {
                    out.emit(&w[..1], 1.0 / w.len() as f64 + 0.1);
                }
            })
            .unwrap();
        let bits: Vec<(Vec<u8>, u64)> =
            weights.into_iter().map(|(k, v)| (k, v.to_bits())).collect();
        match &first {
            None => first = Some((counts, bits)),
            Some((c, b)) => assert_eq!((c, b), (&counts, &bits), "{workers} workers"),
        }
    }
}

#[test]
fn combiners_that_are_not_sums() {
    let pool = pool(3);
    let text = words_text(50_000, 4);
    let a = shared(&text);
    // Where each word first occurs: a combiner that keeps the first value
    // is right only if values come in the order of the input.
    let mut first_at: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut shortest_line: BTreeMap<u8, usize> = BTreeMap::new();
    let mut at = 0;
    for w in text.split(|b| b" \t\r\n".contains(b)) {
        if !w.is_empty() {
            first_at.entry(w.to_vec()).or_insert(at as u64);
        }
        at += w.len() + 1;
    }
    for l in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let e = shortest_line.entry(l[0]).or_insert(usize::MAX);
        *e = (*e).min(l.len());
    }
    let got = pool
        .on(&a)
        .records(Delimiters::new(b" \t\r\n"))
        .chunk_size(ChunkSize::Bytes(500))
        .keyed(First, |words, out| {
            let base = words.as_bytes().as_ptr() as usize;
            for w in words.iter() {
                let at = words.offset() + (w.as_ptr() as usize - base);
                out.emit(w, at as u64);
            }
        })
        .unwrap();
    assert_eq!(got.into_vec(), first_at.into_iter().collect::<Vec<_>>());
    let got = pool
        .on(&a)
        .records(Delimiters::LINES)
        .chunk_size(ChunkSize::Bytes(333))
        .keyed(Min, |lines, out| {
            for l in lines.iter() {
                out.emit(&l[0], l.len());
            }
        })
        .unwrap();
    assert_eq!(
        got.into_vec(),
        shortest_line.into_iter().collect::<Vec<_>>()
    );
}

#[test]
fn a_key_table_that_outgrows_its_limit_is_a_clear_error() {
    let pool = pool(2);
    // 2000 distinct numbers, each once.
    let text: Vec<u8> = (0..2000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let a = shared(&text);
    let count = |max_keys: usize, chunk: usize| {
        pool.on(&a)
            .records(Delimiters::LINES)
            .chunk_size(ChunkSize::Bytes(chunk))
            .max_keys(max_keys)
            .keyed(Sum, |lines, out| {
                lines.iter().for_each(|l| out.emit(l, 1_u32))
            })
    };
    // Too many in one chunk's table (one chunk), and too many only once
    // the chunks' tables are merged (small chunks).
    for chunk in [1 << 20, 64] {
        let err = count(500, chunk).unwrap_err();
        assert!(matches!(err, Error::KeyLimit { max_keys: 500 }), "{err}");
        assert!(err.to_string().contains("max_keys"), "{err}");
    }
    // The pool is fine, and a limit that fits gives the answer.
    let ok = count(2000, 64).unwrap();
    assert_eq!(ok.len(), 2000);
    assert!(ok.iter().all(|(_, n)| *n == 1));
}

#[test]
fn integer_keys_over_an_array() {
    let pool = pool(2);
    let mut r = Rng::new(5);
    let rows: Vec<(u32, i64)> = (0..100_000)
        .map(|_| {
            (
                (r.next_u64() % 1000) as u32,
                (r.next_u64() % 2001) as i64 - 1000,
            )
        })
        .collect();
    let ids = SharedArray::from_array(&Array1::from_iter(rows.iter().map(|r| r.0))).unwrap();
    let mut want: BTreeMap<u32, u64> = BTreeMap::new();
    for &(id, _) in &rows {
        *want.entry(id).or_insert(0) += 1;
    }
    let got = pool
        .on(&ids)
        .chunk_size(ChunkSize::Rows(777))
        .keyed(Sum, |chunk, out| {
            chunk.iter().for_each(|id| out.emit(id, 1_u64))
        })
        .unwrap();
    assert_eq!(got.into_vec(), want.into_iter().collect::<Vec<_>>());
}

#[test]
fn no_delimiters_is_refused_and_one_record_without_delimiter_is_whole() {
    let pool = pool(2);
    let a = shared(b"abc def");
    let err = pool
        .on(&a)
        .records(Delimiters::new(b""))
        .keyed(Sum, |r, out| r.iter().for_each(|w| out.emit(w, 1_u8)))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    // The last record needs no delimiter.
    let got = word_count(&pool, &a, 2);
    assert_eq!(
        got.into_vec(),
        vec![(b"abc".to_vec(), 1), (b"def".to_vec(), 1)]
    );
}

/// A pool whose result slots are 16 KiB: far smaller than a worker's table
/// of a few thousand words.
fn small_slots(workers: usize) -> shmr::Pool {
    shmr::Pool::builder()
        .workers(workers)
        .slot_bytes(16 << 10)
        .max_slot_bytes(16 << 10)
        .build()
        .unwrap()
}

#[test]
fn a_workers_table_larger_than_its_slot_arrives_in_parts() {
    // Integer sums are order-free: each worker keeps one table for all its
    // chunks and writes it in parts through a slot too small to hold it
    // (slots may not grow here, so a table written whole would fail).
    let text = zipf_text(2 << 20);
    let a = shared(&text);
    let want = counted(&text);
    assert!(want.len() > 5000, "{} distinct words", want.len());
    for workers in [1, 2, 3] {
        let pool = small_slots(workers);
        let (counts, report) = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(64 << 10))
            .reported()
            .keyed(Sum, |words, out| {
                words.iter().for_each(|w| out.emit(w, 1_u64))
            })
            .unwrap();
        assert_eq!(counts.as_slice(), &want[..], "{workers} workers");
        assert_eq!(report.slots_grown, 0);
        assert_eq!(pool.slot_bytes(), 16 << 10);
    }
}

/// The word whose chunk brings its worker down, once.
const FATAL: &[u8] = b"zzfatal";

#[test]
fn a_worker_that_dies_holding_its_table_loses_no_count() {
    // The word appears once, late in the text: the worker that maps it has
    // mapped other chunks before, all held in its one table.
    let mut text = zipf_text(1 << 20);
    let at = text.len() * 3 / 4;
    let at = at + text[at..].iter().position(|&b| b == b' ').unwrap();
    text.splice(at..at, [b" ", FATAL, b" "].concat());
    let a = shared(&text);
    let want = counted(&text);
    for workers in [1, 2] {
        let dir = common::scratch_dir(&format!("held-death-{workers}"));
        let marker = dir.join("died").display().to_string();
        let pool = pool(workers);
        let (counts, report) = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(32 << 10))
            .params(marker.clone())
            .reported()
            .keyed(Sum, |marker, words, out| {
                for w in words.iter() {
                    if w == FATAL && std::fs::File::create_new(marker).is_ok() {
                        std::process::abort();
                    }
                    out.emit(w, 1_u64);
                }
            })
            .unwrap();
        assert!(std::path::Path::new(&marker).exists(), "no worker died");
        assert_eq!(report.workers_replaced, 1);
        assert_eq!(counts.as_slice(), &want[..], "{workers} workers");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A group-by over two arrays read together, as pandas writes
/// `groupby(keys).sum()`: the sums and maxima of each key equal the
/// sequential ones for 1, 2 and 3 workers, with a table per worker and a
/// table per chunk alike; a side array is seen whole by every mapper.
#[test]
fn a_keyed_job_reads_keys_and_values_together_and_side_arrays_whole() {
    use shmr::keyed::Tables;
    let n = 60_000;
    let mut r = Rng::new(11);
    let keys: Vec<u32> = (0..n).map(|_| (r.next_u64() % 3000) as u32).collect();
    let values: Vec<i64> = (0..n)
        .map(|_| (r.next_u64() % 10_000) as i64 - 5000)
        .collect();
    let scale = vec![3_i64];
    let mut sums = BTreeMap::new();
    let mut maxima = BTreeMap::new();
    for (&k, &v) in keys.iter().zip(&values) {
        *sums.entry(k).or_insert(0_i64) += 3 * v;
        let m = maxima.entry(k).or_insert(i64::MIN);
        *m = (*m).max(v);
    }
    let want_sums: Vec<(u32, i64)> = sums.into_iter().collect();
    let want_max: Vec<(u32, i64)> = maxima.into_iter().collect();
    let (k, v) = (
        SharedArray::from_array(&Array1::from(keys)).unwrap(),
        SharedArray::from_array(&Array1::from(values)).unwrap(),
    );
    let s = SharedArray::from_array(&Array1::from(scale)).unwrap();
    for workers in [1, 2, 3] {
        let pool = common::pool_with_rows(workers, 1777);
        for tables in [Tables::PerWorker, Tables::PerChunk] {
            let got: Keyed<u32, i64> = pool
                .on(&k)
                .and(&v)
                .side(&s)
                .tables(tables)
                .keyed(Sum, |(k, v, s), out| {
                    for (k, &v) in k.iter().zip(v) {
                        out.emit(k, s[0] * v);
                    }
                })
                .unwrap();
            assert_eq!(
                got.as_slice(),
                &want_sums[..],
                "{workers} workers, {tables:?}"
            );
        }
        let got = pool
            .on(&k)
            .and(&v)
            .params(0_i64)
            .keyed(Max, |&base, (k, v), out| {
                for (k, &v) in k.iter().zip(v) {
                    out.emit(k, base + v);
                }
            })
            .unwrap();
        assert_eq!(got.as_slice(), &want_max[..], "{workers} workers");
    }
}

/// Float sums per key with a table per chunk are merged in chunk order:
/// the same bits for 1, 2 and 3 workers, and close to the sequential sums.
#[test]
fn keyed_float_sums_over_two_arrays_have_the_same_bits_for_any_worker_count() {
    let n = 50_000;
    let mut r = Rng::new(12);
    let keys: Vec<u16> = (0..n).map(|_| (r.next_u64() % 500) as u16).collect();
    let values: Vec<f64> = (0..n).map(|_| r.normal()).collect();
    let mut want: BTreeMap<u16, f64> = BTreeMap::new();
    for (&k, &v) in keys.iter().zip(&values) {
        *want.entry(k).or_insert(0.0) += v;
    }
    let (k, v) = (
        SharedArray::from_array(&Array1::from(keys)).unwrap(),
        SharedArray::from_array(&Array1::from(values)).unwrap(),
    );
    let mut first: Option<Vec<(u16, u64)>> = None;
    for workers in [1, 2, 3] {
        let pool = common::pool_with_rows(workers, 997);
        let got: Keyed<u16, f64> = pool
            .on(&k)
            .and(&v)
            .keyed(Sum, |(k, v), out| {
                for (k, &v) in k.iter().zip(v) {
                    out.emit(k, v);
                }
            })
            .unwrap();
        let bits: Vec<(u16, u64)> = got.iter().map(|(k, v)| (*k, v.to_bits())).collect();
        assert_eq!(got.len(), want.len());
        for ((gk, gv), (wk, wv)) in got.iter().zip(&want) {
            assert_eq!(gk, wk);
            assert!((gv - wv).abs() < 1e-9, "key {gk}: {gv} against {wv}");
        }
        match &first {
            None => first = Some(bits),
            Some(f) => assert_eq!(&bits, f, "{workers} workers"),
        }
    }
}

/// A fold over records: several results in one pass (the words, their
/// total length and the longest), each record seen once, whole, for 1, 2
/// and 3 workers and chunks that cut words everywhere.
#[test]
fn a_fold_over_records_sees_every_record_once_whole() {
    let text = words_text(200_000, 13);
    let words: Vec<&[u8]> = text
        .split(|b| b" \t\n".contains(b))
        .filter(|w| !w.is_empty())
        .collect();
    let want = (
        words.len() as u64,
        words.iter().map(|w| w.len() as u64).sum::<u64>(),
        words.iter().map(|w| w.len()).max().unwrap() as u64,
    );
    let a = shared(&text);
    for workers in [1, 2, 3] {
        let pool = pool(workers);
        let got = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(997))
            .fold(
                || (0_u64, 0_u64, 0_u64),
                |(n, bytes, longest), words| {
                    for w in words.iter() {
                        *n += 1;
                        *bytes += w.len() as u64;
                        *longest = (*longest).max(w.len() as u64);
                    }
                },
                |a, b| (a.0 + b.0, a.1 + b.1, a.2.max(b.2)),
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
        // With parameters: words of at least `min` bytes.
        let long = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(1009))
            .params(8_usize)
            .fold(
                |_| 0_u64,
                |&min, n, words| *n += words.iter().filter(|w| w.len() >= min).count() as u64,
                |a, b| a + b,
            )
            .unwrap();
        assert_eq!(long, words.iter().filter(|w| w.len() >= 8).count() as u64);
    }
}

/// Means per key (`Mean` values under `Sum`): counts exact, means close
/// to the sequential ones, and the same bits for 1, 2 and 3 workers.
#[test]
fn keyed_means_over_two_arrays_match_the_sequential_ones() {
    use shmr::keyed::Mean;
    let n = 40_000;
    let mut r = Rng::new(14);
    let keys: Vec<u32> = (0..n).map(|_| (r.next_u64() % 300) as u32).collect();
    let values: Vec<f64> = (0..n).map(|_| r.normal() * 10.0).collect();
    let mut want: BTreeMap<u32, (f64, u64)> = BTreeMap::new();
    for (&k, &v) in keys.iter().zip(&values) {
        let e = want.entry(k).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    let (k, v) = (
        SharedArray::from_array(&Array1::from(keys)).unwrap(),
        SharedArray::from_array(&Array1::from(values)).unwrap(),
    );
    let mut first: Option<Vec<(u32, u64)>> = None;
    for workers in [1, 2, 3] {
        let pool = common::pool_with_rows(workers, 1201);
        let got = pool
            .on(&k)
            .and(&v)
            .keyed(Sum, |(k, v), out| {
                k.iter().zip(v).for_each(|(k, &v)| out.emit(k, Mean::of(v)))
            })
            .unwrap();
        assert_eq!(got.len(), want.len());
        for ((gk, gm), (wk, (ws, wc))) in got.iter().zip(&want) {
            assert_eq!((gk, gm.count()), (wk, *wc));
            assert!((gm.mean() - ws / *wc as f64).abs() < 1e-9, "key {gk}");
        }
        let bits: Vec<(u32, u64)> = got.iter().map(|(k, m)| (*k, m.mean().to_bits())).collect();
        match &first {
            None => first = Some(bits),
            Some(f) => assert_eq!(&bits, f, "{workers} workers"),
        }
    }
}

/// Several typed tables in one pass: a fold whose accumulator is two
/// `KeyedTable`s, word counts (`Sum`) and the longest word per first
/// letter (`Max`), equal to the sequential ones for 1, 2 and 3 workers;
/// a table past its key limit says so.
#[test]
fn a_fold_fills_several_keyed_tables_in_one_pass() {
    use shmr::keyed::KeyedTable;
    let text = words_text(150_000, 15);
    let want_counts = counted(&text);
    let mut want_longest: BTreeMap<u8, u64> = BTreeMap::new();
    for w in text
        .split(|b| b" \t\n".contains(b))
        .filter(|w| !w.is_empty())
    {
        let e = want_longest.entry(w[0]).or_insert(0);
        *e = (*e).max(w.len() as u64);
    }
    let want_longest: Vec<(u8, u64)> = want_longest.into_iter().collect();
    let a = shared(&text);
    for workers in [1, 2, 3] {
        let pool = pool(workers);
        let (counts, longest) = pool
            .on(&a)
            .records(Delimiters::WHITESPACE)
            .chunk_size(ChunkSize::Bytes(4096))
            .fold(
                || (KeyedTable::new(Sum), KeyedTable::new(Max)),
                |(counts, longest), words| {
                    for w in words.iter() {
                        counts.emit(w, 1_u64);
                        longest.emit(&w[0], w.len() as u64);
                    }
                },
                |(c1, l1), (c2, l2)| (c1.merge(c2), l1.merge(l2)),
            )
            .unwrap();
        let counts: Keyed<Vec<u8>, u64> = counts.into_keyed().unwrap();
        let longest: Keyed<u8, u64> = longest.into_keyed().unwrap();
        assert_eq!(counts.as_slice(), &want_counts[..], "{workers} workers");
        assert_eq!(longest.as_slice(), &want_longest[..], "{workers} workers");
    }
    // Five distinct first letters in a table of at most three keys.
    let pool = pool(2);
    let firsts = pool
        .on(&a)
        .records(Delimiters::WHITESPACE)
        .fold(
            || KeyedTable::with_max_keys(Sum, 3),
            |t, words| words.iter().for_each(|w| t.emit(&w[0], 1_u64)),
            KeyedTable::merge,
        )
        .unwrap();
    assert!(matches!(
        firsts.into_keyed(),
        Err(Error::KeyLimit { max_keys: 3 })
    ));
}

/// The built-in word count both ways, a keyed job with `count_words` and a
/// records `fold` into `WordCounts`, against a sequential `HashMap` count
/// with `for_each_word`, for 1, 2 and 3 workers: the same words, the same
/// counts, the same order.
#[test]
fn the_word_count_fold_is_the_keyed_word_count() {
    let mut text = zipf_text(3 << 20);
    // Words longer than a slot holds, and apostrophes, among them.
    text.extend_from_slice(b" Antidisestablishmentarianism isn't supercalifragilistic's ");
    let a = shared(&text);
    let mut want = std::collections::HashMap::<Vec<u8>, u64>::new();
    shmr::builtin::for_each_word(&text, |w| *want.entry(w.to_vec()).or_insert(0) += 1);
    let mut want: Vec<(Vec<u8>, u64)> = want.into_iter().collect();
    want.sort();
    for workers in [1, 2, 3] {
        let pool = pool(workers);
        let job = || {
            pool.on(&a)
                .records(Delimiters::WHITESPACE)
                .chunk_size(ChunkSize::Bytes(64 << 10))
        };
        let folded = job()
            .fold(WordCounts::new, WordCounts::add_records, WordCounts::merge)
            .unwrap();
        assert_eq!(folded.words(), want.iter().map(|(_, n)| n).sum::<u64>());
        let folded: Vec<(Vec<u8>, u64)> = folded
            .into_keyed()
            .into_iter()
            .map(|(w, n)| (w.to_vec(), n))
            .collect();
        assert_eq!(folded, want, "{workers} workers, fold");
        let keyed: Vec<(Vec<u8>, u64)> = job()
            .keyed(Sum, shmr::builtin::count_words)
            .unwrap()
            .into_iter()
            .map(|(w, n)| (w.to_vec(), n))
            .collect();
        assert_eq!(keyed, want, "{workers} workers, keyed");
    }
    assert!(
        want.iter()
            .any(|(w, _)| w == b"ANTIDISESTABLISHMENTARIANISM")
    );
}
