//! A job's partials folded as they arrive: in chunk order for chunk
//! partials, so the result is the same left fold whatever the workers and
//! their timing; in any order for the parts of held (per-worker) partials,
//! which combine alike in any order.

use crate::error::Encoded;
use crate::error::{Error, Result};
use crate::job::Fold;
use crate::shm::{Record, Slots};
use serde::de::DeserializeOwned;

/// Takes records out of the slots while a round runs (a [`Folder`],
/// without its partial type).
pub(crate) trait Take {
    /// Takes what can be folded now; with `drain`, everything committed.
    fn pass(&mut self, slots: &Slots, drain: bool) -> Result<()>;
}

/// A job's partials folded in chunk order as they arrive: chunk 0, then
/// 1, ..., each folded as soon as it and all before it have arrived, so the
/// result is the same left fold whatever the workers and their timing.
/// Partials that arrive early stay in their worker's ring (where the
/// worker waits for room once it is full), unless they are of the next
/// chunk's block or the round can no longer fold in order (a chunk was
/// lost): then they are decoded and kept here. A worker claims chunks in
/// blocks of one per worker, increasing, but within a block in any order
/// (`Slots::claim`), so the next chunk can only be behind chunks of its
/// own block in a ring: taking those, fewer than one per worker, the next
/// chunk always comes to a ring's head.
pub(crate) struct Folder<'r, T> {
    next: u64,
    acc: Option<T>,
    /// Decoded partials after `next`.
    early: std::collections::BTreeMap<u64, T>,
    /// Which chunks have a partial, folded or early.
    done: Vec<bool>,
    reduce: &'r mut dyn FnMut(T, T) -> T,
    /// How the job's kind folds: a record of the other form is refused.
    fold: Fold,
    /// Bytes of the records taken, in all rounds.
    pub(super) bytes: u64,
    /// A panic of the reducer, returned as an error once the round is
    /// over (the pool's state stays whole meanwhile).
    panicked: Option<Box<dyn std::any::Any + Send>>,
    /// A held job's pieces so far, by worker slot, joined: decoded and
    /// folded only with the worker's last piece, which says which chunks
    /// they cover.
    pending: std::collections::HashMap<usize, Vec<u8>>,
}

/// A record taken from a slot.
enum Taken<T> {
    /// The partial of one chunk.
    Chunk(u64, T),
    /// A piece of a held partial's bytes, kept until its last.
    Piece,
    /// A held partial, decoded from its pieces, and the chunks it covers.
    Last(Vec<u64>, T),
}

impl<'r, T: DeserializeOwned> Folder<'r, T> {
    pub(super) fn new(chunks: u64, fold: Fold, reduce: &'r mut dyn FnMut(T, T) -> T) -> Self {
        Folder {
            next: 0,
            acc: None,
            early: std::collections::BTreeMap::new(),
            done: vec![false; chunks as usize],
            reduce,
            fold,
            bytes: 0,
            panicked: None,
            pending: std::collections::HashMap::new(),
        }
    }

    /// `reduce(a, b)`, unless the reducer has panicked (now or before):
    /// then `None`, and the panic is kept for [`Folder::finish`].
    fn combine(&mut self, a: Option<T>, b: T) -> Option<T> {
        if self.panicked.is_some() {
            return None;
        }
        let Some(a) = a else {
            return Some(b);
        };
        let reduce = &mut self.reduce;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reduce(a, b))) {
            Ok(v) => Some(v),
            Err(p) => {
                self.panicked = Some(p);
                None
            }
        }
    }

    /// Takes a held partial, once its last piece came: marks its chunks
    /// done and folds it, in whatever order workers finish (a held job's
    /// partials combine alike in any order).
    fn take_held(&mut self, taken: Taken<T>) -> Result<()> {
        match taken {
            Taken::Piece => {}
            Taken::Last(chunks, whole) => {
                let n = self.done.len();
                for &c in &chunks {
                    let done = self
                        .done
                        .get_mut(c as usize)
                        .ok_or_else(|| Error::Protocol(format!("result for chunk {c} of {n}")))?;
                    if std::mem::replace(done, true) {
                        return Err(Error::Protocol(format!("chunk {c} was mapped twice")));
                    }
                }
                let acc = self.acc.take();
                self.acc = self.combine(acc, whole);
            }
            Taken::Chunk(..) => unreachable!("internal: a chunk's record is not held"),
        }
        Ok(())
    }

    /// Drops the pieces of held partials whose last piece never came: they
    /// are of workers that died, whose chunks are mapped again.
    pub(super) fn drop_unfinished_held(&mut self) {
        self.pending.clear();
    }

    pub(super) fn missing(&self) -> Vec<u64> {
        (0..self.done.len() as u64)
            .filter(|&c| !self.done[c as usize])
            .collect()
    }

    pub(super) fn missing_count(&self) -> u64 {
        self.done.iter().filter(|d| !**d).count() as u64
    }

    /// Folds the partial of chunk `next`, then those that arrived early
    /// and now follow.
    fn fold(&mut self, value: T) {
        self.fold_one(value);
        while let Some(v) = self.early.remove(&self.next) {
            self.fold_one(v);
        }
    }

    fn fold_one(&mut self, value: T) {
        self.next += 1;
        let acc = self.acc.take();
        self.acc = self.combine(acc, value);
    }

    /// The result, or the reducer's panic as [`Error::ReducerPanicked`].
    pub(super) fn finish(self) -> Result<Option<T>> {
        match self.panicked {
            Some(p) => Err(Error::ReducerPanicked {
                message: crate::job::panic_message(&*p),
            }),
            None => Ok(self.acc),
        }
    }
}

/// A held partial from its last record and the pieces before it, if any
/// (joined, then decoded: a single piece is decoded where it lies).
fn held_last<T: DeserializeOwned>(before: Option<Vec<u8>>, record: &[u8]) -> Result<Taken<T>> {
    let (chunks, last) = postcard::from_bytes::<(Vec<u64>, &[u8])>(record).encoded()?;
    let whole = match before {
        None => postcard::from_bytes(last),
        Some(mut bytes) => {
            bytes.extend_from_slice(last);
            postcard::from_bytes(&bytes)
        }
    };
    Ok(Taken::Last(chunks, whole.encoded()?))
}

impl<T: DeserializeOwned> Take for Folder<'_, T> {
    fn pass(&mut self, slots: &Slots, drain: bool) -> Result<()> {
        let chunks = self.done.len() as u64;
        // A block's chunks: one per worker (see `Slots::claim`).
        let block = slots.workers() as u64;
        loop {
            let mut took = false;
            for w in 0..slots.workers() {
                loop {
                    // Decoded only if it is taken: the next in order, or any
                    // when draining; anything else stays in the ring.
                    let next = self.next;
                    let done = &self.done;
                    let fold = self.fold;
                    let pending = &mut self.pending;
                    let taken_bytes = &mut self.bytes;
                    let taken = slots.take_if(w, |record, bytes| {
                        let held = !matches!(record, Record::Chunk(_));
                        if held != (fold == Fold::AnyOrder) {
                            return Some(Err(Error::Protocol(format!(
                                "a record of the wrong form ({record:?}) for a job folded {fold:?}"
                            ))));
                        }
                        let chunk = match record {
                            Record::Chunk(chunk) => chunk,
                            // A held job's records are taken as they come.
                            Record::HeldPart => {
                                *taken_bytes += bytes.len() as u64;
                                return Some(postcard::from_bytes::<&[u8]>(bytes).encoded().map(
                                    |piece| {
                                        pending.entry(w).or_default().extend_from_slice(piece);
                                        Taken::Piece
                                    },
                                ));
                            }
                            Record::HeldLast => {
                                *taken_bytes += bytes.len() as u64;
                                return Some(held_last(pending.remove(&w), bytes));
                            }
                        };
                        if chunk >= chunks {
                            return Some(Err(Error::Protocol(format!(
                                "result for chunk {chunk} of {chunks}"
                            ))));
                        }
                        if done[chunk as usize] {
                            return Some(Err(Error::Protocol(format!(
                                "chunk {chunk} was mapped twice"
                            ))));
                        }
                        if !drain && chunk / block != next / block {
                            return None;
                        }
                        *taken_bytes += bytes.len() as u64;
                        Some(
                            postcard::from_bytes::<T>(bytes)
                                .encoded()
                                .map(|v| Taken::Chunk(chunk, v)),
                        )
                    })?;
                    let Some(taken) = taken else {
                        break;
                    };
                    let (chunk, value) = match taken? {
                        Taken::Chunk(chunk, value) => (chunk, value),
                        held => {
                            self.take_held(held)?;
                            took = true;
                            continue;
                        }
                    };
                    self.done[chunk as usize] = true;
                    took = true;
                    if chunk == self.next {
                        self.fold(value);
                    } else {
                        self.early.insert(chunk, value);
                    }
                }
            }
            if !took {
                return Ok(());
            }
        }
    }
}
