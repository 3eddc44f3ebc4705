//! Phoenix++'s own inputs, made the way its programs make them, so that
//! shmr and Phoenix++ compute on the same numbers and their answers can be
//! compared exactly.
//!
//! Phoenix++'s `kmeans` and `pca` fill their arrays with glibc's `rand()`,
//! never seeded (so seeded with 1): [`GlibcRand`] is that generator.

/// glibc's `rand()` (the default `TYPE_3` additive feedback generator,
/// `r[i] = r[i-3] + r[i-31]`, output `r[i] >> 1`), so that inputs match
/// those of C programs that call it.
///
/// # Example
/// ```
/// let mut r = shmr_bench::phoenix::GlibcRand::new(1);
/// // What `rand()` returns first in any C program that never seeds it.
/// assert_eq!([r.next(), r.next(), r.next()], [1804289383, 846930886, 1681692777]);
/// ```
#[derive(Clone, Debug)]
pub struct GlibcRand {
    /// The last 34 values of `r`, `r[i]` at `i % 34`.
    r: [u32; 34],
    i: usize,
}

impl GlibcRand {
    /// The generator after `srand(seed)`.
    pub fn new(seed: u32) -> GlibcRand {
        let seed = if seed == 0 { 1 } else { seed };
        let mut r = [0u32; 344];
        r[0] = seed;
        for i in 1..31 {
            // 16807 * r[i-1] mod (2^31 - 1), on the signed value, as glibc.
            let v = (16807 * i64::from(r[i - 1] as i32)) % 2_147_483_647;
            r[i] = if v < 0 { v + 2_147_483_647 } else { v } as u32;
        }
        for i in 31..34 {
            r[i] = r[i - 31];
        }
        for i in 34..344 {
            r[i] = r[i - 31].wrapping_add(r[i - 3]);
        }
        let mut ring = [0u32; 34];
        for (i, v) in r.iter().enumerate().skip(344 - 34) {
            ring[i % 34] = *v;
        }
        GlibcRand { r: ring, i: 344 }
    }

    /// The next value of `rand()`: 0 ..= 2^31 - 1.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        let i = self.i;
        let v = self.r[(i - 31) % 34].wrapping_add(self.r[(i - 3) % 34]);
        self.r[i % 34] = v;
        self.i += 1;
        v >> 1
    }

    /// `rand() % m`, as the Phoenix++ generators write it.
    pub fn below(&mut self, m: u32) -> u32 {
        self.next() % m
    }
}

/// `kmeans -d dim -c clusters -p points -s grid`'s input: the points
/// (`points x dim`, row-major), then the initial means (`clusters x dim`),
/// each coordinate `rand() % grid`, from one unseeded generator.
pub fn kmeans_input(dim: usize, clusters: usize, points: usize, grid: u32) -> (Vec<i32>, Vec<i32>) {
    let mut r = GlibcRand::new(1);
    let p = (0..points * dim).map(|_| r.below(grid) as i32).collect();
    let m = (0..clusters * dim).map(|_| r.below(grid) as i32).collect();
    (p, m)
}

/// `pca -r rows -c cols -s max`'s input matrix (`rows x cols`,
/// row-major), each value `rand() % max`.
pub fn pca_input(rows: usize, cols: usize, max: u32) -> Vec<i32> {
    let mut r = GlibcRand::new(1);
    (0..rows * cols).map(|_| r.below(max) as i32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_of_an_unseeded_c_program() {
        // Printed by a C program: for (i..) printf("%d\n", rand());
        let mut r = GlibcRand::new(1);
        let first: Vec<u32> = (0..6).map(|_| r.next()).collect();
        assert_eq!(
            first,
            [
                1804289383, 846930886, 1681692777, 1714636915, 1957747793, 424238335
            ]
        );
    }
}
