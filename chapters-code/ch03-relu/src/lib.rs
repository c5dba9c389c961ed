#![doc = include_str!("../../../src/03-relu.md")]

pub mod born_dead;
pub mod checks;
pub mod cli;
pub mod exercises;
pub mod figures;
pub mod shapes;
pub mod solutions;

pub use figures::*;

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator { chapter: "ch03", name: "activations", run: shapes_figures },
    Generator {
        chapter: "ch03",
        name: "delta-profile",
        run: |o| Ok(vec![profile_figure(&ProfileOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch03",
        name: "delta-training",
        run: |o| Ok(vec![training_figure(&TrainingOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch03",
        name: "depth-accuracy",
        run: |o| Ok(vec![depth_figure(&DepthOptions::default(), o)?]),
    },
    Generator { chapter: "ch03", name: "dying", run: |o| dying_figures(&DyingOptions::default(), o) },
    Generator {
        chapter: "ch03",
        name: "born-dead",
        run: |o| Ok(vec![born_dead_figure(&BornDeadOptions::default(), o)?]),
    },
];
