//! How a keyed job combines the values of a key, what keys and values may
//! be, and where the workers keep their tables.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::hash::Hash;

/// How a keyed job combines two values of one key. It must be
/// associative; it need not be commutative: values are always combined in
/// the order of their records in the input.
///
/// # Example
/// ```
/// use serde::{Deserialize, Serialize};
///
/// /// Keeps the first value seen for each key.
/// #[derive(Serialize, Deserialize)]
/// struct First;
/// impl shmr::keyed::Combiner<u64> for First {
///     fn combine(&self, _acc: &mut u64, _value: u64) {}
/// }
/// let mut v = 3;
/// shmr::keyed::Combiner::combine(&First, &mut v, 5);
/// assert_eq!(v, 3);
/// ```
pub trait Combiner<V>: Serialize + DeserializeOwned + 'static {
    /// Folds `value` (from a later record) into `acc` (from earlier ones).
    fn combine(&self, acc: &mut V, value: V);

    /// Whether combining gives the same bits in any order and any grouping
    /// (commutative, and associative exactly: integer sums, minima and
    /// maxima; not floating-point sums, nor "keep the first"). Then each
    /// worker keeps one table for all its chunks instead of one per chunk,
    /// which saves inserting every chunk's keys again: about twice as fast
    /// on a word count (docs/benchmarks.md). `false` unless a combiner says
    /// otherwise; [`Sum`], [`Min`] and [`Max`] say so for integer values.
    fn order_free(&self) -> bool {
        false
    }
}

/// Whether `V` is a primitive integer, whose sums (wrapping or not, the
/// same in any order unless they overflow, which panics in a debug build
/// and wraps alike in a release one), minima and maxima are order-free.
fn is_integer<V: 'static>() -> bool {
    use std::any::TypeId;
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<u128>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<i128>(),
        TypeId::of::<isize>(),
    ]
    .contains(&TypeId::of::<V>())
}

/// Adds values (`+=`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Sum;
/// Keeps the smaller value (the earlier one on a tie).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Min;
/// Keeps the larger value (the earlier one on a tie).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Max;

impl<V: std::ops::AddAssign + 'static> Combiner<V> for Sum {
    #[inline]
    fn combine(&self, acc: &mut V, value: V) {
        *acc += value;
    }
    fn order_free(&self) -> bool {
        is_integer::<V>()
    }
}
impl<V: PartialOrd + 'static> Combiner<V> for Min {
    #[inline]
    fn combine(&self, acc: &mut V, value: V) {
        if value < *acc {
            *acc = value;
        }
    }
    fn order_free(&self) -> bool {
        is_integer::<V>()
    }
}
impl<V: PartialOrd + 'static> Combiner<V> for Max {
    #[inline]
    fn combine(&self, acc: &mut V, value: V) {
        if value > *acc {
            *acc = value;
        }
    }
    fn order_free(&self) -> bool {
        is_integer::<V>()
    }
}

/// Counts: each value emitted is a number of occurrences (emit 1 per
/// record), added up exactly. An integer sum by another name, for the
/// group-bys that read `(Sum, Count)`; order-free, so one table per worker.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Count, Sum};
/// let keys = shmr::SharedArray::from_array(&ndarray::arr1(&[1_u8, 2, 1, 2, 1]))?;
/// let values = shmr::SharedArray::from_array(&ndarray::arr1(&[1.5_f64, 10.0, 2.0, 20.0, 6.0]))?;
/// // pandas' groupby(keys).agg(["sum", "count"]).
/// let groups = shmr::global_pool()?.on(&keys).and(&values).keyed((Sum, Count), |(k, v), out| {
///     k.iter().zip(v).for_each(|(k, &v)| out.emit(k, (v, 1_u64)))
/// })?;
/// assert_eq!(groups.get(&1), Some(&(9.5, 3)));
/// assert_eq!(groups.get(&2), Some(&(30.0, 2)));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Count;

macro_rules! count_combiner {
    ($($t:ty),+) => {$(
        impl Combiner<$t> for Count {
            #[inline]
            fn combine(&self, acc: &mut $t, value: $t) {
                *acc += value;
            }
            fn order_free(&self) -> bool {
                true
            }
        }
    )+};
}

count_combiner!(u8, u16, u32, u64, u128, usize);

/// A value that averages: the sum and the count of what was emitted into
/// it, combined with [`Sum`]. Emit [`Mean::of`] each value; read
/// [`Mean::mean`]. A float sum, so not order-free: tables per chunk,
/// merged in chunk order, the same bits for any number of workers.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Mean, Sum};
/// let keys = shmr::SharedArray::from_array(&ndarray::arr1(&[1_u8, 2, 1, 2, 1]))?;
/// let values = shmr::SharedArray::from_array(&ndarray::arr1(&[1.0_f64, 10.0, 2.0, 20.0, 6.0]))?;
/// let means = shmr::global_pool()?.on(&keys).and(&values).keyed(Sum, |(k, v), out| {
///     k.iter().zip(v).for_each(|(k, &v)| out.emit(k, Mean::of(v)))
/// })?;
/// assert_eq!(means.get(&1).map(Mean::mean), Some(3.0));
/// assert_eq!(means.get(&2).map(|m| (m.sum(), m.count())), Some((30.0, 2)));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mean {
    sum: f64,
    count: u64,
}

impl Mean {
    /// One value.
    pub fn of(value: f64) -> Mean {
        Mean {
            sum: value,
            count: 1,
        }
    }
    /// The mean of the values (NaN for none).
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }
    /// Their sum.
    pub fn sum(&self) -> f64 {
        self.sum
    }
    /// How many there were.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl std::ops::AddAssign for Mean {
    #[inline]
    fn add_assign(&mut self, other: Mean) {
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// Tuples of combiners combine tuples of values, each with its own:
/// `(Sum, Max)` over `(f64, i64)` values keeps a sum and a maximum per
/// key, `(Sum, Sum)` over `(f64, u64)` a sum and a count (emit `(v, 1)`).
/// Order-free when each is.
///
/// # Example
/// ```
/// use shmr::keyed::{Combiner, Max, Sum};
/// let mut acc = (1.5_f64, 3_i64);
/// (Sum, Max).combine(&mut acc, (2.0, 7));
/// assert_eq!(acc, (3.5, 7));
/// assert!(!Combiner::<(f64, i64)>::order_free(&(Sum, Max)));
/// assert!(Combiner::<(u64, i64)>::order_free(&(Sum, Max)));
/// ```
macro_rules! tuple_combiner {
    ($($c:ident $v:ident $i:tt),+) => {
        impl<$($v: 'static, $c: Combiner<$v>),+> Combiner<($($v,)+)> for ($($c,)+) {
            #[inline]
            fn combine(&self, acc: &mut ($($v,)+), value: ($($v,)+)) {
                $(self.$i.combine(&mut acc.$i, value.$i);)+
            }
            fn order_free(&self) -> bool {
                $(self.$i.order_free())&&+
            }
        }
    };
}

tuple_combiner!(C0 V0 0, C1 V1 1);
tuple_combiner!(C0 V0 0, C1 V1 1, C2 V2 2);
tuple_combiner!(C0 V0 0, C1 V1 1, C2 V2 2, C3 V3 3);

/// Where a keyed job's workers keep their tables
/// ([`JobBuilder::tables`](crate::JobBuilder::tables)).
///
/// One table per worker saves inserting each chunk's keys a second time
/// (in the coordinator's merge) and is about twice as fast when keys
/// repeat across chunks (a word count); but a worker's table then holds
/// every distinct key it met, and once that outgrows the caches each
/// emit is a cache miss that a chunk's smaller table would not have been.
/// Measured on 2 workers with 32 million integer keys
/// (`examples/key_tables.rs`, docs/benchmarks.md): one table per worker
/// is up to 4.5x faster at 100,000 distinct keys, still 1.25x at 4
/// million, and 1.1-1.5x slower from about 5 million on.
///
/// # Example
/// ```
/// use shmr::keyed::Tables;
/// assert_eq!(Tables::default(), Tables::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tables {
    /// One per worker when the combiner is order-free
    /// ([`Combiner::order_free`]), otherwise one per chunk.
    #[default]
    Auto,
    /// One table for all of a worker's chunks; only for an order-free
    /// combiner (which chunks a worker gets depends on timing, so any
    /// other would give results that change from run to run).
    PerWorker,
    /// One table per chunk, merged in chunk order: for jobs of millions of
    /// distinct keys, where a worker's one table would outgrow the caches.
    PerChunk,
}

/// What a key may be: integers, byte strings (`Vec<u8>`), strings, tuples
/// of them; anything hashable, ordered and serializable.
pub trait Key: Hash + Eq + Ord + Serialize + DeserializeOwned + 'static {}
impl<T: Hash + Eq + Ord + Serialize + DeserializeOwned + 'static> Key for T {}

/// What a value may be.
pub trait Value: Serialize + DeserializeOwned + 'static {}
impl<T: Serialize + DeserializeOwned + 'static> Value for T {}

/// A byte-string key kept inline up to 16 bytes (on the heap beyond):
/// the key for words. A table of `Vec<u8>` keys follows a pointer to
/// compare every key it probes, one more cache miss per emit once the
/// table outgrows the cache; measured on word counts of 376,000 distinct
/// words, the loop ran about 1.5x faster with these (docs/benchmarks.md).
pub type SmallBytes = smallvec::SmallVec<[u8; 16]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_minima_and_maxima_of_integers_are_order_free_and_no_other() {
        assert!(Combiner::<u64>::order_free(&Sum));
        assert!(Combiner::<i32>::order_free(&Min));
        assert!(Combiner::<usize>::order_free(&Max));
        assert!(!Combiner::<f64>::order_free(&Sum));
        assert!(!Combiner::<f32>::order_free(&Min));
        assert!(!Combiner::<String>::order_free(&Max));
        assert!(!Combiner::<Mean>::order_free(&Sum));
    }

    #[test]
    fn means_add_up_sums_and_counts() {
        let mut m = Mean::of(1.5);
        Sum.combine(&mut m, Mean::of(2.5));
        Sum.combine(&mut m, Mean::of(-1.0));
        assert_eq!((m.sum(), m.count(), m.mean()), (3.0, 3, 1.0));
        assert!(Mean::default().mean().is_nan());
    }
}
