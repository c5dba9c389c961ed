//! Figure 5-1: what BatchNorm does to the forward signal of the chapter's sigmoid network at
//! initialisation — histograms of every hidden layer's input to the sigmoid, without and with BatchNorm,
//! and the spread of each unit's input over the examples.

use crate::digits::digit_split;
use crate::ioffe::IoffeOptions;
use anyhow::{Result, ensure};
use chapter_kit::cli;
use chapter_kit::figure::{Drawing, Experiment, GenOptions};
use lab::plot::HistogramGrid;
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};
use serde::Serialize;

/// Settings of Figure 5-1: the network and data of Figures 5-2 to 5-5, at initialisation.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct BnForwardOptions {
    /// Hidden layers.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 100, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub width: usize,
    /// Training digits (their pixel statistics standardise the held-out ones).
    #[arg(long, default_value_t = 6000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub train_examples: usize,
    /// Held-out digits the histograms are taken over.
    #[arg(long, default_value_t = 1000, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub test_examples: usize,
    /// Seed of the digits (plus one: of the weights, as in Figures 5-2 to 5-5).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
chapter_kit::defaults_from_flags!(BnForwardOptions);

impl BnForwardOptions {
    /// The settings of Figures 5-2 to 5-5 whose network and data these are (what the JSON records).
    pub fn ioffe(&self) -> IoffeOptions {
        IoffeOptions {
            depth: self.depth,
            width: self.width,
            train_examples: self.train_examples,
            test_examples: self.test_examples,
            seed: self.seed,
            ..IoffeOptions::default()
        }
    }
}

/// Mean over units of the standard deviation of each unit's value over the batch: how differently the
/// layer responds to different examples (0: every example looks the same to it).
pub fn mean_unit_std(t: &candle_core::Tensor) -> Result<f64> {
    let t = t.to_dtype(candle_core::DType::F64)?;
    let centred = t.broadcast_sub(&t.mean_keepdim(0)?)?;
    let std = centred.sqr()?.mean(0)?.sqrt()?;
    Ok(std.mean_all()?.to_scalar::<f64>()?)
}

/// One network (without or with BatchNorm) at initialisation.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardRun {
    pub name: &'static str,
    pub norm: Norm,
    /// Per hidden layer, [`mean_unit_std`] of the input to the sigmoid.
    pub unit_std: Vec<f64>,
    /// Per hidden layer, the std of all its inputs to the sigmoid.
    pub overall_std: Vec<f64>,
}

/// The numbers the chapter quotes from Figure 5-1.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardSummary {
    pub plain_unit_std_first: f64,
    pub plain_unit_std_last: f64,
    pub bn_unit_std_last: f64,
}

/// One panel of Figure 5-1: a layer's inputs to the sigmoid over the held-out set.
#[derive(Debug, Clone)]
pub struct ForwardPanel {
    pub title: String,
    pub values: Vec<f64>,
}

/// What Figure 5-1 shows (quick mode: the statistics without the histograms).
#[derive(Debug, Clone, Serialize)]
pub struct BnForwardData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<IoffeOptions>,
    pub runs: Vec<ForwardRun>,
    pub summary: ForwardSummary,
    /// The histograms' values, network by network, layer by layer (drawn, not saved).
    #[serde(skip)]
    pub panels: Vec<ForwardPanel>,
}

/// Figure 5-1, on the network and data of Figures 5-2 to 5-5, at initialisation.
pub struct BnForward;

impl Experiment for BnForward {
    const CHAPTER: &'static str = "ch05";
    const NAME: &'static str = "bn-forward";
    const ABOUT: &'static str = "The input to every sigmoid at initialisation, without and with BatchNorm (Figure 5-1)";
    type Options = BnForwardOptions;
    type Data = BnForwardData;

    fn run(opts: &BnForwardOptions, run_mode: &GenOptions) -> Result<BnForwardData> {
        ensure!(opts.depth >= 1 && opts.width > 0, "need depth and width ≥ 1");
        let (_, test) = digit_split(opts.train_examples, opts.test_examples, opts.seed)?;
        let mut runs = Vec::new();
        let mut panels = Vec::new();
        for (norm, name) in [(Norm::None, "without BatchNorm"), (Norm::Batch, "with BatchNorm")] {
            // The same weights as Figure 5-2's networks (same seed); BatchNorm in training mode over the set.
            let net = MlpConfig::new(
                test.dim(),
                opts.width,
                opts.depth,
                10,
                Activation::Sigmoid,
                Init::XavierNormal { gain: 1.0 },
            )
            .with_norm(norm)
            .with_seed(opts.seed + 1)
            .build(&DEVICE)?;
            let trace = net.forward_trace(&test.x, true)?;
            let mut unit_std = Vec::new();
            let mut overall_std = Vec::new();
            for (l, z) in trace.pre.iter().enumerate() {
                unit_std.push(mean_unit_std(z)?);
                overall_std.push(lab::probe::mean_std(z)?.1);
                if !run_mode.quick {
                    let values = z.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
                    let short = if norm == Norm::Batch { "BN" } else { "no BN" };
                    panels.push(ForwardPanel { title: format!("layer {}, {short}", l + 1), values });
                }
            }
            runs.push(ForwardRun { name, norm, unit_std, overall_std });
        }
        let last = opts.depth - 1;
        let summary = ForwardSummary {
            plain_unit_std_first: runs[0].unit_std[0],
            plain_unit_std_last: runs[0].unit_std[last],
            bn_unit_std_last: runs[1].unit_std[last],
        };
        let options = (!run_mode.quick).then(|| opts.ioffe());
        Ok(BnForwardData { options, runs, summary, panels })
    }

    fn draw(data: &BnForwardData) -> Result<Vec<Drawing>> {
        let Some(opts) = &data.options else {
            return Ok(vec![Drawing::data_only("bn-forward", data)?]);
        };
        let mut grid = HistogramGrid::new(format!(
            "Input to the sigmoids at initialisation, {} hidden layers × {}, {} held-out digits",
            opts.depth, opts.width, opts.test_examples
        ))
        .x_label("input to the sigmoid, z")
        .x_range(-4.0, 4.0)
        .columns(opts.depth.min(6))
        .independent_y()
        .shade(-1.0, 1.0, "|z| < 1");
        for panel in &data.panels {
            grid = grid.panel(panel.title.clone(), panel.values.clone());
        }
        let alt = "Histograms of every hidden layer's input to its sigmoid at initialisation, top row without BatchNorm, bottom row with it. Without BatchNorm the values collapse layer by layer into a few narrow spikes, one per unit, so that every example looks alike; with BatchNorm every layer's values spread over about −2 to 2.";
        let svg = grid.render(alt)?;
        Ok(vec![Drawing::new("bn-forward", alt, svg, data)?])
    }
}

impl std::fmt::Display for BnForwardData {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.runs {
            let stds: Vec<String> = r.unit_std.iter().map(|v| format!("{v:.3}")).collect();
            writeln!(f, "{:<18} per-unit spread over the examples, layer by layer: {}", r.name, stds.join(", "))?;
        }
        Ok(())
    }
}
