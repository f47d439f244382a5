//! Dataset paths from users are confined to the server's dataset roots.

use super::{RunsError, RunsResult};
use crate::config::RunConfig;
use std::path::{Path, PathBuf};

/// Resolve `path` (absolute, or relative to a root) to a canonical folder inside one of
/// `roots`; anything else (`..`, symlinks out, other folders) is refused.
pub fn confine(path: &str, roots: &[PathBuf]) -> RunsResult<PathBuf> {
    if roots.is_empty() {
        return Err(RunsError::Forbidden("this server has no dataset folders (start it with --datasets-dir)".into()));
    }
    let candidates: Vec<PathBuf> = if Path::new(path).is_absolute() { vec![PathBuf::from(path)] } else { roots.iter().map(|r| r.join(path)).collect() };
    for c in candidates {
        if let Ok(real) = c.canonicalize()
            && real.is_dir()
            && roots.iter().any(|r| real.starts_with(r))
        {
            return Ok(real);
        }
    }
    Err(RunsError::Forbidden(format!("dataset path '{path}' is not a folder under the server's dataset roots")))
}

/// Rewrite a config's dataset path to its confined, absolute form.
pub fn confine_config(mut config: RunConfig, roots: &[PathBuf]) -> RunsResult<RunConfig> {
    for path in config.data.source.folders_mut() {
        *path = confine(path, roots)?.display().to_string();
    }
    Ok(config)
}

/// Sub-folders of the roots, for the new-run form.
pub fn list(roots: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for r in roots {
        if let Ok(entries) = std::fs::read_dir(r) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    out.push(e.path().display().to_string());
                }
            }
        }
    }
    out.sort();
    out
}
