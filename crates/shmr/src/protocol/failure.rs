//! Why a worker could not finish its part of a job, as it tells the
//! coordinator.

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// Why a worker could not finish its part of a job.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Failure {
    Panicked {
        chunk: u64,
        rows: (u64, u64),
        message: String,
    },
    SlotOverflow {
        chunk: u64,
        needed: u64,
        available: u64,
        capacity: u64,
    },
    /// The job was aborted (a worker died holding a lock) while this one
    /// waited for that lock.
    Aborted,
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            } => Failure::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            },
            other => Failure::Other(other.to_string()),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Panicked {
                chunk,
                rows,
                message,
            } => Error::MapperPanicked {
                chunk,
                rows: rows.0..rows.1,
                message,
            },
            Failure::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            } => Error::SlotOverflow {
                chunk,
                needed,
                available,
                capacity,
            },
            Failure::Aborted => Error::Protocol(
                "a worker's job was aborted, but the coordinator saw no death".into(),
            ),
            Failure::Other(m) => Error::Protocol(format!("worker failed: {m}")),
        }
    }
}
