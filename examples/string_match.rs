//! Phoenix++'s string_match on shmr: which of a list of keys occur in a
//! file of words, one word per line, and how often. Lines are records
//! (`\r` or `\n` ends one, as in Phoenix++), each line compared with every
//! key; the matches counted per key in a keyed job with integer keys (the
//! key's index).
//!
//! The file is one you name, mapped without reading it, or `--bytes` of
//! generated words (Zipf-distributed), with Phoenix++'s four keys planted
//! at about one line in a thousand. Checked against a sequential loop and
//! rayon; exit 1 if any count differs.
//!
//! Phoenix++ "encrypts" each line (every byte + 5) and compares it with
//! the encrypted keys; a byte-wise bijection, so the same lines match as
//! with a plain comparison, which is what this does. As shipped, its
//! comparisons do nothing (`if (...);`): see docs/benchmarks.md for the
//! variant the harness builds to compare with.
//!
//! cargo run --release --example string_match [-- FILE]

use clap::Parser;
use rayon::prelude::*;
use shmr::keyed::{Delimiters, Records, Sum};
use shmr::{NpyMode, Pool, SharedArray};
use shmr_bench::text::{Layout, Zipf, generate};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The keys Phoenix++'s string_match looks for.
const PHOENIX_KEYS: [&str; 4] = ["Helloworld", "howareyou", "ferrari", "whotheman"];

/// Which keys occur in a file of words, with shmr, rayon and a plain loop.
#[derive(Parser, Debug)]
struct Args {
    /// A file of words, one per line [default: generated]
    file: Option<PathBuf>,
    /// Bytes of words to generate without FILE
    #[arg(long, default_value = "500000000", value_parser = shmr_bench::whole_number)]
    bytes: usize,
    /// Keys to look for, comma-separated [default: Phoenix++'s four]
    #[arg(long, value_delimiter = ',')]
    keys: Vec<String>,
    /// Also write the generated words to this file (for Phoenix++)
    #[arg(long)]
    write: Option<PathBuf>,
    /// Timed runs of rayon and shmr (the median is reported)
    #[arg(long, default_value = "3", value_parser = shmr_bench::whole_number)]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

/// Lines end at `\r` or `\n`, as Phoenix++ reads them.
const LINES: Delimiters = Delimiters::new(b"\r\n");

/// Matches per key, in the keys' order.
type Counts = Vec<u64>;

/// Counts the lines of `records` equal to each key.
// Never inlined, so the loop, rayon and shmr run the same machine code.
#[inline(never)]
fn matches(keys: &[Vec<u8>], records: Records<'_>, mut hit: impl FnMut(usize)) {
    for line in records.iter() {
        if let Some(i) = keys.iter().position(|k| k.as_slice() == line) {
            hit(i);
        }
    }
}

fn sequential(keys: &[Vec<u8>], text: &[u8]) -> Counts {
    let mut c = vec![0; keys.len()];
    matches(keys, Records::new(text, LINES), |i| c[i] += 1);
    c
}

fn by_threads(keys: &[Vec<u8>], text: &[u8]) -> Counts {
    Records::pieces(text, 1 << 20, LINES)
        .collect::<Vec<_>>()
        .into_par_iter()
        .fold(
            || vec![0; keys.len()],
            |mut c, piece| {
                matches(keys, piece, |i| c[i] += 1);
                c
            },
        )
        .reduce(
            || vec![0; keys.len()],
            |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
        )
}

fn by_shmr(
    pool: &Pool,
    keys: &[Vec<u8>],
    text: &SharedArray<u8, ndarray::Ix1>,
) -> Result<Counts, shmr::Error> {
    let found = pool
        .on(text)
        .records(LINES)
        .params(keys.to_vec())
        .keyed(Sum, |keys, lines, out| {
            matches(keys, lines, |i| out.emit(&(i as u32), 1_u64))
        })?;
    // Keys that never occur have no entry.
    Ok((0..keys.len() as u32)
        .map(|i| found.get(&i).copied().unwrap_or(0))
        .collect())
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let args = Args::parse();
    let keys: Vec<Vec<u8>> = if args.keys.is_empty() {
        PHOENIX_KEYS.iter().map(|k| k.as_bytes().to_vec()).collect()
    } else {
        args.keys.iter().map(|k| k.as_bytes().to_vec()).collect()
    };
    let text = match &args.file {
        // SAFETY: nothing else writes or truncates the file meanwhile.
        Some(path) => unsafe { SharedArray::open_bytes(path, NpyMode::ReadOnly)? },
        None => {
            let planted: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let mut text = SharedArray::<u8, ndarray::Ix1>::zeros(args.bytes)?;
            let bytes = text.view_mut().into_slice().expect("contiguous");
            generate(
                args.bytes,
                &Zipf::new(250_000, 1.0),
                Layout::Lines,
                &planted,
                2,
                bytes,
            );
            if let Some(path) = &args.write {
                std::fs::write(path, &*bytes)?;
            }
            text
        }
    };
    println!(
        "string_match: {} keys in {:.1} MB of words{}",
        keys.len(),
        text.len() as f64 / 1e6,
        args.file
            .as_ref()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default()
    );
    let pool = shmr_suite::pool_of(args.workers)?;
    let bytes = text.view();
    let bytes = bytes.as_slice().expect("contiguous");

    let t = Instant::now();
    let want = sequential(&keys, bytes);
    let seq = t.elapsed();
    let threads = shmr_suite::threads_like(&pool);
    by_shmr(&pool, &keys, &text)?; // warm
    let ((got, took), (on_threads, rayon_took)) = shmr_suite::alternate(
        args.reps,
        || by_shmr(&pool, &keys, &text),
        || threads.install(|| by_threads(&keys, bytes)),
    );
    let got = got?;
    shmr_suite::report_times(
        seq,
        rayon_took,
        took,
        pool.workers(),
        &format!("median of {}, alternating, warm", args.reps),
    );
    for (k, n) in keys.iter().zip(&got) {
        println!("  {:<20}: {n}", String::from_utf8_lossy(k));
    }
    Ok(shmr_suite::verdict(
        "matches",
        got == want && on_threads == want,
    ))
}
