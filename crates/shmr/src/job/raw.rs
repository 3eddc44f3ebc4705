//! Partials that cross shared memory as their bytes: [`Raw`] for values of
//! a fixed size (`[u64; 768]`, a `#[derive(Pod)]` struct) and [`RawArray`]
//! for ndarray arrays of plain numbers.
//!
//! Why: a partial goes from a worker's mapper to the coordinator through
//! the worker's result ring, encoded with postcard. Postcard writes each
//! integer as a variable-length number and each float on its own, which for
//! a 1000 x 1000 matrix costs the worker several milliseconds to encode and
//! the coordinator as many to decode, on the one thread that folds every
//! partial. And serde stops at arrays of 32 elements. A `Raw` or `RawArray`
//! goes in as one copy of its bytes (postcard's byte string: a length, then
//! a `memcpy` into the ring) and comes out as one copy into aligned memory:
//! no per-element work, whatever the size. Both are ordinary serde types,
//! so nothing else in shmr knows about them.
//!
//! The bytes are the machine's own: a partial never leaves the machine, so
//! byte order is not a concern (a file or a socket would need one).

use bytemuck::Pod;
use ndarray::{Array, Dimension, IxDyn};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// A partial of plain old data of a fixed size, copied through shared
/// memory as its bytes instead of being serialized field by field.
///
/// `T` is any [`bytemuck::Pod`] type: numbers, arrays of them of any length
/// (`[u64; 768]`, which serde cannot serialize), and `#[repr(C)]` structs
/// that derive `Pod`. `Raw` derefs to `T`.
///
/// # Example
/// A 256-bin byte histogram, each chunk's counts a `[u64; 256]`:
/// ```
/// use shmr::Raw;
///
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let bytes = shmr::SharedArray::from_array(&ndarray::Array1::from_shape_fn(100_000, |i| (i % 7) as u8))?;
/// let counts = shmr::global_pool()?.on(&bytes).map_reduce(
///     |chunk| {
///         let mut c = Raw([0u64; 256]);
///         chunk.iter().for_each(|&b| c[b as usize] += 1);
///         c
///     },
///     |mut a, b| {
///         a.iter_mut().zip(b.iter()).for_each(|(x, y)| *x += y);
///         a
///     },
/// )?;
/// assert_eq!(counts[0], 14_286);
/// assert_eq!(counts.iter().sum::<u64>(), 100_000);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Raw<T>(pub T);

impl<T> Raw<T> {
    /// The value inside.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Raw<T> {
    fn from(value: T) -> Self {
        Raw(value)
    }
}

impl<T> Deref for Raw<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Raw<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Pod> Serialize for Raw<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytemuck::bytes_of(&self.0))
    }
}

impl<'de, T: Pod> Deserialize<'de> for Raw<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: Pod> Visitor<'_> for V<T> {
            type Value = Raw<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} bytes", size_of::<T>())
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw<T>, E> {
                if v.len() != size_of::<T>() {
                    return Err(E::invalid_length(v.len(), &self));
                }
                // The bytes sit at any offset in the ring: read unaligned.
                Ok(Raw(bytemuck::pod_read_unaligned(v)))
            }
        }
        d.deserialize_bytes(V(PhantomData))
    }
}

/// An ndarray array of plain numbers as a partial, copied through shared
/// memory as its shape and its bytes instead of element by element.
///
/// For large partials (a covariance matrix, a wide histogram) this is what
/// keeps the coordinator's share of the work small: decoding a 1000 x 1000
/// `i64` partial is one 8 MB copy, against several milliseconds for an
/// `Array2<i64>` through serde. `RawArray` derefs to the
/// [`Array`](ndarray::Array); arrays in any memory order are accepted and
/// arrive in standard (row-major) order.
///
/// # Example
/// ```
/// use ndarray::Array2;
/// use shmr::RawArray;
///
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// let x = shmr::SharedArray::from_array(&Array2::from_shape_fn((1000, 30), |(i, j)| (i * j % 5) as i64))?;
/// // X^T X, summed over chunks of rows: a 30 x 30 partial per chunk.
/// let xtx = shmr::global_pool()?.on(&x).map_reduce(
///     |rows| RawArray(rows.t().dot(&rows)),
///     |a, b| RawArray(a.0 + b.0),
/// )?;
/// let v = x.view();
/// assert_eq!(*xtx, v.t().dot(&v));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawArray<E, D: Dimension>(pub Array<E, D>);

impl<E, D: Dimension> RawArray<E, D> {
    /// The array inside.
    pub fn into_inner(self) -> Array<E, D> {
        self.0
    }
}

impl<E, D: Dimension> From<Array<E, D>> for RawArray<E, D> {
    fn from(a: Array<E, D>) -> Self {
        RawArray(a)
    }
}

impl<E, D: Dimension> Deref for RawArray<E, D> {
    type Target = Array<E, D>;
    fn deref(&self) -> &Array<E, D> {
        &self.0
    }
}

impl<E, D: Dimension> DerefMut for RawArray<E, D> {
    fn deref_mut(&mut self) -> &mut Array<E, D> {
        &mut self.0
    }
}

impl<E: Pod, D: Dimension> Serialize for RawArray<E, D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let standard = self.0.as_standard_layout();
        let elements = standard
            .as_slice()
            .expect("an array in standard layout is contiguous");
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(self.0.shape())?;
        t.serialize_element(&Bytes(bytemuck::cast_slice(elements)))?;
        t.end()
    }
}

/// A byte string for serde (a `&[u8]` would be a sequence of numbers).
struct Bytes<'b>(&'b [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Elements read from a byte string into aligned memory.
struct Elements<E>(Vec<E>);

impl<'de, E: Pod> Deserialize<'de> for Elements<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<E>(PhantomData<E>);
        impl<E: Pod> Visitor<'_> for V<E> {
            type Value = Elements<E>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number of {}-byte elements", size_of::<E>())
            }
            fn visit_bytes<Er: de::Error>(self, v: &[u8]) -> Result<Elements<E>, Er> {
                // Zero-sized elements have no bytes: their count is the
                // shape's, which the array fills in.
                if size_of::<E>() == 0 {
                    return match v.len() {
                        0 => Ok(Elements(Vec::new())),
                        n => Err(Er::invalid_length(n, &self)),
                    };
                }
                if !v.len().is_multiple_of(size_of::<E>()) {
                    return Err(Er::invalid_length(v.len(), &self));
                }
                Ok(Elements(bytemuck::pod_collect_to_vec(v)))
            }
        }
        d.deserialize_bytes(V(PhantomData))
    }
}

impl<'de, E: Pod, D: Dimension> Deserialize<'de> for RawArray<E, D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<E, D>(PhantomData<(E, D)>);
        impl<'de, E: Pod, D: Dimension> Visitor<'de> for V<E, D> {
            type Value = RawArray<E, D>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array's shape and its elements' bytes")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let shape: Vec<usize> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let Elements(mut v) = seq
                    .next_element::<Elements<E>>()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if size_of::<E>() == 0 {
                    v = vec![E::zeroed(); shape.iter().product()];
                }
                let dim = D::from_dimension(&IxDyn(&shape)).ok_or_else(|| {
                    de::Error::custom(format_args!(
                        "shape {shape:?} has {} axes, the array type {:?}",
                        shape.len(),
                        D::NDIM
                    ))
                })?;
                let n = v.len();
                Array::from_shape_vec(dim, v).map(RawArray).map_err(|_| {
                    de::Error::custom(format_args!("{n} elements for shape {shape:?}"))
                })
            }
        }
        d.deserialize_tuple(2, V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3, Ix2, IxDyn, arr2};

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(v: &T) -> T {
        postcard::from_bytes(&postcard::to_allocvec(v).unwrap()).unwrap()
    }

    #[test]
    fn raw_values_of_any_size_come_back_bit_for_bit() {
        let big: [u64; 768] =
            std::array::from_fn(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        assert_eq!(round_trip(&Raw(big)).0, big);
        let floats = Raw([f64::NAN, -0.0, 1e-310, f64::INFINITY]);
        let back = round_trip(&floats);
        assert!(
            back.iter()
                .zip(floats.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // The encoding is the bytes: a length, then 768 x 8 bytes.
        assert_eq!(postcard::to_allocvec(&Raw(big)).unwrap().len(), 2 + 768 * 8);
    }

    #[test]
    fn raw_refuses_bytes_of_another_size() {
        let bytes = postcard::to_allocvec(&Raw([1u32; 3])).unwrap();
        let err = postcard::from_bytes::<Raw<[u32; 4]>>(&bytes);
        assert!(err.is_err());
    }

    #[test]
    fn raw_arrays_keep_shape_and_values_in_any_layout() {
        let a = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 100 + j * 10 + k) as i64 - 7);
        assert_eq!(round_trip(&RawArray(a.clone())).0, a);
        // A transposed (column-major) array arrives in standard layout, equal.
        let t = arr2(&[[1.5f32, 2.5, 3.5], [4.5, 5.5, 6.5]]).reversed_axes();
        let back = round_trip(&RawArray(t.clone())).0;
        assert_eq!(back, t);
        assert!(back.is_standard_layout());
        // Empty and dynamic-dimension arrays too.
        let e = Array2::<u8>::zeros((0, 9));
        assert_eq!(round_trip(&RawArray(e.clone())).0, e);
        let dynamic = a.clone().into_dyn();
        assert_eq!(round_trip(&RawArray(dynamic.clone())).0, dynamic);
    }

    #[test]
    fn raw_arrays_refuse_a_wrong_rank_or_length() {
        let three = postcard::to_allocvec(&RawArray(Array3::<u16>::zeros((2, 2, 2)))).unwrap();
        assert!(postcard::from_bytes::<RawArray<u16, Ix2>>(&three).is_err());
        // The same bytes read as u32 elements: 4 per 8 bytes, shape says 8.
        assert!(postcard::from_bytes::<RawArray<u32, IxDyn>>(&three).is_err());
        assert!(postcard::from_bytes::<RawArray<u16, IxDyn>>(&three).is_ok());
    }
}
