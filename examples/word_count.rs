//! Phoenix++'s word_count on shmr: the count of every word of a text, the
//! top ones printed. Words as Phoenix++ defines them (a letter, then
//! letters and apostrophes, upper-cased; see `shmr::builtin::for_each_word`);
//! the text cut into chunks at whitespace (`Delimiters::WHITESPACE`), each
//! worker's words counted in one `WordCounts` (a table made for words) by a
//! records `fold`, the workers' tables merged. Also timed once: the same
//! count as a keyed job (`keyed(Sum, count_words)`, a general hash table
//! per worker), and rayon running `WordCounts` too, which compares threads
//! with processes alone.
//!
//! The text is a file you name, mapped without reading it, or `--bytes` of
//! generated English-like text (a Zipf-distributed vocabulary: a few words
//! very frequent, most rare). Checked against a sequential loop over one
//! `HashMap` and against rayon (fold and reduce of hash maps); exit 1 if
//! any count differs.
//!
//! cargo run --release --example word_count [-- FILE]

use clap::Parser;
use rayon::prelude::*;
use shmr::builtin::{WordCounts, count_words, for_each_word};
use shmr::keyed::{Delimiters, Keyed, Records, SmallBytes, Sum};
use shmr::{NpyMode, Pool, SharedArray};
use shmr_bench::text::{Layout, Zipf, generate};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Word count of a text, with shmr, rayon and a plain loop.
#[derive(Parser, Debug)]
struct Args {
    /// A text file to count [default: generated text]
    file: Option<PathBuf>,
    /// Bytes of text to generate without FILE
    #[arg(long, default_value = "500000000", value_parser = shmr_bench::whole_number)]
    bytes: usize,
    /// Distinct words the generated text draws from (Heaps' law puts an
    /// English text of 500 MB at a few hundred thousand)
    #[arg(long, default_value = "250000", value_parser = shmr_bench::whole_number)]
    vocabulary: usize,
    /// Also write the generated text to this file (for Phoenix++ to read)
    #[arg(long)]
    write: Option<PathBuf>,
    /// Words to print, most frequent first
    #[arg(long, default_value = "10")]
    top: usize,
    /// Timed runs of rayon and shmr (the median is reported)
    #[arg(long, default_value = "3", value_parser = shmr_bench::whole_number)]
    reps: usize,
    /// Bytes per chunk [default: shmr's choice for records]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    chunk: Option<usize>,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

type Map = HashMap<SmallBytes, u64, foldhash::fast::RandomState>;
type Counts = Vec<(SmallBytes, u64)>;

fn bump(m: &mut Map, w: &[u8]) {
    match m.get_mut(w) {
        Some(n) => *n += 1,
        None => {
            m.insert(SmallBytes::from_slice(w), 1);
        }
    }
}

/// The loop, and each rayon task: one table for all the words given.
// Never inlined, so the loop and rayon run the same machine code.
#[inline(never)]
fn count_into(m: &mut Map, bytes: &[u8]) {
    for_each_word(bytes, |w| bump(m, w));
}

fn sorted(m: Map) -> Counts {
    let mut v: Counts = m.into_iter().collect();
    v.sort_unstable();
    v
}

/// rayon: the text in pieces of 1 MiB moved to whitespace (as shmr's
/// chunks are), folded into a table per task, the tables merged.
fn by_threads(text: &[u8]) -> Counts {
    let pieces: Vec<Records<'_>> = Records::pieces(text, 1 << 20, Delimiters::WHITESPACE).collect();
    let m = pieces
        .par_iter()
        .fold(Map::default, |mut m, piece| {
            count_into(&mut m, piece.as_bytes());
            m
        })
        .reduce(Map::default, |a, b| {
            // The smaller table into the larger.
            let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
            for (k, n) in small {
                *big.entry(k).or_insert(0) += n;
            }
            big
        });
    sorted(m)
}

/// rayon with shmr's table: the same pieces, a `WordCounts` per task.
fn by_threads_with_word_counts(text: &[u8]) -> Counts {
    let pieces: Vec<Records<'_>> = Records::pieces(text, 1 << 20, Delimiters::WHITESPACE).collect();
    let counts = pieces
        .par_iter()
        .fold(WordCounts::new, |mut t, piece| {
            t.add_records(*piece);
            t
        })
        .reduce(WordCounts::new, WordCounts::merge);
    let mut v: Counts = counts.iter().collect();
    v.sort_unstable();
    v
}

/// The built-in word count: a records fold into a `WordCounts` per worker.
fn by_shmr(
    pool: &Pool,
    text: &SharedArray<u8, ndarray::Ix1>,
    chunk: Option<usize>,
) -> Result<Keyed<SmallBytes, u64>, shmr::Error> {
    let mut job = pool.on(text).records(Delimiters::WHITESPACE);
    if let Some(bytes) = chunk {
        job = job.chunk_size(shmr::ChunkSize::Bytes(bytes));
    }
    Ok(job
        .fold(WordCounts::new, WordCounts::add_records, WordCounts::merge)?
        .into_keyed())
}

/// The same count as a keyed job: `count_words` emits each word into the
/// worker's general key table.
fn by_shmr_keyed(
    pool: &Pool,
    text: &SharedArray<u8, ndarray::Ix1>,
) -> Result<Keyed<SmallBytes, u64>, shmr::Error> {
    pool.on(text)
        .records(Delimiters::WHITESPACE)
        .keyed(Sum, count_words)
}

fn text(args: &Args) -> Result<SharedArray<u8, ndarray::Ix1>, Box<dyn std::error::Error>> {
    if let Some(path) = &args.file {
        // SAFETY: nothing else writes or truncates the file meanwhile.
        let text = unsafe { SharedArray::open_bytes(path, NpyMode::ReadOnly)? };
        println!(
            "word_count: {} ({:.1} MB, mapped: nothing read yet)",
            path.display(),
            text.len() as f64 / 1e6
        );
        return Ok(text);
    }
    let t = Instant::now();
    let zipf = Zipf::new(args.vocabulary, 1.0);
    let mut text = SharedArray::<u8, ndarray::Ix1>::zeros(args.bytes)?;
    let bytes = text
        .view_mut()
        .into_slice()
        .expect("a shared array of one axis is contiguous");
    generate(args.bytes, &zipf, Layout::Prose, &[], 1, bytes);
    if let Some(path) = &args.write {
        std::fs::write(path, &*bytes)?;
    }
    println!(
        "word_count: {:.1} MB of generated text, Zipf over {} words (made in {:.1?})",
        args.bytes as f64 / 1e6,
        args.vocabulary,
        t.elapsed()
    );
    Ok(text)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let args = Args::parse();
    let text = text(&args)?;
    let pool = shmr_suite::pool_of(args.workers)?;
    let bytes = text.view();
    let bytes = bytes.as_slice().expect("contiguous");

    // shmr first, so that the memory read after it is shmr's alone; this
    // run also warms (mappings, page cache, slots grown).
    let cpu = shmr_bench::machine::cpu_time();
    by_shmr(&pool, &text, args.chunk)?;
    let merging = shmr_bench::machine::cpu_time() - cpu;
    let coordinator = shmr_bench::machine::peak_private_bytes(std::process::id());
    let workers: Option<u64> = pool
        .worker_pids()
        .into_iter()
        .map(shmr_bench::machine::peak_private_bytes)
        .sum();

    let t = Instant::now();
    let mut m = Map::default();
    count_into(&mut m, bytes);
    let want = sorted(m);
    let seq = t.elapsed();

    let threads = shmr_suite::threads_like(&pool);
    let ((got, took), (on_threads, rayon_took)) = shmr_suite::alternate(
        args.reps,
        || by_shmr(&pool, &text, args.chunk),
        || threads.install(|| by_threads(bytes)),
    );
    let got = got?;

    shmr_suite::report_times(
        seq,
        rayon_took,
        took,
        pool.workers(),
        &format!("median of {}, alternating, warm", args.reps),
    );
    let total: u64 = got.iter().map(|(_, n)| n).sum();

    // Once each: the keyed job, and rayon with shmr's table.
    let t = Instant::now();
    let keyed = by_shmr_keyed(&pool, &text)?;
    let keyed_took = t.elapsed();
    let t = Instant::now();
    let same_table = threads.install(|| by_threads_with_word_counts(bytes));
    let same_table_took = t.elapsed();
    println!(
        "  shmr, keyed job     : {keyed_took:>10.2?}  (keyed(Sum, count_words): {:.2}x the fold's time)",
        keyed_took.as_secs_f64() / took.as_secs_f64()
    );
    println!(
        "  rayon, WordCounts   : {same_table_took:>10.2?}  (shmr's table on rayon's threads, once: \
         shmr {:.2}x rayon with it)",
        same_table_took.as_secs_f64() / took.as_secs_f64()
    );

    println!("  words               : {total} ({} distinct)", got.len());
    println!("  coordinator CPU     : {merging:>10.2?}  in shmr's first run (merging tables)");
    if let (Some(c), Some(w)) = (coordinator, workers) {
        println!(
            "  peak private memory : {:.0} MB coordinator, {:.0} MB all workers (shmr's runs, \
             the text excluded)",
            c as f64 / 1e6,
            w as f64 / 1e6
        );
    }
    for (i, (w, n)) in got.top(args.top).into_iter().enumerate() {
        println!("  {:>3}. {:<16} {n}", i + 1, String::from_utf8_lossy(w));
    }
    Ok(shmr_suite::verdict(
        "counts",
        got.as_slice() == want
            && on_threads == want
            && keyed.as_slice() == want
            && same_table == want,
    ))
}
