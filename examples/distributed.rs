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
use shmr::distributed::{RankArray, Traffic, World};
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
    /// maps its share of the file, cut at whitespace; the counts are
    /// shuffled by word, each rank keeps its words
    #[arg(long)]
    words: Option<std::path::PathBuf>,
    /// With --words: also gather the whole count on rank 0 and check it
    /// against the shards' summary
    #[arg(long)]
    gather: bool,
    /// With --words: also swap the ranks' whole tables the old way (an
    /// all-gather of every table, folded on every rank), to compare bytes
    #[arg(long)]
    all_gather: bool,
    /// Histogram bins (a partial of 8 bytes a bin: 1000000 for pca-sized
    /// partials of 8 MB)
    #[arg(long, default_value = "16", value_parser = shmr_bench::whole_number)]
    bins: usize,
    /// Instead of the three jobs, one whose result is this many f64 (8
    /// bytes each: 1000000 for a pca-sized partial of 8 MB): value i added
    /// into slot i % N, a fold per worker, reduced up the tree
    #[arg(long, value_parser = shmr_bench::whole_number)]
    wide: Option<usize>,
    /// Instead of jobs, time one step of point-to-point messages between
    /// ranks 0 and 1 at a few sizes: the per-message and per-byte costs of
    /// the model in docs/distributed.md
    #[arg(long)]
    pingpong: bool,
    /// A timeout for each job, in seconds
    #[arg(long)]
    timeout: Option<f64>,
    /// Stop this rank (SIGSTOP) before its first job, for --stop-for seconds
    #[arg(long)]
    stop_rank: Option<usize>,
    /// How long --stop-rank stays stopped
    #[arg(long, default_value = "6")]
    stop_for: f64,
    /// Send messages longer than this many bytes as several
    #[arg(long, value_parser = shmr_bench::whole_number)]
    message_limit: Option<usize>,
    /// Write --len bytes of generated text (a Zipf vocabulary of --vocab
    /// words) to this file and exit, for --words
    #[arg(long)]
    write_text: Option<std::path::PathBuf>,
    /// Words in --write-text's vocabulary
    #[arg(long, default_value = "20000", value_parser = shmr_bench::whole_number)]
    vocab: usize,
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

fn histogram(bins: usize) -> Histogram {
    Histogram::new(bins, 0.0..128.0)
}

/// A word count as the runs compare it, summed over the pairs so that any
/// shard of them sums to its part: pairs, words, and a digest of every
/// (word, count) pair (a sum of their hashes, which any split adds up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Summary {
    total: u64,
    distinct: u64,
    digest: u64,
}

impl Summary {
    fn of(counts: &Keyed<SmallBytes, u64>) -> Summary {
        let mut s = Summary::default();
        for (w, n) in counts {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in w.iter().chain(&n.to_le_bytes()) {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
            s.total += n;
            s.distinct += 1;
            s.digest = s.digest.wrapping_add(h);
        }
        s
    }

    fn add(self, o: Summary) -> Summary {
        Summary {
            total: self.total + o.total,
            distinct: self.distinct + o.distinct,
            digest: self.digest.wrapping_add(o.digest),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        [self.total, self.distinct, self.digest]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect()
    }

    fn from_bytes(b: &[u8]) -> Summary {
        let x = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("24 bytes"));
        Summary {
            total: x(0),
            distinct: x(1),
            digest: x(2),
        }
    }
}

fn print_words(s: Summary, top: &[(SmallBytes, u64)]) {
    let top: Vec<String> = top
        .iter()
        .map(|(w, n)| format!("{}={n}", String::from_utf8_lossy(w)))
        .collect();
    println!(
        "words: total={} distinct={} digest={:#018x} top={}",
        s.total,
        s.distinct,
        s.digest,
        top.join(",")
    );
}

/// This process's peak private memory, in MB.
fn peak_mb() -> f64 {
    shmr_bench::machine::peak_private_bytes(std::process::id()).unwrap_or(0) as f64 / 1e6
}

/// One line per rank of what it sent and received in the last job, since
/// `before`.
fn print_traffic(world: &World, what: &str, before: Traffic) {
    let t = world.last_traffic() - before;
    let line = format!(
        "traffic: {what} rank={} ranks={} sent_bytes={} received_bytes={} sent_messages={} \
         received_messages={} exchange_ms={:.3} wait_ms={:.3} peak_mb={:.1}\n",
        world.rank(),
        world.size(),
        t.sent_bytes,
        t.received_bytes,
        t.sent_messages,
        t.received_messages,
        world.last_exchange().as_secs_f64() * 1e3,
        world.last_wait().as_secs_f64() * 1e3,
        peak_mb()
    );
    use std::io::Write;
    let _ = std::io::stdout().write_all(line.as_bytes());
}

fn words_single(a: &Args, path: &std::path::Path) -> Result<ExitCode, shmr::Error> {
    let pool = shmr_suite::pool_of(a.workers)?;
    // SAFETY: nothing else writes or truncates the file meanwhile.
    let text = unsafe { SharedArray::open_bytes(path, NpyMode::ReadOnly)? };
    let counts = pool
        .on(&text)
        .records(Delimiters::WHITESPACE)
        .keyed(keyed::Sum, count_words)?;
    let top: Vec<(SmallBytes, u64)> = counts
        .top(3)
        .into_iter()
        .map(|(w, n)| (w.clone(), *n))
        .collect();
    print_words(Summary::of(&counts), &top);
    Ok(ExitCode::SUCCESS)
}

/// Each rank maps its share of the file: from the first word start at or
/// after rank/size of its length to the first at or after (rank+1)/size,
/// so no word is cut between ranks; the tables are merged across ranks in
/// rank order.
fn words_on_world(
    world: &World,
    a: &Args,
    path: &std::path::Path,
) -> Result<ExitCode, shmr::Error> {
    // Whatever fails on this rank alone fails every rank, with its reason:
    // returning early here would leave the others waiting in from_rows.
    let (mine, rows, len) = world.all_ok(words_share(world, path))?;
    let part = world.from_rows(mine, rows, &[len])?;
    let mut job = world.on(&part).records(Delimiters::WHITESPACE);
    if let Some(t) = a.timeout {
        job = job.timeout(Duration::from_secs_f64(t));
    }
    let t = Instant::now();
    let counts = job.keyed(keyed::Sum, count_words)?;
    let took = t.elapsed();
    print_traffic(world, "shuffle", Traffic::default());
    // What every rank can say without gathering the counts: the summary
    // of its shard, added up over ranks, and the global top three.
    let mine = Summary::of(&counts);
    let all = shmr::Ranks::all_gather(world, &mine.bytes())?;
    let summary = all
        .iter()
        .map(|b| Summary::from_bytes(b))
        .fold(Summary::default(), Summary::add);
    let top = counts.global_top(world, 3)?;
    if world.rank() == 0 {
        println!("  word count across ranks: {took:.2?}");
        print_words(summary, &top);
    }
    if a.gather {
        let before = world.last_traffic();
        let whole = counts.gather(world, 0)?;
        print_traffic(world, "gather", before);
        if let Some(whole) = whole {
            let s = Summary::of(&whole);
            println!(
                "gathered: {}",
                if s == summary { "same" } else { "DIFFERENT" }
            );
        }
    }
    if a.all_gather {
        // The exchange this replaced: every rank's whole table to every
        // rank, each folding all of them in rank order.
        let local = world
            .pool()
            .on(part.local())
            .records(Delimiters::WHITESPACE)
            .keyed(keyed::Sum, count_words)?;
        let bytes =
            postcard::to_allocvec(&local).map_err(|e| shmr::Error::Protocol(e.to_string()))?;
        world.barrier();
        let t = Instant::now();
        let tables = shmr::Ranks::all_gather(world, &bytes)?;
        let swapped = t.elapsed();
        let mut merged: std::collections::BTreeMap<SmallBytes, u64> = Default::default();
        for b in &tables {
            let k: Keyed<SmallBytes, u64> =
                postcard::from_bytes(b).map_err(|e| shmr::Error::Protocol(e.to_string()))?;
            for (w, n) in k {
                *merged.entry(w).or_default() += n;
            }
        }
        let took = t.elapsed();
        let line = format!(
            "traffic: all-gather rank={} ranks={} sent_bytes={} received_bytes={} merged_keys={} \
             exchange_ms={:.3} merge_ms={:.3} peak_mb={:.1}\n",
            world.rank(),
            world.size(),
            bytes.len() * (world.size() - 1),
            tables.iter().map(Vec::len).sum::<usize>() - bytes.len(),
            merged.len(),
            swapped.as_secs_f64() * 1e3,
            (took - swapped).as_secs_f64() * 1e3,
            peak_mb()
        );
        use std::io::Write;
        let _ = std::io::stdout().write_all(line.as_bytes());
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

/// Ranks 0 and 1 swap messages of each size, 21 swaps in a row (the
/// other ranks take part in empty steps), and then all-gather them the
/// way MPI does (`MPI_Allgatherv`), for comparison; rank 0 prints the mean
/// time of one swap and of one all-gather.
fn pingpong(world: &World) -> Result<ExitCode, shmr::Error> {
    use shmr::Ranks;
    const REPS: u32 = 21;
    for size in [0, 1 << 10, 1 << 16, 1 << 20, 1 << 23] {
        world.barrier();
        let t = Instant::now();
        for _ in 0..REPS {
            let (to, from) = match world.rank() {
                0 => (vec![(1, vec![7u8; size])], vec![1]),
                1 => (vec![(0, vec![7u8; size])], vec![0]),
                _ => (vec![], vec![]),
            };
            world.exchange(to, &from, None)?;
        }
        let swap = t.elapsed() / REPS;
        let mine = vec![7u8; size];
        world.barrier();
        let t = Instant::now();
        for _ in 0..REPS {
            world.all_gather(&mine)?;
        }
        let gather = t.elapsed() / REPS;
        if world.rank() == 0 {
            println!(
                "pingpong: bytes={size} swap_us={:.1} allgatherv_us={:.1}",
                swap.as_secs_f64() * 1e6,
                gather.as_secs_f64() * 1e6
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The wide job's answer as the runs compare it: the sum of its slots'
/// bits, a digest of them in order, and its length.
fn wide_line(slots: &[f64]) -> String {
    let digest = slots.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, x| {
        (h ^ x.to_bits()).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "wide: len={} sum={} digest={digest:#018x}",
        slots.len(),
        slots.iter().sum::<f64>()
    )
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
    if let Some(n) = a.wide {
        let mut slots = vec![0.0; n];
        for (i, x) in data.view().iter().enumerate() {
            slots[i % n] += x;
        }
        println!("{}", wide_line(&slots));
        return Ok(ExitCode::SUCCESS);
    }
    let h = histogram(a.bins);
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
    if let Some(path) = &a.write_text {
        let mut text = vec![0u8; a.len];
        let zipf = shmr_bench::text::Zipf::new(a.vocab, 1.0);
        shmr_bench::text::generate(
            a.len,
            &zipf,
            shmr_bench::text::Layout::Prose,
            &[],
            5,
            &mut text,
        );
        std::fs::write(path, &text).map_err(|e| shmr::Error::File {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.single {
        return single(&a);
    }
    let mut pool = shmr::Pool::builder();
    if let Some(w) = a.workers {
        pool = pool.workers(w);
    }
    let world = World::with_pool(pool)?;
    if let Some(n) = a.message_limit {
        world.set_message_limit(n);
    }
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
        return words_on_world(world, a, path);
    }
    if a.pingpong {
        return pingpong(world);
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
    if let Some(r) = a.stop_rank {
        return stopped(world, &part, a, r);
    }
    if let Some(n) = a.wide {
        let t = Instant::now();
        let slots = world.on(&part).params((part.rows().start, n)).fold(
            |&(_, n)| vec![0.0_f64; n],
            |&(start, n), acc, c| {
                let first = start + shmr::current_rows().expect("in a mapper").start;
                for (k, x) in c.iter().enumerate() {
                    acc[(first + k) % n] += x;
                }
            },
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )?;
        let took = t.elapsed();
        print_traffic(world, "wide", Traffic::default());
        if world.rank() == 0 {
            println!("  wide ({n} f64): {took:.2?}");
            println!("{}", wide_line(&slots));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let h = histogram(a.bins);
    fn with_timeout(
        b: shmr::JobBuilder<'_, SharedArray<f64, Ix1>>,
        t: Option<f64>,
    ) -> shmr::JobBuilder<'_, SharedArray<f64, Ix1>> {
        match t {
            Some(t) => b.timeout(Duration::from_secs_f64(t)),
            None => b,
        }
    }
    let timed = |b| with_timeout(b, a.timeout);
    let (answers, times) = jobs(
        a.reps,
        || timed(world.on(&part)).run(&Sum),
        || timed(world.on(&part)).run(&Stats),
        || timed(world.on(&part)).run(&h),
    )?;
    print_traffic(world, "histogram", Traffic::default());
    if world.rank() == 0 {
        report(times, Some(world));
        answers.print();
    }
    Ok(ExitCode::SUCCESS)
}

/// One sum with a timeout, rank `r` stopped (SIGSTOP) just before it for
/// `--stop-for` seconds: every other rank should fail within the timeout
/// plus a second, naming rank `r`.
fn stopped(
    world: &World,
    part: &RankArray<f64, Ix1>,
    a: &Args,
    r: usize,
) -> Result<ExitCode, shmr::Error> {
    let timeout = Duration::from_secs_f64(a.timeout.unwrap_or(2.0));
    world.barrier();
    if world.rank() == r {
        let pid = std::process::id().to_string();
        // Woken by a helper, since a stopped process cannot wake itself.
        std::process::Command::new("sh")
            .args(["-c", &format!("sleep {}; kill -CONT {pid}", a.stop_for)])
            .spawn()
            .map_err(|e| shmr::Error::Protocol(format!("starting the waker: {e}")))?;
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status();
    }
    let t = Instant::now();
    let sum = world.on(part).timeout(timeout).run(&Sum);
    let took = t.elapsed();
    match sum {
        Ok(v) => {
            println!(
                "stopped: rank={} ok sum={v} after_s={:.3}",
                world.rank(),
                took.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let line = format!(
                "stopped: rank={} failed after_s={:.3} timeout_s={:.3}: {e}\n",
                world.rank(),
                took.as_secs_f64(),
                timeout.as_secs_f64()
            );
            use std::io::Write;
            let _ = std::io::stdout().write_all(line.as_bytes());
            let _ = std::io::stdout().flush();
            Ok(ExitCode::FAILURE)
        }
    }
}
