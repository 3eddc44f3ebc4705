//! Word count, the keyed job everyone writes first: words as Phoenix++'s
//! `word_count` defines them (an ASCII letter, then letters and
//! apostrophes, upper-cased; every other byte, digits too, separates
//! words), counted per word. Run as a records job cut at whitespace, which
//! never cuts such a word:
//!
//! ```text
//! pool.on(&text).records(Delimiters::WHITESPACE).keyed(keyed::Sum, builtin::count_words)
//! ```
//!
//! or, faster, as a records `fold` into a [`WordCounts`] per worker: a table
//! made for words, which hides the cost of probing a table larger than the
//! cache (see its docs).

use crate::job::keyed::{Emit, Keyed, Records, SmallBytes, Sum};
use crate::memory::prefetch;
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Calls `f` with each word of `bytes`, upper-cased.
///
/// # Example
/// ```
/// let mut words = Vec::new();
/// shmr::builtin::for_each_word(b"Don't stop-me, 2024 o'clock", |w| words.push(w.to_vec()));
/// assert_eq!(words, [&b"DON'T"[..], b"STOP", b"ME", b"O'CLOCK"]);
/// ```
#[inline]
pub fn for_each_word(bytes: &[u8], mut f: impl FnMut(&[u8])) {
    // Words up to 64 bytes are upper-cased on the stack; longer ones in a
    // buffer made only if one occurs.
    let mut word = [0u8; 64];
    let mut long = Vec::new();
    let mut i = 0;
    let n = bytes.len();
    while i < n {
        while i < n && !bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let start = i;
        while i < n && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'\'') {
            i += 1;
        }
        let w = &bytes[start..i];
        if w.is_empty() {
            continue;
        }
        if w.len() <= word.len() {
            let out = &mut word[..w.len()];
            for (o, &c) in out.iter_mut().zip(w) {
                *o = c.to_ascii_uppercase();
            }
            f(out);
        } else {
            long.clear();
            long.extend(w.iter().map(u8::to_ascii_uppercase));
            f(&long);
        }
    }
}

/// The mapper of a word count as a keyed job: emits 1 for each word of the
/// chunk's records into the worker's key table. For keyed jobs (across
/// ranks, or into a table of one's own); a records `fold` into
/// [`WordCounts`] counts the same words about 3x faster.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Delimiters, Sum};
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(b"the cat and The hat".to_vec()))?;
/// let counts = pool.on(&text).records(Delimiters::WHITESPACE).keyed(Sum, shmr::builtin::count_words)?;
/// assert_eq!(counts.get(&b"THE"[..]), Some(&2));
/// assert_eq!(counts.len(), 4);
/// # Ok(()) }
/// ```
pub fn count_words(records: Records<'_>, out: &mut Emit<'_, SmallBytes, u64, Sum>) {
    for_each_word(records.as_bytes(), |w| out.emit_from(w, 1));
}

/// What a byte is to a word: it separates words, it is a letter (which
/// starts or continues one), or an apostrophe (which only continues one).
const SEPARATOR: u8 = 0;
const LETTER: u8 = 1;
const APOSTROPHE: u8 = 2;

const fn classes() -> [u8; 256] {
    let mut c = [SEPARATOR; 256];
    let mut b = 0;
    while b < 256 {
        let u = b as u8;
        if u.is_ascii_alphabetic() {
            c[b] = LETTER;
        } else if u == b'\'' {
            c[b] = APOSTROPHE;
        }
        b += 1;
    }
    c
}

/// Each byte's class, looked up rather than computed: one load per byte.
static CLASS: [u8; 256] = classes();

/// Words of at most this many bytes are held in a [`WordCounts`] slot
/// itself; longer ones in a list of their bytes beside the slots.
const INLINE: usize = 16;

/// A word as [`WordCounts`] holds it: up to 16 bytes in two words, the
/// bytes upper-cased, little-endian, padded with zeros (no letter or
/// apostrophe is 0, so the padding is never part of a word).
type Packed = [u64; 2];

/// `word` (at most [`INLINE`] bytes, as counted) packed.
fn pack(word: &[u8]) -> Packed {
    let mut key = [0u64; 2];
    for (i, &b) in word.iter().enumerate() {
        key[i / 8] |= u64::from(b) << (8 * (i % 8));
    }
    key
}

/// Calls `short` with each word of at most [`INLINE`] bytes, packed, and
/// `long` with each longer one, upper-cased: the words of
/// [`for_each_word`], built in registers.
#[inline]
fn for_each_packed(bytes: &[u8], mut short: impl FnMut(Packed), mut long: impl FnMut(&[u8])) {
    let class = |b: u8| CLASS[b as usize];
    let mut buf = Vec::new();
    let (mut i, n) = (0, bytes.len());
    while i < n {
        while i < n && class(bytes[i]) != LETTER {
            i += 1;
        }
        let start = i;
        let mut key = [0u64; 2];
        while i < n && class(bytes[i]) != SEPARATOR {
            let len = i - start;
            if len < INLINE {
                key[len / 8] |= u64::from(bytes[i].to_ascii_uppercase()) << (8 * (len % 8));
            }
            i += 1;
        }
        match i - start {
            0 => {}
            len if len <= INLINE => short(key),
            _ => {
                buf.clear();
                buf.extend(bytes[start..i].iter().map(u8::to_ascii_uppercase));
                long(&buf);
            }
        }
    }
}

/// One slot of a [`WordCounts`]: a word, its hash with two flag bits
/// (`tag`, 0 for an empty slot), and its count. Two to a cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    /// The packed word, or for a long one its offset and length in the
    /// table's list of long words.
    key: Packed,
    tag: u64,
    count: u64,
}

/// A tag's flag bits: the slot is taken, and holds a long word.
const TAKEN: u64 = 1;
const LONG: u64 = 2;

/// A taken slot's tag for a word of `hash` (or of another table's tag:
/// the bits above the flags are the hash's).
fn tag(hash: u64, long: bool) -> u64 {
    (hash & !(TAKEN | LONG)) | TAKEN | if long { LONG } else { 0 }
}

/// How far ahead of its probe a word's slot is prefetched, in words:
/// enough words of tokenizing to cover a miss to memory.
const AHEAD: usize = 16;

fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

fn hash_packed([a, b]: Packed) -> u64 {
    folded_multiply(
        folded_multiply(a ^ 0x243f_6a88_85a3_08d3, b ^ 0x1319_8a2e_0370_7344),
        0xa409_3822_299f_31d0,
    )
}

fn hash_long(word: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x082e_fa98_ec4e_6c89).hash_one(word)
}

/// The counts of words, as the built-in word count makes them: the
/// accumulator of a records [`fold`](crate::JobBuilder::fold), one per
/// worker, merged once per worker, read as a [`Keyed`] sorted by word.
/// Words as [`for_each_word`] defines them (Phoenix++'s `word_count`).
/// Counts are exact, so the result is the same for any number of workers.
///
/// A table made for words, because a word count spends its time in its
/// table: with a few hundred thousand distinct words the table is tens of
/// megabytes, larger than the cache, and nearly every new word's probe
/// waits on memory. Here each word's slot is fetched (16 words before
/// it is probed) while the words in between are cut out of the text, and a
/// word of up to 16 bytes is compared as two machine words inside its slot,
/// with no pointer to follow and no `memcmp` (docs/design.md, "Keyed
/// MapReduce"; docs/benchmarks.md for what it gains).
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::builtin::WordCounts;
/// use shmr::keyed::Delimiters;
/// let pool = shmr::Pool::builder().workers(2).build()?;
/// let text = b"The cat and the hat. THE END\n".repeat(1000);
/// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(text))?;
/// let counts = pool
///     .on(&text)
///     .records(Delimiters::WHITESPACE)
///     .fold(WordCounts::new, WordCounts::add_records, WordCounts::merge)?;
/// assert_eq!(counts.get(b"THE"), Some(3000));
/// assert_eq!((counts.len(), counts.words()), (5, 7000));
/// let sorted = counts.into_keyed();
/// assert_eq!(sorted.top(1)[0].1, &3000);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WordCounts {
    /// A power of two of slots, at most 80% taken, probed linearly.
    slots: Vec<Slot>,
    taken: usize,
    /// The bytes of the words longer than [`INLINE`], end to end.
    long: Vec<u8>,
}

impl Default for WordCounts {
    fn default() -> Self {
        WordCounts::new()
    }
}

impl WordCounts {
    /// An empty table.
    pub fn new() -> WordCounts {
        WordCounts {
            slots: vec![Slot::default(); 1 << 10],
            taken: 0,
            long: Vec::new(),
        }
    }

    /// Counts the words of `text`.
    ///
    /// ```
    /// let mut counts = shmr::builtin::WordCounts::new();
    /// counts.add_text(b"Don't stop-me, 2024 o'clock; don't");
    /// assert_eq!(counts.get(b"DON'T"), Some(2));
    /// assert_eq!(counts.words(), 5);
    /// ```
    pub fn add_text(&mut self, text: &[u8]) {
        // Words wait in a ring between their prefetch and their probe.
        let mut ring = [([0u64; 2], 0u64); AHEAD];
        let mut seen = 0usize;
        let mut longs = Vec::new();
        for_each_packed(
            text,
            |key| {
                let hash = hash_packed(key);
                prefetch(&self.slots[self.home(hash)]);
                let at = seen % AHEAD;
                if seen >= AHEAD {
                    let (k, h) = ring[at];
                    self.add_packed(k, h, 1);
                }
                ring[at] = (key, hash);
                seen += 1;
            },
            |word| longs.push(word.to_vec()),
        );
        for k in seen.saturating_sub(AHEAD)..seen {
            let (key, hash) = ring[k % AHEAD];
            self.add_packed(key, hash, 1);
        }
        for word in &longs {
            self.add_long(word, 1);
        }
    }

    /// Counts the words of a records job's chunk: the step of a records
    /// [`fold`](crate::JobBuilder::fold) cut at whitespace.
    pub fn add_records(&mut self, records: Records<'_>) {
        self.add_text(records.as_bytes());
    }

    /// Adds the counts of `other` to these.
    pub fn merge(mut self, mut other: WordCounts) -> WordCounts {
        if other.taken > self.taken {
            std::mem::swap(&mut self, &mut other);
        }
        for s in other.slots.iter().filter(|s| s.tag != 0) {
            match s.tag & LONG {
                0 => self.add_packed(s.key, s.tag, s.count),
                _ => self.add_long(other.long_word(s), s.count),
            }
        }
        self
    }

    /// The count of `word` (upper-case, as counted), if it occurs.
    pub fn get(&self, word: &[u8]) -> Option<u64> {
        let found = match word.len() {
            0 => return None,
            n if n <= INLINE => {
                let key = pack(word);
                self.probe(tag(hash_packed(key), false), |s| s.key == key)
            }
            _ => self.probe(tag(hash_long(word), true), |s| self.long_word(s) == word),
        };
        found.ok().map(|i| self.slots[i].count)
    }

    /// Distinct words.
    pub fn len(&self) -> usize {
        self.taken
    }

    /// Whether no word was counted.
    pub fn is_empty(&self) -> bool {
        self.taken == 0
    }

    /// Words counted, each occurrence once: the sum of the counts.
    pub fn words(&self) -> u64 {
        self.slots.iter().map(|s| s.count).sum()
    }

    /// Every word with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (SmallBytes, u64)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.tag != 0)
            .map(|s| (self.word(s), s.count))
    }

    /// The counts sorted by word, as a keyed job's result: ready for
    /// [`Keyed::top`] and [`Keyed::get`].
    pub fn into_keyed(self) -> Keyed<SmallBytes, u64> {
        let mut pairs: Vec<(SmallBytes, u64)> = self.iter().collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Keyed::of_sorted(pairs)
    }

    /// The slot a hash (or a tag, which keeps its bits above the flags)
    /// starts probing at.
    fn home(&self, hash: u64) -> usize {
        (hash >> 2) as usize & (self.slots.len() - 1)
    }

    fn word(&self, s: &Slot) -> SmallBytes {
        match s.tag & LONG {
            0 => {
                let mut bytes = [0u8; INLINE];
                bytes[..8].copy_from_slice(&s.key[0].to_le_bytes());
                bytes[8..].copy_from_slice(&s.key[1].to_le_bytes());
                let len = bytes.iter().position(|&b| b == 0).unwrap_or(INLINE);
                SmallBytes::from_slice(&bytes[..len])
            }
            _ => SmallBytes::from_slice(self.long_word(s)),
        }
    }

    fn long_word(&self, s: &Slot) -> &[u8] {
        let [offset, len] = s.key;
        &self.long[offset as usize..][..len as usize]
    }

    /// Where the word of `tag` that `is_it` recognizes is (`Ok`), or the
    /// empty slot where it would go (`Err`): linear probing from its home.
    #[inline]
    fn probe(&self, tag: u64, is_it: impl Fn(&Slot) -> bool) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(tag);
        loop {
            let s = &self.slots[i];
            if s.tag == tag && is_it(s) {
                return Ok(i);
            }
            if s.tag == 0 {
                return Err(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `n` to a packed word's count (its hash, or the tag it had in
    /// another table).
    #[inline]
    fn add_packed(&mut self, key: Packed, hash: u64, n: u64) {
        let tag = tag(hash, false);
        match self.probe(tag, |s| s.key == key) {
            Ok(i) => self.slots[i].count += n,
            Err(i) => self.take(i, Slot { key, tag, count: n }),
        }
    }

    fn add_long(&mut self, word: &[u8], n: u64) {
        let tag = tag(hash_long(word), true);
        match self.probe(tag, |s| self.long_word(s) == word) {
            Ok(i) => self.slots[i].count += n,
            Err(i) => {
                let key = [self.long.len() as u64, word.len() as u64];
                self.long.extend_from_slice(word);
                self.take(i, Slot { key, tag, count: n });
            }
        }
    }

    /// Puts `slot` in the empty slot `i`; past 80% taken, doubles the
    /// slots.
    fn take(&mut self, i: usize, slot: Slot) {
        self.slots[i] = slot;
        self.taken += 1;
        if self.taken * 5 <= self.slots.len() * 4 {
            return;
        }
        let grown = vec![Slot::default(); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, grown);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.tag != 0) {
            let mut i = self.home(s.tag);
            while self.slots[i].tag != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }
}

/// A table crosses from a worker as the list of its words and counts, not
/// as its slots, most of which are empty.
impl Serialize for WordCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.taken))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for WordCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = WordCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("words and their counts")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WordCounts, A::Error> {
                let mut t = WordCounts::new();
                while let Some((word, n)) = seq.next_element::<(SmallBytes, u64)>()? {
                    if word.is_empty() || word.iter().any(|&b| CLASS[b as usize] == SEPARATOR) {
                        return Err(serde::de::Error::custom("not a word"));
                    }
                    match word.len() {
                        len if len <= INLINE => {
                            let key = pack(&word);
                            t.add_packed(key, hash_packed(key), n);
                        }
                        _ => t.add_long(&word, n),
                    }
                }
                Ok(t)
            }
        }
        d.deserialize_seq(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::WordCounts;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The independent expectation: `for_each_word` into a `HashMap`.
    fn by_map(text: &[u8]) -> HashMap<Vec<u8>, u64> {
        let mut m = HashMap::new();
        super::for_each_word(text, |w| *m.entry(w.to_vec()).or_insert(0) += 1);
        m
    }

    fn assert_same(t: &WordCounts, want: &HashMap<Vec<u8>, u64>) {
        assert_eq!(t.len(), want.len());
        assert_eq!(t.words(), want.values().sum::<u64>());
        for (w, &n) in want {
            assert_eq!(t.get(w), Some(n), "{}", String::from_utf8_lossy(w));
        }
        let listed: HashMap<Vec<u8>, u64> = t.iter().map(|(w, n)| (w.to_vec(), n)).collect();
        assert_eq!(&listed, want);
    }

    proptest! {
        // Each case counts five tables; a quarter of the usual cases.
        #![proptest_config(proptest::test_runner::Config::with_cases(crate::fuzz_config().cases / 4))]

        /// Any bytes: letters, apostrophes, separators, bytes above 127,
        /// words of every length around the 16 kept in a slot; counted in
        /// pieces, merged, and sent as a fold's accumulator is.
        #[test]
        fn word_counts_are_a_hash_maps_counts(
            text in proptest::collection::vec(
                prop_oneof![
                    4 => proptest::sample::select(b"abcAB'".to_vec()),
                    1 => any::<u8>(),
                    1 => Just(b' '),
                ],
                0..1200,
            ),
            cut in 0usize..1200,
        ) {
            let want = by_map(&text);
            let mut whole = WordCounts::new();
            whole.add_text(&text);
            assert_same(&whole, &want);
            // In two pieces cut at a separator, merged either way round.
            let cut = (cut.min(text.len())..text.len())
                .find(|&i| !text[i].is_ascii_alphabetic() && text[i] != b'\'')
                .unwrap_or(text.len());
            let (mut a, mut b) = (WordCounts::new(), WordCounts::new());
            a.add_text(&text[..cut]);
            b.add_text(&text[cut..]);
            assert_same(&a.clone().merge(b.clone()), &want);
            assert_same(&b.merge(a), &want);
            let sent = postcard::to_allocvec(&whole).unwrap();
            assert_same(&postcard::from_bytes::<WordCounts>(&sent).unwrap(), &want);
        }
    }

    /// Enough distinct words to grow the table many times, some longer
    /// than a slot holds; sorted as a keyed job's result is.
    #[test]
    fn many_distinct_words_grow_the_table_and_sort_by_word() {
        let mut text = Vec::new();
        for i in 0..200_000_u32 {
            let len = 1 + i % 24;
            let word: Vec<u8> = (0..len)
                .map(|k| b'a' + ((i >> (k % 16)) as u8).wrapping_add(k as u8) % 26)
                .collect();
            text.extend_from_slice(&word);
            text.push(if i % 3 == 0 { b'\n' } else { b' ' });
        }
        let want = by_map(&text);
        let mut t = WordCounts::new();
        t.add_text(&text);
        assert_same(&t, &want);
        let keyed = t.into_keyed();
        let mut sorted: Vec<(Vec<u8>, u64)> = want.into_iter().collect();
        sorted.sort();
        let got: Vec<(Vec<u8>, u64)> = keyed.iter().map(|(w, n)| (w.to_vec(), *n)).collect();
        assert_eq!(got, sorted);
    }

    /// A table that arrives with something that is not a word is refused,
    /// not counted.
    #[test]
    fn a_table_that_holds_a_non_word_is_refused() {
        let sent = |pairs: &[(&[u8], u64)]| postcard::to_allocvec(pairs).unwrap();
        let good = postcard::from_bytes::<WordCounts>(&sent(&[(b"A'B", 2)])).unwrap();
        assert_eq!(good.get(b"A'B"), Some(2));
        for bad in [&b""[..], b"A B", b"A\0", b"X9"] {
            let forged = sent(&[(b"OK", 1), (bad, 1)]);
            assert!(
                postcard::from_bytes::<WordCounts>(&forged).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(WordCounts::new().get(b""), None);
    }

    #[test]
    fn words_as_phoenix_defines_them() {
        let mut got = Vec::new();
        super::for_each_word(b"Don't stop-me now, 2024 o'clock 'quoted' x9y", |w| {
            got.push(String::from_utf8(w.to_vec()).unwrap())
        });
        assert_eq!(
            got,
            ["DON'T", "STOP", "ME", "NOW", "O'CLOCK", "QUOTED'", "X", "Y"]
        );
        let long = "a".repeat(100);
        let mut n = 0;
        super::for_each_word(long.as_bytes(), |w| n = w.len());
        assert_eq!(n, 100);
    }
}
