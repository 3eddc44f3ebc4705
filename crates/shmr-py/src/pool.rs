//! A pool of worker processes, and shmr's built-in jobs on it, called from
//! Python with the GIL released while the workers map.

use crate::array::{Array, with_array};
use crate::errors::to_py;
use crate::mapper;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use shmr::builtin::{Columns, Histogram, Stats, Sum, Summary};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// A pool of worker processes. Each worker is this Python interpreter,
/// started again, that imports this same shmr and serves jobs; built-in
/// jobs run in Rust there, without the GIL of the caller.
///
/// Its workers start on a thread of its own, so that the caller goes on
/// meanwhile (copying its data into shared memory, say): the first use
/// waits for them, and a start that failed is raised there, and at every
/// use after.
#[pyclass(module = "shmr._shmr", name = "Pool", frozen)]
pub(crate) struct Pool {
    /// The pool, once the start has been waited for.
    started: OnceLock<Result<shmr::Pool, PyErr>>,
    /// The thread starting the workers, until someone waits for it.
    starting: Mutex<Option<JoinHandle<shmr::Result<shmr::Pool>>>>,
}

impl Pool {
    /// The pool, waiting (without the GIL) for its workers to start if
    /// nobody has yet.
    pub(crate) fn pool(&self, py: Python<'_>) -> PyResult<&shmr::Pool> {
        if self.started.get().is_none() {
            py.detach(|| {
                // Whoever holds the lock joins; the others find the result.
                let mut starting = self.starting.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(thread) = starting.take() {
                    let started = thread.join().unwrap_or_else(|_| {
                        Err(shmr::Error::WorkerStart(
                            "the thread starting the workers panicked".into(),
                        ))
                    });
                    let _ = self.started.set(started.map_err(to_py));
                }
            });
        }
        match self.started.get() {
            Some(Ok(pool)) => Ok(pool),
            Some(Err(e)) => Err(e.clone_ref(py)),
            None => Err(to_py(shmr::Error::WorkerStart(
                "the pool's start was lost".into(),
            ))),
        }
    }
}

impl Drop for Pool {
    /// Waits for a start still under way, so that the workers it made are
    /// stopped and reaped before the pool is gone.
    fn drop(&mut self) {
        let starting = self.starting.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(thread) = starting.take() {
            drop(thread.join());
        }
    }
}

/// How a worker is started: this interpreter, without `site`, loading this
/// extension module alone from its file (not the `shmr` package, whose numpy import
/// took 0.15 s of every worker's start), registered under its name so
/// that a later `import shmr` finds it loaded, then serving at once. The folder that
/// holds the package goes first on the worker's path, as the caller may
/// have found it through a path of its own.
fn worker_command(py: Python<'_>) -> PyResult<(PathBuf, Vec<String>)> {
    let sys = py.import("sys")?;
    let exe: PathBuf = sys.getattr("executable")?.extract()?;
    let package: PathBuf = py.import("shmr")?.getattr("__file__")?.extract()?;
    let library: PathBuf = py.import("shmr._shmr")?.getattr("__file__")?.extract()?;
    let root = package
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // Ctrl-C at a terminal reaches the whole process group: the workers
    // ignore it, and the caller stops the job (`interruptible`). A Python
    // mapper's first chunk imports the package and numpy. (Importing them
    // in a thread while the worker serves was tried: on 2 cores it slowed
    // a cold built-in job by 80 ms, competing with the caller's copy in.)
    let code = format!(
        "import sys, signal, importlib.util as u; \
         signal.signal(signal.SIGINT, signal.SIG_IGN); sys.path.insert(0, {root:?}); \
         s = u.spec_from_file_location('shmr._shmr', {library:?}); m = u.module_from_spec(s); \
         sys.modules['shmr._shmr'] = m; s.loader.exec_module(m); m._serve()",
        library = library.display().to_string()
    );
    // `-S`: no `site` at start, whose `.pth` files took 25 ms of the 30 ms
    // an interpreter took to start here; built-in jobs need none of it, and
    // a worker runs it before its first Python mapper (`mapper.rs`).
    Ok((exe, vec!["-S".to_string(), "-c".to_string(), code]))
}

fn summary<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("count", s.count())?;
    d.set_item("nan_count", s.nan_count())?;
    d.set_item("mean", s.mean())?;
    d.set_item("var", s.variance())?;
    d.set_item("std", s.std())?;
    d.set_item("min", s.min())?;
    d.set_item("max", s.max())?;
    Ok(d)
}

/// Runs `job` with the GIL released, stopping it if a signal arrives
/// (Ctrl-C): the job's stop check runs Python's signal handlers every
/// 50 ms, and the first exception one raises (`KeyboardInterrupt`) stops
/// the job, whose workers still mapping are replaced, and is raised here.
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    job: impl FnOnce(&shmr::StopFn<'_>) -> shmr::Result<T> + Send,
) -> PyResult<T> {
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let stop = || {
        let mut raised = raised.lock().unwrap_or_else(|p| p.into_inner());
        if raised.is_none()
            && let Err(e) = Python::attach(|py| py.check_signals())
        {
            *raised = Some(e);
        }
        raised.is_some()
    };
    let out = py.detach(|| job(&stop));
    if let Some(e) = raised.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    out.map_err(to_py)
}

/// `v` as a Python object.
fn to_object<'py, T: IntoPyObject<'py>>(py: Python<'py>, v: T) -> PyResult<Bound<'py, PyAny>> {
    v.into_bound_py_any(py)
}

fn along(axis: Option<usize>, array: &Array) -> PyResult<bool> {
    match axis {
        None => Ok(false),
        Some(0) if array.inner.shape().len() >= 2 => Ok(true),
        Some(0) => Err(to_py(shmr::Error::InvalidConfig(format!(
            "axis=0 gives one result per column of a table; this array has shape {:?} (one \
             axis): leave axis out for the whole array",
            array.inner.shape()
        )))),
        Some(a) => Err(to_py(shmr::Error::InvalidConfig(format!(
            "axis={a}: shmr reduces along axis 0 (one result per column) or over the whole array"
        )))),
    }
}

#[pymethods]
impl Pool {
    /// A pool of `workers` processes (default: the CPUs this process may
    /// use); `timeout` in seconds ends any job that runs longer.
    #[new]
    #[pyo3(signature = (workers = None, timeout = None))]
    fn new(py: Python<'_>, workers: Option<usize>, timeout: Option<f64>) -> PyResult<Pool> {
        let (exe, args) = worker_command(py)?;
        let mut b = shmr::Pool::builder().worker_command(exe, args);
        if let Some(w) = workers {
            b = b.workers(w);
        }
        if let Some(t) = timeout {
            let t = Duration::try_from_secs_f64(t)
                .map_err(|e| to_py(shmr::Error::InvalidConfig(format!("timeout={t}: {e}"))))?;
            b = b.timeout(t);
        }
        let thread = std::thread::Builder::new()
            .name("shmr-pool-start".into())
            .spawn(move || b.build())
            .map_err(|e| {
                to_py(shmr::Error::WorkerStart(format!(
                    "could not start a thread to start the workers: {e}"
                )))
            })?;
        Ok(Pool {
            started: OnceLock::new(),
            starting: Mutex::new(Some(thread)),
        })
    }

    /// How many worker processes it has (once they have started).
    #[getter]
    fn workers(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.pool(py)?.workers())
    }

    /// The sum of every element (`axis=None`), or of each column of a table
    /// (`axis=0`): floats summed in f64, integers exactly.
    #[pyo3(signature = (array, axis = None))]
    fn sum<'py>(
        &self,
        py: Python<'py>,
        array: &Array,
        axis: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let columns = along(axis, array)?;
        let pool = self.pool(py)?;
        with_array!(&array.inner, a: T => {
            if columns {
                let v = interruptible(py, |stop| pool.on(a).stop_when(stop).run(&Columns(Sum)))?;
                to_object(py, v)
            } else {
                let v = interruptible(py, |stop| pool.on(a).stop_when(stop).run(&Sum))?;
                to_object(py, v)
            }
        })
    }

    /// Count, mean, variance, standard deviation, min and max in one pass
    /// (NaNs counted apart), of the whole array or of each column.
    #[pyo3(signature = (array, axis = None))]
    fn stats<'py>(
        &self,
        py: Python<'py>,
        array: &Array,
        axis: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let columns = along(axis, array)?;
        let pool = self.pool(py)?;
        if columns {
            let all =
                with_array!(&array.inner, a: T => py.detach(|| pool.on(a).run(&Columns(Stats))))
                    .map_err(to_py)?;
            let list: Vec<Bound<'py, PyDict>> = all
                .iter()
                .map(|s| summary(py, s))
                .collect::<PyResult<_>>()?;
            list.into_pyobject(py).map(Bound::into_any)
        } else {
            let s = with_array!(&array.inner, a: T => interruptible(py, |stop| pool.on(a).stop_when(stop).run(&Stats)))?;
            summary(py, &s).map(Bound::into_any)
        }
    }

    /// Counts of `bins` equal bins over `[lo, hi)`, with the values below,
    /// above and NaN counted apart: `(counts, below, above, nan)`.
    fn histogram(
        &self,
        py: Python<'_>,
        array: &Array,
        bins: usize,
        lo: f64,
        hi: f64,
    ) -> PyResult<(Vec<u64>, u64, u64, u64)> {
        if bins == 0 || lo >= hi || !lo.is_finite() || !hi.is_finite() {
            return Err(to_py(shmr::Error::InvalidConfig(format!(
                "histogram of {bins} bins over [{lo}, {hi}): give at least one bin and a finite \
                 range with lo < hi"
            ))));
        }
        let h = Histogram::new(bins, lo..hi);
        let pool = self.pool(py)?;
        let c = with_array!(&array.inner, a: T => interruptible(py, |stop| pool.on(a).stop_when(stop).run(&h)))?;
        Ok((c.counts().to_vec(), c.below(), c.above(), c.nan()))
    }

    /// Maps each chunk of `array` with the Python function `module.qualname`
    /// in the workers and folds the results with `reducer` here, in chunk
    /// order (the Python layer, `shmr.Pool.map_reduce`, fills these in).
    #[allow(clippy::too_many_arguments)]
    fn _map_reduce(
        &self,
        py: Python<'_>,
        array: &Array,
        module: String,
        qualname: String,
        main_path: Option<String>,
        path: Vec<String>,
        reducer: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let spec = mapper::MapperSpec {
            module,
            qualname,
            main_path,
            path,
        };
        mapper::map_reduce(py, self.pool(py)?, array, spec, reducer)
    }

    /// `shmr.Pool.group_by`'s work: per key, the sum and count of values.
    fn _group_by(
        &self,
        py: Python<'_>,
        keys: &Array,
        values: &Array,
    ) -> PyResult<crate::aggregate::Groups> {
        crate::aggregate::group_by(py, self.pool(py)?, keys, values)
    }

    /// `shmr.Pool.word_count`'s work: every word of a file with its count.
    fn _word_count(&self, py: Python<'_>, path: PathBuf) -> PyResult<crate::aggregate::Words> {
        crate::aggregate::word_count(py, self.pool(py)?, path)
    }
}
