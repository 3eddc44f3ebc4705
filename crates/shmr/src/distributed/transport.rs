//! The MPI transport under [`World`]: shmr's [`Ranks`] over MPI. A job's
//! exchange is a meeting (a sleeping `MPI_Ibarrier`, or with a deadline a
//! meeting through rank 0 that names the ranks that did not come), then
//! steps of point-to-point messages (`MPI_Isend`, `MPI_Improbe`,
//! `MPI_Mrecv`) cut into pieces under MPI's 2 GiB limit; what each rank
//! sent and received is counted ([`Traffic`]). Checks that every rank
//! agrees on go through `MPI_Allgatherv`.

use super::World;
use crate::{Deadline, Error, Ranks, Result};
use mpi::Count;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::point_to_point::{Destination, Source};
use mpi::request::StaticScope;
use mpi::topology::{Communicator, Process, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use std::time::{Duration, Instant};

/// What one rank sent and received between ranks in the last job (from
/// the meeting before its exchange on, and whatever the program swapped
/// after it, a [`Keyed::gather`](crate::keyed::Keyed::gather) say): the
/// numbers the table in docs/distributed.md is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes this rank sent.
    pub sent_bytes: u64,
    /// Bytes this rank received.
    pub received_bytes: u64,
    /// Messages this rank sent.
    pub sent_messages: u64,
    /// Messages this rank received.
    pub received_messages: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    /// What was sent and received between two readings.
    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            sent_bytes: self.sent_bytes - earlier.sent_bytes,
            received_bytes: self.received_bytes - earlier.received_bytes,
            sent_messages: self.sent_messages - earlier.sent_messages,
            received_messages: self.received_messages - earlier.received_messages,
        }
    }
}

impl Traffic {
    fn add(&mut self, sent: u64, received: u64, sent_messages: u64, received_messages: u64) {
        self.sent_bytes += sent;
        self.received_bytes += received;
        self.sent_messages += sent_messages;
        self.received_messages += received_messages;
    }
}

/// The largest message shmr sends by default: 1 GiB, under MPI's 2 GiB
/// limit on one message's count; longer ones go as several.
pub const MESSAGE_LIMIT: usize = 1 << 30;

/// How long a step polls for its messages before it sleeps between polls.
const SPIN: Duration = Duration::from_millis(2);

/// How long ranks wait for rank 0's word past their own deadline at a
/// meeting: rank 0 speaks at its deadline, and the ranks' deadlines differ
/// by how far apart they started the job.
const MEET_GRACE: Duration = Duration::from_millis(500);

impl World {
    /// A barrier that sleeps while it waits. MPI's blocking collectives
    /// spin: a rank that finished its part would take a core from the
    /// workers of a rank still mapping on the same machine (measured: a
    /// 1 GiB sum under `mpirun -np 2` on 2 cores took 1.33x the
    /// single-machine time with spinning, see docs/distributed.md). So the
    /// ranks first meet in a non-blocking barrier tested with growing
    /// sleeps (10 us to 200 us), and only then swap their results.
    pub(super) fn arrive(&self) {
        let mut request = self.world.immediate_barrier();
        let mut nap = Duration::from_micros(10);
        loop {
            match request.test() {
                Ok(_) => return,
                Err(r) => request = r,
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_micros(200));
        }
    }
}

impl Ranks for World {
    fn rank(&self) -> usize {
        World::rank(self)
    }

    fn size(&self) -> usize {
        World::size(self)
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let waited = Instant::now();
        self.arrive();
        self.last_wait.set(self.last_wait.get() + waited.elapsed());
        let t = Instant::now();
        let out = all_gather(&self.world, mine)?;
        self.last_exchange
            .set(self.last_exchange.get() + t.elapsed());
        let received: usize = out.iter().map(Vec::len).sum::<usize>() - mine.len();
        let peers = (self.size() - 1) as u64;
        self.count(|t| t.add(mine.len() as u64 * peers, received as u64, peers, peers));
        Ok(out)
    }

    fn exchange(
        &self,
        to: Vec<(usize, Vec<u8>)>,
        from: &[usize],
        deadline: Option<Deadline>,
    ) -> Result<Vec<Vec<u8>>> {
        let t = Instant::now();
        let tag = self.next_tag();
        let limit = self.message_limit.get();
        let sent: usize = to.iter().map(|(_, b)| b.len()).sum();
        let messages = to.iter().map(|(_, b)| b.len() / limit + 1).sum::<usize>();
        let dests: Vec<usize> = to.iter().map(|(r, _)| *r).collect();
        let mut outbox = Outbox::default();
        for (rank, bytes) in to {
            outbox.send(&self.world.process_at_rank(rank as i32), bytes, limit, tag);
        }
        let mut inbox: Vec<(usize, Vec<u8>, bool)> =
            from.iter().map(|&r| (r, Vec::new(), false)).collect();
        let mut pieces = 0;
        let mut idle = Instant::now();
        loop {
            let mut progress = false;
            for (rank, bytes, whole) in inbox.iter_mut().filter(|m| !m.2) {
                let source = self.world.process_at_rank(*rank as i32);
                while let Some((msg, status)) = source.immediate_matched_probe_with_tag(tag) {
                    let n = status.count(u8::equivalent_datatype()) as usize;
                    let at = bytes.len();
                    bytes.resize(at + n, 0);
                    msg.matched_receive_into(&mut bytes[at..]);
                    pieces += 1;
                    progress = true;
                    if n < limit {
                        *whole = true;
                        break;
                    }
                }
            }
            outbox.settle();
            if outbox.is_empty() && inbox.iter().all(|m| m.2) {
                break;
            }
            if let Some(d) = deadline.filter(Deadline::passed) {
                outbox.abandon();
                let mut late: Vec<usize> = inbox.iter().filter(|m| !m.2).map(|m| m.0).collect();
                if late.is_empty() {
                    late = dests;
                }
                return Err(d.missed(late));
            }
            // The ranks have met, so the messages are coming: poll, giving
            // the core to any runnable worker, and only sleep if they are
            // long in coming. A sleep lasts 50 us or more (the kernel's
            // timer slack), and MPI moves a long message only while both
            // ends poll: sleeping from the first miss made one swap of
            // 0 bytes take 140 us, one of 8 MB 7.4 ms (docs/distributed.md).
            if progress {
                idle = Instant::now();
            } else if idle.elapsed() < SPIN {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let received: usize = inbox.iter().map(|m| m.1.len()).sum();
        self.count(|t| t.add(sent as u64, received as u64, messages as u64, pieces));
        self.last_exchange
            .set(self.last_exchange.get() + t.elapsed());
        Ok(inbox.into_iter().map(|m| m.1).collect())
    }

    fn meet(&self, deadline: Option<Deadline>) -> Result<()> {
        let t = Instant::now();
        self.traffic.set(Traffic::default());
        self.last_exchange.set(Duration::ZERO);
        let met = match deadline {
            _ if self.size() == 1 => Ok(()),
            None => {
                self.arrive();
                Ok(())
            }
            Some(d) => self.meet_by(d),
        };
        self.last_wait.set(t.elapsed());
        met
    }
}

impl World {
    /// The tag of the next step's messages: MPI guarantees tags up to
    /// 32767; a step's number modulo 8192, in two kinds (data, word).
    fn next_tag(&self) -> i32 {
        let step = self.steps.get();
        self.steps.set(step + 1);
        1 + 2 * (step % 8192) as i32
    }

    fn count(&self, f: impl FnOnce(&mut Traffic)) {
        let mut t = self.traffic.get();
        f(&mut t);
        self.traffic.set(t);
    }

    /// A timed meeting, through rank 0, which is told of every arrival
    /// and so knows which ranks are missing at its deadline: each rank
    /// sends rank 0 a word and waits for its answer, the ranks that did
    /// not come (empty: all came). A rank that hears nothing from rank 0
    /// by its own deadline plus [`MEET_GRACE`] names rank 0, and tells it
    /// so; rank 0 that hears this, or finds itself past its deadline when
    /// all have come, was the late one and names itself.
    fn meet_by(&self, deadline: Deadline) -> Result<()> {
        let tag = self.next_tag();
        let word = tag + 1;
        let (p, me) = (self.size(), self.rank());
        let mut outbox = Outbox::default();
        let mut nap = Duration::from_micros(10);
        let sleep = |nap: &mut Duration| {
            std::thread::sleep(*nap);
            *nap = (*nap * 2).min(Duration::from_micros(200));
        };
        if me != 0 {
            let root = self.world.process_at_rank(0);
            outbox.send(&root, Vec::new(), MESSAGE_LIMIT, tag);
            let late = loop {
                if let Some((msg, status)) = root.immediate_matched_probe_with_tag(word) {
                    let n = status.count(u8::equivalent_datatype()) as usize;
                    let mut missing = vec![0u8; n];
                    msg.matched_receive_into(&mut missing[..]);
                    break missing
                        .chunks_exact(8)
                        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
                        .collect::<Vec<_>>();
                }
                outbox.settle();
                if Instant::now() > deadline.at() + MEET_GRACE {
                    // Rank 0 is told, should it come back: it was late.
                    outbox.send(&root, Vec::new(), MESSAGE_LIMIT, word);
                    break vec![0];
                }
                sleep(&mut nap);
            };
            // Rank 0 answered after it heard this rank's word, so the
            // word is out, unless rank 0 gave up on it.
            outbox.settle();
            outbox.abandon();
            return if late.is_empty() {
                Ok(())
            } else {
                Err(deadline.missed(late))
            };
        }
        let mut missing: Vec<usize> = (1..p).collect();
        let gave_up = || {
            let any = self.world.any_process();
            any.immediate_matched_probe_with_tag(word).map(|(msg, _)| {
                msg.matched_receive_into(&mut [0u8; 0][..]);
            })
        };
        loop {
            if gave_up().is_some() {
                // Another rank waited for this one past its deadline.
                missing = vec![0];
                break;
            }
            missing.retain(|&r| {
                let source = self.world.process_at_rank(r as i32);
                match source.immediate_matched_probe_with_tag(tag) {
                    Some((msg, _)) => {
                        msg.matched_receive_into(&mut [0u8; 0][..]);
                        false
                    }
                    None => true,
                }
            });
            if missing.is_empty() {
                if Instant::now() > deadline.at() + MEET_GRACE / 2 {
                    missing.push(0);
                }
                break;
            }
            if deadline.passed() {
                break;
            }
            sleep(&mut nap);
        }
        let answer: Vec<u8> = missing
            .iter()
            .flat_map(|&r| (r as u64).to_le_bytes())
            .collect();
        for r in 1..p {
            let dest = self.world.process_at_rank(r as i32);
            outbox.send(&dest, answer.clone(), MESSAGE_LIMIT, word);
        }
        // The answer is a few bytes, sent at once; a rank that is stopped
        // may never take it, and is not waited for.
        let until = Instant::now() + MEET_GRACE;
        while !outbox.is_empty() && Instant::now() < until {
            outbox.settle();
            sleep(&mut nap);
        }
        outbox.abandon();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(deadline.missed(missing))
        }
    }
}

/// Sends in flight, with the bytes they read. MPI reads a non-blocking
/// send's bytes until the send completes, which a receiver that stopped
/// may never let happen, so the bytes are not borrowed from the caller but
/// lent for good (`'static`) and taken back once every send has completed;
/// sends abandoned past a deadline keep their bytes, which leak (the ranks
/// are out of step then, and the program should end).
#[derive(Default)]
struct Outbox {
    requests: Vec<mpi::request::Request<'static, [u8], StaticScope>>,
    lent: Vec<*mut [u8]>,
}

// The second unsafe item outside the low layers: MPI's non-blocking sends
// read memory that no Rust lifetime can name once a receiver may never
// take them.
#[allow(unsafe_code)]
impl Outbox {
    /// Sends `bytes` to `dest` as pieces of `limit` bytes, then a shorter
    /// one (empty, if need be) that tells the receiver the message is
    /// whole.
    fn send(&mut self, dest: &Process<'_>, bytes: Vec<u8>, limit: usize, tag: i32) {
        let raw = Box::into_raw(bytes.into_boxed_slice());
        self.lent.push(raw);
        // SAFETY: `raw` is the allocation Box::into_raw just gave up; it is
        // freed only by `settle` once no request is pending (every send
        // that reads it has completed), or never (`abandon`), and nothing
        // writes to it meanwhile. The reference does not leave this call
        // except inside the requests.
        let mut rest: &'static [u8] = unsafe { &*raw };
        loop {
            let n = rest.len().min(limit);
            self.requests
                .push(dest.immediate_send_with_tag(StaticScope, &rest[..n], tag));
            rest = &rest[n..];
            if n < limit {
                break;
            }
        }
    }

    /// Drops the sends that have completed; once none is pending, frees
    /// their bytes.
    fn settle(&mut self) {
        let mut pending = Vec::with_capacity(self.requests.len());
        for r in self.requests.drain(..) {
            if let Err(r) = r.test() {
                pending.push(r);
            }
        }
        self.requests = pending;
        if self.requests.is_empty() {
            for raw in self.lent.drain(..) {
                // SAFETY: made by Box::into_raw in `send`, freed once: every
                // request that read it has completed, and no other
                // reference to it is left.
                drop(unsafe { Box::from_raw(raw) });
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Gives up on the sends still pending, leaving their bytes to MPI.
    fn abandon(&mut self) {
        self.settle();
        self.requests.drain(..).for_each(std::mem::forget);
        self.lent.clear();
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.abandon();
    }
}

/// The communicator as an [`Ranks`] before the [`World`] around it is
/// whole (while it starts).
pub(super) struct Collective<'w>(pub(super) &'w SimpleCommunicator);

impl Ranks for Collective<'_> {
    fn rank(&self) -> usize {
        self.0.rank() as usize
    }
    fn size(&self) -> usize {
        self.0.size() as usize
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        all_gather(self.0, mine)
    }
}

/// Every rank's bytes, in rank order, on every rank.
fn all_gather(world: &SimpleCommunicator, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
    // A length over MPI's limit is sent as -1, so that every rank
    // learns of it and fails, rather than the others waiting.
    let len = Count::try_from(mine.len()).unwrap_or(-1);
    let mut lens = vec![0 as Count; world.size() as usize];
    world.all_gather_into(&len, &mut lens[..]);
    let too_big = || {
        Error::Mpi(
            "the ranks' results together are over MPI's 2 GiB message limit: return \
             smaller partials from the job"
                .into(),
        )
    };
    let mut displs = Vec::with_capacity(lens.len());
    let mut total: Count = 0;
    for &l in &lens {
        displs.push(total);
        total = total
            .checked_add(l)
            .filter(|_| l >= 0)
            .ok_or_else(too_big)?;
    }
    if total == 0 {
        // Every rank knows it: Open MPI refuses MPI_Allgatherv of nothing
        // at all (MPI_ERR_ARG, fatal), so no rank makes the call.
        return Ok(vec![Vec::new(); lens.len()]);
    }
    let mut buf = vec![0u8; total as usize];
    {
        let mut parts = PartitionMut::new(&mut buf[..], &lens[..], &displs[..]);
        world.all_gather_varcount_into(mine, &mut parts);
    }
    Ok(lens
        .iter()
        .zip(&displs)
        .map(|(&l, &d)| buf[d as usize..(d + l) as usize].to_vec())
        .collect())
}
