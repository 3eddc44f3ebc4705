//! Who is told when a segment is dropped.
//!
//! Workers keep the segments they mapped between jobs; when an array is
//! dropped, whoever handed it to workers must tell them to let go, so that
//! the memory is freed now rather than when the pool ends. The memory layer
//! cannot name pools (they sit above it), so pools register here as
//! listeners, held weakly, and an array's drop calls them.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Something that must hear of dropped segments.
pub(crate) trait Listener: Send + Sync {
    /// Segment `id` was dropped by its owner.
    fn released(&self, id: u64);
}

fn listeners() -> MutexGuard<'static, Vec<Weak<dyn Listener>>> {
    static LISTENERS: Mutex<Vec<Weak<dyn Listener>>> = Mutex::new(Vec::new());
    // A panic while holding the lock leaves a list of weak references,
    // which is valid whatever happened: poisoning is not an error.
    LISTENERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `listener` for as long as it lives.
pub(crate) fn listen(listener: Weak<dyn Listener>) {
    listeners().push(listener);
}

/// Tells every live listener that segment `id` is gone. The list's lock is
/// not held while they run: a listener may take locks of its own.
pub(crate) fn released(id: u64) {
    let live: Vec<Arc<dyn Listener>> = {
        let mut all = listeners();
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    for l in live {
        l.released(id);
    }
}
