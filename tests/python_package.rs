//! The Python package (crates/shmr-py) under pytest: built into a wheel
//! with maturin, installed into a fresh virtual environment, and its tests
//! run against real worker processes (each a Python interpreter).
//!
//! Needs python3 with numpy, pytest and maturin (`pip install maturin
//! pytest numpy`); without them it says so in one line and passes, unless
//! `SHMR_REQUIRE_PYTHON=1` (set by `.ci/run`, which installs them) makes
//! them required. Nothing is downloaded: the environment sees the system's
//! numpy and pytest, and the wheel is installed without its index.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What is missing to build and test the package here, if anything.
fn missing() -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import numpy, pytest, maturin"])
        .output();
    match probe {
        Err(e) => Some(format!("no python3 ({e})")),
        Ok(o) if !o.status.success() => Some(format!(
            "python3 lacks numpy, pytest or maturin ({}); pip install maturin pytest numpy",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Ok(_) => None,
    }
}

fn available() -> bool {
    let required = std::env::var("SHMR_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    match missing() {
        None => true,
        Some(why) if required => panic!("SHMR_REQUIRE_PYTHON=1 but {why}"),
        Some(why) => {
            // Straight to the descriptor: libtest captures eprintln! of
            // passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipped the Python package's tests: {why}; SHMR_REQUIRE_PYTHON=1 to require them"
            );
            false
        }
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch folder, removed at the end.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_python_package_installs_into_a_fresh_venv_and_passes_its_tests() {
    if !available() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let package = root.join("crates/shmr-py");
    let scratch = Scratch(std::env::temp_dir().join(format!("shmr-py-{}", std::process::id())));
    let wheels = scratch.0.join("wheels");
    let venv = scratch.0.join("venv");
    // The crate's own target folder (it is outside the workspace), so a
    // second run builds nothing.
    run(
        Command::new("python3")
            .args(["-m", "maturin", "build", "--release", "--quiet", "--out"])
            .arg(&wheels)
            .arg("--manifest-path")
            .arg(package.join("Cargo.toml")),
        "maturin build",
    );
    run(
        Command::new("python3")
            .args(["-m", "venv", "--system-site-packages"])
            .arg(&venv),
        "python3 -m venv",
    );
    let python = venv.join("bin/python");
    let wheel = std::fs::read_dir(&wheels)
        .expect("the wheel folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("maturin made a wheel");
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-index"])
            .arg(&wheel),
        "pip install of the wheel",
    );
    // From the scratch folder, so that `import shmr` is the installed
    // package, not the source folder.
    run(
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(package.join("tests"))
            .current_dir(&scratch.0),
        "pytest crates/shmr-py/tests",
    );
}
