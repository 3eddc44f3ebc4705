//! The real `shmr` binary: each command, its JSON parsed and checked against
//! values computed here from the file (read with ndarray-npy, not shmr), and
//! each bad input's exit code and message.

use ndarray::Array1;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shmr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmr"))
        .args(args)
        .output()
        .expect("the shmr binary runs")
}

/// Runs a command that must succeed and print one JSON document.
fn json(args: &[&str]) -> Value {
    let out = shmr(args);
    assert!(
        out.status.success(),
        "shmr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a terminal: no progress bar, nothing on standard error.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// A command that must fail with `code` and a one-line reason containing
/// `words`.
fn fails(args: &[&str], code: i32, words: &str) {
    let out = shmr(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "shmr {args:?}: {err}");
    assert!(err.contains(words), "shmr {args:?}: {err}");
    if code == 1 {
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("shmr: error: "), "{err}");
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shmr-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn gen_info_and_run_agree_with_the_file() {
    let d = dir("agree");
    let f = d.join("data.npy");
    let made = json(&["gen", s(&f), "--len", "1000000", "--seed", "7", "--json"]);
    assert_eq!(
        (made["len"].as_u64(), made["dtype"].as_str()),
        (Some(1_000_000), Some("f64"))
    );
    let data: Array1<f64> = ndarray_npy::read_npy(&f).unwrap();
    assert_eq!(data.len(), 1_000_000);
    assert!(
        data.iter().all(|&x| (0.0..1.0).contains(&x)),
        "uniform in [0, 1)"
    );

    let info = json(&["info", s(&f), "--json"]);
    assert_eq!(info["dtype"], "f64");
    assert_eq!(info["shape"], serde_json::json!([1_000_000]));
    assert_eq!(info["data_bytes"].as_u64(), Some(8_000_000));

    let sum = json(&["run", "sum", s(&f), "--workers", "2", "--json"]);
    let want: f64 = data.iter().sum();
    let got = sum["result"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
    assert_eq!(sum["workers"].as_u64(), Some(2));

    let stats = json(&["run", "stats", s(&f), "--chunk", "64KiB", "--json"]);
    let r = &stats["result"];
    assert_eq!(r["count"].as_u64(), Some(1_000_000));
    let min = data.iter().copied().fold(f64::INFINITY, f64::min);
    let max = data.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        (r["min"].as_f64(), r["max"].as_f64()),
        (Some(min), Some(max))
    );
    let mean = want / 1e6;
    assert!((r["mean"].as_f64().unwrap() - mean).abs() < 1e-12);

    let hist = json(&[
        "run",
        "histogram",
        s(&f),
        "--bins",
        "5",
        "--range",
        "0,1",
        "--chunk",
        "1000rows",
        "--json",
    ]);
    let mut counts = [0u64; 5];
    for &x in &data {
        counts[(x * 5.0) as usize] += 1;
    }
    let got: Vec<u64> = hist["result"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(got, counts);

    // Human-readable output by default.
    let out = shmr(&["run", "stats", s(&f)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("mean:") && text.contains("1000000"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn integer_files_sum_exactly_and_seeds_repeat() {
    let d = dir("ints");
    let (a, b) = (d.join("a.npy"), d.join("b.npy"));
    for f in [&a, &b] {
        json(&[
            "gen",
            s(f),
            "--len",
            "200000",
            "--dtype",
            "i32",
            "--dist",
            "normal",
            "--seed",
            "3",
            "--json",
        ]);
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, same file"
    );
    let data: Array1<i32> = ndarray_npy::read_npy(&a).unwrap();
    let want: i64 = data.iter().map(|&x| i64::from(x)).sum();
    let got = json(&["run", "sum", s(&a), "--json"]);
    assert_eq!(got["result"].as_i64(), Some(want));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn sums_beyond_64_bits_print_exactly() {
    let d = dir("wide");
    let (u, i) = (d.join("u.npy"), d.join("i.npy"));
    ndarray_npy::write_npy(&u, &Array1::from_elem(1000, u64::MAX)).unwrap();
    ndarray_npy::write_npy(&i, &Array1::from_elem(10, i64::MIN)).unwrap();
    for (file, want) in [
        (&u, (1000 * u128::from(u64::MAX)).to_string()),
        (&i, (10 * i128::from(i64::MIN)).to_string()),
    ] {
        // JSON: the exact digits, as a string (a JSON number would be
        // rounded by most parsers at this size).
        let got = json(&["run", "sum", s(file), "--json"]);
        assert_eq!(got["result"].as_str(), Some(want.as_str()), "{got}");
        // Text: the digits.
        let out = shmr(&["run", "sum", s(file)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("sum: {want}")), "{text}");
    }
    // Within 64 bits a sum stays a JSON number.
    let small = d.join("small.npy");
    ndarray_npy::write_npy(&small, &Array1::from_elem(3, u64::MAX / 4)).unwrap();
    let got = json(&["run", "sum", s(&small), "--json"]);
    assert_eq!(got["result"].as_u64(), Some(3 * (u64::MAX / 4)));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn infinities_are_not_confused_with_no_data() {
    let d = dir("inf");
    let f = d.join("f.npy");
    ndarray_npy::write_npy(
        &f,
        &ndarray::arr1(&[1.0, f64::INFINITY, f64::NEG_INFINITY, 2.0]),
    )
    .unwrap();
    let got = json(&["run", "stats", s(&f), "--json"]);
    let r = &got["result"];
    assert_eq!(
        (r["min"].as_str(), r["max"].as_str()),
        (Some("-inf"), Some("inf")),
        "{got}"
    );
    assert_eq!(r["count"].as_u64(), Some(4));
    // inf + -inf: the mean is NaN, said as such.
    assert_eq!(r["mean"].as_str(), Some("NaN"), "{got}");
    // No data at all: null.
    let e = d.join("e.npy");
    ndarray_npy::write_npy(&e, &Array1::<f64>::zeros(0)).unwrap();
    let got = json(&["run", "stats", s(&e), "--json"]);
    assert!(
        got["result"]["min"].is_null() && got["result"]["mean"].is_null(),
        "{got}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn bad_input_gets_an_exit_code_and_a_reason() {
    let d = dir("bad");
    let missing = d.join("missing.npy");
    fails(&["run", "sum", s(&missing)], 1, "missing.npy");
    let text = d.join("text.npy");
    std::fs::write(&text, "not an npy file").unwrap();
    fails(&["run", "sum", s(&text)], 1, "not a readable .npy");
    fails(&["info", s(&text)], 1, "not a readable .npy");
    let f = d.join("f.npy");
    json(&["gen", s(&f), "--len", "10", "--json"]);
    fails(&["gen", s(&f), "--len", "10"], 1, "cannot create");
    fails(&["run", "histogram", s(&f), "--range", "1,0"], 2, "--range");
    fails(&["run", "sum", s(&f), "--chunk", "lots"], 2, "--chunk");
    fails(&["run", "sum", s(&f), "--workers", "0"], 1, "workers");
    fails(
        &["run", "sum", s(&f), "--workers", "100000"],
        1,
        "more than the 1024 worker processes",
    );
    // Settings the command line can act on are named as its options.
    fails(
        &["run", "histogram", s(&f), "--bins", "18446744073709551615"],
        1,
        "--bins must be between 1 and",
    );
    let big = d.join("big.npy");
    json(&["gen", s(&big), "--len", "3000000", "--json"]);
    fails(
        &["run", "histogram", s(&big), "--bins", "10000000"],
        1,
        "use at most",
    );
    let out = shmr(&["run", "histogram", s(&big), "--bins", "10000000"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("PoolBuilder"));
    // Many bins that fit get the slot they need, and count every value.
    let got = json(&[
        "run",
        "histogram",
        s(&big),
        "--bins",
        "100000",
        "--range",
        "-10,10",
        "--json",
    ]);
    let counted: u64 = got["result"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    let outside =
        got["result"]["below"].as_u64().unwrap() + got["result"]["above"].as_u64().unwrap();
    assert_eq!(counted + outside, 3_000_000);
    // Empty and cut-short files.
    let empty = d.join("empty.npy");
    std::fs::write(&empty, b"").unwrap();
    fails(&["run", "sum", s(&empty)], 1, "the file is empty");
    let cut = d.join("cut.npy");
    std::fs::write(&cut, &std::fs::read(&f).unwrap()[..20]).unwrap();
    fails(
        &["info", s(&cut)],
        1,
        "header is cut short: the file has only 20 bytes",
    );
    fails(
        &["gen", s(&d.join("g.npy")), "--len", "5", "--dtype", "c64"],
        2,
        "--dtype",
    );
    fails(&["run", "median", s(&f)], 2, "median");
    fails(&["frobnicate"], 2, "frobnicate");
    let help = shmr(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for cmd in ["run", "gen", "info", "Exit codes"] {
        assert!(text.contains(cmd), "{text}");
    }
    for cmd in ["run", "gen", "info"] {
        assert!(shmr(&[cmd, "--help"]).status.success());
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn wordcount_counts_every_word_of_a_text_file() {
    let d = dir("words");
    let path = d.join("text.txt");
    // Words of a few letters that repeat, with punctuation, digits and
    // mixed case between them; over 3 MB so that it makes several chunks
    // with --chunk 64KiB.
    let mut text = String::new();
    let mut x: u64 = 7;
    while text.len() < 3 << 20 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = ["apple", "Bee", "cat's", "DOG", "eel"][(x >> 33) as usize % 5];
        let sep = [" ", ", ", "\n", " 42 ", "-"][(x >> 40) as usize % 5];
        text.push_str(w);
        text.push_str(sep);
    }
    std::fs::write(&path, &text).unwrap();
    // The expectation, by a different split: runs of letters and
    // apostrophes starting with a letter, upper-cased.
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for w in text.split(|c: char| !(c.is_ascii_alphabetic() || c == '\'')) {
        let w = w.trim_start_matches('\'');
        if !w.is_empty() {
            *want.entry(w.to_ascii_uppercase()).or_insert(0) += 1;
        }
    }
    for workers in ["1", "3"] {
        let v = json(&[
            "run",
            "wordcount",
            s(&path),
            "--json",
            "--top",
            "0",
            "--workers",
            workers,
            "--chunk",
            "64KiB",
        ]);
        assert_eq!(v["words"], want.values().sum::<u64>());
        assert_eq!(v["distinct"], want.len());
        let got: std::collections::BTreeMap<String, u64> = v["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["word"].as_str().unwrap().to_string(),
                    e["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want);
    }
    // An empty file has no words; a missing one is an error.
    std::fs::write(d.join("empty.txt"), "").unwrap();
    assert_eq!(
        json(&["run", "wordcount", s(&d.join("empty.txt")), "--json"])["words"],
        0
    );
    fails(
        &["run", "wordcount", s(&d.join("missing.txt"))],
        1,
        "missing.txt",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// `shmr ARGS` with `input` on its standard input; the JSON it prints.
fn json_from_stdin(args: &[&str], input: &[u8]) -> Value {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmr"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from another thread: the pipe holds only 64 KiB.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "shmr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn wordcount_counts_what_a_pipe_or_a_proc_file_holds() {
    // Streams have no length to trust: `metadata().len()` is 0 for a pipe,
    // /dev/stdin and files under /proc, which once printed "0 words".
    let text = b"one two three two\n".repeat(100_000); // 1.8 MB, past a pipe's buffer
    for args in [
        &["run", "wordcount", "-", "--json"][..],
        &[
            "run",
            "wordcount",
            "/dev/stdin",
            "--json",
            "--chunk",
            "64KiB",
        ][..],
    ] {
        let v = json_from_stdin(args, &text);
        assert_eq!(v["words"], 400_000, "{args:?}");
        assert_eq!(v["distinct"], 3, "{args:?}");
        assert_eq!(v["bytes"], text.len(), "{args:?}");
    }
    // A named pipe, written by another process.
    let d = dir("fifo");
    let fifo = d.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, b"a b a\n"))
    };
    let v = json(&["run", "wordcount", s(&fifo), "--json"]);
    writer.join().unwrap().unwrap();
    assert_eq!(
        (v["words"].as_u64(), v["distinct"].as_u64()),
        (Some(3), Some(2))
    );
    // A file under /proc says it has 0 bytes, and has words.
    let v = json(&["run", "wordcount", "/proc/self/status", "--json"]);
    assert!(v["words"].as_u64().unwrap() > 10, "{v}");
    // What never ends, or is not text, is refused with exit code 1.
    fails(&["run", "wordcount", "/dev/zero"], 1, "is a device");
    fails(&["run", "wordcount", s(&d)], 1, "is a directory");
    // A chunk of nothing, refused for a wordcount's job as for a pool.
    let file = d.join("t.txt");
    std::fs::write(&file, b"a b\n").unwrap();
    fails(
        &["run", "wordcount", s(&file), "--chunk", "0"],
        1,
        "at least 1 byte",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Per-column statistics of a sequence of values, in f64, one pass each:
/// the independent expectation for `--axis 0`.
fn column_stats(col: impl Iterator<Item = f64> + Clone) -> (u64, f64, f64, f64, f64) {
    let n = col.clone().count() as u64;
    let mean = col.clone().sum::<f64>() / n as f64;
    let var = col.clone().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
    let min = col.clone().fold(f64::INFINITY, f64::min);
    let max = col.fold(f64::NEG_INFINITY, f64::max);
    (n, mean, var.sqrt(), min, max)
}

fn close(got: &Value, want: f64, what: &str) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1e-300),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn a_table_gets_one_result_per_column_with_axis_0() {
    let d = dir("axis");
    let f = d.join("table.npy");
    let made = json(&[
        "gen",
        s(&f),
        "--shape",
        "50000,5",
        "--dtype",
        "f32",
        "--dist",
        "normal",
        "--json",
    ]);
    assert_eq!(made["shape"], serde_json::json!([50000, 5]));
    assert_eq!(made["len"].as_u64(), Some(250_000));
    let t: ndarray::Array2<f32> = ndarray_npy::read_npy(&f).unwrap();
    assert_eq!(t.dim(), (50_000, 5));

    let stats = json(&[
        "run",
        "stats",
        s(&f),
        "--axis",
        "0",
        "--workers",
        "3",
        "--json",
    ]);
    assert_eq!(stats["axis"].as_u64(), Some(0));
    let cols = stats["result"].as_array().expect("one entry per column");
    assert_eq!(cols.len(), 5);
    for (j, r) in cols.iter().enumerate() {
        let col = t.column(j);
        let (n, mean, std, min, max) = column_stats(col.iter().map(|&x| x as f64));
        assert_eq!(r["count"].as_u64(), Some(n), "column {j}");
        close(&r["mean"], mean, &format!("column {j} mean"));
        close(&r["std"], std, &format!("column {j} std"));
        assert_eq!(
            (r["min"].as_f64(), r["max"].as_f64()),
            (Some(min), Some(max)),
            "column {j}"
        );
    }

    // Integer sums per column are exact; histograms count exactly, the
    // same bins for every column.
    let g = d.join("ints.npy");
    json(&[
        "gen",
        s(&g),
        "--shape",
        "30000,3",
        "--dtype",
        "i32",
        "--json",
    ]);
    let u: ndarray::Array2<i32> = ndarray_npy::read_npy(&g).unwrap();
    let sums = json(&["run", "sum", s(&g), "--axis", "0", "--json"]);
    let want: Vec<i64> = (0..3)
        .map(|j| u.column(j).iter().map(|&x| x as i64).sum())
        .collect();
    let got: Vec<i64> = sums["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(got, want);
    let hist = json(&[
        "run",
        "histogram",
        s(&g),
        "--axis",
        "0",
        "--bins",
        "4",
        "--range",
        "0,1000",
        "--json",
    ]);
    for (j, h) in hist["result"].as_array().unwrap().iter().enumerate() {
        let mut want = [0_u64; 4];
        u.column(j)
            .iter()
            .for_each(|&x| want[(x / 250) as usize] += 1);
        let got: Vec<u64> = h["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "column {j}");
    }

    // Without --axis a table is pooled, and standard error says so.
    let out = shmr(&["run", "stats", s(&f), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[50000, 5]") && err.contains("--axis 0"),
        "{err}"
    );
    let pooled: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pooled["result"]["count"].as_u64(), Some(250_000));
    // Human-readable: a block per column.
    let out = shmr(&["run", "stats", s(&f), "--axis", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("column 4") && text.matches("mean:").count() == 5,
        "{text}"
    );

    fails(&["run", "stats", s(&f), "--axis", "1"], 1, "only --axis 0");
    fails(
        &["gen", s(&d.join("x.npy")), "--shape", "10,x"],
        2,
        "--shape",
    );
    fails(
        &["gen", s(&d.join("y.npy")), "--shape", "10,2", "--len", "20"],
        2,
        "cannot be used with",
    );
    let _ = std::fs::remove_dir_all(d);
}

/// What the issue asks for: a table written by numpy gets numpy's
/// per-column mean, std, min and max (to 1e-9 relative).
#[test]
fn a_table_written_by_numpy_gets_numpy_s_column_statistics() {
    let test = "a_table_written_by_numpy_gets_numpy_s_column_statistics";
    if !shmr_bench::python::numpy_for_test(test) {
        return;
    }
    let d = dir("numpy-axis");
    let f = d.join("table.npy");
    let script = "
import json, sys, numpy as np
rng = np.random.default_rng(3)
a = (rng.standard_normal((200_000, 8)) * np.arange(1, 9) + np.arange(8) * 100).astype(np.float32)
np.save(sys.argv[1], a)
print(json.dumps({k: getattr(a, k)(axis=0, dtype=np.float64).tolist() for k in ('mean', 'std')}
                 | {k: getattr(a, k)(axis=0).astype(np.float64).tolist() for k in ('min', 'max')}))
";
    let want: Value =
        serde_json::from_str(&shmr_bench::python::script_output(script, &[s(&f)])).unwrap();
    let got = json(&["run", "stats", s(&f), "--axis", "0", "--json"]);
    let cols = got["result"].as_array().unwrap();
    assert_eq!(cols.len(), 8);
    for (j, r) in cols.iter().enumerate() {
        assert_eq!(r["count"].as_u64(), Some(200_000));
        for k in ["mean", "std", "min", "max"] {
            close(
                &r[k],
                want[k][j].as_f64().unwrap(),
                &format!("column {j} {k}"),
            );
        }
    }
    let _ = std::fs::remove_dir_all(d);
}
