//! Where one table per worker stops paying: a group-by count over an
//! array of integer keys, with one table per worker (`Tables::PerWorker`)
//! and one per chunk (`Tables::PerChunk`), timed alternately for a range
//! of distinct keys. Both answers are checked against each other and
//! against a sequential count; exit 1 if any differs.
//!
//! cargo run --release --example key_tables [-- --len 32000000 --distinct 1000,1000000,8000000]

use clap::Parser;
use shmr::SharedArray;
use shmr::keyed::{Keyed, Sum, Tables};
use std::process::ExitCode;

/// Per-worker against per-chunk key tables, by distinct keys.
#[derive(Parser, Debug)]
struct Args {
    /// Keys in the array
    #[arg(long, default_value = "32000000", value_parser = shmr_bench::whole_number)]
    len: usize,
    /// Distinct keys to try, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,100000,1000000,2000000,4000000,8000000"
    )]
    distinct: Vec<usize>,
    /// Timed runs of each (the median is reported)
    #[arg(long, default_value = "3", value_parser = shmr_bench::whole_number)]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

fn count(
    pool: &shmr::Pool,
    keys: &SharedArray<u64, ndarray::Ix1>,
    tables: Tables,
) -> Keyed<u64, u64> {
    pool.on(keys)
        .tables(tables)
        .keyed(Sum, |chunk, out| chunk.iter().for_each(|k| out.emit(k, 1)))
        .expect("the count runs")
}

fn main() -> ExitCode {
    shmr::init();
    let a = Args::parse();
    let pool = shmr_suite::pool_of(a.workers).expect("the pool starts");
    println!(
        "group-by count of {} u64 keys, {} workers, median of {} (alternated)",
        a.len,
        pool.workers(),
        a.reps
    );
    println!("| distinct keys | per worker ms | per chunk ms | per worker / per chunk |");
    println!("|---:|---:|---:|---:|");
    let mut same = true;
    for &d in &a.distinct {
        let mut r = shmr_bench::data::Rng::new(d as u64);
        let keys = ndarray::Array1::from_shape_fn(a.len, |_| r.next_u64() % d as u64);
        let mut want = vec![0_u64; d];
        keys.iter().for_each(|&k| want[k as usize] += 1);
        let keys = SharedArray::from_array(&keys).expect("shared memory");
        let ((held, th), (chunked, tc)) = shmr_suite::alternate(
            a.reps,
            || count(&pool, &keys, Tables::PerWorker),
            || count(&pool, &keys, Tables::PerChunk),
        );
        let seq: Vec<(u64, u64)> = (0..d as u64).zip(want).filter(|&(_, n)| n > 0).collect();
        same &= held == chunked && held.as_slice() == &seq[..];
        println!(
            "| {d} | {:.0} | {:.0} | {:.2} |",
            th.as_secs_f64() * 1e3,
            tc.as_secs_f64() * 1e3,
            th.as_secs_f64() / tc.as_secs_f64()
        );
    }
    if same {
        println!("counts: identical (per worker, per chunk, sequential)");
        ExitCode::SUCCESS
    } else {
        println!("counts: DIFFERENT");
        ExitCode::FAILURE
    }
}
