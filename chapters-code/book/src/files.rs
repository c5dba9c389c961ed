//! Low-level file helpers the rest of the driver shares: where the workspace is, walking a folder,
//! newest and oldest modification times. A leaf: it imports nothing of the crate.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The workspace root: the folder holding book.toml, src/ and chapters-code/.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The workspace's cargo target folder: `CARGO_TARGET_DIR` (relative to `workspace` when
/// relative), else `<workspace>/target`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    if target.is_relative() { workspace.join(target) } else { target }
}

/// Every file under `dir`, recursively, in a stable order.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Newest modification time among `paths` (files, or folders searched recursively); missing paths
/// are skipped.
pub fn newest_mtime(paths: &[PathBuf]) -> Result<Option<SystemTime>> {
    let mut newest = None;
    for path in paths.iter().filter(|p| p.exists()) {
        let files = if path.is_dir() { files_under(path)? } else { vec![path.clone()] };
        for file in files {
            let modified = std::fs::metadata(&file)?.modified()?;
            newest = newest.max(Some(modified));
        }
    }
    Ok(newest)
}

/// Oldest modification time of the files directly in `dir` with extension `ext`; `None` when there
/// are none (or no such folder).
pub fn oldest_with_extension(dir: &Path, ext: &str) -> Result<Option<SystemTime>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut oldest = None;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            let modified = std::fs::metadata(&path)?.modified()?;
            oldest = Some(oldest.map_or(modified, |o: SystemTime| o.min(modified)));
        }
    }
    Ok(oldest)
}
