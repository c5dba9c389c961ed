//! # lab — the book's shared laboratory
//!
//! Every chapter crate builds its experiments from these pieces, so no experiment code is copied
//! between chapters:
//!
//! - [`act`]: activation functions with their derivatives and saturation/dead predicates;
//! - [`init`]: weight initialisation schemes, all drawn from a seeded RNG;
//! - [`experiments`]: experiments several chapters run (error profiles at init and in training,
//!   accuracy under a fixed budget, inactive units, phased training);
//! - [`meanfield`]: mean-field predictions of per-layer signal and gradient size at initialisation;
//! - [`chaos`]: the order-to-chaos phase diagram (χ₁, depth scales) and Jacobian-spectrum spread;
//! - [`jacobian`]: layer and input–output Jacobians, their singular values, per-example δ;
//! - [`linalg`]: symmetric eigenvalues and singular values (Householder + implicit QL);
//! - [`net`]: an MLP built from a config, with bias `Var`s so per-layer δ = ∂L/∂b is observable;
//! - [`norm`]: normalisation in one place (chapter 5) — the [`Norm`] choice, BatchNorm (`norm/batch.rs`,
//!   the layer and its fused kernel) and LayerNorm (`norm/layer.rs`), and the probes of how gradients
//!   grow under BatchNorm (`norm/gradient_growth.rs`: Yang et al.'s closed forms, geometric fits);
//! - [`resnet`]: residual MLPs with two-layer branches, branch scaling and zero-init (chapter 6);
//! - [`rnn`]: recurrent networks with observable per-step gradients (chapter 7);
//! - [`transformer`]: a small transformer, Post-LN or Pre-LN, with observable per-block gradients
//!   (chapter 8);
//! - [`probe`]: per-layer gradient and activation statistics;
//! - [`train`]: a training loop with SGD / momentum / AdamW and a serde history;
//! - [`data`]: data sets, one file per job — the [`data::Dataset`] type with splitting and batching
//!   (`data/mod.rs`), synthetic tasks (`synthetic.rs`: teacher, spirals, sequence tasks), procedural
//!   digits (`digits.rs`), image previews (`preview.rs`) and the IDX format with MNIST (`idx.rs`);
//! - [`npz`]: weights in, gradients out, in numpy's `.npz` format;
//! - [`plot`]: the house plotting style on plotters' SVG backend;
//! - [`flags`]: parsers that read lab's settings from command-line flags, with clear errors;
//! - [`stats`]: second moments, row norms, running and tail means, quantiles (one definition each);
//! - [`io`]: files written atomically (no half-written output, ever);
//! - [`fast`]: fused CPU kernels for the training step, one file per kernel (`linear.rs`,
//!   `activations.rs`, `sgd.rs`, `rnn.rs`, and the transformer's `norm.rs` and `softmax.rs`; the
//!   products split over candle's thread pool in `gemm.rs`), with
//!   the switches that turn them off; BatchNorm's kernel is in [`norm`] and re-exported here;
//! - [`threads`]: how many threads candle and [`fast`] compute with.
//!
//! lab is the laboratory only. The book's plumbing — figure writing and the generator registry,
//! example flags, exercise checks — is the `chapter-kit` crate, which depends on lab, never the
//! other way round.

/// Builder methods that each set one field and return the builder, written once for every config and chart:
/// `name(args) => field = value;` becomes `pub fn name(mut self, args) -> Self`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) => $field:ident = $value:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                self.$field = $value;
                self
            }
        )*
    };
}

pub mod act;
pub mod chaos;
pub mod data;
pub mod experiments;
pub mod fast;
pub mod flags;
pub mod init;
pub mod io;
pub mod jacobian;
pub mod linalg;
pub mod malloc;
pub mod meanfield;
pub mod net;
pub mod norm;
pub mod npz;
pub mod plot;
pub mod probe;
pub mod resnet;
pub mod rnn;
pub mod stats;
pub mod threads;
pub mod train;
pub mod transformer;

pub use act::Activation;
pub use init::Init;
pub use net::{Mlp, MlpConfig, Norm};

/// The device every experiment in the book runs on. The book is CPU-only by design: every reader can
/// reproduce every number.
pub const DEVICE: candle_core::Device = candle_core::Device::Cpu;
