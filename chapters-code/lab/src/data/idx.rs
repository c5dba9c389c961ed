//! The IDX file format (read and write) and the real MNIST, for readers who have the decompressed
//! files on disk. Nothing is ever downloaded.

use super::Dataset;
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned-byte 3-D data (MNIST images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte 1-D data (MNIST labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        bail!("{} is gzip-compressed: decompress it first (e.g. `gunzip {}`)", path.display(), path.display());
    }
    Ok(bytes)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn check_magic(path: &Path, bytes: &[u8], expect: u32, what: &str) -> Result<()> {
    let magic = be_u32(bytes, 0);
    if magic != expect {
        let hint = match magic {
            IDX_IMAGES_MAGIC => " (it is an image file: are the image and label paths swapped?)",
            IDX_LABELS_MAGIC => " (it is a label file: are the image and label paths swapped?)",
            _ => "",
        };
        bail!(
            "{} is not an IDX {what} file: magic number 0x{magic:08x}, expected 0x{expect:08x}{hint}",
            path.display()
        );
    }
    Ok(())
}

/// Raw images of an IDX file: `(count, rows, cols, pixels)` with `count·rows·cols` bytes, row-major.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<(usize, usize, usize, Vec<u8>)> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    if bytes.len() >= 4 {
        check_magic(path, &bytes, IDX_IMAGES_MAGIC, "image")?;
    }
    ensure!(
        bytes.len() >= 16,
        "{} is truncated: {} bytes, shorter than the 16-byte IDX image header",
        path.display(),
        bytes.len()
    );
    let (n, rows, cols) = (be_u32(&bytes, 4) as usize, be_u32(&bytes, 8) as usize, be_u32(&bytes, 12) as usize);
    let expect = n.checked_mul(rows).and_then(|v| v.checked_mul(cols)).context("image dimensions overflow")?;
    let have = bytes.len() - 16;
    ensure!(
        have >= expect,
        "{} is truncated: its header says {n} images of {rows}×{cols} ({expect} bytes) but only {have} bytes follow",
        path.display()
    );
    ensure!(
        have == expect,
        "{} has {} unexpected bytes after its {n} images of {rows}×{cols}",
        path.display(),
        have - expect
    );
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Raw labels of an IDX file.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    if bytes.len() >= 4 {
        check_magic(path, &bytes, IDX_LABELS_MAGIC, "label")?;
    }
    ensure!(
        bytes.len() >= 8,
        "{} is truncated: {} bytes, shorter than the 8-byte IDX label header",
        path.display(),
        bytes.len()
    );
    let n = be_u32(&bytes, 4) as usize;
    let have = bytes.len() - 8;
    ensure!(have >= n, "{} is truncated: its header says {n} labels but only {have} bytes follow", path.display());
    ensure!(have == n, "{} has {} unexpected bytes after its {n} labels", path.display(), have - n);
    Ok(bytes[8..].to_vec())
}

/// Writes images (`count·rows·cols` bytes) as an IDX file (atomically). For tests, and for exporting
/// the procedural digits to tools that read MNIST.
pub fn write_idx_images(path: impl AsRef<Path>, rows: usize, cols: usize, pixels: &[u8]) -> Result<()> {
    let per = rows * cols;
    ensure!(
        per > 0 && pixels.len().is_multiple_of(per),
        "{} bytes are not a whole number of {rows}×{cols} images",
        pixels.len()
    );
    let mut bytes = Vec::with_capacity(16 + pixels.len());
    for v in [IDX_IMAGES_MAGIC, (pixels.len() / per) as u32, rows as u32, cols as u32] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    crate::io::OutputFile::write_all_atomic(path, &bytes)?;
    Ok(())
}

/// Writes labels as an IDX file (atomically).
pub fn write_idx_labels(path: impl AsRef<Path>, labels: &[u8]) -> Result<()> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend(IDX_LABELS_MAGIC.to_be_bytes());
    bytes.extend((labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    crate::io::OutputFile::write_all_atomic(path, &bytes)?;
    Ok(())
}

/// Reads an MNIST-format pair of IDX files (also Fashion-MNIST): images become rows of
/// `rows·cols` f32 values in [0, 1] (pixel / 255), labels must be digits 0–9.
pub fn mnist_idx(images_path: impl AsRef<Path>, labels_path: impl AsRef<Path>) -> Result<Dataset> {
    let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
    let (n, rows, cols, pixels) = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    ensure!(
        labels.len() == n,
        "{} has {n} images but {} has {} labels",
        images_path.display(),
        labels_path.display(),
        labels.len()
    );
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        bail!("{}: label {i} is {l}, but MNIST labels are digits 0–9", labels_path.display());
    }
    let xs = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    Dataset::from_vecs(xs, rows * cols, labels.iter().map(|&l| l as u32).collect(), 10)
}

/// MNIST's training and test sets.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Dataset,
    pub test: Dataset,
}

/// Finds `<stem>` in `dir` under the names MNIST is distributed with (`train-images-idx3-ubyte`, or
/// `train-images.idx3-ubyte`), or says what is there instead.
fn find_idx(dir: &Path, stem: &str, kind: &str) -> Result<PathBuf> {
    let candidates = [format!("{stem}-{kind}"), format!("{stem}.{kind}")];
    for name in &candidates {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    for name in &candidates {
        let gz = dir.join(format!("{name}.gz"));
        if gz.is_file() {
            bail!(
                "found {} but not {}: decompress it first (e.g. `gunzip -k {}`)",
                gz.display(),
                dir.join(name).display(),
                gz.display()
            );
        }
    }
    bail!(
        "{} not found in {} (expected the decompressed MNIST files, e.g. `{}`)",
        candidates[0],
        dir.display(),
        candidates[0]
    )
}

/// Loads MNIST from a directory holding the four decompressed IDX files
/// (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`).
pub fn load_mnist_dir(dir: impl AsRef<Path>) -> Result<Mnist> {
    let dir = dir.as_ref();
    ensure!(dir.is_dir(), "MNIST directory {} does not exist", dir.display());
    let train = mnist_idx(find_idx(dir, "train-images", "idx3-ubyte")?, find_idx(dir, "train-labels", "idx1-ubyte")?)?;
    let test = mnist_idx(find_idx(dir, "t10k-images", "idx3-ubyte")?, find_idx(dir, "t10k-labels", "idx1-ubyte")?)?;
    Ok(Mnist { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{digits, tests::temp_dir};
    use crate::init;
    use rand::RngCore;

    fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0u8; n];
        init::rng(seed).fill_bytes(&mut v);
        v
    }

    #[test]
    fn idx_round_trip_and_errors() -> Result<()> {
        let dir = temp_dir("idx");
        let pixels = random_bytes(3 * 4 * 5, 1);
        let (img, lab) = (dir.join("imgs"), dir.join("labs"));
        write_idx_images(&img, 4, 5, &pixels)?;
        write_idx_labels(&lab, &[3, 0, 9])?;
        let d = mnist_idx(&img, &lab)?;
        assert_eq!((d.len(), d.dim(), d.classes, d.labels()?), (3, 20, 10, vec![3, 0, 9]));
        let row1 = d.x.to_vec2::<f32>()?[1].clone();
        assert_eq!(row1, pixels[20..40].iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>());

        let err = |i: &Path, l: &Path| mnist_idx(i, l).unwrap_err().to_string();
        // Missing file: names it.
        let missing = dir.join("nope");
        let e = err(&missing, &lab);
        assert!(e.contains("cannot read") && e.contains("nope"), "{e}");
        // Wrong magic, and the swapped-arguments hint.
        let e = err(&lab, &img);
        assert!(
            e.contains("labs is not an IDX image file") && e.contains("0x00000801") && e.contains("swapped"),
            "{e}"
        );
        let junk = dir.join("junk");
        std::fs::write(&junk, [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
        let e = err(&junk, &lab);
        assert!(e.contains("junk is not an IDX image file: magic number 0xdeadbeef"), "{e}");
        // Truncated data and truncated header.
        let bytes = std::fs::read(&img)?;
        let short = dir.join("short");
        std::fs::write(&short, &bytes[..bytes.len() - 7])?;
        let e = err(&short, &lab);
        assert!(
            e.contains("short is truncated: its header says 3 images of 4×5 (60 bytes) but only 53 bytes follow"),
            "{e}"
        );
        std::fs::write(&short, &bytes[..10])?;
        assert!(err(&short, &lab).contains("shorter than the 16-byte IDX image header"));
        let short_labels = dir.join("short_labels");
        std::fs::write(&short_labels, &std::fs::read(&lab)?[..9])?;
        assert!(err(&img, &short_labels).contains("says 3 labels but only 1 bytes follow"));
        let long = dir.join("long");
        std::fs::write(&long, [bytes.as_slice(), &[0]].concat())?;
        assert!(err(&long, &lab).contains("1 unexpected bytes"));
        // Count mismatch.
        let two = dir.join("two");
        write_idx_labels(&two, &[1, 2])?;
        let e = err(&img, &two);
        assert!(e.contains("imgs has 3 images but") && e.contains("two has 2 labels"), "{e}");
        // Labels beyond 9.
        let bad = dir.join("bad");
        write_idx_labels(&bad, &[1, 12, 2])?;
        assert!(err(&img, &bad).contains("label 1 is 12"));
        // Gzip.
        let gz = dir.join("imgs.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0])?;
        let e = err(&gz, &lab);
        assert!(e.contains("gzip-compressed: decompress it first"), "{e}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn mnist_dir_finds_files_and_explains_what_is_missing() -> Result<()> {
        let dir = temp_dir("mnistdir");
        let e = load_mnist_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte not found in"), "{e}");
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), [0x1f, 0x8b])?;
        let e = load_mnist_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte.gz but not") && e.contains("decompress it first"), "{e}");
        let digits = digits(30, 2)?;
        let to_bytes = |d: &Dataset| -> Result<(Vec<u8>, Vec<u8>)> {
            let px = d.x.flatten_all()?.to_vec1::<f32>()?.iter().map(|&v| (v * 255.0).round() as u8).collect();
            Ok((px, d.labels()?.iter().map(|&l| l as u8).collect()))
        };
        let (train, test) = digits.split(20)?;
        let ((tp, tl), (sp, sl)) = (to_bytes(&train)?, to_bytes(&test)?);
        write_idx_images(dir.join("train-images-idx3-ubyte"), 28, 28, &tp)?;
        write_idx_labels(dir.join("train-labels-idx1-ubyte"), &tl)?;
        // The dotted spelling some mirrors use.
        write_idx_images(dir.join("t10k-images.idx3-ubyte"), 28, 28, &sp)?;
        write_idx_labels(dir.join("t10k-labels.idx1-ubyte"), &sl)?;
        let m = load_mnist_dir(&dir)?;
        assert_eq!((m.train.len(), m.test.len(), m.train.dim()), (20, 10, 784));
        assert_eq!(m.test.labels()?, test.labels()?);
        let diff = (m.train.x.clone() - &train.x)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff <= 0.5 / 255.0 + 1e-6);
        assert!(load_mnist_dir(dir.join("absent")).unwrap_err().to_string().contains("does not exist"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
