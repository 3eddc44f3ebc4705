//! `fold`: one accumulator per worker, merged in the coordinator, against
//! sequential loops, for 1, 2 and 3 workers; over one array, over arrays
//! read together and side arrays; with accumulators larger than a slot;
//! and with a worker that dies in the middle of its fold.

mod common;
use common::{Rng, pool_with_rows};
use ndarray::{Array1, Array2};
use shmr::SharedArray;
use std::time::Duration;

shmr::test_worker!();

/// Integer summaries that merge exactly, in any order: the fold's result
/// must be bit-identical for any number of workers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tally {
    count: u64,
    sum: i128,
    min: i64,
    max: i64,
    odd: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            count: 0,
            sum: 0,
            min: i64::MAX,
            max: i64::MIN,
            odd: 0,
        }
    }
    fn add(&mut self, x: i64) {
        self.count += 1;
        self.sum += x as i128;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.odd += (x % 2 != 0) as u64;
    }
    fn merge(mut self, o: Tally) -> Tally {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.odd += o.odd;
        self
    }
}

fn ints(n: usize, seed: u64) -> Vec<i64> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| (r.next_u64() % 2_000_001) as i64 - 1_000_000)
        .collect()
}

#[test]
fn a_fold_over_one_array_is_the_sequential_tally_for_any_worker_count() {
    let xs = ints(100_003, 1);
    let a = SharedArray::from_array(&Array1::from(xs.clone())).unwrap();
    let mut want = Tally::new();
    xs.iter().for_each(|&x| want.add(x));
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 1000);
        let (got, report) = pool
            .on(&a)
            .reported()
            .fold(
                Tally::new,
                |t, c| c.iter().for_each(|&x| t.add(x)),
                Tally::merge,
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
        assert_eq!(report.chunks, 101);
    }
}

/// The group-by the issue names: keys and values read together, sums and
/// counts per key in dense vectors, with the number of groups as the
/// parameters.
#[test]
fn a_dense_group_by_over_two_arrays_is_the_sequential_one() {
    let n = 200_000;
    let groups = 1000_usize;
    let mut r = Rng::new(2);
    let keys: Vec<u32> = (0..n)
        .map(|_| (r.next_u64() % groups as u64) as u32)
        .collect();
    let values = ints(n, 3);
    let (mut want_sums, mut want_counts) = (vec![0_i64; groups], vec![0_u64; groups]);
    for (&k, &v) in keys.iter().zip(&values) {
        want_sums[k as usize] += v;
        want_counts[k as usize] += 1;
    }
    let k = SharedArray::from_array(&Array1::from(keys)).unwrap();
    let v = SharedArray::from_array(&Array1::from(values)).unwrap();
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 7919);
        let (sums, counts) = pool
            .on(&k)
            .and(&v)
            .params(groups)
            .fold(
                |&g| (vec![0_i64; g], vec![0_u64; g]),
                |_, (sums, counts), (k, v)| {
                    for (&k, &v) in k.iter().zip(v) {
                        sums[k as usize] += v;
                        counts[k as usize] += 1;
                    }
                },
                |(mut s, mut c), (s2, c2)| {
                    s.iter_mut().zip(s2).for_each(|(a, b)| *a += b);
                    c.iter_mut().zip(c2).for_each(|(a, b)| *a += b);
                    (s, c)
                },
            )
            .unwrap();
        assert_eq!(sums, want_sums, "{workers} workers");
        assert_eq!(counts, want_counts, "{workers} workers");
    }
}

/// The same group-by into a `DenseTable` (keys 0..n in a vector), with
/// some keys never seen: their entries stay empty; and a key outside the
/// table is an error naming it, not a count lost.
#[test]
fn a_dense_table_is_the_sequential_group_by_and_refuses_keys_outside_it() {
    use shmr::keyed::{Count, DenseTable, Max, Sum};
    let n = 150_000;
    let groups = 1000_usize;
    let mut r = Rng::new(8);
    // Only even keys: the odd ones stay without a value.
    let keys: Vec<u32> = (0..n)
        .map(|_| 2 * (r.next_u64() % (groups as u64 / 2)) as u32)
        .collect();
    let values = ints(n, 9);
    let mut want = vec![None::<(i64, u64, i64)>; groups];
    for (&k, &v) in keys.iter().zip(&values) {
        let e = want[k as usize].get_or_insert((0, 0, i64::MIN));
        *e = (e.0 + v, e.1 + 1, e.2.max(v));
    }
    let k = SharedArray::from_array(&Array1::from(keys)).unwrap();
    let v = SharedArray::from_array(&Array1::from(values)).unwrap();
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 4999);
        let job = || pool.on(&k).and(&v).params(groups);
        let got = job()
            .fold(
                |&g| DenseTable::new(g, (Sum, Count, Max)),
                |_, t, (k, v)| {
                    k.iter()
                        .zip(v)
                        .for_each(|(&k, &v)| t.emit(k as usize, (v, 1_u64, v)))
                },
                DenseTable::merge,
            )
            .unwrap();
        assert_eq!(got.keys(), groups);
        // Even keys were seen, odd ones never; nothing past the table.
        assert_eq!(got.get(2).copied(), want[2], "{workers} workers");
        assert_eq!((got.get(1), got.get(groups)), (None, None));
        let keyed = got.clone().into_keyed().unwrap();
        assert_eq!(keyed.len(), groups / 2, "{workers} workers");
        assert_eq!(got.into_vec().unwrap(), want, "{workers} workers");
        // One table too small by one: the largest key is outside it.
        let err = job()
            .fold(
                |&g| DenseTable::new(g - 2, Sum),
                |_, t, (k, v)| k.iter().zip(v).for_each(|(&k, &v)| t.emit(k as usize, v)),
                DenseTable::merge,
            )
            .unwrap()
            .into_vec()
            .unwrap_err();
        assert!(
            matches!(
                err,
                shmr::Error::KeyOutOfRange {
                    key: 998,
                    keys: 998
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("0..998"), "{err}");
    }
}

/// A side array seen whole by every step: a lookup table of weights.
#[test]
fn a_fold_reads_side_arrays_whole() {
    let n = 50_000;
    let xs: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
    let weights: Vec<i64> = (0..256).map(|i| i * i - 100).collect();
    let want: i64 = xs.iter().map(|&x| weights[x as usize]).sum();
    let a = SharedArray::from_array(&Array1::from(xs)).unwrap();
    let w = SharedArray::from_array(&Array1::from(weights)).unwrap();
    for workers in [1, 3] {
        let pool = pool_with_rows(workers, 999);
        let got = pool
            .on(&a)
            .side(&w)
            .fold(
                || 0_i64,
                |acc, (c, w)| *acc += c.iter().map(|&x| w[x as usize]).sum::<i64>(),
                |a, b| a + b,
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
    }
}

/// A float fold is close to the sequential sum, not bit-identical (the
/// docs say so): which chunks each worker adds depends on timing.
#[test]
fn a_float_fold_agrees_with_the_sequential_sum_to_rounding() {
    let mut r = Rng::new(4);
    let xs: Vec<f64> = (0..300_000).map(|_| r.normal()).collect();
    let want: f64 = xs.iter().sum();
    let scale: f64 = xs.iter().map(|x| x.abs()).sum();
    let a = SharedArray::from_array(&Array1::from(xs)).unwrap();
    for workers in [1, 2, 3] {
        let pool = pool_with_rows(workers, 4096);
        let got = pool
            .on(&a)
            .fold(|| 0.0_f64, |acc, c| *acc += c.sum(), |a, b| a + b)
            .unwrap();
        common::assert_close(got, want, scale, 1e-12, "float fold");
    }
}

/// An accumulator many times the slot's ring crosses in pieces: the
/// slots do not grow, and the result is whole.
#[test]
fn an_accumulator_larger_than_a_slot_crosses_in_pieces_without_growing_it() {
    let rows = 20_000;
    let cols = 64;
    let m = Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17) % 1000) as u32);
    let mut want = vec![0_u64; 1 << 16];
    for &x in m.iter() {
        want[(x * 61 % (1 << 16)) as usize] += 1;
    }
    let a = SharedArray::from_array(&m).unwrap();
    for workers in [1, 2] {
        // A 512 KiB accumulator (65536 counters) through 64 KiB slots.
        let pool = shmr::Pool::builder()
            .workers(workers)
            .slot_bytes(64 << 10)
            .chunk_size(shmr::ChunkSize::Rows(1500))
            .start_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let (got, report) = pool
            .on(&a)
            .reported()
            .fold(
                || vec![0_u64; 1 << 16],
                |acc, c| {
                    c.iter()
                        .for_each(|&x| acc[(x * 61 % (1 << 16)) as usize] += 1)
                },
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
            .unwrap();
        assert_eq!(got, want, "{workers} workers");
        assert_eq!(report.slots_grown, 0, "{workers} workers");
        assert_eq!(pool.slot_bytes(), 64 << 10);
    }
}

/// A worker that dies in the middle of its fold loses its accumulator;
/// every chunk it had folded is folded again, so nothing is lost or
/// counted twice.
#[test]
fn a_worker_killed_mid_fold_loses_nothing() {
    let xs = ints(60_000, 5);
    let mut want = Tally::new();
    xs.iter().for_each(|&x| want.add(x));
    // The value whose chunk kills the first worker to fold it, late in
    // the array, so that the dying worker has folded other chunks first.
    let fatal = xs[45_000];
    let a = SharedArray::from_array(&Array1::from(xs)).unwrap();
    for workers in [1, 2, 3] {
        let dir = common::scratch_dir(&format!("fold-death-{workers}"));
        let marker = dir.join("died").display().to_string();
        let pool = pool_with_rows(workers, 1000);
        let (got, report) = pool
            .on(&a)
            .params((marker.clone(), fatal))
            .reported()
            .fold(
                |_| Tally::new(),
                |(marker, fatal), t, c| {
                    for &x in c {
                        if x == *fatal && std::fs::File::create_new(marker).is_ok() {
                            std::process::abort();
                        }
                        t.add(x);
                    }
                },
                Tally::merge,
            )
            .unwrap();
        assert!(std::path::Path::new(&marker).exists(), "no worker died");
        assert_eq!(report.workers_replaced, 1, "{workers} workers");
        assert_eq!(got, want, "{workers} workers");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A start or a step that panics is the mapper's error, naming a chunk;
/// a merge that panics is the reducer's; the pool stays usable.
#[test]
fn a_panicking_start_step_or_merge_is_an_error_and_the_pool_lives_on() {
    let a = SharedArray::from_array(&Array1::from_iter(0..10_000_i64)).unwrap();
    let pool = pool_with_rows(2, 1000);
    let start = pool
        .on(&a)
        .fold(
            || -> i64 { panic!("no start") },
            |acc, c| *acc += c.sum(),
            |a, b| a + b,
        )
        .unwrap_err();
    assert!(
        matches!(&start, shmr::Error::MapperPanicked { message, .. } if message.contains("no start")),
        "{start}"
    );
    let step = pool
        .on(&a)
        .fold(
            || 0_i64,
            |_, c| assert!(c[0] != 5000, "step at 5000"),
            |a, b| a + b,
        )
        .unwrap_err();
    assert!(
        matches!(&step, shmr::Error::MapperPanicked { message, rows, .. }
            if message.contains("step at 5000") && rows.start == 5000),
        "{step}"
    );
    // Both workers must fold a chunk for a merge to happen: each step
    // waits until both have started one (each leaves a file named by its
    // pid), so neither can fold every chunk alone.
    let dir = common::scratch_dir("fold-merge-panics");
    let merge = pool
        .on(&a)
        .params(dir.display().to_string())
        .fold(
            |_| 0_i64,
            |dir, acc, c| {
                let _ = std::fs::File::create(format!("{dir}/{}", std::process::id()));
                let both = || std::fs::read_dir(dir).map_or(0, |d| d.count()) >= 2;
                let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while !both() && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                *acc += c.sum()
            },
            |_, _| panic!("no merge"),
        )
        .unwrap_err();
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        matches!(&merge, shmr::Error::ReducerPanicked { message } if message.contains("no merge")),
        "{merge}"
    );
    let sum = pool
        .on(&a)
        .fold(|| 0_i64, |acc, c| *acc += c.sum(), |a, b| a + b)
        .unwrap();
    assert_eq!(sum, (0..10_000).sum::<i64>());
}

/// The report counts the partials' bytes: a fold sends one accumulator
/// per worker, a map_reduce one per chunk, so a partial larger than its
/// chunk shows there rather than only in the time taken.
#[test]
fn the_report_shows_partials_larger_than_their_chunks() {
    let groups = 2000_usize;
    let keys: Vec<u16> = (0..100_000).map(|i| (i * 7 % groups) as u16).collect();
    let k = SharedArray::from_array(&Array1::from(keys)).unwrap();
    let workers = 2;
    let pool = pool_with_rows(workers, 1000);
    fn counted(acc: &mut [u64], c: ndarray::ArrayView1<'_, u16>) {
        c.iter().for_each(|&k| acc[k as usize] += 1)
    }
    fn add(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        a
    }
    let (folded, fold) = pool
        .on(&k)
        .params(groups)
        .reported()
        .fold(|&g| vec![0_u64; g], |_, acc, c| counted(acc, c), add)
        .unwrap();
    let (mapped, per_chunk) = pool
        .on(&k)
        .params(groups)
        .reported()
        .map_reduce(
            |&g, c| {
                let mut acc = vec![0_u64; g];
                counted(&mut acc, c);
                acc
            },
            add,
        )
        .unwrap();
    assert_eq!(folded, mapped);
    assert_eq!(folded.iter().sum::<u64>(), 100_000);
    // Each counter takes one to ten bytes encoded; the per-chunk job
    // sends 100 partials, the fold at most one per worker.
    assert_eq!(per_chunk.chunks, 100);
    assert!(
        per_chunk.partial_bytes >= 100 * groups as u64,
        "{per_chunk:?}"
    );
    assert!(fold.partial_bytes >= groups as u64, "{fold:?}");
    assert!(
        fold.partial_bytes <= workers as u64 * (10 * groups as u64 + 64),
        "{fold:?}"
    );
}
