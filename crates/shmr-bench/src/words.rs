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
