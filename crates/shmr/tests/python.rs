//! Interop with a real `python3` and numpy, both ways: through named
//! segments and through `.npy` files, values compared exactly.
//!
//! numpy is an optional outside tool: where `python3` or numpy is missing,
//! each test prints one line saying so and how to get it, and passes
//! without running, so that `cargo test --workspace` works on a fresh
//! machine. `.ci/run` installs numpy and sets `SHMR_REQUIRE_NUMPY=1`, which
//! turns a missing numpy into a failure.

mod common;
use common::{scratch_dir, within};
use ndarray::{Array2, Ix1, Ix2};
use shmr::{NpyMode, SharedArray};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

shmr::test_worker!();

const LIMIT: Duration = Duration::from_secs(120);

use shmr_bench::python::{numpy_for_test as have_numpy, script_output as python};

/// The values both sides compute independently: exact in binary.
fn value(i: usize, j: usize) -> f64 {
    i as f64 * 0.25 + j as f64
}

#[test]
fn python_reads_and_writes_a_named_segment_that_shmr_made() {
    if !have_numpy("python_reads_and_writes_a_named_segment_that_shmr_made") {
        return;
    }
    within(LIMIT, || {
        let name = format!("shmr-test-{}-py", std::process::id());
        let mut a = SharedArray::<f64, Ix2>::create_named(&name, (1000, 3)).unwrap();
        a.view_mut()
            .indexed_iter_mut()
            .for_each(|((i, j), x)| *x = value(i, j));
        let offset = a.header().offset().to_string();
        // The README's snippet, checked: SharedMemory + ndarray at the
        // offset, and numpy.load of the .npy image.
        let out = python(
            r#"
import sys, numpy as np
from multiprocessing import shared_memory, resource_tracker
name, offset = sys.argv[1], int(sys.argv[2])
shm = shared_memory.SharedMemory(name=name)
resource_tracker.unregister(shm._name, "shared_memory")  # Python < 3.13: shmr owns it
a = np.ndarray((1000, 3), dtype=np.float64, buffer=shm.buf, offset=offset)
i, j = np.indices((1000, 3))
assert (a == i * 0.25 + j).all(), "values differ"
b = np.load("/dev/shm/" + name, mmap_mode="r+")
assert b.shape == (1000, 3) and b.dtype == np.float64 and (b == a).all()
a[:, 0] = -(i[:, 0] * 3.0)      # written through SharedMemory
b[:, 1] = 0.5                   # written through the .npy mapping
b.flush()
del a, b
shm.close()
print("ok")
"#,
            &[&name, &offset],
        );
        assert_eq!(out.trim(), "ok");
        let v = a.view();
        for i in 0..1000 {
            assert_eq!(v[[i, 0]], -(i as f64 * 3.0));
            assert_eq!(v[[i, 1]], 0.5);
            assert_eq!(v[[i, 2]], value(i, 2));
        }
    });
}

#[test]
fn shmr_map_reduces_over_a_block_that_python_made() {
    if !have_numpy("shmr_map_reduces_over_a_block_that_python_made") {
        return;
    }
    within(LIMIT, || {
        let n: usize = 100_000;
        let mut py = Command::new("python3")
            .arg("-c")
            .arg(
                r#"
import sys, numpy as np
from multiprocessing import shared_memory
n = int(sys.argv[1])
shm = shared_memory.SharedMemory(create=True, size=n * 8)
a = np.ndarray((n,), dtype=np.int64, buffer=shm.buf)
a[:] = np.arange(n, dtype=np.int64) * 3
print(shm.name, flush=True)
sys.stdin.readline()            # shmr works on it meanwhile
ok = (a == np.arange(n, dtype=np.int64) * 3 + 1).all()
del a
shm.close()
shm.unlink()
print("ok" if ok else "values differ", flush=True)
"#,
            )
            .arg(n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not run python3: {e}"));
        let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
        // A line from Python, or its standard error if it ended instead.
        let mut line = move |py: &mut std::process::Child| match lines.next() {
            Some(Ok(l)) => l,
            _ => {
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(py.stderr.as_mut().unwrap(), &mut err);
                panic!(
                    "the Python step failed ({:?}); its standard error:\n{err}",
                    py.wait()
                );
            }
        };
        let name = line(&mut py);
        {
            let pool = shmr::Pool::builder().workers(2).build().unwrap();
            // SAFETY: Python waits on stdin while shmr uses the block.
            let mut a = unsafe { SharedArray::<i64, Ix1>::attach_raw(&name, n) }.unwrap();
            let sum = pool.on(&a).run(&shmr::builtin::Sum).unwrap();
            assert_eq!(sum, 3 * (n as i128) * (n as i128 - 1) / 2);
            pool.on_mut(&mut a)
                .map_in_place(|mut c| c.mapv_inplace(|x| x + 1))
                .unwrap();
        }
        py.stdin.take().unwrap().write_all(b"go\n").unwrap();
        assert_eq!(line(&mut py), "ok");
        assert!(py.wait().unwrap().success());
    });
}

#[test]
fn npy_files_travel_both_ways_and_bad_ones_are_refused() {
    if !have_numpy("npy_files_travel_both_ways_and_bad_ones_are_refused") {
        return;
    }
    let dir = scratch_dir("py-npy");
    within(LIMIT, move || {
        let from_py = dir.join("from_py.npy");
        let d = dir.display().to_string();
        python(
            r#"
import sys, numpy as np
d = sys.argv[1]
i, j = np.indices((500, 4))
np.save(d + "/from_py.npy", (i * 0.25 + j).astype(np.float32))
np.save(d + "/fortran.npy", np.asfortranarray(np.ones((3, 4))))
np.save(d + "/big_endian.npy", np.ones(10, dtype=">f8"))
np.save(d + "/complex.npy", np.ones(10, dtype=np.complex128))
np.save(d + "/bool.npy", np.ones(10, dtype=bool))
"#,
            &[&d],
        );
        // SAFETY: nothing else touches these files meanwhile.
        let a = unsafe { SharedArray::<f32, Ix2>::open_npy(&from_py, NpyMode::ReadOnly) }.unwrap();
        assert_eq!(
            a.view(),
            Array2::from_shape_fn((500, 4), |(i, j)| value(i, j) as f32)
        );
        for (file, words) in [
            ("fortran.npy", "Fortran"),
            ("big_endian.npy", "big-endian"),
            ("complex.npy", "not supported"),
            ("bool.npy", "not supported"),
        ] {
            let err = unsafe {
                SharedArray::<f64, ndarray::IxDyn>::open_npy(dir.join(file), NpyMode::ReadOnly)
            }
            .unwrap_err();
            assert!(err.to_string().contains(words), "{file}: {err}");
        }

        let to_py = dir.join("to_py.npy");
        let mut b = SharedArray::<u32, Ix2>::create_npy(&to_py, (300, 5)).unwrap();
        b.view_mut()
            .indexed_iter_mut()
            .for_each(|((i, j), x)| *x = (i * 5 + j) as u32 * 7);
        drop(b);
        let out = python(
            r#"
import sys, numpy as np
a = np.load(sys.argv[1])
assert a.dtype == np.uint32 and a.shape == (300, 5), (a.dtype, a.shape)
assert (a == np.arange(1500, dtype=np.uint32).reshape(300, 5) * 7).all()
print("ok")
"#,
            &[&to_py.display().to_string()],
        );
        assert_eq!(out.trim(), "ok");
        let _ = std::fs::remove_dir_all(&dir);
    });
}
