//! `shmr`: run a built-in job over an `.npy` file in worker processes, make
//! test data, describe a file.
//!
//! ```text
//! shmr gen data.npy --len 100000000
//! shmr run stats data.npy
//! shmr gen table.npy --shape 20000000,8 --dtype f32
//! shmr run stats table.npy --axis 0
//! shmr run wordcount book.txt --top 20
//! shmr info data.npy --json
//! ```
//!
//! Exit codes: 0 success, 1 the command failed (the reason on one line of
//! standard error), 2 bad usage.

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::{Ix1, IxDyn};
use serde_json::{Value, json};
use shmr::builtin::{Columns, Histogram, HistogramCounts, Stats, Sum, Summary, WordCounts};
use shmr::{ChunkSize, DType, NpyMode, Pool, SharedArray, with_dtype};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "shmr",
    version,
    about = "Map-reduce over .npy files in worker processes that share the file's memory",
    after_help = "Exit codes: 0 success, 1 the command failed, 2 bad usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a built-in job: sum, stats, histogram over an .npy file, or
    /// wordcount over a text file.
    Run(RunArgs),
    /// Write an .npy file of random test data.
    Gen(GenArgs),
    /// Describe an .npy file: element type, shape, size.
    Info(InfoArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum JobKind {
    /// Sum of all elements (exact for integers).
    Sum,
    /// Count, NaNs, mean, standard deviation, min, max.
    Stats,
    /// Counts in equal-width bins.
    Histogram,
    /// Count of every word of a text file (any file: words are an ASCII
    /// letter and then letters and apostrophes, upper-cased; Phoenix++'s
    /// definition); prints the most frequent (--top).
    Wordcount,
}

#[derive(Args)]
struct RunArgs {
    /// The job.
    job: JobKind,
    /// The .npy file (C order, little-endian, integer or float elements);
    /// for wordcount, a text file.
    file: PathBuf,
    /// Worker processes [default: one per CPU].
    #[arg(long)]
    workers: Option<usize>,
    /// Chunk size: bytes ("1048576", "1MiB", "64KiB") or rows ("1000rows").
    #[arg(long, value_parser = parse_chunk)]
    chunk: Option<ChunkSize>,
    /// Reduce along this axis: 0 gives one result per column of a 2-D
    /// file (per position of the trailing axes of an n-d one), as numpy's
    /// `axis=0`. Without it, every element is pooled into one result.
    #[arg(long)]
    axis: Option<usize>,
    /// Histogram: number of bins.
    #[arg(long, default_value_t = 10)]
    bins: usize,
    /// Histogram: LO,HI [default: the data's min and max; with --axis 0
    /// the same bins for every column].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_range)]
    range: Option<(f64, f64)>,
    /// Wordcount: how many of the most frequent words to print (all of
    /// them with --json --top 0).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print the result as JSON. Numbers are JSON numbers where that is
    /// exact; an integer sum beyond 64 bits is a string of its digits, and
    /// an infinite or NaN value the string "inf", "-inf" or "NaN"
    /// (null means no data).
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Dist {
    /// Uniform: floats in [0, 1), integers in [0, 1000) (0..=255 for 8 bits).
    Uniform,
    /// Standard normal (integers: 100 times it, rounded).
    Normal,
}

#[derive(Args)]
struct GenArgs {
    /// The .npy file to create (an existing file is not replaced).
    file: PathBuf,
    /// Number of elements (a 1-D array).
    #[arg(long, required_unless_present = "shape", conflicts_with = "shape")]
    len: Option<usize>,
    /// Shape, comma-separated: "20000000,8" is a table of 8 columns (C
    /// order, as numpy writes it).
    #[arg(long, value_parser = parse_shape)]
    shape: Option<Shape>,
    /// Element type: f64, f32, i64, i32, i16, i8, u64, u32, u16, u8.
    #[arg(long, default_value = "f64", value_parser = parse_dtype)]
    dtype: DType,
    /// Distribution of the values.
    #[arg(long, value_enum, default_value_t = Dist::Uniform)]
    dist: Dist,
    /// Seed: the same seed gives the same file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct InfoArgs {
    /// The .npy file.
    file: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    shmr::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run(a),
        Command::Gen(a) => gen_file(a),
        Command::Info(a) => info(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmr: error: {}", e.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

fn parse_dtype(s: &str) -> Result<DType, String> {
    DType::ALL
        .into_iter()
        .find(|d| d.name() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            format!("unknown --dtype {s:?}; use one of {}", names.join(", "))
        })
}

fn parse_chunk(s: &str) -> Result<ChunkSize, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "bad --chunk {s:?}: give bytes (\"1048576\", \"1MiB\", \"64KiB\") or rows (\"1000rows\")"
        )
    };
    if let Some(rows) = s.strip_suffix("rows") {
        return rows.trim().parse().map(ChunkSize::Rows).map_err(|_| bad());
    }
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        _ => return Err(bad()),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .map(ChunkSize::Bytes)
        .ok_or_else(bad)
}

/// An array's shape, as `--shape` gives it (one value, not a list of
/// values to clap).
#[derive(Clone)]
struct Shape(Vec<usize>);

fn parse_shape(s: &str) -> Result<Shape, String> {
    let bad = || format!("bad --shape {s:?}: give lengths separated by commas, such as 1000000,8");
    let shape = s
        .split(',')
        .map(|n| n.trim().parse::<usize>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Shape(shape))
}

fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("bad --range {s:?}: give LO,HI with LO < HI, such as 0,1");
    let (lo, hi) = s.split_once(',').ok_or_else(bad)?;
    let (lo, hi): (f64, f64) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    // NaN fails every comparison, so this also refuses NaN bounds.
    if !lo.is_finite() || !hi.is_finite() || lo >= hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// A progress bar on standard error, shown only if the job is still
/// running after a moment, standard error is a terminal, and not `--quiet`.
struct Progress {
    bar: ProgressBar,
    enabled: bool,
    shown: AtomicBool,
    start: Instant,
}

impl Progress {
    fn new(quiet: bool, what: &str) -> Progress {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Progress {
            bar,
            enabled: !quiet && std::io::stderr().is_terminal(),
            shown: AtomicBool::new(false),
            start: Instant::now(),
        }
    }

    fn update(&self, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        if !self.shown.load(Ordering::Relaxed) {
            if self.start.elapsed() < Duration::from_millis(300) {
                return;
            }
            self.shown.store(true, Ordering::Relaxed);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn run(a: RunArgs) -> Result<(), String> {
    if let JobKind::Wordcount = a.job {
        return word_count(&a);
    }
    let mut builder = Pool::builder();
    if let Some(w) = a.workers {
        builder = builder.workers(w);
    }
    if let Some(c) = a.chunk {
        builder = builder.chunk_size(c);
    }
    if a.bins == 0 || a.bins > Histogram::MAX_BINS {
        return Err(format!(
            "--bins must be between 1 and {}, got {}",
            Histogram::MAX_BINS,
            a.bins
        ));
    }
    let header = shmr::npy_header(&a.file).map_err(|e| e.to_string())?;
    let shape = header.shape();
    match a.axis {
        Some(0) | None => {}
        Some(axis) => {
            return Err(format!(
                "--axis {axis}: only --axis 0 (one result per column, numpy's axis=0) is \
                 supported; {} has shape {shape:?}",
                a.file.display()
            ));
        }
    }
    if a.axis.is_none() && shape.len() > 1 {
        eprintln!(
            "shmr: note: {} has shape {shape:?}; every element is pooled into one result \
             (--axis 0 gives one per column)",
            a.file.display()
        );
    }
    if let JobKind::Histogram = a.job {
        let columns = match a.axis {
            Some(_) => shape.iter().skip(1).product::<usize>().max(1),
            None => 1,
        };
        builder = builder.slot_bytes(histogram_slot_bytes(&header, a.chunk, a.bins, columns)?);
    }
    let pool = builder.build().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (result, text) = with_dtype!(header.dtype(), T => run_typed::<T>(&pool, &a, a.range)?);
    let seconds = start.elapsed().as_secs_f64();
    let what = match a.job {
        JobKind::Sum => "sum",
        JobKind::Stats => "stats",
        JobKind::Histogram => "histogram",
        JobKind::Wordcount => unreachable!("run() hands wordcount to word_count()"),
    };
    if a.json {
        let out = json!({
            "job": what,
            "file": a.file.display().to_string(),
            "dtype": header.dtype().to_string(),
            "shape": header.shape(),
            "axis": a.axis,
            "workers": pool.workers(),
            "seconds": seconds,
            "result": result,
        });
        println!("{out}");
    } else {
        let along = match a.axis {
            Some(_) => format!(" per column of shape {:?}", header.shape()),
            None => String::new(),
        };
        println!(
            "{what}{along} of {} {} elements of {} ({:.3} s, {} workers)",
            header.shape().iter().product::<usize>(),
            header.dtype(),
            a.file.display(),
            seconds,
            pool.workers()
        );
        println!("{text}");
    }
    Ok(())
}

/// `shmr run wordcount FILE`: the file mapped read-only as bytes (or a
/// stream read into shared memory), cut at whitespace into chunks of whole
/// words, counted per word.
fn word_count(a: &RunArgs) -> Result<(), String> {
    let mut builder = Pool::builder();
    if let Some(w) = a.workers {
        builder = builder.workers(w);
    }
    let pool = builder.build().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let text = open_text(&a.file)?;
    let len = text.len();
    let progress = Progress::new(a.quiet, "counting");
    let tick = |done: u64, total: u64| progress.update(done, total);
    let mut job = pool
        .on(&text)
        .records(shmr::keyed::Delimiters::WHITESPACE)
        .progress(&tick);
    if let Some(c) = a.chunk {
        job = job.chunk_size(c);
    }
    // One table of words per worker (WordCounts: made for words), merged
    // here; counts are exact, so the same for any number of workers.
    let counts = job
        .fold(WordCounts::new, WordCounts::add_records, WordCounts::merge)
        .map_err(|e| e.to_string())?;
    let total = counts.words();
    let counts = counts.into_keyed();
    drop(progress);
    let seconds = start.elapsed().as_secs_f64();
    let top = match (a.json, a.top) {
        (true, 0) => counts.top(counts.len()),
        _ => counts.top(a.top),
    };
    if a.json {
        let top: Vec<Value> = top
            .iter()
            .map(|(w, n)| json!({"word": String::from_utf8_lossy(w), "count": n}))
            .collect();
        let out = json!({
            "job": "wordcount",
            "file": a.file.display().to_string(),
            "bytes": len,
            "words": total,
            "distinct": counts.len(),
            "workers": pool.workers(),
            "seconds": seconds,
            "top": top,
        });
        println!("{out}");
    } else {
        println!(
            "wordcount of {} ({len} bytes): {total} words, {} distinct ({seconds:.3} s, {} workers)",
            a.file.display(),
            counts.len(),
            pool.workers()
        );
        for (i, (w, n)) in top.iter().enumerate() {
            println!("  {:>4}. {:<20} {n}", i + 1, String::from_utf8_lossy(w));
        }
    }
    Ok(())
}

/// The text to count: a regular file mapped without reading it; a stream
/// (`-` for standard input, a pipe, a file under `/proc` whose size says 0)
/// read to its end into shared memory. Anything else is refused with its
/// kind: a directory, a socket, or a device, which may never end
/// (`/dev/zero`) or be a terminal.
fn open_text(path: &std::path::Path) -> Result<SharedArray<u8, Ix1>, String> {
    use std::os::unix::fs::FileTypeExt;
    let stream = |r: &mut dyn std::io::Read, what: &str| {
        SharedArray::read_from(r).map_err(|e| format!("{what}: {e}"))
    };
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(
                "standard input is a terminal: pipe the text in (zcat logs.gz | shmr run \
                 wordcount -) or give a file"
                    .into(),
            );
        }
        return stream(&mut stdin.lock(), "standard input");
    }
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: cannot open it: {e}"))?;
    let kind = meta.file_type();
    if kind.is_char_device() || kind.is_block_device() {
        return Err(format!(
            "{shown}: is a device, which may never end or be a terminal: give a regular file, \
             or pipe the text in (... | shmr run wordcount -)"
        ));
    }
    if kind.is_fifo() {
        let mut f =
            std::fs::File::open(path).map_err(|e| format!("{shown}: cannot open it: {e}"))?;
        return stream(&mut f, &shown.to_string());
    }
    // SAFETY: as for .npy files, mapped read-only here and in the workers;
    // the user is told not to modify the file during a run. open_bytes
    // reads a file that says it is empty (/proc) and refuses what is not a
    // regular file (a directory, a socket).
    unsafe { SharedArray::<u8, Ix1>::open_bytes(path, NpyMode::ReadOnly) }
        .map_err(|e| e.to_string())
}

/// The result slot a histogram job needs: one worker may map every chunk,
/// and each chunk's partial holds all the counts of its `columns`
/// histograms (at most 10 bytes each, encoded). The library's default is
/// kept when it is enough; more than `MAX_SLOT` is refused here, with what
/// to change, rather than by the job.
fn histogram_slot_bytes(
    header: &shmr::Header,
    chunk: Option<ChunkSize>,
    bins: usize,
    columns: usize,
) -> Result<usize, String> {
    const MAX_SLOT: usize = 256 << 20;
    let shape = header.shape();
    let rows = shape.first().copied().unwrap_or(1) as u64;
    let chunk_rows = chunk
        .unwrap_or_default()
        .rows_for(shape, header.dtype().size());
    let chunks = shmr::Partition::new(rows, chunk_rows).len() as usize;
    let per_chunk = columns.saturating_mul((bins + 3) * 10 + 64);
    let need = chunks.saturating_mul(per_chunk).saturating_add(4096);
    if need > MAX_SLOT {
        let most = ((MAX_SLOT / chunks / columns).saturating_sub(64) / 10).saturating_sub(3);
        return Err(format!(
            "--bins {bins} over {chunks} chunks of {columns} column(s) needs {} MiB of result slot \
             per worker, more than {} MiB; use at most {most} bins, or larger chunks (--chunk)",
            need >> 20,
            MAX_SLOT >> 20
        ));
    }
    Ok(need.max(shmr::DEFAULT_SLOT_BYTES))
}

/// A number as JSON: exact where JSON numbers can carry it; a string of its
/// digits otherwise (integers beyond 64 bits, which JSON parsers would
/// round, and infinities and NaN, which JSON cannot write: "inf", "-inf",
/// "NaN", as Python's `float()` reads them).
fn json_number<N: serde::Serialize + std::fmt::Debug>(x: N) -> Value {
    match serde_json::to_value(&x) {
        Ok(Value::Number(n)) => Value::Number(n),
        _ => Value::String(format!("{x:?}")),
    }
}

fn run_typed<T: shmr::Element>(
    pool: &Pool,
    a: &RunArgs,
    range: Option<(f64, f64)>,
) -> Result<(Value, String), String> {
    // SAFETY: the file is mapped read-only here and in the workers; the
    // user is told (README, --help of `run`) not to modify it during a run.
    let array = unsafe { SharedArray::<T, IxDyn>::open_npy(&a.file, NpyMode::ReadOnly) }
        .map_err(|e| e.to_string())?;
    let progress = Progress::new(a.quiet, "mapping");
    let tick = |done: u64, total: u64| progress.update(done, total);
    let job = || pool.on(&array).progress(&tick);
    let err = |e: shmr::Error| e.to_string();
    let per_column = a.axis.is_some();
    // One value and one text per column with --axis 0; else the one
    // result of the whole array.
    let out = |values: Vec<Value>, texts: Vec<String>| match per_column {
        true => (
            Value::Array(values),
            texts
                .iter()
                .enumerate()
                .map(|(j, t)| format!("column {j}\n{t}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        false => (
            values.into_iter().next().unwrap_or(Value::Null),
            texts.concat(),
        ),
    };
    Ok(match a.job {
        JobKind::Sum => {
            let sums = match per_column {
                true => job().run(&Columns(Sum)).map_err(err)?,
                false => vec![job().run(&Sum).map_err(err)?],
            };
            let texts = sums.iter().map(|s| format!("  sum: {s:?}")).collect();
            out(sums.into_iter().map(json_number).collect(), texts)
        }
        JobKind::Stats => {
            let stats = match per_column {
                true => job().run(&Columns(Stats)).map_err(err)?,
                false => vec![job().run(&Stats).map_err(err)?],
            };
            let texts = stats.iter().map(stats_text).collect();
            out(stats.iter().map(stats_json).collect(), texts)
        }
        JobKind::Wordcount => unreachable!("run() hands wordcount to word_count()"),
        JobKind::Histogram => {
            let (lo, hi) = match range {
                Some(r) => r,
                None => {
                    let s = job().run(&Stats).map_err(err)?;
                    match (s.min(), s.max()) {
                        (Some(lo), Some(hi)) if lo < hi => (lo, hi.next_up()),
                        (Some(lo), Some(_)) => (lo, lo + 1.0),
                        _ => return Err("no finite values to histogram; give --range".into()),
                    }
                }
            };
            let h = Histogram::new(a.bins, lo..hi);
            let hs = match per_column {
                true => job().run(&Columns(h)).map_err(err)?,
                false => vec![job().run(&h).map_err(err)?],
            };
            let texts = hs.iter().map(histogram_text).collect();
            out(hs.iter().map(histogram_json).collect(), texts)
        }
    })
}

/// A summary as JSON: no data is null; an infinity is "inf", not null.
fn stats_json(s: &Summary) -> Value {
    let n = |x: Option<f64>| x.map_or(Value::Null, json_number);
    json!({
        "count": s.count(),
        "nan_count": s.nan_count(),
        "mean": n(s.mean()),
        "std": n(s.std()),
        "min": n(s.min()),
        "max": n(s.max()),
    })
}

fn stats_text(s: &Summary) -> String {
    let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x}"));
    format!(
        "  count: {}\n  NaN:   {}\n  mean:  {}\n  std:   {}\n  min:   {}\n  max:   {}",
        s.count(),
        s.nan_count(),
        f(s.mean()),
        f(s.std()),
        f(s.min()),
        f(s.max())
    )
}

fn histogram_json(h: &HistogramCounts) -> Value {
    json!({
        "edges": h.edges(),
        "counts": h.counts(),
        "below": h.below(),
        "above": h.above(),
        "nan": h.nan(),
    })
}

/// The bins as a bar chart of `#`s, the longest 40 wide.
fn histogram_text(h: &HistogramCounts) -> String {
    let edges = h.edges();
    let peak = h.counts().iter().copied().max().unwrap_or(0).max(1);
    let mut text = String::new();
    for (i, &c) in h.counts().iter().enumerate() {
        let width = (c * 40).div_ceil(peak) as usize;
        text.push_str(&format!(
            "  [{:>12.6}, {:>12.6}) {:>12} {}\n",
            edges[i],
            edges[i + 1],
            c,
            "#".repeat(width)
        ));
    }
    text.push_str(&format!(
        "  below {}, above {}, NaN {}",
        h.below(),
        h.above(),
        h.nan()
    ));
    text
}

/// SplitMix64 (rand_xoshiro's): a fixed algorithm, so a seed gives the same
/// file on every machine and with every version.
struct Rng(rand_xoshiro::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        use rand_xoshiro::rand_core::SeedableRng;
        Rng(rand_xoshiro::SplitMix64::seed_from_u64(seed))
    }
    fn next_u64(&mut self) -> u64 {
        rand_xoshiro::rand_core::Rng::next_u64(&mut self.0)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Box-Muller.
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn gen_file(a: GenArgs) -> Result<(), String> {
    let dtype = a.dtype;
    let progress = Progress::new(a.quiet, "writing");
    let start = Instant::now();
    let shape = match (&a.shape, a.len) {
        (Some(Shape(shape)), _) => shape.clone(),
        (None, Some(len)) => vec![len],
        (None, None) => unreachable!("clap requires --len or --shape"),
    };
    let len: usize = shape.iter().product();
    with_dtype!(dtype, T => {
        let mut array = SharedArray::<T, IxDyn>::create_npy(&a.file, IxDyn(&shape)).map_err(|e| e.to_string())?;
        let mut rng = Rng::new(a.seed);
        let is_float = matches!(dtype, DType::F32 | DType::F64);
        let small = matches!(dtype, DType::I8 | DType::U8);
        let mut view = array.view_mut();
        let step = (len / 100).max(1 << 16);
        // A new array is in standard (C) order: its elements as one slice.
        let values = view.as_slice_mut().expect("a new array is contiguous");
        for (i, x) in values.iter_mut().enumerate() {
            let v = match (a.dist, is_float) {
                (Dist::Uniform, true) => rng.uniform(),
                (Dist::Uniform, false) if small => (rng.uniform() * 256.0).floor() - if dtype == DType::I8 { 128.0 } else { 0.0 },
                (Dist::Uniform, false) => (rng.uniform() * 1000.0).floor(),
                (Dist::Normal, true) => rng.normal(),
                (Dist::Normal, false) => (rng.normal() * 100.0).round(),
            };
            // `as` saturates at the type's bounds (normal integers of u8, say).
            *x = v as T;
            if i % step == 0 {
                progress.update(i as u64, len as u64);
            }
        }
    });
    drop(progress);
    let seconds = start.elapsed().as_secs_f64();
    if a.json {
        let out = json!({
            "file": a.file.display().to_string(),
            "dtype": dtype.to_string(),
            "len": len,
            "shape": shape,
            "dist": match a.dist { Dist::Uniform => "uniform", Dist::Normal => "normal" },
            "seed": a.seed,
            "seconds": seconds,
        });
        println!("{out}");
    } else {
        println!(
            "wrote {len} {dtype} values of shape {shape:?} to {} ({seconds:.3} s)",
            a.file.display(),
        );
    }
    Ok(())
}

fn info(a: InfoArgs) -> Result<(), String> {
    let h = shmr::npy_header(&a.file).map_err(|e| e.to_string())?;
    let file_bytes = std::fs::metadata(&a.file).map_or(0, |m| m.len());
    let elements: usize = h.shape().iter().product();
    if a.json {
        let out = json!({
            "file": a.file.display().to_string(),
            "dtype": h.dtype().to_string(),
            "shape": h.shape(),
            "elements": elements,
            "data_offset": h.offset(),
            "data_bytes": h.data_len(),
            "file_bytes": file_bytes,
        });
        println!("{out}");
    } else {
        println!("{}", a.file.display());
        println!("  dtype:    {}", h.dtype());
        println!("  shape:    {:?}", h.shape());
        println!("  elements: {elements}");
        println!(
            "  data:     {} bytes at offset {}",
            h.data_len(),
            h.offset()
        );
        println!("  file:     {file_bytes} bytes");
    }
    Ok(())
}
