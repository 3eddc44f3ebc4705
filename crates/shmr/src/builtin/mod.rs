//! Built-in jobs: [`Sum`], [`Stats`] and [`Histogram`] over arrays, each
//! also per column ([`Columns`], numpy's `axis=0`), and the word count over
//! text ([`WordCounts`], a records `fold`'s accumulator; [`count_words`] as
//! a keyed job's mapper).
//!
//! Each array job is a [`Job`](crate::Job), run like any other:
//! `shmr::run(&data, &Sum)` on the global pool, `pool.on(&data).run(&Sum)`
//! on yours. Their kernels are written so the compiler
//! vectorizes them: independent accumulator lanes, combined in a fixed order,
//! so results are reproducible bit for bit for a given chunk size.

mod columns;
mod histogram;
mod stats;
mod sum;
mod words;

pub use columns::Columns;
pub use histogram::{Histogram, HistogramCounts};
pub use stats::{Stats, Summary};
pub use sum::Sum;
pub use words::{WordCounts, count_words, for_each_word};
