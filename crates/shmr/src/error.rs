//! The one error type of the crate.
//!
//! Every message says what happened and, where the user can act, what to do.

use std::io;
use std::ops::Range;

/// Everything that can go wrong in shmr.
///
/// # Example
/// ```
/// let err = shmr::Pool::builder().workers(0).build().unwrap_err();
/// assert!(matches!(err, shmr::Error::InvalidConfig(_)));
/// assert!(err.to_string().contains("workers"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another rank of a job across ranks ([`JobBuilder::across`](crate::JobBuilder::across))
    /// failed; this rank's part went well but the job has no result.
    #[error(
        "rank {rank} of this job failed: {message}; every rank returns an error, see that rank's \
         output for the details"
    )]
    Rank {
        /// The rank that failed (the lowest, if several did).
        rank: usize,
        /// Its error, as it printed it.
        message: String,
    },

    /// MPI could not be used as the program expects: started the wrong
    /// way, or the ranks disagree about their data.
    #[error("MPI: {0}")]
    Mpi(String),

    /// A builder or call was given a setting that cannot work.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The requested array does not fit in the address space.
    #[error(
        "array of shape {shape:?} with {elem_bytes}-byte elements is too large to address; use a smaller shape"
    )]
    TooLarge {
        /// The requested shape.
        shape: Vec<usize>,
        /// Size of one element in bytes.
        elem_bytes: usize,
    },

    /// Shared memory could not be reserved: the system is out of memory, or
    /// the shared-memory filesystem is full. Reported when the segment is
    /// created (its pages are reserved up front), never later as a `SIGBUS`.
    #[error(
        "could not reserve {} of shared memory for {what}: {} is free ({source}); \
         free some memory (or shared-memory space), or ask for less",
        human_bytes(*requested),
        human_bytes(*available)
    )]
    OutOfSharedMemory {
        /// What the memory was for, naming the settings that size it.
        what: String,
        /// Bytes that were asked for.
        requested: u64,
        /// Bytes that were free when they were asked for.
        available: u64,
        /// What the operating system said (or why shmr did not ask it).
        #[source]
        source: io::Error,
    },

    /// An `.npy` file could not be used.
    #[error("{}: {reason}", path.display())]
    Npy {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, and what to do about it.
        reason: String,
    },

    /// A raw data file ([`SharedArray::open_raw`](crate::SharedArray::open_raw))
    /// could not be used.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, and what to do about it.
        reason: String,
    },

    /// A shared-memory segment did not hold what was expected.
    #[error("invalid shared-memory segment: {0}")]
    InvalidSegment(String),

    /// The array's element type or dimensionality is not the one asked for.
    #[error("type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// What the caller's types require.
        expected: String,
        /// What the segment holds.
        found: String,
    },

    /// A worker process could not be started or did not report for duty.
    #[error("could not start a worker process: {0}")]
    WorkerStart(String),

    /// A mapper panicked inside a worker. The worker survives.
    #[error("mapper panicked on chunk {chunk} (rows {rows:?}): {message}")]
    MapperPanicked {
        /// Index of the chunk being mapped.
        chunk: u64,
        /// Rows (along axis 0) of that chunk.
        rows: Range<u64>,
        /// The panic message and location.
        message: String,
    },

    /// A worker process died during a job (it aborted, crashed, ran out of
    /// memory or was killed) and the job could not be completed: the chunk
    /// it was mapping failed on every attempt allowed by
    /// [`PoolBuilder::retries`](crate::PoolBuilder::retries). The worker has
    /// been replaced.
    #[error(
        "worker process {pid} died ({status}){}, on attempt {attempts}; it has been replaced. \
         A mapper that crashes on the same chunk every time has a bug or meets bad data there; \
         one killed from outside (out of memory, say) may succeed if the job is run again",
        match (chunk, rows) {
            (Some(c), Some(r)) => format!(" while mapping chunk {c} (rows {r:?})"),
            _ => " between chunks".to_string(),
        }
    )]
    WorkerDied {
        /// The dead worker's process id.
        pid: u32,
        /// How it ended (exit code or signal).
        status: String,
        /// The chunk it was mapping, if any.
        chunk: Option<u64>,
        /// That chunk's rows along axis 0.
        rows: Option<Range<u64>>,
        /// Attempts made at the job's lost chunks, this one included.
        attempts: u32,
    },

    /// A worker died during a job that writes in place or under locks.
    /// Such writes cannot be undone, nor safely repeated (squaring a value
    /// twice is wrong), so the job is not retried: the rows it was writing,
    /// and the output stripe it held locked, may be partly written.
    #[error(
        "worker process {pid} died ({status}) during a job that writes{}{}; \
         what it was writing may be partly written and the job did not finish. \
         Restore the array (or start from a fresh output) and run the job again; the worker has been replaced",
        match (chunk, rows) {
            (Some(c), Some(r)) => format!(", while writing chunk {c} (rows {r:?})"),
            _ => String::new(),
        },
        match (stripe, elements) {
            (Some(s), Some(e)) => format!(" holding the lock of stripe {s} (output elements {e:?})"),
            _ => String::new(),
        }
    )]
    WriteInterrupted {
        /// The dead worker's process id.
        pid: u32,
        /// How it ended.
        status: String,
        /// The chunk it was mapping.
        chunk: Option<u64>,
        /// That chunk's rows along axis 0.
        rows: Option<Range<u64>>,
        /// The output stripe whose lock it held, in a locked job.
        stripe: Option<usize>,
        /// That stripe's flat element indices.
        elements: Option<Range<usize>>,
    },

    /// A job ran past its timeout. The workers still mapping were killed
    /// and replaced; or, in a job across ranks, this rank waited past the
    /// timeout for other ranks (`ranks`) to reach the exchange between
    /// them, and the ranks are out of step: end the program (see
    /// docs/distributed.md).
    #[error("{}", timeout_message(timeout, chunk, rows, *killed, ranks))]
    Timeout {
        /// The timeout that passed.
        timeout: std::time::Duration,
        /// The lowest chunk still being mapped.
        chunk: Option<u64>,
        /// That chunk's rows along axis 0.
        rows: Option<Range<u64>>,
        /// How many workers were killed.
        killed: usize,
        /// In a job across ranks, the ranks this one waited for past the
        /// timeout (this rank's own number if it came too late itself);
        /// empty otherwise.
        ranks: Vec<usize>,
    },

    /// The job's [`stop_when`](crate::JobBuilder::stop_when) check said to
    /// stop it (a Ctrl-C, a cancel button). The workers still mapping were
    /// killed and replaced; the pool is ready for the next job.
    #[error(
        "the job was stopped before it finished, as its stop_when check asked{}; {killed} \
         worker(s) still mapping were killed and replaced, and the pool is ready for another job",
        match (chunk, rows) {
            (Some(c), Some(r)) => format!(" (chunk {c}, rows {r:?}, was being mapped)"),
            _ => String::new(),
        }
    )]
    Stopped {
        /// The lowest chunk still being mapped.
        chunk: Option<u64>,
        /// That chunk's rows along axis 0.
        rows: Option<Range<u64>>,
        /// How many workers were killed.
        killed: usize,
    },

    /// A worker's key table, in a keyed job that keeps one table per
    /// worker, did not fit its result slot.
    #[error(
        "a worker's key table (a keyed job with one table per worker) needs a record of {needed} \
         bytes, more than the {available} a worker's result slot can hold at its largest \
         ({capacity} bytes, PoolBuilder::max_slot_bytes). The table is written in parts that fit; \
         what did not is one key with its value, or the table's last part with the list of the \
         chunks the worker mapped. Raise max_slot_bytes, emit smaller keys or values, or give \
         the job fewer, larger chunks (JobBuilder::chunk_size) so that the list is shorter"
    )]
    TableOverflow {
        /// Bytes the record needs.
        needed: u64,
        /// Bytes a record may have in a slot of the largest size.
        available: u64,
        /// The largest size a slot may grow to.
        capacity: u64,
    },

    /// User code that runs in the calling process, not in a worker (a
    /// reducer, or a keyed job's combiner when it merges tables), panicked.
    #[error(
        "the reducer panicked while folding partial results in this process: {message}. \
         Reducers, and the combiners of keyed jobs when they merge the workers' tables, run \
         here, not in a worker; the job's result is lost, the pool is intact. Fix the reducer \
         or combiner so that it returns a value for every pair of partials"
    )]
    ReducerPanicked {
        /// The panic's message.
        message: String,
    },

    /// A partial result did not fit in the worker's result slot.
    #[error(
        "the partial result of chunk {chunk} needs {needed} bytes, more than the {available} a worker's result slot can hold at its largest ({capacity} bytes, PoolBuilder::max_slot_bytes); raise max_slot_bytes, or return a smaller partial (smaller chunks help if the partial grows with the chunk)"
    )]
    SlotOverflow {
        /// The chunk whose partial did not fit.
        chunk: u64,
        /// Bytes its record needs.
        needed: u64,
        /// Bytes a record may have in a slot of the largest size.
        available: u64,
        /// The largest size a slot may grow to.
        capacity: u64,
    },

    /// A keyed job met more distinct keys than its tables may hold.
    #[error(
        "the job emitted more than {max_keys} distinct keys, the most its key tables may hold \
         (JobBuilder::max_keys); raise max_keys if the memory is there (about the key's size \
         plus 40 bytes per key, in the coordinator and in each worker's table), or emit fewer \
         distinct keys (coarser keys, a filter in the mapper)"
    )]
    KeyLimit {
        /// The limit the job had.
        max_keys: usize,
    },

    /// A key was emitted into a dense table outside its keys `0..keys`.
    #[error(
        "key {key} was emitted into a DenseTable of keys 0..{keys}; make the table as large as \
         the largest key plus one (DenseTable::new), or use a hashed KeyedTable for keys that \
         are not dense"
    )]
    KeyOutOfRange {
        /// The first key outside the table that was emitted.
        key: u64,
        /// The table's number of keys.
        keys: usize,
    },

    /// Job parameters are too large to send as a control message.
    #[error(
        "job parameters take {bytes} bytes, more than the {limit}-byte control-message limit; put large inputs in a SharedArray"
    )]
    ParamsTooLarge {
        /// Serialized size of the parameters.
        bytes: usize,
        /// The limit.
        limit: usize,
    },

    /// A value (parameters, a partial, a message) could not be encoded or
    /// decoded. The encoder's own error is kept as text: its type is not
    /// part of shmr's API, so that a new major version of it is not a
    /// breaking change of shmr's.
    #[error("serialization failed: {0}")]
    Serialization(String),

    /// The coordinator and a worker disagreed about the protocol. This is a
    /// bug in shmr, or the executable was replaced while running.
    #[error("protocol error between coordinator and worker: {0}")]
    Protocol(String),

    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What shmr was doing.
        context: &'static str,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for `Result<T, shmr::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The encoder's errors, turned into shmr's: crate-private, so that
/// `postcard::Error` appears nowhere in the public API (a `From` impl would).
pub(crate) trait Encoded<T> {
    /// This result, with an encoder error as [`Error::Serialization`].
    fn encoded(self) -> Result<T>;
}

impl<T> Encoded<T> for std::result::Result<T, postcard::Error> {
    fn encoded(self) -> Result<T> {
        self.map_err(|e| Error::Serialization(e.to_string()))
    }
}

impl Error {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { context, source }
    }
    pub(crate) fn os(context: &'static str) -> impl FnOnce(rustix::io::Errno) -> Error {
        move |e| Error::Io {
            context,
            source: e.into(),
        }
    }
}

/// `1.50 GiB (1610612736 bytes)`: readable, and exact for whoever needs it.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {} ({n} bytes)", UNITS[unit])
}

fn timeout_message(
    timeout: &std::time::Duration,
    chunk: &Option<u64>,
    rows: &Option<Range<u64>>,
    killed: usize,
    ranks: &[usize],
) -> String {
    if !ranks.is_empty() {
        return format!(
            "the job did not finish within {timeout:?}: rank(s) {ranks:?} did not reach the \
             exchange between ranks in time (stopped, stuck in a mapper or far behind). The ranks \
             are now out of step: end the program with an error (mpirun then stops every rank), \
             raise the timeout, or look at those ranks"
        );
    }
    let at = match (chunk, rows) {
        (Some(c), Some(r)) => format!(": chunk {c} (rows {r:?}) was still being mapped"),
        _ => String::new(),
    };
    format!(
        "the job did not finish within {timeout:?}{at}; {killed} worker(s) still mapping were \
         killed and replaced. Raise the timeout (PoolBuilder::timeout, or .timeout(..) on one \
         job's builder) or look for a mapper that never returns"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_counts_read_well() {
        assert_eq!(super::human_bytes(100), "100 bytes");
        assert_eq!(super::human_bytes(1536), "1.50 KiB (1536 bytes)");
        assert_eq!(super::human_bytes(3 << 30), "3.00 GiB (3221225472 bytes)");
    }
}
