//! Words as Phoenix++'s `word_count` defines them, for the `word_count`
//! example, the CLI's `run wordcount` and the harness: an ASCII letter
//! followed by letters and apostrophes, case folded to upper case; every
//! other byte (digits too) separates words. Chunks of text are cut at
//! whitespace (`Delimiters::WHITESPACE`), which never cuts such a word.

/// Calls `f` with each word of `bytes`, upper-cased.
#[inline]
pub fn for_each_word(bytes: &[u8], mut f: impl FnMut(&[u8])) {
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

/// Maps the text file at `path` as a byte array, without reading it.
///
/// # Safety
/// Nothing may write or truncate the file while the array is in use (see
/// `SharedArray::open_raw`).
pub unsafe fn map_text(
    path: &std::path::Path,
) -> Result<shmr::SharedArray<u8, ndarray::Ix1>, shmr::Error> {
    let len = std::fs::metadata(path)
        .map_err(|e| shmr::Error::File {
            path: path.to_path_buf(),
            reason: format!("cannot read its size: {e}"),
        })?
        .len() as usize;
    // SAFETY: the caller's promise.
    unsafe { shmr::SharedArray::open_raw(path, 0, len, shmr::NpyMode::ReadOnly) }
}
