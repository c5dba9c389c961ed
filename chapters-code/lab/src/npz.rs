//! Weights in, gradients out, in numpy's `.npz` format — so any network the book builds can be
//! checked against another framework (PyTorch, JAX, numpy by hand) on exactly the same numbers.
//!
//! The weights file is what `np.savez("W.npz", x=x, y=y, w0=…, b0=…, …)` writes:
//!
//! | array | shape | dtype |
//! |---|---|---|
//! | `x` | (B, d_in) | float32 or float64 |
//! | `y` | (B,) | any integer type (int64, int32, …), values in [0, classes) |
//! | `w0` … `wL` | (out, in), PyTorch's `Linear.weight` layout | float32 or float64 |
//! | `b0` … `bL` | (out,) | float32 or float64 |
//!
//! Layer L is the linear head; its number of outputs is the number of classes. Hidden layer i
//! computes `Linear → [BatchNorm] → activation`, with `h + f(·)` when residual and the layer's input
//! and output widths agree (the first layer included, when d_in equals its width). BatchNorm is in
//! training mode: batch statistics, biased variance, ε = 1e-5, γ = 1, β = 0 — PyTorch's
//! `nn.BatchNorm1d` in `train()` mode, freshly initialised. The loss is the mean softmax
//! cross-entropy (`F.cross_entropy`). The gradients file holds `loss` (a 0-d float64), `gw{i}` and
//! `gb{i}` shaped like `w{i}` and `b{i}`, and under BatchNorm `ggamma{i}` / `gbeta{i}` for the hidden
//! layers.
//!
//! ```
//! use lab::npz::{Array, GradientOptions, gradients_for, read_npz, write_npz};
//! # fn main() -> anyhow::Result<()> {
//! let dir = std::env::temp_dir().join(format!("lab-npz-doc-{}", std::process::id()));
//! let w = dir.join("W.npz");
//! write_npz(&w, [
//!     ("x", Array::f32(vec![2, 3], vec![0.1, -0.2, 0.3, 0.5, 0.0, -1.0])?),
//!     ("y", Array::i64(vec![2], vec![0, 1])?),
//!     ("w0", Array::f32(vec![2, 3], vec![0.5, -0.5, 0.25, 0.1, 0.2, 0.3])?),
//!     ("b0", Array::f32(vec![2], vec![0.0, 0.1])?),
//! ])?;
//! let report = gradients_for(&w, &GradientOptions::new(lab::Activation::Tanh))?;
//! report.save(dir.join("G.npz"))?;
//! let g = read_npz(dir.join("G.npz"))?;
//! assert_eq!(g["gw0"].shape(), &[2, 3]);
//! assert!((g["loss"].to_f64_vec()[0] - report.loss).abs() < 1e-12);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use crate::io::OutputFile;
use crate::{Activation, DEVICE, Init, MlpConfig, Norm};
use anyhow::{Context, Result, bail, ensure};
use candle_core::{DType, Device, Tensor};
use npyz::npz::{NpzArchive, NpzWriter};
use npyz::{DType as NpyDType, Order, TypeChar, WriterBuilder};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// An n-dimensional array as stored in an `.npz`, row-major (C order).
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    F32 { shape: Vec<usize>, data: Vec<f32> },
    F64 { shape: Vec<usize>, data: Vec<f64> },
    I64 { shape: Vec<usize>, data: Vec<i64> },
}

fn check_len(shape: &[usize], len: usize) -> Result<()> {
    let n: usize = shape.iter().product();
    ensure!(n == len, "an array of shape {shape:?} needs {n} values, got {len}");
    Ok(())
}

impl Array {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Array> {
        check_len(&shape, data.len())?;
        Ok(Array::F32 { shape, data })
    }

    pub fn f64(shape: Vec<usize>, data: Vec<f64>) -> Result<Array> {
        check_len(&shape, data.len())?;
        Ok(Array::F64 { shape, data })
    }

    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Array> {
        check_len(&shape, data.len())?;
        Ok(Array::I64 { shape, data })
    }

    /// A 0-d float64 array (what numpy stores for `np.float64(v)`).
    pub fn scalar(v: f64) -> Array {
        Array::F64 { shape: vec![], data: vec![v] }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Array::F32 { shape, .. } | Array::F64 { shape, .. } | Array::I64 { shape, .. } => shape,
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// numpy's name of the element type.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Array::F32 { .. } => "float32",
            Array::F64 { .. } => "float64",
            Array::I64 { .. } => "int64",
        }
    }

    /// The values, widened to f64.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Array::F32 { data, .. } => data.iter().map(|&v| v as f64).collect(),
            Array::F64 { data, .. } => data.clone(),
            Array::I64 { data, .. } => data.iter().map(|&v| v as f64).collect(),
        }
    }

    /// A tensor of the same shape: f32, f64 or i64.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(match self {
            Array::F32 { shape, data } => Tensor::from_vec(data.clone(), shape.as_slice(), device)?,
            Array::F64 { shape, data } => Tensor::from_vec(data.clone(), shape.as_slice(), device)?,
            Array::I64 { shape, data } => Tensor::from_vec(data.clone(), shape.as_slice(), device)?,
        })
    }

    /// The array of a tensor: f32 and f64 keep their type, integer tensors become int64, half
    /// precision becomes float32.
    pub fn from_tensor(t: &Tensor) -> Result<Array> {
        let shape = t.dims().to_vec();
        let flat = t.flatten_all()?;
        Ok(match t.dtype() {
            DType::F64 => Array::F64 { shape, data: flat.to_vec1()? },
            DType::U8 | DType::U32 | DType::I64 => Array::I64 { shape, data: flat.to_dtype(DType::I64)?.to_vec1()? },
            _ => Array::F32 { shape, data: flat.to_dtype(DType::F32)?.to_vec1()? },
        })
    }
}

/// Reads every array of an `.npz` (compressed or not). Float arrays of 4 or 8 bytes become
/// [`Array::F32`] / [`Array::F64`], integer and boolean arrays become [`Array::I64`]; Fortran-order
/// arrays are converted to C order. Errors name the file and the array.
pub fn read_npz(path: impl AsRef<Path>) -> Result<BTreeMap<String, Array>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = NpzArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a valid .npz file (a zip archive of .npy arrays)", path.display()))?;
    read_archive(&mut archive).with_context(|| format!("reading {}", path.display()))
}

/// Reads every array of an `.npz` held in memory.
pub fn read_npz_bytes(bytes: &[u8]) -> Result<BTreeMap<String, Array>> {
    let mut archive = NpzArchive::new(std::io::Cursor::new(bytes)).context("not a valid .npz archive")?;
    read_archive(&mut archive)
}

fn read_archive<R: Read + Seek>(archive: &mut NpzArchive<R>) -> Result<BTreeMap<String, Array>> {
    let names: Vec<String> = archive.array_names().map(str::to_owned).collect();
    let mut out = BTreeMap::new();
    for name in names {
        let npy = archive
            .by_name(&name)
            .with_context(|| format!("array `{name}` is corrupt"))?
            .with_context(|| format!("array `{name}` disappeared from the archive"))?;
        let array = read_array(npy).with_context(|| format!("array `{name}`"))?;
        out.insert(name, array);
    }
    Ok(out)
}

fn read_array<R: Read>(npy: npyz::NpyFile<R>) -> Result<Array> {
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let fortran = npy.order() == Order::Fortran;
    let ts = match npy.dtype() {
        NpyDType::Plain(ts) => ts,
        other => bail!("has a structured dtype {}, expected a plain number type", other.descr()),
    };
    let (tc, size) = (ts.type_char(), ts.size_field());
    let truncated = |e: std::io::Error| anyhow::anyhow!("data is truncated or corrupt ({e})");
    let mut array = match (tc, size) {
        (TypeChar::Float, 4) => Array::F32 { shape: shape.clone(), data: npy.into_vec::<f32>().map_err(truncated)? },
        (TypeChar::Float, 8) => Array::F64 { shape: shape.clone(), data: npy.into_vec::<f64>().map_err(truncated)? },
        (TypeChar::Int, 1) => int_array(&shape, npy.into_vec::<i8>().map_err(truncated)?),
        (TypeChar::Int, 2) => int_array(&shape, npy.into_vec::<i16>().map_err(truncated)?),
        (TypeChar::Int, 4) => int_array(&shape, npy.into_vec::<i32>().map_err(truncated)?),
        (TypeChar::Int, 8) => int_array(&shape, npy.into_vec::<i64>().map_err(truncated)?),
        (TypeChar::Uint, 1) => int_array(&shape, npy.into_vec::<u8>().map_err(truncated)?),
        (TypeChar::Uint, 2) => int_array(&shape, npy.into_vec::<u16>().map_err(truncated)?),
        (TypeChar::Uint, 4) => int_array(&shape, npy.into_vec::<u32>().map_err(truncated)?),
        (TypeChar::Uint, 8) => {
            let v = npy.into_vec::<u64>().map_err(truncated)?;
            let data = v.iter().map(|&x| i64::try_from(x).context("uint64 value too large")).collect::<Result<_>>()?;
            Array::I64 { shape: shape.clone(), data }
        }
        (TypeChar::Bool, 1) => int_array(&shape, npy.into_vec::<bool>().map_err(truncated)?),
        _ => bail!("has dtype `{ts}`, which is not supported (expected float32, float64 or an integer type)"),
    };
    if fortran && shape.len() > 1 {
        array = to_c_order(array);
    }
    check_len(
        array.shape(),
        match &array {
            Array::F32 { data, .. } => data.len(),
            Array::F64 { data, .. } => data.len(),
            Array::I64 { data, .. } => data.len(),
        },
    )?;
    Ok(array)
}

fn int_array<T: Into<i64> + Copy>(shape: &[usize], v: Vec<T>) -> Array {
    Array::I64 { shape: shape.to_vec(), data: v.into_iter().map(Into::into).collect() }
}

/// Reorders Fortran-order (first index fastest) data to C order.
fn to_c_order(a: Array) -> Array {
    fn permute<T: Copy>(shape: &[usize], data: &[T]) -> Vec<T> {
        let n = data.len();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..n {
            // Fortran offset of the C-order multi-index `idx`.
            let (mut off, mut stride) = (0, 1);
            for (i, &d) in idx.iter().zip(shape) {
                off += i * stride;
                stride *= d;
            }
            out.push(data[off]);
            for ax in (0..shape.len()).rev() {
                idx[ax] += 1;
                if idx[ax] < shape[ax] {
                    break;
                }
                idx[ax] = 0;
            }
        }
        out
    }
    match a {
        Array::F32 { shape, data } => Array::F32 { data: permute(&shape, &data), shape },
        Array::F64 { shape, data } => Array::F64 { data: permute(&shape, &data), shape },
        Array::I64 { shape, data } => Array::I64 { data: permute(&shape, &data), shape },
    }
}

/// Writes arrays to an `.npz` that `np.load` reads, atomically: the archive is written to a temporary
/// file beside `path` and renamed into place only when complete, so an error never leaves a partial
/// file. Entries are stored uncompressed (as `np.savez` does) with a fixed timestamp, so the same
/// arrays give the same bytes.
pub fn write_npz<K, A>(path: impl AsRef<Path>, arrays: impl IntoIterator<Item = (K, A)>) -> Result<()>
where
    K: AsRef<str>,
    A: Borrow<Array>,
{
    let path = path.as_ref();
    let out = OutputFile::create(path)?;
    let out = write_archive(out, arrays).with_context(|| format!("writing {}", path.display()))?;
    out.commit()?;
    Ok(())
}

/// [`write_npz`] into memory.
pub fn write_npz_bytes<K, A>(arrays: impl IntoIterator<Item = (K, A)>) -> Result<Vec<u8>>
where
    K: AsRef<str>,
    A: Borrow<Array>,
{
    Ok(write_archive(std::io::Cursor::new(Vec::new()), arrays)?.into_inner())
}

fn write_archive<W, K, A>(writer: W, arrays: impl IntoIterator<Item = (K, A)>) -> Result<W>
where
    W: Write + Seek,
    K: AsRef<str>,
    A: Borrow<Array>,
{
    let mut npz = NpzWriter::new(writer);
    let mut seen = BTreeSet::new();
    for (name, array) in arrays {
        let (name, array) = (name.as_ref(), array.borrow());
        ensure!(!name.is_empty() && !name.contains('/'), "bad array name `{name}`");
        ensure!(seen.insert(name.to_owned()), "array `{name}` given twice");
        let options = npyz::zip::write::FileOptions::default()
            .compression_method(npyz::zip::CompressionMethod::Stored)
            .last_modified_time(npyz::zip::DateTime::default())
            .large_file(array.len() > (1 << 26));
        let shape: Vec<u64> = array.shape().iter().map(|&d| d as u64).collect();
        let res = match array {
            Array::F32 { data, .. } => put(&mut npz, name, options, &shape, data),
            Array::F64 { data, .. } => put(&mut npz, name, options, &shape, data),
            Array::I64 { data, .. } => put(&mut npz, name, options, &shape, data),
        };
        res.with_context(|| format!("writing array `{name}`"))?;
    }
    npz.zip_writer().finish().context("finishing the zip archive")
}

fn put<T, W>(
    npz: &mut NpzWriter<W>,
    name: &str,
    options: npyz::zip::write::FileOptions,
    shape: &[u64],
    data: &[T],
) -> std::io::Result<()>
where
    T: npyz::AutoSerialize + Copy,
    W: Write + Seek,
{
    let mut w = npz.array::<T>(name, options)?.default_dtype().shape(shape).begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()
}

/// The arrays of a weights file, validated: inputs, labels, and the (weight, bias) of every layer.
/// Tensors are f64 (lossless for float32 and float64 files); labels are u32.
#[derive(Debug, Clone)]
pub struct Weights {
    /// `(B, d_in)` f64.
    pub x: Tensor,
    /// `(B,)` u32.
    pub y: Tensor,
    /// `(w (out, in), b (out,))` per layer, the head last, f64.
    pub layers: Vec<(Tensor, Tensor)>,
}

impl Weights {
    /// Number of classes: the head's outputs.
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(0, |(w, _)| w.dims()[0])
    }

    /// Widths of the hidden layers.
    pub fn hidden(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1].iter().map(|(w, _)| w.dims()[0]).collect()
    }

    /// Input dimension.
    pub fn d_in(&self) -> usize {
        self.x.dims()[1]
    }

    /// Batch size.
    pub fn batch(&self) -> usize {
        self.x.dims()[0]
    }

    /// The arrays of a weights file (x and weights as float32, y as int64), for [`write_npz`].
    pub fn to_arrays(&self) -> Result<Vec<(String, Array)>> {
        let mut v = vec![
            ("x".to_string(), Array::from_tensor(&self.x.to_dtype(DType::F32)?)?),
            ("y".to_string(), Array::from_tensor(&self.y)?),
        ];
        for (i, (w, b)) in self.layers.iter().enumerate() {
            v.push((format!("w{i}"), Array::from_tensor(&w.to_dtype(DType::F32)?)?));
            v.push((format!("b{i}"), Array::from_tensor(&b.to_dtype(DType::F32)?)?));
        }
        Ok(v)
    }
}

/// Reads and validates a weights `.npz` (see the module docs for its layout). Every error names the
/// file and the offending array.
pub fn load_weights(path: impl AsRef<Path>) -> Result<Weights> {
    let path = path.as_ref();
    let arrays = read_npz(path)?;
    weights_from_arrays(&arrays).with_context(|| format!("{}", path.display()))
}

fn float_array(arrays: &BTreeMap<String, Array>, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let a = arrays.get(name).with_context(|| missing(arrays, name))?;
    ensure!(!matches!(a, Array::I64 { .. }), "`{name}` has an integer dtype; expected float32 or float64");
    let v = a.to_f64_vec();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        bail!("`{name}` contains a non-finite value ({}) at flat index {i}", v[i]);
    }
    Ok((a.shape().to_vec(), v))
}

fn missing(arrays: &BTreeMap<String, Array>, name: &str) -> String {
    let have: Vec<&str> = arrays.keys().map(String::as_str).collect();
    format!(
        "missing array `{name}` (the file has: {})",
        if have.is_empty() { "nothing".into() } else { have.join(", ") }
    )
}

/// Validates arrays already read (see [`load_weights`]).
pub fn weights_from_arrays(arrays: &BTreeMap<String, Array>) -> Result<Weights> {
    // Layer numbering: w0..wL and b0..bL, no gaps, no strays.
    let indices = |prefix: char| -> BTreeSet<usize> {
        arrays
            .keys()
            .filter_map(|k| k.strip_prefix(prefix).and_then(|r| if r.starts_with('+') { None } else { r.parse().ok() }))
            .collect()
    };
    let (ws, bs) = (indices('w'), indices('b'));
    ensure!(!ws.is_empty(), "{}", missing(arrays, "w0"));
    let n_layers = ws.iter().max().expect("non-empty") + 1;
    if let Some(gap) = (0..n_layers).find(|i| !ws.contains(i)) {
        bail!("missing array `w{gap}` (found w{}: layers must be numbered w0, w1, … without gaps)", n_layers - 1);
    }
    if let Some(i) = (0..n_layers).find(|i| !bs.contains(i)) {
        bail!("{}", missing(arrays, &format!("b{i}")));
    }
    if let Some(extra) = bs.iter().find(|&&i| i >= n_layers) {
        bail!("found `b{extra}` but no `w{extra}`");
    }

    let (xs, xv) = float_array(arrays, "x")?;
    ensure!(xs.len() == 2, "`x` must be 2-D (batch, d_in), got shape {xs:?}");
    let (batch, d_in) = (xs[0], xs[1]);
    ensure!(batch > 0 && d_in > 0, "`x` is empty (shape {xs:?})");

    let mut layers = Vec::with_capacity(n_layers);
    let mut fan_in = d_in;
    for i in 0..n_layers {
        let (wn, bn) = (format!("w{i}"), format!("b{i}"));
        let (wsh, wv) = float_array(arrays, &wn)?;
        ensure!(wsh.len() == 2, "`{wn}` must be 2-D (out, in), got shape {wsh:?}");
        if wsh[1] != fan_in {
            if i == 0 {
                bail!("`w0` has shape {wsh:?}, but `x` has {d_in} features: expected ({}, {d_in})", wsh[0]);
            }
            bail!(
                "`{wn}` has shape {wsh:?}, but `w{}` has {fan_in} outputs: expected ({}, {fan_in}) — weights are (out, in)",
                i - 1,
                wsh[0]
            );
        }
        ensure!(wsh[0] > 0, "`{wn}` has no outputs (shape {wsh:?})");
        let (bsh, bv) = float_array(arrays, &bn)?;
        ensure!(bsh == [wsh[0]], "`{bn}` has shape {bsh:?}, expected [{}] (one bias per row of `{wn}`)", wsh[0]);
        layers.push((Tensor::from_vec(wv, (wsh[0], wsh[1]), &DEVICE)?, Tensor::from_vec(bv, wsh[0], &DEVICE)?));
        fan_in = wsh[0];
    }
    let classes = fan_in;

    let y = arrays.get("y").with_context(|| missing(arrays, "y"))?;
    let Array::I64 { shape: ys, data: yv } = y else {
        bail!("`y` has dtype {}; expected integer class labels (int64 or int32)", y.dtype_name());
    };
    ensure!(ys.len() == 1, "`y` must be 1-D (batch,), got shape {ys:?}");
    ensure!(ys[0] == batch, "`y` has {} labels but `x` has {batch} rows", ys[0]);
    if let Some((i, &l)) = yv.iter().enumerate().find(|(_, l)| **l < 0 || **l as usize >= classes) {
        bail!("y[{i}] = {l}, but the head `w{}` has {classes} outputs: labels must be in [0, {classes})", n_layers - 1);
    }
    Ok(Weights {
        x: Tensor::from_vec(xv, (batch, d_in), &DEVICE)?,
        y: Tensor::from_vec(yv.iter().map(|&l| l as u32).collect::<Vec<_>>(), batch, &DEVICE)?,
        layers,
    })
}

/// How to build the network for a weights file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientOptions {
    pub activation: Activation,
    /// BatchNorm after every hidden affine layer (batch statistics).
    pub batchnorm: bool,
    /// Residual hidden layers `h + f(·)` where widths agree.
    pub residual: bool,
    /// Compute in f64 instead of the book's default f32.
    pub f64: bool,
}

impl GradientOptions {
    /// No BatchNorm, no residual, f32.
    pub fn new(activation: Activation) -> Self {
        GradientOptions { activation, batchnorm: false, residual: false, f64: false }
    }
}

/// The loss and gradients of one batch.
#[derive(Debug, Clone)]
pub struct GradientReport {
    pub options: GradientOptions,
    /// The network's config (its `init` is irrelevant: the weights came from the file).
    pub config: MlpConfig,
    pub batch: usize,
    pub loss: f64,
    /// ∂L/∂Wᵢ, shaped like `w{i}` (f32, or f64 with [`GradientOptions::f64`]).
    pub grad_w: Vec<Tensor>,
    /// ∂L/∂bᵢ.
    pub grad_b: Vec<Tensor>,
    /// ∂L/∂γᵢ and ∂L/∂βᵢ of the hidden layers under BatchNorm (empty otherwise).
    pub grad_gamma: Vec<Tensor>,
    pub grad_beta: Vec<Tensor>,
}

/// Builds the matching [`crate::Mlp`], loads the weights, and computes the loss and every gradient.
pub fn gradients(weights: &Weights, opts: &GradientOptions) -> Result<GradientReport> {
    let mut config = MlpConfig::new(weights.d_in(), 1, 0, weights.classes(), opts.activation, Init::Zeros)
        .with_norm(if opts.batchnorm { Norm::Batch } else { Norm::None })
        .with_residual(opts.residual);
    config.hidden = weights.hidden();
    let dtype = if opts.f64 { DType::F64 } else { DType::F32 };
    let net = if opts.f64 { config.build_f64(&DEVICE)? } else { config.build(&DEVICE)? };
    for (i, (w, b)) in weights.layers.iter().enumerate() {
        net.set_layer(i, w, b)?;
    }
    if opts.batchnorm {
        ensure!(weights.batch() >= 2, "BatchNorm needs a batch of at least 2 examples, `x` has {}", weights.batch());
    }
    let x = weights.x.to_dtype(dtype)?;
    let loss = net.loss(&x, &weights.y)?;
    let grads = loss.backward()?;
    let grad_of = |v: &candle_core::Var| -> Result<Tensor> {
        Ok(match grads.get(v) {
            Some(g) => g.clone(),
            None => v.as_tensor().zeros_like()?,
        })
    };
    let mut report = GradientReport {
        options: *opts,
        config,
        batch: weights.batch(),
        loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        grad_w: Vec::new(),
        grad_b: Vec::new(),
        grad_gamma: Vec::new(),
        grad_beta: Vec::new(),
    };
    for layer in &net.layers {
        report.grad_w.push(grad_of(&layer.weight)?);
        report.grad_b.push(grad_of(&layer.bias)?);
        if let (Some(g), Some(b)) = (&layer.gamma, &layer.beta) {
            report.grad_gamma.push(grad_of(g)?);
            report.grad_beta.push(grad_of(b)?);
        }
    }
    ensure!(report.loss.is_finite(), "the loss is not finite ({})", report.loss);
    Ok(report)
}

/// [`load_weights`] then [`gradients`]: the whole of the `gradients` example, minus printing.
pub fn gradients_for(weights_path: impl AsRef<Path>, opts: &GradientOptions) -> Result<GradientReport> {
    let w = load_weights(weights_path)?;
    gradients(&w, opts)
}

fn norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt())
}

impl GradientReport {
    /// `loss`, `gw{i}`, `gb{i}` (and `ggamma{i}`, `gbeta{i}` under BatchNorm), in that order.
    pub fn arrays(&self) -> Result<Vec<(String, Array)>> {
        let mut v = vec![("loss".to_string(), Array::scalar(self.loss))];
        for (i, (gw, gb)) in self.grad_w.iter().zip(&self.grad_b).enumerate() {
            v.push((format!("gw{i}"), Array::from_tensor(gw)?));
            v.push((format!("gb{i}"), Array::from_tensor(gb)?));
        }
        for (i, (gg, gb)) in self.grad_gamma.iter().zip(&self.grad_beta).enumerate() {
            v.push((format!("ggamma{i}"), Array::from_tensor(gg)?));
            v.push((format!("gbeta{i}"), Array::from_tensor(gb)?));
        }
        Ok(v)
    }

    /// Writes [`GradientReport::arrays`] to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_npz(path, self.arrays()?)
    }

    /// `(‖∂L/∂Wᵢ‖, ‖∂L/∂bᵢ‖)` per layer, input side first, the head last.
    pub fn norms(&self) -> Result<Vec<(f64, f64)>> {
        self.grad_w.iter().zip(&self.grad_b).map(|(w, b)| Ok((norm(w)?, norm(b)?))).collect()
    }

    /// The human-readable summary the example prints.
    pub fn summary(&self) -> Result<String> {
        use std::fmt::Write as _;
        let o = &self.options;
        let mut s = String::new();
        let mut arch = vec![o.activation.to_string()];
        if o.batchnorm {
            arch.push("batchnorm".into());
        }
        if o.residual {
            arch.push("residual".into());
        }
        let sizes: Vec<String> = self.config.sizes().iter().map(|v| v.to_string()).collect();
        writeln!(
            s,
            "loss {:.8} (batch {}, {} classes; {} layers {}; {}; {})",
            self.loss,
            self.batch,
            self.config.d_out,
            self.grad_w.len(),
            sizes.join("→"),
            arch.join(", "),
            if o.f64 { "f64" } else { "f32" }
        )?;
        writeln!(s, "{:<7}{:<10}{:>14}{:>14}", "layer", "weight", "norm dL/dW", "norm dL/db")?;
        for (i, ((nw, nb), gw)) in self.norms()?.iter().zip(&self.grad_w).enumerate() {
            let d = gw.dims();
            let name = if i + 1 == self.grad_w.len() { format!("{i} head") } else { i.to_string() };
            writeln!(s, "{name:<7}{:<10}{nw:>14.6e}{nb:>14.6e}", format!("{}x{}", d[0], d[1]))?;
        }
        if o.batchnorm {
            writeln!(s, "(a bias before a BatchNorm has zero gradient: the normalisation subtracts it again)")?;
        }
        Ok(s)
    }
}

/// Command-line flags of the `gradients` example.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gradients",
    about = "Loss and gradients of an MLP whose weights and batch come from an .npz (numpy's np.savez)",
    long_about = "Loss and gradients of an MLP whose weights and batch come from an .npz written by numpy's np.savez:\n\
                  x (B, d_in) float, y (B,) int, w0..wL (out, in), b0..bL (out,); layer L is the linear head.\n\
                  Writes loss, gw{i}, gb{i} (and ggamma{i}, gbeta{i} with --batchnorm) to --save-grads."
)]
pub struct GradientsArgs {
    /// The weights and batch (.npz).
    #[arg(long, value_name = "W.npz")]
    pub weights: PathBuf,
    /// Activation of the hidden layers: sigmoid, tanh, relu, leaky_relu\[:α\], gelu, softsign, linear.
    #[arg(long, value_parser = crate::flags::activation)]
    pub activation: Activation,
    /// BatchNorm (batch statistics, biased variance, ε = 1e-5, γ = 1, β = 0) after each hidden Linear.
    #[arg(long)]
    pub batchnorm: bool,
    /// Residual hidden layers, h + f(·), wherever a layer's input and output widths agree.
    #[arg(long)]
    pub residual: bool,
    /// Compute in f64 instead of f32.
    #[arg(long)]
    pub f64: bool,
    /// Where to write the loss and gradients (.npz); nothing is written on error.
    #[arg(long, value_name = "G.npz")]
    pub save_grads: Option<PathBuf>,
    /// Worker threads for candle.
    #[arg(long, value_parser = crate::flags::positive_usize, allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

impl GradientsArgs {
    pub fn options(&self) -> GradientOptions {
        GradientOptions {
            activation: self.activation,
            batchnorm: self.batchnorm,
            residual: self.residual,
            f64: self.f64,
        }
    }
}

/// What the `gradients` example does after parsing its flags (and setting `--threads`): computes the
/// gradients, writes them if asked, and prints the summary to `out`.
pub fn run_gradients(args: &GradientsArgs, out: &mut dyn Write) -> Result<GradientReport> {
    let report = gradients_for(&args.weights, &args.options())?;
    if let Some(path) = &args.save_grads {
        report.save(path)?;
    }
    write!(out, "{}", report.summary()?)?;
    if let Some(path) = &args.save_grads {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lab-npz-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn arrays_round_trip_through_files_and_memory() -> Result<()> {
        let dir = temp_dir("roundtrip");
        let arrays = vec![
            ("a", Array::f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5])?),
            ("b", Array::f64(vec![4], vec![0.1, 0.2, f64::MIN_POSITIVE, -1e300])?),
            ("c", Array::i64(vec![1, 2, 1], vec![-7, 9])?),
            ("s", Array::scalar(2.5)),
            ("e", Array::f32(vec![0, 3], vec![])?),
        ];
        let path = dir.join("a.npz");
        write_npz(&path, arrays.iter().map(|(k, v)| (*k, v)))?;
        let back = read_npz(&path)?;
        assert_eq!(back.len(), arrays.len());
        for (k, v) in &arrays {
            assert_eq!(&back[*k], v, "{k}");
        }
        // Same arrays, same bytes.
        let bytes = write_npz_bytes(arrays.iter().map(|(k, v)| (*k, v)))?;
        assert_eq!(std::fs::read(&path)?, bytes);
        assert_eq!(read_npz_bytes(&bytes)?, back);
        // Only the archive remains in the directory.
        assert_eq!(std::fs::read_dir(&dir)?.count(), 1);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn writing_refuses_duplicates_and_leaves_no_partial_file() -> Result<()> {
        let dir = temp_dir("dup");
        let path = dir.join("d.npz");
        let a = Array::scalar(1.0);
        let e = write_npz(&path, [("x", &a), ("x", &a)]).unwrap_err();
        assert!(format!("{e:#}").contains("array `x` given twice"), "{e:#}");
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(&dir)?.count(), 0, "no temporary file left behind");
        assert!(Array::f32(vec![2, 2], vec![1.0]).is_err());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn fortran_order_is_converted() {
        // 2×3 matrix [[1,2,3],[4,5,6]] stored column-major.
        let f = Array::I64 { shape: vec![2, 3], data: vec![1, 4, 2, 5, 3, 6] };
        assert_eq!(to_c_order(f), Array::I64 { shape: vec![2, 3], data: vec![1, 2, 3, 4, 5, 6] });
        let f = Array::F32 { shape: vec![2, 2, 2], data: (0..8).map(|v| v as f32).collect() };
        // C element [i][j][k] is Fortran element i + 2j + 4k.
        let c = to_c_order(f);
        let Array::F32 { data, .. } = c else { unreachable!() };
        assert_eq!(data, vec![0.0, 4.0, 2.0, 6.0, 1.0, 5.0, 3.0, 7.0]);
    }

    #[test]
    fn tensors_convert() -> Result<()> {
        let t = Tensor::new(&[[1u32, 2], [3, 4]], &DEVICE)?;
        assert_eq!(Array::from_tensor(&t)?, Array::I64 { shape: vec![2, 2], data: vec![1, 2, 3, 4] });
        let a = Array::f64(vec![3], vec![1.0, 2.0, 3.0])?;
        assert_eq!(a.to_tensor(&DEVICE)?.to_vec1::<f64>()?, vec![1.0, 2.0, 3.0]);
        assert_eq!(a.dtype_name(), "float64");
        Ok(())
    }
}
