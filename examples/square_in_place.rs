//! Squares 100 million f64 (by default) in place: a single-process loop on a
//! private copy against shmr's workers on the shared array, each worker
//! writing only the chunks it claimed, with no lock. Checks that the results
//! are equal bit for bit and prints both times, and, when python3 has numpy,
//! the time of the usual Python way (`multiprocessing.shared_memory` and one
//! `numpy.square(part, out=part)` per worker process).
//!
//! cargo run --release --example square_in_place -- --len 100000000 --workers 2

use shmr_suite::{make_data, median_time, parse_options, pool, report, report_outcome};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let o = parse_options(
        "Square f64 in place: a single-process loop against shmr.",
        100_000_000,
    );
    let mut data = make_data(&o)?;

    // The loop a user would write, on a private copy (the copy is not timed).
    let mut expected = data.view().to_owned();
    let t = Instant::now();
    for x in expected.iter_mut() {
        *x *= *x;
    }
    let baseline = t.elapsed();

    let (pool, start) = pool(&o)?;
    let t = Instant::now();
    let ((), job_report) = pool
        .on_mut(&mut data)
        .reported()
        .map_in_place(|mut c| c.mapv_inplace(|x| x * x))?;
    let cold = t.elapsed() + start;
    let same = data.view() == expected.view();
    // Later passes square the squares; the work per element is the same.
    let (_, warm) = median_time(o.reps, || {
        pool.on_mut(&mut data)
            .map_in_place(|mut c| c.mapv_inplace(|x| x * x))
    });

    // The same, with every worker's mapping write-protected outside the
    // chunk it is mapping (two mprotect calls per chunk).
    let (guarded, warm_guarded) = median_time(o.reps, || {
        pool.on_mut(&mut data)
            .guard_writes(true)
            .map_in_place(|mut c| c.mapv_inplace(|x| x * x))
    });
    guarded?;
    report(
        "square in place",
        o.len,
        pool.workers(),
        baseline,
        cold,
        warm,
        16,
    );
    println!(
        "  guard_writes(true)  : {warm_guarded:>10.2?}  ({:+.1}% for write protection outside each chunk)",
        (warm_guarded.as_secs_f64() / warm.as_secs_f64() - 1.0) * 100.0
    );
    report_outcome(&job_report, same, "bit for bit");
    match shmr_bench::python::available() {
        Ok(_) => {
            let run = shmr_bench::python::PeerRun {
                job: "square_in_place",
                len: o.len,
                workers: pool.workers(),
                reps: o.reps,
            };
            let dir = std::env::temp_dir();
            match shmr_bench::python::run(&[run], &dir) {
                Ok(r) if !r.is_empty() => println!(
                    "  numpy + multiprocessing: {:>6.2} ms total, {:.2} ms compute (shmr {:.2}x faster)",
                    r[0].total_ms,
                    r[0].compute_ms,
                    r[0].total_ms / (warm.as_secs_f64() * 1e3)
                ),
                Ok(_) => {}
                Err(e) => eprintln!("  (Python peer failed: {e})"),
            }
        }
        Err(why) => println!("  (no Python comparison: {why})"),
    }
    if !same || job_report.lock_acquisitions != 0 {
        eprintln!("error: wrong result, or locks taken by a partitioned job");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
