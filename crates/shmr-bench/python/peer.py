"""The Python peer of the shmr benchmark: numpy + multiprocessing.shared_memory.

Written the way the tutorials do it: the array lives in a SharedMemory block,
each job starts N worker Processes that attach to the block by name, compute
their slice with numpy, and put their partial result on a Queue; the parent
combines the partials. The total time counts process start-up as the
tutorials do (from creating the processes to the combined result); the
compute time is the slowest worker's numpy call alone.

Reads a JSON config on stdin: {"seed": 42, "runs": [{"job", "len", "workers",
"reps"}]}; writes one JSON object per run on stdout.
"""
import json
import multiprocessing as mp
import sys
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np

BINS = 64


def worker(name, length, start, stop, job, queue):
    shm = shared_memory.SharedMemory(name=name)
    if mp.get_start_method() != "fork":
        # The parent owns the block; a spawned child has its own resource
        # tracker, which would unlink the block (and warn) when the child
        # exits (CPython issue 82300). Forked children share the parent's.
        resource_tracker.unregister(shm._name, "shared_memory")
    a = np.ndarray((length,), dtype=np.float64, buffer=shm.buf)
    part = a[start:stop]
    t = time.perf_counter()
    if job == "sum":
        r = float(part.sum())
    elif job == "stats":
        r = (part.size, float(part.mean()), float(part.var()) * part.size, float(part.min()), float(part.max()))
    elif job == "histogram":
        r = np.histogram(part, bins=BINS, range=(0.0, 1.0))[0]
    elif job == "heavy_map":
        r = float((np.sin(part) * np.exp(-part)).sum())
    elif job == "square_in_place":
        np.square(part, out=part)
        r = 0.0
    else:
        raise ValueError(job)
    elapsed = time.perf_counter() - t
    del part, a
    shm.close()
    queue.put((start, r, elapsed))


def combine(job, partials):
    partials = [r for _, r, _ in sorted(partials, key=lambda p: p[0])]
    if job in ("sum", "heavy_map", "square_in_place"):
        return sum(partials)
    if job == "histogram":
        return float(np.sum(partials, axis=0)[0])
    # Chan et al. merge of (n, mean, m2, min, max).
    n, mean, m2 = 0, 0.0, 0.0
    for nb, mb, m2b, _, _ in partials:
        if nb == 0:
            continue
        delta = mb - mean
        tot = n + nb
        mean += delta * nb / tot
        m2 += m2b + delta * delta * n * nb / tot
        n = tot
    return mean


def run(name, length, job, workers):
    queue = mp.Queue()
    bounds = [length * i // workers for i in range(workers + 1)]
    t = time.perf_counter()
    procs = [
        mp.Process(target=worker, args=(name, length, bounds[i], bounds[i + 1], job, queue))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    partials = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    total = time.perf_counter() - t
    return combine(job, partials), total, max(p[2] for p in partials)


def main():
    config = json.load(sys.stdin)
    runs = config["runs"]
    rng = np.random.default_rng(config.get("seed", 42))
    by_len = {}
    for r in runs:
        by_len.setdefault(r["len"], []).append(r)
    for length in sorted(by_len):
        shm = shared_memory.SharedMemory(create=True, size=max(8, length * 8))
        try:
            a = np.ndarray((length,), dtype=np.float64, buffer=shm.buf)
            a[:] = rng.random(length)
            for r in by_len[length]:
                totals, computes = [], []
                for _ in range(max(1, r["reps"])):
                    check, total, compute = run(shm.name, length, r["job"], r["workers"])
                    totals.append(total)
                    computes.append(compute)
                totals.sort()
                computes.sort()
                out = dict(r)
                out.update(
                    total_ms=totals[len(totals) // 2] * 1e3,
                    compute_ms=computes[len(computes) // 2] * 1e3,
                    check=check,
                    start_method=mp.get_start_method(),
                    numpy=np.__version__,
                    python=sys.version.split()[0],
                )
                print(json.dumps(out), flush=True)
                print(f"  python {r['job']} n={length} workers={r['workers']}: "
                      f"{out['total_ms']:.1f} ms total, {out['compute_ms']:.1f} ms compute", file=sys.stderr)
            del a
        finally:
            shm.close()
            shm.unlink()


if __name__ == "__main__":
    main()
