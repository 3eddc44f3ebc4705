//! SharedArray construction and views, and segment header validation.

use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, s};
use shmr::segment::{Header, MAGIC};
use shmr::{DType, Error, SharedArray};

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
    assert_eq!(&good[..8], &MAGIC);
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
