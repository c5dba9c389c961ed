//! Figure 5-1: what BatchNorm does to the forward signal of the chapter's sigmoid network at
//! initialisation — histograms of every hidden layer's input to the sigmoid, without and with BatchNorm,
//! and the spread of each unit's input over the examples.

use crate::ioffe::{IoffeOptions, digit_split};
use anyhow::{Result, ensure};
use chapter_kit::figure::{Figure, GenOptions};
use lab::plot::HistogramGrid;
use lab::{Activation, DEVICE, Init, MlpConfig, Norm};

/// Mean over units of the standard deviation of each unit's value over the batch: how differently the
/// layer responds to different examples (0: every example looks the same to it).
pub fn mean_unit_std(t: &candle_core::Tensor) -> Result<f64> {
    let t = t.to_dtype(candle_core::DType::F64)?;
    let centred = t.broadcast_sub(&t.mean_keepdim(0)?)?;
    let std = centred.sqr()?.mean(0)?.sqrt()?;
    Ok(std.mean_all()?.to_scalar::<f64>()?)
}

/// Figure 5-1, on the network and data of Figures 5-2 to 5-5 (`IoffeOptions`), at initialisation.
pub fn forward_figure(opts: &IoffeOptions, gen_opts: &GenOptions) -> Result<Figure> {
    ensure!(opts.depth >= 1 && opts.width > 0, "need depth and width ≥ 1");
    let (_, test) = digit_split(opts.train_examples, opts.test_examples, opts.seed)?;
    let mut runs = Vec::new();
    let mut grid = HistogramGrid::new(format!(
        "Input to the sigmoids at initialisation, {} hidden layers × {}, {} held-out digits",
        opts.depth, opts.width, opts.test_examples
    ))
    .x_label("input to the sigmoid, z")
    .x_range(-4.0, 4.0)
    .columns(opts.depth.min(6))
    .independent_y()
    .shade(-1.0, 1.0, "|z| < 1");
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
            if !gen_opts.quick {
                let values = z.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
                grid = grid
                    .panel(format!("layer {}, {}", l + 1, if norm == Norm::Batch { "BN" } else { "no BN" }), values);
            }
        }
        runs.push(serde_json::json!({ "name": name, "norm": norm, "unit_std": unit_std, "overall_std": overall_std }));
    }
    let last = opts.depth - 1;
    let summary = serde_json::json!({
        "plain_unit_std_first": runs[0]["unit_std"][0],
        "plain_unit_std_last": runs[0]["unit_std"][last],
        "bn_unit_std_last": runs[1]["unit_std"][last],
    });
    let data = serde_json::json!({ "runs": runs, "summary": summary });
    if gen_opts.quick {
        return Figure::new("ch05", "bn-forward", "", String::new(), &data);
    }
    let alt = "Histograms of every hidden layer's input to its sigmoid at initialisation, top row without BatchNorm, bottom row with it. Without BatchNorm the values collapse layer by layer into a few narrow spikes, one per unit, so that every example looks alike; with BatchNorm every layer's values spread over about −2 to 2.";
    let svg = grid.render(alt)?;
    let data = serde_json::json!({ "options": opts, "runs": data["runs"], "summary": data["summary"] });
    Figure::new("ch05", "bn-forward", alt, svg, &data)
}
