//! Reference solutions of the chapter 7 exercises (shown collapsed in the book).

// ANCHOR: exercise_7_1
/// s₁(W)² is the largest eigenvalue of WᵀW, found by power iteration: repeat v ← WᵀW v / ‖WᵀW v‖.
/// Each Jacobian factor diag(φ′)·W has norm at most γ·s₁, and norms of products are at most the
/// products of norms.
pub fn pascanu_bound(w: &[Vec<f64>], gamma: f64, lag: usize) -> f64 {
    let n = w.len();
    let mut v = vec![1.0; n];
    let mut s1_squared = 0.0;
    for _ in 0..500 {
        let wv: Vec<f64> = (0..n).map(|i| (0..n).map(|j| w[i][j] * v[j]).sum()).collect();
        let wtwv: Vec<f64> = (0..n).map(|j| (0..n).map(|i| w[i][j] * wv[i]).sum()).collect();
        let norm = wtwv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return if lag == 0 { 1.0 } else { 0.0 };
        }
        s1_squared = norm / v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = wtwv.iter().map(|x| x / norm).collect();
    }
    (gamma * s1_squared.sqrt()).powi(lag as i32)
}
// ANCHOR_END: exercise_7_1

// ANCHOR: exercise_7_2
/// One norm over every entry of every tensor; one scale factor for all of them, so the update keeps
/// its direction.
pub fn clip_by_global_norm(grads: &mut [Vec<f64>], max: f64) -> f64 {
    let norm = grads.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
    if norm > max {
        let scale = max / norm;
        grads.iter_mut().flatten().for_each(|g| *g *= scale);
    }
    norm
}
// ANCHOR_END: exercise_7_2

// ANCHOR: exercise_7_3
/// ∂c_k/∂c_{k−1} = diag(f_k) when the gates are held fixed, so the path from t to T multiplies the
/// forget gates of steps t + 1, …, T — not f_t, which acted before c_t existed.
pub fn carousel_gain(forget: &[Vec<f64>], t: usize) -> Vec<f64> {
    let mut gain = vec![1.0; forget[0].len()];
    for f in &forget[t + 1..] {
        gain.iter_mut().zip(f).for_each(|(g, f)| *g *= f);
    }
    gain
}
// ANCHOR_END: exercise_7_3

// ANCHOR: exercise_7_4
/// σ(3) ≈ 0.95, so the cell state keeps 0.95²⁰ ≈ 0.36 of itself over 20 steps at initialisation;
/// with σ(1) ≈ 0.73 it would keep 0.73²⁰ ≈ 2·10⁻³ (exercise 7.3's carousel gain).
pub fn forget_bias() -> f64 {
    3.0
}
// ANCHOR_END: exercise_7_4
