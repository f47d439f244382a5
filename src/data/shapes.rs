//! The built-in synthetic segmentation set: ellipses, rectangles and triangles (classes
//! 1-3, background 0) over textured, noisy backgrounds. Colours are drawn independently
//! of the class and often close to the background's, so a model has to learn shape, not
//! colour. The set is fixed (it does not depend on the run seed), so runs compare.

use super::{Dataset, Item};
use crate::rng::{standard_normal, stream};
use rand::{Rng, RngExt};

pub const NUM_CLASSES: usize = 4;
pub const CLASS_NAMES: [&str; NUM_CLASSES] = ["background", "ellipse", "rectangle", "triangle"];

pub fn generate(train: usize, val: usize, size: usize, with_masks: bool) -> Dataset {
    let make = |split: &str, n: usize| -> Vec<Item> {
        (0..n)
            .map(|i| {
                let mut rng = stream(0, &[b"shapes", split.as_bytes(), &(i as u64).to_le_bytes()]);
                let (rgb, mask) = draw(size, &mut rng);
                Item {
                    name: format!("shapes-{split}-{i:04}"),
                    width: size,
                    height: size,
                    rgb,
                    mask: with_masks.then_some(mask),
                }
            })
            .collect()
    };
    Dataset { train: make("train", train), val: make("val", val) }
}

fn colour<R: Rng>(rng: &mut R) -> [f64; 3] {
    [rng.random_range(0.1..0.9), rng.random_range(0.1..0.9), rng.random_range(0.1..0.9)]
}

/// A colour near `base`, so that some shapes barely stand out from the background.
fn near<R: Rng>(base: [f64; 3], rng: &mut R) -> [f64; 3] {
    let d = rng.random_range(0.18..0.4);
    base.map(|c| (c + rng.random_range(-d..d)).clamp(0.0, 1.0))
}

fn inside(shape: usize, p: (f64, f64), c: (f64, f64), r: f64, aspect: f64, angle: f64) -> bool {
    let (dx, dy) = (p.0 - c.0, p.1 - c.1);
    let (s, co) = angle.sin_cos();
    let (u, v) = (dx * co + dy * s, -dx * s + dy * co);
    match shape {
        1 => (u / r).powi(2) + (v / (r * aspect)).powi(2) <= 1.0,
        2 => u.abs() <= r && v.abs() <= r * aspect,
        _ => {
            // An isosceles triangle pointing along v.
            let t = (v / r + 1.0) / 2.0;
            (0.0..=1.0).contains(&t) && u.abs() <= r * (1.0 - t) * (0.6 + 0.4 * aspect)
        }
    }
}

fn draw<R: Rng>(size: usize, rng: &mut R) -> (Vec<u8>, Vec<u8>) {
    let s = size as f64;
    let bg = colour(rng);
    let bg2 = near(bg, rng);
    // Background texture: two oriented sinusoids blending two close colours.
    let (f1, f2) = (rng.random_range(2.0..9.0) / s, rng.random_range(2.0..9.0) / s);
    let (a1, a2) = (rng.random_range(0.0..std::f64::consts::PI), rng.random_range(0.0..std::f64::consts::PI));
    let mut img = vec![[0f64; 3]; size * size];
    let mut mask = vec![0u8; size * size];
    for y in 0..size {
        for x in 0..size {
            let (xf, yf) = (x as f64, y as f64);
            let t1 = (std::f64::consts::TAU * f1 * (xf * a1.cos() + yf * a1.sin())).sin();
            let t2 = (std::f64::consts::TAU * f2 * (xf * a2.cos() + yf * a2.sin())).sin();
            let w = 0.5 + 0.25 * (t1 + t2);
            img[y * size + x] = [0, 1, 2].map(|c| bg[c] * (1.0 - w) + bg2[c] * w);
        }
    }
    let count = rng.random_range(1..=3);
    for _ in 0..count {
        let class = rng.random_range(1..NUM_CLASSES);
        let r = rng.random_range(0.12..0.28) * s;
        let c = (rng.random_range(0.15..0.85) * s, rng.random_range(0.15..0.85) * s);
        let aspect = rng.random_range(0.5..1.0);
        let angle = rng.random_range(0.0..std::f64::consts::PI);
        let fill = if rng.random_bool(0.25) { near(bg, rng) } else { colour(rng) };
        let stripes = rng.random_range(0.0..0.15);
        for y in 0..size {
            for x in 0..size {
                let p = (x as f64 + 0.5, y as f64 + 0.5);
                if inside(class, p, c, r, aspect, angle) {
                    let shade = 1.0 + stripes * ((x + y) as f64 * 0.8).sin();
                    img[y * size + x] = fill.map(|v| v * shade);
                    mask[y * size + x] = class as u8;
                }
            }
        }
    }
    let sigma = rng.random_range(0.02..0.06);
    let rgb = img
        .iter()
        .flat_map(|px| px.map(|v| v + sigma * standard_normal(rng)))
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    (rgb, mask)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes_are_deterministic_and_have_every_class() {
        let a = super::generate(40, 2, 48, true);
        let b = super::generate(40, 2, 48, true);
        assert_eq!(a.train[7].rgb, b.train[7].rgb);
        let mut seen = [false; super::NUM_CLASSES];
        for item in &a.train {
            for &v in item.mask.as_ref().unwrap() {
                seen[v as usize] = true;
            }
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
        assert_ne!(a.train[0].rgb, a.val[0].rgb);
    }
}
