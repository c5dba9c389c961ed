//! Reference solutions of the chapter 5 exercises (shown collapsed in the book).

/// Per-feature mean of the rows of `x`.
fn column_means(x: &[Vec<f64>]) -> Vec<f64> {
    let b = x.len() as f64;
    (0..x[0].len()).map(|j| x.iter().map(|row| row[j]).sum::<f64>() / b).collect()
}

// ANCHOR: exercise_5_1
/// The biased (1/B) variance: the batch is normalised with its own statistics, not an estimate of the
/// population's.
pub fn batch_norm_train(x: &[Vec<f64>], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<Vec<f64>> {
    let b = x.len() as f64;
    let mean = column_means(x);
    let var: Vec<f64> =
        (0..mean.len()).map(|j| x.iter().map(|row| (row[j] - mean[j]).powi(2)).sum::<f64>() / b).collect();
    x.iter()
        .map(|row| (0..row.len()).map(|j| gamma[j] * (row[j] - mean[j]) / (var[j] + eps).sqrt() + beta[j]).collect())
        .collect()
}
// ANCHOR_END: exercise_5_1

// ANCHOR: exercise_5_2
/// new = (1 − momentum)·old + momentum·batch, with the batch's *unbiased* variance (1/(B − 1)).
pub fn running_update(
    running_mean: &[f64],
    running_var: &[f64],
    x: &[Vec<f64>],
    momentum: f64,
) -> (Vec<f64>, Vec<f64>) {
    let b = x.len() as f64;
    let mean = column_means(x);
    let unbiased: Vec<f64> =
        (0..mean.len()).map(|j| x.iter().map(|row| (row[j] - mean[j]).powi(2)).sum::<f64>() / (b - 1.0)).collect();
    let mix =
        |old: &[f64], new: &[f64]| old.iter().zip(new).map(|(o, n)| (1.0 - momentum) * o + momentum * n).collect();
    (mix(running_mean, &mean), mix(running_var, &unbiased))
}
// ANCHOR_END: exercise_5_2

// ANCHOR: exercise_5_3
/// The least-squares slope b of ln v against l is ln(v_{l+1}/v_l); towards the input the profile grows
/// by e^(−b) per layer.
pub fn growth_towards_input(profile: &[f64], skip: usize) -> f64 {
    let ys: Vec<f64> = profile[skip..profile.len() - skip].iter().map(|v| v.ln()).collect();
    let n = ys.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = ys.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (l, y) in ys.iter().enumerate() {
        sxy += (l as f64 - mean_x) * (y - mean_y);
        sxx += (l as f64 - mean_x).powi(2);
    }
    (-sxy / sxx).exp()
}
// ANCHOR_END: exercise_5_3

// ANCHOR: exercise_5_4
/// BatchNorm puts every layer's pre-activations at mean 0 and variance 1 (times γ), where the
/// sigmoid's slope is largest. Rates from 0.01 to 3, a factor of about 3 apart: 0.03, 0.1 and 0.3
/// pass; 0.01 is too slow and 1 too rough for this budget. Without BatchNorm every one of them stays
/// at chance.
pub fn normalise_and_choose_rate() -> (lab::Norm, f64) {
    (lab::Norm::Batch, 0.1)
}
// ANCHOR_END: exercise_5_4
