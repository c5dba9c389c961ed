//! Checkers of the chapter 4 exercises, generic over the implementation, and the chapter's exercise
//! registry. Each checker returns `Err` with a message a student can act on; the registry's
//! `mistakes` are plausible wrong answers each checker must reject (see [`chapter_kit::exercise`](mod@chapter_kit::exercise)).

use chapter_kit::exercise;
use chapter_kit::exercise::{Exercise, close};
use lab::Activation;

/// The chapter's exercises, in rising difficulty.
pub const EXERCISES: &[Exercise] = &[
    exercise! {"ch04", "4.1", "a ReLU network's variance, layer by layer", relu_variance(relu_pre_activation_std), [
        ("the linear-network formula, without the ½ of the ReLU", mistakes::relu_without_half),
        ("a ½ at layer 1 too, as if the inputs were ReLU outputs", mistakes::relu_half_everywhere),
        ("the variance instead of the standard deviation", mistakes::relu_variance_not_std),
    ]},
    exercise! {"ch04", "4.2", "Xavier for candle_nn", xavier_uniform(xavier_uniform), [
        ("the bound √(6/fan_in): one fan only", mistakes::xavier_fan_in_only),
        ("the standard deviation √(2/(n_in+n_out)) used as the bound", mistakes::xavier_std_as_bound),
        ("candle's Kaiming preset with the tanh gain", mistakes::xavier_as_kaiming),
    ]},
    exercise! {"ch04", "4.3", "χ₁ from the mean-field recursion", tanh_chi1(tanh_chi1), [
        ("χ₁ at q = 1 instead of at the fixed point", mistakes::chi1_at_unit_q),
        ("the bias variance left out of the variance map", mistakes::chi1_without_bias),
        ("E[tanh²] in place of E[tanh′²]", mistakes::chi1_of_the_activation),
    ]},
    exercise! {"ch04", "4.4", "break the symmetry", symmetry(break_symmetry), [
        ("one random number added to every weight of a layer", mistakes::one_shared_offset),
        ("only the first layer drawn at random", mistakes::first_layer_only),
    ]},
];

/// Exercise 4.1: the closed form at many (n·Var W, E\[x²\], layer), then a real 8-layer network.
pub fn relu_variance(f: impl Fn(f64, f64, usize) -> f64) -> Result<(), String> {
    for (n_var, m) in [(2.0f64, 1.0f64), (1.0, 1.0), (1.0 / 3.0, 1.0), (1.5, 0.25), (2.0, 4.0)] {
        for layer in [1usize, 2, 3, 10, 30] {
            let want = (n_var * m * (0.5 * n_var).powi(layer as i32 - 1)).sqrt();
            let got = f(n_var, m, layer);
            let hint = if (got - (n_var * m * 0.5f64.powi(layer as i32) * n_var.powi(layer as i32 - 1)).sqrt()).abs()
                < 1e-12 * want
            {
                ": layer 1 sees the inputs themselves, not ReLU outputs, so there is no ½ there"
            } else if (got - want * want).abs() < 1e-12 * want * want && (want - 1.0).abs() > 1e-6 {
                ": that is the variance; the question asks for the standard deviation"
            } else {
                ""
            };
            close(&format!("std of z^{layer} with n·Var(W) = {n_var}, E[x²] = {m}"), got, want, 1e-9, 0.0)
                .map_err(|e| format!("{e}{hint}"))?;
        }
    }
    // He keeps 8 layers of a real ReLU network at √2 within the finite-width wander.
    let measured = measured_relu_std().map_err(|e| format!("could not run the network: {e}"))?;
    let got = f(2.0, 1.0, 8);
    close("your prediction against a measured 8-layer He network", got, measured, 0.3, 0.0)?;
    Ok(())
}

fn measured_relu_std() -> anyhow::Result<f64> {
    use lab::{DEVICE, Init, MlpConfig};
    let x = Init::Normal { std: 1.0 }.tensor(64, 256, &mut lab::init::rng(1), &DEVICE)?;
    let net = MlpConfig::new(256, 256, 8, 10, Activation::Relu, Init::HE).with_seed(2).build(&DEVICE)?;
    Ok(lab::probe::mean_std(&net.forward_trace(&x, true)?.pre[7])?.1)
}

/// Exercise 4.2: the returned `Init` is a symmetric uniform with Xavier's variance, for square,
/// wide and tall layers and two gains.
pub fn xavier_uniform(f: impl Fn(usize, usize, f64) -> candle_nn::Init) -> Result<(), String> {
    for (fan_in, fan_out, gain) in
        [(256usize, 256usize, 1.0), (784, 128, 1.0), (64, 512, 5.0 / 3.0), (10, 3, 2f64.sqrt())]
    {
        let want = gain * gain * 2.0 / (fan_in + fan_out) as f64;
        match f(fan_in, fan_out, gain) {
            candle_nn::Init::Uniform { lo, up } => {
                close(&format!("lower bound for fan_in {fan_in}, fan_out {fan_out}"), lo, -up, 1e-12, 0.0)
                    .map_err(|e| format!("{e}: the interval must be symmetric about 0"))?;
                let var = (up - lo).powi(2) / 12.0;
                close(&format!("Var(W) for fan_in {fan_in}, fan_out {fan_out}, gain {gain:.4}"), var, want, 1e-9, 0.0)
                    .map_err(|e| format!("{e}; a uniform on ±a has variance a²/3"))?;
            }
            candle_nn::Init::Kaiming { .. } => {
                return Err("candle's Kaiming init divides by one fan (fan_in or fan_out), never by their mean: \
                            Xavier has to be written as explicit Uniform bounds"
                    .into());
            }
            other => return Err(format!("Xavier-uniform is a uniform distribution; got {other:?}")),
        }
    }
    Ok(())
}

/// Exercise 4.3: χ₁ agrees with `lab::chaos::phase` in both phases, on the critical line and
/// without bias.
pub fn tanh_chi1(f: impl Fn(f64, f64) -> f64) -> Result<(), String> {
    let critical = lab::chaos::critical_sigma_w2(Activation::Tanh, 0.05).map_err(|e| e.to_string())?;
    for (w, b) in [(1.2, 0.05), (critical, 0.05), (3.0, 0.05), (25.0 / 9.0, 0.0), (1.5, 0.3), (0.8, 0.0)] {
        let want = lab::chaos::phase(Activation::Tanh, w, b).map_err(|e| e.to_string())?.chi1;
        close(&format!("χ₁ at σ_w² = {w:.4}, σ_b² = {b}"), f(w, b), want, 1e-6, 1e-9)?;
    }
    Ok(())
}

/// The network, data and budget of exercise 4.4: Figure 4-10's, on fewer digits.
pub fn symmetry_check_options() -> crate::symmetry::SymmetryOptions {
    crate::symmetry::SymmetryOptions {
        steps: 200,
        record_every: 200,
        digits: chapter_kit::cli::DigitSplit { train_examples: 1000, test_examples: 300 },
        ..Default::default()
    }
}

/// Held-out accuracy exercise 4.4 asks for after training.
pub const SYMMETRY_ACCURACY: f64 = 0.7;

/// Exercise 4.4: a constant-started tanh network, after `f`, trains to [`SYMMETRY_ACCURACY`] on
/// held-out digits, with the units of every hidden layer apart.
pub fn symmetry(f: impl Fn(&lab::Mlp, u64) -> anyhow::Result<()>) -> Result<(), String> {
    use crate::symmetry::{Start, digits, hidden_spreads, network, train_recording};
    let opts = symmetry_check_options();
    let (spreads_before, record) = (|| -> anyhow::Result<_> {
        let data = digits(&opts)?;
        let net = network(data.train_x.dim(1)?, opts.width, opts.depth, Start::Constant, opts.seed)?;
        f(&net, 7)?;
        let before = hidden_spreads(&net)?;
        Ok((before, train_recording(&net, &data, &opts, opts.steps)?))
    })()
    .map_err(|e| format!("could not run the network: {e}"))?;
    let after = record.spreads.last().cloned().unwrap_or_default();
    for (l, (&b, &a)) in spreads_before.iter().zip(&after).enumerate() {
        if a < 1e-4 {
            return Err(format!(
                "the units of hidden layer {} are still identical after {} SGD steps (largest difference \
                 between two units' weights: {b:e} before training, {a:e} after): a layer whose units share \
                 their incoming weights gets the same gradient for every unit, whatever the other layers do",
                l + 1,
                opts.steps
            ));
        }
    }
    let acc = record.test_accuracy.last().copied().unwrap_or(f64::NAN);
    if acc.is_nan() || acc < SYMMETRY_ACCURACY {
        return Err(format!(
            "held-out accuracy after {} steps is {acc:.3}, below {SYMMETRY_ACCURACY}: the units differ, but \
             not enough to learn — is the scale of your random draw sensible (Xavier's, say)?",
            opts.steps
        ));
    }
    Ok(())
}

/// Plausible wrong answers, which the checkers must reject.
pub mod mistakes {
    use lab::chaos::gaussian_expectation;

    pub fn relu_without_half(n_var_w: f64, m: f64, layer: usize) -> f64 {
        (m * n_var_w.powi(layer as i32)).sqrt()
    }

    pub fn relu_half_everywhere(n_var_w: f64, m: f64, layer: usize) -> f64 {
        (m * (0.5 * n_var_w).powi(layer as i32)).sqrt()
    }

    pub fn relu_variance_not_std(n_var_w: f64, m: f64, layer: usize) -> f64 {
        n_var_w * m * (0.5 * n_var_w).powi(layer as i32 - 1)
    }

    pub fn xavier_fan_in_only(fan_in: usize, _fan_out: usize, gain: f64) -> candle_nn::Init {
        let a = gain * (6.0 / fan_in as f64).sqrt();
        candle_nn::Init::Uniform { lo: -a, up: a }
    }

    pub fn xavier_std_as_bound(fan_in: usize, fan_out: usize, gain: f64) -> candle_nn::Init {
        let a = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
        candle_nn::Init::Uniform { lo: -a, up: a }
    }

    pub fn xavier_as_kaiming(_fan_in: usize, _fan_out: usize, _gain: f64) -> candle_nn::Init {
        use candle_nn::init::{FanInOut, NonLinearity, NormalOrUniform};
        candle_nn::Init::Kaiming {
            dist: NormalOrUniform::Uniform,
            fan: FanInOut::FanIn,
            non_linearity: NonLinearity::Tanh,
        }
    }

    fn fixed_point(sigma_w2: f64, sigma_b2: f64) -> f64 {
        lab::chaos::fixed_point_q(lab::Activation::Tanh, sigma_w2, sigma_b2).expect("tanh's variance map is bounded")
    }

    pub fn one_shared_offset(net: &lab::Mlp, seed: u64) -> anyhow::Result<()> {
        let mut rng = lab::init::rng(seed);
        for layer in &net.layers {
            let offset = lab::Init::XAVIER.tensor(1, 1, &mut rng, &lab::DEVICE)?.to_vec2::<f32>()?[0][0] as f64;
            layer.weight.set(&(layer.weight.as_tensor() + offset)?)?;
        }
        Ok(())
    }

    pub fn first_layer_only(net: &lab::Mlp, seed: u64) -> anyhow::Result<()> {
        let (fan_out, fan_in) = net.layers[0].weight.dims2()?;
        let weight = lab::Init::XAVIER.tensor(fan_out, fan_in, &mut lab::init::rng(seed), &lab::DEVICE)?;
        Ok(net.layers[0].weight.set(&weight)?)
    }

    pub fn chi1_at_unit_q(sigma_w2: f64, _sigma_b2: f64) -> f64 {
        sigma_w2 * gaussian_expectation(|z| (1.0 - z.tanh().powi(2)).powi(2), 1.0)
    }

    pub fn chi1_without_bias(sigma_w2: f64, _sigma_b2: f64) -> f64 {
        let q = fixed_point(sigma_w2, 0.0);
        sigma_w2 * gaussian_expectation(|z| (1.0 - z.tanh().powi(2)).powi(2), q)
    }

    pub fn chi1_of_the_activation(sigma_w2: f64, sigma_b2: f64) -> f64 {
        let q = fixed_point(sigma_w2, sigma_b2);
        sigma_w2 * gaussian_expectation(|z| z.tanh().powi(2), q)
    }
}

chapter_kit::every_exercise_is_sound!(EXERCISES);
