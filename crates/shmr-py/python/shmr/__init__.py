"""shmr: MapReduce over shared-memory arrays on a pool of worker processes.

Arrays live in shared memory and numpy reads and writes them in place;
jobs run on every core in worker processes that map the same memory, so an
array's bytes are never copied to a worker or pickled.

    import numpy as np, shmr
    a = shmr.from_numpy(np.random.default_rng(0).normal(size=(1_000_000, 4)))
    shmr.stats(a)["mean"]           # the whole array, one pass
    shmr.stats(a, axis=0)["std"]    # one value per column, as numpy's axis=0
    np.asarray(a)[:3]               # a numpy view of the shared memory, no copy
"""

import sys as _sys

import numpy as _np

from . import _shmr
from ._errors import (
    FileError,
    InvalidInputError,
    MapperError,
    OutOfSharedMemoryError,
    ShmrError,
    TimeoutError,
    WorkerError,
)

Array = _shmr.Array

__all__ = [
    "Array",
    "Pool",
    "zeros",
    "from_numpy",
    "open_npy",
    "open_raw",
    "create",
    "attach",
    "sum",
    "stats",
    "histogram",
    "map_reduce",
    "group_by",
    "word_count",
    "default_pool",
    "ShmrError",
    "InvalidInputError",
    "OutOfSharedMemoryError",
    "FileError",
    "TimeoutError",
    "WorkerError",
    "MapperError",
]


def _typestr(dtype):
    return _np.dtype(dtype).str


def zeros(shape, dtype="float64"):
    """A new shared array of zeros (`numpy.asarray(a)` reads it in place)."""
    if isinstance(shape, int):
        shape = (shape,)
    return _shmr.zeros(list(shape), _typestr(dtype))


def from_numpy(x):
    """A shared copy of the numpy array `x` (one copy in, C order). Do not
    write `x` from another thread while it is copied."""
    x = _np.asarray(x)
    if x.dtype.byteorder == ">":
        raise InvalidInputError(
            f"shmr stores little-endian elements; got {x.dtype}: use x.astype(x.dtype.newbyteorder('<'))"
        )
    # Written into the new shared memory's file before it is mapped, which
    # puts each page in place with its bytes: 1.6x faster than copying
    # through a new mapping, which faults and zeroes every page first.
    # Another layout, or an unaligned buffer, is first copied by numpy into
    # an aligned array in C order (a second copy).
    if not (x.flags.c_contiguous and x.flags.aligned):
        x = _np.require(x, requirements="CA")
    return _shmr.copy_of(x)


def open_npy(path, writable=False):
    """Maps an `.npy` file without reading it. No process may truncate the
    file, or write it while a job reads it, while the array lives."""
    return _shmr.open_npy(str(path), writable)


def open_raw(path, offset, shape, dtype, writable=False):
    """Maps `shape` elements of `dtype` (C order) at byte `offset` of a raw
    file, under the same promise as `open_npy`."""
    if isinstance(shape, int):
        shape = (shape,)
    return _shmr.open_raw(str(path), int(offset), list(shape), _typestr(dtype), writable)


def create(name, shape, dtype="float64"):
    """A new array named `name` in /dev/shm, for other processes to
    `attach`; removed when this object goes (shmr tracks no resource of
    Python's: no resource-tracker warning, no block deleted under another
    process)."""
    if isinstance(shape, int):
        shape = (shape,)
    return _shmr.create(name, list(shape), _typestr(dtype))


def attach(name):
    """Attaches to an array another process made with `create`."""
    return _shmr.attach(name)


class Pool:
    """A pool of worker processes, started once and used for many jobs.

    Each worker is this Python interpreter started again; built-in jobs run
    in Rust there, and the caller's GIL is released while they run. The
    workers start in the background, so the caller goes on meanwhile
    (copying its data in with `from_numpy`, say); the first job waits for
    them, and raises `WorkerError` if they could not start.

        pool = shmr.Pool(workers=2)
        pool.stats(a, axis=0)
    """

    def __init__(self, workers=None, timeout=None):
        self._pool = _shmr.Pool(workers, timeout)

    @property
    def workers(self):
        """How many worker processes the pool has."""
        return self._pool.workers

    def sum(self, array, axis=None):
        """The sum of every element, or of each column (`axis=0`, a numpy
        array). Floats add in f64, integers exactly."""
        _check(array)
        out = self._pool.sum(array, axis)
        return _np.asarray(out) if axis is not None else out

    def stats(self, array, axis=None):
        """`count`, `nan_count`, `mean`, `var`, `std`, `min`, `max` of the
        whole array in one pass, NaNs counted apart; with `axis=0` each is a
        numpy array of one value per column."""
        _check(array)
        out = self._pool.stats(array, axis)
        if axis is None:
            return out
        return {k: _np.array([c[k] for c in out], dtype=float) for k in out[0]} if out else {}

    def histogram(self, array, bins=10, range=None):
        """`(counts, edges)` of `bins` equal bins over `range`, NaNs and
        values outside left out, as `numpy.histogram` gives them, with one
        difference: every bin is half-open, `[lo, hi)`, where numpy closes
        the last, so a value equal to `hi` is not counted. The default range
        is the array's min up to just above its max (`numpy.nextafter`), so
        that every value is counted."""
        _check(array)
        if range is None:
            s = self._pool.stats(array, None)
            lo, hi = s["min"], s["max"]
            if lo is None:
                lo, hi = 0.0, 1.0
            hi = float(_np.nextafter(hi, _np.inf)) if hi > lo else lo + 1.0
            range = (lo, hi)
        lo, hi = float(range[0]), float(range[1])
        counts, _below, _above, _nan = self._pool.histogram(array, int(bins), lo, hi)
        return _np.asarray(counts, dtype=_np.int64), _np.linspace(lo, hi, int(bins) + 1)

    def map_reduce(self, array, mapper, reducer):
        """Maps each chunk of `array` with `mapper` in the worker processes
        and folds the results with `reducer` here, in chunk order: the same
        result for any number of workers.

        `mapper(chunk) -> partial` must be a module-level function: a
        worker finds it by module and name, as `multiprocessing`'s spawn
        does. `chunk` is a read-only numpy view of the shared memory (no
        copy), valid during the call only: return what you compute from it,
        not the view. Partials come back pickled (a numpy array as its
        bytes). A function of your script's `__main__` is found by running
        the script again in the worker under another name, so keep the
        script's work under `if __name__ == "__main__":`; one typed into an
        interactive session or a notebook cannot be found, so put it in a
        module. A mapper that raises ends the job with `MapperError`, which
        carries the exception's type, message and traceback; a worker that
        crashes (a C extension's segfault) is replaced and its chunks mapped
        again, up to twice, then `WorkerError`."""
        _check(array)
        module, qualname, main_path = _locate(mapper)
        return self._pool._map_reduce(
            array, module, qualname, main_path, list(_sys.path), reducer
        )

    def group_by(self, keys, values):
        """Per distinct key, the sum, count and mean of the values in the
        same rows: a dict of numpy arrays `keys`, `sum`, `count`, `mean`,
        sorted by key (as `pandas.Series(values).groupby(keys).agg(...)`).
        Keys: int64, int32, uint32 or uint8; values: float64, float32, int64
        or int32, summed in float64; the two arrays of the same length."""
        _check(keys)
        _check(values)
        k, s, c = self._pool._group_by(keys, values)
        k = _np.asarray(k, dtype=_np.int64)
        s = _np.asarray(s, dtype=_np.float64)
        c = _np.asarray(c, dtype=_np.int64)
        return {"keys": k, "sum": s, "count": c, "mean": s / _np.maximum(c, 1)}

    def word_count(self, path):
        """Every word of a text file with its count, as a dict ordered by
        count, most frequent first (ties by word); the file is mapped, not
        read. A word is an ASCII letter followed by letters and
        apostrophes, upper-cased (`"Don't"` counts as `"DON'T"`; digits and
        every other byte separate words), as shmr's Rust word count and
        Phoenix++'s define it. The words in all: `sum(counts.values())`."""
        pairs, _total = self._pool._word_count(str(path))
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return {w.decode("ascii"): n for w, n in pairs}

    def close(self):
        """Stops the workers now (they also stop when the pool is dropped)."""
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _locate(f):
    """Where a worker finds `f`: its module, qualified name, and the script
    for `__main__`."""
    module = getattr(f, "__module__", None)
    qualname = getattr(f, "__qualname__", None)
    if module is None or qualname is None or "<" in qualname:
        raise InvalidInputError(
            f"the mapper must be a function defined at the top level of a module, which a "
            f"worker process can import by name; got {f!r} (lambdas and nested functions "
            "cannot be found there)"
        )
    main_path = None
    if module == "__main__":
        main_path = getattr(_sys.modules["__main__"], "__file__", None)
    return module, qualname, main_path


def _check(array):
    if not isinstance(array, Array):
        raise InvalidInputError(
            f"shmr jobs run on shared arrays, not {type(array).__name__}: make one with "
            "shmr.from_numpy(x) (one copy), shmr.zeros, shmr.open_npy or shmr.attach"
        )


_default = None


def default_pool():
    """The pool the module-level functions use, started on first use with
    one worker per CPU this process may use."""
    global _default
    if _default is None:
        _default = Pool()
    return _default


def sum(array, axis=None):
    """`default_pool().sum(array, axis)`."""
    return default_pool().sum(array, axis)


def stats(array, axis=None):
    """`default_pool().stats(array, axis)`."""
    return default_pool().stats(array, axis)


def histogram(array, bins=10, range=None):
    """`default_pool().histogram(array, bins, range)`."""
    return default_pool().histogram(array, bins, range)


def group_by(keys, values):
    """`default_pool().group_by(keys, values)`."""
    return default_pool().group_by(keys, values)


def word_count(path):
    """`default_pool().word_count(path)`."""
    return default_pool().word_count(path)


def map_reduce(array, mapper, reducer):
    """`default_pool().map_reduce(array, mapper, reducer)`."""
    return default_pool().map_reduce(array, mapper, reducer)
