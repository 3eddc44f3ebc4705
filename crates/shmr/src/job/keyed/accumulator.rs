//! A key table as a value of one's own: several of them, each with its
//! key, value and combiner, filled in one pass by a `fold`.

use super::combiner::{Combiner, Key, Value};
use super::result::Keyed;
use super::table::{DEFAULT_MAX_KEYS, Emit, Table, finish, merge};
use crate::error::Result;
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
