//! Datasets read from folders: PASCAL VOC layout, `images/` + `masks/`, and photos.

use super::{DataError, Dataset, Item};
use std::fs;
use std::path::{Path, PathBuf};

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Decode an image file to RGB (grey images are expanded).
pub fn read_rgb(path: &Path) -> Result<(usize, usize, Vec<u8>), DataError> {
    let bytes = fs::read(path).map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
    let img = image::load_from_memory(&bytes).map_err(|e| DataError::file(path, format!("not a readable image: {e}")))?.to_rgb8();
    let (w, h) = img.dimensions();
    Ok((w as usize, h as usize, img.into_raw()))
}

/// Decode a class-index mask: a palette PNG read as indices (not expanded to colours, as
/// VOC's SegmentationClass masks need) or an 8-bit grey PNG.
pub fn read_mask(path: &Path) -> Result<(usize, usize, Vec<u8>), DataError> {
    let file = fs::File::open(path).map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(|e| DataError::file(path, format!("not a readable PNG mask: {e}")))?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let frame = reader.next_frame(&mut buf).map_err(|e| DataError::file(path, format!("corrupt PNG mask: {e}")))?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    use png::{BitDepth, ColorType};
    match (frame.color_type, frame.bit_depth) {
        (ColorType::Indexed | ColorType::Grayscale, BitDepth::Eight) => {
            buf.truncate(frame.buffer_size());
            Ok((w, h, buf))
        }
        (ColorType::Indexed | ColorType::Grayscale, depth @ (BitDepth::One | BitDepth::Two | BitDepth::Four)) => {
            let bits = depth as usize;
            let per_byte = 8 / bits;
            let mut out = Vec::with_capacity(w * h);
            for row in buf.chunks(frame.line_size).take(h) {
                for x in 0..w {
                    let byte = row[x / per_byte];
                    let shift = 8 - bits * (x % per_byte + 1);
                    out.push((byte >> shift) & ((1 << bits) - 1) as u8);
                }
            }
            Ok((w, h, out))
        }
        (ct, bd) => Err(DataError::file(path, format!("a mask must be a palette or 8-bit grey PNG of class indices, this one is {ct:?} at {bd:?}"))),
    }
}

fn labelled_item(image: &Path, mask: &Path) -> Result<Item, DataError> {
    let (w, h, rgb) = read_rgb(image)?;
    let (mw, mh, m) = read_mask(mask)?;
    if (mw, mh) != (w, h) {
        return Err(DataError::file(mask, format!("mask is {mw}x{mh} but its image is {w}x{h}")));
    }
    Ok(Item { name: stem(image), width: w, height: h, rgb, mask: Some(m), input: None })
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::file(dir, format!("cannot list folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().map(|x| IMAGE_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())).unwrap_or(false))
        .collect();
    files.sort();
    Ok(files)
}

/// Every n-th file (by name) goes to validation, so the split is stable and spread out.
fn split_every<T>(items: Vec<T>, val_fraction: f64) -> (Vec<T>, Vec<T>) {
    let n = items.len();
    let n_val = ((n as f64 * val_fraction).round() as usize).clamp(1, n.saturating_sub(1).max(1));
    let step = n as f64 / n_val as f64;
    let val_idx: Vec<usize> = (0..n_val).map(|i| ((i as f64 + 0.5) * step) as usize).collect();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, item) in items.into_iter().enumerate() {
        if val_idx.contains(&i) { val.push(item) } else { train.push(item) }
    }
    (train, val)
}

/// PASCAL VOC: JPEGImages/ID.jpg, SegmentationClass/ID.png, ImageSets/Segmentation/{train,val}.txt.
pub fn load_voc(root: &Path) -> Result<Dataset, DataError> {
    let read_list = |name: &str| -> Result<Vec<String>, DataError> {
        let p = root.join("ImageSets/Segmentation").join(name);
        let text = fs::read_to_string(&p).map_err(|e| DataError::file(&p, format!("cannot read: {e}")))?;
        Ok(text.split_whitespace().map(str::to_string).collect())
    };
    let load = |ids: Vec<String>| -> Result<Vec<Item>, DataError> {
        ids.iter()
            .map(|id| {
                let image = contained(root, &root.join("JPEGImages").join(format!("{}.jpg", voc_id(root, id)?)))?;
                let mask = contained(root, &root.join("SegmentationClass").join(format!("{id}.png")))?;
                labelled_item(&image, &mask)
            })
            .collect()
    };
    Ok(Dataset { train: load(read_list("train.txt")?)?, val: load(read_list("val.txt")?)?, masks: None })
}

/// A VOC image id from a split list: a plain file stem (`2007_000032`), never a path, so a
/// list inside an uploaded archive cannot name files elsewhere on disk.
fn voc_id<'a>(root: &Path, id: &'a str) -> Result<&'a str, DataError> {
    let plain = !id.is_empty() && !id.starts_with('.') && !id.contains(['/', '\\', '\0']);
    if plain {
        Ok(id)
    } else {
        let list = root.join("ImageSets/Segmentation");
        Err(DataError::file(&list, format!("'{}' is not an image id (a file name without a path)", id.escape_default())))
    }
}

/// `path` with its links resolved, if it stays inside `root` (a link inside a dataset
/// folder may not lead out of it).
fn contained(root: &Path, path: &Path) -> Result<PathBuf, DataError> {
    let real = path.canonicalize().map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
    let root = root.canonicalize().map_err(|e| DataError::file(root, format!("cannot read: {e}")))?;
    if real.starts_with(&root) { Ok(real) } else { Err(DataError::file(path, "leads outside the dataset folder".to_string())) }
}

/// `images/NAME.ext` with `masks/NAME.png` holding class indices.
pub fn load_images_masks(root: &Path, val_fraction: f64) -> Result<Dataset, DataError> {
    let images = list_images(&root.join("images"))?;
    if images.is_empty() {
        return Err(DataError::file(&root.join("images"), "no images found"));
    }
    let items = images
        .iter()
        .map(|img| {
            let mask = root.join("masks").join(format!("{}.png", stem(img)));
            if !mask.exists() {
                return Err(DataError::file(img, format!("no mask {} for this image", mask.display())));
            }
            labelled_item(&contained(root, img)?, &contained(root, &mask)?)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (train, val) = split_every(items, val_fraction);
    Ok(Dataset { train, val, masks: None })
}

/// A flat folder of clean photos (denoising: each photo is its own target).
pub fn load_photos(root: &Path, val_fraction: f64) -> Result<Dataset, DataError> {
    let files = list_images(root)?;
    if files.is_empty() {
        return Err(DataError::file(root, "no images found"));
    }
    let items = files
        .iter()
        .map(|p| read_rgb(&contained(root, p)?).map(|(w, h, rgb)| Item { name: stem(p), width: w, height: h, rgb, mask: None, input: None }))
        .collect::<Result<Vec<_>, _>>()?;
    let (train, val) = split_every(items, val_fraction);
    Ok(Dataset { train, val, masks: None })
}

/// The two folders of a paired restoration set, inside its root.
pub struct PairDirs<'a> {
    pub input: &'a str,
    pub target: &'a str,
}

/// LOL-style pairs: `root/{input}/NAME.ext` is the degraded input of `root/{target}/NAME.ext`
/// (matched by stem; extensions may differ). Every file must have its partner, of the same
/// size; the validation images come from `val_root` (same layout) or every n-th pair.
pub fn load_pairs(root: &Path, val_root: Option<&Path>, dirs: &PairDirs, val_fraction: f64) -> Result<Dataset, DataError> {
    let items = read_pairs(root, dirs)?;
    let (train, val) = match val_root {
        Some(v) => (items, read_pairs(v, dirs)?),
        None => split_every(items, val_fraction),
    };
    Ok(Dataset { train, val, masks: None })
}

fn read_pairs(root: &Path, dirs: &PairDirs) -> Result<Vec<Item>, DataError> {
    let (input_dir, target_dir) = (root.join(dirs.input), root.join(dirs.target));
    let inputs = list_images(&input_dir)?;
    let targets = list_images(&target_dir)?;
    if targets.is_empty() {
        return Err(DataError::file(&target_dir, "no images found"));
    }
    let unmatched = |from: &[PathBuf], other: &[PathBuf], dir: &Path| -> Result<(), DataError> {
        let stems: Vec<String> = other.iter().map(|p| stem(p)).collect();
        match from.iter().find(|p| !stems.contains(&stem(p))) {
            Some(p) => Err(DataError::file(p, format!("has no partner with the same name in {}: the pairs are incomplete", dir.display()))),
            None => Ok(()),
        }
    };
    unmatched(&inputs, &targets, &target_dir)?;
    unmatched(&targets, &inputs, &input_dir)?;
    targets
        .iter()
        .map(|target| {
            let input = inputs.iter().find(|p| stem(p) == stem(target)).expect("matched above");
            let (w, h, rgb) = read_rgb(&contained(root, target)?)?;
            let (iw, ih, low) = read_rgb(&contained(root, input)?)?;
            if (iw, ih) != (w, h) {
                return Err(DataError::file(input, format!("is {iw}x{ih} but its partner {} is {w}x{h}", target.display())));
            }
            Ok(Item { name: stem(target), width: w, height: h, rgb, mask: None, input: Some(low) })
        })
        .collect()
}
