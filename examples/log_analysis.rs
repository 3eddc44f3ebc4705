//! A log analysis in one pass: over an Apache access log (`--bytes` of it,
//! generated: 50,000 client addresses, 20,000 paths drawn with a skew,
//! status codes and response sizes), the requests per status code, the
//! bytes served per path (the top 10 printed) and the distinct client
//! addresses, all three from one fold over the log's lines: each worker
//! keeps one `Report` of counters, a table and a set, merged once.
//!
//! Checked against a sequential loop and timed against rayon's fold over
//! the same pieces (`Records::pieces`, cut as shmr's chunks are), the same
//! line splitter (`Records::iter`) and parsing function in all three: the
//! whole program uses shmr's public API only.
//!
//! cargo run --release --example log_analysis -- --bytes 1000000000

use clap::Parser;
use foldhash::fast::RandomState;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use shmr::SharedArray;
use shmr::keyed::{Delimiters, Records, SmallBytes};
use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::time::Instant;

/// Requests per status, bytes per path and distinct clients of an access
/// log, with shmr and rayon.
#[derive(Parser, Debug)]
struct Args {
    /// Bytes of log to generate
    #[arg(long, default_value = "1000000000", value_parser = shmr_bench::whole_number)]
    bytes: usize,
    /// Timed runs of shmr and rayon, alternated (the median is reported)
    #[arg(long, default_value = "3")]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

/// What one pass over a log finds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Report {
    /// Requests per status code (index: the code).
    status: Vec<u64>,
    /// Bytes served per path.
    bytes: HashMap<SmallBytes, u64, RandomState>,
    /// Client addresses seen.
    clients: HashSet<u32, RandomState>,
    /// Lines that did not parse.
    bad: u64,
}

impl Report {
    fn new() -> Report {
        Report {
            status: vec![0; 600],
            ..Report::default()
        }
    }

    /// Adds one line: `IP - - [time] "METHOD PATH PROTO" STATUS BYTES`.
    fn add(&mut self, line: &[u8]) {
        let mut f = line.split(|&b| b == b' ');
        let ip = f.next().and_then(ipv4);
        let mut f = f.skip(4); // "-", "-", "[time", "zone]"
        let path = f.nth(1); // after "METHOD
        let status = f.nth(1).and_then(number).filter(|&s| s < 600);
        let size = f.next().and_then(number);
        match (ip, path, status, size) {
            (Some(ip), Some(path), Some(status), Some(size)) => {
                self.clients.insert(ip);
                self.status[status as usize] += 1;
                *self.bytes.entry(SmallBytes::from_slice(path)).or_insert(0) += size;
            }
            _ => self.bad += 1,
        }
    }

    fn merge(mut self, other: Report) -> Report {
        self.status
            .iter_mut()
            .zip(&other.status)
            .for_each(|(a, b)| *a += b);
        for (path, n) in other.bytes {
            *self.bytes.entry(path).or_insert(0) += n;
        }
        self.clients.extend(other.clients);
        self.bad += other.bad;
        self
    }
}

fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0_u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

fn ipv4(s: &[u8]) -> Option<u32> {
    let mut ip = 0_u32;
    let mut parts = 0;
    for p in s.split(|&b| b == b'.') {
        ip = ip << 8 | u32::try_from(number(p)?).ok().filter(|&n| n < 256)?;
        parts += 1;
    }
    (parts == 4).then_some(ip)
}

/// The log: SplitMix64 draws, so the same `bytes` always give the same log.
fn generate(bytes: usize) -> Vec<u8> {
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let statuses = [200, 200, 200, 200, 200, 200, 304, 301, 404, 500];
    let mut log = Vec::with_capacity(bytes + 200);
    while log.len() < bytes {
        let r = next();
        let client = (r % 50_000) as u32 * 2_654_435_761;
        // Paths skewed: the square of a uniform draw favours small ids.
        let u = (r >> 20) % 20_000;
        let path = u * u / 20_000;
        let status = statuses[((r >> 40) % 10) as usize];
        let size = if status == 200 { (r >> 44) % 50_000 } else { 0 };
        let [a, b, c, d] = client.to_be_bytes();
        log.extend_from_slice(
            format!(
                "{a}.{b}.{c}.{d} - - [04/Dec/2026:13:{:02}:{:02} +0000] \"GET /files/{path}/index.html HTTP/1.1\" {status} {size}\n",
                (r >> 8) % 60,
                (r >> 14) % 60
            )
            .as_bytes(),
        );
    }
    log
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let a = Args::parse();
    let t = Instant::now();
    let text = SharedArray::from_array(&ndarray::Array1::from_vec(generate(a.bytes)))?;
    let view = text.view();
    let raw = view.as_slice().expect("a 1-D shared array is contiguous");
    println!(
        "log_analysis: {} MB of access log (made in {:.1?})",
        raw.len() >> 20,
        t.elapsed()
    );

    let t = Instant::now();
    let mut want = Report::new();
    Records::new(raw, Delimiters::LINES)
        .iter()
        .for_each(|l| want.add(l));
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(a.workers)?;
    let threads = shmr_suite::threads_like(&pool);
    // The one pass: every line of a worker's chunks into its one Report.
    let by_shmr = || {
        pool.on(&text)
            .records(Delimiters::LINES)
            .fold(
                Report::new,
                |report, lines| lines.iter().for_each(|l| report.add(l)),
                Report::merge,
            )
            .expect("the analysis runs")
    };
    let piece = pool
        .on(&text)
        .records(Delimiters::LINES)
        .partition()?
        .chunk_rows() as usize;
    // The same lines as shmr's chunks hold: Records::pieces cuts as a
    // records job does, and each piece's lines come from the same splitter.
    let by_rayon = || {
        threads.install(|| {
            Records::pieces(raw, piece, Delimiters::LINES)
                .collect::<Vec<_>>()
                .into_par_iter()
                .fold(Report::new, |mut r, p| {
                    p.iter().for_each(|l| r.add(l));
                    r
                })
                .reduce(Report::new, Report::merge)
        })
    };
    by_shmr(); // warm: page cache, mappings
    by_rayon();
    let ((got, took), (on_threads, rayon_took)) = shmr_suite::alternate(a.reps, by_shmr, by_rayon);
    shmr_suite::report_times(seq, rayon_took, took, pool.workers(), "median, alternated");

    let ok: Vec<(usize, u64)> = got
        .status
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .map(|(s, &n)| (s, n))
        .collect();
    println!("  requests by status  : {ok:?}");
    let mut top: Vec<(&SmallBytes, &u64)> = got.bytes.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (path, n) in top.iter().take(10) {
        println!("    {:<32} {n:>14} bytes", String::from_utf8_lossy(path));
    }
    println!(
        "  distinct clients    : {}, unparsed lines: {}",
        got.clients.len(),
        got.bad
    );
    Ok(shmr_suite::verdict(
        "the three results",
        got == want && on_threads == want,
    ))
}
