//! Criterion benchmarks of one training step (the book's workload W1 and its siblings) and of the
//! kernels lab optimises. `cargo bench -p lab` runs them all in a few minutes on 2 cores;
//! `cargo bench -p lab -- step/W1` runs one group. Thread count: `RAYON_NUM_THREADS` (default: the
//! number of physical cores). Numbers and findings: `chapters-code/lab/PERFORMANCE.md`.
//!
//! W1: sigmoid MLP, 20 hidden layers × 256, input 256, batch 128, 10-class cross-entropy, plain SGD.

use candle_core::{Tensor, Var};
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};
use lab::train::{BoxedOptimizer, Optim};
use lab::{Activation, DEVICE, Init, Mlp, MlpConfig, Norm, fast};
use std::hint::black_box;
use std::time::Duration;

/// A network, its optimiser and one pre-generated minibatch.
struct Workload {
    net: Mlp,
    opt: BoxedOptimizer,
    x: Tensor,
    y: Tensor,
}

impl Workload {
    fn new(config: MlpConfig, batch: usize) -> Workload {
        let net = config.build(&DEVICE).expect("network");
        let opt = Optim::Sgd { lr: 0.01 }.optimizer(net.vars()).expect("optimiser");
        let data = lab::data::teacher(batch, config.d_in, config.d_out, 1).expect("data");
        Workload { net, opt, x: data.x, y: data.y }
    }

    /// Forward, cross-entropy, backward, SGD update — what `lab::train::train` does each step.
    fn step(&mut self) -> f32 {
        let (net, x, y) = (&self.net, &self.x, &self.y);
        let loss = net.loss(x, y).expect("loss");
        let grads = loss.backward().expect("backward");
        self.opt.step(&grads).expect("update");
        loss.to_scalar::<f32>().expect("scalar")
    }
}

fn w1(act: Activation) -> MlpConfig {
    let init = if act.saturates() { Init::XAVIER } else { Init::HE };
    MlpConfig::new(256, 256, 20, 10, act, init).with_seed(1)
}

fn quick(group: &mut BenchmarkGroup<'_, WallTime>, secs: f64) {
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs_f64(secs));
}

fn bench_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    quick(&mut group, 2.0);
    let cases: Vec<(&str, MlpConfig)> = vec![
        ("W1", w1(Activation::Sigmoid)),
        ("W1-depth50", MlpConfig::new(256, 256, 50, 10, Activation::Sigmoid, Init::XAVIER).with_seed(1)),
        ("W1-relu", w1(Activation::Relu)),
        ("W1-batchnorm", w1(Activation::Sigmoid).with_norm(Norm::Batch)),
        // Small weights keep 20 residual ReLU blocks finite (He-normal doubles the variance per block).
        ("W1-residual", MlpConfig { init: Init::Normal { std: 0.01 }, ..w1(Activation::Relu) }.with_residual(true)),
    ];
    for (name, config) in cases {
        let mut w = Workload::new(config, 128);
        group.bench_function(name, |b| b.iter(|| black_box(w.step())));
    }
    // The reference (candle's stock ops), for the before/after comparison.
    let mut w = Workload::new(w1(Activation::Sigmoid), 128);
    fast::set_enabled(false);
    group.bench_function("W1-reference", |b| b.iter(|| black_box(w.step())));
    fast::set_enabled(true);
    group.finish();

    // Width 1024 costs 16× a W1 step per layer: fewer layers, the same measurement budget.
    let mut group = c.benchmark_group("step-wide");
    quick(&mut group, 4.0);
    let mut w = Workload::new(MlpConfig::new(1024, 1024, 8, 10, Activation::Relu, Init::HE).with_seed(1), 128);
    group.bench_function("width1024-depth8-relu", |b| b.iter(|| black_box(w.step())));
    group.finish();
}

fn bench_kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    quick(&mut group, 1.0);
    let rng = &mut lab::init::rng(3);
    let x = Init::Normal { std: 1.0 }.tensor(128, 256, rng, &DEVICE).expect("x");
    let w = Init::Normal { std: 0.06 }.tensor(256, 256, rng, &DEVICE).expect("w");
    let b = Tensor::zeros(256, candle_core::DType::F32, &DEVICE).expect("b");
    let wt = w.t().expect("t").contiguous().expect("contiguous");
    group.bench_function("matmul-128x256x256-candle", |bn| bn.iter(|| black_box(x.matmul(&wt).expect("matmul"))));
    group.bench_function("matmul-128x256x256-candle-x-wT", |bn| {
        bn.iter(|| black_box(x.matmul(&w.t().expect("t")).expect("matmul")))
    });
    group.bench_function("linear-128x256x256-candle", |bn| {
        bn.iter(|| black_box(x.matmul(&w.t().expect("t")).expect("matmul").broadcast_add(&b).expect("add")))
    });
    group.bench_function("linear-128x256x256-lab", |bn| {
        bn.iter(|| black_box(fast::linear(&x, &w, &b).expect("linear")))
    });

    // Forward and backward of one layer's affine map, as autograd runs them.
    let (wv, bv) = (Var::from_tensor(&w).expect("var"), Var::from_tensor(&b).expect("var"));
    group.bench_function("linear-fwd-bwd-candle", |bn| {
        bn.iter(|| {
            let z = x.matmul(&wv.as_tensor().t().expect("t")).expect("mm").broadcast_add(bv.as_tensor()).expect("add");
            black_box(z.sum_all().expect("sum").backward().expect("backward"))
        })
    });
    group.bench_function("linear-fwd-bwd-lab", |bn| {
        bn.iter(|| {
            let z = fast::linear(&x, wv.as_tensor(), bv.as_tensor()).expect("linear");
            black_box(z.sum_all().expect("sum").backward().expect("backward"))
        })
    });

    let s = candle_nn::ops::sigmoid(&x).expect("sigmoid");
    group.bench_function("sigmoid-fwd-128x256-candle", |bn| {
        bn.iter(|| black_box(candle_nn::ops::sigmoid(&x).expect("sigmoid")))
    });
    group.bench_function("sigmoid-fwd-128x256-lab", |bn| bn.iter(|| black_box(fast::sigmoid(&x).expect("sigmoid"))));
    // candle-nn's sigmoid backward formula, and lab's fused one.
    group.bench_function("sigmoid-bwd-128x256-candle", |bn| {
        bn.iter(|| {
            black_box(x.mul(&s.ones_like().expect("ones").sub(&s).expect("sub").mul(&s).expect("mul")).expect("mul"))
        })
    });
    group.bench_function("sigmoid-bwd-128x256-lab", |bn| {
        bn.iter(|| black_box(fast::sigmoid_backward(&s, &x).expect("bwd")))
    });
    group.bench_function("tanh-fwd-128x256-candle", |bn| bn.iter(|| black_box(x.tanh().expect("tanh"))));
    group.bench_function("tanh-fwd-128x256-lab", |bn| bn.iter(|| black_box(fast::tanh(&x).expect("tanh"))));
    group.bench_function("affine-128x256-candle", |bn| bn.iter(|| black_box(x.affine(0.5, 0.1).expect("affine"))));

    let cfg = w1(Activation::Sigmoid);
    let net = cfg.build(&DEVICE).expect("net");
    let data = lab::data::teacher(128, 256, 10, 1).expect("data");
    let grads = net.loss(&data.x, &data.y).expect("loss").backward().expect("backward");
    let vars = net.vars();
    group.bench_function("sgd-update-W1-candle-nn", |bn| {
        use candle_nn::Optimizer;
        let mut sgd = candle_nn::SGD::new(vars.clone(), 1e-9).expect("sgd");
        bn.iter(|| sgd.step(&grads).expect("step"))
    });
    group.bench_function("sgd-update-W1-lab", |bn| {
        bn.iter(|| {
            for v in &vars {
                fast::sgd_update(v, grads.get(v).expect("grad"), 1e-9).expect("update");
            }
        })
    });
    let logits = Init::Normal { std: 1.0 }.tensor(128, 10, rng, &DEVICE).expect("logits");
    group.bench_function("cross-entropy-128x10-candle-nn", |bn| {
        bn.iter(|| black_box(candle_nn::loss::cross_entropy(&logits, &data.y).expect("ce")))
    });
    group.finish();
}

criterion_group!(benches, bench_steps, bench_kernels);
criterion_main!(benches);
