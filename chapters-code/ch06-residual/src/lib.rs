#![doc = include_str!("../../../src/06-residual.md")]

pub mod checks;
pub mod common;
pub mod exercises;
pub mod lesion;
pub mod profile;
pub mod shattered;
pub mod solutions;
pub mod variance;

pub use lesion::{LesionOptions, lesion_figure};
pub use profile::{ProfileOptions, TrainingOptions, profile_figure, training_figure};
pub use shattered::{ShatteredOptions, shattered_figures};
pub use variance::{OneStepOptions, VarianceOptions, one_step_figure, variance_figure};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator {
        chapter: "ch06",
        name: "res-profile",
        run: |o| Ok(vec![profile_figure(&ProfileOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch06",
        name: "res-training",
        run: |o| Ok(vec![training_figure(&TrainingOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch06",
        name: "res-variance",
        run: |o| Ok(vec![variance_figure(&VarianceOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch06",
        name: "res-one-step",
        run: |o| Ok(vec![one_step_figure(&OneStepOptions::default(), o)?]),
    },
    Generator { chapter: "ch06", name: "shattered", run: |o| shattered_figures(&ShatteredOptions::default(), o) },
    Generator { chapter: "ch06", name: "lesion", run: |o| Ok(vec![lesion_figure(&LesionOptions::default(), o)?]) },
];

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::figure::GenOptions;

    const QUICK: GenOptions = GenOptions { quick: true, progress: false };

    fn num(v: &serde_json::Value) -> f64 {
        v.as_f64().unwrap_or(f64::NAN)
    }

    #[test]
    fn the_stream_follows_its_variance_recursion() -> anyhow::Result<()> {
        // α = 1 doubles the second moment per block (64 doublings compound the finite-width wander);
        // α = 1/√L stays near its prediction, (1 + 1/L)^L ≈ e; a pre-LayerNorm stream grows by 1 a block.
        let fig = variance_figure(&VarianceOptions::default(), &QUICK)?;
        let runs = &fig.data["runs"];
        let ratio = |i: usize| num(&runs[i]["last_over_theory"]);
        assert!((ratio(0) - 1.0).abs() < 0.5, "α = 1: {}", ratio(0));
        assert!((ratio(1) - 1.0).abs() < 0.15, "α = 1/√L: {}", ratio(1));
        assert!((ratio(2) - 1.0).abs() < 0.15, "pre-LN: {}", ratio(2));
        assert!(num(&runs[0]["last"]) > 1e15 && num(&runs[1]["last"]) < 3.5);
        assert!((variance::stream_second_moment(1.0, 0.125, false, 64) - (1.0 + 1.0 / 64.0f64).powi(64)).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn residual_gradients_are_level_and_fixup_steps_do_not_grow_with_depth() -> anyhow::Result<()> {
        let fig = profile_figure(&ProfileOptions::default(), &QUICK)?;
        for r in fig.data["runs"].as_array().unwrap() {
            let ratio = num(&r["first_over_last"]);
            assert!(ratio > 0.3 && ratio < 3.0, "{}: {ratio}", r["name"]);
        }
        // From 2 to 8 blocks: zero-initialising W₂ alone lets one step's change grow about ∝ L (×4);
        // Fixup's L^(−1/2) on W₁ holds it level.
        let fig = one_step_figure(&OneStepOptions::default(), &QUICK)?;
        let growth = |i: usize| {
            let c = fig.data["runs"][i]["change"].as_array().unwrap();
            num(&c[2]) / num(&c[0])
        };
        assert!(growth(4) > 2.5 && growth(4) < 6.0, "zero-init W₂: {}", growth(4));
        assert!(growth(5) < 1.6, "Fixup: {}", growth(5));
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
        Ok(())
    }
}
