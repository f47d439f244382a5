//! How the values of a folder's masks map to classes. Class-index masks (VOC, `folder` with
//! K classes) hold indices with 255 as the ignore label. Binary masks, as salient-object and
//! microscopy sets ship them, come as 0/1, 0/255 or anti-aliased greys; read as indices,
//! 0/255 would make every foreground pixel "ignore" and a run would train on background only,
//! silently. The encoding is detected over the whole set and reported at load time.

use super::{DataError, Dataset};
use crate::config::MaskEncoding;

/// What the masks turned out to be, in words for the run's start line and page.
pub type Detected = String;

/// Histogram of mask values over the whole set.
fn histogram(ds: &Dataset) -> [u64; 256] {
    let mut h = [0u64; 256];
    for m in ds.train.iter().chain(&ds.val).filter_map(|i| i.mask.as_ref()) {
        for &v in m {
            h[v as usize] += 1;
        }
    }
    h
}

/// Resolve `encoding` for this set (`auto` reads 2-class masks that are not plain 0/1 as
/// binary; `defines_ignore`: the format itself defines 255 as ignore, as VOC does) and
/// rewrite binary masks to 0 = background, 1 = foreground. Returns the encoding found.
pub fn apply(ds: &mut Dataset, encoding: MaskEncoding, classes: usize, defines_ignore: bool) -> Result<Option<Detected>, DataError> {
    let h = histogram(ds);
    let present: Vec<u8> = (0..=255u8).filter(|&v| h[v as usize] > 0).collect();
    if present.is_empty() {
        return Ok(None);
    }
    let only = |allowed: &[u8]| present.iter().all(|v| allowed.contains(v));
    let binary = match encoding {
        MaskEncoding::Indices => false,
        MaskEncoding::Binary => true,
        MaskEncoding::Auto => {
            // 0/1, with or without 255 as an ignore label, is class indices already; 0/255
            // alone, or greys, is a binary encoding.
            let indices = only(&[0, 1]) || (only(&[0, 1, 255]) && h[1] > 0);
            classes == 2 && !defines_ignore && !indices
        }
    };
    if !binary {
        if classes == 2 && !defines_ignore && only(&[0, 255]) {
            // Kept as indices on purpose (data.mask_encoding = "indices"): say what it means.
            return Ok(Some("class indices with 255 = ignore: these 0/255 masks have no foreground".into()));
        }
        return Ok(Some(if defines_ignore { "class indices, 255 = ignore (as VOC defines)".into() } else { "class indices, 255 = ignore".into() }));
    }
    let (rule, description): (fn(u8) -> u8, String) = if only(&[0, 1]) {
        (|v| v, "binary, 0/1".into())
    } else if only(&[0, 255]) {
        (|v| u8::from(v == 255), "binary, 0/255 (255 = foreground)".into())
    } else {
        (|v| u8::from(v >= 128), format!("binary, {} grey levels thresholded at 128", present.len()))
    };
    for m in ds.train.iter_mut().chain(ds.val.iter_mut()).filter_map(|i| i.mask.as_mut()) {
        for v in m.iter_mut() {
            *v = rule(*v);
        }
    }
    let fg: u64 = if only(&[0, 1]) { h[1] } else { h[128..].iter().sum() };
    let total: u64 = h.iter().sum();
    Ok(Some(format!("{description}; {:.1} % foreground", 100.0 * fg as f64 / total.max(1) as f64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Item;

    fn set(masks: &[&[u8]]) -> Dataset {
        let item = |m: &[u8]| Item { name: "m".into(), width: m.len(), height: 1, rgb: vec![0; 3 * m.len()], mask: Some(m.to_vec()), input: None };
        Dataset { train: masks.iter().map(|m| item(m)).collect(), val: vec![item(masks[0])], masks: None }
    }

    fn masks(ds: &Dataset) -> Vec<Vec<u8>> {
        ds.train.iter().map(|i| i.mask.clone().unwrap()).collect()
    }

    #[test]
    fn binary_encodings_are_detected_and_read_as_background_and_foreground() {
        let mut ds = set(&[&[0, 255, 255, 0], &[0, 0, 0, 255]]);
        let found = apply(&mut ds, MaskEncoding::Auto, 2, false).unwrap().unwrap();
        assert!(found.starts_with("binary, 0/255") && found.contains("41.7 % foreground"), "{found}");
        assert_eq!(masks(&ds), vec![vec![0, 1, 1, 0], vec![0, 0, 0, 1]]);

        let mut ds = set(&[&[0, 12, 127, 128, 200, 255]]);
        let found = apply(&mut ds, MaskEncoding::Auto, 2, false).unwrap().unwrap();
        assert!(found.starts_with("binary, 6 grey levels thresholded at 128"), "{found}");
        assert_eq!(masks(&ds), vec![vec![0, 0, 0, 1, 1, 1]]);

        let mut ds = set(&[&[0, 1, 1, 0]]);
        assert!(apply(&mut ds, MaskEncoding::Binary, 2, false).unwrap().unwrap().starts_with("binary, 0/1"));
        assert_eq!(masks(&ds), vec![vec![0, 1, 1, 0]]);
    }

    #[test]
    fn class_indices_keep_their_ignore_label() {
        // 0/1 with ignore, K classes, or a format that defines 255 (VOC): left alone.
        for (m, k, voc) in [(&[0u8, 1, 255][..], 2, false), (&[0, 3, 255][..], 4, false), (&[0, 255][..], 2, true)] {
            let mut ds = set(&[m]);
            let found = apply(&mut ds, MaskEncoding::Auto, k, voc).unwrap().unwrap();
            assert!(found.starts_with("class indices"), "{found}");
            assert_eq!(masks(&ds), vec![m.to_vec()]);
        }
        // Forcing indices on 0/255 masks is allowed, and the report says what it means.
        let mut ds = set(&[&[0, 255]]);
        assert!(apply(&mut ds, MaskEncoding::Indices, 2, false).unwrap().unwrap().contains("no foreground"));
    }
}
