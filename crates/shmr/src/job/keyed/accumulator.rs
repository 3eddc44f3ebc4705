//! Key tables as values of one's own: several of them, each with its key,
//! value and combiner, filled in one pass by a `fold`; hashed keys
//! ([`KeyedTable`]) or dense ones, `0..n`, in a vector ([`DenseTable`]).

use super::combiner::{Combiner, Key, Value};
use super::result::Keyed;
use super::table::{DEFAULT_MAX_KEYS, Emit, Table, finish, merge};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::hash::Hash;

/// A table of `(key, value)` pairs that combines each value emitted into it
/// with `combiner`, as a keyed job's tables do, held by the user: the
/// accumulator of a [`fold`](crate::JobBuilder::fold) that fills several
/// typed tables in one pass (requests per status, bytes per path, clients
/// seen), each with its own key, value and combiner. Merged with
/// [`merge`](KeyedTable::merge); read as a sorted [`Keyed`] with
/// [`into_keyed`](KeyedTable::into_keyed).
///
/// A fold merges the workers' tables in the order they finish: with an
/// order-free combiner ([`Combiner::order_free`]: integer sums, minima,
/// maxima) the result is the same for any number of workers; with a float
/// sum its last bits may differ, as for any fold. At most `max_keys`
/// distinct keys ([`DEFAULT_MAX_KEYS`] unless [`with_max_keys`](KeyedTable::with_max_keys));
/// past it, [`into_keyed`](KeyedTable::into_keyed) is
/// [`Error::KeyLimit`](crate::Error::KeyLimit).
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Delimiters, KeyedTable, Max, Sum};
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let log = b"GET /a 200 10\nGET /b 404 0\nGET /a 200 30\n".repeat(1000);
/// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(log))?;
/// // Requests per status and the largest response per path, in one pass.
/// let (status, largest) = pool.on(&text).records(Delimiters::LINES).fold(
///     || (KeyedTable::new(Sum), KeyedTable::new(Max)),
///     |(status, largest), lines| {
///         for l in lines.iter() {
///             let f: Vec<&[u8]> = l.split(|&b| b == b' ').collect();
///             status.emit(f[2], 1_u64);
///             let size: u64 = std::str::from_utf8(f[3]).unwrap().parse().unwrap();
///             largest.emit(f[1], size);
///         }
///     },
///     |(s1, l1), (s2, l2)| (s1.merge(s2), l1.merge(l2)),
/// )?;
/// let status: shmr::keyed::Keyed<Vec<u8>, u64> = status.into_keyed()?;
/// assert_eq!(status.get(&b"404"[..]), Some(&1000));
/// assert_eq!(largest.into_keyed()?.get(&b"/a"[..]), Some(&30));
/// # Ok(()) }
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, V: Serialize, C: Serialize",
    deserialize = "K: DeserializeOwned, V: DeserializeOwned, C: DeserializeOwned"
))]
pub struct KeyedTable<K, V, C> {
    table: Table<K, V>,
    combiner: C,
    max_keys: usize,
}

impl<K: Key, V: Value, C: Combiner<V>> KeyedTable<K, V, C> {
    /// An empty table that combines with `combiner`.
    pub fn new(combiner: C) -> Self {
        KeyedTable::with_max_keys(combiner, DEFAULT_MAX_KEYS)
    }

    /// An empty table of at most `max_keys` distinct keys.
    pub fn with_max_keys(combiner: C, max_keys: usize) -> Self {
        KeyedTable {
            table: Table::new(),
            combiner,
            max_keys,
        }
    }

    /// Where to emit: the same handle a keyed job's mapper gets, so one
    /// function can fill both.
    pub fn emitter(&mut self) -> Emit<'_, K, V, C> {
        Emit::new(&mut self.table, &self.combiner, self.max_keys)
    }

    /// Emits `value` for `key` (see [`Emit::emit`]).
    #[inline]
    pub fn emit<Q>(&mut self, key: &Q, value: V)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.emitter().emit(key, value)
    }

    /// Emits `value` for a key made from `key` by `From` (see
    /// [`Emit::emit_from`]).
    #[inline]
    pub fn emit_from<Q>(&mut self, key: &Q, value: V)
    where
        K: Borrow<Q> + for<'q> From<&'q Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.emitter().emit_from(key, value)
    }

    /// Distinct keys so far.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This table with `later`'s pairs combined in after its own (the
    /// combiner and key limit are this table's).
    pub fn merge(self, later: Self) -> Self {
        KeyedTable {
            table: merge(self.table, later.table, &self.combiner, self.max_keys),
            combiner: self.combiner,
            max_keys: self.max_keys,
        }
    }

    /// Every key with its value, sorted by key; or
    /// [`Error::KeyLimit`](crate::Error::KeyLimit) if keys were refused
    /// past the limit.
    pub fn into_keyed(self) -> Result<Keyed<K, V>> {
        finish(self.table, self.max_keys)
    }
}

/// Values for the keys `0..n` held in a vector, not a hash table
/// (Phoenix++'s `array_container`): the accumulator of a
/// [`fold`](crate::JobBuilder::fold) whose keys are known up front to be
/// dense, a group-by over codes, bins or ids. An emit is an index and a
/// combine, with no hash, no probe and no key to store; the table is the
/// same size however many chunks a worker folds. Merged elementwise with
/// [`merge`](DenseTable::merge) (once per worker); read with
/// [`into_keyed`](DenseTable::into_keyed) (the keys that have a value) or
/// [`into_vec`](DenseTable::into_vec).
///
/// As for [`KeyedTable`], a fold merges the workers' tables in the order
/// they finish: the same result for any number of workers with an
/// order-free combiner (integer sums, counts, minima, maxima), the last
/// bits of a float sum may differ. A key outside `0..n` is not dropped in
/// silence: the table remembers the first, and reading it is
/// [`Error::KeyOutOfRange`](crate::Error::KeyOutOfRange).
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Count, DenseTable, Sum};
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let keys = shmr::SharedArray::from_array(&ndarray::Array1::from_iter((0..10_000_u32).map(|i| i % 7)))?;
/// let values = shmr::SharedArray::from_array(&ndarray::Array1::from_iter(0..10_000_i64))?;
/// // pandas' groupby(keys).agg(["sum", "count"]) over keys in 0..7.
/// let groups = pool.on(&keys).and(&values).params(7_usize).fold(
///     |&n| DenseTable::new(n, (Sum, Count)),
///     |_, t, (k, v)| k.iter().zip(v).for_each(|(&k, &v)| t.emit(k as usize, (v, 1_u64))),
///     DenseTable::merge,
/// )?;
/// let groups = groups.into_vec()?;
/// assert_eq!(groups[3], Some(((0..10_000_i64).filter(|i| i % 7 == 3).sum(), 1429)));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "V: Serialize, C: Serialize",
    deserialize = "V: DeserializeOwned, C: DeserializeOwned"
))]
pub struct DenseTable<V, C> {
    /// Each key's value; `V::default()` until the key's first emit.
    values: Vec<V>,
    /// Which keys have a value, a bit each: a key's first value is kept
    /// as it is, not combined with a default (a maximum of negative
    /// values is not 0).
    seen: Vec<u64>,
    combiner: C,
    /// The first key emitted outside the table, if any.
    outside: Option<u64>,
}

impl<V: Value + Default, C: Combiner<V>> DenseTable<V, C> {
    /// A table for the keys `0..keys`, each without a value yet, that
    /// combines with `combiner`.
    pub fn new(keys: usize, combiner: C) -> Self {
        let mut values = Vec::with_capacity(keys);
        values.resize_with(keys, V::default);
        DenseTable {
            values,
            seen: vec![0; keys.div_ceil(64)],
            combiner,
            outside: None,
        }
    }

    /// Emits `value` for `key`: combined with its value so far, or its
    /// first. A key outside the table is remembered as an error for
    /// [`into_keyed`](DenseTable::into_keyed) and
    /// [`into_vec`](DenseTable::into_vec).
    #[inline]
    pub fn emit(&mut self, key: usize, value: V) {
        let Some(acc) = self.values.get_mut(key) else {
            self.outside.get_or_insert(key as u64);
            return;
        };
        if has(&self.seen, key) {
            self.combiner.combine(acc, value);
        } else {
            *acc = value;
            mark(&mut self.seen, key);
        }
    }

    /// The value of `key` so far.
    pub fn get(&self, key: usize) -> Option<&V> {
        (key < self.values.len() && has(&self.seen, key)).then(|| &self.values[key])
    }

    /// The table's keys: `n` of `0..n`.
    pub fn keys(&self) -> usize {
        self.values.len()
    }

    /// This table with `later`'s values combined in after its own, key by
    /// key (the combiner is this table's). Tables of different sizes merge
    /// into the larger.
    pub fn merge(mut self, later: Self) -> Self {
        if later.values.len() > self.values.len() {
            self.values.resize_with(later.values.len(), V::default);
            self.seen.resize(later.seen.len(), 0);
        }
        for (k, v) in later.values.into_iter().enumerate() {
            if !has(&later.seen, k) {
                continue;
            }
            if has(&self.seen, k) {
                self.combiner.combine(&mut self.values[k], v);
            } else {
                self.values[k] = v;
                mark(&mut self.seen, k);
            }
        }
        self.outside = match (self.outside, later.outside) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        self
    }

    /// The value of every key, `None` for keys never emitted; or
    /// [`Error::KeyOutOfRange`](crate::Error::KeyOutOfRange) naming the
    /// first key emitted outside the table (the smallest, after a merge).
    pub fn into_vec(self) -> Result<Vec<Option<V>>> {
        if let Some(key) = self.outside {
            return Err(Error::KeyOutOfRange {
                key,
                keys: self.values.len(),
            });
        }
        let seen = self.seen;
        Ok(self
            .values
            .into_iter()
            .enumerate()
            .map(|(k, v)| has(&seen, k).then_some(v))
            .collect())
    }

    /// The keys that have a value, with it, in key order, as a keyed job's
    /// result; or the error of [`into_vec`](DenseTable::into_vec).
    pub fn into_keyed(self) -> Result<Keyed<usize, V>> {
        let pairs = self.into_vec()?.into_iter().enumerate();
        Ok(Keyed::of_sorted(
            pairs.filter_map(|(k, v)| v.map(|v| (k, v))).collect(),
        ))
    }
}

/// Whether bit `key` of `bits` is set: whether a dense table's key has a
/// value.
#[inline]
fn has(bits: &[u64], key: usize) -> bool {
    bits[key / 64] & (1 << (key % 64)) != 0
}

#[inline]
fn mark(bits: &mut [u64], key: usize) {
    bits[key / 64] |= 1 << (key % 64);
}
