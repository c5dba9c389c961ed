use anyhow::Result;
use candle_core::Tensor;
use lab::{Activation, Init, MlpConfig, DEVICE};
use lab::train::{Optim, TrainConfig, train};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let lr: f64 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(0.1);
    let steps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(5000);
    let shift: f64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(0.0);
    let depth: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(5);
    let act: Activation = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(Activation::Sigmoid);
    let d_in: usize = args.get(6).map(|s| s.parse().unwrap()).unwrap_or(100);
    let batch: usize = args.get(7).map(|s| s.parse().unwrap()).unwrap_or(10);
    let te = lab::data::teacher(20000, d_in, 10, 0)?;
    let x = if shift != 0.0 { (candle_nn::ops::sigmoid(&(te.x.clone()*shift)?)?) } else { te.x.clone() };
    let (xt, yt) = (x.narrow(0, 0, 19000)?, te.y.narrow(0, 0, 19000)?);
    let (xe, ye) = (x.narrow(0, 19000, 1000)?, te.y.narrow(0, 19000, 1000)?);
    let net = MlpConfig::new(d_in, 256, depth, 10, act, Init::Standard).build(&DEVICE)?;
    let chunk = steps / 20;
    let t = Instant::now();
    for c in 0..=20 {
        let p = lab::probe::probe(&net, &xe, &ye)?;
        let means: Vec<String> = p.layers.iter().map(|l| format!("{:.3}±{:.3} s{:.2}", l.act_mean, l.act_std, l.saturated)).collect();
        println!("step {:6} loss {:.3} acc {:.3} | {}", c * chunk, p.loss, p.accuracy, means.join("  "));
        if c == 20 { break; }
        let mut cfg = TrainConfig::new(Optim::Sgd { lr }, chunk, batch);
        cfg.progress = false;
        cfg.seed = c as u64;
        train(&net, &xt, &yt, None, &cfg)?;
    }
    println!("{:?}", t.elapsed());
    let _ = Tensor::zeros(1, candle_core::DType::F32, &DEVICE)?;
    Ok(())
}
