//! Records: a byte array cut only between records, each chunk moved to
//! the records that start inside it.

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

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

    /// The one byte of a set of one.
    fn single(&self) -> Option<u8> {
        let n: u32 = self.set.iter().map(|w| w.count_ones()).sum();
        (n == 1).then(|| (0..=255_u8).find(|&b| self.contains(b)))?
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

    /// `bytes` cut as a records job cuts its input: pieces of
    /// `piece_bytes` (the job's chunk size), each moved to whole records,
    /// so that each record is in exactly one piece. For a sequential or
    /// rayon run of the same work, split as shmr splits it.
    ///
    /// # Example
    /// ```
    /// use shmr::keyed::{Delimiters, Records};
    /// let text = b"alpha beta\ngamma\ndelta epsilon\n";
    /// let pieces: Vec<Records<'_>> = Records::pieces(text, 8, Delimiters::LINES).collect();
    /// let lines: Vec<&[u8]> = pieces.iter().flat_map(|p| p.iter()).collect();
    /// assert_eq!(lines, [&b"alpha beta"[..], b"gamma", b"delta epsilon"]);
    /// assert_eq!(pieces.len(), 4); // 31 bytes in pieces of 8; some are empty
    /// ```
    pub fn pieces(
        bytes: &'c [u8],
        piece_bytes: usize,
        delimiters: Delimiters,
    ) -> impl ExactSizeIterator<Item = Records<'c>> + 'c {
        let size = piece_bytes.max(1);
        (0..bytes.len().div_ceil(size)).map(move |i| {
            let end = (i + 1).saturating_mul(size).min(bytes.len());
            records_in(bytes, i * size, end, delimiters)
        })
    }

    /// The non-empty records, without their delimiters.
    pub fn iter(&self) -> RecordIter<'c> {
        RecordIter {
            rest: self.bytes,
            one: self.delimiters.single(),
            delimiters: self.delimiters,
        }
    }
}

/// The non-empty records of a chunk ([`Records::iter`]). With one
/// delimiter byte (lines) the next is found with `memchr`, many bytes a
/// step; with several, byte by byte in the set.
#[derive(Clone, Debug)]
pub struct RecordIter<'c> {
    rest: &'c [u8],
    one: Option<u8>,
    delimiters: Delimiters,
}

impl<'c> Iterator for RecordIter<'c> {
    type Item = &'c [u8];

    #[inline]
    fn next(&mut self) -> Option<&'c [u8]> {
        while !self.rest.is_empty() {
            let d = self.delimiters;
            let end = match self.one {
                Some(b) => memchr::memchr(b, self.rest),
                None => self.rest.iter().position(|&b| d.contains(b)),
            };
            let (record, rest) = match end {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &self.rest[self.rest.len()..]),
            };
            self.rest = rest;
            if !record.is_empty() {
                return Some(record);
            }
        }
        None
    }
}

/// The chunk's records: the worker's chunk of the array moved to whole
/// records, found in the whole array (the job's side input, the same
/// mapping).
pub(crate) fn records_of<'c>(
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
    records_in(all, start, start + chunk.len(), delimiters)
}

/// The records of `all` that start in `start..end`: a chunk moved to
/// whole records.
fn records_in(all: &[u8], start: usize, end: usize, delimiters: Delimiters) -> Records<'_> {
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
    fn pieces_hold_each_record_of_the_text_once_whole() {
        let text = b"Lorem ipsum\n\ndolor  sit amet,\tconsectetur adipiscing\nelit sed do\n";
        for d in [Delimiters::LINES, Delimiters::WHITESPACE] {
            let seq: Vec<&[u8]> = Records::new(text, d).iter().collect();
            for size in 1..=text.len() + 2 {
                let pieces: Vec<Records<'_>> = Records::pieces(text, size, d).collect();
                assert_eq!(pieces.len(), text.len().div_ceil(size));
                let all: Vec<&[u8]> = pieces.iter().flat_map(|p| p.iter()).collect();
                assert_eq!(all, seq, "{d:?}, pieces of {size}");
                // In order, and none starts inside another's bytes.
                let mut at = 0;
                for p in pieces.iter().filter(|p| !p.as_bytes().is_empty()) {
                    assert_eq!(p.offset(), at);
                    at += p.as_bytes().len();
                }
            }
        }
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
}
