//! The built-in synthetic segmentation set: ellipses, rectangles and triangles (classes
//! 1-3, background 0) over textured, noisy backgrounds of any colour. Each class usually
//! has its own hue band and fill texture (plain, stripes, dots), cues a small net picks up
//! within minutes on a CPU; the rest of the objects get other colours and textures, some
//! close to the background, and only their shape tells them apart. With all 320 training
//! labels a SupOnly UNet learns it clearly better than with 1/8 (see the README). The set
//! is fixed (it does not depend on the run seed), so runs compare.

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
                Item { name: format!("shapes-{split}-{i:04}"), width: size, height: size, rgb, mask: with_masks.then_some(mask), input: None }
            })
            .collect()
    };
    Dataset { train: make("train", train), val: make("val", val), masks: None }
}

fn colour<R: Rng>(rng: &mut R) -> [f64; 3] {
    [rng.random_range(0.1..0.9), rng.random_range(0.1..0.9), rng.random_range(0.1..0.9)]
}

/// A colour in the class's hue band: hue 0 (red), 1/3 (green), 2/3 (blue) +- 1/12.
fn class_colour<R: Rng>(class: usize, rng: &mut R) -> [f64; 3] {
    let hue = (class - 1) as f64 / 3.0 + rng.random_range(-1.0 / 12.0..1.0 / 12.0);
    let (sat, val) = (rng.random_range(0.5..0.9), rng.random_range(0.5..0.95));
    let h6 = hue.rem_euclid(1.0) * 6.0;
    let f = h6 - h6.floor();
    let (p, q, t) = (val * (1.0 - sat), val * (1.0 - sat * f), val * (1.0 - sat * (1.0 - f)));
    match h6 as usize % 6 {
        0 => [val, t, p],
        1 => [q, val, p],
        2 => [p, val, t],
        3 => [p, q, val],
        4 => [t, p, val],
        _ => [val, p, q],
    }
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
        let r = rng.random_range(0.15..0.3) * s;
        let c = (rng.random_range(0.15..0.85) * s, rng.random_range(0.15..0.85) * s);
        let aspect = rng.random_range(0.55..1.0);
        let angle = rng.random_range(0.0..std::f64::consts::PI);
        // Each class has its own hue band (reds, greens, blues) most of the time; the rest
        // get any colour, some close to the background, so colour alone is not enough.
        let fill = match rng.random_range(0.0..1.0) {
            x if x < 0.7 => class_colour(class, rng),
            x if x < 0.85 => colour(rng),
            _ => near(bg, rng),
        };
        // A fill texture that usually goes with the class (plain, stripes, dots) and
        // sometimes with another: local cues a small net learns fast, shape for the rest.
        let texture = if rng.random_bool(0.9) { class } else { rng.random_range(1..NUM_CLASSES) };
        let (tdir, tper) = (rng.random_range(0.0..std::f64::consts::PI), rng.random_range(3.0..5.0));
        for y in 0..size {
            for x in 0..size {
                let p = (x as f64 + 0.5, y as f64 + 0.5);
                if inside(class, p, c, r, aspect, angle) {
                    let (u, v) = (p.0 * tdir.cos() + p.1 * tdir.sin(), -p.0 * tdir.sin() + p.1 * tdir.cos());
                    let t = std::f64::consts::TAU / tper;
                    let shade = match texture {
                        1 => 1.0,
                        2 => 1.0 + 0.3 * (t * u).sin().signum(),
                        _ => 1.0 + 0.3 * ((t * u).sin() * (t * v).sin()).signum(),
                    };
                    img[y * size + x] = fill.map(|v| v * shade);
                    mask[y * size + x] = class as u8;
                }
            }
        }
    }
    let sigma = rng.random_range(0.02..0.06);
    let rgb = img.iter().flat_map(|px| px.map(|v| v + sigma * standard_normal(rng))).map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
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
