//! The MPI backend under a real `mpirun`: examples/distributed at 2 and 4
//! ranks (4 oversubscribed on this 2-core machine) gives the answers of
//! the same jobs on one machine without MPI, the same bits from run to
//! run, and bad launches end in clear errors on every rank, never a hang.
//!
//! Needs the `mpi` feature and Open MPI's `mpirun`; without them it says
//! so in one line and passes, unless `SHMR_REQUIRE_MPI=1` (set by
//! `.ci/run`, which installs them) makes them required.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether the test can run here; a notice (or a failure, if required)
/// when it cannot.
fn available() -> bool {
    let required = std::env::var("SHMR_REQUIRE_MPI").is_ok_and(|v| v == "1");
    let missing = if !cfg!(feature = "mpi") {
        Some("built without the `mpi` feature (cargo test --features mpi --test mpi)")
    } else if Command::new("mpirun").arg("--version").output().is_err() {
        Some("no `mpirun` on PATH (apt-get install openmpi-bin libopenmpi-dev)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if required => panic!("SHMR_REQUIRE_MPI=1 but {why}"),
        Some(why) => {
            // Straight to the descriptor: libtest captures eprintln! of
            // passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipped an MPI test: {why}; SHMR_REQUIRE_MPI=1 to require it"
            );
            false
        }
    }
}

/// examples/distributed, built for this profile if it is not yet.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let release = dir.ends_with("release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "--quiet",
        "--features",
        "mpi",
        "--example",
        "distributed",
    ]);
    if release {
        build.arg("--release");
    }
    assert!(build.status().unwrap().success(), "building the example");
    dir.join("examples/distributed")
}

/// Runs `cmd` to its end, killing it after two minutes (a hang is a
/// failure, not a stuck CI). It runs in a process group of its own, and a
/// hang kills the whole group: killing `mpirun` alone left its ranks
/// running, and Open MPI's shared-memory segments in `/dev/shm`.
fn run(mut cmd: Command) -> Output {
    use std::os::unix::process::CommandExt;
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Read as it comes: a child that fills a pipe nobody reads would wait
    // for it, and look like a hang.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let stderr = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!("{cmd:?} still running after two minutes: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn mpirun(ranks: usize, args: &[&str]) -> Output {
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", &ranks.to_string()])
        .arg(example())
        .args(["--ranks", &ranks.to_string()])
        .args(args);
    run(cmd)
}

/// The `answers:` line, as key=value pairs.
fn answers(out: &Output) -> Vec<(String, String)> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("answers: "))
        .collect();
    assert_eq!(lines.len(), 1, "one rank prints the answers:\n{stdout}");
    let line = lines[0].trim_start_matches("answers: ");
    let (scalars, hist) = line.split_once(" histogram=").unwrap();
    let mut kv: Vec<(String, String)> = scalars
        .split(' ')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    kv.push(("histogram".into(), hist.to_string()));
    kv
}

fn float(bits: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(bits.trim_start_matches("0x"), 16).unwrap())
}

const LEN: &str = "1000003";

#[test]
fn two_and_four_ranks_give_the_single_machine_answers() {
    if !available() {
        return;
    }
    let mut single = Command::new(example());
    single.args(["--single", "--len", LEN, "--reps", "1"]);
    let want = answers(&run(single));
    for ranks in [2, 4] {
        let got = answers(&mpirun(ranks, &["--len", LEN, "--reps", "1"]));
        for ((k, a), (_, b)) in got.iter().zip(&want) {
            match k.as_str() {
                // The sum of multiples of 1/8 is exact in any order, counts
                // and extremes are exact: the same bits.
                "sum" | "count" | "min" | "max" | "histogram" => {
                    assert_eq!(a, b, "{k} with {ranks} ranks")
                }
                // Means and variances merge in another order: to rounding.
                _ => {
                    let (x, y) = (float(a), float(b));
                    assert!(
                        (x - y).abs() <= 1e-12 * y.abs(),
                        "{k}: {x} vs {y} with {ranks} ranks"
                    );
                }
            }
        }
    }
}

/// The `wide:` line of a run of the wide job.
fn wide_line(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("wide: ")).collect();
    assert_eq!(lines.len(), 1, "one rank prints the answer:\n{stdout}");
    lines[0].to_string()
}

#[test]
fn partials_larger_than_a_message_reduce_in_a_tree_to_the_single_machine_answers() {
    if !available() {
        return;
    }
    // A result of 100,000 f64 (800 kB), sent as pieces of 64 KiB, up trees
    // of 3, 5 and 8 ranks; its values are sums of multiples of 1/8, exact
    // in any order, so every tree gives the single machine's bits.
    let args = ["--len", LEN, "--wide", "100000"];
    let mut single = Command::new(example());
    single.arg("--single").args(args);
    let want = wide_line(&run(single));
    for ranks in [3, 5, 8] {
        let got = wide_line(&mpirun(
            ranks,
            &[&args[..], &["--message-limit", "65536"]].concat(),
        ));
        assert_eq!(got, want, "{ranks} ranks");
    }
}

/// Every rank's `stopped:` line: (rank, failed, seconds, message).
fn stopped_lines(out: &Output) -> Vec<(usize, bool, f64, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("stopped: rank="))
        .map(|l| {
            let (rank, rest) = l.split_once(' ').unwrap();
            let failed = rest.starts_with("failed");
            let secs = rest.split("after_s=").nth(1).unwrap();
            let secs: f64 = secs.split([' ', ':']).next().unwrap().parse().unwrap();
            (rank.parse().unwrap(), failed, secs, rest.to_string())
        })
        .collect()
}

#[test]
fn a_rank_stopped_past_the_timeout_is_a_timeout_naming_it_on_every_other_rank() {
    if !available() {
        return;
    }
    // Rank `stop` is SIGSTOPped before a sum with a 2 s timeout, and woken
    // 5 s later. Rank 0 gathers who came, so both a rank it waits for and
    // rank 0 itself are tried.
    for (ranks, stop) in [(4, 2), (2, 0)] {
        let out = mpirun(
            ranks,
            &[
                "--len",
                "100000",
                "--stop-rank",
                &stop.to_string(),
                "--timeout",
                "2",
                "--stop-for",
                "5",
            ],
        );
        assert!(!out.status.success());
        let lines = stopped_lines(&out);
        let others: Vec<_> = lines.iter().filter(|l| l.0 != stop).collect();
        assert_eq!(
            others.len(),
            ranks - 1,
            "every other rank reports: {lines:?}"
        );
        for (rank, failed, secs, message) in others {
            assert!(failed, "rank {rank}: {message}");
            assert!(
                message.contains(&format!("rank(s) [{stop}] did not reach the exchange")),
                "rank {rank}: {message}"
            );
            // Within the timeout plus a second, as the issue asks; a hang
            // would be the stopped rank's 5 s or more.
            assert!(*secs < 3.0, "rank {rank} waited {secs} s: {message}");
        }
    }
}

#[test]
fn the_same_ranks_give_the_same_bits_every_run() {
    if !available() {
        return;
    }
    let first = answers(&mpirun(2, &["--len", LEN, "--reps", "1"]));
    let second = answers(&mpirun(2, &["--len", LEN, "--reps", "1"]));
    assert_eq!(first, second);
}

/// A scratch folder with an .npy of `len` f64 for each rank given.
fn npy_parts(name: &str, lens: &[(usize, usize)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shmr-mpi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for &(rank, len) in lens {
        let path = dir.join(format!("part-{rank}.npy"));
        let _ = std::fs::remove_file(&path);
        let mut a = shmr::SharedArray::<f64, ndarray::Ix1>::create_npy(&path, len).unwrap();
        a.view_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = i as f64);
    }
    dir
}

/// Runs two ranks, each on its own `part-{rank}.npy` of `lens`; asserts
/// that they failed and returns what they said.
fn two_ranks_on_npy_parts(name: &str, lens: &[(usize, usize)]) -> String {
    let dir = npy_parts(name, lens);
    let pattern = dir.join("part-{rank}.npy");
    let out = mpirun(2, &["--npy", pattern.to_str().unwrap(), "--reps", "1"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_npy_missing_on_one_rank_fails_every_rank_with_its_reason() {
    if !available() {
        return;
    }
    let stderr = two_ranks_on_npy_parts("missing", &[(0, 1000)]);
    // Rank 1 says what it could not open; rank 0 says that rank 1 failed.
    assert!(
        stderr.contains("part-1.npy") && stderr.contains("cannot open"),
        "{stderr}"
    );
    assert!(stderr.contains("rank 1 of this job failed"), "{stderr}");
}

#[test]
fn ranks_that_disagree_on_the_length_fail() {
    if !available() {
        return;
    }
    let stderr = two_ranks_on_npy_parts("length", &[(0, 1000), (1, 1001)]);
    assert!(
        stderr.contains("every rank must open the same data"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[1000]") && stderr.contains("[1001]"),
        "{stderr}"
    );
}

#[test]
fn one_rank_started_as_one_of_two_is_refused() {
    if !available() {
        return;
    }
    // What a process of another MPI's two-rank launch sees: a launcher
    // variable saying 2, and a world of 1 (PMI_SIZE is MPICH's, which
    // Open MPI ignores).
    let mut cmd = Command::new(example());
    cmd.args(["--len", "1000", "--reps", "1"])
        .env("PMI_SIZE", "2")
        .env("PMI_RANK", "0");
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("started 2 ranks") && stderr.contains("world of 1"),
        "{stderr}"
    );
}

#[test]
fn the_ranks_asked_for_are_the_ranks_started() {
    if !available() {
        return;
    }
    // The guard every test above relies on: --ranks checks MPI's count.
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", "2"])
        .arg(example())
        .args(["--ranks", "3", "--len", "1000", "--reps", "1"]);
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("asked for 3 ranks, MPI started 2"));
}

#[test]
fn a_rank_whose_file_holds_another_element_type_fails_every_rank() {
    if !available() {
        return;
    }
    let dir = npy_parts("dtype", &[(0, 1000)]);
    let path = dir.join("part-1.npy");
    drop(shmr::SharedArray::<f32, ndarray::Ix1>::create_npy(&path, 1000).unwrap());
    let pattern = dir.join("part-{rank}.npy");
    let out = mpirun(2, &["--npy", pattern.to_str().unwrap(), "--reps", "1"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Rank 1 names what it found; rank 0 learns that rank 1 failed.
    assert!(stderr.contains("f32"), "{stderr}");
    assert!(stderr.contains("rank 1 of this job failed"), "{stderr}");
}

/// The `words:` line of a word count run.
fn words_line(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("words: "))
        .collect();
    assert_eq!(lines.len(), 1, "one rank prints the words:\n{stdout}");
    lines[0].to_string()
}

#[test]
fn a_keyed_job_across_two_to_eight_ranks_gives_the_single_machine_counts() {
    if !available() {
        return;
    }
    // Zipf text, with the ranks' split points falling inside words.
    let len = 3_000_001;
    let mut text = vec![0u8; len];
    let zipf = shmr_bench::text::Zipf::new(20_000, 1.0);
    shmr_bench::text::generate(
        len,
        &zipf,
        shmr_bench::text::Layout::Prose,
        &[],
        5,
        &mut text,
    );
    let path = std::env::temp_dir().join(format!("shmr-mpi-words-{}.txt", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    // The total and distinct words, counted here by another split.
    let mut want = std::collections::HashSet::new();
    let mut total = 0;
    for w in text.split(|c| !(c.is_ascii_alphabetic() || *c == b'\'')) {
        let start = w.iter().position(u8::is_ascii_alphabetic);
        if let Some(s) = start {
            want.insert(w[s..].to_ascii_uppercase());
            total += 1;
        }
    }
    let file = path.to_str().unwrap();
    let mut single = Command::new(example());
    single.args(["--single", "--words", file, "--workers", "2"]);
    let single = words_line(&run(single));
    assert!(
        single.contains(&format!("total={total} distinct={} ", want.len())),
        "{single}"
    );
    // Shuffled by word: each rank keeps its words; the summary and the top
    // words are made from the shards, and the gathered whole is checked
    // against them. At 4 ranks, messages of 1000 bytes: tables that go in
    // several pieces.
    for ranks in [2, 3, 4, 8] {
        let limit = if ranks == 4 { "1000" } else { "1073741824" };
        let out = mpirun(
            ranks,
            &["--words", file, "--gather", "--message-limit", limit],
        );
        assert_eq!(words_line(&out), single, "{ranks} ranks");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("gathered: same"), "{stdout}");
        assert_eq!(
            stdout.matches("traffic: shuffle").count(),
            ranks,
            "{stdout}"
        );
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_allocations_variables_without_a_launcher_are_a_world_of_one() {
    if !available() {
        return;
    }
    // Every shell inside `salloc` or an `sbatch` script has these; a
    // program run there without `srun` or `mpirun` is a world of one.
    let mut cmd = Command::new(example());
    cmd.args(["--len", "1000", "--reps", "1"])
        .env("SLURM_NTASKS", "4")
        .env("SLURM_NPROCS", "4")
        .env("SLURM_JOB_ID", "4242");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("distributed: 1 ranks"));
}

#[test]
fn a_rank_that_fails_before_any_job_fails_every_rank_and_none_waits() {
    if !available() {
        return;
    }
    // One word for two ranks: rank 1's share holds none, which it finds
    // alone, before the ranks first meet; it must not leave rank 0
    // waiting in that meeting.
    let path = std::env::temp_dir().join(format!("shmr-mpi-one-{}.txt", std::process::id()));
    std::fs::write(&path, b"hello\n").unwrap();
    // A hang fails in `run` (killed after two minutes); before the fix,
    // rank 0 waited in MPI_Allgather forever.
    let out = mpirun(2, &["--words", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // Rank 1 says why; rank 0 says that rank 1 failed, and why.
    assert!(
        stderr.contains("rank 1 has no words of the file"),
        "{stderr}"
    );
    assert!(stderr.contains("rank 1 of this job failed"), "{stderr}");
}
