//! What crosses between the coordinator and a worker: the control channel
//! (a socket carrying small messages and segment descriptors), the
//! messages, functions named by address, failures as workers report
//! them, and how a worker starts and joins. Array data never crosses it.
//!
//! Built on `memory` and `shm`; knows nothing of pools or of the worker
//! loop.

#![allow(unsafe_code)]

mod channel;
mod failure;
mod fnaddr;
mod spawn;

pub(crate) use channel::{
    Access, Channel, Entry, FromWorker, Layout, MapJob, Mapping, PROTOCOL, ToWorker, wait_any,
};
pub(crate) use failure::Failure;
pub(crate) use fnaddr::{FnAddr, FnPtr, Func, fn_ptr, probe};
pub(crate) use spawn::{
    Inherited, OUTPUT_FD, Role, WORKER_ENV, WORKER_FD, inherited, join, role, slot,
};
