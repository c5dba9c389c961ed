#![doc = include_str!("../../../src/05-batch-norm.md")]

// Listing 5-1 is this file's anchored code, kept within the page's 80 columns: rustfmt (120) would rewrap it.
#[rustfmt::skip]
pub mod bn;
pub mod checks;
pub mod exercises;
pub mod explosion;
pub mod forward;
pub mod ioffe;
pub mod solutions;

pub use bn::BatchNorm1d;
pub use explosion::{ExplosionOptions, explosion_figures};
pub use ioffe::{IoffeOptions, ioffe_figures};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator {
        chapter: "ch05",
        name: "bn-forward",
        run: |o| Ok(vec![forward::forward_figure(&IoffeOptions::default(), o)?]),
    },
    Generator { chapter: "ch05", name: "ioffe", run: |o| ioffe_figures(&IoffeOptions::default(), o) },
    Generator { chapter: "ch05", name: "bn-explosion", run: |o| explosion_figures(&ExplosionOptions::default(), o) },
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
    fn listing_5_1_shows_the_crate_source() {
        let src = include_str!("bn.rs");
        let (start, end) = ("// ANCHOR: bn\n", "// ANCHOR_END: bn");
        let body = &src[src.find(start).expect("anchor") + start.len()..src.find(end).expect("anchor end")];
        let chapter = include_str!("../../../src/05-batch-norm.md");
        assert!(chapter.contains(body), "Listing 5-1 differs from src/bn.rs: copy the anchored code into the chapter");
    }

    #[test]
    fn quick_forward_figure_shows_the_collapse_and_its_cure() -> anyhow::Result<()> {
        let fig = forward::forward_figure(&IoffeOptions::default(), &QUICK)?;
        let (plain, bn) = (&fig.data["runs"][0]["unit_std"], &fig.data["runs"][1]["unit_std"]);
        // Without BN each sigmoid layer shrinks the spread over examples several-fold; with BN it is 1.
        for l in 1..4 {
            assert!(num(&plain[l]) < 0.5 * num(&plain[l - 1]), "{plain}");
            assert!((num(&bn[l]) - 1.0).abs() < 1e-3, "{bn}");
        }
        Ok(())
    }

    #[test]
    fn quick_explosion_agrees_with_yang_et_al() -> anyhow::Result<()> {
        let fig = &explosion_figures(&ExplosionOptions::default(), &QUICK)?[0];
        let configs = fig.data["configs"].as_array().unwrap();
        let growth = |c: usize, i: usize| num(&configs[c]["runs"][i]["growth_per_seed"][0]);
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
        let fig = &ioffe_figures(&IoffeOptions::default(), &QUICK)?[0];
        let runs = fig.data["runs"].as_array().unwrap();
        let (plain, bn) = (&runs[0], &runs[1]);
        // After one evaluation period the BatchNorm network is far ahead.
        assert!(num(&bn["accuracy"][1]) > 0.5 && num(&bn["accuracy"][1]) > num(&plain["accuracy"][1]) + 0.3);
        // BatchNorm centres and spreads the sigmoid's input: the 15th/85th percentiles straddle 0.
        let p = &bn["percentiles"][0];
        assert!(num(&p[0]) < -0.5 && num(&p[2]) > 0.5, "{p}");
        // At initialisation the plain sigmoid net's gradient gˡ shrinks towards the input; BatchNorm keeps
        // the upper hidden layers level and the first within a few times of them.
        let ratio = |r: &serde_json::Value, l: usize| num(&r["delta_init"][l]) / num(&r["delta_init"][3]);
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
    fn a_trained_network_in_training_mode_depends_on_its_test_batch() -> anyhow::Result<()> {
        use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
        let (train, test) = ioffe::digit_split(600, 64, 3)?;
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
