//! The thresholds of the verdicts, and the measurements in the book that set them.

use anyhow::{Result, ensure};
use serde::{Deserialize, Serialize};

/// Where each verdict starts. The defaults come from measurements in the book; each field says which.
/// "The five fixes" are chapter 9's healthy networks (`ch09-diagnosis`, `cargo run --release -p
/// ch09-diagnosis --example five_networks`), the networks the book's remedies produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// **Vanishing** when the first layer's gradient (the RMS entry of its bias gradient, or the first
    /// probe's per-example ‖∂L/∂h‖) is below this fraction of the last one's. Default 1e-2. Chapter 2
    /// ("How fast it vanishes: depth against theory", `figures/ch02/depth-sweep.json`) measures the
    /// sigmoid's ratio falling by a factor of about 0.235 a layer, so a sigmoid network is past 1e-2
    /// from four layers on — where "Depth against a fixed budget" finds accuracy already falling — and
    /// tanh, which trains, falls only to about a third at depth 50. The five fixes measure between
    /// 0.15 and 2.4; the broken deep sigmoid MLP and tanh RNN about 1e-9.
    pub vanishing_ratio: f64,
    /// **Exploding** when that ratio is above this. Default 1e2, the mirror image of the vanishing
    /// threshold: the five fixes stay below 2.4, and the ReLU network at ten times He's scale measures
    /// 10^5.4 at its first step (each layer multiplies the backward signal by about 10; chapter 4,
    /// "He et al.: rectifiers, thirty layers deep", derives the factor from the weight variance).
    pub exploding_ratio: f64,
    /// **Saturation** when more than this fraction of a tapped sigmoid/tanh layer's values lie within
    /// 0.03 of an asymptote ([`crate::SATURATION_MARGIN`], the book's margin). Default 0.5: a layer
    /// where most units pass back a tenth of the peak slope or less. Chapter 2 ("Saturation in action:
    /// Glorot & Bengio's experiment") shows the top sigmoid layer of a standard-initialised network
    /// driven to zero and staying there; the five fixes have no saturated values.
    pub saturated_fraction: f64,
    /// **Dead units** when more than this fraction of a tapped ReLU layer's units are zero on every
    /// example of the batch. Default 0.3. Chapter 3 ("Dying ReLU after a too-large learning rate"): a
    /// spike of learning rate switches off between a third and a half of the units. Healthy ReLU
    /// layers of width 32 have up to 0.22 of their units silent on a batch of 32 in the five fixes —
    /// the margin is thin for narrow layers and small batches: raise the threshold there.
    pub dead_fraction: f64,
    /// **Batch statistics at evaluation** when a model's outputs change by more than this fraction of
    /// their largest size between one batch and batches of two ([`crate::Doctor::check_eval`]). Default
    /// 1e-3: in evaluation mode the change is floating-point rounding (3e-7 in chapter 9's BatchNorm
    /// network), in training mode it is of the order of the outputs themselves (0.98); chapter 5
    /// ("Forgetting evaluation mode, measured") shows what that does to accuracy at small batches.
    pub batch_dependence: f64,
    /// **Learning rate too high** when the largest layer's log10 update:data ratio (lr·‖g‖/‖w‖,
    /// averaged over the window) is above this. Default −1: a step moves some layer's weights by more
    /// than a tenth of their size. Karpathy's makemore part 3 notebook plots the same ratio (the
    /// standard deviation of lr·g over that of the weights) against a line at 1e-3 with the comment
    /// "these ratios should be ~1e-3"; the five fixes' largest layers sit between 10^−2.3 and 10^−1.8.
    pub update_high_log10: f64,
    /// **Learning rate too low** when even the largest layer's log10 update:data ratio is below this
    /// (and nothing else is wrong). Default −5: about a five-hundredth of the five fixes' largest layers, where a
    /// thousand steps move no weight matrix by more than a percent.
    pub update_low_log10: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            vanishing_ratio: 1e-2,
            exploding_ratio: 1e2,
            saturated_fraction: 0.5,
            dead_fraction: 0.3,
            batch_dependence: 1e-3,
            update_high_log10: -1.0,
            update_low_log10: -5.0,
        }
    }
}

impl Thresholds {
    /// Checks that the thresholds are consistent.
    pub fn validate(&self) -> Result<()> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        ensure!(
            positive(self.vanishing_ratio)
                && positive(self.exploding_ratio)
                && self.vanishing_ratio < self.exploding_ratio,
            "the vanishing ratio ({}) must be below the exploding ratio ({}), both positive",
            self.vanishing_ratio,
            self.exploding_ratio
        );
        for (name, f) in [("saturated", self.saturated_fraction), ("dead", self.dead_fraction)] {
            ensure!((0.0..1.0).contains(&f), "the {name} fraction must lie in [0, 1), got {f}");
        }
        ensure!(positive(self.batch_dependence), "the batch dependence threshold must be positive");
        ensure!(
            self.update_low_log10 < self.update_high_log10 && self.update_high_log10.is_finite(),
            "update_low_log10 ({}) must be below update_high_log10 ({})",
            self.update_low_log10,
            self.update_high_log10
        );
        Ok(())
    }
}
