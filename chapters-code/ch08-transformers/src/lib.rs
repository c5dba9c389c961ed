#![doc = include_str!("../../../src/08-transformers.md")]

pub mod gradients;
pub mod saturation;
pub mod warmup;

pub use gradients::{Arch, LnOptions, ModelOptions, StreamOptions, ln_figures, stream_figures};
pub use saturation::{SaturationOptions, saturation_figure};
pub use warmup::{WarmupOptions, warmup_figures};

use lab::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator { chapter: "ch08", name: "ln-gradients", run: |o| ln_figures(&LnOptions::default(), o) },
    Generator { chapter: "ch08", name: "residual-stream", run: |o| stream_figures(&StreamOptions::default(), o) },
    Generator { chapter: "ch08", name: "warmup", run: |o| warmup_figures(&WarmupOptions::default(), o) },
    Generator {
        chapter: "ch08",
        name: "attention-saturation",
        run: |o| saturation_figure(&SaturationOptions::default(), o),
    },
];
