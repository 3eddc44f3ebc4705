//! Count, mean, variance, min and max of 100 million f64 (by default) with a
//! plain two-pass loop and with shmr; checks agreement and prints both times.
//!
//! cargo run --release --example stats -- --len 100000000 --workers 2

use shmr_suite::{cold_and_warm, make_data, median_time, parse_options, pool, report};
use std::process::ExitCode;

/// Relative tolerance for mean and variance (different summation orders).
const TOLERANCE: f64 = 1e-9;

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let o = parse_options(
        "Statistics of uniform f64: a single-process loop against shmr.",
        100_000_000,
    );
    let data = make_data(&o)?;
    let xs = data.view();
    let xs = xs.as_slice().expect("shared arrays are contiguous");

    // The textbook two-pass computation a user would write.
    let (want, baseline) = median_time(o.reps, || {
        let (mut sum, mut lo, mut hi) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        for &x in xs {
            sum += x;
            lo = lo.min(x);
            hi = hi.max(x);
        }
        let mean = sum / xs.len() as f64;
        let mut ss = 0.0;
        for &x in xs {
            ss += (x - mean) * (x - mean);
        }
        (mean, ss / xs.len() as f64, lo, hi)
    });

    let (pool, start) = pool(&o)?;
    let (got, cold, warm) = cold_and_warm(o.reps, || pool.on(&data).run(&shmr::builtin::Stats));
    let got = got?;
    report(
        "stats",
        o.len,
        pool.workers(),
        baseline,
        cold + start,
        warm,
        8,
    );
    let (mean, var) = (
        got.mean().unwrap_or(f64::NAN),
        got.variance().unwrap_or(f64::NAN),
    );
    println!(
        "  loop                : mean {} var {} min {} max {}",
        want.0, want.1, want.2, want.3
    );
    println!(
        "  shmr                : mean {mean} var {var} min {:?} max {:?}",
        got.min(),
        got.max()
    );
    let close = |a: f64, b: f64| (a - b).abs() <= TOLERANCE * b.abs().max(1e-300);
    let ok = got.count() == o.len as u64
        && close(mean, want.0)
        && close(var, want.1)
        && got.min() == Some(want.2)
        && got.max() == Some(want.3);
    println!(
        "  agreement           : {} (count exact, min/max exact, mean/variance within {TOLERANCE:.0e})",
        if ok { "yes" } else { "NO" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
