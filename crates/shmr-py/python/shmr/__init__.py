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
    """A shared copy of the numpy array `x` (one copy in, C order)."""
    x = _np.asarray(x)
    if x.dtype.byteorder == ">":
        raise InvalidInputError(
            f"shmr stores little-endian elements; got {x.dtype}: use x.astype(x.dtype.newbyteorder('<'))"
        )
    a = _shmr.zeros(list(x.shape), x.dtype.str)
    _np.asarray(a)[...] = x
    return a


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
    in Rust there, and the caller's GIL is released while they run.

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

    def close(self):
        """Stops the workers now (they also stop when the pool is dropped)."""
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
