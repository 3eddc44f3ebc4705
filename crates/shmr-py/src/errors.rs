//! shmr's errors as Python exceptions: the class says what kind of failure
//! it is (the classes live in `shmr/_errors.py`, each also a subclass of
//! the builtin exception a Python user would catch), the message is the
//! Rust error's, word for word.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The marker a worker puts before a Python exception it reports through
/// a mapper's panic: `MARK type \x1f message \x1f traceback`.
pub(crate) const PYTHON_RAISED: &str = "\u{1e}python-exception\u{1e}";

/// The Python exception for `e`.
pub(crate) fn to_py(e: shmr::Error) -> PyErr {
    use shmr::Error as E;
    let class = match &e {
        E::InvalidConfig(_)
        | E::TypeMismatch { .. }
        | E::TooLarge { .. }
        | E::Npy { .. }
        | E::InvalidSegment(_)
        | E::KeyOutOfRange { .. }
        | E::ParamsTooLarge { .. } => "InvalidInputError",
        E::OutOfSharedMemory { .. } => "OutOfSharedMemoryError",
        E::Stopped { .. } => "StoppedError",
        E::File { .. } | E::Io { .. } => "FileError",
        E::Timeout { .. } => "TimeoutError",
        E::WorkerStart(_) | E::WorkerDied { .. } | E::WriteInterrupted { .. } => "WorkerError",
        E::MapperPanicked { message, .. } if message.contains(PYTHON_RAISED) => {
            return mapper_error(&e, message);
        }
        E::MapperPanicked { .. } | E::ReducerPanicked { .. } => "MapperError",
        _ => "ShmrError",
    };
    raise(class, (e.to_string(),))
}

/// An exception of class `name` of `shmr._errors`, made with `args`.
fn raise<A>(name: &str, args: A) -> PyErr
where
    A: for<'py> IntoPyObject<'py, Target = pyo3::types::PyTuple> + Send + Sync + 'static,
{
    Python::attach(|py| {
        match py
            .import("shmr._errors")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from))
        {
            Ok(class) => PyErr::from_type(class, args),
            Err(e) => PyRuntimeError::new_err(format!("shmr._errors.{name} is missing: {e}")),
        }
    })
}

/// A Python mapper's exception, from the worker's report: its type name,
/// message and traceback, as `shmr.MapperError`.
fn mapper_error(e: &shmr::Error, message: &str) -> PyErr {
    let reported = message
        .split_once(PYTHON_RAISED)
        .map_or("", |(_, rest)| rest);
    // The worker's panic message ends with where it panicked: ours.
    let reported = match reported.rfind(" (at ") {
        Some(at) if reported.ends_with(')') => &reported[..at],
        _ => reported,
    };
    let mut parts = reported.splitn(3, '\u{1f}');
    let (kind, text, traceback) = (
        parts.next().unwrap_or("Exception").to_string(),
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let chunk = match e {
        shmr::Error::MapperPanicked { chunk, rows, .. } => {
            format!(" in chunk {chunk} (rows {rows:?})")
        }
        _ => String::new(),
    };
    let summary = format!("the mapper raised {kind}{chunk}: {text}");
    raise("MapperError", (summary, kind, text, traceback))
}
