//! The tables a keyed job's mappers emit into (one per chunk, or one per
//! worker), as they cross a slot, and their merge.

use super::combiner::{Combiner, Key, Value};
use super::result::Keyed;
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;

/// The distinct keys a keyed job may hold unless told otherwise
/// ([`JobBuilder::max_keys`](crate::JobBuilder::max_keys)): 2^25, about
/// 2 GiB of table for short byte-string keys.
pub const DEFAULT_MAX_KEYS: usize = 1 << 25;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One chunk's table of (key, value) pairs, or the coordinator's merge of
/// several: while filled, a hash map; as it arrives from a slot, the list
/// of its pairs. `overflowed` says that a key was refused for lack of room.
pub(crate) struct Table<K, V> {
    map: Map<K, V>,
    list: Vec<(K, V)>,
    overflowed: bool,
}

impl<K, V> Table<K, V> {
    pub(super) fn new() -> Self {
        Table {
            map: Map::default(),
            list: Vec::new(),
            overflowed: false,
        }
    }

    /// The table of a job whose keys outgrew it: empty, since the job has
    /// failed and should hold no memory.
    fn overflowed() -> Self {
        let mut t = Table::new();
        t.overflowed = true;
        t
    }
}

impl<K: Key, V> Table<K, V> {
    /// A chunk's table in a worker, made as large as the largest this
    /// worker has filled in this job (`hint`): chunks of one job hold about
    /// as many keys, and a table that starts empty rehashes its keys
    /// several times while it grows. The hint lives in the job as the
    /// worker decoded it, so it never outlives the job: a job with millions
    /// of keys per chunk does not make every later small job on the pool
    /// allocate (and clear) tables of millions.
    pub(super) fn for_chunk(hint: &Cell<usize>, max_keys: usize) -> Self {
        let mut t = Table::new();
        t.map.reserve(hint.get().min(max_keys));
        t
    }

    /// Distinct keys, in the map and the list.
    pub(super) fn len(&self) -> usize {
        self.map.len() + self.list.len()
    }

    pub(super) fn note_chunk(&self, hint: &Cell<usize>) {
        hint.set(hint.get().max(self.map.len()));
    }
}

/// The pairs of a table, as one sequence (postcard writes a map and a
/// sequence of pairs alike).
struct Pairs<'t, K, V>(&'t Table<K, V>);

impl<K: Serialize, V: Serialize> Serialize for Pairs<'_, K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let t = self.0;
        s.collect_seq(t.map.iter().chain(t.list.iter().map(|(k, v)| (k, v))))
    }
}

impl<K: Serialize, V: Serialize> Serialize for Table<K, V> {
    /// A table that overflowed is sent as that fact alone: its pairs are of
    /// no use to a job that has failed, and writing them would grow the
    /// slots and the coordinator's memory past what `max_keys` promises.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.overflowed {
            return (true, Pairs(&Table::<K, V>::new())).serialize(s);
        }
        (false, Pairs(self)).serialize(s)
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Table<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (overflowed, list) = <(bool, Vec<(K, V)>)>::deserialize(d)?;
        Ok(Table {
            map: Map::default(),
            list,
            overflowed,
        })
    }
}

/// Where a mapper of a keyed job emits its pairs: the chunk's table, which
/// combines each value with the key's value so far.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Delimiters, Sum};
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(b"a b a c a b".to_vec()))?;
/// let counts = pool.on(&text).records(Delimiters::WHITESPACE).keyed(Sum, |words, out| {
///     for w in words.iter() {
///         out.emit(w, 1_u64);
///     }
/// })?;
/// let expected: Vec<(Vec<u8>, u64)> = vec![(b"a".to_vec(), 3), (b"b".to_vec(), 2), (b"c".to_vec(), 1)];
/// assert_eq!(counts.into_vec(), expected);
/// # Ok(()) }
/// ```
pub struct Emit<'e, K, V, C> {
    table: &'e mut Table<K, V>,
    combiner: &'e C,
    max_keys: usize,
}

impl<'e, K, V, C> Emit<'e, K, V, C> {
    /// Emits into `table`, combining with `combiner`, refusing keys past
    /// `max_keys`.
    pub(super) fn new(table: &'e mut Table<K, V>, combiner: &'e C, max_keys: usize) -> Self {
        Emit {
            table,
            combiner,
            max_keys,
        }
    }
}

impl<K: Key, V: Value, C: Combiner<V>> Emit<'_, K, V, C> {
    /// Emits `value` for `key`: combined with the key's value so far, or
    /// the key's first value. A key is copied (`to_owned`) only the first
    /// time the chunk sees it, so emit borrowed keys: `out.emit(word, 1)`
    /// with `word: &[u8]` for `Vec<u8>` keys, `&n` for integer keys.
    #[inline]
    pub fn emit<Q>(&mut self, key: &Q, value: V)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.emit_with(key, value, Q::to_owned)
    }

    /// [`emit`](Emit::emit) for keys made from their borrowed form by
    /// `From`: [`SmallBytes`](super::SmallBytes) keys from `&[u8]` words.
    #[inline]
    pub fn emit_from<Q>(&mut self, key: &Q, value: V)
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.emit_with(key, value, |q| K::from(q))
    }

    #[inline]
    fn emit_with<Q>(&mut self, key: &Q, value: V, own: impl FnOnce(&Q) -> K)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(acc) = self.table.map.get_mut(key) {
            self.combiner.combine(acc, value);
        } else if self.table.map.len() < self.max_keys {
            self.table.map.insert(own(key), value);
        } else {
            self.table.overflowed = true;
        }
    }

    /// Distinct keys in the table emitted into so far: this chunk's, or,
    /// when the worker keeps one table for all its chunks ([`Tables`](super::Tables)),
    /// every chunk this worker has mapped in this job.
    pub fn len(&self) -> usize {
        self.table.map.len()
    }

    /// Whether nothing was emitted yet into this table (see
    /// [`len`](Emit::len)).
    pub fn is_empty(&self) -> bool {
        self.table.map.is_empty()
    }
}

/// Merges `next` (later chunks) into `acc` (earlier ones), combining the
/// values of a key in that order; at most `max_keys` keys.
pub(crate) fn merge<K: Key, V: Value, C: Combiner<V>>(
    mut acc: Table<K, V>,
    next: Table<K, V>,
    combiner: &C,
    max_keys: usize,
) -> Table<K, V> {
    if acc.overflowed || next.overflowed {
        return Table::overflowed();
    }
    if !acc.list.is_empty() {
        // One chunk's pairs: its keys are distinct.
        acc.map.reserve(acc.list.len());
        acc.map.extend(acc.list.drain(..));
    }
    for (k, v) in next.list.into_iter().chain(next.map) {
        if let Some(a) = acc.map.get_mut(&k) {
            combiner.combine(a, v);
        } else if acc.map.len() < max_keys {
            acc.map.insert(k, v);
        } else {
            return Table::overflowed();
        }
    }
    acc
}

impl<K: Key, V> Table<K, V> {
    /// This table cut into `ranks` tables by the owner of each key
    /// ([`Shard::owner`](super::Shard::owner)), for a keyed job's shuffle
    /// across ranks. A table that overflowed is that fact in every part:
    /// every owner then fails the job.
    pub(crate) fn cut(self, ranks: usize) -> Vec<Table<K, V>> {
        if self.overflowed {
            return (0..ranks).map(|_| Table::overflowed()).collect();
        }
        let mut parts: Vec<Table<K, V>> = (0..ranks).map(|_| Table::new()).collect();
        let mut scratch = Vec::new();
        for (k, v) in self.list.into_iter().chain(self.map) {
            let owner = super::result::owner_of(&k, ranks, &mut scratch);
            parts[owner].list.push((k, v));
        }
        parts
    }
}

/// The merged table as the job's result, or the error that says it grew
/// past `max_keys`.
pub(crate) fn finish<K: Key, V>(table: Table<K, V>, max_keys: usize) -> Result<Keyed<K, V>> {
    if table.overflowed {
        return Err(Error::KeyLimit { max_keys });
    }
    let mut entries: Vec<(K, V)> = table.list;
    entries.extend(table.map);
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Keyed::of_sorted(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use serde::{Deserialize, Serialize};

    #[test]
    fn merge_combines_in_order_and_stops_at_the_limit() {
        #[derive(Serialize, Deserialize)]
        struct Concat;
        impl Combiner<String> for Concat {
            fn combine(&self, acc: &mut String, v: String) {
                acc.push_str(&v);
            }
        }
        let table = |pairs: &[(u8, &str)]| {
            let mut t = Table::new();
            let mut e = Emit {
                table: &mut t,
                combiner: &Concat,
                max_keys: 10,
            };
            for (k, v) in pairs {
                e.emit(k, v.to_string());
            }
            // As the coordinator gets it: through postcard.
            let bytes = postcard::to_allocvec(&t).unwrap();
            postcard::from_bytes::<Table<u8, String>>(&bytes).unwrap()
        };
        let a = table(&[(1, "a"), (2, "b"), (1, "c")]);
        let b = table(&[(2, "d"), (3, "e")]);
        let m = finish(merge(a, b, &Concat, 10), 10).unwrap();
        let want = vec![
            (1, "ac".to_string()),
            (2, "bd".to_string()),
            (3, "e".to_string()),
        ];
        assert_eq!(m.into_vec(), want);

        let a = table(&[(1, "a"), (2, "b")]);
        let b = table(&[(3, "c")]);
        assert!(matches!(
            finish(merge(a, b, &Concat, 2), 2),
            Err(Error::KeyLimit { max_keys: 2 })
        ));
    }
}
