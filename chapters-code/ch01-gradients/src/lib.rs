#![doc = include_str!("../../../src/01-gradients.md")]
//!
//! ## The crate
//!
//! One module per figure family, each an [`Experiment`](chapter_kit::Experiment) whose example is
//! `examples/<name>.rs`:
//!
//! - [`descent`]: gradient descent on least squares at fractions of the stability limit (Figure 1-1,
//!   `descent`);
//! - [`gradcheck`]: finite-difference gradient checks and their error against the step (Figure 1-2,
//!   `gradcheck`);
//! - [`chain`]: the chain rule as a product of per-layer factors (Figure 1-3, `chain`).
//!
//! The exercises: [`exercises`] (stubs), [`solutions`], [`checks`] (checkers and registry). [`primer`]
//! holds the listings of the page before the chapter.

pub mod chain;
pub mod checks;
pub mod descent;
pub mod exercises;
pub mod gradcheck;
pub mod solutions;

/// The page before chapter 1, "The Rust and candle you need" (`src/rust-and-candle.md`): its
/// listings are this module's doctests (`cargo test -p ch01-gradients --doc primer`).
pub mod primer {
    #![doc = include_str!("../../../src/rust-and-candle.md")]
}

pub use chain::{ChainOptions, ChainProduct};
pub use descent::{Descent, DescentOptions};
pub use gradcheck::{Gradcheck, GradcheckOptions};

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] =
    &[Generator::of::<Descent>(), Generator::of::<Gradcheck>(), Generator::of::<ChainProduct>()];
chapter_kit::quick_runs_agree_with_the_committed_figures!(GENERATORS);

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::Experiment;
    use chapter_kit::figure::GenOptions;

    #[test]
    fn quick_runs_show_what_the_chapter_says() -> anyhow::Result<()> {
        // Below the stability limit the loss falls from the first step; above it, it grows.
        let descent = Descent::run(&DescentOptions::default(), &GenOptions::QUICK)?;
        for r in &descent.runs {
            let (first, last) = (r.losses[0], r.losses[r.losses.len() - 1]);
            assert_eq!(last < first, r.fraction < 1.0, "η = {} × limit: {first} → {last}", r.fraction);
        }
        // The sigmoid chain at the report depth sits below 4⁻ᴸ.
        let chain = ChainProduct::run(&ChainOptions::default(), &GenOptions::QUICK)?;
        assert!(chain.sigmoid_at_report < chain.bound[chain.report_depth - 1]);
        // At large steps truncation dominates: the f64 error shrinks as h does.
        let check = Gradcheck::run(&GradcheckOptions::default(), &GenOptions::QUICK)?;
        assert!(check.rows.windows(2).all(|w| w[1].f64 < w[0].f64), "{:?}", check.rows);
        Ok(())
    }
}
