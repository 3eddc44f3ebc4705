//! Jobs across ranks without MPI: P coordinators in one process, each on
//! its own thread with its own pool of worker processes and its own block
//! of the data, joined by a transport of channels. The tree and the
//! shuffle are the ones the MPI backend runs (tests/mpi.rs runs them under
//! `mpirun`); here they run on every machine, for P from 1 to 5.

mod common;

use shmr::keyed::{Keyed, Shard, Sum};
use shmr::{Error, Ranks, SharedArray};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier, Mutex};

shmr::test_worker!();

/// One rank of a world of threads: point-to-point channels between every
/// pair, and a board for the all-gather.
struct Threads {
    rank: usize,
    size: usize,
    to: Vec<Sender<Vec<u8>>>,
    from: Vec<Mutex<Receiver<Vec<u8>>>>,
    board: Arc<(Mutex<Vec<Vec<u8>>>, Barrier)>,
    /// Whether `exchange` is the trait's default (over `all_gather`).
    default_steps: bool,
}

fn world(size: usize, default_steps: bool) -> Vec<Threads> {
    // senders[s][r] and receivers[r][s]: the pipe from rank s to rank r.
    let mut receivers: Vec<Vec<Option<Receiver<Vec<u8>>>>> = (0..size)
        .map(|_| (0..size).map(|_| None).collect())
        .collect();
    let senders: Vec<Vec<Sender<Vec<u8>>>> = (0..size)
        .map(|s| {
            receivers
                .iter_mut()
                .map(|row| {
                    let (tx, rx) = channel();
                    row[s] = Some(rx);
                    tx
                })
                .collect()
        })
        .collect();
    let board = Arc::new((Mutex::new(vec![Vec::new(); size]), Barrier::new(size)));
    senders
        .into_iter()
        .zip(receivers)
        .enumerate()
        .map(|(rank, (to, from))| Threads {
            rank,
            size,
            to,
            from: from.into_iter().map(|r| Mutex::new(r.unwrap())).collect(),
            board: board.clone(),
            default_steps,
        })
        .collect()
}

impl Ranks for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_gather(&self, mine: &[u8]) -> shmr::Result<Vec<Vec<u8>>> {
        let (board, barrier) = &*self.board;
        board.lock().unwrap()[self.rank] = mine.to_vec();
        barrier.wait();
        let all = board.lock().unwrap().clone();
        barrier.wait();
        Ok(all)
    }
    fn exchange(
        &self,
        to: Vec<(usize, Vec<u8>)>,
        from: &[usize],
        deadline: Option<shmr::Deadline>,
    ) -> shmr::Result<Vec<Vec<u8>>> {
        if self.default_steps {
            return self.default_exchange(to, from, deadline);
        }
        for (r, bytes) in to {
            self.to[r].send(bytes).unwrap();
        }
        Ok(from
            .iter()
            .map(|&s| self.from[s].lock().unwrap().recv().unwrap())
            .collect())
    }
}

impl Threads {
    /// The trait's own `exchange`, over `all_gather`.
    fn default_exchange(
        &self,
        to: Vec<(usize, Vec<u8>)>,
        from: &[usize],
        deadline: Option<shmr::Deadline>,
    ) -> shmr::Result<Vec<Vec<u8>>> {
        struct Plain<'a>(&'a Threads);
        impl Ranks for Plain<'_> {
            fn rank(&self) -> usize {
                self.0.rank
            }
            fn size(&self) -> usize {
                self.0.size
            }
            fn all_gather(&self, mine: &[u8]) -> shmr::Result<Vec<Vec<u8>>> {
                self.0.all_gather(mine)
            }
        }
        Plain(self).exchange(to, from, deadline)
    }
}

/// Runs `f` on every rank of a world of `size` threads; their results in
/// rank order.
fn on_ranks<T: Send>(size: usize, default_steps: bool, f: impl Fn(&Threads) -> T + Sync) -> Vec<T> {
    let ranks = world(size, default_steps);
    std::thread::scope(|s| {
        let handles: Vec<_> = ranks.iter().map(|r| s.spawn(|| f(r))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Rows `rank` holds of `n`: contiguous blocks in rank order.
fn block(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    n * rank / size..n * (rank + 1) / size
}

fn keys(n: usize) -> Vec<u32> {
    let mut rng = common::Rng::new(7);
    (0..n).map(|_| (rng.next_u64() % 5000) as u32).collect()
}

#[test]
fn a_keyed_job_is_shuffled_so_each_rank_owns_its_keys_and_the_whole_is_the_single_answer() {
    let data = keys(200_000);
    let mut want: BTreeMap<u32, u64> = BTreeMap::new();
    for &k in &data {
        *want.entry(k).or_default() += u64::from(k % 7 + 1);
    }
    let want: Vec<(u32, u64)> = want.into_iter().collect();
    let mut top = want.clone();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(5);
    for size in [1, 2, 3, 5] {
        for default_steps in [false, true] {
            let shards = on_ranks(size, default_steps, |r| {
                let pool = common::pool_with_rows(1, 7_000);
                let mine = SharedArray::from_array(&ndarray::Array1::from_vec(
                    data[block(data.len(), r.rank, size)].to_vec(),
                ))
                .unwrap();
                let shard: Keyed<u32, u64> = pool
                    .on(&mine)
                    .across(r)
                    .keyed(Sum, |c, out| {
                        c.iter().for_each(|&k| out.emit(&k, u64::from(k % 7 + 1)))
                    })
                    .unwrap();
                let top = shard.global_top(r, 5).unwrap();
                let all = shard.clone().all_gather(r).unwrap();
                let gathered = shard.clone().gather(r, size - 1).unwrap();
                (shard, top, all, gathered)
            });
            let mut union = Vec::new();
            for (rank, (shard, top_here, all, gathered)) in shards.into_iter().enumerate() {
                let what = format!("rank {rank} of {size}, default steps {default_steps}");
                assert_eq!(shard.shard(), Some(Shard { rank, ranks: size }), "{what}");
                for (k, _) in &shard {
                    assert_eq!(shard.owner(k), rank, "{what}: key {k} in another's shard");
                }
                assert_eq!(top_here, top, "{what}: global top");
                assert_eq!(all.as_slice(), &want[..], "{what}: all_gather");
                assert_eq!(
                    gathered.is_some(),
                    rank == size - 1,
                    "{what}: gather's root"
                );
                if let Some(g) = gathered {
                    assert_eq!(g.as_slice(), &want[..], "{what}: gather");
                }
                union.extend(shard.into_vec());
            }
            union.sort();
            assert_eq!(union, want, "the shards of {size} ranks are the whole");
        }
    }
}

#[test]
fn a_partial_folds_up_the_tree_in_rank_order_and_every_rank_gets_it() {
    // Each chunk's partial is its first global row; the reducer joins
    // lists, which only rank order makes sorted.
    let n = 60_000;
    for size in 1..=5 {
        let results = on_ranks(size, false, |r| {
            let pool = common::pool_with_rows(1, 1_000);
            let rows = block(n, r.rank, size);
            let mine = SharedArray::from_array(&ndarray::Array1::from_iter(rows.map(|i| i as u64)))
                .unwrap();
            pool.on(&mine)
                .across(r)
                .map_reduce(
                    |c| vec![c[0]],
                    |mut a, b| {
                        a.extend(b);
                        a
                    },
                )
                .unwrap()
        });
        // Chunk starts within each rank's block, in rank order.
        let want: Vec<u64> = (0..size)
            .flat_map(|rank| block(n, rank, size).step_by(1_000).map(|i| i as u64))
            .collect();
        for (rank, got) in results.iter().enumerate() {
            assert_eq!(got, &want, "rank {rank} of {size}");
        }
    }
}

#[test]
fn a_rank_whose_part_fails_fails_every_rank_and_none_waits() {
    let n = 40_000;
    for (size, bad) in [(2, 1), (4, 2), (5, 0)] {
        let results = on_ranks(size, false, |r| {
            let pool = common::pool(1);
            let rows = block(n, r.rank, size);
            let mine = SharedArray::from_array(&ndarray::Array1::from_iter(rows.map(|i| i as u64)))
                .unwrap();
            // The first row of rank `bad`'s block, which only its mapper sees.
            let first = block(n, bad, size).start as u64;
            pool.on(&mine).across(r).params(first).map_reduce(
                |first, c| {
                    if c.iter().any(|i| i == first) {
                        panic!("the mapper of row {first} fails");
                    }
                    c.sum()
                },
                |a, b| a + b,
            )
        });
        for (rank, got) in results.into_iter().enumerate() {
            let e = got.unwrap_err();
            if rank == bad {
                assert!(
                    matches!(e, Error::MapperPanicked { .. }),
                    "rank {rank}: {e}"
                );
            } else {
                assert!(
                    matches!(&e, Error::Rank { rank: r, message } if *r == bad && message.contains("fails")),
                    "rank {rank}: {e}"
                );
            }
        }
    }
}

#[test]
fn a_rank_whose_settings_are_refused_fails_every_rank_in_the_tree_and_the_shuffle() {
    // Rank `bad` alone asks for settings its checks refuse, before any
    // worker maps: a keyed job with max_keys(0) (then the shuffle) and a
    // records job with no delimiter (then the tree). It still takes part
    // in the exchange the others make, so none of them waits for it.
    let text: Vec<u8> = b"a b c d e f g h ".repeat(1000);
    for (size, bad) in [(2, 0), (3, 2)] {
        let results = on_ranks(size, false, |r| {
            let pool = common::pool(1);
            let mine = SharedArray::from_array(&ndarray::Array1::from_vec(
                text[block(text.len(), r.rank, size)].to_vec(),
            ))
            .unwrap();
            let limit = if r.rank == bad { 0 } else { 100 };
            let keyed = pool
                .on(&mine)
                .across(r)
                .max_keys(limit)
                .keyed(Sum, |c, out| c.iter().for_each(|b| out.emit(b, 1_u64)))
                .map(|_| ());
            let delimiters = if r.rank == bad {
                shmr::keyed::Delimiters::new(b"")
            } else {
                shmr::keyed::Delimiters::WHITESPACE
            };
            let records = pool
                .on(&mine)
                .across(r)
                .records(delimiters)
                .map_reduce(|recs| recs.iter().count(), |a, b| a + b)
                .map(|_| ());
            (keyed, records)
        });
        for (rank, (keyed, records)) in results.into_iter().enumerate() {
            for (what, got) in [("keyed", keyed), ("records", records)] {
                let e = got.unwrap_err();
                if rank == bad {
                    assert!(
                        matches!(e, Error::InvalidConfig(_)),
                        "{what}, rank {rank}: {e}"
                    );
                } else {
                    assert!(
                        matches!(&e, Error::Rank { rank: r, .. } if *r == bad),
                        "{what}, rank {rank}: {e}"
                    );
                }
            }
        }
    }
}
