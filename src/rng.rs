//! Seeded random streams. Every random choice of a run (initialisation, split, batch
//! order, augmentation, noise) comes from a ChaCha stream derived from the run seed and a
//! name, so a run is reproducible and a resumed run draws exactly what an uninterrupted
//! one would have, with no generator state to checkpoint.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// FNV-1a over the parts: stable across Rust versions, unlike `DefaultHasher`.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// An independent stream for (seed, name parts).
pub fn stream(seed: u64, parts: &[&[u8]]) -> ChaCha8Rng {
    let mut all: Vec<&[u8]> = vec![&[]; 0];
    let seed_bytes = seed.to_le_bytes();
    all.push(&seed_bytes);
    all.extend_from_slice(parts);
    ChaCha8Rng::seed_from_u64(stable_hash(&all))
}

/// A standard normal sample (Box-Muller), to avoid a dependency for one distribution.
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Fisher-Yates shuffle of 0..n.
pub fn permutation<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}
