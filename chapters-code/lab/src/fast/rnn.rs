//! A recurrent cell unrolled over a whole sequence as one candle op: a hand-written forward pass
//! and backpropagation through time (BPTT) for the two cells chapter 7 trains, the tanh RNN and
//! candle-nn's LSTM ([`crate::rnn`]).
//!
//! Why: unrolled step by step in candle, every step of every sequence adds a dozen small nodes to
//! the graph, and at the chapter's sizes (hidden 16–32, batch 32) building them, sorting them and
//! zero-filling their gradient buffers cost several times the arithmetic. Here the sequence is one
//! node. The forward pass runs on contiguous time-major buffers: one gemm gives every step's input
//! product x_t W_ihᵀ + b at once, then each step adds its recurrent product h_{t−1} W_hhᵀ (one small
//! gemm) and applies the cell's activations (the vectorised kernels of [`super::sigmoid`] and
//! [`super::tanh`]). What the backward pass needs — inputs, gate values, states — is kept on a
//! [`Tape`] inside the op. The backward pass walks the steps back once, with one gemm a step for
//! ∂L/∂h_{t−1}, and then takes every weight gradient with one gemm over all steps together.
//!
//! candle's custom ops take at most three inputs, so the weights and biases travel packed side by
//! side in one matrix `[W_ih | W_hh | b_ih (| b_hh)]` (made by `cat`, whose backward hands each
//! parameter its block of the gradient). The third input is the optional probes: `lab::rnn`'s zero
//! `Var`s added to the state after each step, whose gradients are ∂L/∂h_t (and ∂L/∂c_t).
//!
//! Numbers: f32 is what the figures train in; f64 (std's exact functions) is for gradient checks.
//! The results differ from candle's step-by-step unroll in the last bits (another summation order,
//! and the polynomial σ and tanh of [`super::activations`]): the tests below bound the difference.

use super::gemm::{Mat, gemm_into};
use super::{Float, contiguous_slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, bail};
use std::sync::Mutex;

/// The cells [`recurrent`] unrolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    /// h_t = tanh(W_ih x_t + b + W_hh h_{t−1}), one bias (lab's [`crate::rnn::TanhRnn`]).
    Tanh,
    /// candle-nn's LSTM: gates i, f, g, o (PyTorch's order) from W_ih x_t + b_ih + W_hh h_{t−1} + b_hh,
    /// c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
    Lstm,
}

impl Recurrence {
    /// Blocks of `hidden` rows in W_ih and W_hh: one per gate.
    fn gates(self) -> usize {
        match self {
            Recurrence::Tanh => 1,
            Recurrence::Lstm => 4,
        }
    }

    /// Parts of the state, each `(batch, hidden)`: h, or h and c.
    pub fn parts(self) -> usize {
        match self {
            Recurrence::Tanh => 1,
            Recurrence::Lstm => 2,
        }
    }

    /// Bias vectors the cell takes.
    pub fn biases(self) -> usize {
        match self {
            Recurrence::Tanh => 1,
            Recurrence::Lstm => 2,
        }
    }
}

/// The last hidden state `(batch, hidden)` of `cell` run over `xs` `(batch, T, d_in)` from the zero
/// state, differentiable (candle autograd) with respect to `xs`, the weights `w_ih` `(G·hidden, d_in)`
/// and `w_hh` `(G·hidden, hidden)`, the `biases` (`(G·hidden)` each, [`Recurrence::biases`] of them),
/// and the `probes`, where G is the number of gate blocks (1 for tanh, 4 for the LSTM).
///
/// `probes`, if given, is `(T·parts, batch, hidden)`: `probes[t·parts + k]` is added to part k
/// (h, then c) of the state right after step t computes it, as [`crate::rnn::unroll`] adds its zero
/// probe `Var`s, so its gradient is ∂L/∂h_t (∂L/∂c_t). f32 or f64 CPU tensors, all of one dtype.
pub fn recurrent(
    cell: Recurrence,
    xs: &Tensor,
    w_ih: &Tensor,
    w_hh: &Tensor,
    biases: &[Tensor],
    probes: Option<&Tensor>,
) -> Result<Tensor> {
    let (batch, steps, d_in) = xs.dims3()?;
    let (rows, hidden) = w_hh.dims2()?;
    let gn = cell.gates() * hidden;
    if steps == 0 || batch == 0 || d_in == 0 || hidden == 0 {
        bail!("lab-recurrent: empty sequence or size (batch {batch}, T {steps}, d_in {d_in}, hidden {hidden})");
    }
    if rows != gn
        || w_ih.dims() != [gn, d_in]
        || biases.len() != cell.biases()
        || biases.iter().any(|b| b.dims() != [gn])
    {
        bail!(
            "lab-recurrent: {cell:?} weights {:?}, {:?} and biases do not fit inputs {d_in} wide",
            w_ih.dims(),
            w_hh.dims()
        );
    }
    let dtype = xs.dtype();
    let mut tensors = [xs, w_ih, w_hh].into_iter().chain(biases).chain(probes);
    if !matches!(dtype, DType::F32 | DType::F64) || tensors.any(|t| t.dtype() != dtype || !t.device().is_cpu()) {
        bail!("lab-recurrent: f32 or f64 CPU tensors of one dtype only");
    }
    if let Some(p) = probes
        && p.dims() != [steps * cell.parts(), batch, hidden]
    {
        bail!("lab-recurrent: probes {:?}, expected {:?}", p.dims(), [steps * cell.parts(), batch, hidden]);
    }
    let mut blocks = vec![w_ih.clone(), w_hh.clone()];
    blocks.extend(biases.iter().map(|b| b.unsqueeze(1)).collect::<Result<Vec<_>>>()?);
    let params = Tensor::cat(&blocks, 1)?;
    // Without probes the third input is an empty placeholder, and the op knows to ignore it.
    let probe = match probes {
        Some(p) => p.contiguous()?,
        None => Tensor::zeros(0, dtype, xs.device())?,
    };
    let op = Unroll { cell, hidden, probed: probes.is_some(), tape: Mutex::new(None) };
    xs.contiguous()?.apply_op3(&params, &probe, op)
}

/// The sizes of one unrolled sequence.
#[derive(Debug, Clone, Copy)]
struct Dims {
    batch: usize,
    steps: usize,
    d_in: usize,
    hidden: usize,
}

/// What the forward pass keeps for the backward pass. Every per-step buffer is time-major, `(T,
/// batch, ·)`, so that a step's rows are one contiguous block (one gemm operand).
struct Tape<T> {
    dims: Dims,
    /// The inputs, `(T, batch, d_in)`.
    x: Vec<T>,
    /// The weights, unpacked: `(G·hidden, d_in)` and `(G·hidden, hidden)`.
    w_ih: Vec<T>,
    w_hh: Vec<T>,
    /// The activations, `(T, batch, G·hidden)`: tanh's output, or the LSTM's gates i, f, g, o.
    act: Vec<T>,
    /// The hidden states passed on (probes added), `(T, batch, hidden)`.
    h: Vec<T>,
    /// LSTM only: the cell states passed on (probes added), and tanh of the cell state before its
    /// probe (what h_t was computed from), `(T, batch, hidden)` each.
    c: Vec<T>,
    tc: Vec<T>,
}

/// A [`Tape`] of either float type.
enum AnyTape {
    F32(Tape<f32>),
    F64(Tape<f64>),
}

/// The float types the op runs in, with the activations it applies to slices.
trait Real: Float {
    fn sigmoid(src: &[Self], dst: &mut [Self]);
    fn tanh(src: &[Self], dst: &mut [Self]);
    fn tape(tape: &AnyTape) -> Option<&Tape<Self>>;
    fn wrap(tape: Tape<Self>) -> AnyTape;
}

impl Real for f32 {
    fn sigmoid(src: &[f32], dst: &mut [f32]) {
        super::activations::sigmoid_fwd_f32(src, dst)
    }
    fn tanh(src: &[f32], dst: &mut [f32]) {
        super::activations::tanh_fwd_f32(src, dst)
    }
    fn tape(tape: &AnyTape) -> Option<&Tape<f32>> {
        match tape {
            AnyTape::F32(t) => Some(t),
            AnyTape::F64(_) => None,
        }
    }
    fn wrap(tape: Tape<f32>) -> AnyTape {
        AnyTape::F32(tape)
    }
}

impl Real for f64 {
    fn sigmoid(src: &[f64], dst: &mut [f64]) {
        for (d, &z) in dst.iter_mut().zip(src) {
            *d = 1.0 / (1.0 + (-z).exp());
        }
    }
    fn tanh(src: &[f64], dst: &mut [f64]) {
        for (d, &z) in dst.iter_mut().zip(src) {
            *d = z.tanh();
        }
    }
    fn tape(tape: &AnyTape) -> Option<&Tape<f64>> {
        match tape {
            AnyTape::F64(t) => Some(t),
            AnyTape::F32(_) => None,
        }
    }
    fn wrap(tape: Tape<f64>) -> AnyTape {
        AnyTape::F64(tape)
    }
}

/// A row-major `rows × cols` matrix view of `data` for the gemm calls.
fn mat<T>(data: &[T], rows: usize, cols: usize) -> Result<Mat<T>> {
    if data.len() < rows * cols {
        bail!("lab-recurrent: a {rows}×{cols} matrix over {} values", data.len());
    }
    Mat::new(data, &Layout::contiguous((rows, cols)))
}

/// `dst (rows of a) × (cols of b) = [dst +] a·b`, row-major, on the calling thread or split
/// ([`gemm_into`]).
fn matmul<T: Float>(dst: &mut [T], accumulate: bool, a: Mat<T>, b: Mat<T>) {
    assert!(a.cols == b.rows && a.cols > 0 && dst.len() >= a.rows * b.cols, "lab-recurrent: product shapes");
    // SAFETY: dst holds a.rows × b.cols initialised values (checked above), and the views were made
    // by `mat` from live slices that do not alias dst.
    unsafe { gemm_into(dst.as_mut_ptr(), accumulate, a, b) }
}

/// The weights and the summed bias out of the packed `(G·hidden, d_in + hidden + biases)` matrix.
fn unpack<T: Real>(cell: Recurrence, dims: Dims, params: &[T]) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (d, n, gn) = (dims.d_in, dims.hidden, cell.gates() * dims.hidden);
    let cols = d + n + cell.biases();
    let (mut w_ih, mut w_hh, mut bias) = (Vec::with_capacity(gn * d), Vec::with_capacity(gn * n), vec![T::zero(); gn]);
    for (r, row) in params.chunks_exact(cols).take(gn).enumerate() {
        w_ih.extend_from_slice(&row[..d]);
        w_hh.extend_from_slice(&row[d..d + n]);
        // The LSTM's two biases only ever appear summed.
        bias[r] = row[d + n..].iter().fold(T::zero(), |s, &b| s + b);
    }
    (w_ih, w_hh, bias)
}

/// `(batch, T, cols)` ↔ `(T, batch, cols)`: the same copy either way, with the two sizes swapped.
fn swap_leading<T: Copy + Default>(src: &[T], outer: usize, inner: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::default(); src.len()];
    for o in 0..outer {
        for i in 0..inner {
            out[(i * outer + o) * cols..][..cols].copy_from_slice(&src[(o * inner + i) * cols..][..cols]);
        }
    }
    out
}

/// The forward pass over the whole sequence; the last hidden state is the tape's last `h` block.
fn forward<T: Real + Default>(
    cell: Recurrence,
    dims: Dims,
    xs: &[T],
    params: &[T],
    probes: Option<&[T]>,
) -> Result<Tape<T>> {
    let Dims { batch: b, steps, d_in: d, hidden: n } = dims;
    let (gn, parts) = (cell.gates() * n, cell.parts());
    let (bn, bgn) = (b * n, b * gn);
    let (w_ih, w_hh, bias) = unpack(cell, dims, params);
    let x = swap_leading(xs, b, steps, d);
    // Every step's pre-activation starts as its bias plus input product, all steps in one gemm.
    let mut pre: Vec<T> = bias.iter().copied().cycle().take(steps * bgn).collect();
    matmul(&mut pre, true, mat(&x, steps * b, d)?, mat(&w_ih, gn, d)?.t());
    let lstm = cell == Recurrence::Lstm;
    let mut act = vec![T::zero(); steps * bgn];
    let mut h = vec![T::zero(); steps * bn];
    let (mut c, mut tc) =
        if lstm { (vec![T::zero(); steps * bn], vec![T::zero(); steps * bn]) } else { (vec![], vec![]) };
    for t in 0..steps {
        let pre_t = &mut pre[t * bgn..(t + 1) * bgn];
        // h_0 is zero: the first step has no recurrent product.
        if t > 0 {
            matmul(pre_t, true, mat(&h[(t - 1) * bn..t * bn], b, n)?, mat(&w_hh, gn, n)?.t());
        }
        let act_t = &mut act[t * bgn..(t + 1) * bgn];
        let h_t = &mut h[t * bn..(t + 1) * bn];
        if lstm {
            lstm_step(n, t, pre_t, act_t, &mut c, &mut tc[t * bn..(t + 1) * bn], h_t);
        } else {
            T::tanh(pre_t, act_t);
            h_t.copy_from_slice(act_t);
        }
        if let Some(p) = probes {
            add(h_t, &p[t * parts * bn..][..bn]);
            if lstm {
                add(&mut c[t * bn..(t + 1) * bn], &p[(t * parts + 1) * bn..][..bn]);
            }
        }
    }
    Ok(Tape { dims, x, w_ih, w_hh, act, h, c, tc })
}

/// dst += src.
fn add<T: Real>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// One LSTM step from its pre-activations `(batch, 4·hidden)`: the gates into `act`, c_t into block t
/// of `c` (from block t − 1, or zero), tanh(c_t) into `tc` and h_t into `h`.
fn lstm_step<T: Real>(n: usize, t: usize, pre: &[T], act: &mut [T], c: &mut [T], tc: &mut [T], h: &mut [T]) {
    let bn = h.len();
    let (past, now) = c.split_at_mut(t * bn);
    let c_t = &mut now[..bn];
    for ((p, a), r) in pre.chunks_exact(4 * n).zip(act.chunks_exact_mut(4 * n)).zip(0..) {
        T::sigmoid(&p[..2 * n], &mut a[..2 * n]);
        T::tanh(&p[2 * n..3 * n], &mut a[2 * n..3 * n]);
        T::sigmoid(&p[3 * n..], &mut a[3 * n..]);
        for j in 0..n {
            let c_prev = if t > 0 { past[(t - 1) * bn + r * n + j] } else { T::zero() };
            // candle-nn's order: f ⊙ c + i ⊙ g.
            c_t[r * n + j] = a[n + j] * c_prev + a[j] * a[2 * n + j];
        }
    }
    T::tanh(c_t, tc);
    for ((h, a), &tc) in h.iter_mut().zip(act.chunks_exact(4 * n).flat_map(|a| &a[3 * n..])).zip(tc.iter()) {
        *h = *a * tc;
    }
}

/// Which gradients the backward pass is asked for (an input candle does not track needs none).
#[derive(Debug, Clone, Copy)]
struct Wanted {
    x: bool,
    params: bool,
    probes: bool,
}

/// The gradients of one backward pass, each present when wanted: the inputs `(batch, T, d_in)`, the
/// packed parameters, the probes `(T·parts, batch, hidden)`.
struct Grads<T> {
    x: Option<Vec<T>>,
    params: Option<Vec<T>>,
    probes: Option<Vec<T>>,
}

/// Backpropagation through time from ∂L/∂h_T (`g_out`, `(batch, hidden)`).
fn backward<T: Real + Default>(cell: Recurrence, tape: &Tape<T>, g_out: &[T], wanted: Wanted) -> Result<Grads<T>> {
    let Dims { batch: b, steps, d_in: d, hidden: n } = tape.dims;
    let (gn, parts) = (cell.gates() * n, cell.parts());
    let (bn, bgn) = (b * n, b * gn);
    // ∂L/∂(pre-activation) of every step: what every weight gradient is a product of.
    let mut dpre = vec![T::zero(); steps * bgn];
    // ∂L/∂h_t and ∂L/∂c_t of the state passed on from step t, starting at t = T − 1 (the last cell
    // state feeds nothing).
    let mut gh = g_out.to_vec();
    let mut gc = vec![T::zero(); if cell == Recurrence::Lstm { bn } else { 0 }];
    let mut probes = wanted.probes.then(|| vec![T::zero(); steps * parts * bn]);
    for t in (0..steps).rev() {
        if let Some(p) = probes.as_mut() {
            p[t * parts * bn..][..bn].copy_from_slice(&gh);
            if cell == Recurrence::Lstm {
                p[(t * parts + 1) * bn..][..bn].copy_from_slice(&gc);
            }
        }
        let dpre_t = &mut dpre[t * bgn..(t + 1) * bgn];
        let act_t = &tape.act[t * bgn..(t + 1) * bgn];
        match cell {
            Recurrence::Tanh => {
                for ((dz, &a), &g) in dpre_t.iter_mut().zip(act_t).zip(&gh) {
                    *dz = g * (T::one() - a * a);
                }
            }
            Recurrence::Lstm => lstm_step_back(n, t, tape, &gh, &mut gc, dpre_t),
        }
        if t > 0 {
            // ∂L/∂h_{t−1} = ∂L/∂pre_t · W_hh.
            matmul(&mut gh, false, mat(dpre_t, b, gn)?, mat(&tape.w_hh, gn, n)?);
        }
    }
    let params = if wanted.params { Some(param_grads(cell, tape, &dpre)?) } else { None };
    let x = if wanted.x {
        // ∂L/∂x_t = ∂L/∂pre_t · W_ih, back to the batch-major layout of the input.
        let mut dx = vec![T::zero(); steps * b * d];
        matmul(&mut dx, false, mat(&dpre, steps * b, gn)?, mat(&tape.w_ih, gn, d)?);
        Some(swap_leading(&dx, steps, b, d))
    } else {
        None
    };
    Ok(Grads { x, params, probes })
}

/// One LSTM step back: from ∂L/∂h_t (`gh`) and ∂L/∂c_t (`gc`, replaced by ∂L/∂c_{t−1}) to the four
/// gates' ∂L/∂pre_t.
fn lstm_step_back<T: Real>(n: usize, t: usize, tape: &Tape<T>, gh: &[T], gc: &mut [T], dpre: &mut [T]) {
    let bn = gh.len();
    let one = T::one();
    let act = &tape.act[t * 4 * bn..(t + 1) * 4 * bn];
    let tc = &tape.tc[t * bn..(t + 1) * bn];
    for (r, (a, dp)) in act.chunks_exact(4 * n).zip(dpre.chunks_exact_mut(4 * n)).enumerate() {
        for j in 0..n {
            let k = r * n + j;
            let (i, f, g, o) = (a[j], a[n + j], a[2 * n + j], a[3 * n + j]);
            let c_prev = if t > 0 { tape.c[(t - 1) * bn + k] } else { T::zero() };
            // ∂L/∂c_t, through h_t = o ⊙ tanh(c_t) and through the next step.
            let dc = gc[k] + gh[k] * o * (one - tc[k] * tc[k]);
            dp[j] = dc * g * i * (one - i);
            dp[n + j] = dc * c_prev * f * (one - f);
            dp[2 * n + j] = dc * i * (one - g * g);
            dp[3 * n + j] = gh[k] * tc[k] * o * (one - o);
            gc[k] = dc * f;
        }
    }
}

/// The packed parameter gradient `[∂W_ih | ∂W_hh | ∂b (| ∂b)]`: each weight's as one gemm over all
/// steps (Σ_t ∂L/∂pre_tᵀ · input_t), the bias's a column sum.
fn param_grads<T: Real>(cell: Recurrence, tape: &Tape<T>, dpre: &[T]) -> Result<Vec<T>> {
    let Dims { batch: b, steps, d_in: d, hidden: n } = tape.dims;
    let gn = cell.gates() * n;
    let mut dw_ih = vec![T::zero(); gn * d];
    matmul(&mut dw_ih, false, mat(dpre, steps * b, gn)?.t(), mat(&tape.x, steps * b, d)?);
    // Step t's recurrent input is h_{t−1}: pair steps 1.. of ∂L/∂pre with states 0..T−1.
    let mut dw_hh = vec![T::zero(); gn * n];
    if steps > 1 {
        let rows = (steps - 1) * b;
        matmul(&mut dw_hh, false, mat(&dpre[b * gn..], rows, gn)?.t(), mat(&tape.h, rows, n)?);
    }
    let mut db = vec![T::zero(); gn];
    for row in dpre.chunks_exact(gn) {
        add(&mut db, row);
    }
    let mut packed = Vec::with_capacity(gn * (d + n + cell.biases()));
    for r in 0..gn {
        packed.extend_from_slice(&dw_ih[r * d..(r + 1) * d]);
        packed.extend_from_slice(&dw_hh[r * n..(r + 1) * n]);
        // Both biases of the LSTM enter the same sum: they get the same gradient.
        packed.extend(std::iter::repeat_n(db[r], cell.biases()));
    }
    Ok(packed)
}

/// The op: one sequence through one cell, its tape kept for the backward pass.
struct Unroll {
    cell: Recurrence,
    hidden: usize,
    probed: bool,
    tape: Mutex<Option<AnyTape>>,
}

impl Unroll {
    fn dims(&self, x: &Layout) -> Result<Dims> {
        let &[batch, steps, d_in] = x.dims() else { bail!("lab-recurrent: inputs of shape {:?}", x.dims()) };
        Ok(Dims { batch, steps, d_in, hidden: self.hidden })
    }

    fn fwd<T: Real + Default>(&self, dims: Dims, s: [(&CpuStorage, &Layout); 3]) -> Result<CpuStorage> {
        let name = self.name();
        let xs = contiguous_slice::<T>(s[0].0, s[0].1, name)?;
        let params = contiguous_slice::<T>(s[1].0, s[1].1, name)?;
        let probes = if self.probed { Some(contiguous_slice::<T>(s[2].0, s[2].1, name)?) } else { None };
        let tape = forward(self.cell, dims, xs, params, probes)?;
        let bn = dims.batch * dims.hidden;
        let last = tape.h[(dims.steps - 1) * bn..].to_vec();
        *self.tape.lock().map_err(|_| candle_core::Error::Msg("lab-recurrent: poisoned tape".into()))? =
            Some(T::wrap(tape));
        Ok(T::storage(last))
    }

    fn bwd_typed<T: Real + Default>(&self, grad: &Tensor, wanted: Wanted) -> Result<Grads<T>> {
        let guard = self.tape.lock().map_err(|_| candle_core::Error::Msg("lab-recurrent: poisoned tape".into()))?;
        let Some(tape) = guard.as_ref().and_then(T::tape) else {
            bail!("lab-recurrent: no forward pass of this dtype")
        };
        let grad = grad.contiguous()?;
        let (storage, layout) = grad.storage_and_layout();
        let Storage::Cpu(storage) = &*storage else { bail!("lab-recurrent: CPU tensors only") };
        backward(self.cell, tape, contiguous_slice::<T>(storage, layout, self.name())?, wanted)
    }
}

impl CustomOp3 for Unroll {
    fn name(&self) -> &'static str {
        "lab-recurrent"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = self.dims(l1)?;
        let s = [(s1, l1), (s2, l2), (s3, l3)];
        let out = match s1.dtype() {
            DType::F32 => self.fwd::<f32>(dims, s)?,
            DType::F64 => self.fwd::<f64>(dims, s)?,
            dtype => bail!("lab-recurrent: unsupported dtype {dtype:?}"),
        };
        Ok((out, Shape::from((dims.batch, dims.hidden))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        probes: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Gradients only for what candle tracks: the data sequences of training need none.
        let wanted = Wanted { x: x.track_op(), params: params.track_op(), probes: self.probed && probes.track_op() };
        let device = x.device();
        macro_rules! tensors {
            ($g:expr) => {{
                let g = $g;
                let dx = g.x.map(|v| Tensor::from_vec(v, x.shape().clone(), device)).transpose()?;
                let dparams = g.params.map(|v| Tensor::from_vec(v, params.shape().clone(), device)).transpose()?;
                let dprobes = g.probes.map(|v| Tensor::from_vec(v, probes.shape().clone(), device)).transpose()?;
                Ok((dx, dparams, dprobes))
            }};
        }
        match grad.dtype() {
            DType::F32 => tensors!(self.bwd_typed::<f32>(grad, wanted)?),
            DType::F64 => tensors!(self.bwd_typed::<f64>(grad, wanted)?),
            dtype => bail!("lab-recurrent: unsupported dtype {dtype:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{central_difference, max_abs, max_abs_diff, rand};
    use super::super::with_enabled;
    use crate::rnn::{Cell, RnnConfig, SeqModel};
    use candle_core::{DType, Result, Tensor, Var};

    const CELLS: [Cell; 3] = [Cell::Tanh { rho: 1.2 }, Cell::TanhDefault, Cell::Lstm { forget_bias: 1.0 }];

    /// Inputs `(batch, T, d_in)`, a `Var` so that their gradient is checked too.
    fn inputs(batch: usize, steps: usize, d: usize, dtype: DType) -> Result<Var> {
        Var::from_tensor(&rand(batch * steps, d, 1.0, 3)?.reshape((batch, steps, d))?.to_dtype(dtype)?)
    }

    /// Everything one pass gives: h_T, then the gradients of L = Σ r ⊙ h_T with respect to every
    /// parameter, the inputs, and every probe (step by step, part by part; zero where none).
    /// Through the one op, or (`one_op` false) through candle's graph with lab's fast paths off.
    fn pass(model: &SeqModel, xs: &Var, r: &Tensor, one_op: bool) -> anyhow::Result<Vec<Tensor>> {
        let trace = match one_op {
            true => model.trace_one_op(xs.as_tensor(), true)?.expect("a tanh RNN or an LSTM"),
            false => with_enabled(false, || model.trace(xs.as_tensor(), true))?,
        };
        let grads = (&trace.last_hidden * r)?.sum_all()?.backward()?;
        let mut out = vec![trace.last_hidden.clone()];
        // The read-out head is not part of L: it has no gradient.
        for v in model.vars().iter() {
            if let Some(g) = grads.get(v) {
                out.push(g.clone());
            }
        }
        out.push(grads.get(xs).expect("∂L/∂x").clone());
        for probe in trace.probes.iter().flatten() {
            out.push(grads.get(probe).cloned().map_or_else(|| probe.zeros_like(), Ok)?);
        }
        Ok(out)
    }

    /// The one op against candle's step-by-step unroll (lab's fast paths off): the same last state,
    /// the same gradients of every parameter, of the inputs and of the state at every step (the
    /// probes), in f32 to 1e-5 relative to each tensor's largest entry.
    #[test]
    fn forward_and_every_gradient_match_candle_autograd() -> anyhow::Result<()> {
        for cell in CELLS {
            let (batch, steps, d, n) = (3, 9, 4, 6);
            let model = RnnConfig::new(cell, d, n, 2).with_seed(5).build()?;
            let xs = inputs(batch, steps, d, DType::F32)?;
            let r = rand(batch, n, 1.0, 8)?;
            let (fast, reference) = (pass(&model, &xs, &r, true)?, pass(&model, &xs, &r, false)?);
            // h_T, 3 or 4 parameters, ∂x, and T·parts probes.
            let parts = if matches!(cell, Cell::Lstm { .. }) { 2 } else { 1 };
            let params = if parts == 2 { 4 } else { 3 };
            assert_eq!(fast.len(), 1 + params + 1 + steps * parts, "{cell:?}");
            assert_eq!(fast.len(), reference.len(), "{cell:?}");
            for (i, (a, b)) in fast.iter().zip(&reference).enumerate() {
                assert_eq!(a.dims(), b.dims(), "{cell:?} tensor {i}");
                let scale = max_abs(b)?.max(1e-6);
                let err = max_abs_diff(a, b)? / scale;
                assert!(err < 1e-5, "{cell:?} tensor {i}: relative error {err}");
            }
            assert!(max_abs(&fast[1])? > 0.0, "{cell:?}: a non-trivial gradient");
        }
        Ok(())
    }

    /// Every parameter's gradient from the op's backward pass against central differences of its
    /// own forward pass, in f64.
    #[test]
    fn parameter_gradients_match_finite_differences_in_f64() -> anyhow::Result<()> {
        for cell in [Cell::Tanh { rho: 1.1 }, Cell::Lstm { forget_bias: 1.0 }] {
            let (batch, steps, d, n) = (2, 6, 3, 4);
            let model = RnnConfig::new(cell, d, n, 1).with_seed(7).build_f64()?;
            let xs = inputs(batch, steps, d, DType::F64)?;
            let r = rand(batch, n, 1.0, 9)?.to_dtype(DType::F64)?;
            let loss = |m: &SeqModel| -> anyhow::Result<f64> {
                let h = m.trace_one_op(xs.as_tensor(), false)?.expect("one op").last_hidden;
                Ok((h * &r)?.sum_all()?.to_scalar::<f64>()?)
            };
            let trace = model.trace_one_op(xs.as_tensor(), false)?.expect("one op");
            let grads = (&trace.last_hidden * &r)?.sum_all()?.backward()?;
            let mut checked = 0;
            for var in model.vars() {
                let Some(g) = grads.get(&var) else { continue };
                let g = g.flatten_all()?.to_vec1::<f64>()?;
                let shape = var.as_tensor().shape().clone();
                let values = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
                // A few entries of each parameter, spread over its gate blocks.
                for k in (0..values.len()).step_by(values.len().div_ceil(5)) {
                    let fd = central_difference(&values, k, |v| -> anyhow::Result<f64> {
                        var.set(&Tensor::from_vec(v, shape.clone(), var.device())?)?;
                        loss(&model)
                    })?;
                    var.set(&Tensor::from_vec(values.clone(), shape.clone(), var.device())?)?;
                    assert!((g[k] - fd).abs() < 1e-8 + 1e-6 * fd.abs(), "{cell:?} entry {k}: {} vs {fd}", g[k]);
                    checked += 1;
                }
            }
            assert!(checked >= 12, "{cell:?}: {checked} entries checked");
        }
        Ok(())
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() -> Result<()> {
        let xs = Tensor::zeros((2, 3, 4), DType::F32, &crate::DEVICE)?;
        let w = |r, c| Tensor::zeros((r, c), DType::F32, &crate::DEVICE);
        let b = [Tensor::zeros(5, DType::F32, &crate::DEVICE)?];
        assert!(super::recurrent(super::Recurrence::Tanh, &xs, &w(5, 4)?, &w(5, 5)?, &b, None).is_ok());
        // Wrong input width, an LSTM with one bias, f64 weights on f32 inputs.
        assert!(super::recurrent(super::Recurrence::Tanh, &xs, &w(5, 3)?, &w(5, 5)?, &b, None).is_err());
        assert!(super::recurrent(super::Recurrence::Lstm, &xs, &w(5, 4)?, &w(5, 5)?, &b, None).is_err());
        let w64 = w(5, 4)?.to_dtype(DType::F64)?;
        assert!(super::recurrent(super::Recurrence::Tanh, &xs, &w64, &w(5, 5)?, &b, None).is_err());
        Ok(())
    }
}
