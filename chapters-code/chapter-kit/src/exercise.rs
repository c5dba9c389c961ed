//! Checked exercises: the shared machinery behind every chapter's `src/exercises.rs`.
//!
//! A chapter crate has three exercise files:
//! - `src/exercises.rs`: the stubs a student edits (`todo!("exercise 1.1")`), each followed by an
//!   ignored test that runs the exercise's checker on the stub —
//!   `cargo test -p ch01-gradients exercise_1_1 -- --ignored`;
//! - `src/solutions.rs`: the reference solutions;
//! - `src/checks.rs`: one checker per exercise, generic over the implementation
//!   (`fn sigmoid_prime(f: impl Fn(f64) -> f64) -> Result<(), String>`), and the chapter's
//!   [`Exercise`] registry, which also lists plausible wrong answers each checker must reject.
//!
//! The book's whole-book test (`tests/exercises.rs`) runs every registry: each solution must pass
//! its checker, and each stub and each listed mistake must fail it — a checker that cannot fail is a
//! defect. The book shows stub and solution from the same files through the driver's
//! `{{#exercise N.M}}` directive, between `// ANCHOR: exercise_N_M` and `// ANCHOR_END: exercise_N_M`.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// A checker applied to one implementation: `Ok` when the implementation is right, otherwise a
/// message a student can act on.
pub type Check = fn() -> Result<(), String>;

/// One exercise of a chapter's registry (`pub const EXERCISES: &[Exercise]` in its `checks.rs`).
#[derive(Clone, Copy)]
pub struct Exercise {
    /// The chapter folder name, e.g. `ch01` (the crate is `chapters-code/ch01-*`).
    pub chapter: &'static str,
    /// `1.1`, `1.2`, …: the chapter number, then the exercise's rank in rising difficulty.
    pub id: &'static str,
    /// A short title, e.g. `σ′ by finite differences`.
    pub title: &'static str,
    /// The checker on the student's stub in `src/exercises.rs`.
    pub stub: Check,
    /// The checker on the reference solution in `src/solutions.rs`.
    pub solution: Check,
    /// Plausible wrong answers, each of which the checker must reject: (what is wrong, checker on it).
    pub mistakes: &'static [(&'static str, Check)],
}

impl Exercise {
    /// The name of the student's test and of the source anchors: `1.1` → `exercise_1_1`.
    pub fn test_name(&self) -> String {
        format!("exercise_{}", self.id.replace('.', "_"))
    }

    /// The cargo package of the chapter, found from the crate folder name.
    pub fn package(&self, chapters_code: &std::path::Path) -> Option<String> {
        let prefix = format!("{}-", self.chapter);
        std::fs::read_dir(chapters_code)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|name| name.starts_with(&prefix))
    }

    /// The exact command a student runs to check this exercise.
    pub fn command(&self, package: &str) -> String {
        format!("cargo test -p {package} {} -- --ignored", self.test_name())
    }
}

/// One entry of a chapter's registry, written as the check it runs:
///
/// ```ignore
/// exercise!("ch01", "1.1", "σ′, checked by finite differences", sigmoid_prime(sigmoid_prime), [
///     ("1 − σ², the tanh rule applied to σ", mistakes::sigmoid_prime_tanh_rule),
/// ])
/// ```
///
/// is the [`Exercise`] whose stub is `sigmoid_prime(crate::exercises::sigmoid_prime)`, whose solution
/// is `sigmoid_prime(crate::solutions::sigmoid_prime)` and whose one mistake is
/// `sigmoid_prime(mistakes::sigmoid_prime_tanh_rule)`. An exercise with several functions names them
/// all (`checker(first, second)`); a mistake then lists as many arguments.
#[macro_export]
// `crate::exercises` and `crate::solutions` are the calling chapter crate's modules, on purpose.
#[allow(clippy::crate_in_macro_def)]
macro_rules! exercise {
    ($chapter:literal, $id:literal, $title:literal, $check:ident($($answer:ident),+),
     [$(($what:literal, $($wrong:expr),+)),* $(,)?] $(,)?) => {
        $crate::exercise::Exercise {
            chapter: $chapter,
            id: $id,
            title: $title,
            stub: || $check($(crate::exercises::$answer),+),
            solution: || $check($(crate::solutions::$answer),+),
            mistakes: &[$(($what, || $check($($wrong),+))),*],
        }
    };
}

/// The crate's own check of its registry (`cargo test -p chNN-… every_exercise_is_sound --
/// --ignored` while editing checkers); ignored because the whole-book `tests/exercises.rs` proves
/// every chapter's registry in CI.
#[macro_export]
macro_rules! every_exercise_is_sound {
    ($exercises:path) => {
        #[cfg(test)]
        #[test]
        #[ignore = "tests/exercises.rs proves every chapter's exercises in CI; run with --ignored while editing"]
        fn every_exercise_is_sound() {
            let problems: Vec<String> = $exercises.iter().flat_map($crate::exercise::prove).collect();
            assert!(problems.is_empty(), "{problems:#?}");
        }
    };
}

/// Runs a check, turning a panic (a `todo!()` stub, an index out of bounds, a failed `assert!`) into
/// an `Err` that names the panic.
pub fn run(check: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(result) => result,
        Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
    }
}

/// The message a caught panic carries (`panic!`'s formatted `String` or a literal `&str`).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// What a student's test does with its checker's verdict: nothing on success, a panic with the
/// checker's explanation otherwise.
pub fn pass(id: &str, result: Result<(), String>) {
    if let Err(message) = result {
        panic!("exercise {id} is not solved yet:\n{message}");
    }
}

/// `Ok` when `got` is within `rel` (relative) or `abs` (absolute) of `want`; the message names
/// `what` and both numbers. NaN and infinities never pass unless equal to `want`.
pub fn close(what: &str, got: f64, want: f64, rel: f64, abs: f64) -> Result<(), String> {
    let ok = got == want || (got - want).abs() <= abs.max(rel * want.abs());
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: got {got:e}, expected {want:e} (tolerance: relative {rel:e}, absolute {abs:e})"))
    }
}

/// The outcome of proving one exercise in both directions, as problem messages (empty when sound).
pub fn prove(exercise: &Exercise) -> Vec<String> {
    let label = format!("exercise {} ({}, {})", exercise.id, exercise.chapter, exercise.title);
    let mut problems = Vec::new();
    if let Err(e) = run(exercise.solution) {
        problems.push(format!("{label}: the reference solution fails its checker: {e}"));
    }
    if run(exercise.stub).is_ok() {
        problems.push(format!(
            "{label}: the stub in src/exercises.rs passes its checker. If you solved the exercise, well done: \
             this test guards the book's repository, where the stub must fail (restore it with \
             `git checkout -- chapters-code/{}-*/src/exercises.rs`); otherwise the checker cannot fail",
            exercise.chapter
        ));
    }
    for (mistake, check) in exercise.mistakes {
        if run(*check).is_ok() {
            problems.push(format!("{label}: the checker accepts a wrong answer ({mistake})"));
        }
    }
    if exercise.mistakes.is_empty() {
        problems.push(format!("{label}: lists no plausible mistakes for its checker to reject"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square_is_four() -> Result<(), String> {
        close("2²", 2.0f64.powi(2), 4.0, 1e-12, 0.0)
    }
    fn square_is_five() -> Result<(), String> {
        close("2²", 2.0f64.powi(2), 5.0, 1e-12, 0.0)
    }
    fn unsolved() -> Result<(), String> {
        todo!("exercise 9.1")
    }

    #[test]
    fn run_turns_panics_into_errors() {
        assert_eq!(run(square_is_four), Ok(()));
        assert!(run(square_is_five).unwrap_err().contains("expected 5e0"));
        assert_eq!(run(unsolved).unwrap_err(), "panicked: not yet implemented: exercise 9.1");
    }

    #[test]
    fn close_respects_both_tolerances_and_rejects_nan() {
        assert!(close("x", 1.0005, 1.0, 1e-3, 0.0).is_ok());
        assert!(close("x", 1.002, 1.0, 1e-3, 0.0).is_err());
        assert!(close("x", 1e-9, 0.0, 1e-3, 1e-8).is_ok());
        assert!(close("x", f64::NAN, 1.0, 1.0, 1.0).is_err());
        assert!(close("x", f64::INFINITY, 1.0, 1.0, 1.0).is_err());
    }

    #[test]
    fn prove_reports_each_direction() {
        let sound = Exercise {
            chapter: "ch09",
            id: "9.1",
            title: "t",
            stub: unsolved,
            solution: square_is_four,
            mistakes: &[("five", square_is_five)],
        };
        assert_eq!(prove(&sound), Vec::<String>::new());
        assert_eq!(sound.test_name(), "exercise_9_1");
        assert_eq!(sound.command("ch09-demo"), "cargo test -p ch09-demo exercise_9_1 -- --ignored");
        let broken = Exercise { stub: square_is_four, solution: square_is_five, mistakes: &[], ..sound };
        let problems = prove(&broken).join("\n");
        assert!(problems.contains("reference solution fails"), "{problems}");
        assert!(problems.contains("stub in src/exercises.rs passes"), "{problems}");
        assert!(problems.contains("no plausible mistakes"), "{problems}");
        let lax = Exercise { mistakes: &[("four is not wrong", square_is_four)], ..sound };
        assert!(prove(&lax).join("\n").contains("accepts a wrong answer (four is not wrong)"));
    }
}
