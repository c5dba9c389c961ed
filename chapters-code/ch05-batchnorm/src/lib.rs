#![doc = include_str!("../../../src/05-batch-norm.md")]

//! ## The crate
//!
//! [`bn`] is Listing 5-1, a BatchNorm layer written out. One module per figure family, each an
//! [`Experiment`](chapter_kit::Experiment) that one example in `examples/` and `book figures` run:
//!
//! - [`forward`]: Figure 5-1, the input to every sigmoid at initialisation, without and with BatchNorm;
//! - [`ioffe`]: Figures 5-2 to 5-5, Ioffe & Szegedy's sigmoid network trained without and with it;
//! - [`explosion`]: Figures 5-6 and 5-7, Yang et al.'s gradient explosion at initialisation;
//! - [`saturation`]: Figures 5-8 and 5-9, chapter 2's saturating sigmoid network with and without it;
//! - [`noisy`]: Figures 5-10 to 5-12, Santurkar et al.'s "noisy" BatchNorm and the loss landscape
//!   along the gradient ([`landscape`]) on the network of Figure 5-2.
//!
//! [`digits`] holds the data of Figures 5-1 to 5-5; [`exercises`], [`solutions`] and [`checks`] are
//! the chapter's exercises.

// Listing 5-1 is this file's anchored code, kept within the page's 80 columns: rustfmt (120) would rewrap it.
#[rustfmt::skip]
pub mod bn;
pub mod checks;
pub mod digits;
pub mod exercises;
pub mod explosion;
pub mod forward;
pub mod ioffe;
pub mod landscape;
pub mod noisy;
pub mod saturation;
pub mod solutions;

pub use bn::BatchNorm1d;
pub use explosion::{Explosion, ExplosionOptions};
pub use forward::{BnForward, BnForwardOptions};
pub use ioffe::{Ioffe, IoffeOptions};
pub use noisy::{NoisyBatchNorm, NoisyOptions};
pub use saturation::{BnSaturation, SaturationOptions};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator::of::<BnForward>(),
    Generator::of::<Ioffe>(),
    Generator::of::<BnSaturation>(),
    Generator::of::<NoisyBatchNorm>(),
    Generator::of::<Explosion>(),
];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;

    #[test]
    fn listing_5_1_shows_the_crate_source() {
        let src = include_str!("bn.rs");
        let (start, end) = ("// ANCHOR: bn\n", "// ANCHOR_END: bn");
        let body = &src[src.find(start).expect("anchor") + start.len()..src.find(end).expect("anchor end")];
        let chapter = include_str!("../../../src/05-batch-norm.md");
        assert!(chapter.contains(body), "Listing 5-1 differs from src/bn.rs: copy the anchored code into the chapter");
    }

    #[test]
    fn quick_forward_figure_shows_the_collapse_and_its_cure() -> anyhow::Result<()> {
        let data = BnForward::run(&BnForwardOptions::default(), &GenOptions::QUICK)?;
        let (plain, bn) = (&data.runs[0].unit_std, &data.runs[1].unit_std);
        // Without BN each sigmoid layer shrinks the spread over examples several-fold; with BN it is 1.
        for l in 1..4 {
            assert!(plain[l] < 0.5 * plain[l - 1], "{plain:?}");
            assert!((bn[l] - 1.0).abs() < 1e-3, "{bn:?}");
        }
        Ok(())
    }

    #[test]
    fn quick_explosion_agrees_with_yang_et_al() -> anyhow::Result<()> {
        let configs = Explosion::run(&ExplosionOptions::default(), &GenOptions::QUICK)?.configs;
        let growth = |c: usize, i: usize| configs[c].runs[i].growth_per_seed[0];
        // Linear + BN: (B − 2)/(B − 3) at B = 8 and 16 within a few percent (B = 4 is further off).
        for (i, b) in [(1usize, 8.0f64), (2, 16.0)] {
            let want = (b - 2.0) / (b - 3.0);
            assert!((growth(1, i) / want - 1.0).abs() < 0.04, "B = {b}: {} vs {want}", growth(1, i));
        }
        // ReLU + BN explodes faster at small batches and above π/(π − 1); LayerNorm does not explode.
        assert!(
            growth(0, 0) > growth(0, 1)
                && growth(0, 1) > growth(0, 2)
                && growth(0, 2) > lab::norm::relu_bn_growth_limit()
        );
        for i in 0..3 {
            assert!((growth(2, i) - 1.0).abs() < 0.05, "LayerNorm growth {}", growth(2, i));
        }
        Ok(())
    }

    #[test]
    fn quick_ioffe_run_learns_faster_with_batch_norm() -> anyhow::Result<()> {
        let runs = Ioffe::run(&IoffeOptions::default(), &GenOptions::QUICK)?.runs;
        let (plain, bn) = (&runs[0], &runs[1]);
        // After one evaluation period the BatchNorm network is far ahead.
        assert!(bn.accuracy[1] > 0.5 && bn.accuracy[1] > plain.accuracy[1] + 0.3);
        // BatchNorm centres and spreads the sigmoid's input: the 15th/85th percentiles straddle 0.
        let p = bn.percentiles[0];
        assert!(p[0] < -0.5 && p[2] > 0.5, "{p:?}");
        // At initialisation the plain sigmoid net's gradient gˡ shrinks towards the input; BatchNorm keeps
        // the upper hidden layers level and the first within a few times of them.
        let ratio = |r: &ioffe::IoffeRun, l: usize| r.delta_init[l] / r.delta_init[3];
        assert!(
            ratio(plain, 0) < 0.05 && ratio(bn, 0) > 10.0 * ratio(plain, 0),
            "{} {}",
            ratio(plain, 0),
            ratio(bn, 0)
        );
        assert!((0.5..2.0).contains(&ratio(bn, 1)), "BN layer 2 against layer 4: {}", ratio(bn, 1));
        Ok(())
    }

    #[test]
    fn quick_saturation_run_rescues_the_saturating_network() -> anyhow::Result<()> {
        let runs = BnSaturation::run(&SaturationOptions::default(), &GenOptions::QUICK)?.runs;
        let (plain, bn) = (&runs[0], &runs[1]);
        // Chapter 2's network: the top layer's mean falls from ½ towards 0 and the error stays at chance.
        assert!((plain.top_mean[0] - 0.5).abs() < 0.02 && plain.top_mean[2] < 0.45, "{:?}", plain.top_mean);
        assert!(plain.error.iter().all(|&e| e > 0.85), "{:?}", plain.error);
        // With BatchNorm the top layer stays centred on ½ and the error falls within 200 steps.
        assert!(bn.top_mean.iter().all(|&m| (m - 0.5).abs() < 0.02), "{:?}", bn.top_mean);
        assert!(bn.error[2] < plain.error[2] - 0.15, "{:?} vs {:?}", bn.error, plain.error);
        Ok(())
    }

    #[test]
    fn quick_noisy_batch_norm_still_learns_fast() -> anyhow::Result<()> {
        let runs = NoisyBatchNorm::run(&NoisyOptions::default(), &GenOptions::QUICK)?.runs;
        let acc = |i: usize| runs[i].accuracy[2];
        // 200 steps: no BatchNorm is still at chance; BatchNorm, with or without noise of strength 1
        // injected after every layer at every step, is far above it and the noise costs little.
        assert!(acc(0) < 0.2 && acc(1) > 0.7, "{} {}", acc(0), acc(1));
        assert!(acc(2) > acc(0) + 0.5 && (acc(1) - acc(2)).abs() < 0.1, "{} {}", acc(1), acc(2));
        // Stronger noise costs more, but still beats no BatchNorm at this point.
        assert!(acc(3) < acc(2) && acc(3) > acc(0) + 0.3, "{} {}", acc(2), acc(3));
        // At initialisation the BatchNorm network's loss varies less along the gradient, its gradient
        // is more predictive (changes less for the same steps) and its effective β is smaller.
        let (plain, bn) = (&runs[0].landscape[0], &runs[1].landscape[0]);
        assert!(runs[2].landscape.is_empty() && plain.step == 0);
        assert!(bn.loss_range < 0.7 * plain.loss_range, "{} {}", bn.loss_range, plain.loss_range);
        assert!(bn.max_grad_change < plain.max_grad_change, "{} {}", bn.max_grad_change, plain.max_grad_change);
        assert!(bn.effective_beta < 0.8 * plain.effective_beta, "{} {}", bn.effective_beta, plain.effective_beta);
        Ok(())
    }

    #[test]
    fn a_trained_network_in_training_mode_depends_on_its_test_batch() -> anyhow::Result<()> {
        use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
        let (train, test) = digits::digit_split(600, 64, 3)?;
        let net = MlpConfig::new(train.dim(), 32, 2, 10, Activation::Sigmoid, Init::XavierNormal { gain: 1.0 })
            .with_norm(Norm::Batch)
            .build(&DEVICE)?;
        let phases = [lab::experiments::Phase { optim: lab::train::Optim::Sgd { lr: 0.5 }, steps: 100 }];
        lab::experiments::train_phases(&net, &train, &phases, 32, 1, 0, |_, _| Ok(()))?;
        // Batch of one: every input maps to the same output, so accuracy is one class's share.
        let alone = ioffe::train_mode_accuracy(&net, &test, 1)?;
        let counts = test.class_counts()?;
        assert!(counts.iter().any(|&c| (c as f64 / 64.0 - alone).abs() < 1e-12), "{alone} vs {counts:?}");
        let eval = lab::net::accuracy(&candle_core::ModuleT::forward_t(&net, &test.x, false)?, &test.y)?;
        assert!(eval > alone + 0.3, "evaluation {eval}, batch-of-one training mode {alone}");
        Ok(())
    }
}
