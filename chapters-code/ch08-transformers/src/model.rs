//! The transformers the chapter compares: the default model's size ([`ModelOptions`], small enough
//! for 2 cores) and the four ways of placing the normalisation ([`Arch`]).

use chapter_kit::cli;
use lab::transformer::TransformerConfig;
use serde::Serialize;

/// The chapter's default model: small enough for 2 cores.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct ModelOptions {
    /// Vocabulary size V of the sequence task.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub vocab: usize,
    /// Positions T per sequence.
    #[arg(long, default_value_t = 16, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub seq_len: usize,
    /// Width of the residual stream (d_ff = 4·d_model); a multiple of --heads.
    #[arg(long, default_value_t = 32, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub d_model: usize,
    /// Attention heads per block.
    #[arg(long, default_value_t = 4, value_parser = cli::positive_usize, allow_negative_numbers = true)]
    pub heads: usize,
}
chapter_kit::defaults_from_flags!(ModelOptions);

impl ModelOptions {
    /// A Post-LN config of `blocks` blocks (d_ff = 4·d_model).
    pub fn config(&self, blocks: usize) -> TransformerConfig {
        TransformerConfig::new(self.vocab, self.seq_len, self.d_model, self.heads, blocks)
    }

    /// Checks the combination of flags: the heads must split the width evenly.
    pub fn ensure_valid(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.d_model.is_multiple_of(self.heads),
            "--d-model ({}) must be a multiple of --heads ({})",
            self.d_model,
            self.heads
        );
        anyhow::ensure!(self.vocab >= 2, "--vocab must be at least 2, got {}", self.vocab);
        Ok(())
    }
}

/// One architecture the chapter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Post-LN: normalise after every residual add (Vaswani et al. 2017).
    PostLn,
    /// Pre-LN: normalise each branch's input, and the stream once before the head.
    PreLn,
    /// Pre-LN with W_O and W₂ drawn ×1/√(2N).
    PreLnScaled,
    /// Post-LN with DeepNorm's α and β.
    DeepNorm,
}

impl Arch {
    pub fn name(&self) -> &'static str {
        match self {
            Arch::PostLn => "Post-LN",
            Arch::PreLn => "Pre-LN",
            Arch::PreLnScaled => "Pre-LN, 1/√(2N)",
            Arch::DeepNorm => "DeepNorm",
        }
    }

    pub fn apply(&self, c: TransformerConfig) -> TransformerConfig {
        match self {
            Arch::PostLn => c.post_ln(),
            Arch::PreLn => c.pre_ln(),
            Arch::PreLnScaled => c.pre_ln().gpt2_scaled(),
            Arch::DeepNorm => c.deepnorm(),
        }
    }
}
