//! The thresholds of the verdicts, and the measurements in the book that set them.

use anyhow::{Result, ensure};
use serde::{Deserialize, Serialize};

/// Where each verdict starts. The defaults come from the book's measurements; the field docs say which.
/// Chapter 9 of the book ("Diagnosing a network that won't learn") shows each on a broken network and
/// its fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// **Vanishing** when the first layer's gradient (RMS entry of ∂L/∂W, or the first probe's
    /// per-example ‖∂L/∂h‖) is below this fraction of the last one's. Default 1e-2. Chapter 2 ("How
    /// fast it vanishes: depth against theory") measures the sigmoid's ratio falling by a factor of
    /// about 0.24 a layer, so a sigmoid network crosses 1e-2 with four layers — where chapter 2's
    /// "Depth against a fixed budget" finds accuracy already falling; tanh at LeCun init, which trains,
    /// stays within a factor of about 3 at depth 50, and He-initialised ReLU networks (chapter 4)
    /// within a factor of 2.
    pub vanishing_ratio: f64,
    /// **Exploding** when that ratio is above this. Default 1e2, the mirror image: chapter 4 ("He et
    /// al.: rectifiers, thirty layers deep") measures a variance-preserving ReLU network within a
    /// factor of 2 of flat, and chapter 5 ("The surprise: BatchNorm makes gradients explode")
    /// measures growth towards the input of a few percent to tens of percent per layer, which makes
    /// two orders of magnitude over a deep stack.
    pub exploding_ratio: f64,
    /// **Saturation** when more than this fraction of a tapped sigmoid/tanh layer's values lie within
    /// 0.03 of an asymptote ([`crate::stats::SATURATION_MARGIN`], the book's margin). Default 0.5. Chapter 2 ("Saturation in action: Glorot & Bengio's
    /// experiment") shows the top sigmoid layer of a standard-initialised network pinned at zero, with
    /// nearly all its values past the margin; a healthy layer has a few percent there.
    pub saturated_fraction: f64,
    /// **Dead units** when more than this fraction of a tapped ReLU layer's units are zero on every
    /// example of the batch. Default 0.3. Chapter 3 ("Dying ReLU after a too-large learning rate"):
    /// a spike of learning rate switches off between a third and a half of the units, while the
    /// control network trained at a normal rate keeps more than 85 % alive.
    pub dead_fraction: f64,
    /// **Batch statistics at evaluation** when a model's outputs change by more than this fraction of
    /// their largest size between one batch and batches of two ([`crate::Doctor::check_eval`]). Default
    /// 1e-3: in evaluation mode the change is floating-point rounding (about 1e-6); chapter 5
    /// ("Forgetting evaluation mode, measured") shows what training mode does at small batches —
    /// accuracy at chance at batch 1 and far below evaluation mode at batch 2.
    pub batch_dependence: f64,
    /// **Learning rate too high** when the largest layer's log10 update:data ratio (lr·‖g‖/‖w‖,
    /// averaged over the window) is above this. Default −1: every step moves some layer's weights by
    /// more than a tenth of their size. The healthy networks of chapter 9 sit between −4 and −2; the
    /// rule of thumb of about −3 is Karpathy's (see the crate docs).
    pub update_high_log10: f64,
    /// **Learning rate too low** when even the largest layer's log10 update:data ratio is below this.
    /// Default −5: a hundredth of the slowest healthy layer in chapter 9, where a thousand steps change
    /// no weight by more than a percent.
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
