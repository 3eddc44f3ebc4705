//! Helpers shared by the examples of the shmr suite: command-line options,
//! data (the benchmark harness's generator) and timing.

use std::time::{Duration, Instant};

/// Options common to the examples (and the lock benchmark).
#[derive(clap::Parser, Clone, Debug)]
pub struct Options {
    /// Elements (1e8 and 100_000_000 work too)
    // The default is each example's own: `parse_options` sets it.
    #[arg(long, default_value = "1", value_parser = shmr_bench::whole_number)]
    pub len: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    pub workers: Option<usize>,
    /// Timed repetitions; the median is reported
    #[arg(long, default_value = "5", value_parser = shmr_bench::whole_number)]
    pub reps: usize,
    /// Accepted and ignored: `cargo bench` passes it to every bench binary.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Parses `--len N` (default `default_len`), `--workers N`, `--reps N` and
/// `--help` from the process arguments, with `about` as the help's first
/// line; prints usage and exits (code 2) on a bad option.
pub fn parse_options(about: &'static str, default_len: usize) -> Options {
    use clap::{CommandFactory, FromArgMatches};
    let command = Options::command()
        .about(about)
        .mut_arg("len", |a| a.default_value(default_len.to_string()));
    Options::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

/// Runs `f` `reps` times and returns the last result and the median time.
pub fn median_time<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, Duration) {
    let mut times = Vec::with_capacity(reps);
    let mut out = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed());
    }
    (
        out.expect("at least one repetition"),
        shmr_bench::overheads::median(&mut times),
    )
}

/// Runs `f` and `g` alternately (f, g, f, g, ...) `reps` times each and
/// returns their last results and median times: drift in the machine's
/// speed falls on both alike, so their ratio is fair (all of one, then all
/// of the other, once made "level with rayon" flip from run to run here).
pub fn alternate<T, U>(
    reps: usize,
    mut f: impl FnMut() -> T,
    mut g: impl FnMut() -> U,
) -> ((T, Duration), (U, Duration)) {
    let (mut tf, mut tg) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (None, None);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        a = Some(f());
        tf.push(t.elapsed());
        let t = Instant::now();
        b = Some(g());
        tg.push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| shmr_bench::overheads::median(v);
    (
        (a.expect("at least one repetition"), median(&mut tf)),
        (b.expect("at least one repetition"), median(&mut tg)),
    )
}

/// Prints the comparison lines of an example over `len` f64, of which a
/// job moves `bytes_per_elem` bytes each (8 to read, 16 to read and write).
pub fn report(
    job: &str,
    len: usize,
    workers: usize,
    baseline: Duration,
    cold: Duration,
    warm: Duration,
    bytes_per_elem: usize,
) {
    let gbs = (len * bytes_per_elem) as f64 / warm.as_secs_f64() / 1e9;
    println!("{job} of {len} f64 with {workers} workers");
    println!("  single-process loop : {:>10.2?}", baseline);
    println!(
        "  shmr, first call    : {:>10.2?}  (includes starting the pool)",
        cold
    );
    println!("  shmr, warm (median) : {:>10.2?}  ({gbs:.1} GB/s)", warm);
    println!(
        "  speedup (warm)      : {:>10.2}x",
        baseline.as_secs_f64() / warm.as_secs_f64()
    );
}

/// Prints what a job that writes reported, and whether its result equals
/// the loop's (`how`: "bit for bit", "exactly").
pub fn report_outcome(report: &shmr::JobReport, same: bool, how: &str) {
    println!(
        "  job report          : {} chunks, {} lock acquisitions",
        report.chunks, report.lock_acquisitions
    );
    if same {
        println!("  results             : equal to the loop's, {how}");
    } else {
        println!("  results             : DIFFERENT from the loop's");
    }
}

/// Starts the pool the examples use, and says how long that took.
pub fn pool(o: &Options) -> Result<(shmr::Pool, Duration), shmr::Error> {
    let t = Instant::now();
    let pool = pool_of(o.workers)?;
    Ok((pool, t.elapsed()))
}

/// A pool of `workers` worker processes, or one per CPU.
pub fn pool_of(workers: Option<usize>) -> Result<shmr::Pool, shmr::Error> {
    let mut b = shmr::Pool::builder();
    if let Some(w) = workers {
        b = b.workers(w);
    }
    b.build()
}

/// A rayon thread pool with as many threads as `pool` has workers, so the
/// examples compare processes with threads one for one.
pub fn threads_like(pool: &shmr::Pool) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(pool.workers())
        .build()
        .expect("a rayon pool of a few threads starts")
}

/// Prints the times of an application example: its sequential loop, the
/// same computation on rayon's threads, shmr (both timed `how`), and the
/// ratios.
pub fn report_times(seq: Duration, rayon: Duration, shmr: Duration, workers: usize, how: &str) {
    println!("  sequential loop     : {seq:>10.2?}");
    println!("  rayon, {workers} threads    : {rayon:>10.2?}  ({how})");
    println!("  shmr, {workers} workers     : {shmr:>10.2?}  ({how})");
    println!(
        "  speedup             : {:>9.2}x the loop, {:.2}x rayon",
        seq.as_secs_f64() / shmr.as_secs_f64(),
        rayon.as_secs_f64() / shmr.as_secs_f64()
    );
}

/// Prints whether an application's answer (`what`) from shmr, rayon and
/// the loop agreed, and returns the exit code that says so.
pub fn verdict(what: &str, same: bool) -> std::process::ExitCode {
    let said = if same {
        "identical (shmr, rayon, loop)"
    } else {
        "DIFFERENT"
    };
    println!("  {what:<20}: {said}");
    if same {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Makes the examples' data: `len` uniform f64 written straight into
/// shared memory.
pub fn make_data(o: &Options) -> Result<shmr::SharedArray<f64, ndarray::Ix1>, shmr::Error> {
    shmr_bench::data::shared::<f64>(o.len, 42)
}

/// Times the first (cold) call and the median of `reps` warm calls.
pub fn cold_and_warm<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, Duration, Duration) {
    let t = Instant::now();
    let _ = f();
    let cold = t.elapsed();
    let (out, warm) = median_time(reps, f);
    (out, cold, warm)
}

// The README's code is compiled and run as a doctest, so the tour stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
