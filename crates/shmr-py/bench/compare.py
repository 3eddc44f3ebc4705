"""shmr from Python against what Python users do today, on the same data
and the same machine, process start-up included where the way starts
processes: numpy alone; the tutorial way (multiprocessing.shared_memory, a
Process per worker attaching by name, partials back through a Queue);
multiprocessing.Pool with np.array_split; joblib (which memory-maps large
arrays for its workers); and shmr, on a started pool and including its
start (and the one copy into shared memory that from_numpy makes).

    python3 crates/shmr-py/bench/compare.py [--sizes 1e6,1e7,1e8] [--workers 2] [--reps 3]
        [--start-method fork|spawn|forkserver]

`--start-method` is how the multiprocessing ways start their processes
(Linux's default is fork up to Python 3.13, forkserver from 3.14); shmr's
workers always start as spawn does, a new interpreter.

Prints a Markdown table of median milliseconds and shmr's speed-up against
each way; checks every way's answer against numpy's.
"""

import argparse
import multiprocessing as mp
import os
import sys
import time
from multiprocessing import shared_memory

import numpy as np

import shmr

BINS, RANGE = 64, (0.0, 1.0)


# The jobs, on one slice, as each way's workers run them: partials that
# combine into the whole array's answer.
def part_stats(x):
    return (x.size, float(x.sum()), float(np.square(x).sum()), float(x.max()))


def part_hist(x):
    return np.histogram(x, bins=BINS, range=RANGE)[0]


def part_map(x):
    return float(np.sum(np.sin(x) * np.exp(-x)))


PARTS = {"stats": part_stats, "histogram": part_hist, "mapper": part_map}


def combine(job, parts):
    if job == "stats":
        n = sum(p[0] for p in parts)
        s = sum(p[1] for p in parts)
        q = sum(p[2] for p in parts)
        mean = s / n
        return (mean, np.sqrt(max(q / n - mean * mean, 0.0)), max(p[3] for p in parts))
    if job == "histogram":
        return np.sum(parts, axis=0)
    return sum(parts)


def numpy_alone(job, x):
    if job == "stats":
        return (float(x.mean()), float(x.std()), float(x.max()))
    if job == "histogram":
        return np.histogram(x, bins=BINS, range=RANGE)[0]
    return float(np.sum(np.sin(x) * np.exp(-x)))


# The tutorial way.
def _tutorial_worker(name, shape, dtype, lo, hi, job, queue):
    block = shared_memory.SharedMemory(name=name)
    x = np.ndarray(shape, dtype=dtype, buffer=block.buf)
    queue.put((lo, PARTS[job](x[lo:hi])))
    del x
    block.close()


def tutorial(job, x, workers):
    block = shared_memory.SharedMemory(create=True, size=x.nbytes)
    try:
        shared = np.ndarray(x.shape, dtype=x.dtype, buffer=block.buf)
        shared[:] = x
        queue = mp.Queue()
        bounds = np.linspace(0, x.size, workers + 1).astype(int)
        procs = [
            mp.Process(
                target=_tutorial_worker,
                args=(block.name, x.shape, x.dtype, bounds[i], bounds[i + 1], job, queue),
            )
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        parts = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        del shared
        return combine(job, [p for _, p in sorted(parts, key=lambda t: t[0])])
    finally:
        block.close()
        block.unlink()


def mp_pool(job, x, workers):
    with mp.Pool(workers) as pool:
        return combine(job, pool.map(PARTS[job], np.array_split(x, workers)))


def joblib_way(job, x, workers):
    from joblib import Parallel, delayed

    parts = Parallel(n_jobs=workers, max_nbytes="1M")(
        delayed(PARTS[job])(c) for c in np.array_split(x, workers)
    )
    return combine(job, parts)


# shmr's mapper for the user-mapper job: module-level, found by name.
def shmr_map(chunk):
    return float(np.sum(np.sin(chunk) * np.exp(-chunk)))


def shmr_add(a, b):
    return a + b


def shmr_job(job, pool, a):
    if job == "stats":
        s = pool.stats(a)
        return (s["mean"], s["std"], s["max"])
    if job == "histogram":
        return pool.histogram(a, bins=BINS, range=RANGE)[0]
    return pool.map_reduce(a, shmr_map, shmr_add)


def shmr_cold(job, x, workers):
    pool = shmr.Pool(workers=workers)
    a = shmr.from_numpy(x)
    out = shmr_job(job, pool, a)
    pool.close()
    return out


def agree(job, got, want):
    if job == "histogram":
        # shmr's last bin is half-open: a value of exactly 1.0 (none here,
        # the data is in [0, 1)) would be left out.
        return np.array_equal(np.asarray(got), np.asarray(want))
    got, want = np.atleast_1d(got).astype(float), np.atleast_1d(want).astype(float)
    return np.allclose(got, want, rtol=1e-6)


def median_ms(f, reps):
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = f()
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)[len(times) // 2], out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", default="stats,histogram,mapper")
    ap.add_argument("--start-method", choices=["fork", "spawn", "forkserver"])
    args = ap.parse_args()
    if args.start_method:
        mp.set_start_method(args.start_method)
    w = args.workers
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, start method "
        f"{mp.get_start_method()}, {w} workers, {os.cpu_count()} CPUs; median of {args.reps}, ms"
    )
    print()
    print(
        "| job | n | numpy alone | tutorial (shared_memory + Process + Queue) | "
        "multiprocessing.Pool + array_split | joblib | shmr, with its start | shmr, started pool | "
        "shmr vs tutorial (started / with start) | shmr vs Pool + array_split (started) | all agree |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    pool = shmr.Pool(workers=w)
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        x = np.random.default_rng(0).random(n)
        a = shmr.from_numpy(x)
        for job in args.jobs.split(","):
            want = numpy_alone(job, x)
            rows, ok = {}, True
            for name, f in [
                ("numpy", lambda: numpy_alone(job, x)),
                ("tutorial", lambda: tutorial(job, x, w)),
                ("pool", lambda: mp_pool(job, x, w)),
                ("joblib", lambda: joblib_way(job, x, w)),
                ("cold", lambda: shmr_cold(job, x, w)),
                ("warm", lambda: shmr_job(job, pool, a)),
            ]:
                ms, out = median_ms(f, args.reps)
                rows[name] = ms
                ok = ok and agree(job, out, want)
            print(
                f"| {job} | {n:.0e} | {rows['numpy']:.1f} | {rows['tutorial']:.1f} | "
                f"{rows['pool']:.1f} | {rows['joblib']:.1f} | {rows['cold']:.1f} | "
                f"{rows['warm']:.1f} | {rows['tutorial'] / rows['warm']:.1f}x / "
                f"{rows['tutorial'] / rows['cold']:.1f}x | {rows['pool'] / rows['warm']:.1f}x | "
                f"{'yes' if ok else 'NO'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
