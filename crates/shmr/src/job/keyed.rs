//! Keyed MapReduce over records: a byte array cut only between records,
//! mappers that emit `(key, value)` pairs into a table that combines every
//! emit at once, and the merged result sorted by key.
//!
//! # Why it is built this way
//!
//! * **Records.** A chunk of a text is a range of bytes, and a range cut
//!   at a fixed size splits a word or a line in two. Each chunk is therefore
//!   moved to whole records: it holds the records that *start* inside its
//!   nominal range, from the first record start at or after its start to
//!   the first at or after its end. A worker finds both ends itself by
//!   scanning forward from the nominal positions to the next delimiter, so
//!   nothing reads the whole input first, the chunks still never overlap,
//!   and a record longer than a chunk simply makes some chunks empty.
//! * **A table per chunk, combined at every emit.** Intermediate data never
//!   grows beyond the distinct keys of a chunk (Phoenix++'s lesson), and
//!   the worker's table goes into its result slot in shared memory as one
//!   flat record of pairs.
//! * **One table per worker when the combiner is order-free**
//!   ([`Combiner::order_free`]: integer sums, minima, maxima). A worker
//!   maps all its chunks into one table and writes it once no chunk is
//!   left, in parts that fit its ring; which chunks it got does not matter
//!   to the result. A worker that dies before its last part loses all its
//!   chunks to the next round.
//! * **Otherwise one table per chunk, merged in chunk order.** The
//!   coordinator merges the chunk tables as they arrive, in chunk order:
//!   for each key the values are combined in the order of the records in
//!   the input, whatever the number of workers. So any combiner, even one
//!   that is not commutative or a floating-point sum, gives the same bits
//!   for 1, 2 or 3 workers. Chunk tables cost one insertion per distinct
//!   key per chunk, in the worker and again in the coordinator; records
//!   jobs therefore take larger chunks by default ([`record_chunk_bytes`]).
//! * **Bounded.** A job's tables hold at most
//!   [`max_keys`](crate::JobBuilder::max_keys) distinct keys; a job whose
//!   keys outgrow that ends with [`Error::KeyLimit`],
//!   naming the setting, never with the machine out of memory.

use super::{HeldMapper, Side};
use crate::error::{Error, Result};
use crate::memory::{Element, SharedArray};
use crate::protocol::{Func, fn_ptr};
use ndarray::{ArrayView, ArrayView1, Dimension, Ix1};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;

/// The smallest chunk records jobs take unless told otherwise (8 MiB):
/// a chunk's table is merged key by key in the coordinator, so fewer,
/// larger chunks cost less there (measured in docs/benchmarks.md).
pub const RECORD_CHUNK_BYTES: usize = 8 << 20;

/// The largest chunk records jobs take unless told otherwise (256 MiB).
pub const MAX_RECORD_CHUNK_BYTES: usize = 256 << 20;

/// The chunks a records job aims at unless told otherwise: enough for two
/// to a few workers to share the work evenly, few enough that merging the
/// chunks' tables stays a small part of the job.
pub const RECORD_CHUNKS: usize = 32;

/// The chunk size of a records job over `len` bytes unless told
/// otherwise: `len / RECORD_CHUNKS` within [`RECORD_CHUNK_BYTES`] and
/// [`MAX_RECORD_CHUNK_BYTES`]. Depends on the input alone, never on the
/// workers, so results do not either.
pub fn record_chunk_bytes(len: usize) -> usize {
    (len / RECORD_CHUNKS).clamp(RECORD_CHUNK_BYTES, MAX_RECORD_CHUNK_BYTES)
}

/// The distinct keys a keyed job may hold unless told otherwise
/// ([`JobBuilder::max_keys`](crate::JobBuilder::max_keys)): 2^25, about
/// 2 GiB of table for short byte-string keys.
pub const DEFAULT_MAX_KEYS: usize = 1 << 25;

/// The bytes that end a record; each belongs to the record it ends.
///
/// # Example
/// ```
/// use shmr::keyed::Delimiters;
/// let d = Delimiters::new(b" \n");
/// assert!(d.contains(b' ') && !d.contains(b'x'));
/// // The first record starting at or after position 3 of "ab cd\nef":
/// assert_eq!(d.record_start(b"ab cd\nef", 3), 3);
/// assert_eq!(d.record_start(b"ab cd\nef", 4), 6);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Delimiters {
    set: [u64; 4],
}

impl Delimiters {
    /// Lines: records end at `\n`.
    pub const LINES: Delimiters = Delimiters::new(b"\n");
    /// Words: records end at a space, tab, carriage return or newline (the
    /// split points of Phoenix++'s `word_count`).
    pub const WHITESPACE: Delimiters = Delimiters::new(b" \t\r\n");

    /// The set of `bytes`.
    pub const fn new(bytes: &[u8]) -> Delimiters {
        let mut set = [0_u64; 4];
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i] as usize;
            set[b / 64] |= 1 << (b % 64);
            i += 1;
        }
        Delimiters { set }
    }

    /// Whether `byte` ends a record.
    #[inline]
    pub fn contains(&self, byte: u8) -> bool {
        self.set[byte as usize / 64] & (1 << (byte % 64)) != 0
    }

    /// Whether the set is empty (a job refuses it: the whole input would
    /// be one record).
    pub fn is_empty(&self) -> bool {
        self.set == [0; 4]
    }

    /// The first position at or after `pos` where a record starts: `pos`
    /// itself at the start or the end of `bytes` or just after a delimiter,
    /// otherwise just after the next delimiter (or the end).
    pub fn record_start(&self, bytes: &[u8], pos: usize) -> usize {
        if pos == 0 || pos >= bytes.len() {
            return pos.min(bytes.len());
        }
        if self.contains(bytes[pos - 1]) {
            return pos;
        }
        let found = bytes[pos..].iter().position(|&b| self.contains(b));
        #[cfg(test)]
        tests::SCANNED.with(|n| n.set(n.get() + found.map_or(bytes.len() - pos, |i| i + 1)));
        found.map_or(bytes.len(), |i| pos + i + 1)
    }

    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255_u8).filter(|&b| self.contains(b))
    }
}

impl std::fmt::Debug for Delimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self
            .bytes()
            .flat_map(std::ascii::escape_default)
            .map(char::from)
            .collect();
        write!(f, "Delimiters(b\"{shown}\")")
    }
}

/// The whole records of one chunk of a byte array, as a mapper of a
/// records job gets them ([`JobBuilder::records`](crate::JobBuilder::records)).
///
/// # Example
/// ```
/// use shmr::keyed::{Delimiters, Records};
/// let r = Records::new(b"one two\n\nthree\n", Delimiters::LINES);
/// let lines: Vec<&[u8]> = r.iter().collect();
/// assert_eq!(lines, [&b"one two"[..], b"three"]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Records<'c> {
    bytes: &'c [u8],
    offset: usize,
    delimiters: Delimiters,
}

impl<'c> Records<'c> {
    /// The records of `bytes` (all of it, as one chunk): for a sequential
    /// run of a records mapper, or a test.
    pub fn new(bytes: &'c [u8], delimiters: Delimiters) -> Records<'c> {
        Records {
            bytes,
            offset: 0,
            delimiters,
        }
    }

    /// The chunk's bytes: whole records, each with the delimiter that ends
    /// it (the last record of the input may have none).
    pub fn as_bytes(&self) -> &'c [u8] {
        self.bytes
    }

    /// Where the chunk starts in the whole array, in bytes. The non-empty
    /// chunks tile the array in order; an empty chunk (one inside a record
    /// longer than it) says its nominal end.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The job's delimiters.
    pub fn delimiters(&self) -> Delimiters {
        self.delimiters
    }

    /// The non-empty records, without their delimiters.
    pub fn iter(&self) -> impl Iterator<Item = &'c [u8]> + 'c {
        let d = self.delimiters;
        self.bytes
            .split(move |&b| d.contains(b))
            .filter(|r| !r.is_empty())
    }
}

/// How a keyed job combines two values of one key. It must be
/// associative; it need not be commutative: values are always combined in
/// the order of their records in the input.
///
/// # Example
/// ```
/// use serde::{Deserialize, Serialize};
///
/// /// Keeps the first value seen for each key.
/// #[derive(Serialize, Deserialize)]
/// struct First;
/// impl shmr::keyed::Combiner<u64> for First {
///     fn combine(&self, _acc: &mut u64, _value: u64) {}
/// }
/// let mut v = 3;
/// shmr::keyed::Combiner::combine(&First, &mut v, 5);
/// assert_eq!(v, 3);
/// ```
pub trait Combiner<V>: Serialize + DeserializeOwned + 'static {
    /// Folds `value` (from a later record) into `acc` (from earlier ones).
    fn combine(&self, acc: &mut V, value: V);

    /// Whether combining gives the same bits in any order and any grouping
    /// (commutative, and associative exactly: integer sums, minima and
    /// maxima; not floating-point sums, nor "keep the first"). Then each
    /// worker keeps one table for all its chunks instead of one per chunk,
    /// which saves inserting every chunk's keys again: about twice as fast
    /// on a word count (docs/benchmarks.md). `false` unless a combiner says
    /// otherwise; [`Sum`], [`Min`] and [`Max`] say so for integer values.
    fn order_free(&self) -> bool {
        false
    }
}

/// Whether `V` is a primitive integer, whose sums (wrapping or not, the
/// same in any order unless they overflow, which panics in a debug build
/// and wraps alike in a release one), minima and maxima are order-free.
fn is_integer<V: 'static>() -> bool {
    use std::any::TypeId;
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<u128>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<i128>(),
        TypeId::of::<isize>(),
    ]
    .contains(&TypeId::of::<V>())
}

/// Adds values (`+=`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Sum;
/// Keeps the smaller value (the earlier one on a tie).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Min;
/// Keeps the larger value (the earlier one on a tie).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Max;

impl<V: std::ops::AddAssign + 'static> Combiner<V> for Sum {
    #[inline]
    fn combine(&self, acc: &mut V, value: V) {
        *acc += value;
    }
    fn order_free(&self) -> bool {
        is_integer::<V>()
    }
}
impl<V: PartialOrd + 'static> Combiner<V> for Min {
    #[inline]
    fn combine(&self, acc: &mut V, value: V) {
        if value < *acc {
            *acc = value;
        }
    }
    fn order_free(&self) -> bool {
        is_integer::<V>()
    }
}
impl<V: PartialOrd + 'static> Combiner<V> for Max {
    #[inline]
    fn combine(&self, acc: &mut V, value: V) {
        if value > *acc {
            *acc = value;
        }
    }
    fn order_free(&self) -> bool {
        is_integer::<V>()
    }
}

/// Where a keyed job's workers keep their tables
/// ([`JobBuilder::tables`](crate::JobBuilder::tables)).
///
/// One table per worker saves inserting each chunk's keys a second time
/// (in the coordinator's merge) and is about twice as fast when keys
/// repeat across chunks (a word count); but a worker's table then holds
/// every distinct key it met, and once that outgrows the caches each
/// emit is a cache miss that a chunk's smaller table would not have been.
/// Measured on 2 workers with 32 million integer keys
/// (`examples/key_tables.rs`, docs/benchmarks.md): one table per worker
/// is up to 4.5x faster at 100,000 distinct keys, still 1.25x at 4
/// million, and 1.1-1.5x slower from about 5 million on.
///
/// # Example
/// ```
/// use shmr::keyed::Tables;
/// assert_eq!(Tables::default(), Tables::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tables {
    /// One per worker when the combiner is order-free
    /// ([`Combiner::order_free`]), otherwise one per chunk.
    #[default]
    Auto,
    /// One table for all of a worker's chunks; only for an order-free
    /// combiner (which chunks a worker gets depends on timing, so any
    /// other would give results that change from run to run).
    PerWorker,
    /// One table per chunk, merged in chunk order: for jobs of millions of
    /// distinct keys, where a worker's one table would outgrow the caches.
    PerChunk,
}

/// What a key may be: integers, byte strings (`Vec<u8>`), strings, tuples
/// of them; anything hashable, ordered and serializable.
pub trait Key: Hash + Eq + Ord + Serialize + DeserializeOwned + 'static {}
impl<T: Hash + Eq + Ord + Serialize + DeserializeOwned + 'static> Key for T {}

/// What a value may be.
pub trait Value: Serialize + DeserializeOwned + 'static {}
impl<T: Serialize + DeserializeOwned + 'static> Value for T {}

/// A byte-string key kept inline up to 16 bytes (on the heap beyond):
/// the key for words. A table of `Vec<u8>` keys follows a pointer to
/// compare every key it probes, one more cache miss per emit once the
/// table outgrows the cache; measured on word counts of 376,000 distinct
/// words, the loop ran about 1.5x faster with these (docs/benchmarks.md).
pub type SmallBytes = smallvec::SmallVec<[u8; 16]>;

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
    fn new() -> Self {
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
    fn for_chunk(hint: &Cell<usize>, max_keys: usize) -> Self {
        let mut t = Table::new();
        t.map.reserve(hint.get().min(max_keys));
        t
    }

    /// The table cut into tables of about `bytes` serialized bytes each
    /// (at least one): a held job's partial, written to a ring smaller
    /// than the whole. The parts hold distinct keys, so they merge back to
    /// this table in any order.
    fn into_parts(self, bytes: usize) -> Vec<Self>
    where
        V: Serialize,
    {
        if self.overflowed {
            return vec![self];
        }
        let mut parts = Vec::new();
        let (mut list, mut size) = (Vec::new(), 0);
        let mut scratch = [0u8; 256];
        for pair in self.map.into_iter().chain(self.list) {
            let n = match postcard::to_slice(&pair, &mut scratch) {
                Ok(b) => b.len(),
                Err(_) => postcard::to_allocvec(&pair).map_or(0, |b| b.len()),
            };
            if size + n > bytes && !list.is_empty() {
                parts.push(Table::of_list(std::mem::take(&mut list)));
                size = 0;
            }
            size += n;
            list.push(pair);
        }
        parts.push(Table::of_list(list));
        parts
    }

    fn of_list(list: Vec<(K, V)>) -> Self {
        Table {
            map: Map::default(),
            list,
            overflowed: false,
        }
    }

    fn note_chunk(&self, hint: &Cell<usize>) {
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
    /// `From`: [`SmallBytes`] keys from `&[u8]` words.
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
    /// when the worker keeps one table for all its chunks ([`Tables`]),
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

/// The result of a keyed job: every key with its combined value, sorted by
/// key. The same, bit for bit, for any number of workers.
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
}

impl<K: Ord, V> Keyed<K, V> {
    /// The value of `key`, if any record gave it one.
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
        let mut all: Vec<(&K, &V)> = self.entries.iter().map(|(k, v)| (k, v)).collect();
        let by = |a: &(&K, &V), b: &(&K, &V)| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0));
        if n < all.len() {
            all.select_nth_unstable_by(n, by);
            all.truncate(n);
        }
        all.sort_unstable_by(by);
        all
    }
}

impl<K, V> Keyed<K, V> {
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

/// The merged table as the job's result, or the error that says it grew
/// past `max_keys`.
pub(crate) fn finish<K: Key, V>(table: Table<K, V>, max_keys: usize) -> Result<Keyed<K, V>> {
    if table.overflowed {
        return Err(Error::KeyLimit { max_keys });
    }
    let mut entries: Vec<(K, V)> = table.list;
    entries.extend(table.map);
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Keyed { entries })
}

/// A records mapper with parameters.
pub type RecordFn<P, T> = for<'c> fn(&P, Records<'c>) -> T;
/// A records mapper without parameters.
pub type RecordBare<T> = for<'c> fn(Records<'c>) -> T;
/// A keyed mapper of records, with parameters.
pub type KeyedFn<P, K, V, C> = for<'c, 'e> fn(&P, Records<'c>, &mut Emit<'e, K, V, C>);
/// A keyed mapper of records, without parameters.
pub type KeyedBare<K, V, C> = for<'c, 'e> fn(Records<'c>, &mut Emit<'e, K, V, C>);
/// A keyed mapper of an array's chunks, with parameters.
pub type KeyedArrayFn<P, A, D, K, V, C> =
    for<'c, 'e> fn(&P, ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);
/// A keyed mapper of an array's chunks, without parameters.
pub type KeyedArrayBare<A, D, K, V, C> =
    for<'c, 'e> fn(ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);

fn_ptr! {
    [P, T] for<'c> fn(&P, Records<'c>) -> T;
    [T] for<'c> fn(Records<'c>) -> T;
    [P, K, V, C] for<'c, 'e> fn(&P, Records<'c>, &mut Emit<'e, K, V, C>);
    [K, V, C] for<'c, 'e> fn(Records<'c>, &mut Emit<'e, K, V, C>);
    [P, A, D, K, V, C] for<'c, 'e> fn(&P, ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);
    [A, D, K, V, C] for<'c, 'e> fn(ArrayView<'c, A, D>, &mut Emit<'e, K, V, C>);
}

/// What a records job's workers get: the delimiters, the user's function
/// and its parameters (`F` a mapper type above).
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize, C: Serialize",
    deserialize = "P: DeserializeOwned, C: DeserializeOwned"
))]
pub(crate) struct RecordsJob<P, F, C = ()> {
    pub(crate) delimiters: Delimiters,
    pub(crate) params: P,
    pub(crate) f: Func<F>,
    pub(crate) combiner: C,
    pub(crate) max_keys: usize,
    /// The most keys a chunk's table held in this job, in this worker (a
    /// hint for the next chunk's, never a limit); not sent.
    #[serde(skip)]
    pub(crate) chunk_keys: Cell<usize>,
}

impl<P, F, C> RecordsJob<P, F, C> {
    /// What a keyed mapper emits through into `table`: the job's combiner
    /// and limit.
    fn emit_into<'e, K, V>(&'e self, table: &'e mut Table<K, V>) -> Emit<'e, K, V, C> {
        Emit {
            table,
            combiner: &self.combiner,
            max_keys: self.max_keys,
        }
    }
}

/// A keyed job over an array, as its workers get it.
pub(crate) type KeyedArrayJob<P, A, D, K, V, C> = RecordsJob<P, KeyedArrayFn<P, A, D, K, V, C>, C>;

/// The chunk's records: the worker's chunk of the array moved to whole
/// records, found in the whole array (the job's side input, the same
/// mapping).
fn records_of<'c>(
    chunk: &ArrayView1<'c, u8>,
    whole: &ArrayView1<'c, u8>,
    delimiters: Delimiters,
) -> Records<'c> {
    let all: &'c [u8] = whole
        .to_slice()
        .expect("internal: a SharedArray of one axis is contiguous");
    // Both views are of one mapping of one segment (the job attaches an
    // array given as input and side once), so the chunk's address tells
    // where it lies.
    let start = (chunk.as_ptr() as usize).wrapping_sub(all.as_ptr() as usize);
    assert!(
        start <= all.len() && chunk.len() <= all.len() - start,
        "internal: a records chunk outside its array"
    );
    let end = start + chunk.len();
    // A chunk holds the records that start inside it. Its first start is
    // looked for only up to its end: a chunk inside a long record holds
    // none and is empty, without reading the rest of the record. Only a
    // chunk that holds a start reads on past its end, to where that last
    // record ends; so each byte is read at most three times whatever the
    // chunk size (once by its chunk, once by the chunk before looking for
    // the end of its last record, once in the mapper), never once per
    // chunk of a long record.
    let from = delimiters.record_start(&all[..end], start);
    if from >= end && end < all.len() {
        return Records {
            bytes: &[],
            offset: end,
            delimiters,
        };
    }
    let to = delimiters.record_start(all, end).max(from);
    Records {
        bytes: &all[from..to],
        offset: from,
        delimiters,
    }
}

/// The two views a records job's mapper gets: its chunk and the whole.
pub(crate) type RecordViews<'c> = (ArrayView1<'c, u8>, ArrayView1<'c, u8>);

/// A records job's mapper, as the worker calls it.
pub(crate) fn map_records<P, T>(
    job: &RecordsJob<P, RecordFn<P, T>>,
    (chunk, whole): RecordViews<'_>,
) -> T {
    (job.f.get())(&job.params, records_of(&chunk, &whole, job.delimiters))
}

/// A keyed records job's mapper: one table per chunk.
pub(crate) fn map_keyed_records<P, K: Key, V: Value, C: Combiner<V>>(
    job: &RecordsJob<P, KeyedFn<P, K, V, C>, C>,
    (chunk, whole): RecordViews<'_>,
) -> Table<K, V> {
    let mut table = Table::new();
    let mut out = job.emit_into(&mut table);
    (job.f.get())(
        &job.params,
        records_of(&chunk, &whole, job.delimiters),
        &mut out,
    );
    table
}

/// A keyed job over an array's chunks: one table per chunk.
pub(crate) fn map_keyed_array<P, A, D: Dimension, K: Key, V: Value, C: Combiner<V>>(
    job: &KeyedArrayJob<P, A, D, K, V, C>,
    chunk: ArrayView<'_, A, D>,
) -> Table<K, V> {
    let mut table = Table::for_chunk(&job.chunk_keys, job.max_keys);
    let mut out = job.emit_into(&mut table);
    (job.f.get())(&job.params, chunk, &mut out);
    table.note_chunk(&job.chunk_keys);
    table
}

/// What a records job's workers read: the text chunk by chunk, and whole.
pub(crate) type RecordsInput = (SharedArray<u8, Ix1>, Side<u8, Ix1>);

/// A keyed records job whose combiner is order-free, as its workers run
/// it: one table for all of a worker's chunks.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize, C: Serialize",
    deserialize = "P: DeserializeOwned, C: DeserializeOwned"
))]
#[serde(transparent)]
pub(crate) struct HeldRecords<P, K, V, C>(pub(crate) RecordsJob<P, KeyedFn<P, K, V, C>, C>);

impl<P, K, V, C> HeldMapper<RecordsInput> for HeldRecords<P, K, V, C>
where
    P: Serialize + DeserializeOwned + 'static,
    K: Key,
    V: Value,
    C: Combiner<V>,
{
    type Acc = Table<K, V>;
    fn start(&self) -> Table<K, V> {
        Table::new()
    }
    fn map_into(&self, table: &mut Table<K, V>, (chunk, whole): RecordViews<'_>) {
        let job = &self.0;
        let mut out = job.emit_into(table);
        (job.f.get())(
            &job.params,
            records_of(&chunk, &whole, job.delimiters),
            &mut out,
        );
    }
    fn parts(&self, table: Table<K, V>, bytes: usize) -> Vec<Table<K, V>> {
        table.into_parts(bytes)
    }
}

/// A keyed job over an array whose combiner is order-free, as its
/// workers run it: one table for all of a worker's chunks.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "P: Serialize, C: Serialize",
    deserialize = "P: DeserializeOwned, C: DeserializeOwned"
))]
#[serde(transparent)]
pub(crate) struct HeldArray<P, A, D, K, V, C>(pub(crate) KeyedArrayJob<P, A, D, K, V, C>);

impl<P, A, D, K, V, C> HeldMapper<SharedArray<A, D>> for HeldArray<P, A, D, K, V, C>
where
    P: Serialize + DeserializeOwned + 'static,
    A: Element,
    D: Dimension + 'static,
    K: Key,
    V: Value,
    C: Combiner<V>,
{
    type Acc = Table<K, V>;
    fn start(&self) -> Table<K, V> {
        Table::new()
    }
    fn map_into(&self, table: &mut Table<K, V>, chunk: ArrayView<'_, A, D>) {
        let job = &self.0;
        let mut out = job.emit_into(table);
        (job.f.get())(&job.params, chunk, &mut out);
    }
    fn parts(&self, table: Table<K, V>, bytes: usize) -> Vec<Table<K, V>> {
        table.into_parts(bytes)
    }
}

/// Parameterless mappers as mappers whose parameter is the function.
pub(crate) fn call_record_bare<T>(f: &Func<RecordBare<T>>, r: Records<'_>) -> T {
    (f.get())(r)
}
/// See [`call_record_bare`].
pub(crate) fn call_keyed_bare<K: Key, V: Value, C: Combiner<V>>(
    f: &Func<KeyedBare<K, V, C>>,
    r: Records<'_>,
    out: &mut Emit<'_, K, V, C>,
) {
    (f.get())(r, out)
}
/// See [`call_record_bare`].
pub(crate) fn call_keyed_array_bare<A, D: Dimension, K: Key, V: Value, C: Combiner<V>>(
    f: &Func<KeyedArrayBare<A, D, K, V, C>>,
    chunk: ArrayView<'_, A, D>,
    out: &mut Emit<'_, K, V, C>,
) {
    (f.get())(chunk, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Bytes looked at by `Delimiters::record_start` on this thread.
        pub(super) static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Records the splitting rule makes of `text` cut nominally every
    /// `size` bytes, as (offset, bytes) pairs.
    fn spans(text: &[u8], d: Delimiters, size: usize) -> Vec<(usize, Vec<u8>)> {
        let whole = ArrayView1::from(text);
        (0..text.len().div_ceil(size))
            .map(|i| {
                let chunk = whole.slice(ndarray::s![i * size..((i + 1) * size).min(text.len())]);
                let r = records_of(&chunk, &whole, d);
                (r.offset(), r.as_bytes().to_vec())
            })
            .collect()
    }

    #[test]
    fn chunks_move_to_whole_records_and_tile_the_input() {
        let text = b"alpha beta\ngamma  delta epsilon\n\nzeta eta theta iota kappa lambda";
        for d in [Delimiters::LINES, Delimiters::WHITESPACE] {
            for size in 1..=text.len() + 1 {
                let s = spans(text, d, size);
                // Tiled: each chunk starts where the one before ended.
                let joined: Vec<u8> = s.iter().flat_map(|(_, b)| b.clone()).collect();
                assert_eq!(joined, text, "size {size}");
                let mut at = 0;
                for (offset, bytes) in s.iter().filter(|(_, b)| !b.is_empty()) {
                    assert_eq!(*offset, at);
                    at += bytes.len();
                    // Every non-empty chunk starts a record and ends one.
                    assert!(*offset == 0 || d.contains(text[offset - 1]));
                    assert!(at == text.len() || d.contains(text[at - 1]));
                }
                // The records of all chunks are the records of the text.
                let all: Vec<Vec<u8>> = s
                    .iter()
                    .flat_map(|(_, b)| {
                        Records::new(b, d)
                            .iter()
                            .map(<[u8]>::to_vec)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let seq: Vec<Vec<u8>> = Records::new(text, d).iter().map(<[u8]>::to_vec).collect();
                assert_eq!(all, seq, "size {size}");
            }
        }
    }

    #[test]
    fn a_long_record_is_scanned_a_bounded_number_of_times_whatever_the_chunk() {
        // One 1 MB record, then short ones: with 1 KiB chunks, a scan that
        // read on to the record's end from every chunk inside it would read
        // about 500 MB; a chunk that stops looking at its own end reads
        // each byte a bounded number of times.
        let mut text = vec![b'x'; 1 << 20];
        text.extend_from_slice(b"\nab\ncd\n");
        let whole = ArrayView1::from(&text[..]);
        for size in [1, 100, 1024, 1 << 16] {
            SCANNED.with(|n| n.set(0));
            let mut records = 0;
            for i in 0..text.len().div_ceil(size) {
                let end = ((i + 1) * size).min(text.len());
                let chunk = whole.slice(ndarray::s![i * size..end]);
                records += records_of(&chunk, &whole, Delimiters::LINES).iter().count();
            }
            assert_eq!(records, 3, "size {size}");
            let read = SCANNED.with(std::cell::Cell::get);
            assert!(
                read <= 3 * text.len(),
                "size {size}: {read} bytes scanned for {}",
                text.len()
            );
        }
    }

    #[test]
    fn a_record_longer_than_chunks_leaves_them_empty() {
        let mut text = vec![b'x'; 50];
        text.extend_from_slice(b"\nab\n");
        let s = spans(&text, Delimiters::LINES, 8);
        assert_eq!(s[0].1.len(), 51);
        assert!(s[1..6].iter().all(|(_, b)| b.is_empty()));
        assert_eq!(s[6].1, b"ab\n");
    }

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

    #[test]
    fn a_table_cut_into_parts_keeps_every_pair_once() {
        let mut t = Table::new();
        let mut e = Emit {
            table: &mut t,
            combiner: &Sum,
            max_keys: usize::MAX,
        };
        for i in 0..1000_u64 {
            e.emit(&format!("key{i}").into_bytes(), i);
        }
        let parts = t.into_parts(100);
        let mut seen: Vec<(Vec<u8>, u64)> = Vec::new();
        for p in &parts {
            let bytes = postcard::to_allocvec(p).unwrap();
            // A part goes over the size by less than one pair (~ 10 bytes).
            assert!(bytes.len() <= 100 + 16, "{} bytes", bytes.len());
            seen.extend(p.list.iter().cloned());
        }
        assert!(parts.len() >= 80, "{} parts", parts.len());
        seen.sort();
        let want: Vec<(Vec<u8>, u64)> = {
            let mut w: Vec<_> = (0..1000_u64)
                .map(|i| (format!("key{i}").into_bytes(), i))
                .collect();
            w.sort();
            w
        };
        assert_eq!(seen, want);
        assert_eq!(Table::<u8, u8>::new().into_parts(10).len(), 1);
    }

    #[test]
    fn sums_minima_and_maxima_of_integers_are_order_free_and_no_other() {
        assert!(Combiner::<u64>::order_free(&Sum));
        assert!(Combiner::<i32>::order_free(&Min));
        assert!(Combiner::<usize>::order_free(&Max));
        assert!(!Combiner::<f64>::order_free(&Sum));
        assert!(!Combiner::<f32>::order_free(&Min));
        assert!(!Combiner::<String>::order_free(&Max));
    }

    #[test]
    fn top_orders_by_value_then_key() {
        let k = Keyed {
            entries: vec![(1, 5), (2, 9), (3, 5), (4, 1)],
        };
        let top: Vec<(i32, i32)> = k.top(3).into_iter().map(|(a, b)| (*a, *b)).collect();
        assert_eq!(top, [(2, 9), (1, 5), (3, 5)]);
        assert_eq!(k.top(10).len(), 4);
        assert_eq!(k.get(&3), Some(&5));
        assert_eq!(k.get(&7), None);
    }
}
