//! Datasets: the built-in synthetic shapes, PASCAL VOC and images/masks folders for
//! segmentation; folders of clean photos (degraded on the fly) and LOL-style pairs for
//! restoration. Everything is decoded once at the start of a run; a corrupt or mismatched
//! file is an error that names it.

pub mod augment;
pub mod batches;
pub mod degrade;
pub mod folders;
pub mod masks;
pub mod shapes;

use crate::config::{DataSource, RunConfig, TaskKind};
use std::path::{Path, PathBuf};

/// One decoded image, RGB interleaved, with its class map for segmentation.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    /// Class index per pixel, 255 = ignore. None for restoration (the image is the target).
    pub mask: Option<Vec<u8>>,
    /// Restoration pairs: the degraded input of `rgb` (LOL's `low/` image), same size. None
    /// where the input is synthesised from `rgb` (noise, darkening).
    pub input: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct Dataset {
    pub train: Vec<Item>,
    pub val: Vec<Item>,
    /// How the masks were read (segmentation), for the run's start report.
    pub masks: Option<masks::Detected>,
}

/// A data problem, naming the file where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

impl DataError {
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::File { path: path.to_path_buf(), message: message.into() }
    }
}

/// Load the dataset a config names. Relative paths resolve against `root`.
pub fn load(config: &RunConfig, root: &Path) -> Result<Dataset, DataError> {
    let resolve = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() { p.to_path_buf() } else { root.join(p) }
    };
    let segmentation = config.task == TaskKind::Segmentation;
    let ds = match &config.data.source {
        DataSource::Shapes { train_images, val_images, image_size } => shapes::generate(*train_images, *val_images, *image_size, segmentation),
        DataSource::Voc { path } => folders::load_voc(&resolve(path))?,
        DataSource::Folder { path, val_fraction } => folders::load_images_masks(&resolve(path), *val_fraction)?,
        DataSource::Photos { path, val_fraction } => folders::load_photos(&resolve(path), *val_fraction)?,
        DataSource::Pairs { path, input_dir, target_dir, val_fraction, val_path } => {
            let dirs = folders::PairDirs { input: input_dir, target: target_dir };
            folders::load_pairs(&resolve(path), val_path.as_deref().map(resolve).as_deref(), &dirs, *val_fraction)?
        }
    };
    let mut ds = ds;
    if segmentation {
        // The built-in set's masks are class indices by construction; VOC defines 255 as ignore.
        match config.data.source {
            DataSource::Folder { .. } => ds.masks = masks::apply(&mut ds, config.data.mask_encoding, config.data.num_classes, false)?,
            DataSource::Voc { .. } => ds.masks = masks::apply(&mut ds, config.data.mask_encoding, config.data.num_classes, true)?,
            _ => {}
        }
        check_classes(&ds, config.data.num_classes)?;
    }
    if ds.train.len() < 2 || ds.val.is_empty() {
        return Err(DataError::Other(format!("the dataset needs at least 2 training and 1 validation image, found {} and {}", ds.train.len(), ds.val.len())));
    }
    Ok(ds)
}

/// Every mask value must be a class index below K or the ignore value 255.
fn check_classes(ds: &Dataset, k: usize) -> Result<(), DataError> {
    for item in ds.train.iter().chain(ds.val.iter()) {
        if let Some(mask) = &item.mask
            && let Some(bad) = mask.iter().find(|&&v| v != 255 && v as usize >= k)
        {
            return Err(DataError::Other(format!("{}: mask value {bad} is not a class below data.num_classes = {k} (nor the ignore value 255)", item.name)));
        }
    }
    Ok(())
}
