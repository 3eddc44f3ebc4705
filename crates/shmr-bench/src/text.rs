//! Generated text with a realistic word distribution, for the keyed jobs
//! (`word_count`, `string_match`): a vocabulary whose frequent words are
//! short, drawn by Zipf's law (the k-th most frequent word about 1/k as
//! often as the first), so a few words are very frequent and most are rare.
//!
//! Made block by block from one seed, each block from its own stream, so
//! the same arguments give the same bytes with any number of threads.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};
use rayon::prelude::*;

/// Bytes each block of text is made from one stream.
const BLOCK: usize = 1 << 20;

/// Words of a vocabulary drawn by Zipf's law.
pub struct Zipf {
    words: Vec<Vec<u8>>,
    /// Cumulative probabilities, scaled to `u64`.
    cdf: Vec<u64>,
    /// `guide[j]`: the first word whose cumulative probability reaches
    /// j / guide.len(), so a draw searches a few words, not all.
    guide: Vec<u32>,
}

/// Word `i` of the vocabulary: distinct for distinct `i`, lowercase,
/// short for small `i` (two letters for the first 676).
pub fn word(i: usize) -> Vec<u8> {
    // Bijective base 26 of i + 27, skipping the one-letter words; letters
    // shuffled by position so that neighbours do not look alike.
    const SHUFFLE: &[u8; 26] = b"etaoinshrdlucmfwypvbgkjqxz";
    let mut n = i + 27;
    let mut w = Vec::new();
    while n > 0 {
        n -= 1;
        let pos = w.len();
        w.push(SHUFFLE[(n % 26 + pos * 7) % 26]);
        n /= 26;
    }
    w
}

impl Zipf {
    /// A vocabulary of `n` words with exponent `s` (1.0 is English-like).
    pub fn new(n: usize, s: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf: Vec<u64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                (acc.min(1.0) * u64::MAX as f64) as u64
            })
            .collect();
        let g = n.max(1);
        let mut guide = Vec::with_capacity(g);
        let mut i = 0;
        for j in 0..g {
            let t = ((j as u128 * u64::MAX as u128) / g as u128) as u64;
            while i + 1 < n && cdf[i] < t {
                i += 1;
            }
            guide.push(i as u32);
        }
        Zipf {
            words: (0..n).map(word).collect(),
            cdf,
            guide,
        }
    }

    /// The vocabulary, most frequent first.
    pub fn words(&self) -> &[Vec<u8>] {
        &self.words
    }

    /// A word's index, drawn from `u` (uniform).
    pub fn draw(&self, u: u64) -> usize {
        let j = ((u as u128 * self.guide.len() as u128) >> 64) as usize;
        let mut i = self.guide[j] as usize;
        while i + 1 < self.cdf.len() && self.cdf[i] < u {
            i += 1;
        }
        i
    }
}

/// What the text looks like around its words.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// Prose: words separated by spaces, about 12 to a line, some
    /// capitalized, some followed by punctuation or `'s`, a few numbers
    /// (which are not words).
    Prose,
    /// One word per line (Phoenix++'s `string_match` input), with
    /// `planted` words mixed in at about one line in a thousand.
    Lines,
}

/// `len` bytes of text from `zipf` laid out as `layout`, words from
/// `planted` mixed in for [`Layout::Lines`]; the same bytes for the same
/// arguments. Every line ends with `\n`, the last one included.
pub fn generate(
    len: usize,
    zipf: &Zipf,
    layout: Layout,
    planted: &[&[u8]],
    seed: u64,
    out: &mut [u8],
) {
    assert_eq!(out.len(), len);
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            fill(block, zipf, layout, planted, &mut rng);
        });
}

fn fill(
    block: &mut [u8],
    zipf: &Zipf,
    layout: Layout,
    planted: &[&[u8]],
    rng: &mut Xoshiro256PlusPlus,
) {
    let mut at = 0;
    let mut on_line = 0;
    let mut scratch = Vec::with_capacity(64);
    while at < block.len() {
        scratch.clear();
        let r = rng.next_u64();
        match layout {
            Layout::Prose => {
                if r.is_multiple_of(97) {
                    scratch.extend_from_slice((r >> 40).to_string().as_bytes());
                } else {
                    scratch.extend_from_slice(&zipf.words[zipf.draw(rng.next_u64())]);
                    if on_line == 0 || r % 13 == 1 {
                        scratch[0] = scratch[0].to_ascii_uppercase();
                    }
                    match r % 29 {
                        0 => scratch.extend_from_slice(b"'s"),
                        1 | 2 => scratch.push(b','),
                        3 => scratch.push(b'.'),
                        _ => {}
                    }
                }
                on_line += 1;
                if on_line >= 8 + (r >> 60) as usize {
                    scratch.push(b'\n');
                    on_line = 0;
                } else {
                    scratch.push(b' ');
                }
            }
            Layout::Lines => {
                if !planted.is_empty() && r.is_multiple_of(1000) {
                    scratch.extend_from_slice(planted[(r >> 32) as usize % planted.len()]);
                } else {
                    scratch.extend_from_slice(&zipf.words[zipf.draw(rng.next_u64())]);
                }
                scratch.push(b'\n');
            }
        }
        let room = block.len() - at;
        if scratch.len() >= room {
            // End the block on a line end, padding the line with spaces.
            // (Empty lines in the one-word-per-line layout: a line of
            // spaces would be a record that is no word.)
            let pad = match layout {
                Layout::Prose => b' ',
                Layout::Lines => b'\n',
            };
            let end = block.len() - 1;
            block[at..end].fill(pad);
            block[end] = b'\n';
            break;
        }
        block[at..at + scratch.len()].copy_from_slice(&scratch);
        at += scratch.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_and_frequent_ones_short() {
        let w: Vec<Vec<u8>> = (0..20_000).map(word).collect();
        let set: std::collections::HashSet<&Vec<u8>> = w.iter().collect();
        assert_eq!(set.len(), w.len());
        assert!(w[..676].iter().all(|x| x.len() == 2));
        assert!(w.iter().all(|x| x.iter().all(u8::is_ascii_lowercase)));
    }

    #[test]
    fn draws_follow_zipf() {
        let z = Zipf::new(1000, 1.0);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut counts = vec![0u32; 1000];
        for _ in 0..200_000 {
            counts[z.draw(rng.next_u64())] += 1;
        }
        // Word 1 about twice as often as word 2, ten times word 10.
        let r2 = counts[0] as f64 / counts[1] as f64;
        let r10 = counts[0] as f64 / counts[9] as f64;
        assert!((1.8..2.2).contains(&r2), "{r2}");
        assert!((8.5..11.5).contains(&r10), "{r10}");
    }

    #[test]
    fn text_is_the_same_for_any_threads_and_ends_lines() {
        let z = Zipf::new(5000, 1.0);
        let len = 3 * BLOCK + 12345;
        let mut a = vec![0u8; len];
        generate(len, &z, Layout::Prose, &[], 3, &mut a);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut b = vec![0u8; len];
        pool.install(|| generate(len, &z, Layout::Prose, &[], 3, &mut b));
        assert_eq!(a, b);
        assert_eq!(a[len - 1], b'\n');
        assert!(
            a.iter()
                .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\n')
        );
        let mut l = vec![0u8; len];
        generate(len, &z, Layout::Lines, &[b"ferrari"], 3, &mut l);
        assert!(l.split(|&c| c == b'\n').any(|w| w == b"ferrari"));
        assert!(
            l.split(|&c| c == b'\n')
                .all(|w| w.iter().all(u8::is_ascii_alphabetic))
        );
    }
}
