//! Aggregations from Python: a group-by over a keys array and a values
//! array (shmr's keyed job over two arrays), and the word count of a file
//! (shmr's `WordCounts` fold over its records).

use crate::array::{AnyArray, Array};
use crate::errors::to_py;
use crate::pool::interruptible;
use ndarray::{ArrayView, IxDyn};
use pyo3::prelude::*;
use shmr::builtin::WordCounts;
use shmr::keyed::{Count, Delimiters, Sum};
use shmr::{Element, NpyMode, SharedArray};
use std::path::PathBuf;

/// Integer keys, as the i64 they group under.
trait IntKey: Element {
    fn key(self) -> i64;
}
macro_rules! int_key {
    ($($t:ty),*) => {$(impl IntKey for $t { fn key(self) -> i64 { i64::from(self) } })*};
}
int_key!(i64, i32, u32, u8);

/// Per key: the values' sum (in f64) and count, sorted by key.
pub(crate) type Groups = (Vec<i64>, Vec<f64>, Vec<u64>);

/// Every word with its count, and the words in all.
pub(crate) type Words = (Vec<(Vec<u8>, u64)>, u64);

fn groups<K: IntKey, V: Element>(
    py: Python<'_>,
    pool: &shmr::Pool,
    keys: &SharedArray<K, IxDyn>,
    values: &SharedArray<V, IxDyn>,
) -> PyResult<Groups> {
    let mapper = |(k, v): (ArrayView<'_, K, IxDyn>, ArrayView<'_, V, IxDyn>),
                  out: &mut shmr::keyed::Emit<'_, i64, (f64, u64), (Sum, Count)>| {
        for (&k, &v) in k.iter().zip(v.iter()) {
            out.emit(&k.key(), (v.to_f64(), 1_u64));
        }
    };
    let table = interruptible(py, |stop| {
        pool.on(keys)
            .and(values)
            .stop_when(stop)
            .keyed((Sum, Count), mapper)
    })?;
    let mut out: Groups = (Vec::new(), Vec::new(), Vec::new());
    for (k, (s, c)) in table {
        out.0.push(k);
        out.1.push(s);
        out.2.push(c);
    }
    Ok(out)
}

fn unsupported(what: &str, dtype: shmr::DType, allowed: &str) -> PyErr {
    to_py(shmr::Error::InvalidConfig(format!(
        "group_by's {what} may be {allowed}; got {dtype}: convert with .astype(...) first"
    )))
}

/// Runs `groups` for the element types of `keys` and `values`.
macro_rules! by_values {
    ($py:expr, $pool:expr, $k:expr, $values:expr) => {
        match $values {
            AnyArray::F64(v) => groups($py, $pool, $k, v),
            AnyArray::F32(v) => groups($py, $pool, $k, v),
            AnyArray::I64(v) => groups($py, $pool, $k, v),
            AnyArray::I32(v) => groups($py, $pool, $k, v),
            other => Err(unsupported(
                "values",
                other.dtype(),
                "float64, float32, int64 or int32",
            )),
        }
    };
}

/// Per distinct key of `keys` (int64, int32, uint32 or uint8): the sum
/// (f64) and the count of the `values` in the same rows, sorted by key.
/// The two arrays need the same length.
pub(crate) fn group_by(
    py: Python<'_>,
    pool: &shmr::Pool,
    keys: &Array,
    values: &Array,
) -> PyResult<Groups> {
    let values = &values.inner;
    match &keys.inner {
        AnyArray::I64(k) => by_values!(py, pool, k, values),
        AnyArray::I32(k) => by_values!(py, pool, k, values),
        AnyArray::U32(k) => by_values!(py, pool, k, values),
        AnyArray::U8(k) => by_values!(py, pool, k, values),
        other => Err(unsupported(
            "keys",
            other.dtype(),
            "int64, int32, uint32 or uint8",
        )),
    }
}

/// Every word of the text file at `path` (runs of ASCII letters and
/// apostrophes, upper-cased, as shmr's word count splits them) with its
/// count, and the number of words in all. The file is mapped, not read:
/// no process may truncate it meanwhile.
pub(crate) fn word_count(py: Python<'_>, pool: &shmr::Pool, path: PathBuf) -> PyResult<Words> {
    // SAFETY: the Python API's documented promise, passed on: nobody
    // truncates or writes the file while it is mapped.
    #[allow(unsafe_code)]
    let text = unsafe { SharedArray::open_bytes(&path, NpyMode::ReadOnly) }.map_err(to_py)?;
    let counts = interruptible(py, |stop| {
        pool.on(&text)
            .records(Delimiters::WHITESPACE)
            .stop_when(stop)
            .fold(WordCounts::new, WordCounts::add_records, WordCounts::merge)
    })?;
    let total = counts.words();
    let pairs = counts
        .into_keyed()
        .into_iter()
        .map(|(w, n)| (w.to_vec(), n))
        .collect();
    Ok((pairs, total))
}
