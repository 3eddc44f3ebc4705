//! SharedArray construction, views, attaching, and segment header validation.

use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, Ix1, Ix2, IxDyn, s};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{MemfdFlags, SealFlags, memfd_create};
use shmr::Header;
use shmr::{DType, Error, SharedArray};

shmr::test_worker!();

#[test]
fn zeros_and_views() {
    let mut a = SharedArray::<i16, _>::zeros((3, 4)).unwrap();
    assert_eq!(a.shape(), &[3, 4]);
    assert_eq!((a.len(), a.ndim(), a.dtype()), (12, 2, DType::I16));
    assert!(a.view().iter().all(|&x| x == 0));
    a.view_mut().row_mut(1).fill(7);
    assert_eq!(a.view().sum(), 28);
    assert_eq!(a.view().row(1).to_vec(), vec![7; 4]);
}

#[test]
fn from_array_copies_any_layout_into_standard_order() {
    let base = Array2::from_shape_fn((5, 7), |(i, j)| (i * 10 + j) as f32);
    let layouts: Vec<ArrayView2<'_, f32>> = vec![
        base.view(),
        base.t(),
        base.slice(s![..;-1, ..]),
        base.slice(s![1..4;2, ..;-3]),
    ];
    for v in layouts {
        let a = SharedArray::from_array(&v).unwrap();
        assert_eq!(a.view(), v, "same logical values");
        assert!(a.view().is_standard_layout());
    }
    let cube = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i + j * k) as u64);
    let mut c = cube.clone();
    c.invert_axis(Axis(1));
    let a = SharedArray::from_array(&c).unwrap();
    assert_eq!(a.view(), c);
}

/// An array in standard layout is written into its segment's file whole,
/// before the segment is mapped: the copy is the source's values, for
/// every element type, empty and odd lengths and several dimensions; the
/// segment is sealed, attaches with its header checked, and works in a
/// pool.
#[test]
fn from_array_in_standard_layout_is_written_whole_and_sealed() {
    fn check<A: shmr::Element>(values: Vec<A>) {
        let n = values.len();
        let a = SharedArray::from_array(&Array1::from(values.clone())).unwrap();
        assert_eq!(a.view().to_vec(), values, "{}", A::DTYPE);
        assert_eq!((a.len(), a.dtype()), (n, A::DTYPE));
        let b = attach::<A, Ix1>(a.as_fd().try_clone_to_owned().unwrap()).unwrap();
        assert_eq!(b.view(), a.view());
        let err = rustix::fs::ftruncate(a.as_fd(), 0).unwrap_err();
        assert_eq!(err, rustix::io::Errno::PERM, "sealed");
    }
    for n in [0, 1, 7, 4097, 100_003] {
        check((0..n).map(|i| i as u8).collect());
        check((0..n).map(|i| (i as i16).wrapping_neg()).collect());
        check((0..n).map(|i| i as u32 * 3).collect());
        check((0..n).map(|i| i as i64 - 5).collect());
        check((0..n).map(|i| i as f32 / 3.0).collect());
        check((0..n).map(|i| (i as f64).sqrt()).collect());
    }
    let cube = Array3::from_shape_fn((3, 5, 7), |(i, j, k)| (i * 100 + j * 10 + k) as i32);
    let a = SharedArray::from_array(&cube).unwrap();
    assert_eq!(a.view(), cube);
    let big = Array1::from_iter((0..1_000_000).map(|i| i as f64));
    let a = SharedArray::from_array(&big).unwrap();
    let pool = shmr::Pool::builder().workers(2).build().unwrap();
    assert_eq!(pool.on(&a).run(&shmr::builtin::Sum).unwrap(), big.sum());
}

#[test]
fn oversized_shapes_are_refused() {
    let err = SharedArray::<f64, _>::zeros((usize::MAX / 2, 4)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("too large"), "{err}");
}

#[test]
fn header_roundtrip_and_every_corruption_is_refused() {
    let h = Header::new(DType::U32, &[6, 5, 4]).unwrap();
    let good = h.encode();
    let len = h.segment_len();
    assert_eq!(Header::decode(&good, len).unwrap(), h);
    assert_eq!(h.data_len(), 6 * 5 * 4 * 4);

    let corrupt = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        Header::decode(&b, len).unwrap_err().to_string()
    };
    assert!(corrupt(0, b'X').contains("magic"));
    assert!(corrupt(8, 2).contains("version"));
    assert!(corrupt(12, 99).contains("dtype"));
    assert!(corrupt(16, 200).contains("dimensions"));
    assert!(corrupt(20, 1).contains("flags"));
    assert!(corrupt(25, 0).contains("offset"));
    assert!(corrupt(32, 0).contains("data length"));
    assert!(
        corrupt(64, 7).contains("data length"),
        "a changed shape no longer matches the length"
    );
    // Truncated header bytes, and a segment shorter than the header says.
    assert!(
        Header::decode(&good[..40], len)
            .unwrap_err()
            .to_string()
            .contains("too short")
    );
    assert!(
        Header::decode(&good[..70], len)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    assert!(
        Header::decode(&good, len - 1)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    // Another segment type entirely.
    assert!(matches!(
        Header::decode(&[0u8; 128], len),
        Err(Error::InvalidSegment(_))
    ));
    assert_eq!(&good[..8], b"SHMRARR\0", "the magic");
}

#[test]
fn shapes_that_overflow_in_a_header_are_refused() {
    let mut b = Header::new(DType::F64, &[1, 1]).unwrap().encode();
    b[64..72].copy_from_slice(&u64::MAX.to_le_bytes());
    b[72..80].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = Header::decode(&b, u64::MAX).unwrap_err();
    assert!(matches!(err, Error::InvalidSegment(_)), "{err:?}");
}

#[test]
fn one_dimensional_from_vec() {
    let a = SharedArray::from_array(&Array1::from(vec![1u8, 2, 3])).unwrap();
    assert_eq!(a.view().to_vec(), vec![1, 2, 3]);
    assert!(!a.is_empty());
    assert!(format!("{a:?}").contains("U8"));
}

/// A memfd holding `bytes` at its start, `len` bytes long, sealed against
/// shrinking or not.
fn raw_segment(bytes: &[u8], len: u64, seal: bool) -> OwnedFd {
    let fd = memfd_create("raw", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    rustix::fs::ftruncate(&fd, len).unwrap();
    rustix::io::pwrite(&fd, bytes, 0).unwrap();
    if seal {
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).unwrap();
    }
    fd
}

fn attach<A: shmr::Element, D: ndarray::Dimension>(
    fd: OwnedFd,
) -> Result<SharedArray<A, D>, Error> {
    // SAFETY: nothing writes these arrays while the tests hold them.
    unsafe { SharedArray::<A, D>::from_fd(fd) }
}

fn attach_err(fd: OwnedFd) -> String {
    let err = attach::<f64, Ix1>(fd).unwrap_err();
    assert!(matches!(err, Error::InvalidSegment(_)), "{err:?}");
    err.to_string()
}

#[test]
fn attaching_shares_the_pages_and_works_in_a_pool() {
    let a = SharedArray::from_array(&Array1::from_iter((0..1000).map(f64::from))).unwrap();
    let mut b = attach::<f64, Ix1>(a.as_fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(b.view(), a.view());
    b.view_mut()[7] = -1.0;
    assert_eq!(a.view()[7], -1.0, "the same pages, not a copy");
    let pool = shmr::Pool::builder().workers(2).build().unwrap();
    let expected = a.view().sum();
    assert_eq!(pool.on(&b).run(&shmr::builtin::Sum).unwrap(), expected);
    // Our segments are sealed: nobody can shrink them under a mapping.
    let err = rustix::fs::ftruncate(a.as_fd(), 10).unwrap_err();
    assert_eq!(err, rustix::io::Errno::PERM);
}

#[test]
fn attaching_the_wrong_type_or_dimensionality_is_refused() {
    let a = SharedArray::from_array(&Array2::<f64>::zeros((3, 4))).unwrap();
    let fd = || a.as_fd().try_clone_to_owned().unwrap();
    let err = attach::<f32, Ix2>(fd()).unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err:?}");
    assert!(
        err.to_string().contains("f32") && err.to_string().contains("f64"),
        "{err}"
    );
    let err = attach::<f64, Ix1>(fd()).unwrap_err();
    assert!(err.to_string().contains("dimensions"), "{err}");
    assert_eq!(attach::<f64, IxDyn>(fd()).unwrap().shape(), &[3, 4]);
}

#[test]
fn attaching_a_corrupt_truncated_or_unsealed_segment_is_refused() {
    let h = Header::new(DType::F64, &[1000]).unwrap();
    let good = h.encode();
    let len = h.segment_len();
    assert_eq!(
        attach::<f64, Ix1>(raw_segment(&good, len, true))
            .unwrap()
            .len(),
        1000
    );

    let with = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        raw_segment(&b, len, true)
    };
    assert!(attach_err(with(0, b'X')).contains("magic"));
    assert!(attach_err(with(8, 9)).contains("version 9"));
    assert!(attach_err(with(12, 77)).contains("dtype code 77"));
    // The header promises 8000 bytes of data; the segment holds 100.
    assert!(attach_err(raw_segment(&good, 4096 + 100, true)).contains("truncated"));
    assert!(attach_err(raw_segment(&good[..10], 10, true)).contains("too short"));
    assert!(attach_err(raw_segment(&[], 0, true)).contains("empty"));
    assert!(attach_err(raw_segment(&good, len, false)).contains("not sealed"));
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    assert!(attach_err(file.into()).contains("not a sealable memfd"));
}

#[test]
fn an_array_larger_than_memory_is_refused_up_front() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib = |name: &str| -> u64 {
        let line = meminfo.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let ceiling = (kib("MemTotal:") + kib("SwapTotal:")) * 1024;
    let n = (2 * ceiling / 8) as usize;
    let err = SharedArray::<f64, _>::zeros(n).unwrap_err();
    match &err {
        Error::OutOfSharedMemory {
            requested,
            available,
            ..
        } => {
            assert_eq!(*requested, n as u64 * 8 + 4096);
            assert!(*available <= ceiling, "{available} > {ceiling}");
        }
        other => panic!("expected OutOfSharedMemory, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("GiB") && msg.contains("free"), "{msg}");
    // Nothing was reserved: a normal array still fits.
    assert_eq!(SharedArray::<f64, _>::zeros(1000).unwrap().len(), 1000);
}
