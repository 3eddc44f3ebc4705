//! Shared arrays as Python objects that numpy reads without a copy.
//!
//! An [`Array`] holds a `SharedArray` of any element type and any number of
//! axes; `numpy.asarray(a)` reads its `__array_interface__` (the address of
//! the shared mapping, its shape and element type) and keeps `a` as the
//! numpy array's base, so the mapping lives as long as any view of it.

use crate::errors::to_py;
use ndarray::IxDyn;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use shmr::{DType, NpyMode, SharedArray};
use std::path::PathBuf;

/// A shared array of one of the element types shmr knows, with any number
/// of axes.
pub(crate) enum AnyArray {
    F64(SharedArray<f64, IxDyn>),
    F32(SharedArray<f32, IxDyn>),
    I64(SharedArray<i64, IxDyn>),
    I32(SharedArray<i32, IxDyn>),
    I16(SharedArray<i16, IxDyn>),
    I8(SharedArray<i8, IxDyn>),
    U64(SharedArray<u64, IxDyn>),
    U32(SharedArray<u32, IxDyn>),
    U16(SharedArray<u16, IxDyn>),
    U8(SharedArray<u8, IxDyn>),
}

/// Runs `$body` with `$a` bound to the typed array inside `$any`, and `$t`
/// to its element type.
macro_rules! with_array {
    ($any:expr, $a:ident: $t:ident => $body:expr) => {
        match $any {
            $crate::array::AnyArray::F64($a) => {
                #[allow(dead_code)]
                type $t = f64;
                $body
            }
            $crate::array::AnyArray::F32($a) => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            $crate::array::AnyArray::I64($a) => {
                #[allow(dead_code)]
                type $t = i64;
                $body
            }
            $crate::array::AnyArray::I32($a) => {
                #[allow(dead_code)]
                type $t = i32;
                $body
            }
            $crate::array::AnyArray::I16($a) => {
                #[allow(dead_code)]
                type $t = i16;
                $body
            }
            $crate::array::AnyArray::I8($a) => {
                #[allow(dead_code)]
                type $t = i8;
                $body
            }
            $crate::array::AnyArray::U64($a) => {
                #[allow(dead_code)]
                type $t = u64;
                $body
            }
            $crate::array::AnyArray::U32($a) => {
                #[allow(dead_code)]
                type $t = u32;
                $body
            }
            $crate::array::AnyArray::U16($a) => {
                #[allow(dead_code)]
                type $t = u16;
                $body
            }
            $crate::array::AnyArray::U8($a) => {
                #[allow(dead_code)]
                type $t = u8;
                $body
            }
        }
    };
}
pub(crate) use with_array;

/// Makes an [`AnyArray`] of `dtype` with `$make`, a generic expression in
/// the element type `$t`.
macro_rules! make_array {
    ($dtype:expr, $t:ident => $make:expr) => {
        match $dtype {
            shmr::DType::F64 => {
                #[allow(dead_code)]
                type $t = f64;
                $make.map($crate::array::AnyArray::F64)
            }
            shmr::DType::F32 => {
                #[allow(dead_code)]
                type $t = f32;
                $make.map($crate::array::AnyArray::F32)
            }
            shmr::DType::I64 => {
                #[allow(dead_code)]
                type $t = i64;
                $make.map($crate::array::AnyArray::I64)
            }
            shmr::DType::I32 => {
                #[allow(dead_code)]
                type $t = i32;
                $make.map($crate::array::AnyArray::I32)
            }
            shmr::DType::I16 => {
                #[allow(dead_code)]
                type $t = i16;
                $make.map($crate::array::AnyArray::I16)
            }
            shmr::DType::I8 => {
                #[allow(dead_code)]
                type $t = i8;
                $make.map($crate::array::AnyArray::I8)
            }
            shmr::DType::U64 => {
                #[allow(dead_code)]
                type $t = u64;
                $make.map($crate::array::AnyArray::U64)
            }
            shmr::DType::U32 => {
                #[allow(dead_code)]
                type $t = u32;
                $make.map($crate::array::AnyArray::U32)
            }
            shmr::DType::U16 => {
                #[allow(dead_code)]
                type $t = u16;
                $make.map($crate::array::AnyArray::U16)
            }
            shmr::DType::U8 => {
                #[allow(dead_code)]
                type $t = u8;
                $make.map($crate::array::AnyArray::U8)
            }
        }
    };
}

/// numpy's type string of each element type (little-endian, as shmr
/// stores them).
pub(crate) fn typestr(d: DType) -> &'static str {
    match d {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I16 => "<i2",
        DType::I8 => "|i1",
        DType::U64 => "<u8",
        DType::U32 => "<u4",
        DType::U16 => "<u2",
        DType::U8 => "|u1",
    }
}

/// The element type of numpy's type string `s` (`numpy.dtype(x).str`).
pub(crate) fn dtype_of(s: &str) -> PyResult<DType> {
    let all = [
        DType::F64,
        DType::F32,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U64,
        DType::U32,
        DType::U16,
        DType::U8,
    ];
    let plain = s.replace('=', "<");
    all.into_iter()
        .find(|&d| typestr(d) == plain || typestr(d).replace('|', "<") == plain)
        .ok_or_else(|| {
            to_py(shmr::Error::InvalidConfig(format!(
                "shmr has no element type {s:?}: use one of float64, float32, int64, int32, \
                 int16, int8, uint64, uint32, uint16, uint8, in native (little-endian) order \
                 (numpy: x.astype('<f8'))"
            )))
        })
}

impl AnyArray {
    pub(crate) fn dtype(&self) -> DType {
        with_array!(self, a: T => a.dtype())
    }
    pub(crate) fn shape(&self) -> &[usize] {
        with_array!(self, a: T => a.shape())
    }
    fn address(&self) -> usize {
        with_array!(self, a: T => a.view().as_ptr() as usize)
    }
    fn writable(&self) -> bool {
        with_array!(self, a: T => a.is_writable())
    }
}

/// A shared array: memory that worker processes map, and that numpy reads
/// and writes in place (`numpy.asarray(a)`, no copy).
#[pyclass(module = "shmr._shmr", name = "Array", frozen)]
pub(crate) struct Array {
    pub(crate) inner: AnyArray,
    name: Option<String>,
}

impl Array {
    fn new(inner: AnyArray, name: Option<String>) -> Array {
        Array { inner, name }
    }
}

#[pymethods]
impl Array {
    /// The array's shape.
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.inner.shape().to_vec()
    }

    /// numpy's type string of its elements (`'<f8'` for float64).
    #[getter]
    fn dtype(&self) -> &'static str {
        typestr(self.inner.dtype())
    }

    /// Its name in `/dev/shm`, for a named array.
    #[getter]
    fn name(&self) -> Option<String> {
        self.name.clone()
    }

    /// Whether numpy may write it (an `.npy` file opened read-only may not).
    #[getter]
    fn writable(&self) -> bool {
        self.inner.writable()
    }

    /// numpy's array interface (version 3): the shared mapping's address,
    /// shape and element type, C order. numpy keeps this object as the
    /// base of the arrays it makes from it, so the mapping outlives them.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("shape", PyTuple::new(py, self.inner.shape())?)?;
        d.set_item("typestr", typestr(self.inner.dtype()))?;
        d.set_item("data", (self.inner.address(), !self.inner.writable()))?;
        d.set_item("version", 3)?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.inner.shape().first().copied().unwrap_or(1)
    }

    fn __repr__(&self) -> String {
        let name = self
            .name
            .as_deref()
            .map(|n| format!(", name={n:?}"))
            .unwrap_or_default();
        format!(
            "shmr.Array(shape={:?}, dtype={:?}{name})",
            self.inner.shape(),
            typestr(self.inner.dtype())
        )
    }
}

/// A new shared array of zeros.
#[pyfunction]
pub(crate) fn zeros(shape: Vec<usize>, dtype: &str) -> PyResult<Array> {
    let d = dtype_of(dtype)?;
    let inner =
        make_array!(d, T => SharedArray::<T, IxDyn>::zeros(IxDyn(&shape))).map_err(to_py)?;
    Ok(Array::new(inner, None))
}

/// A shared copy of the numpy array `x`, which must be a `numpy.ndarray`
/// (no subclass: its array interface is numpy's own) in C order, aligned
/// and in native byte order (`shmr.from_numpy` makes it so). Its bytes are
/// written into the new segment's file before it is mapped, with the GIL
/// released: the caller must not write `x` meanwhile.
#[pyfunction]
pub(crate) fn copy_of(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<Array> {
    let refuse = |why: String| to_py(shmr::Error::InvalidConfig(why));
    let ndarray = py.import("numpy")?.getattr("ndarray")?;
    if !x.get_type().is(&ndarray) {
        return Err(refuse(format!(
            "copy_of takes a numpy.ndarray, not {}: use shmr.from_numpy",
            x.get_type().name()?
        )));
    }
    let interface = x.getattr("__array_interface__")?;
    if !interface.get_item("strides")?.is_none() {
        return Err(refuse(
            "copy_of takes an array in C order: use shmr.from_numpy".into(),
        ));
    }
    let shape: Vec<usize> = interface.get_item("shape")?.extract()?;
    let dtype = dtype_of(&interface.get_item("typestr")?.extract::<String>()?)?;
    let (address, _read_only): (usize, bool) = interface.get_item("data")?.extract()?;
    let len = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| refuse(format!("an array of shape {shape:?} has too many elements")))?;
    let inner = make_array!(dtype, T => {
        // (An empty array's address is never read.)
        if len > 0 && address % std::mem::align_of::<T>() != 0 {
            Err(shmr::Error::InvalidConfig(
                "copy_of takes an aligned array: use shmr.from_numpy".into(),
            ))
        } else {
            let start = if len == 0 {
                std::ptr::NonNull::<T>::dangling().as_ptr().cast_const()
            } else {
                address as *const T
            };
            #[allow(unsafe_code)]
            // SAFETY: `x` is a numpy.ndarray (checked exactly, so the
            // interface is numpy's), in C order (no strides) and aligned
            // (checked), so its data is `len` initialized elements of `T`
            // (the type its typestr names; every bit pattern is a value) at
            // `address`; `x` is borrowed for this call, so its buffer lives
            // until it returns (numpy refuses to resize an array others
            // reference). The bytes are only read, by the kernel (pwrite);
            // that no one writes them meanwhile is the caller's promise,
            // as for any array shmr reads.
            let data = unsafe { std::slice::from_raw_parts(start, len) };
            match ndarray::ArrayView::from_shape(IxDyn(&shape), data) {
                Ok(view) => py.detach(|| SharedArray::<T, IxDyn>::from_array(&view)),
                Err(e) => Err(shmr::Error::InvalidConfig(format!(
                    "an array of shape {shape:?}: {e}"
                ))),
            }
        }
    })
    .map_err(to_py)?;
    Ok(Array::new(inner, None))
}

fn mode(writable: bool) -> NpyMode {
    if writable {
        NpyMode::ReadWrite
    } else {
        NpyMode::ReadOnly
    }
}

/// Maps an `.npy` file (C order, little-endian) without reading it.
#[pyfunction]
#[pyo3(signature = (path, writable = false))]
pub(crate) fn open_npy(path: PathBuf, writable: bool) -> PyResult<Array> {
    let header = shmr::npy_header(&path).map_err(to_py)?;
    // SAFETY: the Python API's documented promise, passed on: no process
    // truncates the file, or writes it while jobs read it, while it is
    // mapped.
    #[allow(unsafe_code)]
    let inner = make_array!(header.dtype(), T => unsafe {
        SharedArray::<T, IxDyn>::open_npy(&path, mode(writable))
    })
    .map_err(to_py)?;
    Ok(Array::new(inner, None))
}

/// Maps `shape` elements of `dtype` found at byte `offset` of a raw file.
#[pyfunction]
#[pyo3(signature = (path, offset, shape, dtype, writable = false))]
pub(crate) fn open_raw(
    path: PathBuf,
    offset: u64,
    shape: Vec<usize>,
    dtype: &str,
    writable: bool,
) -> PyResult<Array> {
    let d = dtype_of(dtype)?;
    // SAFETY: as for `open_npy`.
    #[allow(unsafe_code)]
    let inner = make_array!(d, T => unsafe {
        SharedArray::<T, IxDyn>::open_raw(&path, offset, IxDyn(&shape), mode(writable))
    })
    .map_err(to_py)?;
    Ok(Array::new(inner, None))
}

/// A new named array in `/dev/shm`, removed when this object goes.
#[pyfunction]
pub(crate) fn create(name: &str, shape: Vec<usize>, dtype: &str) -> PyResult<Array> {
    let d = dtype_of(dtype)?;
    let inner = make_array!(d, T => SharedArray::<T, IxDyn>::create_named(name, IxDyn(&shape)))
        .map_err(to_py)?;
    Ok(Array::new(inner, Some(name.to_string())))
}

/// Attaches to a named array another process made with `create` (or any
/// `.npy` image in `/dev/shm`).
#[pyfunction]
pub(crate) fn attach(name: &str) -> PyResult<Array> {
    let path = PathBuf::from("/dev/shm").join(name.trim_start_matches('/'));
    let header = shmr::npy_header(&path).map_err(to_py)?;
    // SAFETY: as for `open_npy`: no process shrinks the segment or writes
    // it while jobs read it.
    #[allow(unsafe_code)]
    let inner = make_array!(header.dtype(), T => unsafe { SharedArray::<T, IxDyn>::attach(name) })
        .map_err(to_py)?;
    Ok(Array::new(inner, None))
}
