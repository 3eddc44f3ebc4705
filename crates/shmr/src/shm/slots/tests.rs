//! The rings tested alone: the reader against every cut and bytes, and a
//! writer thread that wraps and waits.

use super::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(crate::fuzz_config())]

    /// Whatever another process left in a ring, reading it is an error
    /// or a record inside it, never a panic or a read outside.
    #[test]
    fn arbitrary_rings_never_panic(
        ring in prop::collection::vec(any::<u8>(), 0..300),
        from in 0u64..1000,
        len in 0u64..400,
    ) {
        let bytes = RingBytes { ptr: ring.as_ptr(), cap: ring.len(), _segment: std::marker::PhantomData };
        let to = from + len.min(ring.len() as u64);
        // SAFETY: nothing writes `ring` meanwhile.
        match unsafe { parse_head(&bytes, from, to) } {
            Ok((at, Some(h))) => {
                prop_assert!(h.payload.end <= ring.len() && h.next <= to && h.next > at && at >= from);
            }
            Ok((at, None)) => prop_assert_eq!(at, to),
            Err(at) => prop_assert!(at >= from && at < to, "{at}"),
        }
    }
}

/// One worker writes records of every size up to its whole ring,
/// wrapping and waiting for room; the coordinator takes them in order
/// on another thread; every record comes back intact.
#[test]
fn records_stream_through_the_ring_in_order() {
    let slots = Slots::create(1, 1024).unwrap();
    let fd = rustix::io::fcntl_dupfd_cloexec(slots.segment().fd(), 0).unwrap();
    let theirs = Slots::from_segment(Segment::from_fd(0, fd, true).unwrap(), 1024, 1).unwrap();
    let cap = slots.ring_bytes();
    let n = 3000u64;
    // Record i holds i repeated, in a Vec whose length cycles up to
    // what fills the ring with its header.
    let payload =
        move |i: u64| vec![(i % 251) as u8; (i as usize * 37) % (cap - RECORD_HEADER - 8)];
    // The coordinator's side takes nothing until the writer has filled
    // its ring and said so: the wait for room is exercised every run.
    let notified = std::sync::Arc::new(AtomicU32::new(0));
    let told = notified.clone();
    let writer = std::thread::spawn(move || {
        // SAFETY: this thread is the only writer of region 0.
        let mut slot = unsafe { WorkerSlot::new(theirs, 0) }.unwrap();
        let notify = || {
            told.fetch_add(1, Ordering::SeqCst);
        };
        let mut job = slot.job(&notify);
        for i in 0..n {
            job.writer.push(i, &payload(i), &notify).unwrap();
        }
    });
    while notified.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    let mut next = 0;
    while next < n {
        let got = slots
            .take_if(0, |chunk, bytes| {
                Some((chunk, postcard::from_bytes::<Vec<u8>>(bytes).unwrap()))
            })
            .unwrap();
        match got {
            Some((chunk, bytes)) => {
                assert_eq!(chunk, Record::Chunk(next));
                assert_eq!(bytes, payload(next));
                next += 1;
            }
            None => std::thread::yield_now(),
        }
    }
    writer.join().unwrap();
    assert_eq!(slots.take_if(0, |_, _| Some(())).unwrap(), None);
    // A record larger than the whole ring is refused, with its size
    // (in a new job: the coordinator resets the slots first).
    slots.reset(0);
    let fd = rustix::io::fcntl_dupfd_cloexec(slots.segment().fd(), 0).unwrap();
    let theirs = Slots::from_segment(Segment::from_fd(0, fd, true).unwrap(), 1024, 1).unwrap();
    // SAFETY: the writer above is gone; this is the only one.
    let mut slot = unsafe { WorkerSlot::new(theirs, 0) }.unwrap();
    let mut job = slot.job(&|| ());
    let err = job.writer.push(7, &vec![0u8; cap], &|| ()).unwrap_err();
    assert!(
        matches!(err, Error::SlotOverflow { chunk: 7, needed, .. } if needed as usize > cap),
        "{err:?}"
    );
}

proptest! {
    #![proptest_config(crate::fuzz_config())]

    /// However the workers' claims interleave, a round's claims hand out
    /// each index once, all of them, in blocks of one per worker: the
    /// i-th claim lies in block i / W, and is the claimer's own index of
    /// the block when that was still free. A reset frees them all again.
    #[test]
    fn claims_keep_to_their_blocks_and_their_workers(
        workers in 1usize..6,
        total in 0u64..300,
        order in prop::collection::vec(0usize..6, 0..400),
        affine in any::<bool>(),
    ) {
        let slots = Slots::create(workers, MIN_SLOT_BYTES).unwrap();
        for _ in 0..2 {
            slots.reset(total);
            let mut taken = vec![false; total as usize];
            let w64 = workers as u64;
            for (i, w) in order.iter().map(|w| w % workers).enumerate() {
                let i = i as u64;
                let got = slots.claim(w, total, affine);
                if i >= total {
                    prop_assert_eq!(got, None);
                    continue;
                }
                let k = got.expect("a claim while indices are left gets one");
                prop_assert!(k < total && !taken[k as usize], "{} twice or out of range", k);
                if affine {
                    prop_assert_eq!(k / w64, i / w64, "claim {} left its block", i);
                    let own = i / w64 * w64 + w as u64;
                    if own < total && !taken[own as usize] {
                        prop_assert_eq!(k, own, "worker {} passed over its own index", w);
                    }
                } else {
                    prop_assert_eq!(k, i);
                }
                taken[k as usize] = true;
            }
            prop_assert_eq!(slots.claimed(), order.len() as u64);
            let handed = taken.iter().filter(|&&t| t).count() as u64;
            prop_assert_eq!(handed, total.min(order.len() as u64));
        }
    }
}
