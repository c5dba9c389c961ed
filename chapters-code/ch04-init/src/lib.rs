#![doc = include_str!("../../../src/04-initialization.md")]

pub mod checks;
pub mod common;
pub mod edge;
pub mod exercises;
pub mod glorot;
pub mod he;
pub mod isometry;
pub mod lsuv;
pub mod solutions;
pub mod symmetry;

pub use edge::{GradientOptions, PhaseOptions, gradients_figure, phase_figure};
pub use glorot::{GlorotOptions, glorot_figures};
pub use he::{HeTrainingOptions, HeVariance, HeVarianceOptions, he_training_figure};
pub use isometry::{IsometryOptions, isometry_figures};
pub use lsuv::{LsuvOptions, lsuv_figure};
pub use symmetry::{SymmetryOptions, symmetry_figure};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator { chapter: "ch04", name: "glorot", run: |o| glorot_figures(&GlorotOptions::default(), o) },
    Generator::of::<HeVariance>(),
    Generator {
        chapter: "ch04",
        name: "he-training",
        run: |o| Ok(vec![he_training_figure(&HeTrainingOptions::default(), o)?]),
    },
    Generator { chapter: "ch04", name: "isometry", run: |o| isometry_figures(&IsometryOptions::default(), o) },
    Generator { chapter: "ch04", name: "chaos-phase", run: |o| Ok(vec![phase_figure(&PhaseOptions::default(), o)?]) },
    Generator {
        chapter: "ch04",
        name: "chaos-gradients",
        run: |o| Ok(vec![gradients_figure(&GradientOptions::default(), o)?]),
    },
    Generator { chapter: "ch04", name: "lsuv", run: |o| Ok(vec![lsuv_figure(&LsuvOptions::default(), o)?]) },
    Generator {
        chapter: "ch04",
        name: "symmetry",
        run: |o| Ok(vec![symmetry_figure(&SymmetryOptions::default(), o)?]),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;
    use lab::Activation;

    const QUICK: GenOptions = GenOptions { quick: true, progress: false };

    fn num(v: &serde_json::Value) -> f64 {
        v.as_f64().unwrap_or(f64::NAN)
    }

    #[test]
    fn relu_variance_recursion_in_closed_form() {
        // He: √2 at every layer; Xavier: √(2^(1−l)); U(±1/√n): √(1/3 · 6^(1−l)).
        for l in 1..=30 {
            assert!((he::relu_pre_activation_std(2.0, l) - 2f64.sqrt()).abs() < 1e-12);
            assert!((he::relu_pre_activation_std(1.0, l) - 0.5f64.powi(l as i32 - 1).sqrt()).abs() < 1e-15);
        }
        assert!((he::relu_pre_activation_std(1.0 / 3.0, 3) - (1.0 / 108.0f64).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn the_isometry_networks_are_critical() -> anyhow::Result<()> {
        for c in isometry::critical_points(1.0 / 64.0)? {
            let p = lab::chaos::phase(c.activation, c.sigma_w2, c.sigma_b2)?;
            assert!((p.chi1 - 1.0).abs() < 1e-6, "{c:?}: χ₁ = {}", p.chi1);
        }
        let tanh = isometry::critical_points(1.0 / 64.0)?[1];
        assert_eq!(tanh.activation, Activation::Tanh);
        assert!((tanh.q_star * 64.0 - 1.0).abs() < 1e-6 && tanh.sigma_w2 > 1.0 && tanh.sigma_b2 < 1e-3);
        Ok(())
    }

    #[test]
    fn quick_glorot_reproduces_the_qualitative_result() -> anyhow::Result<()> {
        let figs = glorot_figures(&GlorotOptions::default(), &QUICK)?;
        let inits = &figs[1].data["inits"];
        // Standard init: activations shrink and errors grow towards the top, about √3 per layer;
        // the weight gradients stay level.
        assert!(num(&inits[0]["act_std_first_over_last"]) > 6.0);
        assert!(num(&inits[0]["delta_std_first_over_last"]) < 0.15);
        assert!((num(&inits[0]["grad_w_std_first_over_last"]) - 1.0).abs() < 0.2);
        // Normalized: much nearer one.
        assert!(num(&inits[1]["act_std_first_over_last"]) < 3.0);
        // Mean singular values near Glorot & Bengio's 0.5 and below the quarter-circle bound.
        let sv = |i: usize| inits[i]["jacobian_mean_sv"][0].as_array().unwrap().iter().map(num).collect::<Vec<_>>();
        assert!(sv(0).iter().all(|&s| s > 0.4 && s < 0.52), "{:?}", sv(0));
        assert!(sv(1).iter().all(|&s| s > 0.6 && s < 0.86), "{:?}", sv(1));
        Ok(())
    }

    #[test]
    #[ignore = "the root figures test checks every chapter in CI; run with --ignored while editing"]
    fn quick_runs_agree_with_the_committed_figures() {
        chapter_kit::figure::assert_quick_runs_agree(GENERATORS);
    }

    #[test]
    fn quick_runs_agree_with_theory() -> anyhow::Result<()> {
        // He keeps the ReLU signal within the finite-width wander of √2 over 10 layers; Xavier halves it.
        let he = HeVariance::run(&HeVarianceOptions::default(), &QUICK)?;
        for l in 0..10 {
            assert!((he.runs[0].pre_std[l] / 2f64.sqrt() - 1.0).abs() < 0.3);
            assert!((he.runs[1].pre_std[l] / he.runs[1].theory_std[l] - 1.0).abs() < 0.3);
        }
        // Linear networks with orthogonal weights are exactly isometric; Gaussian ones spread ≈ L.
        let iso = &isometry_figures(&IsometryOptions::default(), &QUICK)?[0].data;
        let configs = iso["configs"].as_array().unwrap();
        for (k, depth) in iso["depths"].as_array().unwrap().iter().enumerate() {
            let depth = num(depth);
            for v in configs[1]["normalized_variance"][k].as_array().unwrap() {
                assert!(num(v) < 1e-9);
            }
            let mean = configs[0]["normalized_variance"][k].as_array().unwrap().iter().map(num).sum::<f64>() / 4.0;
            assert!((mean / depth - 1.0).abs() < 0.3, "depth {depth}: {mean}");
        }
        // The ordered network's gradient vanishes as predicted.
        let grads = gradients_figure(&GradientOptions::default(), &QUICK)?;
        let run = &grads.data["runs"][0];
        let (m, p) = (num(&run["measured_first"]), num(&run["predicted_first"]));
        assert!(m < 1e-3 && (m / p).ln().abs() < 0.5, "{m} vs {p}");
        Ok(())
    }

    #[test]
    fn tanh_gain_five_thirds_is_mildly_chaotic() -> anyhow::Result<()> {
        let g = edge::tanh_gains()?;
        let chi = num(&g["five_thirds"]["chi1"]);
        assert!(chi > 1.1 && chi < 1.3, "{chi}");
        assert!((num(&g["unit_q"]["q_star"]) - 1.0).abs() < 1e-9);
        assert!((num(&g["unit_q_gain"]) - 1.5925).abs() < 1e-3);
        Ok(())
    }
}
