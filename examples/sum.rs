//! Sums 100 million f64 (by default) with a plain loop and with shmr,
//! checks that they agree, and prints both times.
//!
//! cargo run --release --example sum -- --len 100000000 --workers 2

use shmr_suite::{cold_and_warm, make_data, median_time, parse_options, pool, report};
use std::process::ExitCode;

/// Relative tolerance between the two sums: they add in different orders,
/// and a sequential sum of n values is only accurate to about n * 2^-53.
const TOLERANCE: f64 = 1e-9;

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let o = parse_options(
        "Sum of uniform f64: a single-process loop against shmr.",
        100_000_000,
    );
    let data = make_data(&o)?;
    let xs = data.view();
    let xs = xs.as_slice().expect("shared arrays are contiguous");

    // The loop a user would write.
    let (want, baseline) = median_time(o.reps, || {
        let mut s = 0.0;
        for &x in xs {
            s += x;
        }
        s
    });

    let (pool, start) = pool(&o)?;
    let (got, cold, warm) = cold_and_warm(o.reps, || pool.on(&data).run(&shmr::builtin::Sum));
    let got = got?;
    report(
        "sum",
        o.len,
        pool.workers(),
        baseline,
        cold + start,
        warm,
        8,
    );
    let rel = (got - want).abs() / want.abs().max(1.0);
    println!(
        "  results             : loop {want}, shmr {got} (relative difference {rel:.1e}, tolerance {TOLERANCE:.0e})"
    );
    if rel > TOLERANCE {
        eprintln!("error: the sums disagree beyond the tolerance");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
