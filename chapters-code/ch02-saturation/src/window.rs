//! The closed forms of the chapter's first half: the slope of the sigmoid, the bound ∏σ′ ≤ 4⁻ᴸ, and
//! the narrow window of inputs in which a single factor |w·σ′(wa + b)| can reach 1.
//!
//! Nielsen (NNDL ch. 5, the problem at the end of "What's causing the vanishing gradient problem?")
//! asks for the set of inputs `a` with |w·σ′(wa + b)| ≥ 1. Since σ′ ≤ ¼ this needs |w| ≥ 4, and then
//! the set is an interval of width
//!
//! ```text
//! (2/|w|) · ln( |w|(1 + √(1 − 4/|w|))/2 − 1 )
//! ```
//!
//! [`window_width`] is that formula; [`window_width_numeric`] finds the interval's ends by bisection
//! on σ′ itself, so the tests compare two independent computations. The width is largest, about 0.45,
//! at |w| ≈ 6.9 ([`widest_window`]).

use lab::Activation;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

/// σ(z) = 1/(1 + e⁻ᶻ).
pub fn sigmoid(z: f64) -> f64 {
    Activation::Sigmoid.value(z)
}

/// σ′(z) = σ(z)(1 − σ(z)).
pub fn sigmoid_prime(z: f64) -> f64 {
    Activation::Sigmoid.derivative(z)
}

/// The largest value of |w·σ′(wa + b)| over all inputs a: |w|/4, reached where wa + b = 0.
pub fn max_factor(w: f64) -> f64 {
    w.abs() / 4.0
}

/// The bound ∏ₗ σ′(zˡ) ≤ 4⁻ᴸ for L = 1..=depth.
pub fn product_bound(depth: usize) -> Vec<f64> {
    (1..=depth as i32).map(|l| 0.25f64.powi(l)).collect()
}

/// The pre-activation beyond which a unit counts as saturated (|f(z)| within 0.03 of an asymptote):
/// σ(z) > 0.97 for z > ln(0.97/0.03) ≈ 3.48; |tanh z| > 0.97 for |z| > atanh 0.97 ≈ 2.09.
pub fn saturation_threshold(act: Activation) -> Option<f64> {
    let m = lab::act::SATURATION_MARGIN;
    match act {
        Activation::Sigmoid => Some(((1.0 - m) / m).ln()),
        Activation::Tanh => Some((1.0 - m).atanh()),
        _ => None,
    }
}

/// The closed-form width of the interval of inputs `a` where |w·σ′(wa + b)| ≥ 1; `None` when |w| < 4
/// (the factor can never reach 1). The width does not depend on b, which only shifts the interval.
pub fn window_width(w: f64) -> Option<f64> {
    let w = w.abs();
    if w < 4.0 {
        return None;
    }
    Some((2.0 / w) * (w * (1.0 + (1.0 - 4.0 / w).sqrt()) / 2.0 - 1.0).ln())
}

/// The interval `[a₋, a₊]` of inputs where |w·σ′(wa + b)| ≥ 1, found by bisection on
/// g(a) = |w|σ′(wa + b) − 1 from the peak a₀ = −b/w outwards (60 halvings each side, so the ends are
/// exact to f64 precision). `None` when the peak |w|/4 is below 1.
pub fn window_numeric(w: f64, b: f64) -> Option<(f64, f64)> {
    if w == 0.0 || max_factor(w) < 1.0 {
        return None;
    }
    let g = |a: f64| w.abs() * sigmoid_prime(w * a + b) - 1.0;
    let peak = -b / w;
    // σ′(z) < e^(−|z|), so g < 0 once |w|·e^(−|w||a − a₀|) < 1: step out until then.
    let reach = (w.abs().ln() + 1.0) / w.abs();
    let bisect = |inside: f64, outside: f64| {
        let (mut lo, mut hi) = (inside, outside);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if g(mid) >= 0.0 { lo = mid } else { hi = mid }
        }
        0.5 * (lo + hi)
    };
    Some((bisect(peak, peak - reach), bisect(peak, peak + reach)))
}

/// The width of [`window_numeric`]'s interval.
pub fn window_width_numeric(w: f64, b: f64) -> Option<f64> {
    window_numeric(w, b).map(|(lo, hi)| hi - lo)
}

/// The weight magnitude |w| that maximises [`window_width`], and that width, by golden-section search
/// on [4, 50] (the width is unimodal there: 0 at |w| = 4, falling like 2 ln|w|/|w| for large |w|).
pub fn widest_window() -> (f64, f64) {
    let f = |w: f64| window_width(w).unwrap_or(0.0);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (4.0, 50.0);
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    for _ in 0..200 {
        if f(c) > f(d) {
            b = d;
        } else {
            a = c;
        }
        c = b - phi * (b - a);
        d = a + phi * (b - a);
    }
    let w = 0.5 * (a + b);
    (w, f(w))
}

/// Percentiles of |∏ₗ w·σ′(zˡ)| over random scalar chains, per depth.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStats {
    /// Standard deviation of the weights (biases are N(0, 1), the first input U(0, 1)).
    pub weight_std: f64,
    pub chains: usize,
    /// Median of the product at depth 1, 2, …
    pub median: Vec<f64>,
    /// 90th percentile of the product at depth 1, 2, …
    pub p90: Vec<f64>,
    /// Fraction of the layers' factors |w·σ′(z)| that were ≥ 1.
    pub factors_at_least_one: f64,
}

/// Runs `chains` random chains aˡ = σ(wˡaˡ⁻¹ + bˡ) of length `depth` with wˡ ~ N(0, weight_std²),
/// bˡ ~ N(0, 1) and a⁰ ~ U(0, 1), and summarises |∂aᴸ/∂a⁰| = |∏ wˡσ′(zˡ)| at every depth.
pub fn random_chains(weight_std: f64, depth: usize, chains: usize, rng: &mut impl Rng) -> ChainStats {
    let w_dist = Normal::new(0.0, weight_std).expect("finite std");
    let b_dist = Normal::new(0.0, 1.0).expect("unit normal");
    let mut products = vec![Vec::with_capacity(chains); depth];
    let (mut big, mut total) = (0usize, 0usize);
    for _ in 0..chains {
        let mut a: f64 = rng.random();
        let mut prod = 1.0f64;
        for column in products.iter_mut() {
            let (w, b) = (w_dist.sample(rng), b_dist.sample(rng));
            let z = w * a + b;
            let factor = (w * sigmoid_prime(z)).abs();
            big += usize::from(factor >= 1.0);
            total += 1;
            prod *= factor;
            a = sigmoid(z);
            column.push(prod);
        }
    }
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    let (mut median, mut p90) = (Vec::with_capacity(depth), Vec::with_capacity(depth));
    for column in products.iter_mut() {
        median.push(quantile(column, 0.5));
        p90.push(quantile(column, 0.9));
    }
    ChainStats { weight_std, chains, median, p90, factors_at_least_one: big as f64 / total.max(1) as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_width_matches_bisection_on_sigma_prime() {
        for &w in &[4.01, 4.5, 5.0, 6.0, 6.9, 8.0, 12.0, 25.0, 100.0, -7.5] {
            for &b in &[0.0, -3.0, 2.5] {
                let closed = window_width(w).unwrap();
                let numeric = window_width_numeric(w, b).unwrap();
                assert!((closed - numeric).abs() < 1e-9, "w = {w}, b = {b}: {closed} vs {numeric}");
                // At the ends the factor is exactly 1, inside it is above 1.
                let (lo, hi) = window_numeric(w, b).unwrap();
                for a in [lo, hi] {
                    assert!((w.abs() * sigmoid_prime(w * a + b) - 1.0).abs() < 1e-9);
                }
                assert!(w.abs() * sigmoid_prime(w * (0.5 * (lo + hi)) + b) > 1.0);
            }
        }
    }

    #[test]
    fn no_window_below_four() {
        for w in [0.0, 1.0, 3.999, -2.0] {
            assert!(window_width(w).is_none() && window_numeric(w, 0.3).is_none(), "{w}");
        }
        // Exactly at 4 the window closes to a point.
        assert!(window_width(4.0).unwrap().abs() < 1e-12);
    }

    #[test]
    fn the_widest_window_is_near_w_6_9_and_0_45_wide() {
        let (w, width) = widest_window();
        assert!((w - 6.9).abs() < 0.05, "best |w| = {w}");
        assert!((width - 0.45).abs() < 0.005, "width = {width}");
        // It is a maximum: neighbours are narrower, by the numeric computation too.
        for dw in [-0.3, 0.3] {
            assert!(window_width_numeric(w + dw, 0.0).unwrap() < width);
        }
    }

    #[test]
    fn the_factor_and_the_product_are_bounded() {
        let peak = (-4000..=4000).map(|i| sigmoid_prime(i as f64 / 500.0)).fold(0.0, f64::max);
        assert_eq!(peak, 0.25);
        assert_eq!(max_factor(-6.0), 1.5);
        let bound = product_bound(10);
        assert_eq!(bound[0], 0.25);
        assert!((bound[9] - 1.0 / 1_048_576.0).abs() < 1e-20);
        // Any chain with |w| ≤ 1 stays under the bound.
        let mut rng = lab::init::rng(3);
        let stats = random_chains(0.3, 10, 500, &mut rng);
        for (m, b) in stats.p90.iter().zip(&bound) {
            assert!(m <= b, "{m} > {b}");
        }
        assert_eq!(stats.factors_at_least_one, 0.0);
    }

    #[test]
    fn saturation_thresholds() {
        let s = saturation_threshold(Activation::Sigmoid).unwrap();
        assert!((sigmoid(s) - 0.97).abs() < 1e-12);
        let t = saturation_threshold(Activation::Tanh).unwrap();
        assert!((t.tanh() - 0.97).abs() < 1e-12);
        assert!(saturation_threshold(Activation::Relu).is_none());
    }
}
