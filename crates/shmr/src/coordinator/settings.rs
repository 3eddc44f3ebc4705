//! What a job may cost before it fails: set on the pool, changed per job.

use crate::error::{Error, Result};
use crate::shm::MAX_STRIPES;
use std::time::Duration;

/// A job's progress callback: chunks claimed so far, and chunks in all.
pub type ProgressFn<'a> = dyn Fn(u64, u64) + Sync + 'a;

/// A job's stop check ([`JobBuilder::stop_when`](crate::JobBuilder::stop_when)):
/// `true` ends the job.
pub type StopFn<'a> = dyn Fn() -> bool + Sync + 'a;

/// What a job may cost before it fails: set on the pool, changed per job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) stripes: usize,
    pub(crate) guard_writes: bool,
}

impl Settings {
    pub(crate) fn check(&self) -> Result<()> {
        if self.stripes == 0 || self.stripes > MAX_STRIPES {
            return Err(Error::InvalidConfig(format!(
                "stripes must be between 1 and {MAX_STRIPES}, got {}",
                self.stripes
            )));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidConfig(
                "a timeout of zero would fail every job; give a positive duration, or none".into(),
            ));
        }
        Ok(())
    }
}

/// How a worker process is started, when not as this executable again: a
/// program and its arguments that load this same build of shmr and call
/// [`init`](crate::init) first (an interpreter that loads shmr as an
/// extension, say).
#[derive(Clone, Debug)]
pub(crate) struct WorkerCommand {
    pub(crate) program: std::path::PathBuf,
    pub(crate) args: Vec<std::ffi::OsString>,
}
