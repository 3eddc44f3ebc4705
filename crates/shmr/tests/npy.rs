//! `.npy` files, memory-mapped, and named segments in /dev/shm (shmr on
//! both sides; the Python side is in crates/shmr/tests/python.rs).

mod common;
use common::{pool_with_rows, scratch_dir};
use ndarray::{Array1, Array2, Ix1, Ix2};
use shmr::{Error, NpyMode, SharedArray};
use std::io::Write;

shmr::test_worker!();

#[test]
fn create_open_and_save_npy_files() {
    let dir = scratch_dir("npy");
    let pool = pool_with_rows(2, 64);
    let path = dir.join("a.npy");
    let m = Array2::from_shape_fn((300, 7), |(i, j)| (i * 7 + j) as f32 * 0.5);
    {
        let mut a = SharedArray::<f32, Ix2>::create_npy(&path, (300, 7)).unwrap();
        assert!(a.view().iter().all(|&x| x == 0.0), "zero-filled");
        a.view_mut().assign(&m);
    }
    // Read-only: jobs read it, in-place jobs are refused.
    // SAFETY: nothing else touches these files while the test holds them.
    let mut ro = unsafe { SharedArray::<f32, Ix2>::open_npy(&path, NpyMode::ReadOnly) }.unwrap();
    assert_eq!(ro.view(), m);
    assert!(!ro.is_writable());
    let sum = pool.on(&ro).run(&shmr::builtin::Sum).unwrap();
    assert_eq!(sum, m.iter().map(|&x| f64::from(x)).sum::<f64>());
    let err = pool
        .on_mut(&mut ro)
        .map_in_place(|mut c| c.fill(1.0))
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    // Writes through view_mut of a read-only array stay in this process.
    ro.view_mut()[[0, 0]] = 99.0;
    drop(ro);

    // Read-write: an in-place job writes the file itself.
    let mut rw = unsafe { SharedArray::<f32, Ix2>::open_npy(&path, NpyMode::ReadWrite) }.unwrap();
    assert_eq!(
        rw.view()[[0, 0]],
        0.0,
        "the private write did not reach the file"
    );
    pool.on_mut(&mut rw)
        .map_in_place(|mut c| c.mapv_inplace(|x| x * 2.0))
        .unwrap();
    drop(rw);
    let again = unsafe { SharedArray::<f32, Ix2>::open_npy(&path, NpyMode::ReadOnly) }.unwrap();
    assert_eq!(again.view(), m.mapv(|x| x * 2.0));

    // save_npy from an anonymous array, and reading it back.
    let v = Array1::from_iter((0..1000).map(|x| x as i64 - 500));
    let anon = SharedArray::from_array(&v).unwrap();
    let saved = dir.join("saved.npy");
    anon.save_npy(&saved).unwrap();
    let back = unsafe { SharedArray::<i64, Ix1>::open_npy(&saved, NpyMode::ReadOnly) }.unwrap();
    assert_eq!(back.view(), v);
    // create_npy never replaces a file.
    let err = SharedArray::<i64, Ix1>::create_npy(&saved, 3).unwrap_err();
    assert!(err.to_string().contains("cannot create"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_npy_files_get_clear_errors() {
    let dir = scratch_dir("bad-npy");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    };
    let open = |p: &std::path::Path| {
        // SAFETY: nothing else touches these files.
        unsafe { SharedArray::<f64, Ix1>::open_npy(p, NpyMode::ReadOnly) }.unwrap_err()
    };
    let not_npy = write("text.npy", b"hello, this is not an npy file at all");
    let err = open(&not_npy);
    assert!(matches!(err, Error::Npy { .. }), "{err:?}");
    assert!(err.to_string().contains("not a readable .npy"), "{err}");

    let good = dir.join("good.npy");
    SharedArray::<f64, Ix1>::create_npy(&good, 1000).unwrap();
    let mut bytes = std::fs::read(&good).unwrap();
    bytes.truncate(bytes.len() - 100);
    let err = open(&write("short.npy", &bytes));
    assert!(err.to_string().contains("truncated"), "{err}");

    let err = unsafe { SharedArray::<f32, Ix1>::open_npy(&good, NpyMode::ReadOnly) }.unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err:?}");
    let err = unsafe { SharedArray::<f64, Ix2>::open_npy(&good, NpyMode::ReadOnly) }.unwrap_err();
    assert!(err.to_string().contains("dimensions"), "{err}");
    let err = open(&dir.join("missing.npy"));
    assert!(err.to_string().contains("cannot open"), "{err}");
    // Fortran order, big-endian and unsupported types come from numpy, in
    // crates/shmr/tests/python.rs.
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn named_segments_are_exclusive_attachable_and_removed_on_drop() {
    let name = format!("shmr-test-{}-named", std::process::id());
    let mut a = SharedArray::<u16, Ix2>::create_named(&name, (50, 4)).unwrap();
    a.view_mut()
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = i as u16);
    let path = std::path::Path::new("/dev/shm").join(&name);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "owner-only");
    // A second create is refused, not silently attached.
    let err = SharedArray::<u16, Ix2>::create_named(&name, (50, 4)).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // SAFETY: nobody writes while the views live.
    let mut b = unsafe { SharedArray::<u16, Ix2>::attach(&name) }.unwrap();
    assert_eq!(b.view(), a.view());
    b.view_mut()[[0, 0]] = 1234;
    assert_eq!(a.view()[[0, 0]], 1234, "the same pages");
    let pool = pool_with_rows(2, 8);
    let total = pool.on(&b).run(&shmr::builtin::Sum).unwrap();
    assert_eq!(total, a.view().iter().map(|&x| u128::from(x)).sum::<u128>());
    let err = unsafe { SharedArray::<f64, Ix2>::attach(&name) }.unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err:?}");
    drop(b);
    drop(a);
    assert!(!path.exists(), "the owner unlinks the name");
    let err = unsafe { SharedArray::<u16, Ix2>::attach(&name) }.unwrap_err();
    assert!(
        err.to_string().contains("no shared-memory segment"),
        "{err}"
    );
    let err = SharedArray::<u16, Ix1>::create_named("a/b", 3).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
}

/// Anonymous (heap) memory of `pid`, from `/proc/PID/smaps_rollup`, in KiB.
/// A process that cannot be read fails the test: reading 0 would pass it.
fn anonymous_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_else(|e| panic!("cannot read the memory of process {pid}: {e}"));
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no Anonymous line for process {pid}:\n{rollup}"))
}

#[test]
fn a_sum_over_a_gigabyte_npy_file_loads_nothing_into_memory() {
    let dir = scratch_dir("big-npy");
    let path = dir.join("big.npy");
    let n = (1usize << 30) / 8 + 1000; // just over 1 GiB of f64
    {
        let mut a = SharedArray::<f64, Ix1>::create_npy(&path, n).unwrap();
        a.view_mut().fill(1.0);
    }
    assert!(std::fs::metadata(&path).unwrap().len() > 1 << 30);
    let pool = shmr::Pool::builder().workers(2).build().unwrap();
    let mut pids = pool.worker_pids();
    pids.push(std::process::id());
    // SAFETY: nothing else touches the file.
    let a = unsafe { SharedArray::<f64, Ix1>::open_npy(&path, NpyMode::ReadOnly) }.unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let peak = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = vec![0u64; pids.len()];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (p, &pid) in peak.iter_mut().zip(&pids) {
                    *p = (*p).max(anonymous_kib(pid));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        });
        let total = pool.on(&a).run(&shmr::builtin::Sum).unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(total, n as f64);
        sampler.join().unwrap()
    });
    eprintln!("peak anonymous memory (KiB), workers then coordinator: {peak:?}");
    for (kib, pid) in peak.iter().zip(&pids) {
        // The file is 1 GiB; a copy of even a tenth of it would show here.
        assert!(
            *kib < 64 * 1024,
            "process {pid} holds {kib} KiB of anonymous memory"
        );
    }
    drop(a);
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs inside a private mount namespace whose /dev/shm is a 1 MiB tmpfs
/// (see `a_full_dev_shm_is_an_error_at_creation_saying_asked_and_free`).
#[test]
#[ignore = "run by a_full_dev_shm_is_an_error_at_creation_saying_asked_and_free"]
fn dev_shm_full_child() {
    if std::env::var_os("SHMR_TEST_SMALL_SHM").is_none() {
        return;
    }
    let err = SharedArray::<f64, Ix1>::create_named("shmr-full", 512 * 1024).unwrap_err();
    match &err {
        Error::OutOfSharedMemory {
            requested,
            available,
            ..
        } => {
            assert_eq!(*requested, 4 << 20);
            assert!(*available <= 1 << 20, "{available}");
        }
        other => panic!("expected OutOfSharedMemory, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("4.00 MiB") && msg.contains("free"), "{msg}");
    assert!(
        !std::path::Path::new("/dev/shm/shmr-full").exists(),
        "nothing left behind"
    );
    // What fits is created, and filled without a SIGBUS.
    let mut small = SharedArray::<f64, Ix1>::create_named("shmr-fits", 64 * 1024).unwrap();
    small.view_mut().fill(1.0);
    assert_eq!(small.view().sum(), 65536.0);
    println!("child ok: {msg}");
}

/// Runs inside a private mount namespace whose /dev/shm is a tmpfs far
/// larger than memory: a named array must still be refused against memory,
/// as an anonymous one is, not against the filesystem's free space.
#[test]
#[ignore = "run by a_full_dev_shm_is_an_error_at_creation_saying_asked_and_free"]
fn dev_shm_larger_than_memory_child() {
    if std::env::var_os("SHMR_TEST_HUGE_SHM").is_none() {
        return;
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    // Twice the machine's memory, as f64 elements.
    let n = total_kib * 1024 * 2 / 8;
    let free_fs = rustix::fs::statvfs("/dev/shm")
        .map(|s| s.f_bavail * s.f_frsize)
        .unwrap();
    assert!(
        free_fs > 2 * (n as u64) * 8,
        "the test's /dev/shm is large: {free_fs}"
    );
    let err = SharedArray::<f64, Ix1>::create_named("shmr-huge", n).unwrap_err();
    let Error::OutOfSharedMemory { available, .. } = &err else {
        panic!("expected OutOfSharedMemory, got {err:?}");
    };
    assert!(
        *available <= (total_kib as u64) * 1024,
        "refused against memory: {err}"
    );
    assert!(err.to_string().contains("memory available"), "{err}");
    assert!(!std::path::Path::new("/dev/shm/shmr-huge").exists());
    println!("child ok: {err}");
}

#[test]
#[ignore = "needs a private mount namespace (unshare -Urm, root or user namespaces): \
            cargo test -p shmr --test npy -- --ignored a_full_dev_shm; .ci/run does"]
fn a_full_dev_shm_is_an_error_at_creation_saying_asked_and_free() {
    // /dev/shm replaced in a child process only: needs mount namespaces
    // (`unshare` from util-linux, and a kernel and container that allow
    // them). Run on purpose (it is ignored), it must not skip.
    let probe = std::process::Command::new("unshare")
        .args(["-Urm", "true"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "this machine cannot make a private mount namespace (unshare -Urm)"
    );
    let exe = std::env::current_exe().unwrap();
    for (size, child, var) in [
        ("1M", "dev_shm_full_child", "SHMR_TEST_SMALL_SHM"),
        (
            "1000T",
            "dev_shm_larger_than_memory_child",
            "SHMR_TEST_HUGE_SHM",
        ),
    ] {
        let script = format!(
            "mount -t tmpfs -o size={size} tmpfs /dev/shm && exec \"$0\" {child} --exact --include-ignored --nocapture --test-threads=1"
        );
        let out = std::process::Command::new("unshare")
            .args(["-Urm", "sh", "-c", &script])
            .arg(&exe)
            .env(var, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("{stdout}");
        assert!(
            out.status.success() && stdout.contains("child ok"),
            "{child}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn dropping_a_named_array_removes_only_its_own_segment() {
    let name = format!("shmr-test-{}-identity", std::process::id());
    let path = std::path::Path::new("/dev/shm").join(&name);
    // The ordinary case: the name goes with the array.
    let a = SharedArray::<u8, Ix1>::create_named(&name, 10).unwrap();
    assert!(path.exists());
    drop(a);
    assert!(!path.exists());
    // Someone else removes the name and makes another segment under it
    // (as Python's resource tracker does): it is not ours to delete.
    let a = SharedArray::<u8, Ix1>::create_named(&name, 10).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"another program's segment").unwrap();
    drop(a);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"another program's segment",
        "the other program's segment survives"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_file_that_shrinks_is_named_in_the_error() {
    let dir = scratch_dir("shrink");
    let path = dir.join("s.npy");
    {
        let mut a = SharedArray::<f64, Ix1>::create_npy(&path, 100_000).unwrap();
        a.view_mut().fill(1.0);
    }
    let pool = pool_with_rows(2, 1000);
    // SAFETY: the test truncates the file on purpose, and touches no view
    // of the lost pages in this process.
    let a = unsafe { SharedArray::<f64, Ix1>::open_npy(&path, NpyMode::ReadOnly) }.unwrap();
    assert_eq!(pool.on(&a).run(&shmr::builtin::Sum).unwrap(), 100_000.0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let err = pool.on(&a).run(&shmr::builtin::Sum).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("shrank from") && msg.contains("s.npy") && msg.contains("to 4096 bytes"),
        "{msg}"
    );
    drop(a);

    // Truncated while a job runs: the mapper of chunk 50 cuts the file; the
    // next chunks it or the other worker reads past the end are a SIGBUS,
    // and the error says the file shrank, not that a worker died.
    {
        let mut a = SharedArray::<f64, Ix1>::create_npy(&path_b(&dir), 100_000).unwrap();
        a.view_mut().fill(1.0);
    }
    // SAFETY: as above.
    let a = unsafe { SharedArray::<f64, Ix1>::open_npy(path_b(&dir), NpyMode::ReadOnly) }.unwrap();
    let err = pool
        .on(&a)
        .params(path_b(&dir).display().to_string())
        .map_reduce(
            |path, c| {
                if c[0] == 1.0 && c.len() == 1000 && std::fs::metadata(path).unwrap().len() > 8192 {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .unwrap()
                        .set_len(4096)
                        .unwrap();
                }
                c.sum()
            },
            |x, y| x + y,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("shrank from") && msg.contains("b.npy"),
        "{msg}"
    );
    drop(a);
    // The pool is unharmed.
    let b = SharedArray::from_array(&Array1::from_elem(10, 2u8)).unwrap();
    assert_eq!(pool.on(&b).run(&shmr::builtin::Sum).unwrap(), 20);
    let _ = std::fs::remove_dir_all(dir);
}

fn path_b(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("b.npy")
}

/// A raw file region (`numpy.memmap` with an offset): the pixels after an
/// image's header, read by jobs in place and written back by in-place jobs.
#[test]
fn raw_file_regions_are_mapped_at_their_offset() {
    let dir = scratch_dir("raw");
    let pool = pool_with_rows(2, 16);
    let path = dir.join("image.bin");
    // A 54-byte header (a BMP's size) of 0xFF, 100 x 3 pixels, a trailer.
    let pixels = Array2::from_shape_fn((100, 3), |(i, j)| ((i * 3 + j) % 251) as u8);
    let mut bytes = vec![0xFF_u8; 54];
    bytes.extend(pixels.iter());
    bytes.extend([7_u8; 10]);
    std::fs::write(&path, &bytes).unwrap();
    // SAFETY: nothing else touches the file while the test holds it.
    let ro = unsafe { SharedArray::<u8, Ix2>::open_raw(&path, 54, (100, 3), NpyMode::ReadOnly) }
        .unwrap();
    assert_eq!(ro.view(), pixels);
    let want: u128 = pixels.iter().map(|&p| u128::from(p)).sum();
    assert_eq!(pool.on(&ro).run(&shmr::builtin::Sum).unwrap(), want);
    // Per channel, reading rows of 3 bytes as the workers see them.
    let per_channel = pool
        .on(&ro)
        .map_reduce(
            |c| [0, 1, 2].map(|k| c.column(k).iter().map(|&p| u64::from(p)).sum::<u64>()),
            |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]],
        )
        .unwrap();
    let want3 = [0, 1, 2].map(|k| pixels.column(k).iter().map(|&p| u64::from(p)).sum::<u64>());
    assert_eq!(per_channel, want3);
    drop(ro);

    // Read-write: an in-place job writes the region of the file, and only it.
    let mut rw =
        unsafe { SharedArray::<u8, Ix2>::open_raw(&path, 54, (100, 3), NpyMode::ReadWrite) }
            .unwrap();
    pool.on_mut(&mut rw)
        .map_in_place(|mut c| c.mapv_inplace(|p| p / 2))
        .unwrap();
    drop(rw);
    let after = std::fs::read(&path).unwrap();
    assert_eq!(&after[..54], &bytes[..54], "the header is untouched");
    assert_eq!(&after[354..], &bytes[354..], "the trailer is untouched");
    let halved: Vec<u8> = pixels.iter().map(|&p| p / 2).collect();
    assert_eq!(&after[54..354], &halved[..]);
}

#[test]
fn raw_files_that_do_not_fit_get_clear_errors() {
    let dir = scratch_dir("raw-bad");
    let path = dir.join("data.bin");
    std::fs::write(&path, vec![0_u8; 1000]).unwrap();
    let open = |offset: u64, rows: usize| {
        // SAFETY: nothing else touches the file while the test holds it.
        unsafe { SharedArray::<f64, Ix1>::open_raw(&path, offset, rows, NpyMode::ReadOnly) }
    };
    assert_eq!(open(8, 124).unwrap().len(), 124, "exactly the file");
    let too_long = open(8, 125).unwrap_err();
    let msg = too_long.to_string();
    assert!(matches!(too_long, Error::File { .. }), "{too_long:?}");
    assert!(
        msg.contains("data.bin") && msg.contains("holds 1000 bytes") && msg.contains("need 1008"),
        "{msg}"
    );
    let misaligned = open(4, 10).unwrap_err().to_string();
    assert!(
        misaligned.contains("offset 4") && misaligned.contains("8-byte"),
        "{misaligned}"
    );
    let missing =
        unsafe { SharedArray::<f64, Ix1>::open_raw(dir.join("nope.bin"), 0, 1, NpyMode::ReadOnly) }
            .unwrap_err()
            .to_string();
    assert!(
        missing.contains("nope.bin") && missing.contains("cannot open"),
        "{missing}"
    );
}

#[test]
fn a_raw_file_that_shrinks_is_named_in_the_error() {
    let dir = scratch_dir("raw-shrink");
    let pool = pool_with_rows(2, 64);
    let path = dir.join("log.bin");
    std::fs::write(&path, vec![1_u8; 1 << 16]).unwrap();
    // SAFETY: the test itself truncates the file, between jobs, and checks
    // that the next job refuses to read it.
    let a = unsafe { SharedArray::<u8, Ix1>::open_raw(&path, 4096, 1 << 15, NpyMode::ReadOnly) }
        .unwrap();
    assert_eq!(pool.on(&a).run(&shmr::builtin::Sum).unwrap(), 1 << 15);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let msg = pool
        .on(&a)
        .run(&shmr::builtin::Sum)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("shrank from") && msg.contains("log.bin"),
        "{msg}"
    );
}
