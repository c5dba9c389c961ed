#![doc = include_str!("../../../src/07-recurrent.md")]

//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) with its options
//! (the example's flags), its typed data and its drawing, and the task they train on:
//!
//! - [`lag`]: Figures 7-1 and 7-6, ‖∂L/∂h_t‖ against the lag for tanh RNNs and gated cells;
//! - [`memory`]: Figures 7-2 (Adam) and 7-3 (SGD), accuracy on the memory task against the length;
//! - [`clipping`]: Figures 7-4 and 7-5, exploding gradients and clipping by global norm;
//! - [`cliff`]: Figures 7-7 to 7-9, Pascanu et al.'s one-unit cliff and clipping from random starts;
//! - [`forget`]: Figure 7-10, the LSTM's forget-gate product over 100 steps;
//! - [`adding`]: Figure 7-11, Hochreiter & Schmidhuber's adding problem, tanh RNN against LSTM;
//! - [`jacobian`]: Figures 7-12 and 7-13, ‖∂h_T/∂h_0‖ of 64-unit tanh and sigmoid RNNs (Pascanu §2.1);
//! - [`task`]: the chapter's task, "remember the first symbol", and its training loop.
//!
//! [`exercises`] holds the stubs you edit, [`solutions`] the worked answers and [`checks`] the
//! exercise registry.

pub mod adding;
pub mod checks;
pub mod cliff;
pub mod clipping;
pub mod exercises;
pub mod forget;
pub mod jacobian;
pub mod lag;
pub mod memory;
pub mod solutions;
pub mod task;

pub use adding::{Adding, AddingOptions};
pub use cliff::{Cliff, CliffOptions};
pub use clipping::{Clipping, ClippingOptions};
pub use forget::{ForgetOptions, ForgetProduct};
pub use jacobian::{JacobianNorm, JacobianOptions};
pub use lag::{BpttLag, LagOptions};
pub use memory::{Memory, MemoryOptions, MemorySgd, MemorySgdOptions, pick_lr};

use chapter_kit::figure::Generator;

/// The median of the finite values (NaN if there are none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    lab::stats::quantiles(&finite, &[0.5]).map_or(f64::NAN, |q| q[0])
}

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<BpttLag>(),
    Generator::of::<Memory>(),
    Generator::of::<MemorySgd>(),
    Generator::of::<Clipping>(),
    Generator::of::<Cliff>(),
    Generator::of::<ForgetProduct>(),
    Generator::of::<Adding>(),
    Generator::of::<JacobianNorm>(),
];

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;
    use lab::rnn::Cell;

    const QUICK: GenOptions = GenOptions { quick: true, progress: false };

    #[test]
    fn tanh_gradients_stay_under_pascanus_bound_and_forget_gates_set_the_lstm_decay() -> anyhow::Result<()> {
        let opts = LagOptions::default();
        let profiles = lag::lag_profiles(&opts, true)?;
        for p in &profiles {
            if let Cell::Tanh { rho } = p.cell {
                assert!((p.h[0] - 1.0).abs() < 1e-5, "‖∂L/∂h_T‖ = 1 by construction, got {}", p.h[0]);
                for (k, &g) in p.h.iter().enumerate() {
                    assert!(g <= rho.powi(k as i32) * (1.0 + 1e-4), "ρ = {rho}, lag {k}: {g} above the bound");
                }
            }
        }
        // The forget gate averages σ(b) at initialisation, and larger biases keep the cell's gradient.
        let lstm: Vec<_> = profiles.iter().filter(|p| matches!(p.cell, Cell::Lstm { .. })).collect();
        let sigmoid = |b: f64| 1.0 / (1.0 + (-b).exp());
        for (p, b) in lstm.iter().zip(&opts.forget_biases) {
            let f = p.mean_forget.unwrap();
            assert!((f - sigmoid(*b)).abs() < 0.05, "bias {b}: mean forget gate {f}");
        }
        let c_last = |i: usize| *lstm[i].c.as_ref().unwrap().last().unwrap();
        assert!(c_last(0) < 1e-9 && c_last(1) < 1e-3 && c_last(2) > 0.1, "{} {} {}", c_last(0), c_last(1), c_last(2));
        Ok(())
    }

    #[test]
    fn a_large_initial_gradient_is_clipped_and_both_runs_start_alike() -> anyhow::Result<()> {
        let data = Clipping::run(&ClippingOptions::default(), &QUICK)?;
        let first = |i: usize| data.norms.runs[i].grad_norms[0];
        // Same weights and minibatch: the same gradient before clipping, and it is far above 1.
        assert!((first(0) - first(1)).abs() < 1e-6 * first(0) && first(0) > 10.0, "{} {}", first(0), first(1));
        assert_eq!(data.losses.runs[0].losses[0], data.losses.runs[1].losses[0]);
        Ok(())
    }

    #[test]
    fn quick_memory_runs_are_a_prefix_of_the_full_ones() -> anyhow::Result<()> {
        let opts = MemoryOptions::default();
        let cells = Memory::run(&opts, &QUICK)?.cells.unwrap();
        assert_eq!(cells.len(), opts.settings()?.cells.len());
        let losses = &cells[0].runs[0][0].losses;
        // Untrained, the loss of four classes is near ln 4.
        assert!((losses[0] - 4f64.ln()).abs() < 0.3, "{losses:?}");
        Ok(())
    }

    #[test]
    fn the_smallest_learning_rate_with_the_best_accuracy_wins_and_diverged_runs_lose() {
        let run = |accuracy: Option<f64>, diverged: bool| task::Run { accuracy, diverged, ..Default::default() };
        let runs = [run(Some(0.9), false), run(Some(1.0), false), run(Some(1.0), false)];
        assert_eq!(pick_lr(&runs), 1);
        let runs = [run(Some(0.3), false), run(Some(1.0), true), run(None, false), run(Some(f64::NAN), false)];
        assert_eq!(pick_lr(&runs), 0);
        assert_eq!(pick_lr(&[run(Some(0.5), false), run(Some(0.5), false)]), 0);
    }

    #[test]
    fn quick_sgd_runs_start_the_search_and_full_runs_pick_one_rate_per_cell() -> anyhow::Result<()> {
        let opts = MemorySgdOptions::default();
        let settings = opts.0.settings()?;
        assert_eq!(settings.figure_name(), "memory-sgd");
        let (data, figs) = chapter_kit::figure::figures::<MemorySgd>(&opts, &QUICK)?;
        assert_eq!(figs.len(), 1);
        assert_eq!(figs[0].name, "memory-sgd");
        assert!(data.cells.is_none() && data.options.is_none(), "a quick SGD run stops after the search");
        let search = data.search.unwrap();
        assert_eq!(search.len(), settings.cells.len());
        for s in &search {
            // Only the first rate, which a full search always tries, and no pick.
            assert_eq!(s.lrs, [settings.lr_grid[0]]);
            assert!(s.chosen.is_none(), "a quick run picks nothing");
            let losses = &s.runs[0].losses;
            assert!((losses[0] - 4f64.ln()).abs() < 0.3, "{losses:?}");
        }
        // A tiny full search: the pick is one of the rates tried, and the cell's runs use it.
        let tiny = memory::MemorySettings {
            lengths: vec![2],
            cells: vec![lab::rnn::Cell::Tanh { rho: 1.0 }],
            hidden: 4,
            train_steps: 5,
            eval_batch: 64,
            seeds: 1,
            lr_grid: vec![1e-4, 1e-3],
            ..settings
        };
        let full = memory::memory_data(&tiny, &GenOptions { quick: false, progress: false })?;
        let s = &full.search.as_ref().unwrap()[0];
        let picked = s.chosen.unwrap();
        assert!(tiny.lr_grid.contains(&picked), "{picked}");
        let cells = full.cells.as_ref().unwrap();
        assert_eq!(cells[0].lr, Some(picked));
        // The search's run at the picked rate is the figure's first run, reused, not repeated.
        let i = s.lrs.iter().position(|&l| l == picked).unwrap();
        assert_eq!(serde_json::to_value(&s.runs[i])?, serde_json::to_value(&cells[0].runs[0][0])?);
        Ok(())
    }

    #[test]
    #[ignore = "the root figures test checks every chapter in CI; run with --ignored while editing"]
    fn quick_runs_agree_with_the_committed_figures() {
        chapter_kit::figure::assert_quick_runs_agree(GENERATORS);
    }
}
