#![doc = include_str!("../../../src/08-transformers.md")]
//!
//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) run by the example
//! of the same name and by `book figures`:
//!
//! - [`ln_gradients`]: Figures 8-1 and 8-2, Post-LN against Pre-LN at several depths;
//! - [`residual_stream`]: Figures 8-3 and 8-4, the stream's size and the error on it by block;
//! - [`warmup`]: Figures 8-5 and 8-6, training with and without learning-rate warm-up;
//! - [`saturation`]: Figure 8-7, attention saturation and the softmax's Jacobian.
//!
//! What they share: [`model`] (the chapter's default transformer and the four architectures) and
//! [`profile`](mod@profile) (the per-block measurement of an untrained model). [`exercises`], [`solutions`] and
//! [`checks`] are the chapter's exercises; the `train_bench` example times the default model.

pub mod checks;
pub mod exercises;
pub mod ln_gradients;
pub mod model;
pub mod profile;
pub mod residual_stream;
pub mod saturation;
pub mod solutions;
pub mod warmup;

pub use ln_gradients::{LnGradients, LnOptions};
pub use model::{Arch, ModelOptions};
pub use profile::{Profile, profile};
pub use residual_stream::{ResidualStream, StreamOptions};
pub use saturation::{AttentionSaturation, SaturationOptions};
pub use warmup::{Warmup, WarmupOptions};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<LnGradients>(),
    Generator::of::<ResidualStream>(),
    Generator::of::<Warmup>(),
    Generator::of::<AttentionSaturation>(),
];

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;

    const QUICK: GenOptions = GenOptions { quick: true, progress: false };

    #[test]
    fn post_ln_gradients_grow_towards_the_output_and_pre_ln_ones_do_not() -> anyhow::Result<()> {
        let s = LnGradients::run(&LnOptions::default(), &QUICK)?.grads.summary;
        assert_eq!(s[0].name, "Post-LN");
        let ratio = |i: usize| s[i].last_over_first;
        assert!(ratio(0) > 1.2 && ratio(1) < 0.9, "{} {}", ratio(0), ratio(1));
        Ok(())
    }

    #[test]
    fn the_streams_follow_their_laws() -> anyhow::Result<()> {
        let opts = StreamOptions { depth: 8, seeds: 1, ..StreamOptions::default() };
        let m = &opts.model;
        for (arch, lo, hi) in [(Arch::PostLn, 0.99, 1.01), (Arch::PreLn, 9.0, 17.5), (Arch::PreLnScaled, 1.2, 2.2)] {
            let p = profile(m, arch, opts.depth, opts.batch, opts.seeds)?;
            let last = p.stream[opts.depth];
            assert!(last > lo && last < hi, "{}: {last}", p.name);
            assert!(p.input_grad.iter().all(|g| g.is_finite() && *g > 0.0));
        }
        Ok(())
    }

    #[test]
    fn the_softmax_jacobian_norm_has_its_closed_forms() -> anyhow::Result<()> {
        let t = 16.0f64;
        let uniform = candle_core::Tensor::full(1f32 / 16.0, (2, 16), &lab::DEVICE)?;
        let j = saturation::softmax_jacobian_norm(&uniform)?;
        assert!((j - (1.0 / t - 1.0 / (t * t)).sqrt()).abs() < 1e-6, "{j}");
        let half = candle_core::Tensor::new(&[[0.5f64, 0.5, 0.0]], &lab::DEVICE)?;
        assert!((saturation::softmax_jacobian_norm(&half)? - 0.5).abs() < 1e-12);
        let one_hot = candle_core::Tensor::new(&[[1.0f64, 0.0, 0.0]], &lab::DEVICE)?;
        assert!(saturation::softmax_jacobian_norm(&one_hot)?.abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn quick_warmup_runs_start_alike_and_the_unscaled_head_is_sharper() -> anyhow::Result<()> {
        let runs = Warmup::run(&WarmupOptions::default(), &QUICK)?.runs;
        assert_eq!(runs.len(), 2);
        // Same weights and batches: the first loss of both runs is the same, near ln 16.
        assert_eq!(runs[0].run.losses[0], runs[1].run.losses[0]);
        assert!((runs[0].run.losses[0] - 16f64.ln()).abs() < 0.8);
        let sat = AttentionSaturation::run(&SaturationOptions::default(), &QUICK)?;
        let h = |r: usize| sat.runs[r].points[1].entropy;
        assert!(h(1) < h(0), "{} {}", h(0), h(1));
        Ok(())
    }

    #[test]
    fn the_defaults_are_the_flags_defaults() {
        let warmup = WarmupOptions::default();
        assert_eq!((warmup.task, warmup.lrs.as_slice()), (lab::data::SeqTask::Sort, &[3e-3, 1e-2, 3e-2][..]));
        assert_eq!(StreamOptions::default().archs.len(), 4);
        let m = ModelOptions::default();
        assert_eq!((m.vocab, m.seq_len, m.d_model, m.heads), (16, 16, 32, 4));
    }

    #[test]
    #[ignore = "the root figures test checks every chapter in CI; run with --ignored while editing"]
    fn quick_runs_agree_with_the_committed_figures() {
        chapter_kit::figure::assert_quick_runs_agree(GENERATORS);
    }
}
