//! `{{#quiz quizzes/NN-slug.toml}}`: a chapter's quiz, authored in TOML beside the chapter and
//! rendered as plain HTML that works without JavaScript (and in print.html): numbered questions,
//! lettered choices, and each answer with its explanation in a collapsed `<details>`. The driver's
//! `quiz.js` turns that into a checked quiz in the page: radio buttons or a number field, a Check
//! button, feedback, and the explanation once answered. Everything is offline.
//!
//! The file (path relative to `src/`) holds `[[question]]` tables:
//!
//! ```toml
//! [[question]]                  # multiple choice
//! prompt = "The largest value of $\\sigma'(z)$ is"
//! choices = ["$1$", "$\\tfrac12$", "$\\tfrac14$"]
//! answer = "C"                  # the letter of the right choice
//! explanation = "At $z = 0$, $\\sigma(1-\\sigma) = \\tfrac14$."
//!
//! [[question]]                  # numeric, answered by the book's own measurements
//! prompt = "What fraction of the signal does the sigmoid chain pass back at depth 20?"
//! value = "ch01/chain-product.json:sigmoid_at_report:e2"   # as in {{#value …}}; the format is how it is shown
//! rel_tol = 0.05                # accept answers within 5 % …
//! abs_tol = 0.0                 # … or within this absolute distance (either suffices)
//! explanation = "…"
//!
//! [[question]]                  # numeric, a fact of mathematics rather than a measurement
//! prompt = "…"
//! answer = 0.25
//! rel_tol = 0.01
//! explanation = "…"
//! ```
//!
//! Texts are Markdown with `$…$` math and `{{#value …}}` placeholders. An answer that quotes a
//! measurement must be a `value` reference, resolved at build time from the figure JSON the code
//! wrote, never a literal copied by hand. A malformed quiz (unknown key, a letter beyond the
//! choices, a numeric question without a tolerance, a reference that does not resolve) fails the
//! build, naming the file and the question.

use super::values::{FigureData, NumberFormat, ValueRef};
use anyhow::{Context, Result, bail, ensure};
use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::Book;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Component, Path};

const OPEN: &str = "{{#quiz";
const CLOSE: &str = "}}";

/// A quiz file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuizFile {
    #[serde(rename = "question", default)]
    questions: Vec<QuestionSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionSpec {
    prompt: String,
    #[serde(default)]
    choices: Vec<String>,
    answer: Option<toml::Value>,
    value: Option<String>,
    rel_tol: Option<f64>,
    abs_tol: Option<f64>,
    explanation: String,
}

/// The right answer of a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Index of the right choice.
    Choice(usize),
    /// A number, accepted within `max(abs_tol, rel_tol·|value|)`.
    Number {
        value: f64,
        /// How the answer is written out (the reference's format, or the literal as written).
        shown: String,
        rel_tol: f64,
        abs_tol: f64,
        /// The figure data it comes from (`ch01/file.json:key`), if a measurement.
        source: Option<String>,
    },
}

/// A validated question, its texts with `{{#value}}` placeholders expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub prompt: String,
    pub choices: Vec<String>,
    pub answer: Answer,
    pub explanation: String,
}

impl Answer {
    /// Whether `x` is accepted for a numeric answer.
    pub fn accepts(&self, x: f64) -> bool {
        match *self {
            Answer::Choice(_) => false,
            Answer::Number { value, rel_tol, abs_tol, .. } => (x - value).abs() <= abs_tol.max(rel_tol * value.abs()),
        }
    }
}

fn letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// Parses and validates the quiz `text`; `figures_dir` (the book's `src/figures`) resolves value
/// references. Every problem is reported, one a line, with its question's number.
pub fn parse(text: &str, figures_dir: &Path, data: &mut FigureData) -> Result<Vec<Question>> {
    let file: QuizFile = toml::from_str(text).context("not a valid quiz file")?;
    ensure!(!file.questions.is_empty(), "the quiz has no [[question]]");
    let mut questions = Vec::new();
    let mut problems = Vec::new();
    for (i, spec) in file.questions.into_iter().enumerate() {
        match question(spec, figures_dir, data) {
            Ok(q) => questions.push(q),
            Err(e) => problems.push(format!("question {}: {e:#}", i + 1)),
        }
    }
    if problems.is_empty() { Ok(questions) } else { bail!("{}", problems.join("\n")) }
}

fn question(spec: QuestionSpec, figures_dir: &Path, data: &mut FigureData) -> Result<Question> {
    let mut expand = |field: &str, text: &str| -> Result<String> {
        ensure!(!text.trim().is_empty(), "`{field}` is empty");
        super::values::expand_values(text.trim(), figures_dir, data).with_context(|| format!("in `{field}`"))
    };
    let prompt = expand("prompt", &spec.prompt)?;
    let explanation = expand("explanation", &spec.explanation)?;
    let choices = spec.choices.iter().map(|c| expand("choices", c)).collect::<Result<Vec<_>>>()?;
    let answer = if !choices.is_empty() {
        ensure!((2..=26).contains(&choices.len()), "a multiple-choice question needs 2 to 26 choices");
        ensure!(
            spec.value.is_none() && spec.rel_tol.is_none() && spec.abs_tol.is_none(),
            "`value`, `rel_tol` and `abs_tol` are for numeric questions"
        );
        let Some(toml::Value::String(given)) = &spec.answer else {
            bail!("a multiple-choice question needs `answer = \"A\"` (the letter of the right choice)");
        };
        let index = (0..choices.len()).find(|&i| given.trim().eq_ignore_ascii_case(&letter(i).to_string()));
        Answer::Choice(
            index.with_context(|| {
                format!("answer `{given}` is not one of the letters A–{}", letter(choices.len() - 1))
            })?,
        )
    } else {
        let (value, shown, source) = match (&spec.answer, &spec.value) {
            (Some(literal), None) => {
                let value = match literal {
                    toml::Value::Float(f) => *f,
                    toml::Value::Integer(i) => *i as f64,
                    other => bail!("a numeric answer must be a number, not {other}"),
                };
                (value, literal.to_string(), None)
            }
            (None, Some(reference)) => {
                let value_ref = ValueRef::parse(reference).with_context(|| format!("value `{reference}`"))?;
                let exact = ValueRef { format: NumberFormat::AsIs, ..value_ref.clone() };
                let raw = data.resolve(figures_dir, &exact)?;
                let value: f64 =
                    raw.parse().with_context(|| format!("value `{reference}` is `{raw}`, not a number"))?;
                (value, data.resolve(figures_dir, &value_ref)?, Some(format!("{}:{}", value_ref.file, value_ref.key)))
            }
            (Some(_), Some(_)) => bail!("give the answer as `answer` (a literal) or `value` (a measurement), not both"),
            (None, None) => bail!("a question needs `choices` and a letter `answer`, or a numeric `answer` or `value`"),
        };
        ensure!(value.is_finite(), "the answer {value} is not a finite number");
        let (rel_tol, abs_tol) = (spec.rel_tol.unwrap_or(0.0), spec.abs_tol.unwrap_or(0.0));
        ensure!(spec.rel_tol.is_some() || spec.abs_tol.is_some(), "a numeric question needs `rel_tol` or `abs_tol`");
        ensure!(
            (0.0..1.0).contains(&rel_tol) && abs_tol >= 0.0 && abs_tol.is_finite(),
            "tolerances must be ≥ 0 (and rel_tol < 1)"
        );
        ensure!(rel_tol > 0.0 || abs_tol > 0.0, "a zero tolerance accepts no typed answer");
        Answer::Number { value, shown, rel_tol, abs_tol, source }
    };
    Ok(Question { prompt, choices, answer, explanation })
}

/// Escapes text for an HTML attribute value.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The quiz as Markdown with HTML blocks: plain, readable HTML whose texts stay Markdown (so math and
/// the book's styles apply), which `quiz.js` enhances. `id` names the quiz (the file stem).
pub fn render(id: &str, questions: &[Question]) -> String {
    let id = attr(id);
    let mut out = format!("<div class=\"quiz\" id=\"quiz-{id}\" data-quiz=\"{id}\">\n<ol class=\"quiz-questions\">\n");
    for (i, q) in questions.iter().enumerate() {
        let n = i + 1;
        let (kind, data) = match &q.answer {
            Answer::Choice(c) => ("choice", format!("data-answer=\"{c}\"")),
            Answer::Number { value, rel_tol, abs_tol, .. } => (
                "number",
                format!("data-answer=\"{value:e}\" data-rel-tol=\"{rel_tol:e}\" data-abs-tol=\"{abs_tol:e}\""),
            ),
        };
        writeln!(out, "<li class=\"quiz-question\" id=\"quiz-{id}-{n}\" data-kind=\"{kind}\" {data}>").unwrap();
        writeln!(out, "<div class=\"quiz-prompt\">\n\n{}\n\n</div>", q.prompt).unwrap();
        if !q.choices.is_empty() {
            out.push_str("<ol class=\"quiz-choices\" type=\"A\">\n");
            for choice in &q.choices {
                writeln!(out, "<li class=\"quiz-choice\">\n\n{choice}\n\n</li>").unwrap();
            }
            out.push_str("</ol>\n");
        }
        let answer = match &q.answer {
            Answer::Choice(c) => format!("{}: {}", letter(*c), q.choices[*c]),
            Answer::Number { shown, rel_tol, abs_tol, .. } => {
                let mut within = Vec::new();
                if *rel_tol > 0.0 {
                    within.push(format!("{}%", rel_tol * 100.0));
                }
                if *abs_tol > 0.0 {
                    within.push(format!("±{abs_tol}"));
                }
                format!("{shown} (answers within {} count)", within.join(" or "))
            }
        };
        writeln!(
            out,
            "<details class=\"quiz-answer\">\n<summary>Answer</summary>\n\n**Answer: {answer}.** {}\n\n</details>\n</li>",
            q.explanation
        )
        .unwrap();
    }
    out.push_str("</ol>\n</div>\n");
    out
}

/// The quiz files referenced in `text`, with their byte ranges; a malformed directive (or one that
/// does not stand on its own line) is an error.
pub fn directives(text: &str) -> Vec<crate::markdown::Directive> {
    crate::markdown::line_directives(text, OPEN, CLOSE, |path| {
        let inside = Path::new(path).components().all(|c| matches!(c, Component::Normal(_)));
        if !path.is_empty() && inside && path.ends_with(".toml") {
            Ok(())
        } else {
            Err("expected a .toml file inside src/, e.g. `quizzes/01-gradients.toml`".into())
        }
    })
}

/// Loads and validates the quiz at `src_dir/path`.
pub fn load(src_dir: &Path, path: &str, data: &mut FigureData) -> Result<Vec<Question>> {
    let file = src_dir.join(path);
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    parse(&text, &src_dir.join("figures"), data).with_context(|| format!("in {}", file.display()))
}

/// Replaces every quiz directive in `text`.
pub fn expand(text: &str, src_dir: &Path, data: &mut FigureData) -> Result<String> {
    crate::markdown::expand_directives(text, directives(text), |path| {
        let questions = load(src_dir, &path, data)?;
        let stem = Path::new(&path).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(render(&stem, &questions))
    })
}

/// The mdBook preprocessor; runs before `values` and `math`.
pub struct QuizPreprocessor;

impl mdbook_preprocessor::Preprocessor for QuizPreprocessor {
    fn name(&self) -> &str {
        "quizzes"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let src_dir = ctx.root.join(&ctx.config.book.src);
        let mut data = FigureData::default();
        super::rewrite_chapters(&mut book, "quizzes that do not render", |chapter| {
            if !chapter.content.contains(OPEN) {
                return Ok(None);
            }
            expand(&chapter.content, &src_dir, &mut data).map(Some)
        })?;
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let data = serde_json::json!({"ratio": 0.000123456, "name": "x"});
        chapter_kit::figure::Figure::new("ch09", "f", "alt", String::new(), &data).unwrap().write(dir.path()).unwrap();
        dir
    }

    const GOOD: &str = r#"
[[question]]
prompt = "Max of $\\sigma'$?"
choices = ["1", "1/4"]
answer = "b"
explanation = "At zero."

[[question]]
prompt = "The ratio ({{#value ch09/f.json:ratio:.2}} rounded)?"
value = "ch09/f.json:ratio:e2"
rel_tol = 0.05
explanation = "Measured."

[[question]]
prompt = "Two?"
answer = 2
abs_tol = 0.5
explanation = "Two."
"#;

    #[test]
    fn parses_choices_measurements_and_literals() {
        let dir = figures();
        let q = parse(GOOD, &dir.path().join("figures"), &mut FigureData::default()).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].answer, Answer::Choice(1));
        assert_eq!(q[1].prompt, "The ratio (0.00 rounded)?");
        let Answer::Number { value, shown, source, .. } = &q[1].answer else { panic!() };
        assert_eq!((*value, shown.as_str(), source.as_deref()), (0.000123456, "1.23e-4", Some("ch09/f.json:ratio")));
        assert!(q[1].answer.accepts(0.00012) && !q[1].answer.accepts(0.00011));
        assert!(q[2].answer.accepts(2.4) && !q[2].answer.accepts(2.6));
    }

    #[test]
    fn every_problem_is_reported_with_its_question() {
        let dir = figures();
        let bad = r#"
[[question]]
prompt = "a"
choices = ["x", "y"]
answer = "C"
explanation = "e"

[[question]]
prompt = "b"
value = "ch09/f.json:ratoi"
rel_tol = 0.1
explanation = "e"

[[question]]
prompt = "c"
answer = 1.0
explanation = "e"

[[question]]
prompt = "d"
value = "ch09/f.json:name"
abs_tol = 1
explanation = "e"

[[question]]
prompt = "e"
answer = 1
value = "ch09/f.json:ratio"
rel_tol = 0.1
explanation = "{{#value ch09/f.json:nope}}"
"#;
        let err = format!("{:#}", parse(bad, &dir.path().join("figures"), &mut FigureData::default()).unwrap_err());
        assert!(err.contains("question 1: answer `C` is not one of the letters A–B"), "{err}");
        assert!(err.contains("question 2:") && err.contains("`ratoi`"), "{err}");
        assert!(err.contains("question 3: a numeric question needs `rel_tol` or `abs_tol`"), "{err}");
        assert!(err.contains("question 4: value `ch09/f.json:name` is `x`, not a number"), "{err}");
        assert!(err.contains("question 5: in `explanation`"), "{err}");
        let unknown = "[[question]]\nprompt = \"a\"\nanswr = 1\nexplanation = \"e\"\n";
        let err = format!("{:#}", parse(unknown, Path::new("/none"), &mut FigureData::default()).unwrap_err());
        assert!(err.contains("unknown field `answr`"), "{err}");
    }

    #[test]
    fn renders_plain_html_with_collapsed_answers() {
        let dir = figures();
        let q = parse(GOOD, &dir.path().join("figures"), &mut FigureData::default()).unwrap();
        let html = render("09-demo", &q);
        assert!(html.starts_with("<div class=\"quiz\" id=\"quiz-09-demo\""), "{html}");
        assert!(
            html.contains("<li class=\"quiz-question\" id=\"quiz-09-demo-1\" data-kind=\"choice\" data-answer=\"1\">")
        );
        assert!(
            html.contains("data-kind=\"number\" data-answer=\"1.23456e-4\" data-rel-tol=\"5e-2\" data-abs-tol=\"0e0\"")
        );
        assert!(html.contains("**Answer: B: 1/4.** At zero."), "{html}");
        assert!(html.contains("**Answer: 1.23e-4 (answers within 5% count).** Measured."), "{html}");
        assert!(html.contains("**Answer: 2 (answers within ±0.5 count).** Two."), "{html}");
        assert_eq!(html.matches("<details").count(), 3);
        // The Markdown renders to balanced HTML whose texts were parsed as Markdown.
        let rendered = {
            let mut s = String::new();
            crate::markdown::pulldown_cmark::html::push_html(&mut s, crate::markdown::parser(&html));
            s
        };
        assert!(rendered.contains("<strong>Answer: B: 1/4.</strong>"), "{rendered}");
        for tag in ["div", "ol", "li", "details"] {
            assert_eq!(
                rendered.matches(&format!("<{tag}")).count(),
                rendered.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
    }

    #[test]
    fn directives_expand_in_place_and_bad_ones_fail() {
        let dir = figures();
        let src = dir.path();
        std::fs::create_dir_all(src.join("quizzes")).unwrap();
        std::fs::write(src.join("quizzes/09-demo.toml"), GOOD).unwrap();
        let out = expand("# T\n\n{{#quiz quizzes/09-demo.toml}}\n\nafter\n", src, &mut FigureData::default()).unwrap();
        assert!(
            out.starts_with("# T\n\n<div class=\"quiz\" id=\"quiz-09-demo\"") && out.ends_with("</div>\n\n\nafter\n")
        );
        let text = "{{#quiz quizzes/none.toml}}\n\nsee {{#quiz quizzes/09-demo.toml}}\n\n{{#quiz ../x.toml}}\n";
        let err = format!("{:#}", expand(text, src, &mut FigureData::default()).unwrap_err());
        assert!(err.contains("line 1: reading") && err.contains("none.toml"), "{err}");
        assert!(err.contains("line 3: `{{#quiz quizzes/09-demo.toml}}` must stand on a line of its own"), "{err}");
        assert!(err.contains("line 5: `{{#quiz ../x.toml}}`: expected a .toml file inside src/"), "{err}");
    }
}
