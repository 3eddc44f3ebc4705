//! The built-in jobs across MPI ranks: sum, stats and a histogram of a
//! global array of f64 whose rows are split among the ranks, each rank
//! mapping its block with its own pool of workers, the results swapped
//! and folded in rank order. With `--single`, the same jobs on one machine
//! without MPI, to compare.
//!
//! The array is generated (each value from its global index alone, so any
//! split of the rows holds the same values) or read from `--npy`, each
//! rank mapping its rows of the file (a `{rank}` in the path is replaced
//! by the rank: node-local copies).
//!
//! cargo build --release --features mpi --example distributed
//! mpirun -np 2 target/release/examples/distributed        # 1 GiB of f64
//! target/release/examples/distributed --single            # the same on one machine

use clap::Parser;
use ndarray::Ix1;
use shmr::builtin::{Histogram, Stats, Sum, count_words};
use shmr::distributed::{RankArray, World};
use shmr::keyed::{self, Delimiters, Keyed, SmallBytes};
use shmr::{NpyMode, SharedArray};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Sum, stats and histogram of one array, across MPI ranks.
#[derive(Parser, Debug)]
struct Args {
    /// Elements of the generated array (ignored with --npy)
    #[arg(long, default_value = "134217728", value_parser = shmr_bench::whole_number)]
    len: usize,
    /// An .npy file of f64 to read instead; `{rank}` is replaced by the rank
    #[arg(long)]
    npy: Option<String>,
    /// Timed repetitions of each job; the median is reported
    #[arg(long, default_value = "5", value_parser = shmr_bench::whole_number)]
    reps: usize,
    /// Fail unless MPI started this many ranks
    #[arg(long)]
    ranks: Option<usize>,
    /// Workers per rank [default: the machine's cores shared among its ranks]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
    /// Run on one machine, without MPI, for comparison
    #[arg(long)]
    single: bool,
    /// Count the words of this text file instead (a keyed job): each rank
    /// maps its share of the file, cut at whitespace
    #[arg(long)]
    words: Option<std::path::PathBuf>,
}

/// The value at global index `i`: a multiple of 1/8 in [0, 128), so that
/// sums of up to 2^46 of them are exact in any order (splitmix64's mix).
fn value(i: usize) -> f64 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (((z ^ (z >> 31)) >> 54) as f64) / 8.0
}

/// Fills a block with the values of global rows `start..`.
fn fill(start: &usize, mut chunk: ndarray::ArrayViewMut1<'_, f64>) {
    let first = start + shmr::current_rows().expect("in a mapper").start;
    chunk
        .iter_mut()
        .enumerate()
        .for_each(|(k, x)| *x = value(first + k));
}

/// What the three jobs answered, to compare runs: exact bits.
struct Answers {
    sum: f64,
    stats: shmr::builtin::Summary,
    hist: shmr::builtin::HistogramCounts,
}

impl Answers {
    fn print(&self) {
        let s = &self.stats;
        let bits = |v: Option<f64>| v.map_or(0, f64::to_bits);
        println!(
            "answers: sum={:#x} count={} min={:#x} max={:#x} mean={:#x} variance={:#x} histogram={:?}",
            self.sum.to_bits(),
            s.count(),
            bits(s.min()),
            bits(s.max()),
            bits(s.mean()),
            bits(s.variance()),
            self.hist.counts()
        );
    }
}

/// Runs the three jobs `reps` times after one warm run: answers and
/// median times.
fn jobs(
    reps: usize,
    mut sum: impl FnMut() -> shmr::Result<f64>,
    mut stats: impl FnMut() -> shmr::Result<shmr::builtin::Summary>,
    mut hist: impl FnMut() -> shmr::Result<shmr::builtin::HistogramCounts>,
) -> shmr::Result<(Answers, [Duration; 3])> {
    let time = |f: &mut dyn FnMut() -> shmr::Result<()>| -> shmr::Result<Duration> {
        f()?;
        let mut t = Vec::new();
        for _ in 0..reps.max(1) {
            let s = Instant::now();
            f()?;
            t.push(s.elapsed());
        }
        Ok(shmr_bench::overheads::median(&mut t))
    };
    let (mut a, mut b, mut c) = (0.0, None, None);
    let ts = time(&mut || sum().map(|v| a = v))?;
    let tt = time(&mut || stats().map(|v| b = Some(v)))?;
    let th = time(&mut || hist().map(|v| c = Some(v)))?;
    Ok((
        Answers {
            sum: a,
            stats: b.expect("ran"),
            hist: c.expect("ran"),
        },
        [ts, tt, th],
    ))
}

fn report(times: [Duration; 3], world: Option<&World>) {
    for (name, t) in ["sum", "stats", "histogram"].iter().zip(times) {
        println!("  {name:<10}: {t:>10.2?}");
    }
    if let Some(w) = world {
        println!(
            "  exchange between ranks (last job): {:.1?}, after waiting {:.1?} for the other ranks",
            w.last_exchange(),
            w.last_wait()
        );
    }
}

fn histogram() -> Histogram {
    Histogram::new(16, 0.0..128.0)
}

/// Prints a word count as the runs compare it: totals, a digest of every
/// (word, count) pair in key order, the most frequent words.
fn print_words(counts: &Keyed<SmallBytes, u64>) {
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    for (w, n) in counts {
        for b in w.iter().chain(&n.to_le_bytes()) {
            digest = (digest ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let top: Vec<String> = counts
        .top(3)
        .iter()
        .map(|(w, n)| format!("{}={n}", String::from_utf8_lossy(w)))
        .collect();
    println!(
        "words: total={total} distinct={} digest={digest:#018x} top={}",
        counts.len(),
        top.join(",")
    );
}

fn words_single(a: &Args, path: &std::path::Path) -> Result<ExitCode, shmr::Error> {
    let pool = shmr_suite::pool_of(a.workers)?;
    // SAFETY: nothing else writes or truncates the file meanwhile.
    let text = unsafe { SharedArray::open_bytes(path, NpyMode::ReadOnly)? };
    let counts = pool
        .on(&text)
        .records(Delimiters::WHITESPACE)
        .keyed(keyed::Sum, count_words)?;
    print_words(&counts);
    Ok(ExitCode::SUCCESS)
}

/// Each rank maps its share of the file: from the first word start at or
/// after rank/size of its length to the first at or after (rank+1)/size,
/// so no word is cut between ranks; the tables are merged across ranks in
/// rank order.
fn words_on_world(world: &World, path: &std::path::Path) -> Result<ExitCode, shmr::Error> {
    // Whatever fails on this rank alone fails every rank, with its reason:
    // returning early here would leave the others waiting in from_rows.
    let (mine, rows, len) = world.all_ok(words_share(world, path))?;
    let part = world.from_rows(mine, rows, &[len])?;
    let counts = world
        .on(&part)
        .records(Delimiters::WHITESPACE)
        .keyed(keyed::Sum, count_words)?;
    if world.rank() == 0 {
        print_words(&counts);
    }
    Ok(ExitCode::SUCCESS)
}

/// A rank's share of a text file: its bytes mapped, which bytes of the
/// file they are, and the file's length.
type Share = (SharedArray<u8, Ix1>, std::ops::Range<usize>, usize);

/// This rank's share of the words of `path`.
fn words_share(world: &World, path: &std::path::Path) -> Result<Share, shmr::Error> {
    // SAFETY: nothing else writes or truncates the file meanwhile.
    let whole = unsafe { SharedArray::open_bytes(path, NpyMode::ReadOnly)? };
    let len = whole.len();
    let (start, end) = {
        let view = whole.view();
        let bytes = view.as_slice().expect("contiguous");
        let at = |r: usize| Delimiters::WHITESPACE.record_start(bytes, r * len / world.size());
        (at(world.rank()), at(world.rank() + 1))
    };
    if start == end {
        return Err(shmr::Error::InvalidConfig(format!(
            "{}: rank {} has no words of the file to count ({len} bytes for {} ranks); use fewer ranks",
            path.display(),
            world.rank(),
            world.size()
        )));
    }
    // SAFETY: as above.
    let mine = unsafe {
        SharedArray::<u8, Ix1>::open_raw(path, start as u64, end - start, shmr::NpyMode::ReadOnly)?
    };
    Ok((mine, start..end, len))
}

fn single(a: &Args) -> Result<ExitCode, shmr::Error> {
    if let Some(path) = &a.words {
        return words_single(a, path);
    }
    let pool = shmr_suite::pool_of(a.workers)?;
    let data = match &a.npy {
        // SAFETY: nothing else writes or truncates the file meanwhile.
        Some(p) => unsafe {
            SharedArray::<f64, Ix1>::open_npy(p.replace("{rank}", "0"), shmr::NpyMode::ReadOnly)?
        },
        None => {
            let mut d = SharedArray::<f64, Ix1>::zeros(a.len)?;
            pool.on_mut(&mut d).params(0usize).map_in_place(fill)?;
            d
        }
    };
    println!(
        "single machine: {} f64, {} workers",
        data.len(),
        pool.workers()
    );
    let h = histogram();
    let (answers, times) = jobs(
        a.reps,
        || pool.on(&data).run(&Sum),
        || pool.on(&data).run(&Stats),
        || pool.on(&data).run(&h),
    )?;
    report(times, None);
    answers.print();
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    shmr::init();
    let a = Args::parse();
    // Errors as their messages, from every rank that has one.
    run(a).unwrap_or_else(|e| {
        say_error(&e);
        ExitCode::FAILURE
    })
}

/// One write per message: ranks share mpirun's stderr, and `eprintln!`
/// writes a formatted line in pieces that another rank's line can split.
fn say_error(e: &shmr::Error) {
    use std::io::Write;
    let line = format!("distributed: {e}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn run(a: Args) -> Result<ExitCode, shmr::Error> {
    if a.single {
        return single(&a);
    }
    let mut pool = shmr::Pool::builder();
    if let Some(w) = a.workers {
        pool = pool.workers(w);
    }
    let world = World::with_pool(pool)?;
    // Say what went wrong while every rank is still here: once one rank
    // exits non-zero, mpirun kills the others, so a rank that dropped its
    // World (MPI_Finalize) before printing could be killed mid-sentence.
    // The barrier holds every rank until all have printed.
    match on_world(&world, &a) {
        Ok(code) => Ok(code),
        Err(e) => {
            say_error(&e);
            world.barrier();
            Ok(ExitCode::FAILURE)
        }
    }
}

fn on_world(world: &World, a: &Args) -> Result<ExitCode, shmr::Error> {
    if let Some(n) = a.ranks
        && n != world.size()
    {
        eprintln!(
            "distributed: asked for {n} ranks, MPI started {} (is this the mpirun of the MPI it was built with?)",
            world.size()
        );
        return Ok(ExitCode::from(3));
    }
    if let Some(path) = &a.words {
        return words_on_world(world, path);
    }
    let t = Instant::now();
    let part: RankArray<f64, Ix1> = match &a.npy {
        // SAFETY: nothing else writes or truncates the file meanwhile.
        Some(p) => unsafe { world.open_npy(p.replace("{rank}", &world.rank().to_string()))? },
        None => {
            let rows = world.rows(a.len);
            // Made on this rank alone: its failure (no shared memory left,
            // say) is agreed with the others before from_rows waits for them.
            let made = SharedArray::<f64, Ix1>::zeros(rows.len()).and_then(|mut d| {
                world
                    .pool()
                    .on_mut(&mut d)
                    .params(rows.start)
                    .map_in_place(fill)?;
                Ok(d)
            });
            world.from_rows(world.all_ok(made)?, rows, &[a.len])?
        }
    };
    let loaded = t.elapsed();
    world.barrier();
    if world.rank() == 0 {
        println!(
            "distributed: {} ranks ({} on this machine, {} workers each), {} f64 ({:.2} GB); \
             MPI_Init {:.1?}, data {:.1?}",
            world.size(),
            world.node_ranks(),
            world.pool().workers(),
            part.total_rows(),
            part.total_rows() as f64 * 8e-9,
            world.init_time(),
            loaded
        );
    }
    let h = histogram();
    let (answers, times) = jobs(
        a.reps,
        || world.on(&part).run(&Sum),
        || world.on(&part).run(&Stats),
        || world.on(&part).run(&h),
    )?;
    if world.rank() == 0 {
        report(times, Some(world));
        answers.print();
    }
    Ok(ExitCode::SUCCESS)
}
