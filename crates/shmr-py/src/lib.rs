//! shmr from Python: the `shmr._shmr` extension module under the `shmr`
//! package (`python/shmr`), built by maturin.
//!
//! Shared arrays cross to numpy without a copy (`array.rs`); a pool of
//! worker processes, each this interpreter started again with this same
//! library loaded, runs shmr's jobs with the caller's GIL released
//! (`pool.rs`); shmr's errors are Python exceptions with the same messages
//! (`errors.rs`).

#![deny(unsafe_code)]

mod aggregate;
mod array;
mod errors;
mod mapper;
mod pool;

use pyo3::prelude::*;

/// Serves as a worker of the pool that started this process, and exits;
/// a process that is not one gets an error. The command a pool starts its
/// workers with calls it first thing. The GIL is released while it serves:
/// built-in jobs need none, and a Python mapper takes it for its call.
#[pyfunction]
fn _serve(py: Python<'_>) -> PyResult<()> {
    py.detach(shmr::init);
    Err(errors::to_py(shmr::Error::InvalidConfig(
        "_serve() is for the worker processes a shmr.Pool starts".into(),
    )))
}

#[pymodule]
fn _shmr(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<array::Array>()?;
    m.add_class::<pool::Pool>()?;
    m.add_function(wrap_pyfunction!(array::zeros, m)?)?;
    m.add_function(wrap_pyfunction!(array::copy_of, m)?)?;
    m.add_function(wrap_pyfunction!(array::open_npy, m)?)?;
    m.add_function(wrap_pyfunction!(array::open_raw, m)?)?;
    m.add_function(wrap_pyfunction!(array::create, m)?)?;
    m.add_function(wrap_pyfunction!(array::attach, m)?)?;
    m.add_function(wrap_pyfunction!(_serve, m)?)?;
    Ok(())
}
