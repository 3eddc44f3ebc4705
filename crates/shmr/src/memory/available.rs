//! How much memory a new segment may take: checked before it is asked
//! for, since on a memfd the kernel's answer to too much may be the OOM
//! killer rather than an error.

use crate::error::{Error, Result};

/// Refuses `requested` bytes for `what` if they are more than memory can
/// give ([`memory_available`]), or more than `filesystem` (free bytes of the
/// filesystem that will hold them, such as `/dev/shm`) has free. Shared
/// memory is memory wherever it is named: a segment in `/dev/shm` that fits
/// the filesystem but not the memory invites the OOM killer.
pub(crate) fn check_memory(requested: u64, what: &str, filesystem: Option<u64>) -> Result<()> {
    let memory = memory_available()?;
    let (available, short) = match filesystem {
        Some(free) if free < memory => (free, "more than /dev/shm has free"),
        _ => (
            memory,
            "more than the memory available (MemAvailable + SwapFree, within this cgroup's limit)",
        ),
    };
    if requested > available {
        return Err(Error::OutOfSharedMemory {
            what: what.to_string(),
            requested,
            available,
            source: std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!("refused before reserving: {short}"),
            ),
        });
    }
    Ok(())
}

/// Bytes of memory a new segment can take without swapping out or
/// killing anything: `MemAvailable + SwapFree`, and no more than this
/// process's cgroups (v1 or v2, and each of their ancestors) have left
/// under their limits.
pub(crate) fn memory_available() -> Result<u64> {
    let meminfo =
        std::fs::read_to_string("/proc/meminfo").map_err(Error::io("reading /proc/meminfo"))?;
    let field = |name: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib.saturating_mul(1024))
    };
    let mut available = field("MemAvailable").saturating_add(field("SwapFree"));
    if let Some(left) = cgroup_memory_left() {
        available = available.min(left);
    }
    Ok(available)
}

/// What this process's cgroups may still charge, if any has a memory
/// limit: the least left under the limits of its cgroup and of every
/// ancestor, under cgroup v2 (`memory.max`, `memory.current`) or v1
/// (`memory.limit_in_bytes`, `memory.usage_in_bytes`; "no limit" there is a
/// huge number, which the minimum ignores).
fn cgroup_memory_left() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_memory_left_in(&cgroup, std::path::Path::new("/sys/fs/cgroup"))
}

fn cgroup_memory_left_in(cgroup: &str, root: &std::path::Path) -> Option<u64> {
    // `0::/path` is v2; `N:memory:/path` (or `N:a,memory:/path`) is v1.
    let (dir, files) = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim().trim_start_matches('/');
        if controllers.is_empty() {
            Some((root.join(path), ("memory.max", "memory.current")))
        } else if controllers.split(',').any(|c| c == "memory") {
            let files = ("memory.limit_in_bytes", "memory.usage_in_bytes");
            Some((root.join("memory").join(path), files))
        } else {
            None
        }
    })?;
    let read = |d: &std::path::Path, f: &str| -> Option<u64> {
        std::fs::read_to_string(d.join(f)).ok()?.trim().parse().ok() // "max": no limit
    };
    let mut least: Option<u64> = None;
    let mut at = Some(dir.as_path());
    while let Some(d) = at.filter(|d| d.starts_with(root)) {
        if let (Some(max), Some(used)) = (read(d, files.0), read(d, files.1)) {
            let left = max.saturating_sub(used);
            least = Some(least.map_or(left, |l| l.min(left)));
        }
        at = d.parent();
    }
    least
}

#[cfg(test)]
mod tests {
    use super::cgroup_memory_left_in;
    use std::path::Path;

    /// A directory holding `files`, made fresh under a name of its own.
    fn tree(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("shmr-cg-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in files {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        }
        d
    }

    #[test]
    fn cgroup_limits_are_read_under_v1_and_v2_with_their_ancestors() {
        // v2: the tightest of the cgroup and its parent.
        let d = tree(
            "v2",
            &[
                ("a/memory.max", "1000\n"),
                ("a/memory.current", "100\n"),
                ("a/b/memory.max", "max\n"),
                ("a/b/memory.current", "50\n"),
            ],
        );
        assert_eq!(cgroup_memory_left_in("0::/a/b\n", &d), Some(900));
        let _ = std::fs::remove_dir_all(d);
        // v1, as this machine has it: "no limit" is a huge number.
        let d = tree(
            "v1",
            &[
                ("memory/x/memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory/x/memory.usage_in_bytes", "956821504\n"),
                ("memory/x/y/memory.limit_in_bytes", "4000000000\n"),
                ("memory/x/y/memory.usage_in_bytes", "1000000000\n"),
            ],
        );
        let v1 = "12:pids:/x/y\n4:memory:/x/y\n0::/\n";
        assert_eq!(cgroup_memory_left_in(v1, &d), Some(3_000_000_000));
        let _ = std::fs::remove_dir_all(d);
        // No limit files at all: nothing to say.
        let d = tree("none", &[]);
        assert_eq!(cgroup_memory_left_in("0::/\n", &d), None);
        let _ = std::fs::remove_dir_all(d);
        assert_eq!(cgroup_memory_left_in("", Path::new("/nonexistent")), None);
    }
}
