//! What crosses between the coordinator and a worker: the control channel
//! (a socket carrying small messages and segment descriptors), the
//! messages, functions named by address, and failures as workers report
//! them. Array data never crosses it.
//!
//! Built on `memory` and `shm`; knows nothing of pools or of the worker
//! loop.

mod channel;
mod failure;
mod fnaddr;

pub(crate) use channel::{
    Access, Channel, FromWorker, Layout, MapJob, Mapping, PROTOCOL, ToWorker, wait_any,
};
pub(crate) use failure::Failure;
pub(crate) use fnaddr::{FnAddr, FnPtr, Func, fn_ptr};
