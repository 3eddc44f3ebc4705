//! Phoenix++'s matrix_multiply on shmr: C = A x B for N x N int32
//! matrices read from raw files (`matrix_file_A.txt`, `matrix_file_B.txt`,
//! N*N native int32 each, Phoenix++'s format), mapped, not read. A is cut
//! into row blocks; every mapper sees B whole (a side array); each writes
//! its rows of C (`map_into`), so no partial results are collected at all.
//!
//! The files are written here first (values `rand() % 11`, as Phoenix++'s
//! generator, from glibc `rand()` seeded with 1) unless `--keep` finds
//! them already; `--dir` says where. Checked against the same product
//! computed by a sequential loop; prints the int32 (wrapping) sum of C,
//! which is what Phoenix++ prints.
//!
//! cargo run --release --example matrix_multiply -- 2000

use clap::Parser;
use ndarray::{ArrayView2, ArrayViewMut2, Ix2};
use rayon::prelude::*;
use shmr::{NpyMode, SharedArray};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// C = A x B with shmr and with a plain loop, on Phoenix++'s input files.
#[derive(Parser, Debug)]
struct Args {
    /// Rows and columns of each matrix
    #[arg(default_value = "2000", value_parser = shmr_bench::whole_number)]
    n: usize,
    /// Where the matrix files are (written there unless --keep finds them)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Use the files already in --dir if they have the right size
    #[arg(long)]
    keep: bool,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

/// Rows of C from the same rows of A and all of B, in Phoenix++'s i-k-j
/// order: the inner loop runs along a row of B and of C, contiguous.
// Never inlined, so the loop, rayon and shmr run the same machine code.
#[inline(never)]
fn multiply(a: ArrayView2<'_, i32>, b: ArrayView2<'_, i32>, mut c: ArrayViewMut2<'_, i32>) {
    let n = b.ncols();
    let b = b.as_slice().expect("shared arrays are contiguous");
    let a = a.as_slice().expect("contiguous");
    let c = c.as_slice_mut().expect("contiguous");
    for (a_row, c_row) in a.chunks_exact(b.len() / n).zip(c.chunks_exact_mut(n)) {
        c_row.fill(0);
        for (&x, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            for (o, &y) in c_row.iter_mut().zip(b_row) {
                *o = o.wrapping_add(x.wrapping_mul(y));
            }
        }
    }
}

/// Writes an N x N file of `rand() % 11` int32, continuing `r`.
fn write_matrix(
    path: &Path,
    n: usize,
    r: &mut shmr_bench::phoenix::GlibcRand,
) -> std::io::Result<()> {
    let bytes: Vec<u8> = (0..n * n)
        .flat_map(|_| (r.below(11) as i32).to_ne_bytes())
        .collect();
    std::fs::write(path, bytes)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let args = Args::parse();
    let n = args.n;
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let (path_a, path_b) = (dir.join("matrix_file_A.txt"), dir.join("matrix_file_B.txt"));
    let size = (n * n * 4) as u64;
    let fits = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() == size);
    if !(args.keep && fits(&path_a) && fits(&path_b)) {
        let mut r = shmr_bench::phoenix::GlibcRand::new(1);
        write_matrix(&path_a, n, &mut r)?;
        write_matrix(&path_b, n, &mut r)?;
    }
    // SAFETY: nothing else writes or truncates the files while they are
    // mapped (this program wrote them, or was told to reuse them).
    let (a, b) = unsafe {
        (
            SharedArray::<i32, Ix2>::open_raw(&path_a, 0, (n, n), NpyMode::ReadOnly)?,
            SharedArray::<i32, Ix2>::open_raw(&path_b, 0, (n, n), NpyMode::ReadOnly)?,
        )
    };
    println!(
        "matrix_multiply: {n} x {n} int32, files in {}",
        dir.display()
    );

    let t = Instant::now();
    let mut want = ndarray::Array2::<i32>::zeros((n, n));
    multiply(a.view(), b.view(), want.view_mut());
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(args.workers)?;
    let mut c = SharedArray::<i32, Ix2>::zeros((n, n))?;
    // Warm once (page cache, workers' mappings), then time.
    let job = |c: &mut SharedArray<i32, Ix2>| {
        pool.on(&a)
            .side(&b)
            .map_into(c, |(a, b), c| multiply(a, b, c))
    };
    job(&mut c)?;
    let mut times = Vec::new();
    for _ in 0..3 {
        c.view_mut().fill(-1);
        let t = Instant::now();
        job(&mut c)?;
        times.push(t.elapsed());
    }
    let took = shmr_bench::overheads::median(&mut times);

    // The same product on threads, by blocks of 16 rows of A and C.
    let threads = shmr_suite::threads_like(&pool);
    let mut on_threads = ndarray::Array2::<i32>::zeros((n, n));
    let (av, bv) = (a.view(), b.view());
    let flat_a = av.as_slice().expect("contiguous");
    let mut by_threads = || {
        threads.install(|| {
            on_threads
                .as_slice_mut()
                .expect("contiguous")
                .par_chunks_mut(16 * n)
                .zip(flat_a.par_chunks(16 * n))
                .for_each(|(c, a)| {
                    let rows = a.len() / n;
                    multiply(
                        ArrayView2::from_shape((rows, n), a).expect("whole rows"),
                        bv,
                        ArrayViewMut2::from_shape((rows, n), c).expect("whole rows"),
                    )
                })
        })
    };
    by_threads();
    let ((), rayon_took) = shmr_suite::median_time(3, by_threads);
    let same = c.view() == want.view() && on_threads == want;
    let sum = c.view().iter().fold(0i32, |s, &x| s.wrapping_add(x));
    shmr_suite::report_times(seq, rayon_took, took, pool.workers(), "median of 3, warm");
    println!("  total sum           : {sum}  (what Phoenix++ prints)");
    Ok(shmr_suite::verdict("product", same))
}
