//! Uploaded datasets: a zipped folder in any supported layout, unpacked under
//! `<data-dir>/uploads/` (itself a dataset root). Entries that would escape the folder
//! (zip-slip) fail the upload; sizes are bounded.

use super::error::{AppError, AppResult};
use serde::Serialize;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// Most bytes an archive may unpack to.
pub const MAX_UNPACKED: u64 = 1 << 30;
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Serialize)]
pub struct Uploaded {
    /// The dataset folder to put in a config (absolute).
    pub path: String,
    /// voc, folder or photos: the `data.source.kind` that fits.
    pub layout: String,
    pub files: usize,
}

fn slug(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "dataset".into() } else { s.chars().take(40).collect() }
}

/// The layout of an unpacked folder.
pub fn detect_layout(root: &Path) -> Option<&'static str> {
    if root.join("JPEGImages").is_dir() && root.join("SegmentationClass").is_dir() {
        Some("voc")
    } else if root.join("images").is_dir() && root.join("masks").is_dir() {
        Some("folder")
    } else {
        let has_images = std::fs::read_dir(root).ok()?.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().to_lowercase();
            n.ends_with(".png") || n.ends_with(".jpg") || n.ends_with(".jpeg")
        });
        has_images.then_some("photos")
    }
}

/// Unpack `zip` into a new folder under `uploads_dir` (blocking: call from a blocking task).
pub fn unpack(zip: &[u8], name: &str, uploads_dir: &Path) -> AppResult<Uploaded> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| AppError::BadRequest(format!("not a readable zip archive: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(AppError::PayloadTooLarge(format!("the archive has {} entries (at most {MAX_ENTRIES})", archive.len())));
    }
    let dest = uploads_dir.join(format!("{}-{}", slug(name), super::db::now_ms()));
    std::fs::create_dir_all(&dest)?;
    let result = extract(&mut archive, &dest);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dest);
    }
    let files = result?;
    // A zipped folder usually holds one top-level folder: the dataset is inside it.
    let mut root: PathBuf = dest.clone();
    let entries: Vec<_> = std::fs::read_dir(&dest)?.flatten().collect();
    if entries.len() == 1 && entries[0].path().is_dir() {
        root = entries[0].path();
    }
    let layout = detect_layout(&root).ok_or_else(|| {
        let _ = std::fs::remove_dir_all(&dest);
        AppError::BadRequest("no dataset found: expected JPEGImages/ + SegmentationClass/ (VOC), images/ + masks/, or image files".into())
    })?;
    Ok(Uploaded { path: root.canonicalize()?.display().to_string(), layout: layout.into(), files })
}

fn extract(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, dest: &Path) -> AppResult<usize> {
    let mut total = 0u64;
    let mut files = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| AppError::BadRequest(format!("corrupt zip entry {i}: {e}")))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(AppError::BadRequest(format!("zip entry '{}' points outside the archive", String::from_utf8_lossy(entry.name_raw()))));
        };
        let out = dest.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut buf = Vec::new();
        let limit = MAX_UNPACKED.saturating_sub(total) + 1;
        (&mut entry).take(limit).read_to_end(&mut buf).map_err(|e| AppError::BadRequest(format!("zip entry '{}': {e}", rel.display())))?;
        total += buf.len() as u64;
        if total > MAX_UNPACKED {
            return Err(AppError::PayloadTooLarge(format!("the archive unpacks to more than {MAX_UNPACKED} bytes")));
        }
        std::fs::write(&out, buf)?;
        files += 1;
    }
    Ok(files)
}
