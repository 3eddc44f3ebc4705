//! What machine the numbers come from, and its memory read bandwidth.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A description of the machine, for the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: kb / (1 << 20) as f64,
            kernel,
            rustc,
        }
    }
}

/// Memory read bandwidth in GB/s with `threads` threads streaming over
/// `data` (best of `reps`): each thread folds its contiguous share with
/// eight independent XOR lanes, so the loop is bound by loads alone.
pub fn read_bandwidth(data: &[f64], threads: usize, reps: usize) -> f64 {
    let threads = threads.max(1);
    let share = data.len().div_ceil(threads).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let folded = std::thread::scope(|s| {
            let handles: Vec<_> = data
                .chunks(share)
                .map(|part| {
                    s.spawn(move || {
                        let mut acc = [0u64; 8];
                        let mut it = part.chunks_exact(8);
                        for b in &mut it {
                            for (a, x) in acc.iter_mut().zip(b) {
                                *a ^= x.to_bits();
                            }
                        }
                        acc.iter().fold(it.remainder().len() as u64, |x, y| x ^ y)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .fold(0, |a, b| a ^ b)
        });
        std::hint::black_box(folded);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (data.len() * 8) as f64 / best / 1e9
}

/// A process's peak private memory in bytes, as far as Linux tells it:
/// its peak resident set (`VmHWM`) less the shared-memory and file pages
/// it has mapped now (`RssShmem`, `RssFile`), which for a shmr process are
/// the arrays it touched and its executable, pages that stay mapped once
/// touched. `None` if `/proc/PID/status` cannot be read.
pub fn peak_private_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let peak = kib("VmHWM:")?;
    let shared = kib("RssShmem:").unwrap_or(0) + kib("RssFile:").unwrap_or(0);
    Some(peak.saturating_sub(shared) * 1024)
}

/// CPU time this process has used (user + system), from
/// `/proc/self/stat` (10 ms resolution); zero if it cannot be read.
pub fn cpu_time() -> std::time::Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return std::time::Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15, the 12th and 13th after ')'.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}
