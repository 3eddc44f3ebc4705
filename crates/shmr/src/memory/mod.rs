//! Shared memory and the arrays in it: segments (memfds, files, names in
//! `/dev/shm`), their headers, element types, and `.npy` files.
//!
//! The bottom layer: it knows nothing of pools, workers or jobs. What a
//! higher layer must hear of (an array dropped, so that workers unmap it)
//! it hears through [`release`], where it registers itself.

#![allow(unsafe_code)]

mod array;
mod available;
mod element;
pub(crate) use element::combine_lanes;
mod npy;
mod prefetch;
pub(crate) use prefetch::prefetch;
pub(crate) mod release;
mod segment;

pub use array::SharedArray;
pub(crate) use array::{ArrayRef, dim_for};
pub(crate) use available::check_memory;
pub use element::{DType, Element};
pub use npy::{NpyMode, npy_header};
pub use segment::Header;
pub(crate) use segment::Segment;
