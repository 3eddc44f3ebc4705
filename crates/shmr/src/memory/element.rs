//! Element types a [`SharedArray`](crate::SharedArray) can hold.

use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// The element type of an array, as recorded in a segment header.
///
/// The codes are part of the segment format and never change meaning.
///
/// # Example
/// ```
/// use shmr::{DType, Element};
/// assert_eq!(f64::DTYPE, DType::F64);
/// assert_eq!(DType::F64.size(), 8);
/// assert_eq!(DType::from_code(DType::I16.code()), Some(DType::I16));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[repr(u32)]
pub enum DType {
    /// `i8`
    I8 = 1,
    /// `i16`
    I16 = 2,
    /// `i32`
    I32 = 3,
    /// `i64`
    I64 = 4,
    /// `u8`
    U8 = 5,
    /// `u16`
    U16 = 6,
    /// `u32`
    U32 = 7,
    /// `u64`
    U64 = 8,
    /// `f32`
    F32 = 9,
    /// `f64`
    F64 = 10,
}

impl DType {
    /// Every element type, in code order.
    pub const ALL: [DType; 10] = [
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F32,
        DType::F64,
    ];

    /// The code stored in segment headers.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The type for a header code, if it is one.
    pub fn from_code(code: u32) -> Option<DType> {
        Self::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// The Rust name of the type (`"f64"`).
    pub fn name(self) -> &'static str {
        match self {
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

/// Runs `$body` with `$t` standing for the Rust type of the run-time
/// [`DType`] `$dtype`: the way to open arrays whose element type is only
/// known from a file's header.
///
/// # Example
/// ```
/// use shmr::{DType, with_dtype};
/// fn bytes(d: DType) -> usize {
///     with_dtype!(d, T => std::mem::size_of::<T>())
/// }
/// assert_eq!(bytes(DType::U16), 2);
/// assert!(DType::ALL.iter().all(|&d| bytes(d) == d.size()));
/// ```
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::DType::U32 => {
                type $t = u32;
                $body
            }
            $crate::DType::U64 => {
                type $t = u64;
                $body
            }
            $crate::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A numeric type that can live in shared memory.
///
/// Implemented for `f32`, `f64`, `i8` to `i64` and `u8` to `u64`: plain
/// values for which every bit pattern is valid, so bytes another process
/// wrote can never make an invalid value. The trait is sealed for that reason.
///
/// `Sum` is the type the built-in `builtin::Sum` returns: `f64` for
/// floats, `i128` for signed and `u128` for unsigned integers, wide enough
/// that an integer sum is exact and cannot overflow.
pub trait Element:
    Copy + Send + Sync + Default + PartialOrd + fmt::Debug + 'static + sealed::Sealed
{
    /// The header code of this type.
    const DTYPE: DType;
    /// The exact (integers) or double-precision (floats) sum type.
    type Sum: Copy
        + Default
        + PartialEq
        + fmt::Debug
        + std::ops::Add<Output = Self::Sum>
        + Serialize
        + DeserializeOwned
        + Send
        + 'static;
    /// The value as `f64` (exact for all but the widest integers).
    fn to_f64(self) -> f64;
    /// Sums a slice; floats use several independent lanes so the loop
    /// vectorizes, integers are summed exactly.
    fn sum_slice(xs: &[Self]) -> Self::Sum;
    /// Sums each column of rows of `cols` values laid end to end (a C-order
    /// table's chunk), reading them in order: floats in lanes, integers
    /// exactly. `xs.len()` is a multiple of `cols`.
    #[doc(hidden)]
    fn sum_columns(xs: &[Self], cols: usize) -> Vec<Self::Sum>;
    /// The bytes of `xs`, in this machine's order (every element type is a
    /// plain number: no padding, every bit pattern a value).
    #[doc(hidden)]
    fn as_bytes(xs: &[Self]) -> &[u8];
}

/// Rows per block of a column kernel: enough that a block holds 32 lanes
/// (independent accumulators, which hide the add latency), at least 4.
fn rows_per_block(cols: usize) -> usize {
    32_usize.div_ceil(cols.max(1)).max(4)
}

/// Lane `u * cols + j` of a block's accumulators holds column `j` of the
/// block's row `u`: combines each column's lanes pairwise, in a fixed
/// order (row `i` with row `i + ceil(rows / 2)`, until one is left).
pub(crate) fn combine_lanes(lanes: &[f64], cols: usize, op: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let cols = cols.max(1);
    let mut v = lanes.to_vec();
    let mut rows = v.len() / cols;
    while rows > 1 {
        let keep = rows.div_ceil(2);
        let (head, tail) = v.split_at_mut(keep * cols);
        head.iter_mut()
            .zip(tail.iter())
            .for_each(|(a, &b)| *a = op(*a, b));
        rows = keep;
        v.truncate(rows * cols);
    }
    v
}

/// Lanes for float sums: enough independent accumulators to hide the add
/// latency and let LLVM use full vector registers.
const LANES: usize = 16;

macro_rules! float_element {
    ($t:ty, $d:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            type Sum = f64;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn sum_slice(xs: &[Self]) -> f64 {
                sum_float(xs)
            }
            fn sum_columns(xs: &[Self], cols: usize) -> Vec<f64> {
                sum_float_columns(xs, cols)
            }
            fn as_bytes(xs: &[Self]) -> &[u8] {
                bytemuck::cast_slice(xs)
            }
        }
    };
}

/// The float sum kernel, compiled for AVX and for the baseline and chosen
/// at run time. Lanes are independent and combined in a fixed order, so
/// every version gives the same bits (no FMA, which would round
/// differently).
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+avx"))]
fn sum_float<A: Element>(xs: &[A]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (blocks, tail) = xs.as_chunks::<LANES>();
    for b in blocks {
        for j in 0..LANES {
            acc[j] += b[j].to_f64();
        }
    }
    let mut rest = 0.0;
    for &x in tail {
        rest += x.to_f64();
    }
    pairwise(&mut acc) + rest
}

/// Column sums of floats: each block of rows added lane by lane, a lane
/// per (row of the block, column), so the loop vectorizes for any number
/// of columns; like `sum_float`, the same bits in every version.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+avx"))]
fn sum_float_columns<A: Element>(xs: &[A], cols: usize) -> Vec<f64> {
    let cols = cols.max(1);
    let block = rows_per_block(cols) * cols;
    let mut acc = vec![0.0f64; block];
    let mut blocks = xs.chunks_exact(block);
    for b in &mut blocks {
        for (a, &x) in acc.iter_mut().zip(b) {
            *a += x.to_f64();
        }
    }
    // The last rows, fewer than a block, in the first lanes.
    for (a, &x) in acc.iter_mut().zip(blocks.remainder()) {
        *a += x.to_f64();
    }
    combine_lanes(&acc, cols, |a, b| a + b)
}

/// Combines lane accumulators pairwise, in a fixed order.
fn pairwise(acc: &mut [f64; LANES]) -> f64 {
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            acc[i] += acc[i + n];
        }
    }
    acc[0]
}

macro_rules! int_element {
    ($t:ty, $d:ident, $sum:ty, $lane:ty) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            type Sum = $sum;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn sum_slice(xs: &[Self]) -> $sum {
                // Narrow integers add up in 64-bit lanes (vectorizable) over
                // blocks short enough that a lane cannot overflow, then into
                // the 128-bit total.
                const BLOCK: usize = 1 << 16;
                let mut total: $sum = 0;
                for block in xs.chunks(BLOCK) {
                    let mut acc: [$lane; 8] = [0; 8];
                    let mut it = block.chunks_exact(8);
                    for b in &mut it {
                        for (a, &x) in acc.iter_mut().zip(b) {
                            *a += x as $lane;
                        }
                    }
                    for &x in it.remainder() {
                        acc[0] += x as $lane;
                    }
                    total += acc.iter().map(|&a| a as $sum).sum::<$sum>();
                }
                total
            }
            fn as_bytes(xs: &[Self]) -> &[u8] {
                bytemuck::cast_slice(xs)
            }
            fn sum_columns(xs: &[Self], cols: usize) -> Vec<$sum> {
                // As `sum_slice`, a lane per (row of a block, column): each
                // lane adds at most BLOCK / cols values between flushes.
                const BLOCK: usize = 1 << 16;
                let cols = cols.max(1);
                let lanes = rows_per_block(cols) * cols;
                let mut totals: Vec<$sum> = vec![0; cols];
                let mut acc: Vec<$lane> = vec![0; lanes];
                for run in xs.chunks(BLOCK.div_ceil(lanes) * lanes) {
                    for b in run.chunks(lanes) {
                        for (a, &x) in acc.iter_mut().zip(b) {
                            *a += x as $lane;
                        }
                    }
                    for (k, a) in acc.iter_mut().enumerate() {
                        totals[k % cols] += std::mem::take(a) as $sum;
                    }
                }
                totals
            }
        }
    };
}

float_element!(f32, F32);
float_element!(f64, F64);
int_element!(i8, I8, i128, i64);
int_element!(i16, I16, i128, i64);
int_element!(i32, I32, i128, i64);
int_element!(i64, I64, i128, i128);
int_element!(u8, U8, u128, u64);
int_element!(u16, U16, u128, u64);
int_element!(u32, U32, u128, u64);
int_element!(u64, U64, u128, u128);
