"""shmr from Python: arrays shared with numpy without copies, built-in jobs
and Python mappers on a pool of real worker processes, each checked
against numpy computing the same thing in this process."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmr

sys.path.insert(0, os.path.dirname(__file__))
import mappers  # noqa: E402


@pytest.fixture(scope="module")
def pool():
    return shmr.Pool(workers=2)


def test_an_array_is_numpy_s_view_of_shared_memory_without_a_copy():
    a = shmr.zeros((1000, 3), "float32")
    view = np.asarray(a)
    assert view.shape == (1000, 3) and view.dtype == np.float32
    view[5, 1] = 7.5
    # Another view of the same object sees the write: one memory.
    assert np.asarray(a)[5, 1] == 7.5
    assert np.asarray(a).__array_interface__["data"][0] == view.__array_interface__["data"][0]
    # The view keeps the mapping alive after the Array object's name goes.
    del a
    assert view[5, 1] == 7.5


def test_from_numpy_copies_once_and_keeps_dtype_and_shape():
    x = np.random.default_rng(1).integers(-50, 50, size=(300, 7)).astype(np.int16)
    a = shmr.from_numpy(x)
    assert a.shape == [300, 7] and a.dtype == "<i2"
    assert np.array_equal(np.asarray(a), x)
    # Every layout lands whole and in C order: a large table (written into
    # the shared memory's file in one piece), a strided view, Fortran
    # order, an unaligned buffer, a subclass, a 0-d array, an empty one.
    t = np.random.default_rng(1).random((3001, 700)).astype(np.float32)
    assert np.array_equal(np.asarray(shmr.from_numpy(t)), t)
    strided = np.arange(6_000_001, dtype=np.int64)[::3]
    assert np.array_equal(np.asarray(shmr.from_numpy(strided)), strided)
    fortran = np.asfortranarray(t[:50, :30])
    assert np.array_equal(np.asarray(shmr.from_numpy(fortran)), fortran)
    unaligned = np.frombuffer(b"\0" + np.arange(100.0).tobytes(), dtype=np.float64, offset=1)
    assert not unaligned.flags.aligned
    assert np.array_equal(np.asarray(shmr.from_numpy(unaligned)), np.arange(100.0))
    masked = np.ma.masked_array(np.arange(10), mask=[0, 1] * 5)
    assert np.array_equal(np.asarray(shmr.from_numpy(masked)), np.arange(10))
    scalar = shmr.from_numpy(np.float64(2.5))
    assert scalar.shape == [] and np.asarray(scalar)[()] == 2.5
    empty = shmr.from_numpy(np.zeros((0, 3), np.uint16))
    assert empty.shape == [0, 3] and np.asarray(empty).size == 0
    with pytest.raises(shmr.InvalidInputError, match="little-endian"):
        shmr.from_numpy(np.arange(3, dtype=">i4"))
    # The copy's own entry point takes nothing but numpy's arrays in C
    # order, whose memory it may trust.
    with pytest.raises(shmr.InvalidInputError, match="numpy.ndarray"):
        shmr._shmr.copy_of(memoryview(b"12345678"))
    with pytest.raises(shmr.InvalidInputError, match="C order"):
        shmr._shmr.copy_of(strided)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "uint8", "uint16"])
def test_whole_array_sum_stats_and_histogram_agree_with_numpy(pool, dtype):
    rng = np.random.default_rng(2)
    x = (rng.random(1_000_003) * 200).astype(dtype)
    a = shmr.from_numpy(x)
    s = pool.sum(a)
    if np.issubdtype(x.dtype, np.integer):
        assert s == int(x.astype(np.int64).sum())
    else:
        assert s == pytest.approx(float(x.astype(np.float64).sum()), rel=1e-12)
    st = pool.stats(a)
    f = x.astype(np.float64)
    assert st["count"] == x.size and st["nan_count"] == 0
    assert st["mean"] == pytest.approx(f.mean(), rel=1e-12)
    assert st["std"] == pytest.approx(f.std(), rel=1e-9)
    assert (st["min"], st["max"]) == (f.min(), f.max())
    counts, edges = pool.histogram(a, bins=17, range=(10, 150))
    want, want_edges = np.histogram(f[f < 150], bins=17, range=(10, 150))
    assert np.array_equal(counts, want) and np.allclose(edges, want_edges)


def test_statistics_along_axis_0_are_numpy_s_per_column(pool):
    x = np.random.default_rng(3).normal(size=(200_000, 8)).astype(np.float32)
    a = shmr.from_numpy(x)
    st = pool.stats(a, axis=0)
    f = x.astype(np.float64)
    assert np.allclose(st["mean"], f.mean(axis=0), rtol=1e-9, atol=1e-12)
    assert np.allclose(st["std"], f.std(axis=0), rtol=1e-9)
    assert np.array_equal(st["min"], f.min(axis=0)) and np.array_equal(st["max"], f.max(axis=0))
    assert np.allclose(pool.sum(a, axis=0), f.sum(axis=0), rtol=1e-9)


def test_nans_are_counted_apart(pool):
    x = np.arange(1000, dtype=np.float64)
    x[::10] = np.nan
    st = pool.stats(shmr.from_numpy(x))
    assert st["nan_count"] == 100 and st["count"] == 900
    assert st["mean"] == pytest.approx(np.nanmean(x))


def test_a_python_mapper_runs_in_the_workers_and_folds_in_chunk_order(pool):
    x = np.random.default_rng(4).random(3_000_000)
    a = shmr.from_numpy(x)
    got = pool.map_reduce(a, mappers.heavy, mappers.add)
    assert got == pytest.approx(float(np.sum(np.sin(x) * np.exp(-x))), rel=1e-12)
    # Chunk order: the list of each chunk's first value is the array's own
    # order, and the chunks tile it.
    firsts = pool.map_reduce(a, mappers.first_and_len, mappers.add)
    starts = np.cumsum([0] + [n for _, n in firsts[:-1]])
    assert sum(n for _, n in firsts) == x.size
    assert [v for v, _ in firsts] == [float(x[s]) for s in starts]


def test_numpy_partials_cross_as_arrays(pool):
    x = np.random.default_rng(5).normal(size=(100_000, 5))
    got = pool.map_reduce(shmr.from_numpy(x), mappers.column_sums, mappers.add)
    assert isinstance(got, np.ndarray) and np.allclose(got, x.sum(axis=0))


def test_the_same_result_for_any_number_of_workers():
    x = np.random.default_rng(6).random(2_000_000)
    a = shmr.from_numpy(x)
    results = {w: shmr.Pool(workers=w).map_reduce(a, mappers.heavy, mappers.add) for w in (1, 2, 3)}
    assert len(set(results.values())) == 1, results


def test_a_raising_mapper_s_type_message_and_traceback_reach_the_caller(pool):
    a = shmr.from_numpy(np.arange(2_000_000, dtype=np.float64))
    with pytest.raises(shmr.MapperError) as info:
        pool.map_reduce(a, mappers.raises, mappers.add)
    e = info.value
    assert e.type_name == "ValueError"
    assert "please" in e.message
    assert "mappers.py" in e.traceback and "in raises" in e.traceback
    assert "ValueError" in str(e)
    # The pool goes on.
    assert pool.sum(a) == float(np.arange(2_000_000, dtype=np.float64).sum())


def test_a_raising_reducer_raises_its_own_exception(pool):
    a = shmr.from_numpy(np.arange(1_000_000, dtype=np.float64))
    with pytest.raises(KeyError, match="gave up"):
        pool.map_reduce(a, mappers.heavy, mappers.reducer_raises)


def test_a_worker_that_segfaults_is_an_error_and_the_pool_goes_on(pool):
    a = shmr.from_numpy(np.arange(100_000, dtype=np.float64))
    with pytest.raises(shmr.WorkerError, match="died"):
        pool.map_reduce(a, mappers.crashes, mappers.add)
    assert pool.sum(a) == float(np.arange(100_000, dtype=np.float64).sum())


def test_lambdas_and_nested_functions_are_refused_with_the_reason(pool):
    a = shmr.from_numpy(np.arange(10.0))
    with pytest.raises(shmr.InvalidInputError, match="top level of a module"):
        pool.map_reduce(a, lambda c: 0, mappers.add)


def test_a_mapper_of_a_script_s_main_is_found_and_its_main_block_not_run_again(tmp_path):
    script = tmp_path / "script.py"
    marker = tmp_path / "ran"
    script.write_text(textwrap.dedent(f"""
        import numpy as np, shmr
        def double_sum(chunk):
            return float(chunk.sum() * 2)
        def add(a, b):
            return a + b
        if __name__ == "__main__":
            open({str(marker)!r}, "a").write("main\\n")
            a = shmr.from_numpy(np.arange(1_000_000, dtype=np.float64))
            print(shmr.Pool(workers=2).map_reduce(a, double_sum, add))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == 2 * float(np.arange(1_000_000, dtype=np.float64).sum())
    assert marker.read_text() == "main\n"


def test_npy_files_and_raw_files_are_mapped_not_read(tmp_path, pool):
    x = np.random.default_rng(7).random((5000, 4))
    np.save(tmp_path / "x.npy", x)
    a = shmr.open_npy(tmp_path / "x.npy")
    assert not a.writable
    assert np.array_equal(np.asarray(a), x)
    assert np.allclose(pool.stats(a, axis=0)["mean"], x.mean(axis=0), rtol=1e-12)
    (tmp_path / "raw.bin").write_bytes(b"\0" * 16 + x.tobytes())
    r = shmr.open_raw(tmp_path / "raw.bin", 16, (5000, 4), "float64")
    assert np.array_equal(np.asarray(r), x)


def test_a_named_array_is_attached_by_another_process_and_goes_with_its_creator(tmp_path):
    name = f"shmr-py-test-{os.getpid()}"
    a = shmr.create(name, (1000,), "int64")
    np.asarray(a)[:] = np.arange(1000)
    code = f"import shmr, numpy as np; print(int(np.asarray(shmr.attach({name!r})).sum()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 499500
    assert os.path.exists(f"/dev/shm/{name}")
    del a
    assert not os.path.exists(f"/dev/shm/{name}")


def _children():
    """This process's child processes, from /proc."""
    me, kids = str(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            kids.append(int(pid))
    return kids


def test_a_pool_starts_in_the_background_and_leaves_nothing_when_closed_early():
    before = set(_children())
    # Closed while its workers may still be starting: they are reaped.
    shmr.Pool(workers=2).close()
    assert set(_children()) - before == set()
    pool = shmr.Pool(workers=2)
    a = shmr.from_numpy(np.arange(1000.0))  # while the workers start
    assert pool.sum(a) == 499500.0
    assert pool.workers == 2
    assert len(set(_children()) - before) == 2
    pool.close()
    assert set(_children()) - before == set()


def test_a_pool_whose_workers_cannot_start_raises_at_its_first_use(monkeypatch):
    # The workers are this interpreter started again: make it one that
    # does not exist. The pool returns at once (the start is in the
    # background); its first use raises, and so does every use after.
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    pool = shmr.Pool(workers=2)
    a = shmr.from_numpy(np.arange(10.0))
    for _ in range(2):
        with pytest.raises(shmr.WorkerError, match="nonexistent"):
            pool.sum(a)
    pool.close()


def test_bad_input_is_an_exception_with_shmr_s_message(pool):
    with pytest.raises(shmr.InvalidInputError, match="element type"):
        shmr.zeros(10, "complex128")
    with pytest.raises(shmr.FileError):
        shmr.open_npy("/nonexistent/x.npy")
    with pytest.raises(shmr.InvalidInputError, match="axis=0"):
        pool.stats(shmr.zeros(10), axis=0)
    with pytest.raises(shmr.InvalidInputError, match="shared arrays"):
        pool.sum(np.arange(10))
    name = f"shmr-py-twice-{os.getpid()}"
    keep = shmr.create(name, 10)
    with pytest.raises(shmr.InvalidInputError, match="already exists"):
        shmr.create(name, 10)
    del keep


def test_ctrl_c_stops_the_job_with_keyboard_interrupt_and_the_pool_goes_on(pool):
    import signal
    import threading

    # 64 chunks of 0.2 s on 2 workers: 6.4 s unless stopped.
    a = shmr.from_numpy(np.zeros(8 << 20))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.map_reduce(a, mappers.slow, mappers.add)
    finally:
        timer.cancel()
    # The workers stopped mid-chunk were replaced.
    assert pool.workers == 2
    assert pool.map_reduce(shmr.from_numpy(np.ones(1000)), mappers.heavy, mappers.add) == pytest.approx(
        1000 * np.sin(1.0) * np.exp(-1.0)
    )


def test_group_by_gives_each_key_s_sum_count_and_mean(pool):
    rng = np.random.default_rng(8)
    keys = rng.integers(0, 5000, size=2_000_000).astype(np.int32)
    values = rng.normal(size=2_000_000)
    got = pool.group_by(shmr.from_numpy(keys), shmr.from_numpy(values))
    want_keys = np.unique(keys)
    counts = np.bincount(keys)[want_keys]
    sums = np.bincount(keys, weights=values)[want_keys]
    assert np.array_equal(got["keys"], want_keys)
    assert np.array_equal(got["count"], counts)
    assert np.allclose(got["sum"], sums, rtol=1e-9, atol=1e-9)
    assert np.allclose(got["mean"], sums / counts, rtol=1e-9, atol=1e-9)
    with pytest.raises(shmr.InvalidInputError, match="keys may be"):
        pool.group_by(shmr.from_numpy(values), shmr.from_numpy(values))
    with pytest.raises(shmr.InvalidInputError, match="same length"):
        pool.group_by(shmr.from_numpy(keys[:10]), shmr.from_numpy(values[:11]))


def test_word_count_of_a_file_agrees_with_a_python_count(tmp_path):
    import collections
    import re

    rng = np.random.default_rng(9)
    vocabulary = ["the", "Shared", "memory", "don't", "o'clock", "MapReduce", "x", "numpy"]
    words = rng.choice(vocabulary, size=300_000)
    seps = rng.choice([" ", "\n", ", ", " 42 ", "-", "\t"], size=300_000)
    text = "".join(w + s for w, s in zip(words, seps))
    path = tmp_path / "text.txt"
    path.write_text(text)
    got = shmr.Pool(workers=2).word_count(path)
    want = collections.Counter(m.upper() for m in re.findall(r"[A-Za-z][A-Za-z']*", text))
    assert got == dict(want)
    counts = list(got.values())
    assert counts == sorted(counts, reverse=True)
