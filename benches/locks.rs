//! One overlapping-write workload, scatter-add (each value added into the bin
//! its key names), done four ways, to tell when locks pay:
//!
//! * striped locks, one lock taken per value (`LockedOutput::update`);
//! * one global lock, the same code with a single stripe;
//! * striped locks, batched: each chunk is gathered in private memory,
//!   then each stripe is locked once per chunk (`with_stripe`);
//! * per-worker private partials: no lock at all, `map_reduce` returns each
//!   chunk's bins and the coordinator adds them up.
//!
//! All four are checked against a single-process loop, exactly (integers).
//!
//! cargo bench --bench locks [-- --len N --reps N]

use ndarray::{Array1, ArrayView1};
use shmr::{LockedOutput, Pool, SharedArray};
use std::time::Duration;

fn key(x: u64, bins: usize) -> usize {
    (x >> 32) as usize % bins
}

fn per_value(_: &(), chunk: ArrayView1<'_, u64>, out: &mut LockedOutput<'_, u64>) {
    let bins = out.len();
    for &x in chunk {
        out.update(key(x, bins), |b| *b += x & 0xffff);
    }
}

fn batched(_: &(), chunk: ArrayView1<'_, u64>, out: &mut LockedOutput<'_, u64>) {
    let bins = out.len();
    let mut local = vec![0u64; bins];
    for &x in chunk {
        local[key(x, bins)] += x & 0xffff;
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

fn private(bins: &usize, chunk: ArrayView1<'_, u64>) -> Vec<u64> {
    let mut local = vec![0u64; *bins];
    for &x in chunk {
        local[key(x, *bins)] += x & 0xffff;
    }
    local
}

fn main() -> Result<(), shmr::Error> {
    shmr::init();
    let o = shmr_suite::parse_options(
        "Scatter-add under four locking strategies, each checked against a loop.",
        10_000_000,
    );
    let (len, reps) = (o.len, o.reps);
    let mut rng = shmr_bench::data::Rng::new(7);
    let input = SharedArray::from_array(&Array1::from_iter((0..len).map(|_| rng.next_u64())))?;
    // Private partials need room for every chunk's bins in the slots.
    let pool = Pool::builder().slot_bytes(256 << 20).build()?;
    let workers = pool.workers();
    println!("scatter-add of {len} u64 values, {workers} workers, median of {reps}\n");
    println!(
        "| bins | loop | striped locks (256), per value | one global lock, per value | striped locks (256), batched | private partials, no lock | best |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---|");
    for bins in [16usize, 4096, 262_144] {
        let (want, base) = shmr_suite::median_time(reps, || {
            let mut b = vec![0u64; bins];
            for &x in input.view() {
                b[key(x, bins)] += x & 0xffff;
            }
            b
        });
        let mut out = SharedArray::<u64, _>::zeros(bins)?;
        let mut locked = |stripes: usize, f: shmr::job::LockedWith<(), u64, ndarray::Ix1, u64>| {
            shmr_suite::median_time(reps, || {
                out.view_mut().fill(0);
                pool.on(&input)
                    .stripes(stripes)
                    .params(())
                    .map_locked(&mut out, f)
                    .expect("locked job");
                out.view().to_vec()
            })
        };
        let runs = [
            locked(256, per_value),
            locked(1, per_value),
            locked(256, batched),
            shmr_suite::median_time(reps, || {
                pool.on(&input)
                    .params(bins)
                    .map_reduce(private, |mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                        a
                    })
                    .expect("private partials")
            }),
        ];
        let names = ["striped", "global", "batched", "private"];
        for (name, (got, _)) in names.iter().zip(&runs) {
            assert_eq!(got, &want, "{name} disagrees with the loop at {bins} bins");
        }
        let best = names[runs
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, t))| *t)
            .map(|(i, _)| i)
            .unwrap_or(0)];
        let cell = |t: Duration| {
            format!(
                "{:.1} ms ({:.2}x)",
                t.as_secs_f64() * 1e3,
                base.as_secs_f64() / t.as_secs_f64()
            )
        };
        println!(
            "| {bins} | {:.1} ms | {} | {} | {} | {} | {best} |",
            base.as_secs_f64() * 1e3,
            cell(runs[0].1),
            cell(runs[1].1),
            cell(runs[2].1),
            cell(runs[3].1)
        );
    }
    println!(
        "\n(x: speedup over the single-process loop; every result checked exactly against it)"
    );
    Ok(())
}
