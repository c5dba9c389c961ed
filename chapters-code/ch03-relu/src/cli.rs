//! Flag parsers of the chapter's examples, on top of `chapter_kit::cli`: one clear error line for bad input.

use crate::figures::NetFamily;
use lab::Activation;

/// A depth of at least 2 (a ratio of two layers needs two).
pub fn depth_at_least_2(s: &str) -> Result<usize, String> {
    match chapter_kit::cli::positive_usize(s) {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err(format!("must be an integer ≥ 2, got `{s}`")),
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
pub fn trained_family(s: &str) -> Result<crate::figures::TrainedFamily, String> {
    let Some((fam, lr)) = s.rsplit_once(':') else {
        return Err(format!("expected activation@σ_w²:learning_rate (e.g. relu@2:0.01), got `{s}`"));
    };
    // `leaky_relu:0.1` has a colon of its own: `leaky_relu:0.1@2:0.01` splits at the last one.
    let lr = chapter_kit::cli::finite_positive_f64(lr).map_err(|e| format!("learning rate {e}"))?;
    Ok(crate::figures::TrainedFamily { family: family(fam)?, lr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_good_values_and_explain_bad_ones() {
        assert_eq!(depth_at_least_2("2"), Ok(2));
        assert!(depth_at_least_2("1").unwrap_err().contains("≥ 2, got `1`"));
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
}
