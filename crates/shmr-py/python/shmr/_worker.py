"""What a worker process does for a Python mapper: find the function the
caller named (module and qualified name, as `multiprocessing`'s spawn
does), hand it a numpy view of its chunk, and return its result pickled,
or the exception it raised."""

import importlib
import pickle
import runpy
import sys
import traceback

import numpy as np

_functions = {}
_mains = {}


class _Chunk:
    """A chunk's memory as numpy's array interface gives it: read-only."""

    def __init__(self, address, shape, typestr):
        self.__array_interface__ = {
            "data": (address, True),
            "shape": tuple(shape),
            "typestr": typestr,
            "version": 3,
        }


def _module(name, main_path):
    if name != "__main__":
        return importlib.import_module(name)
    # The caller's script: run it again under another name, so that its
    # `if __name__ == "__main__":` block does not run in the worker.
    if main_path is None:
        raise RuntimeError(
            "the mapper is defined in __main__ of an interactive session or a notebook, which "
            "a worker process cannot import: define it in a module (a .py file) and import it"
        )
    if main_path not in _mains:
        _mains[main_path] = type(sys)("__shmr_main__")
        _mains[main_path].__dict__.update(runpy.run_path(main_path, run_name="__shmr_main__"))
    return _mains[main_path]


def _function(module, qualname, main_path, path):
    key = (module, qualname, main_path)
    f = _functions.get(key)
    if f is None:
        for p in reversed(path):
            if p not in sys.path:
                sys.path.insert(0, p)
        f = _module(module, main_path)
        for part in qualname.split("."):
            f = getattr(f, part)
        _functions[key] = f
    return f


def run_chunk(module, qualname, main_path, path, address, shape, typestr):
    """`(True, pickled result)`, or `(False, type, message, traceback)`."""
    try:
        f = _function(module, qualname, main_path, path)
        view = np.asarray(_Chunk(address, shape, typestr))
        return True, pickle.dumps(f(view), protocol=5)
    except BaseException as e:  # noqa: BLE001 - reported to the caller whole
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        return False, type(e).__qualname__, str(e), tb
