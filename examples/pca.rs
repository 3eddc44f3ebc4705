//! Phoenix++'s pca on shmr: the mean of each row of a rows x cols integer
//! matrix (rows are the variables), then the covariance of every pair of
//! rows, upper triangle, in integer arithmetic as Phoenix++ computes it.
//!
//! Two jobs on one pool. The means: each chunk of rows writes its means
//! (`map_into`). The covariances: each chunk of rows, with its means read
//! alongside (`.and`), against the whole matrix and all the means (side
//! arrays), writes its rows of the covariance matrix: a d x d result
//! written in place by row blocks, never sent as partials.
//!
//! With `--partials`, the other way MapReduce computes a covariance: the
//! matrix transposed (observations as rows), each chunk of observations
//! giving a rows x rows partial (8 MB at 1000 variables, twice the slot a
//! pool starts with) that the coordinator adds up as the partials arrive;
//! it prints what that costs in memory. The partials are `RawArray`s: they
//! cross shared memory as their bytes, not element by element.
//!
//! The input is Phoenix++'s own (`-r -c -s`, glibc `rand()` unseeded), so
//! the covariance sum it prints can be compared with Phoenix++'s. Checked
//! against a sequential loop.
//!
//! cargo run --release --example pca -- -r 1000 -c 1000 -s 100 [--partials]

use clap::Parser;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix1, Ix2};
use rayon::prelude::*;
use shmr::{RawArray, SharedArray};
use std::process::ExitCode;
use std::time::Instant;

/// pca as Phoenix++ computes it, with shmr and with a plain loop.
#[derive(Parser, Debug)]
struct Args {
    /// Rows (variables)
    #[arg(short = 'r', default_value_t = 1000)]
    rows: usize,
    /// Columns (observations); at least 2
    #[arg(short = 'c', default_value_t = 1000)]
    cols: usize,
    /// Each value is rand() % s
    #[arg(short = 's', default_value_t = 100)]
    max: u32,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
    /// Chunks of observations, each giving a rows x rows partial
    #[arg(long)]
    partials: bool,
    /// How many chunks of observations with --partials
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    chunks: u64,
}

/// The covariance sums of a chunk of observations (rows of the transposed
/// matrix) as a rows x rows partial: upper triangle, before the division.
fn scatter(obs: ArrayView2<'_, i32>, means: ArrayView1<'_, i64>) -> Array2<i64> {
    let d = means.len();
    let means = means.as_slice().expect("contiguous");
    let mut out = Array2::<i64>::zeros((d, d));
    let acc = out.as_slice_mut().expect("contiguous");
    let mut centred = vec![0i64; d];
    for o in obs.as_slice().expect("contiguous").chunks_exact(d) {
        for ((c, &x), &m) in centred.iter_mut().zip(o).zip(means) {
            *c = i64::from(x) - m;
        }
        for (i, &ci) in centred.iter().enumerate() {
            for (a, &cj) in acc[i * d + i..(i + 1) * d].iter_mut().zip(&centred[i..]) {
                *a += ci * cj;
            }
        }
    }
    out
}

/// Whole rows of `width` values, as a matrix.
fn rows_of(x: &[i32], width: usize) -> ArrayView2<'_, i32> {
    ArrayView2::from_shape((x.len() / width, width), x).expect("whole rows")
}

/// The process's peak resident memory, from /proc.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The mean of each row: the sum over the columns, truncated.
fn means(rows: ArrayView2<'_, i32>, mut out: ArrayViewMut1<'_, i64>) {
    for (r, m) in rows.rows().into_iter().zip(out.iter_mut()) {
        let row = r.to_slice().expect("rows of a shared array are contiguous");
        *m = row.iter().map(|&x| i64::from(x)).sum::<i64>() / row.len() as i64;
    }
}

/// Covariances of rows `first..` (whose means are `row_means`) with every
/// row from themselves on: cov(i, j) = sum_k (x_ik - m_i)(x_jk - m_j) /
/// (cols - 1), integer division; below the diagonal stays 0.
fn covariances(
    first: usize,
    rows: ArrayView2<'_, i32>,
    row_means: ArrayView1<'_, i64>,
    all: ArrayView2<'_, i32>,
    all_means: ArrayView1<'_, i64>,
    mut out: ArrayViewMut2<'_, i64>,
) {
    let cols = all.ncols();
    let all = all.as_slice().expect("contiguous");
    let rows = rows.as_slice().expect("contiguous");
    for (k, (x, &mx)) in rows.chunks_exact(cols).zip(row_means).enumerate() {
        let i = first + k;
        let mut out_row = out.row_mut(k);
        for (j, (y, &my)) in all.chunks_exact(cols).zip(all_means).enumerate().skip(i) {
            let s: i64 = x
                .iter()
                .zip(y)
                .map(|(&a, &b)| (i64::from(a) - mx) * (i64::from(b) - my))
                .sum();
            out_row[j] = s / (cols as i64 - 1);
        }
    }
}

fn main() -> Result<ExitCode, shmr::Error> {
    shmr::init();
    let a = Args::parse();
    if a.rows == 0 || a.cols < 2 || a.max == 0 {
        eprintln!("pca: -r must be at least 1, -c at least 2, -s at least 1");
        return Ok(ExitCode::from(2));
    }
    let (r, c) = (a.rows, a.cols);
    let m =
        Array2::from_shape_vec((r, c), shmr_bench::phoenix::pca_input(r, c, a.max)).expect("shape");
    println!("pca: {r} x {c}, values below {}", a.max);

    let t = Instant::now();
    let mut want_means = Array1::<i64>::zeros(r);
    means(m.view(), want_means.view_mut());
    let mut want = Array2::<i64>::zeros((r, r));
    covariances(
        0,
        m.view(),
        want_means.view(),
        m.view(),
        want_means.view(),
        want.view_mut(),
    );
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(a.workers)?;
    let matrix = SharedArray::<i32, Ix2>::from_array(&m)?;
    let mut row_means = SharedArray::<i64, Ix1>::zeros(r)?;
    let mut cov = SharedArray::<i64, Ix2>::zeros((r, r))?;
    // Observations as rows, for --partials.
    let transposed = if a.partials {
        Some(SharedArray::<i32, Ix2>::from_array(
            &m.t().as_standard_layout(),
        )?)
    } else {
        None
    };
    let mut chunks = 0;
    let mut run = || -> Result<(), shmr::Error> {
        pool.on(&matrix).map_into(&mut row_means, means)?;
        if let Some(t) = &transposed {
            let (sums, report) = pool
                .on(t)
                .side(&row_means)
                // Few chunks: the coordinator copies and adds each 8 MB
                // partial (about 1.3 ms) on a core the workers need too
                // (docs/benchmarks.md).
                .chunk_size(shmr::ChunkSize::Rows(c.div_ceil(a.chunks as usize)))
                .reported()
                .map_reduce(
                    |(obs, m)| RawArray(scatter(obs, m)),
                    |x, y| RawArray(x.0 + y.0),
                )?;
            chunks = report.chunks;
            cov.view_mut().assign(&(sums.0 / (c as i64 - 1)));
            return Ok(());
        }
        // Driven by the row indices, which the mapper gets with its rows.
        pool.range(r)
            .and(&matrix)
            .and(&row_means)
            .side(&matrix)
            .side(&row_means)
            .map_into(&mut cov, |(first, rows, rm, all, am), out| {
                covariances(first.start, rows, rm, all, am, out)
            })
    };
    run()?; // warm
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed());
    }
    let took = shmr_bench::overheads::median(&mut times);
    // Before rayon's run adds its own.
    let peak = peak_rss();

    // The same jobs on threads: means by rows; covariances by rows of the
    // result (or, with --partials, four chunks of observations added up).
    let threads = shmr_suite::threads_like(&pool);
    let mut t_means = Array1::<i64>::zeros(r);
    let mut t_cov = Array2::<i64>::zeros((r, r));
    let mut by_threads = || {
        threads.install(|| {
            let flat = m.as_slice().expect("contiguous");
            t_means
                .as_slice_mut()
                .expect("contiguous")
                .par_iter_mut()
                .zip(flat.par_chunks(c))
                .for_each(|(mean, row)| {
                    means(
                        rows_of(row, c),
                        ArrayViewMut1::from(std::slice::from_mut(mean)),
                    )
                });
            if let Some(t) = &transposed {
                let obs = t.view();
                let obs = obs.as_slice().expect("contiguous");
                let sums = obs
                    .par_chunks(c.div_ceil(a.chunks as usize) * r)
                    .map(|o| scatter(rows_of(o, r), t_means.view()))
                    .reduce(|| Array2::zeros((r, r)), |x, y| x + y);
                t_cov.assign(&(sums / (c as i64 - 1)));
                return;
            }
            t_cov
                .as_slice_mut()
                .expect("contiguous")
                .par_chunks_mut(r)
                .enumerate()
                .for_each(|(i, out)| {
                    covariances(
                        i,
                        rows_of(&flat[i * c..(i + 1) * c], c),
                        t_means.slice(ndarray::s![i..i + 1]),
                        m.view(),
                        t_means.view(),
                        ArrayViewMut2::from_shape((1, r), out).expect("one row"),
                    )
                });
        })
    };
    by_threads();
    let ((), rayon_took) = shmr_suite::median_time(3, by_threads);
    let same = row_means.view() == want_means.view()
        && cov.view() == want.view()
        && t_means == want_means
        && t_cov == want;
    let sum: i64 = cov.view().iter().sum();
    shmr_suite::report_times(
        seq,
        rayon_took,
        took,
        pool.workers(),
        "both jobs, median of 3, warm",
    );
    println!("  covariance sum      : {sum}  (what Phoenix++ prints)");
    if a.partials {
        println!(
            "  partials            : {chunks} of {:.1} MB; slots {} x {:.1} MB; peak memory of this process {}",
            (r * r * 8) as f64 / 1e6,
            pool.workers(),
            pool.slot_bytes() as f64 / 1e6,
            peak
        );
    }
    Ok(shmr_suite::verdict("means, covariances", same))
}
