use anyhow::Result;
use lab::train::{Optim, TrainConfig, train};
use lab::{Activation, DEVICE, Init, MlpConfig};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(|s| s.as_str()).unwrap_or("depth");
    let d_in = 16;
    let classes = 4;
    let data = lab::data::teacher(6000, d_in, classes, 0)?;
    let (tr, te) = data.split(5000)?;
    match mode {
        "depth" => {
            let steps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(500);
            let width: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(64);
            for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
                let init = Init::HeNormal { gain: lab::init::gain(act), fan: lab::init::Fan::In };
                for depth in [1, 2, 4, 8, 16, 32] {
                    for lr in [0.01, 0.03, 0.1, 0.3] {
                        let t = Instant::now();
                        let net = MlpConfig::new(d_in, width, depth, classes, act, init).with_seed(1).build(&DEVICE)?;
                        let mut cfg = TrainConfig::new(Optim::Momentum { lr, momentum: 0.9 }, steps, 64);
                        cfg.progress = false;
                        let h = train(&net, &tr.x, &tr.y, Some((&te.x, &te.y)), &cfg)?;
                        println!(
                            "{act} depth {depth:2} lr {lr}: acc {:.3} diverged {} ({:?})",
                            h.final_eval().map_or(f64::NAN, |e| e.accuracy),
                            h.diverged,
                            t.elapsed()
                        );
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}
