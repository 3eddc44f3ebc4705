//! A 64-bin histogram of 100 million f64 (by default) with a plain loop and
//! with shmr; the counts must agree exactly.
//!
//! cargo run --release --example histogram -- --len 100000000 --workers 2

use shmr::builtin::Histogram;
use shmr_suite::{cold_and_warm, make_data, median_time, parse_options, pool, report};
use std::process::ExitCode;

const BINS: usize = 64;

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let o = parse_options(
        "64-bin histogram of uniform f64: a single-process loop against shmr.",
        100_000_000,
    );
    let data = make_data(&o)?;
    let xs = data.view();
    let xs = xs.as_slice().expect("shared arrays are contiguous");
    // A range a little narrower than the data, so values fall outside too.
    let (lo, hi) = (0.001, 0.999);

    let (want, baseline) = median_time(o.reps, || {
        let mut counts = vec![0u64; BINS];
        let (mut below, mut above) = (0u64, 0u64);
        // The documented bin of x: floor((x - lo) * bins / (hi - lo)).
        let scale = BINS as f64 / (hi - lo);
        for &x in xs {
            if x < lo {
                below += 1;
            } else if x >= hi {
                above += 1;
            } else {
                counts[(((x - lo) * scale) as usize).min(BINS - 1)] += 1;
            }
        }
        (counts, below, above)
    });

    let (pool, start) = pool(&o)?;
    let job = Histogram::new(BINS, lo..hi);
    let (got, cold, warm) = cold_and_warm(o.reps, || pool.on(&data).run(&job));
    let got = got?;
    report(
        "histogram (64 bins)",
        o.len,
        pool.workers(),
        baseline,
        cold + start,
        warm,
        8,
    );
    let moved: u64 = got
        .counts()
        .iter()
        .zip(&want.0)
        .map(|(a, b)| a.abs_diff(*b))
        .sum::<u64>()
        / 2;
    let exact = got.counts() == &want.0[..] && got.below() == want.1 && got.above() == want.2;
    println!(
        "  agreement           : {} (below {} / {}, above {} / {}, values in a different bin: {moved})",
        if exact { "exact" } else { "NOT exact" },
        got.below(),
        want.1,
        got.above(),
        want.2
    );
    Ok(if exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
