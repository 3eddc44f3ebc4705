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
