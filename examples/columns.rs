//! Per-column statistics of a table, numpy's `a.mean(axis=0)`,
//! `a.std(axis=0)`, `a.min(axis=0)`, `a.max(axis=0)` and `a.sum(axis=0)`:
//! a (`--rows`, `--cols`) f32 table, `Columns(Stats)` and `Columns(Sum)`
//! timed against the whole-array `Stats` and `Sum` over the same bytes
//! (what reading the table costs) and checked against a per-column loop
//! (counts, minima and maxima exactly, means and sums to 1e-9).
//!
//! cargo run --release --example columns -- --rows 20000000 --cols 8

use clap::Parser;
use ndarray::Axis;
use shmr::SharedArray;
use shmr::builtin::{Columns, Stats, Sum};
use std::process::ExitCode;

/// Per-column statistics with shmr, against the whole-array jobs.
#[derive(Parser, Debug)]
struct Args {
    /// Rows of the table
    #[arg(long, default_value = "20000000", value_parser = shmr_bench::whole_number)]
    rows: usize,
    /// Columns of the table
    #[arg(long, default_value = "8", value_parser = shmr_bench::whole_number)]
    cols: usize,
    /// Timed runs of each job (the median is reported)
    #[arg(long, default_value = "3")]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let a = Args::parse();
    let mut t = SharedArray::<f32, _>::zeros((a.rows, a.cols.max(1)))?;
    // Column j: values around 10 j, spread j + 1.
    t.view_mut().indexed_iter_mut().for_each(|((i, j), x)| {
        *x = (10 * j) as f32 + ((i * 31 + j * 7) % 1000) as f32 / 1000.0 * (j + 1) as f32
    });
    let pool = shmr_suite::pool_of(a.workers)?;
    let reps = a.reps;
    pool.on(&t).run(&Stats)?; // warm: page cache, mappings
    let (cols, cols_took) = shmr_suite::median_time(reps, || pool.on(&t).run(&Columns(Stats)));
    let (_, whole_took) = shmr_suite::median_time(reps, || pool.on(&t).run(&Stats));
    let (sums, sums_took) = shmr_suite::median_time(reps, || pool.on(&t).run(&Columns(Sum)));
    let (_, sum_took) = shmr_suite::median_time(reps, || pool.on(&t).run(&Sum));
    let (cols, sums) = (cols?, sums?);
    let mb = (a.rows * a.cols * 4) >> 20;
    println!(
        "columns: a ({}, {}) f32 table, {mb} MB, {} workers",
        a.rows,
        a.cols,
        pool.workers()
    );
    println!(
        "  Columns(Stats)      : {cols_took:>10.2?}  (Stats over the same array {whole_took:.2?}: {:.2}x)",
        cols_took.as_secs_f64() / whole_took.as_secs_f64()
    );
    println!(
        "  Columns(Sum)        : {sums_took:>10.2?}  (Sum over the same array {sum_took:.2?}: {:.2}x)",
        sums_took.as_secs_f64() / sum_took.as_secs_f64()
    );

    let view = t.view();
    let mut same = cols.len() == a.cols && sums.len() == a.cols;
    for (j, col) in view.axis_iter(Axis(1)).enumerate() {
        let xs: Vec<f64> = col.iter().map(|&x| f64::from(x)).collect();
        let sum: f64 = xs.iter().sum();
        let mean = sum / xs.len() as f64;
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1.0);
        let s = &cols[j];
        same &= s.count() == xs.len() as u64
            && s.min() == Some(min)
            && s.max() == Some(max)
            && s.mean().is_some_and(|m| close(m, mean))
            && close(sums[j], sum);
        if j < 4 {
            println!(
                "  column {j}: mean {:.4}, std {:.4}, min {min:.4}, max {max:.4}",
                s.mean().unwrap_or(f64::NAN),
                s.std().unwrap_or(f64::NAN)
            );
        }
    }
    println!(
        "  per-column results  : {}",
        if same {
            "agree with a per-column loop"
        } else {
            "DIFFERENT from a per-column loop"
        }
    );
    Ok(if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
