//! Reference solutions of the chapter 4 exercises (shown collapsed in the book).

// ANCHOR: exercise_4_1
/// Var z¹ = n·Var(W)·E[x²]: the inputs are not ReLU outputs. Every later layer sees ReLU outputs,
/// whose second moment is half the previous pre-activation's variance, so it multiplies the variance
/// by ½·n·Var(W).
pub fn relu_pre_activation_std(n_var_w: f64, input_second_moment: f64, layer: usize) -> f64 {
    let variance = n_var_w * input_second_moment * (0.5 * n_var_w).powi(layer as i32 - 1);
    variance.sqrt()
}
// ANCHOR_END: exercise_4_1

// ANCHOR: exercise_4_2
/// A uniform on ±a has variance a²/3, so a = gain·√(6 / (fan_in + fan_out)).
pub fn xavier_uniform(fan_in: usize, fan_out: usize, gain: f64) -> candle_nn::Init {
    let a = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
    candle_nn::Init::Uniform { lo: -a, up: a }
}
// ANCHOR_END: exercise_4_2

// ANCHOR: exercise_4_3
/// Iterate the variance map until it stops moving, then average the squared slope at q*.
pub fn tanh_chi1(sigma_w2: f64, sigma_b2: f64) -> f64 {
    use lab::chaos::gaussian_expectation;
    let mut q = 1.0;
    for _ in 0..100_000 {
        let next = sigma_w2 * gaussian_expectation(|z| z.tanh().powi(2), q) + sigma_b2;
        let settled = (next - q).abs() <= 1e-15 * q.max(1e-300);
        q = next;
        if settled {
            break;
        }
    }
    sigma_w2 * gaussian_expectation(|z| (1.0 - z.tanh().powi(2)).powi(2), q)
}
// ANCHOR_END: exercise_4_3

// ANCHOR: exercise_4_4
/// Every hidden layer needs its own random draw: a layer whose units share their incoming weights
/// hands them the same gradient, whatever the layers around it do. (The head may stay constant:
/// its units, one per class, get different errors from the first step.)
pub fn break_symmetry(net: &lab::Mlp, seed: u64) -> anyhow::Result<()> {
    let mut rng = lab::init::rng(seed);
    for layer in net.hidden() {
        let (fan_out, fan_in) = layer.weight.dims2()?;
        let weight = lab::Init::XAVIER.tensor(fan_out, fan_in, &mut rng, &lab::DEVICE)?;
        layer.weight.set(&weight)?;
    }
    Ok(())
}
// ANCHOR_END: exercise_4_4
