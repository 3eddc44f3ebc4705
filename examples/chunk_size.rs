//! Sweeps the chunk size for the built-in jobs and prints the median time of
//! each: the measurement behind `shmr::DEFAULT_CHUNK_BYTES`.
//!
//! cargo run --release --example chunk_size -- --len 100000000 --workers 2

use shmr::builtin::{Histogram, Stats, Sum};
use shmr::{ChunkSize, Pool};
use shmr_suite::{make_data, median_time, parse_options};

fn main() -> Result<(), shmr::Error> {
    shmr::init();
    let o = parse_options(
        "Median job time for chunk sizes from 16 KiB to 64 MiB.",
        100_000_000,
    );
    let data = make_data(&o)?;
    println!(
        "{} f64 ({} MiB), median of {} runs, ms",
        o.len,
        (o.len * 8) >> 20,
        o.reps
    );
    println!(
        "{:>10} {:>8} {:>8} {:>8} {:>8}",
        "chunk", "chunks", "sum", "stats", "hist64"
    );
    for kib in [16usize, 64, 256, 1024, 4096, 16384, 65536] {
        let mut b = Pool::builder().chunk_size(ChunkSize::Bytes(kib << 10));
        if let Some(w) = o.workers {
            b = b.workers(w);
        }
        let pool = b.build()?;
        let chunks = pool.on(&data).partition()?.len();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        pool.on(&data).run(&Sum)?; // warm the workers' mappings
        let (_, sum) = median_time(o.reps, || pool.on(&data).run(&Sum));
        let (_, stats) = median_time(o.reps, || pool.on(&data).run(&Stats));
        let h = Histogram::new(64, 0.0..1.0);
        let (_, hist) = median_time(o.reps, || pool.on(&data).run(&h));
        println!(
            "{:>7} KiB {chunks:>8} {:>8.1} {:>8.1} {:>8.1}",
            kib,
            ms(sum),
            ms(stats),
            ms(hist)
        );
    }
    Ok(())
}
