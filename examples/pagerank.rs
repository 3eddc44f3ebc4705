//! PageRank over a graph in CSR form (compressed sparse rows of in-edges):
//! `--nodes` nodes, `--edges` edges, `--iterations` rounds of
//!
//!   rank'(v) = (1 - d) / n + d * sum over edges u -> v of rank(u) / outdeg(u)
//!
//! with shmr, with rayon and with a plain loop. Each round is one job over
//! the node indices (`pool.range(n)`): a chunk of nodes reads its slice of
//! the CSR offsets, the sources they point to and the previous round's
//! values (side arrays, whole and read-only), and writes its nodes of the
//! next round (`map_into`). The value carried from round to round is
//! `rank(u) / outdeg(u)`, so a round reads one array at random, not two.
//!
//! Every node's new value is the same sum in the same order whoever
//! computes it, so shmr, rayon and the loop agree bit for bit. Also
//! printed: the cost of a round beyond its work, as the time of the same
//! job whose mapper does nothing.
//!
//! cargo run --release --example pagerank -- --nodes 1000000 --edges 10000000

use clap::Parser;
use ndarray::{ArrayView1, ArrayViewMut1};
use rayon::prelude::*;
use shmr::SharedArray;
use std::ops::Range;
use std::process::ExitCode;
use std::time::Instant;

/// PageRank with shmr, rayon and a loop, checked against each other.
#[derive(Parser, Debug)]
struct Args {
    /// Nodes
    #[arg(long, default_value = "1000000", value_parser = shmr_bench::whole_number)]
    nodes: usize,
    /// Edges (every node gets edges / nodes of them out, at least one)
    #[arg(long, default_value = "10000000", value_parser = shmr_bench::whole_number)]
    edges: usize,
    /// Rounds of PageRank
    #[arg(long, default_value = "20")]
    iterations: usize,
    /// Timed runs of shmr and rayon, alternated (the median is reported)
    #[arg(long, default_value = "3")]
    reps: usize,
    /// Worker processes [default: one per CPU]
    #[arg(long, value_parser = shmr_bench::whole_number)]
    workers: Option<usize>,
}

/// The damping factor.
const D: f64 = 0.85;

/// The graph: in-edges of node `v` are `sources[offsets[v]..offsets[v+1]]`.
struct Graph {
    offsets: SharedArray<u64, ndarray::Ix1>,
    sources: SharedArray<u32, ndarray::Ix1>,
    /// 1 / outdeg(v).
    inv_out: SharedArray<f64, ndarray::Ix1>,
}

/// What every round of every way computes for nodes `rows`: the next
/// round's `rank / outdeg` of each, from this round's `carried`.
fn round(
    rows: Range<usize>,
    offsets: ArrayView1<'_, u64>,
    sources: ArrayView1<'_, u32>,
    carried: ArrayView1<'_, f64>,
    inv_out: ArrayView1<'_, f64>,
    mut out: ArrayViewMut1<'_, f64>,
) {
    let base = (1.0 - D) / carried.len() as f64;
    for ((o, v), &inv) in out.iter_mut().zip(rows).zip(inv_out) {
        let (a, b) = (offsets[v] as usize, offsets[v + 1] as usize);
        let mut s = 0.0;
        for &u in sources.slice(ndarray::s![a..b]) {
            s += carried[u as usize];
        }
        *o = (base + D * s) * inv;
    }
}

/// A SplitMix64 step: the graph's randomness.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Edge `i` goes from node `i % n` (so every node has edges out) to a node
/// drawn with a skew towards low numbers, as links favour a few pages.
fn make_graph(n: usize, m: usize) -> Result<Graph, shmr::Error> {
    let m = m.max(n);
    let dest = |i: usize| {
        let r = (mix(i as u64) >> 11) as f64 / (1u64 << 53) as f64;
        ((r * r * n as f64) as usize).min(n - 1)
    };
    // Counting sort of the edges by destination: offsets, then sources.
    let mut offsets = SharedArray::<u64, _>::zeros(n + 1)?;
    let mut sources = SharedArray::<u32, _>::zeros(m)?;
    let mut inv_out = SharedArray::<f64, _>::zeros(n)?;
    {
        let mut off = offsets.view_mut();
        let off = off.as_slice_mut().expect("standard");
        (0..m).for_each(|i| off[dest(i) + 1] += 1);
        (0..n).for_each(|v| off[v + 1] += off[v]);
        let mut next: Vec<u64> = off[..n].to_vec();
        let mut src = sources.view_mut();
        for i in 0..m {
            let d = dest(i);
            src[next[d] as usize] = (i % n) as u32;
            next[d] += 1;
        }
    }
    let out_degree = |v: usize| (m / n + usize::from(v < m % n)) as f64;
    inv_out
        .view_mut()
        .iter_mut()
        .enumerate()
        .for_each(|(v, x)| *x = 1.0 / out_degree(v));
    Ok(Graph {
        offsets,
        sources,
        inv_out,
    })
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    shmr::init();
    let a = Args::parse();
    let n = a.nodes.max(1);
    let t = Instant::now();
    let g = make_graph(n, a.edges)?;
    println!(
        "pagerank: {n} nodes, {} edges, {} rounds (graph made in {:.1?})",
        g.sources.len(),
        a.iterations,
        t.elapsed()
    );
    let start = |carried: &mut ArrayViewMut1<'_, f64>, inv_out: ArrayView1<'_, f64>| {
        carried.zip_mut_with(&inv_out, |c, &inv| *c = inv / n as f64)
    };
    let (offsets, sources, inv_out) = (g.offsets.view(), g.sources.view(), g.inv_out.view());

    // The loop.
    let mut want = ndarray::Array1::<f64>::zeros(n);
    let mut spare = want.clone();
    let mut by_loop = || {
        start(&mut want.view_mut(), inv_out);
        for _ in 0..a.iterations {
            round(
                0..n,
                offsets,
                sources,
                want.view(),
                inv_out,
                spare.view_mut(),
            );
            std::mem::swap(&mut want, &mut spare);
        }
    };
    by_loop(); // warm, as the others are
    let t = Instant::now();
    by_loop();
    let seq = t.elapsed();

    let pool = shmr_suite::pool_of(a.workers)?;
    let threads = shmr_suite::threads_like(&pool);
    let mut carried = SharedArray::<f64, _>::zeros(n)?;
    let mut next = SharedArray::<f64, _>::zeros(n)?;
    // shmr: one job per round over the node indices; the nodes' own
    // 1/outdeg read with them, the graph and this round's values whole.
    let one_round = |carried: &SharedArray<f64, ndarray::Ix1>,
                     next: &mut SharedArray<f64, ndarray::Ix1>|
     -> Result<(), shmr::Error> {
        pool.range(n)
            .and(&g.inv_out)
            .side(&g.offsets)
            .side(&g.sources)
            .side(carried)
            .map_into(next, |(rows, inv, off, src, carried), out| {
                round(rows, off, src, carried, inv, out)
            })
    };
    let mut by_shmr = || -> Result<(), shmr::Error> {
        start(&mut carried.view_mut(), inv_out);
        for _ in 0..a.iterations {
            one_round(&carried, &mut next)?;
            std::mem::swap(&mut carried, &mut next);
        }
        Ok(())
    };
    // rayon: the same rounds over chunks of nodes as large as shmr's.
    let rows_per = pool.range(n).and(&g.inv_out).partition()?.chunk_rows() as usize;
    let mut on_threads = ndarray::Array1::<f64>::zeros(n);
    let mut spare = on_threads.clone();
    let mut by_rayon = || {
        start(&mut on_threads.view_mut(), inv_out);
        for _ in 0..a.iterations {
            let carried = on_threads.view();
            let out = spare.as_slice_mut().expect("standard");
            threads.install(|| {
                out.par_chunks_mut(rows_per)
                    .enumerate()
                    .for_each(|(k, out)| {
                        let rows = k * rows_per..k * rows_per + out.len();
                        let inv = inv_out.slice(ndarray::s![rows.clone()]);
                        round(rows, offsets, sources, carried, inv, out.into())
                    })
            });
            std::mem::swap(&mut on_threads, &mut spare);
        }
    };
    by_shmr()?; // warm: page cache, mappings
    by_rayon();
    let ((ran, took), (_, rayon_took)) = shmr_suite::alternate(a.reps, &mut by_shmr, &mut by_rayon);
    ran?;
    shmr_suite::report_times(
        seq,
        rayon_took,
        took,
        pool.workers(),
        &format!("{} rounds, median, alternated", a.iterations),
    );

    // The cost of a round beyond its work: the same job, the same chunks,
    // a mapper that does nothing.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        pool.range(n)
            .and(&g.inv_out)
            .side(&g.offsets)
            .side(&g.sources)
            .side(&carried)
            .map_into(&mut next, |_, _| {})?;
        idle.push(t.elapsed());
    }
    let idle = shmr_bench::overheads::median(&mut idle);
    let per_round = took / a.iterations.max(1) as u32;
    println!(
        "  per round           : {per_round:>10.2?}  ({} chunks; {:.0} us of it beyond the work: the \
         same job with an idle mapper, median of 50)",
        pool.range(n).and(&g.inv_out).partition()?.len(),
        idle.as_secs_f64() * 1e6
    );

    // Ranks are carried / inv_out: compare what is carried, bit for bit.
    let same = carried.view() == want && on_threads == want;
    let ranks = want.iter().zip(inv_out).map(|(c, i)| c / i);
    let total: f64 = ranks.clone().sum();
    let best = ranks
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0));
    println!(
        "  ranks               : sum {total:.6}, highest {:.3e} (node {})",
        best.1, best.0
    );
    Ok(shmr_suite::verdict("ranks", same))
}
