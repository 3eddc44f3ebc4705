//! Text files for the keyed examples and the harness.

/// Maps the text file at `path` as a byte array, without reading it.
///
/// # Safety
/// Nothing may write or truncate the file while the array is in use (see
/// `SharedArray::open_raw`).
pub unsafe fn map_text(
    path: &std::path::Path,
) -> Result<shmr::SharedArray<u8, ndarray::Ix1>, shmr::Error> {
    let len = file_len(path)?;
    // SAFETY: the caller's promise.
    unsafe { shmr::SharedArray::open_raw(path, 0, len, shmr::NpyMode::ReadOnly) }
}

/// The length of the file at `path` in bytes, or the error that names it.
pub fn file_len(path: &std::path::Path) -> Result<usize, shmr::Error> {
    Ok(std::fs::metadata(path)
        .map_err(|e| shmr::Error::File {
            path: path.to_path_buf(),
            reason: format!("cannot read its size: {e}"),
        })?
        .len() as usize)
}

/// `text` cut into pieces of about `size` bytes, each moved to whole
/// records as a records job moves its chunks (some may be empty): the
/// rayon baselines' split.
pub fn pieces(text: &[u8], delimiters: shmr::keyed::Delimiters, size: usize) -> Vec<&[u8]> {
    let starts: Vec<usize> = (0..text.len().div_ceil(size))
        .map(|i| delimiters.record_start(text, i * size))
        .chain([text.len()])
        .collect();
    starts
        .windows(2)
        .map(|w| &text[w[0]..w[1].max(w[0])])
        .collect()
}
