//! Python mappers: a module-level function that a worker finds by module
//! and name, called with a numpy view of its chunk; its result comes back
//! pickled, and the caller's reducer folds the results in chunk order.

use crate::array::{Array, typestr, with_array};
use crate::errors::PYTHON_RAISED;
use ndarray::{ArrayView, IxDyn};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a worker finds the mapper: `module.qualname`, the caller's script
/// for `__main__`, and the caller's `sys.path`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MapperSpec {
    pub(crate) module: String,
    pub(crate) qualname: String,
    pub(crate) main_path: Option<String>,
    pub(crate) path: Vec<String>,
}

/// A chunk's result: pickled, as it crosses a worker's slot, or the
/// object it became in the caller once unpickled or reduced (so that the
/// running result is not pickled again at every step of the fold).
pub(crate) enum Partial {
    Pickled(Vec<u8>),
    Object(Py<PyAny>),
}

impl Serialize for Partial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Partial::Pickled(b) => s.serialize_bytes(b),
            // Only a result sent on again (between MPI ranks) is pickled
            // here; a worker's are pickled by the worker.
            Partial::Object(o) => Python::attach(|py| {
                let bytes = py
                    .import("pickle")
                    .and_then(|p| p.call_method1("dumps", (o.bind(py), 5)))
                    .and_then(|b| b.extract::<Vec<u8>>())
                    .map_err(|e| serde::ser::Error::custom(e.to_string()))?;
                s.serialize_bytes(&bytes)
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Partial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pickled result")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_bytes(Bytes).map(Partial::Pickled)
    }
}

impl Partial {
    fn object(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Partial::Object(o) => Ok(o),
            Partial::Pickled(b) => Ok(py
                .import("pickle")?
                .call_method1("loads", (PyBytes::new(py, &b),))?
                .unbind()),
        }
    }
}

/// In a worker: `shmr._worker`, imported the first time after `site` has
/// run. Workers start without it (`python -S`: its `.pth` files took most
/// of an interpreter's start), and a mapper may need what it sets up: the
/// paths of packages (numpy itself, for the `shmr` package) and the import
/// hooks of editable installs.
fn worker_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    static SITE_RUN: AtomicBool = AtomicBool::new(false);
    let no_site: i64 = py
        .import("sys")?
        .getattr("flags")?
        .getattr("no_site")?
        .extract()?;
    if no_site != 0 && !SITE_RUN.swap(true, Ordering::Relaxed) {
        py.import("site")?.call_method0("main")?;
    }
    py.import("shmr._worker")
}

/// In a worker: one chunk through the Python mapper. A mapper that raises
/// is reported as this mapper's panic, with the exception's type, message
/// and traceback after [`PYTHON_RAISED`], which the caller turns back into
/// `shmr.MapperError`.
fn map_chunk<T: shmr::Element>(spec: &MapperSpec, chunk: ArrayView<'_, T, IxDyn>) -> Partial {
    let outcome = Python::attach(
        |py| -> PyResult<Result<Vec<u8>, (String, String, String)>> {
            let run = worker_module(py)?.getattr("run_chunk")?;
            let reply = run.call1((
                &spec.module,
                &spec.qualname,
                spec.main_path.as_deref(),
                spec.path.clone(),
                chunk.as_ptr() as usize,
                chunk.shape().to_vec(),
                typestr(T::DTYPE),
            ))?;
            let ok: bool = reply.get_item(0)?.extract()?;
            Ok(if ok {
                Ok(reply.get_item(1)?.extract()?)
            } else {
                Err((
                    reply.get_item(1)?.extract()?,
                    reply.get_item(2)?.extract()?,
                    reply.get_item(3)?.extract()?,
                ))
            })
        },
    );
    match outcome {
        Ok(Ok(bytes)) => Partial::Pickled(bytes),
        Ok(Err((kind, message, tb))) => panic!("{PYTHON_RAISED}{kind}\u{1f}{message}\u{1f}{tb}"),
        // shmr._worker itself failed (not importable, say).
        Err(e) => panic!("{PYTHON_RAISED}RuntimeError\u{1f}{e}\u{1f}"),
    }
}

/// Runs `mapper` (found by the spec) over `array` on `pool` and folds the
/// results with `reducer` in chunk order, in this process.
pub(crate) fn map_reduce(
    py: Python<'_>,
    pool: &shmr::Pool,
    array: &Array,
    spec: MapperSpec,
    reducer: Py<PyAny>,
) -> PyResult<Py<PyAny>> {
    // The reducer's own exception, kept whole for the caller.
    let failed: Mutex<Option<PyErr>> = Mutex::new(None);
    let reduce = |a: Partial, b: Partial| -> Partial {
        let out = Python::attach(|py| -> PyResult<Py<PyAny>> {
            let (a, b) = (a.object(py)?, b.object(py)?);
            Ok(reducer.bind(py).call1((a, b))?.unbind())
        });
        match out {
            Ok(o) => Partial::Object(o),
            Err(e) => {
                let message = e.to_string();
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                panic!("the reducer raised: {message}");
            }
        }
    };
    let result = with_array!(&array.inner, a: T => crate::pool::interruptible(py, |stop| {
        pool.on(a)
            .params(spec)
            .stop_when(stop)
            .map_reduce(map_chunk::<T> as for<'c> fn(&MapperSpec, ArrayView<'c, T, IxDyn>) -> Partial, reduce)
    }));
    if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    result?.object(py)
}
