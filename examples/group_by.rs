//! A group-by over two arrays, as pandas' `df.groupby(keys).values.agg(["sum",
//! "count"])` computes it: `--rows` u32 keys in 0..`--groups` and f64
//! values, the sum and the count of the values of each key.
//!
//! With dense keys (known to lie in 0..groups) each worker folds its chunks
//! into one pair of vectors, merged once per worker (`fold`); checked
//! against a sequential loop (counts exactly, sums to rounding: a float
//! fold adds in another order) and timed against rayon's fold and reduce
//! over the same slices. `--map-reduce` also times the way the docs showed
//! before `fold`: a partial the size of all groups per chunk.
//!
//! cargo run --release --example group_by -- --rows 100000000 --groups 1000000

use clap::Parser;
use rayon::prelude::*;
use shmr::SharedArray;
use shmr::keyed::{Count, DenseTable, Sum};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

/// A group-by sum and count over keys and values, with shmr and rayon.
#[derive(Parser, Debug)]
struct Args {
    /// Rows (keys and values)
    #[arg(long, default_value = "100000000", value_parser = shmr_bench::whole_number)]
    rows: usize,
    /// Distinct keys: each key lies in 0..groups
    #[arg(long, default_value = "1000000", value_parser = shmr_bench::whole_number)]
    groups: usize,
    /// Timed runs of shmr and rayon, alternated (the median is reported)
    #[arg(long, default_value = "3")]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
    /// Also time map_reduce with a partial of all groups per chunk
    #[arg(long)]
    map_reduce: bool,
}

/// The sums and counts of every group.
type Groups = (Vec<f64>, Vec<u64>);

/// Folds rows into the groups (the step of every way below).
fn add_rows(acc: &mut Groups, keys: &[u32], values: &[f64]) {
    let (sums, counts) = acc;
    for (&k, &v) in keys.iter().zip(values) {
        sums[k as usize] += v;
        counts[k as usize] += 1;
    }
}

/// Merges the groups of `b` into `a`.
fn merge((mut sums, mut counts): Groups, (s, c): Groups) -> Groups {
    sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
    counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    (sums, counts)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let a = Args::parse();
    let groups = a.groups.max(1);

    // The data, written straight into shared memory: keys by a SplitMix64
    // of the row, values from them.
    let t = Instant::now();
    let mut keys = SharedArray::<u32, _>::zeros(a.rows)?;
    let mut values = SharedArray::<f64, _>::zeros(a.rows)?;
    for (i, (k, v)) in keys
        .view_mut()
        .iter_mut()
        .zip(values.view_mut())
        .enumerate()
    {
        let mut z = (i as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        *k = (z % groups as u64) as u32;
        *v = (z >> 40) as f64 / 1024.0 - 4096.0;
    }
    println!(
        "group_by: {} rows, {groups} groups (made in {:.1?})",
        a.rows,
        t.elapsed()
    );
    let (ks, vs) = (keys.view(), values.view());
    let (ks, vs) = (
        ks.as_slice().expect("standard"),
        vs.as_slice().expect("standard"),
    );

    let t = Instant::now();
    let mut want = (vec![0.0; groups], vec![0; groups]);
    add_rows(&mut want, ks, vs);
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(a.workers)?;
    let threads = shmr_suite::threads_like(&pool);
    // The shmr job: one accumulator per worker, the number of groups as
    // the parameters.
    let by_shmr = || {
        pool.on(&keys)
            .and(&values)
            .params(groups)
            .fold(
                |&g| (vec![0.0; g], vec![0; g]),
                |_, acc, (k, v)| {
                    let contiguous = "chunks of 1-D arrays are contiguous";
                    add_rows(
                        acc,
                        k.as_slice().expect(contiguous),
                        v.as_slice().expect(contiguous),
                    )
                },
                merge,
            )
            .expect("the group-by runs")
    };
    // rayon's fold and reduce, over chunks of the rows as large as shmr's.
    let rows_per = pool.on(&keys).and(&values).partition()?.chunk_rows() as usize;
    let by_rayon = || {
        threads.install(|| {
            ks.par_chunks(rows_per)
                .zip(vs.par_chunks(rows_per))
                .fold(
                    || (vec![0.0; groups], vec![0; groups]),
                    |mut acc, (k, v)| {
                        add_rows(&mut acc, k, v);
                        acc
                    },
                )
                .reduce(|| (vec![0.0; groups], vec![0; groups]), merge)
        })
    };
    by_shmr(); // warm: page cache, mappings
    by_rayon();
    let ((got, took), (on_threads, rayon_took)) = shmr_suite::alternate(a.reps, by_shmr, by_rayon);
    shmr_suite::report_times(
        seq,
        rayon_took,
        took,
        pool.workers(),
        "fold, median, alternated",
    );

    // Dense keys in a DenseTable (Phoenix++'s array_container): a value
    // per key in a vector, the combiner (Sum, Count); the same fold.
    let t = Instant::now();
    let dense = pool
        .on(&keys)
        .and(&values)
        .params(groups)
        .fold(
            |&g| DenseTable::new(g, (Sum, Count)),
            |_, t, (k, v)| {
                // Slices: iterating ndarray views is slower (strides).
                let contiguous = "chunks of 1-D arrays are contiguous";
                let (k, v) = (
                    k.as_slice().expect(contiguous),
                    v.as_slice().expect(contiguous),
                );
                for (&k, &v) in k.iter().zip(v) {
                    t.emit(k as usize, (v, 1_u64));
                }
            },
            DenseTable::merge,
        )?
        .into_vec()?;
    let dense_took = t.elapsed();
    println!(
        "  dense, DenseTable   : {dense_took:>10.2?}  (once: {:.2}x rayon's fold)",
        rayon_took.as_secs_f64() / dense_took.as_secs_f64()
    );

    // Hashed keys: a keyed job over the two arrays, a sum and a count per
    // key ((Sum, Count) over (value, 1)); float sums are not order-free, so
    // each chunk has its table, merged in chunk order (the same bits for
    // any number of workers). Against rayon's fold of hash maps.
    let t = Instant::now();
    let keyed = pool
        .on(&keys)
        .and(&values)
        .keyed((Sum, Count), |(k, v), out| {
            for (k, &v) in k.iter().zip(v) {
                out.emit(k, (v, 1_u64));
            }
        })?;
    let keyed_took = t.elapsed();
    let t = Instant::now();
    let hashed = threads.install(|| {
        ks.par_chunks(rows_per)
            .zip(vs.par_chunks(rows_per))
            .fold(HashMap::<u32, (f64, u64)>::new, |mut m, (k, v)| {
                for (&k, &v) in k.iter().zip(v) {
                    let e = m.entry(k).or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
                m
            })
            .reduce(HashMap::new, |mut a, b| {
                for (k, (s, c)) in b {
                    let e = a.entry(k).or_insert((0.0, 0));
                    e.0 += s;
                    e.1 += c;
                }
                a
            })
    });
    let hashed_took = t.elapsed();
    println!(
        "  hashed keys, keyed  : {keyed_took:>10.2?}  (rayon's fold of HashMaps {hashed_took:.2?}: {:.2}x rayon)",
        hashed_took.as_secs_f64() / keyed_took.as_secs_f64()
    );
    let keyed_same = keyed.len() == want.1.iter().filter(|&&c| c > 0).count()
        && hashed.len() == keyed.len()
        && keyed.iter().all(|(k, (s, c))| {
            let g = *k as usize;
            *c == want.1[g] && (s - want.0[g]).abs() <= 1e-9 * want.0[g].abs().max(1.0)
        });

    if a.map_reduce {
        // A partial of every group per chunk: as many as there are chunks
        // cross the slots, and are merged here one by one.
        let t = Instant::now();
        let (per_chunk, report) = pool
            .on(&keys)
            .and(&values)
            .params(groups)
            .reported()
            .map_reduce(
                |&g, (k, v)| {
                    let mut acc = (vec![0.0; g], vec![0; g]);
                    add_rows(
                        &mut acc,
                        k.as_slice().expect("contiguous"),
                        v.as_slice().expect("contiguous"),
                    );
                    acc
                },
                merge,
            )?;
        let mr = t.elapsed();
        println!(
            "  shmr map_reduce     : {mr:>10.2?}  ({:.1}x the fold: {} chunks, {} MB of partials \
             (JobReport::partial_bytes), the keys and values being {} MB)",
            mr.as_secs_f64() / took.as_secs_f64(),
            report.chunks,
            report.partial_bytes >> 20,
            (a.rows * 12) >> 20
        );
        if per_chunk.1 != want.1 {
            println!("  map_reduce counts   : DIFFERENT");
            return Ok(ExitCode::FAILURE);
        }
    }

    // Counts are exact; float sums agree to the rounding of a different
    // order of additions (the values are multiples of 1/1024 below 4096,
    // so each group's sum is exact while it stays below 2^43: equal here).
    let close = |x: &[f64]| {
        x.iter()
            .zip(&want.0)
            .all(|(a, b)| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
    };
    let dense_same = dense.iter().zip(&want.1).all(|(d, &c)| match d {
        Some((_, n)) => *n == c,
        None => c == 0,
    }) && close(
        &dense
            .iter()
            .map(|d| d.map_or(0.0, |d| d.0))
            .collect::<Vec<_>>(),
    );
    let same = dense_same
        && got.1 == want.1
        && on_threads.1 == want.1
        && close(&got.0)
        && close(&on_threads.0)
        && keyed_same;
    let largest = want.1.iter().max().copied().unwrap_or(0);
    println!("  groups              : {groups}, the largest of {largest} rows");
    Ok(shmr_suite::verdict("sums and counts", same))
}
