//! Uploaded datasets: a zipped folder in any supported layout, streamed to disk and
//! unpacked under `<data-dir>/uploads/` (itself a dataset root). Entries that would escape
//! the folder (zip-slip) or clash with each other fail the upload with a 400; sizes are
//! bounded per archive and, over all uploads, by a quota. Nothing is held whole in memory.

use super::{RunsError, RunsResult};
use serde::Serialize;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Most bytes one archive may unpack to.
pub const MAX_UNPACKED: u64 = 1 << 30;
/// Most bytes all unpacked uploads together may take.
pub const QUOTA: u64 = 4 << 30;
pub const MAX_ENTRIES: usize = 100_000;

/// The bounds an unpack keeps: the constants above on the server; smaller in tests, which
/// check each bound without gigabytes of data.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_unpacked: u64,
    pub quota: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_unpacked: MAX_UNPACKED, quota: QUOTA, max_entries: MAX_ENTRIES }
    }
}

#[derive(Debug, Serialize)]
pub struct Uploaded {
    /// The folder's name under uploads/ (what `DELETE /api/datasets/{name}` takes).
    pub name: String,
    /// The dataset folder to put in a config (absolute).
    pub path: String,
    /// voc, folder, pairs or photos: the `data.source.kind` that fits.
    pub layout: String,
    pub files: usize,
    pub bytes: u64,
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
    } else if root.join("low").is_dir() && root.join("high").is_dir() {
        Some("pairs") // LOL's layout (restoration pairs)
    } else {
        let has_images = std::fs::read_dir(root).ok()?.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().to_lowercase();
            n.ends_with(".png") || n.ends_with(".jpg") || n.ends_with(".jpeg")
        });
        has_images.then_some("photos")
    }
}

/// Regular files under `dir` and their bytes (links are not followed).
pub fn folder_usage(dir: &Path) -> (usize, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    entries.flatten().fold((0, 0), |(files, bytes), e| match e.file_type() {
        Ok(t) if t.is_dir() => {
            let (f, b) = folder_usage(&e.path());
            (files + f, bytes + b)
        }
        Ok(t) if t.is_file() => (files + 1, bytes + e.metadata().map_or(0, |m| m.len())),
        _ => (files, bytes),
    })
}

/// The dataset inside an unpacked upload: a zipped folder usually holds one top-level
/// folder, and the dataset is inside it.
fn dataset_root(dest: &Path) -> PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dest).map(|d| d.flatten().collect()).unwrap_or_default();
    if entries.len() == 1 && entries[0].path().is_dir() { entries[0].path() } else { dest.to_path_buf() }
}

/// A fresh folder under `uploads_dir` for an upload called `name`: created exclusively, so
/// two uploads of the same name at the same moment never share one.
fn fresh_folder(uploads_dir: &Path, name: &str) -> RunsResult<(String, PathBuf)> {
    let base = format!("{}-{}", slug(name), crate::store::now_ms());
    for n in 0..1000 {
        let folder = if n == 0 { base.clone() } else { format!("{base}-{n}") };
        let dest = uploads_dir.join(&folder);
        match std::fs::create_dir(&dest) {
            Ok(()) => return Ok((folder, dest)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RunsError::Conflict("too many uploads of this name at once".into()))
}

/// Unpack the archive at `zip_path` into a new folder under `uploads_dir` (blocking: call
/// from a blocking task). The archive file is the caller's to delete.
pub fn unpack(zip_path: &Path, name: &str, uploads_dir: &Path, limits: Limits) -> RunsResult<Uploaded> {
    let file = File::open(zip_path)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| RunsError::BadRequest(format!("not a readable zip archive: {e}")))?;
    if archive.len() > limits.max_entries {
        return Err(RunsError::PayloadTooLarge(format!("the archive has {} entries (at most {})", archive.len(), limits.max_entries)));
    }
    let (_, used) = folder_usage(uploads_dir);
    let (folder, dest) = fresh_folder(uploads_dir, name)?;
    let result = extract(&mut archive, &dest, used, limits).and_then(|(files, bytes)| {
        let root = dataset_root(&dest);
        let layout = detect_layout(&root).ok_or_else(|| {
            RunsError::BadRequest(
                "no dataset found: expected JPEGImages/ + SegmentationClass/ (VOC), images/ + masks/, low/ + high/ (pairs), or image files".into(),
            )
        })?;
        Ok(Uploaded { name: folder, path: root.canonicalize()?.display().to_string(), layout: layout.into(), files, bytes })
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dest);
    }
    result
}

/// Write every entry under `dest`, streaming, within the archive's limit and what the quota
/// leaves after the `used` bytes of earlier uploads.
fn extract(archive: &mut zip::ZipArchive<File>, dest: &Path, used: u64, limits: Limits) -> RunsResult<(usize, u64)> {
    let room = limits.quota.saturating_sub(used).min(limits.max_unpacked);
    let mut total = 0u64;
    let mut files = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| RunsError::BadRequest(format!("corrupt zip entry {i}: {e}")))?;
        let shown = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let Some(rel) = entry.enclosed_name() else {
            return Err(RunsError::BadRequest(format!("zip entry '{shown}' points outside the archive")));
        };
        // Entries that clash (one name as a file and a folder, or twice) are the archive's
        // fault: 400. A full disk or a permission problem is the server's (500, logged).
        let clash = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory | std::io::ErrorKind::IsADirectory => {
                RunsError::BadRequest(format!("zip entry '{shown}' cannot be written ({e}): does another entry use its name as a file and a folder, or twice?"))
            }
            _ => RunsError::from(e),
        };
        let out = dest.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out).map_err(clash)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(clash)?;
        }
        // create_new: a second entry of the same name is an error, not an overwrite.
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&out).map_err(clash)?;
        let limit = room.saturating_sub(total) + 1;
        let n = std::io::copy(&mut (&mut entry).take(limit), &mut f).map_err(|e| RunsError::BadRequest(format!("zip entry '{shown}': {e}")))?;
        total += n;
        if total > room {
            return Err(RunsError::PayloadTooLarge(if room < limits.max_unpacked {
                format!(
                    "the uploads quota ({}) is full: delete uploads you no longer need (DELETE /api/datasets/NAME)",
                    crate::config::limits::human_bytes(limits.quota as f64)
                )
            } else {
                format!("the archive unpacks to more than {} bytes", limits.max_unpacked)
            }));
        }
        f.flush()?;
        files += 1;
    }
    Ok((files, total))
}

/// The uploads there are, newest first.
pub fn list(uploads_dir: &Path) -> Vec<Uploaded> {
    let Ok(entries) = std::fs::read_dir(uploads_dir) else {
        return Vec::new();
    };
    let mut out: Vec<(std::time::SystemTime, Uploaded)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let dest = e.path();
            let root = dataset_root(&dest);
            let (files, bytes) = folder_usage(&dest);
            let when = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            let up = Uploaded {
                name: e.file_name().to_string_lossy().into_owned(),
                path: root.display().to_string(),
                layout: detect_layout(&root).unwrap_or("unknown").into(),
                files,
                bytes,
            };
            (when, up)
        })
        .collect();
    out.sort_by_key(|u| std::cmp::Reverse(u.0));
    out.into_iter().map(|(_, u)| u).collect()
}

/// The folder of the upload called `name`: a plain name of an existing folder directly
/// under `uploads_dir`, nothing else.
pub fn folder_of(uploads_dir: &Path, name: &str) -> RunsResult<PathBuf> {
    let plain = !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        return Err(RunsError::BadRequest(format!("'{}' is not an upload name", name.escape_default())));
    }
    let dir = uploads_dir.join(name);
    if !dir.is_dir() {
        return Err(RunsError::NotFound(format!("no upload '{name}'")));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_at(path: &Path, entries: &[(&str, usize)]) {
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, size) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(&vec![7u8; *size]).unwrap();
        }
        w.finish().unwrap();
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("flawmap-uploads-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("uploads")).unwrap();
        d
    }

    #[test]
    fn each_bound_is_refused_with_its_reason_and_leaves_nothing_behind() {
        let d = dir("bounds");
        let uploads = d.join("uploads");
        let limits = Limits { max_unpacked: 3000, quota: 5000, max_entries: 4 };
        let ok = |uploads: &Path| std::fs::read_dir(uploads).unwrap().count();
        // Too many entries.
        zip_at(&d.join("many.zip"), &[("p/a.png", 10), ("p/b.png", 10), ("p/c.png", 10), ("p/d.png", 10), ("p/e.png", 10)]);
        let e = unpack(&d.join("many.zip"), "many", &uploads, limits).unwrap_err().to_string();
        assert!(e.contains("5 entries (at most 4)"), "{e}");
        // An archive that unpacks to more than its limit (a zip bomb's shape).
        zip_at(&d.join("big.zip"), &[("p/a.png", 2000), ("p/b.png", 2000)]);
        let e = unpack(&d.join("big.zip"), "big", &uploads, limits).unwrap_err().to_string();
        assert!(e.contains("unpacks to more than 3000 bytes"), "{e}");
        assert_eq!(ok(&uploads), 0, "nothing left of refused archives");
        // Within the limits: unpacked; then the quota counts it.
        zip_at(&d.join("fits.zip"), &[("p/a.png", 1500), ("p/b.png", 1400)]);
        let up = unpack(&d.join("fits.zip"), "fits", &uploads, limits).unwrap();
        assert_eq!((up.files, up.bytes, up.layout.as_str()), (2, 2900, "photos"));
        let e = unpack(&d.join("fits.zip"), "again", &uploads, limits).unwrap_err().to_string();
        assert!(e.contains("quota") && e.contains("is full"), "{e}");
        assert_eq!(ok(&uploads), 1, "the refused second copy left nothing");
        let _ = std::fs::remove_dir_all(&d);
    }
}
