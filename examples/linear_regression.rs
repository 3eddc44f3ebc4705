//! Phoenix++'s linear_regression on shmr: a file of (x, y) points, one
//! signed byte each (`struct { char x; char y; }`), mapped as an N x 2
//! array without reading it; five sums (SX, SY, SXX, SYY, SXY) per chunk,
//! added up; the fit from them, as Phoenix++ prints it.
//!
//! The file is written here first (`--points` points, bytes below 128 so
//! that Phoenix++'s sign extension into uint64 does not change the sums)
//! unless `--file` names one. Checked against the same sums computed by a
//! sequential loop.
//!
//! cargo run --release --example linear_regression -- --points 500000000

use clap::Parser;
use ndarray::{ArrayView2, Ix2};
use rayon::prelude::*;
use shmr::{NpyMode, SharedArray};
use std::process::ExitCode;
use std::time::Instant;

/// Linear regression over a file of byte pairs, with shmr and a plain loop.
#[derive(Parser, Debug)]
struct Args {
    /// Points to generate, two bytes each (ignored with --file)
    #[arg(long, default_value = "500000000", value_parser = shmr_bench::whole_number)]
    points: usize,
    /// A file of (x, y) byte pairs, as Phoenix++ reads; written first
    /// (--points points) and kept if it does not exist
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

/// SX, SY, SXX, SYY, SXY of some points.
type Sums = [u64; 5];

/// The sums of a chunk of points. Over the chunk's bytes as one slice:
/// iterating an N x 2 byte array row by row with ndarray costs several
/// times more than the arithmetic (see docs/benchmarks.md).
fn sums(points: ArrayView2<'_, i8>) -> Sums {
    sums_of(points.as_slice().expect("shared arrays are contiguous"))
}

/// The sums of points given as x, y, x, y, ... bytes.
// Never inlined, so the loop, rayon and shmr run the same machine code:
// inlined into rayon's closure it compiled 1.6x slower (217 against 139 ms
// for 2e8 points on one thread), which would measure LLVM, not the runtimes.
#[inline(never)]
fn sums_of(bytes: &[i8]) -> Sums {
    let mut s = [0u64; 5];
    for p in bytes.chunks_exact(2) {
        // Sign-extended, as Phoenix++'s `uint64_t px = p.x` does.
        let (x, y) = (i64::from(p[0]) as u64, i64::from(p[1]) as u64);
        s[0] = s[0].wrapping_add(x);
        s[1] = s[1].wrapping_add(y);
        s[2] = s[2].wrapping_add(x.wrapping_mul(x));
        s[3] = s[3].wrapping_add(y.wrapping_mul(y));
        s[4] = s[4].wrapping_add(x.wrapping_mul(y));
    }
    s
}

fn add(a: Sums, b: Sums) -> Sums {
    std::array::from_fn(|i| a[i].wrapping_add(b[i]))
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let args = Args::parse();
    let (path, made) = match &args.file {
        Some(p) if p.exists() => (p.clone(), false),
        given => {
            let p = given.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("shmr-lr-{}.bin", std::process::id()))
            });
            // y = x / 2 + noise, all below 128: a line to find.
            let mut r = shmr_bench::data::Rng::new(1);
            let mut bytes = vec![0u8; args.points * 2];
            for pair in bytes.chunks_exact_mut(2) {
                let v = r.next_u64();
                let x = (v & 0x7f) as u8;
                pair[0] = x;
                pair[1] = x / 2 + ((v >> 8) & 0x3f) as u8;
            }
            std::fs::write(&p, bytes)?;
            // A file the user named is kept (for Phoenix++ to read, say).
            (p, given.is_none())
        }
    };
    let n = (std::fs::metadata(&path)?.len() / 2) as usize;
    let t = Instant::now();
    // SAFETY: nothing else writes or truncates the file while it is mapped.
    let points = unsafe { SharedArray::<i8, Ix2>::open_raw(&path, 0, (n, 2), NpyMode::ReadOnly)? };
    let opened = t.elapsed();
    println!(
        "linear_regression: {n} points from {} (mapped in {opened:.1?}: nothing read)",
        path.display()
    );

    let t = Instant::now();
    let want = sums(points.view());
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(args.workers)?;
    pool.on(&points).map_reduce(sums, add)?; // warm: page cache, mappings
    let mut times = Vec::new();
    let mut got = [0; 5];
    for _ in 0..3 {
        let t = Instant::now();
        got = pool.on(&points).map_reduce(sums, add)?;
        times.push(t.elapsed());
    }
    let took = shmr_bench::overheads::median(&mut times);

    // The same sums on threads, over chunks of the same 1 MiB.
    let threads = shmr_suite::threads_like(&pool);
    let flat = points.view();
    let flat = flat.as_slice().expect("contiguous");
    let by_threads =
        || threads.install(|| flat.par_chunks(1 << 20).map(sums_of).reduce(|| [0; 5], add));
    by_threads();
    let (on_threads, rayon_took) = shmr_suite::median_time(3, by_threads);
    if made {
        std::fs::remove_file(&path)?;
    }

    // The fit, as Phoenix++ computes it from the sums.
    let [sx, sy, sxx, syy, sxy] = got.map(|v| v as i64 as f64);
    let nf = n as f64;
    let b = (nf * sxy - sx * sy) / (nf * sxx - sx * sx);
    let a = (sy - b * sx) / nf;
    let r2 = (nf * sxy - sx * sy).powi(2) / ((nf * sxx - sx * sx) * (nf * syy - sy * sy));
    shmr_suite::report_times(seq, rayon_took, took, pool.workers(), "median of 3, warm");
    println!(
        "  a = {a:.6}, b = {b:.6}, xbar = {:.6}, ybar = {:.6}, r2 = {r2:.6}",
        sx / nf,
        sy / nf
    );
    println!(
        "  SX = {}, SY = {}, SXX = {}, SYY = {}, SXY = {}",
        got[0] as i64, got[1] as i64, got[2] as i64, got[3] as i64, got[4] as i64
    );
    Ok(shmr_suite::verdict(
        "sums",
        got == want && on_threads == want,
    ))
}
