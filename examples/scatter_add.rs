//! Scatter-add with overlapping writes: every worker adds each input value
//! into the output bin its key names, under striped locks. Checks the totals
//! exactly against a single-process loop (integers, so exactness is
//! checkable) and prints both times.
//!
//! cargo run --release --example scatter_add -- --len 20000000 --workers 2
//!
//! For when locks pay and when per-worker partials do better, see
//! `cargo bench --bench locks` and docs/locks.md.

use ndarray::{Array1, ArrayView1};
use shmr::{LockedOutput, SharedArray};
use shmr_suite::{median_time, parse_options, pool, report_outcome};
use std::process::ExitCode;

const BINS: usize = 4096;
const STRIPES: usize = 256;

/// Adds each value into its bin, one chunk at a time: values are gathered
/// per stripe in private memory first, so each stripe's lock is taken once
/// per chunk rather than once per value.
fn scatter(chunk: ArrayView1<'_, u64>, out: &mut LockedOutput<'_, u64>) {
    let mut local = vec![0u64; out.len()];
    for &x in chunk {
        let (bin, value) = ((x >> 32) as usize % out.len(), x & 0xffff);
        local[bin] += value;
    }
    for s in 0..out.stripes() {
        let range = out.stripe_range(s);
        out.with_stripe(s, |bins| {
            for (b, add) in bins.iter_mut().zip(&local[range.clone()]) {
                *b += add;
            }
        });
    }
}

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let o = parse_options(
        "Scatter-add into shared bins under striped locks, against a loop.",
        20_000_000,
    );
    // Keys in the high half, values in the low 16 bits.
    let mut rng = shmr_bench::data::Rng::new(7);
    let input = SharedArray::from_array(&Array1::from_iter((0..o.len).map(|_| rng.next_u64())))?;

    let (expected, baseline) = median_time(o.reps, || {
        let mut bins = vec![0u64; BINS];
        for &x in input.view() {
            bins[(x >> 32) as usize % BINS] += x & 0xffff;
        }
        bins
    });

    let (pool, _) = pool(&o)?;
    let mut out = SharedArray::<u64, _>::zeros(BINS)?;
    let (report, warm) = median_time(o.reps, || {
        out.view_mut().fill(0);
        pool.on(&input)
            .stripes(STRIPES)
            .reported()
            .map_locked(&mut out, scatter)
    });
    let ((), report) = report?;
    let same = out.view().to_vec() == expected;

    println!(
        "scatter-add of {} values into {BINS} bins with {} workers",
        o.len,
        pool.workers()
    );
    println!("  single-process loop : {baseline:>10.2?}");
    println!("  shmr, {STRIPES} stripes   : {warm:>10.2?}");
    println!(
        "  speedup             : {:>10.2}x",
        baseline.as_secs_f64() / warm.as_secs_f64()
    );
    report_outcome(&report, same, "exactly");
    Ok(if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
