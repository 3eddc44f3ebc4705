//! The result of a keyed job.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::cmp::Ordering;

/// The result of a keyed job: every key with its combined value, sorted by
/// key. The same, bit for bit, for any number of workers.
///
/// Across ranks ([`JobBuilder::across`](crate::JobBuilder::across)) each
/// rank holds a shard: the keys it owns ([`shard`](Keyed::shard),
/// [`owner`](Keyed::owner)), and every method here speaks of those alone;
/// `gather`, `all_gather` and `global_top` bring the shards together.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Delimiters, Sum};
/// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(b"x\ny\nx\n".to_vec()))?;
/// let lines = shmr::global_pool()?
///     .on(&text)
///     .records(Delimiters::LINES)
///     .keyed(Sum, |lines, out| lines.iter().for_each(|l| out.emit(l, 1_u32)))?;
/// assert_eq!(lines.get(&b"x"[..]), Some(&2));
/// assert_eq!(lines.top(1), vec![(&b"x".to_vec(), &2)]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyed<K, V> {
    entries: Vec<(K, V)>,
    shard: Option<Shard>,
}

/// Which keys a rank holds of a keyed job's result across ranks: those
/// whose [`owner`](Shard::owner) is its rank.
///
/// # Example
/// ```
/// let shard = shmr::keyed::Shard { rank: 1, ranks: 4 };
/// let owner = shard.owner(&b"hello"[..]);
/// assert!(owner < 4);
/// // The owner is a function of the key's encoded bytes and the rank count.
/// assert_eq!(owner, shmr::keyed::Shard { rank: 3, ranks: 4 }.owner(&b"hello".to_vec()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's rank.
    pub rank: usize,
    /// How many ranks share the result.
    pub ranks: usize,
}

impl Shard {
    /// The rank that owns `key`: a hash of the key's encoded bytes
    /// (postcard, as it crosses between ranks, so a borrowed form that
    /// encodes as the key does, `&[u8]` for `Vec<u8>`, finds the same
    /// owner), cut into `ranks` even ranges. The same on every rank and
    /// machine: FNV-1a over the bytes, mixed by splitmix64's finalizer.
    pub fn owner<Q: Serialize + ?Sized>(&self, key: &Q) -> usize {
        let mut bytes = Vec::new();
        owner_of(key, self.ranks, &mut bytes)
    }
}

/// The owner of `key` among `ranks`, encoding it into `scratch` (reused
/// from key to key by a table's cut).
pub(crate) fn owner_of<Q: Serialize + ?Sized>(
    key: &Q,
    ranks: usize,
    scratch: &mut Vec<u8>,
) -> usize {
    scratch.clear();
    // A key that does not encode cannot cross between ranks either; the
    // cut sends it to rank 0, where its encoding fails as a whole table's.
    match postcard::to_extend(key, std::mem::take(scratch)) {
        Ok(bytes) => *scratch = bytes,
        Err(_) => return 0,
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in scratch.iter() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    ((u128::from(h) * ranks.max(1) as u128) >> 64) as usize
}

impl<K: Ord, V> Keyed<K, V> {
    /// The value of `key`, if any record gave it one (in this shard, for
    /// a result across ranks: see [`owner`](Keyed::owner)).
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries
            .binary_search_by(|(k, _)| k.borrow().cmp(key))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// The `n` keys of largest value, largest first, ties by key, smaller
    /// first (the order of Phoenix++'s `word_count`).
    pub fn top(&self, n: usize) -> Vec<(&K, &V)>
    where
        V: Ord,
    {
        self.top_by(n, |a, b| b.cmp(a))
    }

    /// The `n` keys whose values come first in the order `cmp` (of two
    /// values) says, ties by key, smaller first: for values that are not
    /// `Ord`, float sums say, or to rank by one field of a tuple.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), shmr::Error> {
    /// # shmr::init();
    /// use shmr::keyed::Sum;
    /// let paths = shmr::SharedArray::from_array(&ndarray::arr1(&[1_u32, 2, 1, 3, 2, 1]))?;
    /// let bytes = shmr::SharedArray::from_array(&ndarray::arr1(&[0.5_f64, 4.0, 0.25, 1.0, 0.5, 2.0]))?;
    /// let sums = shmr::global_pool()?.on(&paths).and(&bytes).keyed(Sum, |(p, b), out| {
    ///     p.iter().zip(b).for_each(|(p, &b)| out.emit(p, b))
    /// })?;
    /// // The two paths of most bytes, most first.
    /// let top = sums.top_by(2, |a, b| b.total_cmp(a));
    /// assert_eq!(top, vec![(&2, &4.5), (&1, &2.75)]);
    /// # Ok(()) }
    /// ```
    pub fn top_by(&self, n: usize, mut cmp: impl FnMut(&V, &V) -> Ordering) -> Vec<(&K, &V)> {
        let mut all: Vec<(&K, &V)> = self.entries.iter().map(|(k, v)| (k, v)).collect();
        let mut by = |a: &(&K, &V), b: &(&K, &V)| cmp(a.1, b.1).then_with(|| a.0.cmp(b.0));
        if n < all.len() {
            all.select_nth_unstable_by(n, &mut by);
            all.truncate(n);
        }
        all.sort_unstable_by(by);
        all
    }
}

impl<K, V> Keyed<K, V> {
    /// The result of these pairs, sorted by key and each key once.
    pub(crate) fn of_sorted(entries: Vec<(K, V)>) -> Self {
        Keyed {
            entries,
            shard: None,
        }
    }

    /// This result as the shard of a rank.
    pub(crate) fn in_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// Which shard of a result across ranks this is; `None` for a whole
    /// result (a job on one machine).
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// The rank that holds `key` (0 for a whole result): where to look for
    /// a key that [`get`](Keyed::get) does not find in this shard.
    pub fn owner<Q: Serialize + ?Sized>(&self, key: &Q) -> usize {
        self.shard.map_or(0, |s| s.owner(key))
    }

    /// Distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no record emitted anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pairs, sorted by key.
    pub fn as_slice(&self) -> &[(K, V)] {
        &self.entries
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> std::slice::Iter<'_, (K, V)> {
        self.entries.iter()
    }

    /// The pairs, sorted by key.
    pub fn into_vec(self) -> Vec<(K, V)> {
        self.entries
    }
}

impl<K, V> IntoIterator for Keyed<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'k, K, V> IntoIterator for &'k Keyed<K, V> {
    type Item = &'k (K, V);
    type IntoIter = std::slice::Iter<'k, (K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_spread_keys_evenly_and_agree_for_borrowed_forms() {
        // 40,000 keys over 8 ranks: each about 5,000; a rank more than 10%
        // off would show a hash that clusters.
        let shard = Shard { rank: 0, ranks: 8 };
        let mut per = [0usize; 8];
        for i in 0..40_000_u64 {
            per[shard.owner(&i)] += 1;
        }
        assert!(per.iter().all(|&n| (4_500..5_500).contains(&n)), "{per:?}");
        // The owner of a word is that of its bytes in any container that
        // encodes as a sequence of bytes.
        let word = b"shuffle".to_vec();
        let small: crate::keyed::SmallBytes = word.as_slice().into();
        assert_eq!(shard.owner(&word), shard.owner(&word[..]));
        assert_eq!(shard.owner(&word), shard.owner(&small));
        // One rank owns everything.
        assert_eq!(Shard { rank: 0, ranks: 1 }.owner(&word), 0);
    }

    #[test]
    fn top_orders_by_value_then_key() {
        let k = Keyed::of_sorted(vec![(1, 5), (2, 9), (3, 5), (4, 1)]);
        let top: Vec<(i32, i32)> = k.top(3).into_iter().map(|(a, b)| (*a, *b)).collect();
        assert_eq!(top, [(2, 9), (1, 5), (3, 5)]);
        assert_eq!(k.top(10).len(), 4);
        assert_eq!(k.get(&3), Some(&5));
        assert_eq!(k.get(&7), None);
    }

    #[test]
    fn top_by_ranks_floats_in_the_order_given_then_by_key() {
        let k = Keyed::of_sorted(vec![(1, 2.5), (2, -1.0), (3, 2.5), (4, f64::NAN), (5, 0.0)]);
        let most: Vec<(i32, f64)> = k
            .top_by(3, |a, b| b.total_cmp(a))
            .into_iter()
            .map(|(a, b)| (*a, *b))
            .collect();
        // total_cmp puts NaN above every number.
        assert!(most[0].0 == 4 && most[0].1.is_nan());
        assert_eq!(&most[1..], &[(1, 2.5), (3, 2.5)]);
        let least: Vec<i32> = k
            .top_by(2, f64::total_cmp)
            .into_iter()
            .map(|(a, _)| *a)
            .collect();
        assert_eq!(least, [2, 5]);
    }
}
