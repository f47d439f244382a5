//! Geometric views of an item: the random training view (rescale, pad, crop, flip; spec
//! section 6), the centred probe view and the whole-image evaluation view.
//!
//! Padding uses the ImageNet mean colour for the image (0 after normalisation) and the
//! ignore label 255 for the mask; the reference pads labels with 0, which would teach
//! "background" on padding, so 255 is the named choice here.

use super::Item;
use image::imageops::{FilterType, resize};
use image::{GrayImage, RgbImage};
use rand::{Rng, RngExt};

pub const PAD_RGB: [u8; 3] = [124, 116, 104];
pub const IGNORE: u8 = 255;

/// A crop of an item: RGB interleaved and, for segmentation, its class map.
#[derive(Debug, Clone)]
pub struct View {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    pub mask: Option<Vec<u8>>,
    /// The paired degraded input (restoration pairs), cut exactly as `rgb`.
    pub input: Option<Vec<u8>>,
    /// The part of the view that holds image (not padding): width, height from the top left.
    pub valid: (usize, usize),
}

fn rescale(item: &Item, short_side: f64) -> View {
    let factor = short_side / item.width.min(item.height) as f64;
    let nw = ((item.width as f64 * factor).round() as u32).max(1);
    let nh = ((item.height as f64 * factor).round() as u32).max(1);
    if nw as usize == item.width && nh as usize == item.height {
        return View {
            width: item.width,
            height: item.height,
            rgb: item.rgb.clone(),
            mask: item.mask.clone(),
            input: item.input.clone(),
            valid: (item.width, item.height),
        };
    }
    let resize_rgb = |rgb: &Vec<u8>| {
        let img = RgbImage::from_raw(item.width as u32, item.height as u32, rgb.clone()).expect("rgb buffer size");
        resize(&img, nw, nh, FilterType::Triangle).into_raw()
    };
    let rgb = resize_rgb(&item.rgb);
    let input = item.input.as_ref().map(resize_rgb);
    let mask = item.mask.as_ref().map(|m| {
        let g = GrayImage::from_raw(item.width as u32, item.height as u32, m.clone()).expect("mask buffer size");
        resize(&g, nw, nh, FilterType::Nearest).into_raw()
    });
    View { width: nw as usize, height: nh as usize, rgb, mask, input, valid: (nw as usize, nh as usize) }
}

/// Pad on the right and bottom to at least `min_w` x `min_h`.
fn pad_to(v: View, min_w: usize, min_h: usize) -> View {
    if v.width >= min_w && v.height >= min_h {
        return v;
    }
    let (w, h) = (v.width.max(min_w), v.height.max(min_h));
    let mut rgb = Vec::with_capacity(w * h * 3);
    let mut mask = v.mask.as_ref().map(|_| Vec::with_capacity(w * h));
    let mut input = v.input.as_ref().map(|_| Vec::with_capacity(w * h * 3));
    for y in 0..h {
        for x in 0..w {
            let inside = x < v.width && y < v.height;
            let i = y * v.width + x;
            rgb.extend_from_slice(if inside { &v.rgb[i * 3..i * 3 + 3] } else { &PAD_RGB });
            if let (Some(out), Some(src)) = (input.as_mut(), v.input.as_ref()) {
                out.extend_from_slice(if inside { &src[i * 3..i * 3 + 3] } else { &PAD_RGB });
            }
            if let (Some(out), Some(src)) = (mask.as_mut(), v.mask.as_ref()) {
                out.push(if inside { src[i] } else { IGNORE });
            }
        }
    }
    View { width: w, height: h, rgb, mask, input, valid: v.valid }
}

fn crop(v: &View, x0: usize, y0: usize, w: usize, h: usize, flip: bool) -> View {
    let mut rgb = Vec::with_capacity(w * h * 3);
    let mut mask = v.mask.as_ref().map(|_| Vec::with_capacity(w * h));
    let mut input = v.input.as_ref().map(|_| Vec::with_capacity(w * h * 3));
    for y in 0..h {
        for x in 0..w {
            let sx = if flip { x0 + w - 1 - x } else { x0 + x };
            let i = (y0 + y) * v.width + sx;
            rgb.extend_from_slice(&v.rgb[i * 3..i * 3 + 3]);
            if let (Some(out), Some(src)) = (input.as_mut(), v.input.as_ref()) {
                out.extend_from_slice(&src[i * 3..i * 3 + 3]);
            }
            if let (Some(out), Some(src)) = (mask.as_mut(), v.mask.as_ref()) {
                out.push(src[i]);
            }
        }
    }
    let valid = (v.valid.0.saturating_sub(x0).min(w), v.valid.1.saturating_sub(y0).min(h));
    View { width: w, height: h, rgb, mask, input, valid }
}

/// Training view: short side rescaled to base * U(scale_min, scale_max), padded, random
/// S x S crop, horizontal flip with probability 1/2.
pub fn random_view<R: Rng>(item: &Item, base: usize, scale: (f64, f64), crop_size: usize, flip: bool, rng: &mut R) -> View {
    let s = if scale.0 < scale.1 { rng.random_range(scale.0..=scale.1) } else { scale.0 };
    let v = pad_to(rescale(item, base as f64 * s), crop_size, crop_size);
    let x0 = rng.random_range(0..=v.width - crop_size);
    let y0 = rng.random_range(0..=v.height - crop_size);
    let flipped = flip && rng.random_bool(0.5);
    crop(&v, x0, y0, crop_size, crop_size, flipped)
}

/// Probe view: short side = base, centre S x S crop (padded if smaller).
pub fn centre_view(item: &Item, base: usize, crop_size: usize) -> View {
    let v = pad_to(rescale(item, base as f64), crop_size, crop_size);
    crop(&v, (v.width - crop_size) / 2, (v.height - crop_size) / 2, crop_size, crop_size, false)
}

/// Evaluation view: the whole image with short side = base, padded to a multiple of
/// `multiple` (the networks downsample); metrics use only the `valid` part.
pub fn eval_view(item: &Item, base: usize, multiple: usize) -> View {
    let v = rescale(item, base as f64);
    let up = |n: usize| n.div_ceil(multiple) * multiple;
    let (w, h) = (up(v.width), up(v.height));
    pad_to(v, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn item(w: usize, h: usize) -> Item {
        let rgb = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let mask = (0..w * h).map(|i| (i % 3) as u8).collect();
        Item { name: "t".into(), width: w, height: h, rgb, mask: Some(mask), input: None }
    }

    #[test]
    fn random_view_is_crop_sized_and_pads_with_ignore() {
        let it = item(20, 30);
        let mut rng = stream(1, &[b"t"]);
        for _ in 0..20 {
            let v = random_view(&it, 16, (0.5, 2.0), 24, true, &mut rng);
            assert_eq!((v.width, v.height, v.rgb.len()), (24, 24, 24 * 24 * 3));
            let m = v.mask.unwrap();
            assert!(m.iter().all(|&c| c < 3 || c == IGNORE));
        }
    }

    #[test]
    fn a_paired_input_is_rescaled_cropped_and_flipped_with_its_target() {
        // The input is the target's negative: any crop or flip keeps them pixel-aligned.
        let mut it = item(40, 30);
        it.input = Some(it.rgb.iter().map(|v| 255 - v).collect());
        let mut rng = stream(5, &[b"t"]);
        for _ in 0..20 {
            let v = random_view(&it, 30, (0.8, 1.5), 24, true, &mut rng); // no padding at these scales
            let input = v.input.unwrap();
            let (vw, vh) = v.valid;
            for y in 0..vh {
                for x in 0..vw {
                    let i = (y * v.width + x) * 3;
                    // Resampling rounds each image on its own: one level of slack.
                    assert!((input[i] as i32 - (255 - v.rgb[i] as i32)).abs() <= 1, "misaligned at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn eval_view_pads_to_a_multiple_and_keeps_the_valid_size() {
        let v = eval_view(&item(30, 20), 20, 16);
        assert_eq!((v.width, v.height), (32, 32));
        assert_eq!(v.valid, (30, 20));
        assert_eq!(v.mask.unwrap()[31], IGNORE);
    }
}
