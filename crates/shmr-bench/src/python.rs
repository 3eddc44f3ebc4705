//! Runs the Python peer (`python/peer.py`) when python3 with numpy is
//! present.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::process::{Command, Stdio};

const SCRIPT: &str = include_str!("../python/peer.py");

#[derive(Clone, Debug, Serialize)]
pub struct PeerRun {
    pub job: &'static str,
    pub len: usize,
    pub workers: usize,
    pub reps: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerResult {
    pub job: String,
    pub len: usize,
    pub workers: usize,
    /// From creating the worker processes to the combined result.
    pub total_ms: f64,
    /// The slowest worker's numpy call alone.
    pub compute_ms: f64,
    pub check: f64,
    pub start_method: String,
    pub numpy: String,
    pub python: String,
}

/// The numpy version, or why the peer cannot run.
pub fn available() -> Result<String, String> {
    let out = Command::new("python3")
        .args(["-c", "import numpy; print(numpy.__version__)"])
        .output()
        .map_err(|e| format!("python3 not found ({e})"))?;
    if !out.status.success() {
        return Err("python3 has no numpy (pip install numpy)".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Set (to anything but `0` or empty) where tests that need numpy must
/// run: `.ci/run` installs numpy and sets it.
pub const REQUIRE_NUMPY: &str = "SHMR_REQUIRE_NUMPY";

/// For a test that needs python3 with numpy: whether it is here. If not,
/// says so in one line and returns false (the test then passes without
/// running, so `cargo test` works on a fresh machine), or fails the test
/// when [`REQUIRE_NUMPY`] is set.
pub fn numpy_for_test(test: &str) -> bool {
    let missing = match available() {
        Ok(_) => return true,
        Err(why) => why,
    };
    let required = std::env::var(REQUIRE_NUMPY).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{test}: {missing}, but {REQUIRE_NUMPY} says the interop tests must run; \
         install it: python3 -m pip install numpy"
    );
    // Straight to the descriptor: libtest captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {missing}; install it (python3 -m pip install numpy) to run it, \
         {REQUIRE_NUMPY}=1 to require it"
    );
    false
}

/// Runs a Python script with arguments and returns its standard output;
/// panics with Python's standard error if it fails (for tests).
pub fn script_output(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run python3: {e}"));
    assert!(
        out.status.success(),
        "the Python step failed ({}); its standard error:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the peer over `runs`; its progress goes to our stderr.
pub fn run(runs: &[PeerRun], dir: &std::path::Path) -> Result<Vec<PeerResult>, String> {
    let script = dir.join("peer.py");
    std::fs::write(&script, SCRIPT).map_err(|e| format!("writing {}: {e}", script.display()))?;
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting python3: {e}"))?;
    let config = serde_json::json!({ "seed": 42, "runs": runs });
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(config.to_string().as_bytes())
        .map_err(|e| format!("writing the peer's config: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running the peer: {e}"))?;
    if !out.status.success() {
        return Err(format!("the Python peer failed ({})", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("bad peer output {l:?}: {e}")))
        .collect()
}
