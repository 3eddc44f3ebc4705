//! Where a 2-worker sum's time goes, shmr against rayon: each chunk's start
//! and end on one clock for every process, so a job splits into its start
//! (the call until the last worker begins its first chunk), its chunks
//! (busy), the gaps between one worker's chunks (claiming, committing), the
//! imbalance (how long the first worker to finish waits for the last) and
//! its end (the last chunk's end until the call returns). The measurement
//! behind docs/benchmarks.md's "What limits each job" for the sum.
//!
//! Both sides sum the same shared memory in the same chunks with the same
//! kernel, alternately, and rayon runs a second time as a control: the
//! difference between rayon and itself is the noise of the machine.
//!
//! cargo run --release --example phases -- --len 134217728 --workers 2 --reps 15

use rayon::prelude::*;
use shmr::Element;
use shmr_suite::parse_options;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// One chunk mapped: by whom, from when to when (ns on the system clock,
/// which every process reads alike).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Span {
    who: u32,
    start: u64,
    end: u64,
}

fn now() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

fn mapped(who: u32, xs: &[f64]) -> (f64, Span) {
    let start = now();
    let sum = f64::sum_slice(xs);
    (
        sum,
        Span {
            who,
            start,
            end: now(),
        },
    )
}

/// One job's phases, in microseconds.
#[derive(Clone, Copy, Default)]
struct Phases {
    total: f64,
    start: f64,
    busy: f64,
    gaps: f64,
    imbalance: f64,
    end: f64,
}

fn phases(called: u64, returned: u64, spans: &[Span]) -> Phases {
    let mut by: BTreeMap<u32, Vec<Span>> = BTreeMap::new();
    for s in spans {
        by.entry(s.who).or_default().push(*s);
    }
    let us = |ns: u64| ns as f64 / 1e3;
    let workers = by.len().max(1) as f64;
    let (mut busy, mut gaps) = (0, 0);
    let (mut first_starts, mut last_ends) = (Vec::new(), Vec::new());
    for v in by.values_mut() {
        v.sort_by_key(|s| s.start);
        busy += v.iter().map(|s| s.end - s.start).sum::<u64>();
        gaps += v
            .windows(2)
            .map(|w| w[1].start.saturating_sub(w[0].end))
            .sum::<u64>();
        first_starts.push(v[0].start);
        last_ends.push(v[v.len() - 1].end);
    }
    let max = |v: &[u64]| v.iter().copied().max().unwrap_or(called);
    let min = |v: &[u64]| v.iter().copied().min().unwrap_or(called);
    Phases {
        total: us(returned - called),
        start: us(max(&first_starts).saturating_sub(called)),
        busy: us(busy) / workers,
        gaps: us(gaps) / workers,
        imbalance: us(max(&last_ends) - min(&last_ends)),
        end: us(returned.saturating_sub(max(&last_ends))),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    shmr::init();
    let o = parse_options(
        "Phases of a sum (start, chunks, gaps, imbalance, end): shmr's worker processes against rayon's threads.",
        134_217_728,
    );
    let workers = o.workers.unwrap_or(2);
    let data = shmr_suite::make_data(&o)?;
    let view = data.view();
    let xs = view.as_slice().expect("shared arrays are contiguous");
    let pool = shmr::Pool::builder().workers(workers).build()?;
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()?;
    let partition = pool.on(&data).partition()?;
    let rows = |i: u64| {
        let r = partition.chunk(i);
        &xs[r.start as usize..r.end as usize]
    };

    let shmr_job = || -> Result<(f64, Phases), shmr::Error> {
        let mut spans = Vec::with_capacity(partition.len() as usize);
        let called = now();
        let (sum, first) = pool.on(&data).map_reduce(
            |c| mapped(std::process::id(), c.as_slice().expect("contiguous")),
            // In chunk order, in this process: keep each chunk's span.
            |(a, first), (b, span)| {
                spans.push(span);
                (a + b, first)
            },
        )?;
        let returned = now();
        spans.push(first);
        Ok((sum, phases(called, returned, &spans)))
    };
    let rayon_job = || -> (f64, Phases) {
        let called = now();
        let parts: Vec<(f64, Span)> = threads.install(|| {
            (0..partition.len())
                .into_par_iter()
                .map(|i| mapped(rayon::current_thread_index().unwrap_or(0) as u32, rows(i)))
                .collect()
        });
        let sum = parts.iter().map(|p| p.0).fold(0.0, |a, b| a + b);
        let returned = now();
        let spans: Vec<Span> = parts.iter().map(|p| p.1).collect();
        (sum, phases(called, returned, &spans))
    };

    let (want, _) = rayon_job();
    let (mut got, _) = shmr_job()?;
    // Warm: each worker fills its page tables for the chunks it maps the
    // first time, and claiming in turn brings it new ones for several jobs
    // (shmr-bench's "first jobs" shows them one by one).
    for _ in 1..3 * workers {
        got = shmr_job()?.0;
    }
    if got.to_bits() != want.to_bits() {
        eprintln!("error: shmr's sum {got} is not rayon's {want}");
        std::process::exit(1);
    }
    println!(
        "{} f64, {} chunks, {workers} workers; medians of {} jobs per round, us (total in ms)",
        o.len,
        partition.len(),
        o.reps
    );
    println!(
        "| round | run | total ms | start | busy/worker | gaps/worker | imbalance | end | vs rayon |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for round in 1..=3 {
        let mut runs: [Vec<Phases>; 3] = Default::default();
        for _ in 0..o.reps.max(1) {
            runs[0].push(rayon_job().1);
            runs[1].push(shmr_job()?.1);
            runs[2].push(rayon_job().1);
        }
        let med = |v: &[Phases], f: fn(&Phases) -> f64| median(v.iter().map(f).collect());
        let rayon_total = (med(&runs[0], |p| p.total) + med(&runs[2], |p| p.total)) / 2.0;
        for (name, v) in ["rayon", "shmr", "rayon again"].iter().zip(&runs) {
            let total = med(v, |p| p.total);
            println!(
                "| {round} | {name} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3}x |",
                total / 1e3,
                med(v, |p| p.start),
                med(v, |p| p.busy),
                med(v, |p| p.gaps),
                med(v, |p| p.imbalance),
                med(v, |p| p.end),
                rayon_total / total,
            );
        }
    }
    Ok(())
}
