//! Helpers shared by the examples of the shmr suite: command-line options,
//! data (the benchmark harness's generator) and timing.

use std::time::{Duration, Instant};

/// Options common to the examples.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of elements.
    pub len: usize,
    /// Number of worker processes (None: one per CPU).
    pub workers: Option<usize>,
    /// Timed repetitions (the median is reported).
    pub reps: usize,
}

/// Parses `--len N`, `--workers N`, `--reps N` and `--help` from the
/// process arguments; prints usage and exits on `--help` or a bad option.
pub fn parse_options(about: &str) -> Options {
    let mut o = Options {
        len: 100_000_000,
        workers: None,
        reps: 5,
    };
    let usage = |code: i32| -> ! {
        eprintln!(
            "{about}\n\nOptions:\n  --len N      elements (default 100000000)\n  --workers N  worker processes (default: one per CPU)\n  --reps N     timed repetitions, median reported (default 5)\n  --help       this text"
        );
        std::process::exit(code)
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> usize {
            match args.next().map(|v| v.replace('_', "").parse::<f64>()) {
                Some(Ok(v)) if v >= 0.0 && v.fract() == 0.0 => v as usize,
                _ => {
                    eprintln!("error: {name} needs a whole number (1e8 and 100_000_000 work)");
                    usage(2)
                }
            }
        };
        match a.as_str() {
            "--len" => o.len = num("--len"),
            "--workers" => o.workers = Some(num("--workers")),
            "--reps" => o.reps = num("--reps").max(1),
            "--help" | "-h" => usage(0),
            other => {
                eprintln!("error: unknown option {other}");
                usage(2)
            }
        }
    }
    o
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
    let mut b = shmr::Pool::builder();
    if let Some(w) = o.workers {
        b = b.workers(w);
    }
    let t = Instant::now();
    let pool = b.build()?;
    Ok((pool, t.elapsed()))
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
