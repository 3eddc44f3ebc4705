//! A test binary that forgot `shmr::test_worker!()`: starting a pool must
//! fail with an error that says what to add, not hang.

#[test]
fn missing_worker_entry_is_a_clear_error() {
    let err = shmr::Pool::builder().workers(1).build().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, shmr::Error::WorkerStart(_)), "{err:?}");
    assert!(text.contains("shmr::test_worker!()"), "{text}");
}
