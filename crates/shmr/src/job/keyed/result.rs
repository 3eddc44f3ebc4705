//! The result of a keyed job.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;

/// The result of a keyed job: every key with its combined value, sorted by
/// key. The same, bit for bit, for any number of workers.
///
/// # Example
/// ```
/// # fn main() -> Result<(), shmr::Error> {
/// # shmr::init();
/// use shmr::keyed::{Delimiters, Sum};
/// let text = shmr::SharedArray::from_array(&ndarray::Array1::from_vec(b"x\ny\nx\n".to_vec()))?;
/// let lines = shmr::global_pool()?
///     .on(&text)
///     .records(Delimiters::LINES)
///     .keyed(Sum, |lines, out| lines.iter().for_each(|l| out.emit(l, 1_u32)))?;
/// assert_eq!(lines.get(&b"x"[..]), Some(&2));
/// assert_eq!(lines.top(1), vec![(&b"x".to_vec(), &2)]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyed<K, V> {
    entries: Vec<(K, V)>,
}

impl<K: Ord, V> Keyed<K, V> {
    /// The value of `key`, if any record gave it one.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries
            .binary_search_by(|(k, _)| k.borrow().cmp(key))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// The `n` keys of largest value, largest first, ties by key, smaller
    /// first (the order of Phoenix++'s `word_count`).
    pub fn top(&self, n: usize) -> Vec<(&K, &V)>
    where
        V: Ord,
    {
        let mut all: Vec<(&K, &V)> = self.entries.iter().map(|(k, v)| (k, v)).collect();
        let by = |a: &(&K, &V), b: &(&K, &V)| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0));
        if n < all.len() {
            all.select_nth_unstable_by(n, by);
            all.truncate(n);
        }
        all.sort_unstable_by(by);
        all
    }
}

impl<K, V> Keyed<K, V> {
    /// The result of these pairs, sorted by key and each key once.
    pub(super) fn of_sorted(entries: Vec<(K, V)>) -> Self {
        Keyed { entries }
    }

    /// Distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no record emitted anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pairs, sorted by key.
    pub fn as_slice(&self) -> &[(K, V)] {
        &self.entries
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> std::slice::Iter<'_, (K, V)> {
        self.entries.iter()
    }

    /// The pairs, sorted by key.
    pub fn into_vec(self) -> Vec<(K, V)> {
        self.entries
    }
}

impl<K, V> IntoIterator for Keyed<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'k, K, V> IntoIterator for &'k Keyed<K, V> {
    type Item = &'k (K, V);
    type IntoIter = std::slice::Iter<'k, (K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_orders_by_value_then_key() {
        let k = Keyed {
            entries: vec![(1, 5), (2, 9), (3, 5), (4, 1)],
        };
        let top: Vec<(i32, i32)> = k.top(3).into_iter().map(|(a, b)| (*a, *b)).collect();
        assert_eq!(top, [(2, 9), (1, 5), (3, 5)]);
        assert_eq!(k.top(10).len(), 4);
        assert_eq!(k.get(&3), Some(&5));
        assert_eq!(k.get(&7), None);
    }
}
