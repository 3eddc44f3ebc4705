//! Word count, the keyed job everyone writes first: words as Phoenix++'s
//! `word_count` defines them (an ASCII letter, then letters and
//! apostrophes, upper-cased; every other byte, digits too, separates
//! words), counted per word. Run as a records job cut at whitespace, which
//! never cuts such a word:
//!
//! ```text
//! pool.on(&text).records(Delimiters::WHITESPACE).keyed(keyed::Sum, builtin::count_words)
//! ```

use crate::job::keyed::{Emit, Records, SmallBytes, Sum};

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

/// The mapper of a word count: emits 1 for each word of the chunk's
/// records.
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

#[cfg(test)]
mod tests {
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
