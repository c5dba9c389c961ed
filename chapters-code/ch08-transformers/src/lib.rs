#![doc = include_str!("../../../src/08-transformers.md")]

pub mod checks;
pub mod exercises;
pub mod gradients;
pub mod saturation;
pub mod solutions;
pub mod warmup;

pub use gradients::{Arch, LnOptions, ModelOptions, StreamOptions, ln_figures, stream_figures};
pub use saturation::{SaturationOptions, saturation_figure};
pub use warmup::{WarmupOptions, warmup_figures};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator { chapter: "ch08", name: "ln-gradients", run: |o| ln_figures(&LnOptions::default(), o) },
    Generator { chapter: "ch08", name: "residual-stream", run: |o| stream_figures(&StreamOptions::default(), o) },
    Generator { chapter: "ch08", name: "warmup", run: |o| warmup_figures(&WarmupOptions::default(), o) },
    Generator {
        chapter: "ch08",
        name: "attention-saturation",
        run: |o| saturation_figure(&SaturationOptions::default(), o),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::figure::GenOptions;

    const QUICK: GenOptions = GenOptions { quick: true, progress: false };

    #[test]
    fn post_ln_gradients_grow_towards_the_output_and_pre_ln_ones_do_not() -> anyhow::Result<()> {
        let figs = ln_figures(&LnOptions::default(), &QUICK)?;
        let s = figs[0].data["summary"].as_array().unwrap();
        assert_eq!(s[0]["name"], "Post-LN");
        let ratio = |i: usize| s[i]["last_over_first"].as_f64().unwrap();
        assert!(ratio(0) > 1.2 && ratio(1) < 0.9, "{} {}", ratio(0), ratio(1));
        Ok(())
    }

    #[test]
    fn the_streams_follow_their_laws() -> anyhow::Result<()> {
        let opts = StreamOptions { depth: 8, seeds: 1, ..StreamOptions::default() };
        let m = &opts.model;
        for (arch, lo, hi) in [(Arch::PostLn, 0.99, 1.01), (Arch::PreLn, 9.0, 17.5), (Arch::PreLnScaled, 1.2, 2.2)] {
            let p = gradients::profile(m, arch, opts.depth, opts.batch, opts.seeds)?;
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
        let figs = warmup_figures(&WarmupOptions::default(), &QUICK)?;
        let runs = figs[0].data["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        // Same weights and batches: the first loss of both runs is the same, near ln 16.
        assert_eq!(runs[0]["losses"][0], runs[1]["losses"][0]);
        assert!((runs[0]["losses"][0].as_f64().unwrap() - 16f64.ln()).abs() < 0.8);
        let sat = saturation_figure(&SaturationOptions::default(), &QUICK)?;
        let h = |r: usize| sat[0].data["runs"][r]["points"][1]["entropy"].as_f64().unwrap();
        assert!(h(1) < h(0), "{} {}", h(0), h(1));
        Ok(())
    }
}
