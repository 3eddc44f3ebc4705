"""Module-level mappers and reducers for the tests: a worker process finds
them by module and name."""

import ctypes

import numpy as np


def heavy(chunk):
    return float(np.sum(np.sin(chunk) * np.exp(-chunk)))


def add(a, b):
    return a + b


def first_and_len(chunk):
    return [(float(chunk[0]), len(chunk))]


def column_sums(chunk):
    return chunk.sum(axis=0)


def raises(chunk):
    if chunk[0] >= 1000:
        raise ValueError(f"no chunk from {chunk[0]:g} on, please")
    return 0


def crashes(chunk):
    # A C extension's segfault: the worker dies, not the caller.
    ctypes.string_at(0)
    return 0


def reducer_raises(a, b):
    raise KeyError("the reducer gave up")


def slow(chunk):
    import time

    time.sleep(0.2)
    return 1
