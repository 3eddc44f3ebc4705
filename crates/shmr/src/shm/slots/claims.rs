//! Claims: how the workers of a round share its chunks without a message
//! per chunk.
//!
//! One counter, bumped by every claim, hands out claims in turn. Claims come
//! in blocks of one per worker (claims `b*W..(b+1)*W` of a pool of `W`), and
//! a block's claims take its `W` chunks, one each: worker *w* its *w*-th
//! chunk when no other claim of the block has taken it, the block's first
//! free one otherwise. While the workers take turns, each maps the same
//! chunks of an array job after job, and its page tables already hold
//! their pages (docs/design.md, "Page tables and the claim order"). A bit
//! per chunk, in the control pages after the control words, says which are
//! taken.

use super::{STOP_CLAIMS, Slots, WORDS_BYTES};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of the taken bits, after the control words.
pub(super) const TAKEN_BYTES: usize = 60 << 10;
/// The most chunks a round may have for its claims to keep to their
/// workers (one bit each); a round with more is claimed in plain order.
const MAX_AFFINE_CHUNKS: u64 = (TAKEN_BYTES * 8) as u64;

impl Slots {
    /// The shared claim counter: the next claim's index, for the workers'
    /// `fetch_add` ([`Slots::claim`]).
    pub(super) fn claims(&self) -> &AtomicU64 {
        self.control_word(0)
    }

    /// The next claim of `worker` in a round of `total` claims, if any is
    /// left: a claim index in `0..total` that no other claim of the round
    /// gets. With `affine`, the claim's block (claims `b*W..(b+1)*W` of `W`
    /// workers) gives `worker` its `worker`-th index if no other claim of
    /// the block took it first, and the block's first free one otherwise;
    /// the block's `W` claims take its `W` indices, one each. Without, the
    /// index is the claim's own (a round over some chunks only, or over
    /// more than [`MAX_AFFINE_CHUNKS`]).
    ///
    /// Each worker's claims come in increasing blocks, so the fold's next
    /// chunk is never behind more than the rest of its block in a ring
    /// (`coordinator/fold.rs` takes those early). The counter is bumped
    /// `SeqCst`, in one total order with the `in progress` words: see
    /// `JobMemory::claim` for what the coordinator concludes.
    pub(crate) fn claim(&self, worker: usize, total: u64, affine: bool) -> Option<u64> {
        let k = self.claims().fetch_add(1, Ordering::SeqCst);
        if k >= total {
            return None;
        }
        if !affine || total > MAX_AFFINE_CHUNKS {
            return Some(k);
        }
        let w = self.workers as u64;
        let start = k / w * w;
        let end = (start + w).min(total);
        let own = start + worker as u64;
        // A block has as many claims as indices, each taking one, so a
        // claim finds one free: at most the others have taken theirs.
        (own < end)
            .then_some(own)
            .into_iter()
            .chain(start..end)
            .find(|&i| self.take_index(i))
    }

    /// Takes index `i` of the round: whether it was free. Only claimers
    /// of its block race for it; read-modify-writes of one word are in one
    /// order whatever their ordering, so `Relaxed` lets one of them win.
    fn take_index(&self, i: u64) -> bool {
        let word = self.taken_word(i as usize / 64);
        let bit = 1u64 << (i % 64);
        word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Word `i` of the taken bits.
    fn taken_word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i * 8 + 8 <= TAKEN_BYTES);
        self.segment.atomic_u64(WORDS_BYTES + i * 8)
    }

    /// How many claims have been made this job (past the selection's end
    /// once every chunk is claimed, or once claiming was stopped). `SeqCst`,
    /// in one total order with the workers' claims and `in progress`
    /// words: see `JobMemory::claim` for what the coordinator concludes.
    pub(crate) fn claimed(&self) -> u64 {
        self.claims().load(Ordering::SeqCst)
    }

    /// Stops the job's claiming: every later claim is past any selection.
    /// Workers that hold a chunk finish it; none takes another.
    pub(crate) fn stop_claims(&self) {
        self.claims().fetch_max(STOP_CLAIMS, Ordering::SeqCst);
    }

    /// Frees the taken bits of a round of `total` claims (the coordinator,
    /// before the round; no worker claims meanwhile).
    pub(super) fn clear_taken(&self, total: u64) {
        let bits = total.min(MAX_AFFINE_CHUNKS) as usize;
        for i in 0..bits.div_ceil(64) {
            self.taken_word(i).store(0, Ordering::Relaxed);
        }
    }
}
