//! Per-column statistics of a table in a `.npy` file, numpy's
//! `a.mean(axis=0)`, `a.std(axis=0)`, `a.min(axis=0)`, `a.max(axis=0)`:
//! `builtin::Columns(Stats)` over the file mapped read-only, against a
//! per-column loop and rayon over the same bytes, and against the
//! whole-array `Sum`, which reads the same bytes and does the least with
//! them (the read bandwidth of this machine, as a job sees it).
//!
//! Without `--file` it writes a (`--rows`, `--cols`) f32 table first, a
//! C-order `.npy` as numpy writes it (`np.load` reads it; a file numpy
//! wrote works the same with `--file`). The loop and rayon compute what a
//! user would write: per column, in f64, the count, sum, sum of squares
//! about the first row, min and max. rayon also runs shmr's own kernel
//! (`Job::map` of `Columns(Stats)` on its chunks), which compares threads
//! with processes alone.
//!
//! cargo run --release --example column_stats -- --rows 20000000 --cols 8

use clap::Parser;
use rayon::prelude::*;
use shmr::builtin::{Columns, Stats, Sum};
use shmr::{Job, NpyMode, SharedArray};
use std::path::PathBuf;
use std::process::ExitCode;

/// Per-column statistics with shmr, rayon and a loop, checked against
/// each other.
#[derive(Parser, Debug)]
struct Args {
    /// A 2-D f32 .npy file to read (numpy's np.save); without it, a table
    /// of --rows and --cols is written to a temporary file
    #[arg(long)]
    file: Option<PathBuf>,
    /// Rows of the table written
    #[arg(long, default_value = "20000000", value_parser = shmr_bench::whole_number)]
    rows: usize,
    /// Columns of the table written
    #[arg(long, default_value = "8", value_parser = shmr_bench::whole_number)]
    cols: usize,
    /// Timed runs of each way, alternated (the median is reported)
    #[arg(long, default_value = "5")]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

/// One column's running sums, as a user's loop keeps them: shifted by
/// the column's first value, so that the variance keeps its precision.
#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    s1: f64,
    s2: f64,
    min: f64,
    max: f64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        n: 0,
        s1: 0.0,
        s2: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
    fn merge(self, o: Acc) -> Acc {
        Acc {
            n: self.n + o.n,
            s1: self.s1 + o.s1,
            s2: self.s2 + o.s2,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }
    /// Mean and population standard deviation.
    fn mean_std(&self, shift: f64) -> (f64, f64) {
        let n = self.n as f64;
        let var = (self.s2 - self.s1 * self.s1 / n).max(0.0) / n;
        (shift + self.s1 / n, var.sqrt())
    }
}

/// Adds rows of `shift.len()` columns to one accumulator per column.
fn add_rows(acc: &mut [Acc], rows: &[f32], shift: &[f64]) {
    for row in rows.chunks_exact(shift.len()) {
        for ((a, &x), &s) in acc.iter_mut().zip(row).zip(shift) {
            let x = f64::from(x);
            let d = x - s;
            a.n += 1;
            a.s1 += d;
            a.s2 += d * d;
            a.min = a.min.min(x);
            a.max = a.max.max(x);
        }
    }
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let a = Args::parse();
    let scratch = std::env::temp_dir().join(format!("column_stats-{}.npy", std::process::id()));
    let path = match &a.file {
        Some(p) => p.clone(),
        None => {
            // Column j: values around 10 j, spread j + 1.
            let mut t = SharedArray::<f32, _>::create_npy(&scratch, (a.rows, a.cols.max(1)))?;
            t.view_mut().indexed_iter_mut().for_each(|((i, j), x)| {
                *x = (10 * j) as f32 + ((i * 31 + j * 7) % 1000) as f32 / 1000.0 * (j + 1) as f32
            });
            scratch.clone()
        }
    };
    // SAFETY: nothing writes the file while it is mapped: it is ours, or
    // the user's, who is told so (README).
    let table = unsafe { SharedArray::<f32, ndarray::Ix2>::open_npy(&path, NpyMode::ReadOnly) };
    // The file is mapped: its name can go.
    if a.file.is_none() {
        std::fs::remove_file(&scratch)?;
    }
    let table = table?;
    let (rows, cols) = table.view().dim();
    let mb = (rows * cols * 4) as f64 / 1e6;
    let xs = table.view();
    let xs = xs.as_slice().expect("a C-order .npy is contiguous");
    let shift: Vec<f64> = xs[..cols.min(xs.len())]
        .iter()
        .map(|&x| f64::from(x))
        .collect();

    let pool = shmr_suite::pool_of(a.workers)?;
    let threads = shmr_suite::threads_like(&pool);
    // rayon over chunks of rows as large as shmr's.
    let rows_per = pool.on(&table).partition()?.chunk_rows() as usize;
    let by_rayon = || {
        threads.install(|| {
            xs.par_chunks(rows_per * cols)
                .fold(
                    || vec![Acc::EMPTY; cols],
                    |mut acc, rows| {
                        add_rows(&mut acc, rows, &shift);
                        acc
                    },
                )
                .reduce(
                    || vec![Acc::EMPTY; cols],
                    |a, b| a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect(),
                )
        })
    };
    // rayon with shmr's kernel: the job's map on each chunk, its reduce.
    let by_rayon_kernel = || {
        let job = Columns(Stats);
        threads.install(|| {
            xs.par_chunks(rows_per * cols)
                .map(|c| {
                    let c = ndarray::ArrayView2::from_shape((c.len() / cols, cols), c);
                    Job::<f32, ndarray::Ix2>::map(&job, c.expect("whole rows"))
                })
                .reduce_with(|a, b| Job::<f32, ndarray::Ix2>::reduce(&job, a, b))
                .unwrap_or_default()
        })
    };
    let by_shmr = || pool.on(&table).run(&Columns(Stats));
    by_shmr()?; // warm: page cache, mappings
    by_rayon();
    let ((got, took), (on_threads, rayon_took)) = shmr_suite::alternate(a.reps, by_shmr, by_rayon);
    let got = got?;
    let ((_, took2), (same_kernel, kernel_took)) =
        shmr_suite::alternate(a.reps, by_shmr, by_rayon_kernel);
    let (_, sum_took) = shmr_suite::median_time(a.reps, || pool.on(&table).run(&Sum));
    let t = std::time::Instant::now();
    let mut want = vec![Acc::EMPTY; cols];
    add_rows(&mut want, xs, &shift);
    let seq = t.elapsed();

    let gbs = |d: std::time::Duration| mb / 1e3 / d.as_secs_f64();
    println!(
        "column_stats: a ({rows}, {cols}) f32 table, {mb:.0} MB, from {}",
        match &a.file {
            Some(p) => p.display().to_string(),
            None => "a table written here".into(),
        }
    );
    shmr_suite::report_times(seq, rayon_took, took, pool.workers(), "median, alternated");
    println!(
        "  rayon, shmr's kernel: {kernel_took:>10.2?}  (Job::map on rayon's chunks; shmr in the same \
         alternation {took2:.2?}: {:.2}x rayon)",
        kernel_took.as_secs_f64() / took2.as_secs_f64()
    );
    println!(
        "  bandwidth           : {:>7.1} GB/s, {:.0}% of the whole-array Sum's {:.1} GB/s (what \
         reading the table costs)",
        gbs(took),
        100.0 * sum_took.as_secs_f64() / took.as_secs_f64(),
        gbs(sum_took)
    );

    // Counts, minima and maxima exactly; means and deviations to 1e-9
    // (sums in another order round differently).
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1e-300);
    let mut same = got.len() == cols && on_threads.len() == cols && same_kernel.len() == cols;
    for (j, ((s, w), r)) in got.iter().zip(&want).zip(&on_threads).enumerate() {
        let k = &same_kernel[j];
        same &= k.count() == s.count()
            && (k.min(), k.max()) == (s.min(), s.max())
            && k.mean().zip(s.mean()).is_some_and(|(x, y)| close(x, y))
            && k.std().zip(s.std()).is_some_and(|(x, y)| close(x, y));
        let (mean, std) = w.mean_std(shift[j]);
        let (r_mean, r_std) = r.mean_std(shift[j]);
        same &= s.count() == w.n
            && r.n == w.n
            && (s.min(), s.max()) == (Some(w.min), Some(w.max))
            && (r.min, r.max) == (w.min, w.max)
            && s.mean().is_some_and(|m| close(m, mean))
            && s.std().is_some_and(|d| close(d, std))
            && close(r_mean, mean)
            && close(r_std, std);
        if j < 4 {
            println!(
                "  column {j}            : mean {mean:.4}, std {std:.4}, min {:.4}, max {:.4}",
                w.min, w.max
            );
        }
    }
    Ok(shmr_suite::verdict("per-column stats", same))
}
