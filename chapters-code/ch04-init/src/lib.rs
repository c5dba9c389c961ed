#![doc = include_str!("../../../src/04-initialization.md")]

//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) that one example in
//! `examples/` and `book figures` run:
//!
//! - [`glorot`]: Figures 4-1 and 4-2, Glorot & Bengio's tanh network at initialisation;
//! - [`he`]: Figure 4-3, the variance of a deep ReLU network's signal under He and Xavier;
//! - [`he_training`]: Figure 4-4, training it from He, Xavier and LSUV;
//! - [`chaos_phase`]: Figure 4-5, χ₁ of tanh networks over (σ_w², σ_b²);
//! - [`chaos_gradients`]: Figure 4-6, simulated gradients in each phase;
//! - [`isometry`]: Figures 4-7 and 4-8, the Jacobian's singular values at criticality;
//! - [`lsuv`]: Figure 4-9, LSUV on several activations;
//! - [`symmetry`]: Figure 4-10, zero, constant and random starts.
//!
//! [`inputs`] holds the Gaussian inputs of Figures 4-3 and 4-6; [`exercises`], [`solutions`] and
//! [`checks`] are the chapter's exercises.

pub mod chaos_gradients;
pub mod chaos_phase;
pub mod checks;
pub mod exercises;
pub mod glorot;
pub mod he;
pub mod he_training;
pub mod inputs;
pub mod isometry;
pub mod lsuv;
pub mod solutions;
pub mod symmetry;

pub use chaos_gradients::{ChaosGradients, GradientOptions};
pub use chaos_phase::{ChaosPhase, ChaosPhaseOptions};
pub use glorot::{Glorot, GlorotOptions};
pub use he::{HeVariance, HeVarianceOptions};
pub use he_training::{HeTraining, HeTrainingOptions};
pub use isometry::{Isometry, IsometryOptions};
pub use lsuv::{Lsuv, LsuvOptions};
pub use symmetry::{Symmetry, SymmetryOptions};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<Glorot>(),
    Generator::of::<HeVariance>(),
    Generator::of::<HeTraining>(),
    Generator::of::<Isometry>(),
    Generator::of::<ChaosPhase>(),
    Generator::of::<ChaosGradients>(),
    Generator::of::<Lsuv>(),
    Generator::of::<Symmetry>(),
];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;
    use lab::Activation;

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
        let inits = Glorot::run(&GlorotOptions::default(), &GenOptions::QUICK)?.inits;
        // Standard init: activations shrink and errors grow towards the top, about √3 per layer;
        // the weight gradients stay level.
        assert!(inits[0].act_std_first_over_last > 6.0);
        assert!(inits[0].delta_std_first_over_last < 0.15);
        assert!((inits[0].grad_w_std_first_over_last - 1.0).abs() < 0.2);
        // Normalized: much nearer one.
        assert!(inits[1].act_std_first_over_last < 3.0);
        // Mean singular values near Glorot & Bengio's 0.5 and below the quarter-circle bound.
        let sv = |i: usize| &inits[i].jacobian_mean_sv[0];
        assert!(sv(0).iter().all(|&s| s > 0.4 && s < 0.52), "{:?}", sv(0));
        assert!(sv(1).iter().all(|&s| s > 0.6 && s < 0.86), "{:?}", sv(1));
        Ok(())
    }

    #[test]
    fn quick_runs_agree_with_theory() -> anyhow::Result<()> {
        // He keeps the ReLU signal within the finite-width wander of √2 over 10 layers; Xavier halves it.
        let he = HeVariance::run(&HeVarianceOptions::default(), &GenOptions::QUICK)?;
        for l in 0..10 {
            assert!((he.runs[0].pre_std[l] / 2f64.sqrt() - 1.0).abs() < 0.3);
            assert!((he.runs[1].pre_std[l] / he.runs[1].theory_std[l] - 1.0).abs() < 0.3);
        }
        // Linear networks with orthogonal weights are exactly isometric; Gaussian ones spread ≈ L.
        let iso = Isometry::run(&IsometryOptions::default(), &GenOptions::QUICK)?;
        for (k, &depth) in iso.depths.iter().enumerate() {
            for &v in &iso.configs[1].normalized_variance[k] {
                assert!(v < 1e-9);
            }
            let mean = iso.configs[0].normalized_variance[k].iter().sum::<f64>() / 4.0;
            assert!((mean / depth as f64 - 1.0).abs() < 0.3, "depth {depth}: {mean}");
        }
        // The ordered network's gradient vanishes as predicted.
        let grads = ChaosGradients::run(&GradientOptions::default(), &GenOptions::QUICK)?;
        let (m, p) = (grads.runs[0].measured_first, grads.runs[0].predicted_first);
        assert!(m < 1e-3 && (m / p).ln().abs() < 0.5, "{m} vs {p}");
        Ok(())
    }

    #[test]
    fn tanh_gain_five_thirds_is_mildly_chaotic() -> anyhow::Result<()> {
        let g = chaos_phase::tanh_gains()?;
        let chi = g.five_thirds.chi1;
        assert!(chi > 1.1 && chi < 1.3, "{chi}");
        assert!((g.unit_q.q_star - 1.0).abs() < 1e-9);
        assert!((g.unit_q_gain - 1.5925).abs() < 1e-3);
        Ok(())
    }
}
