//! The report: what was measured, as JSON (for tools) and Markdown (for
//! people), with each target of issue 3 checked against the numbers.

use crate::machine::Machine;
use crate::overheads::{FirstJobs, RoundTrip, Startup, WorkerMemory};
use crate::python::PeerResult;
use crate::workloads::Workload;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bandwidth {
    pub threads: usize,
    pub gbps: f64,
}

/// One job, one array, one worker count: the three ways side by side.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub job: Workload,
    pub dtype: String,
    pub len: usize,
    pub workers: usize,
    pub baseline_ms: f64,
    pub rayon_ms: f64,
    pub shmr_ms: f64,
    /// baseline / shmr.
    pub speedup: f64,
    /// rayon / shmr: above 1 means shmr is faster than threads.
    pub vs_rayon: f64,
    /// Array bytes per second of shmr's time.
    pub gbps: f64,
    /// `gbps` over the read bandwidth with as many threads.
    pub bandwidth_fraction: f64,
    /// Whether baseline, rayon and shmr gave the same answer.
    pub agree: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Crossover {
    pub job: Workload,
    /// Smallest size from which shmr beats the baseline at every larger size.
    pub len: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub bandwidth: Vec<Bandwidth>,
    pub rows: Vec<Row>,
    pub sweep: Vec<Row>,
    pub crossover: Vec<Crossover>,
    pub startup: Vec<Startup>,
    /// Absent from reports written before it was measured.
    #[serde(default)]
    pub first_jobs: Option<FirstJobs>,
    pub round_trip: Option<RoundTrip>,
    pub worker_memory: Option<WorkerMemory>,
    pub python: Vec<PeerResult>,
    pub python_note: String,
    pub targets: Vec<Target>,
}

impl Report {
    pub fn bandwidth_for(bw: &[Bandwidth], threads: usize) -> f64 {
        bw.iter()
            .find(|b| b.threads == threads)
            .or(bw.last())
            .map_or(f64::NAN, |b| b.gbps)
    }

    /// The crossover of each job from the size sweep.
    pub fn crossovers(sweep: &[Row]) -> Vec<Crossover> {
        Workload::ALL
            .iter()
            .map(|&job| {
                let mut rows: Vec<&Row> = sweep.iter().filter(|r| r.job == job).collect();
                rows.sort_by_key(|r| r.len);
                let mut len = None;
                for r in rows.iter().rev() {
                    if r.shmr_ms < r.baseline_ms {
                        len = Some(r.len);
                    } else {
                        break;
                    }
                }
                Crossover { job, len }
            })
            .collect()
    }

    /// Length of the largest f64 array measured (0 if none).
    pub fn largest_f64(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.dtype == "f64")
            .map(|r| r.len)
            .max()
            .unwrap_or(0)
    }

    /// Checks the targets of issue 3 for `workers` workers on the largest
    /// f64 array.
    pub fn check_targets(&mut self, workers: usize) {
        let mut t = Vec::new();
        let big = self.largest_f64();
        let row = |job| {
            self.rows
                .iter()
                .find(|r| r.job == job && r.dtype == "f64" && r.len == big && r.workers == workers)
        };
        let mut add = |name: String, goal: &str, measured: String, met: bool| {
            t.push(Target {
                name,
                goal: goal.into(),
                measured,
                met,
            })
        };
        for job in [Workload::Sum, Workload::Stats] {
            if let Some(r) = row(job) {
                add(
                    format!("{} at memory bandwidth", job.name()),
                    ">= 90% of read bandwidth",
                    format!("{:.0}%", 100.0 * r.bandwidth_fraction),
                    r.bandwidth_fraction >= 0.9,
                );
                add(
                    format!("{} vs rayon", job.name()),
                    "no slower than rayon (>= 1.00x)",
                    format!("{:.2}x", r.vs_rayon),
                    r.vs_rayon >= 1.0,
                );
            }
        }
        if let Some(r) = row(Workload::Histogram) {
            add(
                "histogram speedup".into(),
                ">= 1.7x baseline",
                format!("{:.2}x", r.speedup),
                r.speedup >= 1.7,
            );
            add(
                "histogram vs rayon".into(),
                "no slower than rayon (>= 1.00x)",
                format!("{:.2}x", r.vs_rayon),
                r.vs_rayon >= 1.0,
            );
        }
        if let Some(r) = row(Workload::HeavyMap) {
            add(
                "heavy map speedup".into(),
                ">= 1.8x baseline",
                format!("{:.2}x", r.speedup),
                r.speedup >= 1.8,
            );
        }
        for job in Workload::ALL {
            let py = self
                .python
                .iter()
                .find(|p| p.job == job.name() && p.len == big && p.workers == workers);
            if let (Some(p), Some(r)) = (py, row(job)) {
                let ratio = p.total_ms / r.shmr_ms;
                add(
                    format!("{} vs Python", job.name()),
                    ">= 5x faster than numpy + multiprocessing (its start-up included)",
                    format!("{ratio:.1}x"),
                    ratio >= 5.0,
                );
            }
        }
        if let Some(rt) = &self.round_trip {
            add(
                "no-op round trip".into(),
                "<= 50 us median",
                format!("{:.1} us (p99 {:.1} us)", rt.median_us, rt.p99_us),
                rt.median_us <= 50.0,
            );
        }
        if let Some(s) = self.startup.iter().find(|s| s.workers == workers) {
            add(
                "pool start-up".into(),
                "<= 5 ms per worker",
                format!("{:.2} ms per worker", s.per_worker_ms),
                s.per_worker_ms <= 5.0,
            );
        }
        if let Some(m) = &self.worker_memory {
            add(
                "worker private memory".into(),
                "<= 16 MiB while processing a 1 GiB array",
                format!(
                    "{:.1} MiB (anonymous {:.1} MiB)",
                    m.max_private_mib, m.max_anonymous_mib
                ),
                m.max_private_mib <= 16.0,
            );
        }
        self.targets = t;
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "## Machine\n");
        let _ = writeln!(
            s,
            "{} ({} cores), {:.1} GiB memory, Linux {}, {}.\n",
            m.cpu, m.cores, m.memory_gib, m.kernel, m.rustc
        );
        let _ = writeln!(s, "Reproduce: `{}`\n", self.command);
        let bw: Vec<String> = self
            .bandwidth
            .iter()
            .map(|b| format!("{:.1} GB/s with {} thread(s)", b.gbps, b.threads))
            .collect();
        let _ = writeln!(
            s,
            "Memory read bandwidth (measured at start): {}.\n",
            bw.join(", ")
        );

        if !self.targets.is_empty() {
            let _ = writeln!(
                s,
                "## Targets\n\n| target | goal | measured | met |\n|---|---|---|---|"
            );
            for t in &self.targets {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    t.name,
                    t.goal,
                    t.measured,
                    if t.met { "yes" } else { "**no**" }
                );
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## Large arrays\n");
        table(&mut s, &self.rows);
        let _ = writeln!(s, "\n## Size sweep\n");
        table(&mut s, &self.sweep);
        let _ = writeln!(
            s,
            "\nCrossover (smallest size from which shmr beats the single-process loop at every larger size):\n"
        );
        for c in &self.crossover {
            let _ = writeln!(
                s,
                "* {}: {}",
                c.job.name(),
                c.len
                    .map_or("not reached".to_string(), |n| format!("{n} elements"))
            );
        }
        let _ = writeln!(s, "\n## Overheads\n");
        for st in &self.startup {
            let _ = writeln!(
                s,
                "* pool start-up, {} worker(s): {:.2} ms ({:.2} ms per worker)",
                st.workers, st.total_ms, st.per_worker_ms
            );
        }
        if let Some(f) = &self.first_jobs {
            let jobs: Vec<String> = f
                .shmr_ms
                .iter()
                .zip(&f.rayon_ms)
                .map(|(s, r)| format!("{s:.1} / {r:.1}"))
                .collect();
            let _ = writeln!(
                s,
                "* the first sums of {} f64 on a new pool of {} workers, job by job, shmr / rayon ms: {}. \
                 Each worker process fills its page tables for the chunks it maps the first time, and \
                 claiming in turn brings it new chunks for several jobs; rayon's threads share the page \
                 tables of the process that wrote the array. The tables above time warm pools (3 \
                 untimed jobs per worker first).",
                f.len,
                f.workers,
                jobs.join(", ")
            );
        }
        if let Some(rt) = &self.round_trip {
            let _ = writeln!(
                s,
                "* no-op job round trip on a warm pool of {} workers, {} jobs: median {:.1} us, p99 {:.1} us",
                rt.workers, rt.jobs, rt.median_us, rt.p99_us
            );
        }
        if let Some(wm) = &self.worker_memory {
            let _ = writeln!(
                s,
                "* per-worker memory while processing a {:.0} MiB array ({} samples): private at most {:.1} MiB, anonymous {:.1} MiB, shared (the array's pages) up to {:.0} MiB",
                wm.array_mib,
                wm.samples,
                wm.max_private_mib,
                wm.max_anonymous_mib,
                wm.max_shared_mib
            );
        }
        let _ = writeln!(
            s,
            "\n## Python peer (numpy + multiprocessing.shared_memory)\n"
        );
        if self.python.is_empty() {
            let _ = writeln!(s, "{}", self.python_note);
        } else {
            let _ = writeln!(s, "{}\n", self.python_note);
            let _ = writeln!(
                s,
                "| job | n | workers | python total ms | python compute ms | shmr ms | shmr faster (total) | shmr faster (compute) |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            );
            for p in &self.python {
                let shmr = self.rows.iter().chain(&self.sweep).find(|r| {
                    r.job.name() == p.job
                        && r.len == p.len
                        && r.workers == p.workers
                        && r.dtype == "f64"
                });
                let (ms, a, b) = shmr.map_or(("-".into(), "-".into(), "-".into()), |r| {
                    (
                        format!("{:.3}", r.shmr_ms),
                        format!("{:.1}x", p.total_ms / r.shmr_ms),
                        format!("{:.1}x", p.compute_ms / r.shmr_ms),
                    )
                });
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.3} | {:.3} | {} | {} | {} |",
                    p.job, p.len, p.workers, p.total_ms, p.compute_ms, ms, a, b
                );
            }
        }
        s
    }
}

fn table(s: &mut String, rows: &[Row]) {
    let _ = writeln!(
        s,
        "| job | dtype | n | workers | baseline ms | rayon ms | shmr ms | speedup | vs rayon | GB/s | % of bandwidth | agree |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.2}x | {:.2}x | {:.1} | {:.0}% | {} |",
            r.job.name(),
            r.dtype,
            r.len,
            r.workers,
            r.baseline_ms,
            r.rayon_ms,
            r.shmr_ms,
            r.speedup,
            r.vs_rayon,
            r.gbps,
            100.0 * r.bandwidth_fraction,
            if r.agree { "yes" } else { "**NO**" }
        );
    }
}
