#![doc = include_str!("../../../src/06-residual.md")]

//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) with its options
//! (the example's flags), its typed data and its drawing:
//!
//! - [`gradient`]: the book's gradient measure gˡ for a residual MLP (the stream's error, per example);
//! - [`profile`]: Figure 6-1, per-block gradients at initialisation, plain against residual (and
//!   [`profile::architectures`], the pair Figures 6-2 and 6-7 train);
//! - [`training`]: Figure 6-2, training plain, plain + LayerNorm and residual MLPs;
//! - [`variance`]: Figure 6-3, the stream's second moment along depth;
//! - [`one_step`]: Figures 6-4 and 6-4b, how far one SGD step moves the function (Fixup, SkipInit);
//! - [`shattered`]: Figures 6-5 and 6-6, shattered gradients;
//! - [`lesion`]: Figure 6-7, deleting one block of a trained network;
//! - [`paths`]: Figure 6-8, the lengths of the paths and the gradient each length carries.
//!
//! [`exercises`] holds the stubs you edit, [`solutions`] the worked answers and [`checks`] the
//! exercise registry.

pub mod checks;
pub mod exercises;
pub mod gradient;
pub mod lesion;
pub mod one_step;
pub mod paths;
pub mod profile;
pub mod shattered;
pub mod solutions;
pub mod training;
pub mod variance;

pub use lesion::{Lesion, LesionOptions};
pub use one_step::{FixupDepth, FixupDepthOptions, OneStepOptions, ResOneStep};
pub use paths::{Paths, PathsOptions};
pub use profile::{ProfileOptions, ResProfile};
pub use shattered::{Shattered, ShatteredOptions};
pub use training::{ResTraining, TrainingOptions};
pub use variance::{ResVariance, VarianceOptions};

use chapter_kit::figure::Generator;

/// Writes a table with one column per depth (`L=…`) and one row per network, as the chapter's
/// examples print their summaries.
pub(crate) fn write_depth_table(
    f: &mut std::fmt::Formatter,
    title: &str,
    depths: &[usize],
    column: usize,
    rows: impl IntoIterator<Item = (&'static str, Vec<String>)>,
) -> std::fmt::Result {
    write!(f, "{title:<32}")?;
    for d in depths {
        write!(f, " {:>column$}", format!("L={d}"))?;
    }
    writeln!(f)?;
    for (name, cells) in rows {
        write!(f, "{name:<32}")?;
        for c in cells {
            write!(f, " {c:>column$}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<ResProfile>(),
    Generator::of::<ResTraining>(),
    Generator::of::<ResVariance>(),
    Generator::of::<ResOneStep>(),
    Generator::of::<FixupDepth>(),
    Generator::of::<Shattered>(),
    Generator::of::<Lesion>(),
    Generator::of::<Paths>(),
];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;

    #[test]
    fn the_stream_follows_its_variance_recursion() -> anyhow::Result<()> {
        // α = 1 doubles the second moment per block (64 doublings compound the finite-width wander);
        // α = 1/√L stays near its prediction, (1 + 1/L)^L ≈ e; a pre-LayerNorm stream grows by 1 a block.
        let runs = ResVariance::run(&VarianceOptions::default(), &GenOptions::QUICK)?.runs;
        let ratio = |i: usize| runs[i].last_over_theory;
        assert!((ratio(0) - 1.0).abs() < 0.5, "α = 1: {}", ratio(0));
        assert!((ratio(1) - 1.0).abs() < 0.15, "α = 1/√L: {}", ratio(1));
        assert!((ratio(2) - 1.0).abs() < 0.15, "pre-LN: {}", ratio(2));
        assert!(runs[0].last > 1e15 && runs[1].last < 3.5);
        assert!((variance::stream_second_moment(1.0, 0.125, false, 64) - (1.0 + 1.0 / 64.0f64).powi(64)).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn residual_gradients_are_level_and_fixup_steps_do_not_grow_with_depth() -> anyhow::Result<()> {
        for r in ResProfile::run(&ProfileOptions::default(), &GenOptions::QUICK)?.runs {
            let ratio = r.first_over_last;
            assert!(ratio > 0.3 && ratio < 3.0, "{}: {ratio}", r.name);
            // The book's gˡ: level in the plain network; in the residual one it grows towards the
            // input as the identity path predicts, (1 + α²)^((L−1)/2).
            let g = r.g_first_over_last;
            match r.stream_theory {
                None => assert!(g > 0.7 && g < 1.5, "plain, {} blocks: g¹/gᴸ = {g}", r.depth),
                Some(t) => {
                    assert!((g / t - 1.0).abs() < 0.1, "residual, {} blocks: g¹/gᴸ = {g}, predicted {t}", r.depth)
                }
            }
        }
        // From 2 to 8 blocks: zero-initialising W₂ alone lets one step's change grow about ∝ L (×4);
        // Fixup's L^(−1/2) on W₁ holds it level.
        let runs = ResOneStep::run(&OneStepOptions::default(), &GenOptions::QUICK)?.runs;
        let growth = |i: usize| {
            let c = &runs[i].change;
            c[2].unwrap_or(f64::NAN) / c[0].unwrap_or(f64::NAN)
        };
        assert!(growth(4) > 2.5 && growth(4) < 6.0, "zero-init W₂: {}", growth(4));
        assert!(growth(5) < 1.6, "Fixup: {}", growth(5));
        // Figure 6-4b's quick run, 4 and 16 blocks: zero-init ×4 (∝ L), Fixup level, over 6 networks.
        let runs = FixupDepth::run(&FixupDepthOptions::default(), &GenOptions::QUICK)?.runs;
        let growth = |i: usize| runs[i].mean[1] / runs[i].mean[0];
        assert!(growth(1) > 2.5 && growth(1) < 6.0, "zero-init W₂: {}", growth(1));
        assert!((growth(2) - 1.0).abs() < 0.3, "Fixup: {}", growth(2));
        assert!(runs[2].min.iter().zip(&runs[2].max).all(|(lo, hi)| lo <= hi));
        Ok(())
    }

    #[test]
    fn deep_plain_gradients_shatter_and_residual_ones_do_not() -> anyhow::Result<()> {
        let lag1 = |cfg: &lab::resnet::ResMlpConfig| -> anyhow::Result<f64> {
            let g = shattered::input_gradient(&cfg.build()?, 256)?;
            Ok(shattered::autocorrelation(&g, 1)[1])
        };
        let configs = shattered::shattered_configs(200, 64);
        let (mut plain, mut scaled) = (0.0, 0.0);
        for seed in [0, 1000] {
            plain += lag1(&configs[0].1.clone().with_seed(seed))? / 2.0;
            scaled += lag1(&configs[2].1.clone().with_seed(seed))? / 2.0;
        }
        let shallow = lag1(&shattered::shattered_configs(200, 1)[0].1)?;
        assert!(shallow > 0.95 && scaled > 0.9 && plain < 0.8, "shallow {shallow}, plain {plain}, scaled {scaled}");
        // With a BatchNorm over the grid the plain network's gradient is white noise, the residual
        // one's is not.
        let (bn_plain, bn_residual) = (lag1(&configs[3].1)?, lag1(&configs[4].1)?);
        assert!(bn_plain.abs() < 0.25 && bn_residual > 0.4, "plain + BN {bn_plain}, residual + BN {bn_residual}");
        Ok(())
    }

    #[test]
    fn the_digits_start_the_stream_at_unit_second_moment() -> anyhow::Result<()> {
        let (x, y) = lab::data::standardized_digits(64, 1)?;
        assert_eq!(x.dims(), &[64, 784]);
        assert_eq!(y.dims(), &[64]);
        assert!((lab::stats::second_moment(&x)? - 1.0).abs() < 1e-3);
        Ok(())
    }
}
