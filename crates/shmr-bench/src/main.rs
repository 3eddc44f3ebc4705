//! `cargo run --release -p shmr-bench`: shmr against a single-process loop,
//! rayon threads, numpy + multiprocessing, and the machine's memory
//! bandwidth. Prints a Markdown report and writes it, as JSON and Markdown,
//! with two SVG charts, under `target/shmr-bench/`.

use ndarray::Ix1;
use shmr::{Pool, SharedArray};
use shmr_bench::report::{Bandwidth, Report, Row};
use shmr_bench::workloads::{self, BenchElem, Workload};
use shmr_bench::{chart, data, machine, overheads, python};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// shmr-bench: shmr against a single-process loop, rayon, numpy +
/// multiprocessing and the machine's memory bandwidth.
#[derive(clap::Parser)]
#[command(
    after_help = "Exit status: 0 when every answer agreed, 1 when any did not, 2 on bad usage or an error."
)]
struct Args {
    /// Small sizes and few repetitions (a smoke run, seconds)
    #[arg(long)]
    quick: bool,
    /// Largest array, elements [default: 134217728 = 1 GiB of f64; 1000000 with --quick]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    max_len: Option<usize>,
    /// Timed repetitions per measurement, median kept [default: 7; 2 with --quick]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    reps: Option<usize>,
    /// Worker counts, e.g. 1,2,3 [default: 1..=cores+1]
    #[arg(long, value_delimiter = ',', value_parser = shmr_bench::whole_number)]
    workers: Option<Vec<usize>>,
    /// Jobs to run, from sum,stats,histogram,heavy_map [default: all]
    #[arg(long, value_delimiter = ',', value_parser = workload)]
    jobs: Option<Vec<Workload>>,
    /// Where to write results
    #[arg(long, default_value = "target/shmr-bench")]
    out: PathBuf,
    /// Skip the numpy + multiprocessing peer
    #[arg(long)]
    no_python: bool,
    /// Print the JSON report on stdout instead of Markdown
    #[arg(long)]
    json: bool,
    /// Redraw the charts (and results.md) from a results.json into --out, without measuring anything
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Phoenix++ 1.0's source (its phoenix++-1.0 folder): build it with g++
    /// and run its kmeans, pca, matrix_multiply and linear_regression
    /// against shmr's (skipped with a notice if the folder or g++ is missing)
    #[arg(long, value_name = "DIR")]
    phoenix: Option<PathBuf>,
}

fn workload(s: &str) -> Result<Workload, String> {
    Workload::ALL
        .into_iter()
        .find(|w| w.name() == s)
        .ok_or_else(|| format!("unknown job {s} (sum, stats, histogram, heavy_map)"))
}

struct Options {
    quick: bool,
    max_len: usize,
    reps: usize,
    workers: Vec<usize>,
    out: PathBuf,
    python: bool,
    json: bool,
    jobs: Vec<Workload>,
    plot: Option<PathBuf>,
    phoenix: Option<PathBuf>,
}

fn parse() -> Options {
    let a = <Args as clap::Parser>::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_len = a.max_len.unwrap_or(134_217_728);
    Options {
        quick: a.quick,
        max_len: if a.quick {
            max_len.min(1_000_000)
        } else {
            max_len
        },
        reps: a.reps.unwrap_or(if a.quick { 2 } else { 7 }),
        workers: a.workers.unwrap_or_else(|| (1..=cores + 1).collect()),
        out: a.out,
        python: !a.no_python,
        json: a.json,
        jobs: a.jobs.unwrap_or_else(|| Workload::ALL.to_vec()),
        plot: a.plot,
        phoenix: a.phoenix,
    }
}

/// Builds Phoenix++ from `src` into `out`/phoenix and runs the head-to-head
/// (`crates/shmr-bench/phoenix/*.sh`); the Markdown table, or why not.
fn phoenix_table(
    src: &std::path::Path,
    out: &std::path::Path,
    quick: bool,
) -> Result<String, String> {
    if !src.join("include/map_reduce.h").is_file() {
        return Err(format!(
            "{} is not Phoenix++ 1.0's source (git clone https://github.com/kozyraki/phoenix, then pass phoenix/phoenix++-1.0)",
            src.display()
        ));
    }
    if std::process::Command::new("g++")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err("g++ is missing (apt-get install g++ make)".into());
    }
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("phoenix");
    let built = out.join("phoenix");
    let run = |args: &[&std::ffi::OsStr]| -> Result<String, String> {
        let o = std::process::Command::new("bash")
            .args(args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("running bash: {e}"))?;
        if !o.status.success() {
            return Err(format!("{:?} failed ({})", args, o.status));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    run(&[
        scripts.join("build.sh").as_os_str(),
        src.as_os_str(),
        built.as_os_str(),
    ])?;
    let mut args = vec![
        scripts.join("compare.sh").into_os_string(),
        built.into_os_string(),
    ];
    if quick {
        args.push("--quick".into());
    }
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run(&args)
}

/// Median milliseconds of `f`, repeated at least `reps` times and, for
/// short runs, until 0.2 s have passed (at most 2000 times).
fn time_ms<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut times = Vec::new();
    let start = Instant::now();
    let mut out = f(); // warm-up: page-table entries, caches, pool mappings
    while times.len() < reps || (start.elapsed() < Duration::from_millis(200) && times.len() < 2000)
    {
        let t = Instant::now();
        out = f();
        times.push(t.elapsed());
    }
    (out, overheads::median(&mut times).as_secs_f64() * 1e3)
}

/// Median milliseconds of `f` and of `g`, run alternately (f, g, f, g, ...)
/// so that drift in the machine's speed falls on both alike, after `warmup`
/// untimed runs of each; otherwise as `time_ms`.
fn time_pair_ms<T, U>(
    reps: usize,
    warmup: usize,
    mut f: impl FnMut() -> T,
    mut g: impl FnMut() -> U,
) -> ((T, f64), (U, f64)) {
    let (mut tf, mut tg) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (f(), g());
    for _ in 1..warmup {
        (a, b) = (f(), g());
    }
    let start = Instant::now();
    while tf.len() < reps || (start.elapsed() < Duration::from_millis(400) && tf.len() < 2000) {
        let t = Instant::now();
        a = f();
        tf.push(t.elapsed());
        let t = Instant::now();
        b = g();
        tg.push(t.elapsed());
    }
    let ms = |v: &mut Vec<Duration>| overheads::median(v).as_secs_f64() * 1e3;
    ((a, ms(&mut tf)), (b, ms(&mut tg)))
}

struct Bench {
    reps: usize,
    bandwidth: Vec<Bandwidth>,
    pools: BTreeMap<usize, Pool>,
    rayons: BTreeMap<usize, rayon::ThreadPool>,
    mismatches: usize,
}

impl Bench {
    fn pool(&mut self, w: usize) -> Result<&Pool, String> {
        match self.pools.entry(w) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => Ok(e.insert(
                Pool::builder()
                    .workers(w)
                    .build()
                    .map_err(|e| e.to_string())?,
            )),
        }
    }

    fn rayon(&mut self, w: usize) -> Result<&rayon::ThreadPool, String> {
        match self.rayons.entry(w) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let p = rayon::ThreadPoolBuilder::new()
                    .num_threads(w)
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(e.insert(p))
            }
        }
    }

    /// Times one job on `a` for each worker count; the baseline once.
    fn rows<A: BenchElem>(
        &mut self,
        job: Workload,
        a: &SharedArray<A, Ix1>,
        workers: &[usize],
    ) -> Result<Vec<Row>, String> {
        let view = a.view();
        let xs = view.as_slice().ok_or("shared arrays are contiguous")?;
        let reps = if job == Workload::HeavyMap {
            self.reps.min(3)
        } else {
            self.reps
        };
        let (want, baseline_ms) = time_ms(reps, || workloads::baseline(job, xs));
        let chunk = (shmr::DEFAULT_CHUNK_BYTES / size_of::<A>()).max(1);
        let mut rows = Vec::new();
        for &w in workers {
            self.rayon(w)?;
            self.pool(w)?;
            let (threads, pool) = (&self.rayons[&w], &self.pools[&w]);
            // Warm pools are timed: a worker fills its page tables for the
            // chunks it meets the first time, and with chunks claimed in
            // turn it meets new ones for several jobs (3 jobs per worker
            // leave it about 1 chunk in 2^(3w) unmet). Those first jobs are
            // measured on their own below ("first jobs", step 5).
            let ((r, rayon_ms), (s, shmr_ms)) = time_pair_ms(
                reps,
                3 * w,
                || workloads::rayon(job, xs, chunk, threads),
                || workloads::shmr(job, a, pool),
            );
            let s = s.map_err(|e| e.to_string())?;
            let agree = workloads::agree(job, want, r) && workloads::agree(job, want, s);
            if !agree {
                self.mismatches += 1;
                eprintln!(
                    "  MISMATCH {} {}: loop {want}, rayon {r}, shmr {s}",
                    job.name(),
                    A::DTYPE
                );
            }
            let gbps = std::mem::size_of_val(xs) as f64 / (shmr_ms / 1e3) / 1e9;
            let row = Row {
                job,
                dtype: A::DTYPE.name().to_string(),
                len: xs.len(),
                workers: w,
                baseline_ms,
                rayon_ms,
                shmr_ms,
                speedup: baseline_ms / shmr_ms,
                vs_rayon: rayon_ms / shmr_ms,
                gbps,
                bandwidth_fraction: gbps / Report::bandwidth_for(&self.bandwidth, w),
                agree,
            };
            eprintln!(
                "  {:<9} {:<3} n={:<10} workers={w}: loop {:>9.3} ms, rayon {:>9.3} ms, shmr {:>9.3} ms ({:.2}x, {:.1} GB/s)",
                job.name(),
                row.dtype,
                row.len,
                baseline_ms,
                rayon_ms,
                shmr_ms,
                row.speedup,
                gbps
            );
            rows.push(row);
        }
        Ok(rows)
    }
}

fn run(o: &Options) -> Result<(Report, usize), String> {
    let err = |e: shmr::Error| e.to_string();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let main_w = cores.min(*o.workers.iter().max().unwrap_or(&1));
    let machine = machine::Machine::describe();
    let command = format!(
        "cargo run --release -p shmr-bench --{}",
        std::env::args()
            .skip(1)
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
    eprintln!("shmr-bench on {} ({} cores)", machine.cpu, machine.cores);

    eprintln!("[1/7] generating {} f64 in shared memory", o.max_len);
    let big = data::shared::<f64>(o.max_len, 42).map_err(err)?;
    eprintln!("[2/7] memory read bandwidth");
    let bandwidth: Vec<Bandwidth> = o
        .workers
        .iter()
        .map(|&t| {
            let gbps =
                machine::read_bandwidth(big.view().as_slice().unwrap_or(&[]), t, o.reps.max(3));
            eprintln!("  {t} thread(s): {gbps:.1} GB/s");
            Bandwidth { threads: t, gbps }
        })
        .collect();
    let mut b = Bench {
        reps: o.reps,
        bandwidth: bandwidth.clone(),
        pools: BTreeMap::new(),
        rayons: BTreeMap::new(),
        mismatches: 0,
    };

    eprintln!("[3/7] large arrays: every job, every worker count (f64), then f32 and i32");
    let mut rows = Vec::new();
    for &job in &o.jobs {
        rows.extend(b.rows(job, &big, &o.workers)?);
    }
    {
        let a = data::shared::<f32>(o.max_len, 43).map_err(err)?;
        for &job in o.jobs.iter().filter(|&&j| j != Workload::HeavyMap) {
            rows.extend(b.rows(job, &a, &[main_w])?);
        }
    }
    {
        let a = data::shared::<i32>(o.max_len, 44).map_err(err)?;
        for &job in o.jobs.iter().filter(|&&j| j != Workload::HeavyMap) {
            rows.extend(b.rows(job, &a, &[main_w])?);
        }
    }

    eprintln!("[4/7] size sweep with {main_w} workers");
    let mut sizes: Vec<usize> = (3..=8)
        .map(|e| 10usize.pow(e))
        .filter(|&n| n < o.max_len)
        .collect();
    sizes.push(o.max_len);
    let mut sweep = Vec::new();
    for &n in &sizes {
        let a = if n == o.max_len {
            None
        } else {
            Some(data::shared::<f64>(n, 45).map_err(err)?)
        };
        let a = a.as_ref().unwrap_or(&big);
        for &job in &o.jobs {
            if n == o.max_len {
                sweep.extend(
                    rows.iter()
                        .filter(|r| r.job == job && r.dtype == "f64" && r.workers == main_w)
                        .cloned(),
                );
            } else {
                sweep.extend(b.rows(job, a, &[main_w])?);
            }
        }
    }

    eprintln!("[5/7] overheads: start-up, first jobs, round trip, worker memory");
    let startup = overheads::startup(&o.workers, o.reps.max(5)).map_err(err)?;
    let first_jobs = {
        // A new pool, which has never seen `big`, against rayon's threads,
        // which share the page tables of the process that wrote it.
        let fresh = shmr::Pool::builder().workers(main_w).build().map_err(err)?;
        b.rayon(main_w)?;
        let threads = &b.rayons[&main_w];
        let xs = big.view();
        let xs = xs.as_slice().unwrap_or(&[]);
        let chunk = shmr::DEFAULT_CHUNK_BYTES / size_of::<f64>();
        Some(
            overheads::first_jobs(
                main_w,
                big.len(),
                if o.quick { 3 } else { 8 },
                || workloads::shmr(Workload::Sum, &big, &fresh),
                || workloads::rayon(Workload::Sum, xs, chunk, threads),
            )
            .map_err(err)?,
        )
    };
    let pool = b.pool(main_w)?;
    let round_trip =
        Some(overheads::round_trip(pool, if o.quick { 1000 } else { 10_000 }).map_err(err)?);
    let worker_memory = Some(
        overheads::worker_memory(pool, &big, || {
            workloads::shmr(Workload::HeavyMap, &big, pool)
        })
        .map_err(err)?,
    );

    eprintln!("[6/7] the Python peer");
    let (python, python_note) = if !o.python {
        (Vec::new(), "Skipped (--no-python).".to_string())
    } else {
        match python::available() {
            Err(why) => {
                eprintln!("  skipped: {why}");
                (Vec::new(), format!("Skipped: {why}."))
            }
            Ok(numpy) => {
                let mut runs = Vec::new();
                for &job in &o.jobs {
                    for &w in &o.workers {
                        runs.push(python::PeerRun {
                            job: job.python(),
                            len: o.max_len,
                            workers: w,
                            reps: o.reps.min(3),
                        });
                    }
                    for &n in sizes.iter().filter(|&&n| n != o.max_len) {
                        runs.push(python::PeerRun {
                            job: job.python(),
                            len: n,
                            workers: main_w,
                            reps: o.reps.min(3),
                        });
                    }
                }
                std::fs::create_dir_all(&o.out).map_err(|e| e.to_string())?;
                let results = python::run(&runs, &o.out)?;
                let how = results.first().map_or(String::new(), |r| {
                    format!(
                        "Python {}, numpy {numpy}, start method `{}`. ",
                        r.python, r.start_method
                    )
                });
                (
                    results,
                    format!(
                        "{how}Each run starts its worker processes, which attach to a `SharedMemory` block by name, compute their slice with numpy and put the partial on a `Queue` (`crates/shmr-bench/python/peer.py`). \"total\" counts from creating the processes to the combined result, as the tutorials do; \"compute\" is the slowest worker's numpy call alone."
                    ),
                )
            }
        }
    };

    let crossover = Report::crossovers(&sweep);
    let mut report = Report {
        machine,
        command,
        bandwidth,
        rows,
        sweep,
        crossover,
        startup,
        first_jobs,
        round_trip,
        worker_memory,
        python,
        python_note,
        targets: Vec::new(),
    };
    report.check_targets(main_w);
    Ok((report, b.mismatches))
}

fn main() -> ExitCode {
    shmr::init();
    let o = parse();
    let replot = o.plot.as_ref().map(|path| -> Result<Report, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a shmr-bench results.json: {e}", path.display()))
    });
    let measured = match replot {
        Some(r) => r.map(|r| (r, 0)),
        None => run(&o),
    };
    let (report, mismatches) = match measured {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("[7/7] writing {}", o.out.display());
    let written = (|| -> Result<(), Box<dyn std::error::Error>> {
        std::fs::create_dir_all(&o.out)?;
        std::fs::write(
            o.out.join("results.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        std::fs::write(o.out.join("results.md"), report.markdown())?;
        chart::speedup(&report, &o.out.join("speedup.svg"))?;
        chart::size(&report, &o.out.join("size.svg"))?;
        Ok(())
    })();
    if let Err(e) = written {
        eprintln!("error: writing results: {e}");
        return ExitCode::from(2);
    }
    if o.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("{}", report.markdown());
    }
    let mut mismatches = mismatches;
    if let Some(src) = &o.phoenix {
        eprintln!("[+] Phoenix++ head to head");
        match phoenix_table(src, &o.out, o.quick) {
            Ok(table) => {
                if table.contains("DIFFERENT") {
                    mismatches += 1;
                }
                let md = format!("## Phoenix++ head to head\n\n{table}");
                if let Err(e) = std::fs::write(o.out.join("phoenix.md"), &md) {
                    eprintln!("error: writing phoenix.md: {e}");
                    return ExitCode::from(2);
                }
                if !o.json {
                    println!("{md}");
                }
            }
            Err(why) => eprintln!("skipped the Phoenix++ head to head: {why}"),
        }
    }
    if mismatches > 0 {
        eprintln!("error: {mismatches} measurement(s) gave different answers");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
