//! Phoenix++'s kmeans on shmr: points on an integer grid, `k` means, each
//! point to its nearest mean, new means from the sums, until the means stop
//! moving. One job per iteration over the same arrays on a warm pool: the
//! means are a side array every mapper reads whole, rewritten here between
//! jobs; nothing is re-sent or re-mapped.
//!
//! The input is Phoenix++'s own (`-d -c -p -s`, glibc `rand()` unseeded),
//! so the final means can be compared with its output. Checked against a
//! sequential implementation of Phoenix++'s algorithm in this file.
//!
//! cargo run --release --example kmeans -- -d 3 -c 100 -p 100000 -s 1000

use clap::Parser;
use ndarray::{ArrayView2, Ix2};
use rayon::prelude::*;
use shmr::SharedArray;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// kmeans as Phoenix++ computes it, with shmr and with a plain loop.
#[derive(Parser, Debug)]
struct Args {
    /// Dimensions of each point
    #[arg(short = 'd', default_value_t = 3)]
    dim: usize,
    /// Clusters (means)
    #[arg(short = 'c', default_value_t = 100)]
    clusters: usize,
    /// Points
    #[arg(short = 'p', default_value = "100000", value_parser = shmr_bench::whole_number)]
    points: usize,
    /// Grid size: each coordinate is rand() % s
    #[arg(short = 's', default_value_t = 1000)]
    grid: u32,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
    /// Print the final means as Phoenix++ does, to compare
    #[arg(long)]
    means: bool,
}

/// Index of the mean nearest to `p`, the lowest on a tie, by squared
/// distance in 32-bit unsigned arithmetic, as Phoenix++ computes it.
fn nearest(p: &[i32], means: &[i32], dim: usize) -> usize {
    let mut best = (u32::MAX, 0);
    for (j, m) in means.chunks_exact(dim).enumerate() {
        let d = p.iter().zip(m).fold(0u32, |acc, (&a, &b)| {
            let diff = a.wrapping_sub(b);
            acc.wrapping_add(diff.wrapping_mul(diff) as u32)
        });
        if d < best.0 {
            best = (d, j);
        }
    }
    best.1
}

/// Sums of the points nearest each mean, then their counts: the partial
/// of one chunk, `clusters * (dim + 1)` values.
fn assign(points: ArrayView2<'_, i32>, means: ArrayView2<'_, i32>) -> Vec<i64> {
    let dim = means.ncols();
    let means = means.as_slice().expect("shared arrays are contiguous");
    assign_of(points.as_slice().expect("contiguous"), means, dim)
}

/// [`assign`] over points and means as flat slices of `dim` coordinates.
// Never inlined, so rayon and shmr run the same machine code (see
// linear_regression.rs).
#[inline(never)]
fn assign_of(points: &[i32], means: &[i32], dim: usize) -> Vec<i64> {
    let mut acc = vec![0i64; means.len() / dim * (dim + 1)];
    for p in points.chunks_exact(dim) {
        add_point(&mut acc, p, nearest(p, means, dim));
    }
    acc
}

fn add_all(mut x: Vec<i64>, y: Vec<i64>) -> Vec<i64> {
    x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
    x
}

/// Adds point `p` to the sums and count of mean `j`.
fn add_point(acc: &mut [i64], p: &[i32], j: usize) {
    let dim = p.len();
    let k = acc.len() / (dim + 1);
    for (s, &x) in acc[j * dim..(j + 1) * dim].iter_mut().zip(p) {
        *s += i64::from(x);
    }
    acc[k * dim + j] += 1;
}

/// New means from sums and counts (truncating division); an empty cluster
/// keeps its mean. Returns whether any mean moved.
fn update(means: &mut [i32], acc: &[i64], dim: usize) -> bool {
    let k = means.len() / dim;
    let mut moved = false;
    for j in 0..k {
        let count = acc[k * dim + j];
        if count == 0 {
            continue;
        }
        for i in 0..dim {
            let m = (acc[j * dim + i] / count) as i32;
            moved |= means[j * dim + i] != m;
            means[j * dim + i] = m;
        }
    }
    moved
}

/// Phoenix++'s loop: until no point changes cluster (its stopping rule,
/// which needs each point's previous cluster).
fn sequential(points: &[i32], means: &mut [i32], dim: usize) -> usize {
    let k = means.len() / dim;
    let mut cluster = vec![usize::MAX; points.len() / dim];
    let mut iterations = 0;
    loop {
        iterations += 1;
        let mut modified = false;
        let mut acc = vec![0i64; k * (dim + 1)];
        for (p, c) in points.chunks_exact(dim).zip(&mut cluster) {
            let j = nearest(p, means, dim);
            if *c != j {
                *c = j;
                modified = true;
            }
            add_point(&mut acc, p, j);
        }
        update(means, &acc, dim);
        if !modified {
            return iterations;
        }
    }
}

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let a = Args::parse();
    if a.dim == 0 || a.clusters == 0 || a.points == 0 || a.grid == 0 {
        eprintln!("kmeans: -d, -c, -p and -s must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let (points, means0) = shmr_bench::phoenix::kmeans_input(a.dim, a.clusters, a.points, a.grid);
    println!(
        "kmeans: {} points of {} dimensions, {} means, grid {}",
        a.points, a.dim, a.clusters, a.grid
    );

    let t = Instant::now();
    let mut want = means0.clone();
    let seq_iterations = sequential(&points, &mut want, a.dim);
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(a.workers)?;
    let pts = SharedArray::from_array(
        &ArrayView2::from_shape((a.points, a.dim), &points).expect("shape"),
    )?;
    let mut means = SharedArray::<i32, Ix2>::from_array(
        &ArrayView2::from_shape((a.clusters, a.dim), &means0).expect("shape"),
    )?;
    let t = Instant::now();
    let mut iterations = 0;
    loop {
        iterations += 1;
        let acc = pool
            .on(&pts)
            .side(&means)
            .map_reduce(|(p, m)| assign(p, m), add_all)?;
        // Between jobs no worker reads the means: rewrite them in place.
        let mut view = means.view_mut();
        let moved = update(view.as_slice_mut().expect("contiguous"), &acc, a.dim);
        if !moved {
            break;
        }
    }
    let took = t.elapsed();

    // The same iterations on threads, over chunks of 4096 points.
    let threads = shmr_suite::threads_like(&pool);
    let t = Instant::now();
    let mut on_threads = means0.clone();
    let mut rayon_iterations = 0;
    loop {
        rayon_iterations += 1;
        let m = &on_threads;
        let acc = threads.install(|| {
            points
                .par_chunks(a.dim * 4096)
                .map(|c| assign_of(c, m, a.dim))
                .reduce(|| vec![0; a.clusters * (a.dim + 1)], add_all)
        });
        if !update(&mut on_threads, &acc, a.dim) {
            break;
        }
    }
    let rayon_took = t.elapsed();

    // What one more iteration costs beyond its mapping: a job over the same
    // arrays whose mapper returns at once.
    let mut overheads: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            pool.on(&pts)
                .side(&means)
                .map_reduce(|_| (), |_, _| ())
                .map(|()| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    let overhead = shmr_bench::overheads::median(&mut overheads);

    let same = means.view().as_slice().expect("contiguous") == &want[..] && on_threads == want;
    println!(
        "  sequential loop     : {seq:>10.2?}  ({seq_iterations} iterations: until no point changes cluster)"
    );
    println!(
        "  shmr, {} workers     : {took:>10.2?}  ({iterations} iterations: until no mean moves; {:.2?} each)",
        pool.workers(),
        took / iterations as u32
    );
    println!(
        "  rayon, {} threads    : {rayon_took:>10.2?}  ({rayon_iterations} iterations, as shmr; {:.2?} each)",
        pool.workers(),
        rayon_took / rayon_iterations as u32
    );
    let per = |d: Duration, n: usize| d.as_secs_f64() / n as f64;
    println!(
        "  speedup per iteration: {:>9.2}x the loop, {:.2}x rayon",
        per(seq, seq_iterations) / per(took, iterations),
        per(rayon_took, rayon_iterations) / per(took, iterations)
    );
    println!(
        "  per-iteration overhead (a no-op job over the same arrays, median of 200): {overhead:.1?}"
    );
    let code = shmr_suite::verdict("final means", same);
    if a.means {
        println!("Final means:");
        for m in means.view().rows() {
            let line: String = m.iter().map(|v| format!("{v:5} ")).collect();
            println!("{line}");
        }
    }
    // Phoenix++ stops one iteration later when the last one moved no point
    // but the one before moved some: the means are the same either way.
    Ok(if seq_iterations.abs_diff(iterations) <= 1 {
        code
    } else {
        ExitCode::FAILURE
    })
}
