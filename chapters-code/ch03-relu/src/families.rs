//! The networks the chapter compares: an activation with fan-in-scaled Gaussian weights N(0, σ_w²/n)
//! and zero biases ([`NetFamily`]), optionally with a learning rate ([`TrainedFamily`]), and their
//! flags: `activation@σ_w²` and `activation@σ_w²:learning_rate`.

use crate::shapes::label;
use lab::init::Fan;
use lab::{Activation, Init, MlpConfig};
use serde::Serialize;

/// He-style fan-in init with σ_w² = `gain2`: N(0, gain2/n).
pub fn fan_in_init(gain2: f64) -> Init {
    Init::HeNormal { gain: gain2.sqrt(), fan: Fan::In }
}

/// One network family of the profile figures.
#[derive(Debug, Clone, Serialize)]
pub struct NetFamily {
    pub label: String,
    pub activation: Activation,
    /// σ_w² of the N(0, σ_w²/n) weights.
    pub weight_gain2: f64,
}

impl NetFamily {
    pub fn new(activation: Activation, weight_gain2: f64) -> NetFamily {
        NetFamily {
            label: format!("{}, σ_w² = {}", label(activation), fmt_gain2(weight_gain2)),
            activation,
            weight_gain2,
        }
    }

    /// The activation with its recommended σ_w² (`lab::init::gain` squared).
    pub fn recommended(activation: Activation) -> NetFamily {
        NetFamily::new(activation, lab::init::gain(activation).powi(2))
    }

    pub fn config(&self, d_in: usize, width: usize, depth: usize, classes: usize) -> MlpConfig {
        MlpConfig::new(d_in, width, depth, classes, self.activation, fan_in_init(self.weight_gain2))
    }
}

/// The flag form [`family`] reads back: `activation@σ_w²`, or the activation alone when σ_w² is its
/// recommended one.
impl std::fmt::Display for NetFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.weight_gain2 == lab::init::gain(self.activation).powi(2) {
            write!(f, "{}", self.activation)
        } else {
            write!(f, "{}@{}", self.activation, self.weight_gain2)
        }
    }
}

fn fmt_gain2(g: f64) -> String {
    if (g - 25.0 / 9.0).abs() < 1e-12 {
        return "25/9".into();
    }
    // Four significant digits, trailing zeros dropped: √2² prints as 2, not 2.0000000000000004.
    let s = format!("{:.4}", g);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One network trained in Figure 3-4.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedFamily {
    pub family: NetFamily,
    /// Learning rate of momentum SGD.
    pub lr: f64,
}

/// The flag form [`trained_family`] reads back: `activation@σ_w²:learning_rate`.
impl std::fmt::Display for TrainedFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.family, self.lr)
    }
}

/// A network family `activation@σ_w²`, e.g. `relu@2` (weights N(0, 2/n)); `relu` alone takes the
/// activation's recommended σ_w² (`lab::init::gain` squared: 2 for ReLU, 25/9 for tanh, 1 for sigmoid).
pub fn family(s: &str) -> Result<NetFamily, String> {
    let (act, gain2) = match s.split_once('@') {
        Some((a, g)) => (a, Some(g)),
        None => (s, None),
    };
    let act: Activation = chapter_kit::cli::activation(act)?;
    let gain2 = match gain2 {
        Some(g) => chapter_kit::cli::finite_positive_f64(g).map_err(|e| format!("σ_w² after `@` {e}"))?,
        None => lab::init::gain(act).powi(2),
    };
    Ok(NetFamily::new(act, gain2))
}

/// A network family with a learning rate, `activation@σ_w²:lr`, e.g. `relu@2:0.01`.
pub fn trained_family(s: &str) -> Result<TrainedFamily, String> {
    let Some((fam, lr)) = s.rsplit_once(':') else {
        return Err(format!("expected activation@σ_w²:learning_rate (e.g. relu@2:0.01), got `{s}`"));
    };
    // `leaky_relu:0.1` has a colon of its own: `leaky_relu:0.1@2:0.01` splits at the last one.
    let lr = chapter_kit::cli::finite_positive_f64(lr).map_err(|e| format!("learning rate {e}"))?;
    Ok(TrainedFamily { family: family(fam)?, lr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_good_values_and_explain_bad_ones() {
        let f = family("relu@2").unwrap();
        assert_eq!((f.activation, f.weight_gain2), (Activation::Relu, 2.0));
        assert_eq!(family("tanh").unwrap().weight_gain2, lab::init::gain(Activation::Tanh).powi(2));
        assert_eq!(family("leaky_relu:0.1@2").unwrap().activation, Activation::LeakyRelu(0.1));
        assert!(family("relu@-1").unwrap_err().contains("must be a finite positive number, got `-1`"));
        assert!(family("swish@1").unwrap_err().contains("unknown activation `swish`"));
        let t = trained_family("leaky_relu:0.1@2:0.01").unwrap();
        assert_eq!((t.family.activation, t.lr), (Activation::LeakyRelu(0.1), 0.01));
        assert!(trained_family("relu@2").unwrap_err().contains("expected activation@σ_w²:learning_rate"));
        assert!(
            trained_family("leaky_relu:0.1@2")
                .unwrap_err()
                .contains("learning rate must be a finite positive number, got `0.1@2`")
        );
    }

    #[test]
    fn the_flag_form_reads_back_exactly() {
        // The flags' defaults are written as families and read back through the parsers.
        for s in ["relu", "relu@2", "tanh", "tanh@1", "sigmoid", "leaky_relu:0.1@2", "gelu@0.3333333333333333"] {
            let f = family(s).unwrap();
            let back = family(&f.to_string()).unwrap();
            assert_eq!(
                (back.activation, back.weight_gain2.to_bits(), &back.label),
                (f.activation, f.weight_gain2.to_bits(), &f.label),
                "{s}"
            );
        }
        assert_eq!(NetFamily::new(Activation::Relu, 2.0).to_string(), "relu@2");
        assert_eq!(NetFamily::recommended(Activation::Tanh).to_string(), "tanh");
        let t = trained_family("tanh:0.01").unwrap();
        assert_eq!(t.to_string(), "tanh:0.01");
    }
}
