//! Files written atomically: a crash, an error or a panic never leaves a half-written output.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file written atomically: data goes to a temporary file in the destination's directory, and only
/// [`OutputFile::commit`] renames it into place. Dropped without a commit (an error, a panic), the
/// temporary file is removed and the destination is untouched: no partial output, ever.
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl OutputFile {
    /// Starts writing `path` (its directory is created if needed).
    pub fn create(path: impl AsRef<Path>) -> Result<OutputFile> {
        let path = path.as_ref().to_path_buf();
        let name = path.file_name().with_context(|| format!("output path `{}` has no file name", path.display()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.is_dir() {
            bail!("cannot write {}: it is a directory", path.display());
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating directory {}", dir.display()))?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{}.{}-{n}.tmp", name.to_string_lossy(), std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(OutputFile { path, tmp, file: Some(BufWriter::new(file)) })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the temporary file onto the destination.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take().expect("an uncommitted OutputFile has a file");
        let result = (|| -> io::Result<()> {
            let f = file.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&self.tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(e).with_context(|| format!("writing {}", self.path.display()));
        }
        Ok(self.path.clone())
    }

    /// Writes `bytes` to `path` atomically in one call.
    pub fn write_all_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<PathBuf> {
        let mut out = OutputFile::create(path)?;
        out.write_all(bytes).with_context(|| format!("writing {}", out.path.display()))?;
        out.commit()
    }

    fn inner(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("an uncommitted OutputFile has a file")
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}

impl Seek for OutputFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner().seek(pos)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            drop(f);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    OutputFile::write_all_atomic(path, bytes).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lab-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn output_file_is_atomic() -> Result<()> {
        let dir = temp_dir("atomic");
        let path = dir.join("out.txt");
        // Committed: the content appears, no temp file remains.
        let mut f = OutputFile::create(&path)?;
        f.write_all(b"hello ")?;
        f.write_all(b"world")?;
        assert!(!path.exists(), "nothing at the destination before commit");
        f.commit()?;
        assert_eq!(std::fs::read_to_string(&path)?, "hello world");
        assert_eq!(entries(&dir), vec!["out.txt"]);
        // Dropped without commit (an error midway): the old content stays, the temp file is gone.
        {
            let mut f = OutputFile::create(&path)?;
            f.write_all(b"partial")?;
        }
        assert_eq!(std::fs::read_to_string(&path)?, "hello world");
        assert_eq!(entries(&dir), vec!["out.txt"]);
        // A new file that fails midway leaves nothing behind.
        let fresh = dir.join("sub").join("fresh.bin");
        {
            let mut f = OutputFile::create(&fresh)?;
            f.write_all(&[1, 2, 3])?;
        }
        assert!(!fresh.exists());
        assert!(entries(&dir.join("sub")).is_empty());
        OutputFile::write_all_atomic(&fresh, b"ok")?;
        assert_eq!(std::fs::read(&fresh)?, b"ok");
        // A directory at the destination is refused up front.
        assert!(OutputFile::create(&dir).unwrap_err().to_string().contains("is a directory"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
