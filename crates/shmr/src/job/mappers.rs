//! The mapper types, all in one place (each is defined beside what it
//! maps: the input, the keyed records), one pair per kind of job: `…With` takes the job's
//! parameters first ([`JobBuilder::params`](crate::JobBuilder::params)),
//! `…Bare` does not. Each is a function pointer type, so that a
//! non-capturing closure coerces to it and the mapper can travel to the
//! workers by address (see [`job`](crate::job)).
//!
//! | kind of job | with parameters | without |
//! |---|---|---|
//! | `map_reduce` | [`MapWith`] | [`MapBare`] |
//! | `fold` (a step; its start is `fn(&P) -> T` or `fn() -> T`) | [`FoldWith`] | [`FoldBare`] |
//! | `map_into` | [`IntoWith`] | [`IntoBare`] |
//! | `map_in_place` | [`InPlaceWith`] | [`InPlaceBare`] |
//! | `map_locked` | [`LockedWith`] | [`LockedBare`] |
//! | records `map_reduce` | [`RecordsWith`] | [`RecordsBare`] |
//! | records `fold` (a step) | [`FoldRecordsWith`] | [`FoldRecordsBare`] |
//! | `keyed` over records | [`KeyedWith`] | [`KeyedBare`] |
//! | `keyed` over arrays (one, or read together, with side arrays) | [`KeyedPartsWith`] | [`KeyedPartsBare`] |
//! | `keyed` over one array (the same types, named by its element and dimension) | [`KeyedArrayWith`] | [`KeyedArrayBare`] |

pub use super::input::{FoldBare, FoldWith, IntoBare, IntoWith, MapBare, MapWith};
pub use super::keyed::{
    FoldRecordsBare, FoldRecordsWith, KeyedArrayBare, KeyedArrayWith, KeyedBare, KeyedPartsBare,
    KeyedPartsWith, KeyedWith, RecordsBare, RecordsWith,
};
pub use super::kind::{InPlaceBare, InPlaceWith, LockedBare, LockedWith};
