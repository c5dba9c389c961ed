#![doc = include_str!("../../../src/02-saturation.md")]

pub mod checks;
pub mod cli;
pub mod exercises;
pub mod figures;
pub mod glorot;
pub mod nielsen;
pub mod solutions;
pub mod sweep;
pub mod training;
pub mod window;

pub use figures::*;

use chapter_kit::figure::Generator;

/// The chapter's figure generators, run by its examples and by `book figures`.
pub const GENERATORS: &[Generator] = &[
    Generator {
        chapter: "ch02",
        name: "functions",
        run: |o| Ok(vec![functions_figure(o)?, bound_figure(&BoundOptions::default(), o)?, window_figure(o)?]),
    },
    Generator {
        chapter: "ch02",
        name: "speed-init",
        run: |o| Ok(vec![speed_init_figure(&SpeedInitOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch02",
        name: "speed-training",
        run: |o| Ok(vec![speed_training_figure(&training::SpeedTrainingOptions::default(), o)?]),
    },
    Generator {
        chapter: "ch02",
        name: "depth-training",
        run: |o| depth_training_figures(&training::DepthTrainingOptions::default(), o),
    },
    Generator { chapter: "ch02", name: "depth-sweep", run: |o| Ok(vec![sweep_figure(&SweepOptions::default(), o)?]) },
    Generator { chapter: "ch02", name: "glorot", run: |o| glorot_figures(&GlorotFigureOptions::default(), o) },
    Generator {
        chapter: "ch02",
        name: "glorot-conditions",
        run: |o| Ok(vec![conditions_figure(&ConditionsOptions::default(), o)?]),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use chapter_kit::figure::GenOptions;

    #[test]
    fn every_generator_runs_in_quick_mode() -> anyhow::Result<()> {
        let go = GenOptions { quick: true, progress: false };
        let mut names = Vec::new();
        for g in GENERATORS {
            let t = std::time::Instant::now();
            let figures = (g.run)(&go)?;
            eprintln!("{}: {:?}", g.name, t.elapsed());
            assert!(!figures.is_empty(), "{} produced nothing", g.name);
            for f in figures {
                assert_eq!(f.chapter, "ch02");
                assert!(f.svg.is_empty(), "quick mode draws no SVG");
                names.push(f.name);
            }
        }
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "two generators write the same figure");
        Ok(())
    }
}
