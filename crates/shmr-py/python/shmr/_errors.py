"""shmr's exceptions. Each is also the builtin exception a Python user
would catch for that kind of failure; the message is shmr's own, which says
what happened and what to do."""

import builtins


class ShmrError(Exception):
    """Base of every error shmr raises."""


class InvalidInputError(ShmrError, ValueError):
    """Bad arguments: a wrong element type or shape, a bad name or file."""


class OutOfSharedMemoryError(ShmrError, MemoryError):
    """Not enough shared memory (/dev/shm or RAM) for an array or a job."""


class FileError(ShmrError, OSError):
    """A file could not be opened, read or mapped."""


class TimeoutError(ShmrError, builtins.TimeoutError):
    """A job ran past its timeout; the workers still mapping were replaced."""


class StoppedError(ShmrError):
    """A job stopped before its end (the caller's Ctrl-C arrives as
    KeyboardInterrupt instead); its workers were replaced."""


class WorkerError(ShmrError):
    """A worker process could not start, or died and its chunks could not be
    mapped again."""


class MapperError(ShmrError):
    """A mapper raised (or panicked) in a worker. For a Python mapper,
    `type_name`, `message` and `traceback` are the worker's exception's."""

    def __init__(self, summary, type_name=None, message=None, traceback=None):
        super().__init__(summary)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    def __str__(self):
        text = self.args[0] if self.args else ""
        if self.traceback:
            text += "\n\nIn the worker:\n" + self.traceback.rstrip()
        return text
