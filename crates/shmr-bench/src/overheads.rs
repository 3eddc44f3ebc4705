//! Costs measured on their own: starting workers, the first jobs over an
//! array, a job's round trip, and a worker's private memory while it
//! processes a large array.

use ndarray::Ix1;
use serde::{Deserialize, Serialize};
use shmr::{Pool, SharedArray};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Startup {
    pub workers: usize,
    /// Median time from `build()` to a ready pool.
    pub total_ms: f64,
    pub per_worker_ms: f64,
}

/// Pool start-up for each worker count (median of `reps`).
pub fn startup(workers: &[usize], reps: usize) -> Result<Vec<Startup>, shmr::Error> {
    let mut out = Vec::new();
    for &w in workers {
        let mut times = Vec::new();
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let pool = Pool::builder().workers(w).build()?;
            times.push(t.elapsed());
            drop(pool);
        }
        let total = median(&mut times).as_secs_f64() * 1e3;
        out.push(Startup {
            workers: w,
            total_ms: total,
            per_worker_ms: total / w as f64,
        });
    }
    Ok(out)
}

/// The first sums of an array on a new pool, job by job, each right after
/// the same sum by rayon's threads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FirstJobs {
    pub workers: usize,
    pub len: usize,
    /// Milliseconds of the 1st, 2nd, ... job.
    pub shmr_ms: Vec<f64>,
    pub rayon_ms: Vec<f64>,
}

/// Times the first `jobs` runs of `shmr` (on a pool that has not seen the
/// array) and of `rayon`, alternately. A worker process fills its page
/// tables for each chunk it maps the first time, and chunks are claimed in
/// turn, so it keeps meeting new ones for several jobs; threads share the
/// page tables of the process that wrote the array.
pub fn first_jobs(
    workers: usize,
    len: usize,
    jobs: usize,
    mut shmr: impl FnMut() -> Result<f64, shmr::Error>,
    mut rayon: impl FnMut() -> f64,
) -> Result<FirstJobs, shmr::Error> {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut shmr_ms, mut rayon_ms) = (Vec::new(), Vec::new());
    for _ in 0..jobs {
        let t = Instant::now();
        std::hint::black_box(rayon());
        rayon_ms.push(ms(t));
        let t = Instant::now();
        std::hint::black_box(shmr()?);
        shmr_ms.push(ms(t));
    }
    Ok(FirstJobs {
        workers,
        len,
        shmr_ms,
        rayon_ms,
    })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundTrip {
    pub workers: usize,
    pub jobs: usize,
    pub median_us: f64,
    pub p99_us: f64,
}

/// The round trip of a job that does nothing, on a warm pool.
pub fn round_trip(pool: &Pool, jobs: usize) -> Result<RoundTrip, shmr::Error> {
    let a = SharedArray::<f64, _>::zeros(1)?;
    pool.on(&a).map_reduce(|_| (), |_, _| ())?;
    let mut times = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let t = Instant::now();
        pool.on(&a).map_reduce(|_| (), |_, _| ())?;
        times.push(t.elapsed());
    }
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    Ok(RoundTrip {
        workers: pool.workers(),
        jobs,
        median_us: p(0.5),
        p99_us: p(0.99),
    })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerMemory {
    pub array_mib: f64,
    /// Largest private (clean + dirty) memory seen in any worker.
    pub max_private_mib: f64,
    /// Largest anonymous memory seen in any worker.
    pub max_anonymous_mib: f64,
    /// Largest shared resident memory seen in any worker (the array pages).
    pub max_shared_mib: f64,
    pub samples: usize,
}

fn rollup(pid: u32) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Some((
        field("Private_Clean:") + field("Private_Dirty:"),
        field("Anonymous:"),
        field("Shared_Clean:") + field("Shared_Dirty:"),
    ))
}

/// Samples every worker's `/proc/PID/smaps_rollup` while `job` runs.
pub fn worker_memory(
    pool: &Pool,
    a: &SharedArray<f64, Ix1>,
    job: impl FnOnce() -> Result<f64, shmr::Error> + Send,
) -> Result<WorkerMemory, shmr::Error> {
    let pids = pool.worker_pids();
    let done = AtomicBool::new(false);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let (result, (private, anon, shared, samples)) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let (mut p, mut an, mut sh, mut n) = (0, 0, 0, 0);
            while !done.load(Ordering::Relaxed) {
                for &pid in &pids {
                    if let Some((pr, a, shd)) = rollup(pid) {
                        p = p.max(pr);
                        an = an.max(a);
                        sh = sh.max(shd);
                        n += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (p, an, sh, n)
        });
        let r = job();
        done.store(true, Ordering::Relaxed);
        (r, sampler.join().unwrap_or((0, 0, 0, 0)))
    });
    result?;
    Ok(WorkerMemory {
        array_mib: mib((a.len() * 8) as u64),
        max_private_mib: mib(private),
        max_anonymous_mib: mib(anon),
        max_shared_mib: mib(shared),
        samples,
    })
}

/// The median of `times` (sorted in place): the one median of the workspace.
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
