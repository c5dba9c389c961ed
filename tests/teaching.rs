//! Quizzes, and how exercises and quizzes reach readers:
//! - every quiz in `src/quizzes/` parses, resolves its measured answers from the figure data, is used
//!   by exactly one chapter, and quotes no measurement as a hand-copied literal;
//! - the built site renders quizzes and solutions as plain HTML (questions, lettered choices,
//!   collapsed answers) on the chapter pages and in print.html, and loads the teaching assets only
//!   where they are needed, from the site itself;
//! - in a real browser (Debian's chromium, headless), `quiz.js` checks answers and reveals
//!   explanations. Outside CI a missing browser skips that test loudly; under `CI=true` it fails.

use anyhow::{Context, Result, bail};
use book::values::FigureData;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn src() -> PathBuf {
    book::workspace_root().join("src")
}

fn quiz_files(src: &Path) -> Result<Vec<String>> {
    let dir = src.join("quizzes");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<String> = book::site::files_under(&dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.strip_prefix(src).unwrap().display().to_string())
        .collect();
    files.sort();
    Ok(files)
}

/// Every scalar number in a figure's data outside arrays: the measurements prose and quizzes quote.
fn scalars(value: &Value, path: &str, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => out.extend(n.as_f64().map(|x| (path.to_string(), x))),
        Value::Object(map) => {
            for (key, v) in map {
                scalars(v, &if path.is_empty() { key.clone() } else { format!("{path}.{key}") }, out);
            }
        }
        _ => {}
    }
}

fn quiz_problems(src: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut data = FigureData::default();
    let chapters: Vec<PathBuf> =
        book::site::files_under(src)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    let mut uses: Vec<(String, PathBuf)> = Vec::new();
    for chapter in &chapters {
        for (_, parsed) in book::quiz::directives(&std::fs::read_to_string(chapter)?) {
            match parsed {
                Ok(path) => uses.push((path, chapter.clone())),
                Err(e) => problems.push(format!("{}: {e}", chapter.display())),
            }
        }
    }
    for file in quiz_files(src)? {
        let users = uses.iter().filter(|(path, _)| *path == file).count();
        if users != 1 {
            problems.push(format!("src/{file} is used by {users} chapters, not 1"));
        }
        let questions = match book::quiz::load(src, &file, &mut data) {
            Ok(questions) => questions,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        // A literal answer equal to a measurement of the chapter's figures was copied by hand.
        let chapter =
            Path::new(&file).file_stem().unwrap().to_string_lossy().split('-').next().unwrap_or("").to_string();
        let mut measured = Vec::new();
        for json in book::site::files_under(&src.join("figures").join(format!("ch{chapter}")))
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            if let Ok(value) = lab::figure::read_data(&json) {
                let name = json.file_name().unwrap().to_string_lossy().into_owned();
                let mut found = Vec::new();
                scalars(&value, "", &mut found);
                measured.extend(found.into_iter().map(|(key, x)| (format!("{name}:{key}"), x)));
            }
        }
        for (i, q) in questions.iter().enumerate() {
            if let book::quiz::Answer::Number { value, source: None, .. } = q.answer {
                for (key, x) in &measured {
                    if x.abs() > 0.0 && ((value - x) / x).abs() < 1e-6 && x.fract() != 0.0 {
                        problems.push(format!(
                            "src/{file} question {}: the literal answer {value} is the measurement ch{chapter}/{key}: \
                             write `value = \"ch{chapter}/{key}\"` so it follows the code",
                            i + 1
                        ));
                    }
                }
            }
        }
    }
    for (path, chapter) in &uses {
        if !src.join(path).is_file() {
            problems.push(format!("{}: the quiz {path} does not exist", chapter.display()));
        }
    }
    Ok(problems)
}

#[test]
fn every_quiz_is_valid_used_once_and_quotes_measurements_by_reference() -> Result<()> {
    let problems = quiz_problems(&src())?;
    assert!(problems.is_empty(), "{} quiz problems:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn the_quiz_check_catches_its_problems() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path();
    let write = |path: &str, text: &str| -> Result<()> {
        std::fs::create_dir_all(src.join(path).parent().unwrap())?;
        Ok(std::fs::write(src.join(path), text)?)
    };
    let data = serde_json::json!({"ratio": 0.0123, "depth": 20});
    lab::figure::Figure::new("ch09", "f", "", String::new(), &data)?.write(src)?;
    let copied = "[[question]]\nprompt = \"p\"\nanswer = 0.0123\nrel_tol = 0.1\nexplanation = \"e\"\n";
    write("quizzes/09-one.toml", copied)?;
    write("quizzes/09-two.toml", "[[question]]\nprompt = \"p\"\nexplanation = \"e\"\n")?;
    write("09-one.md", "# One\n\n{{#quiz quizzes/09-one.toml}}\n\n{{#quiz quizzes/09-none.toml}}\n")?;
    let all = quiz_problems(src)?.join("\n");
    for expected in [
        "the literal answer 0.0123 is the measurement ch09/f.json:ratio",
        "src/quizzes/09-two.toml is used by 0 chapters",
        "09-two.toml",
        "the quiz quizzes/09-none.toml does not exist",
    ] {
        assert!(all.contains(expected), "missed {expected:?} in:\n{all}");
    }
    assert!(!all.contains("09-one.toml is used"), "{all}");
    Ok(())
}

/// The book, built once for the tests below.
fn site() -> &'static Path {
    static SITE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &SITE
        .get_or_init(|| {
            let out = tempfile::tempdir().expect("a temporary folder");
            let built =
                book::site::build(&book::workspace_root(), Some(&out.path().join("site"))).expect("the book builds");
            (out, built.site)
        })
        .1
}

/// The pages that hold quizzes or exercises, from the chapters' sources.
fn teaching_pages(src: &Path) -> Result<Vec<(String, usize, usize)>> {
    let mut pages = Vec::new();
    for file in book::site::files_under(src)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(&file)?;
        let (quizzes, exercises) = (book::quiz::directives(&text).len(), book::exercise::directives(&text).len());
        if quizzes + exercises > 0 {
            let page = file.strip_prefix(src)?.with_extension("html").display().to_string();
            pages.push((page, quizzes, exercises));
        }
    }
    Ok(pages)
}

#[test]
fn quizzes_and_solutions_render_as_plain_html_on_pages_and_in_print() -> Result<()> {
    let site = site();
    let pages = teaching_pages(&src())?;
    assert!(!pages.is_empty(), "no chapter has a quiz or an exercise");
    let print = std::fs::read_to_string(site.join("print.html"))?;
    let mut problems = Vec::new();
    let (mut all_quizzes, mut all_exercises) = (0, 0);
    for (page, quizzes, exercises) in &pages {
        all_quizzes += quizzes;
        all_exercises += exercises;
        let html = std::fs::read_to_string(site.join(page)).with_context(|| format!("reading {page}"))?;
        let count = |needle: &str| html.matches(needle).count();
        if count("<div class=\"quiz\"") != *quizzes || count("<div class=\"exercise\"") != *exercises {
            problems.push(format!(
                "{page}: {quizzes} quizzes and {exercises} exercises in the source, other counts on the page"
            ));
        }
        if count("<details class=\"solution\">") != *exercises {
            problems.push(format!("{page}: not every exercise has a collapsed solution"));
        }
        if count("<li class=\"quiz-question\"") != count("<details class=\"quiz-answer\">") {
            problems.push(format!("{page}: not every quiz question has a collapsed answer"));
        }
        if !html.contains("teaching/teaching.css\">") || (*quizzes > 0) != html.contains("teaching/quiz.js\"") {
            problems.push(format!("{page}: the teaching stylesheet or quiz script is missing (or loaded for nothing)"));
        }
    }
    if print.matches("<div class=\"quiz\"").count() != all_quizzes
        || print.matches("<details class=\"solution\">").count() != all_exercises
        || !print.contains("teaching/quiz.js\"")
    {
        problems.push("print.html does not carry every quiz and solution with its assets".into());
    }
    for plain in ["index.html", "introduction.html"] {
        let html = std::fs::read_to_string(site.join(plain))?;
        if html.contains("teaching/") {
            problems.push(format!("{plain} loads teaching assets it does not use"));
        }
    }
    for asset in ["teaching/teaching.css", "teaching/quiz.js"] {
        if !site.join(asset).is_file() {
            problems.push(format!("{asset} was not written"));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

/// Drives the first quiz of the first page with one through chromium and returns what the page
/// reported, or `None` when no browser is installed outside CI.
fn run_quiz_in_browser(site: &Path, page: &str) -> Result<Option<Value>> {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            bail!("no chromium: CI must run the browser tests (.ci/run installs it)");
        }
        eprintln!("\n*** SKIPPED: no chromium found, so quiz.js was not tested in a browser ***\n");
        return Ok(None);
    };
    let html = std::fs::read_to_string(site.join(page))?;
    let driven = html.replace("</body>", &format!("<script>{DRIVER}</script></body>"));
    let test_page = site.join(page).with_file_name("quiz-browser-test.html");
    std::fs::write(&test_page, driven)?;
    let profile = tempfile::tempdir()?;
    let output = std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=5000"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", test_page.display()))
        .output()
        .context("running chromium")?;
    let dom = String::from_utf8_lossy(&output.stdout);
    let start = dom.find("<pre id=\"quiz-test-result\">").with_context(|| {
        format!("the page reported nothing; chromium said:\n{}", String::from_utf8_lossy(&output.stderr))
    })?;
    let json = &dom[start + "<pre id=\"quiz-test-result\">".len()..];
    let json = &json[..json.find("</pre>").context("unterminated result")?];
    let json = json.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    Ok(Some(serde_json::from_str(&json).with_context(|| format!("the page reported {json}"))?))
}

/// Answers the first quiz on the page: its first multiple-choice question wrongly then rightly, its
/// first numeric question within the tolerance, outside it, and with garbage.
const DRIVER: &str = r#"
window.addEventListener("load", function () {
  var out = {};
  try {
    var quiz = document.querySelector("div.quiz");
    out.enhanced = quiz.classList.contains("quiz-enhanced");
    var questions = Array.prototype.slice.call(quiz.querySelectorAll(".quiz-question"));
    var feedback = function (q) { var f = q.querySelector(".quiz-feedback"); return f.className + "|" + f.textContent; };
    var check = function (q) { q.querySelector("button.quiz-check").click(); return feedback(q); };
    var choice = questions.filter(function (q) { return q.dataset.kind === "choice"; })[0];
    var details = choice.querySelector("details.quiz-answer");
    out.hiddenBeforeAnswering = details.hidden;
    out.unanswered = check(choice);
    var radios = choice.querySelectorAll("input[type=radio]");
    out.radios = radios.length;
    var right = Number(choice.dataset.answer);
    radios[(right + 1) % radios.length].click();
    out.wrongChoice = check(choice);
    out.shownAfterAnswering = !details.hidden && details.open;
    radios[right].click();
    out.rightChoice = check(choice);
    var number = questions.filter(function (q) { return q.dataset.kind === "number"; })[0];
    var input = number.querySelector("input.quiz-input");
    var want = Number(number.dataset.answer), rel = Number(number.dataset.relTol), abs = Number(number.dataset.absTol);
    var slack = Math.max(abs, rel * Math.abs(want));
    input.value = String(want + 0.5 * slack);
    out.rightNumber = check(number);
    input.value = String(want + 3 * slack + 1);
    out.wrongNumber = check(number);
    input.value = "twelve";
    out.garbage = check(number);
    out.score = quiz.querySelector(".quiz-score").textContent;
    var p = window.bookQuiz.parseNumber;
    out.parsed = [p("1.5e-4"), p("1/4"), p("1.5×10^-4"), p("\u22122"), p("0,5"), p("1e")];
  } catch (e) {
    out.error = String(e && e.stack || e);
  }
  var pre = document.createElement("pre");
  pre.id = "quiz-test-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
"#;

#[test]
fn quizzes_check_answers_in_a_browser() -> Result<()> {
    let pages = teaching_pages(&src())?;
    let Some((page, ..)) = pages.iter().find(|(_, quizzes, _)| *quizzes > 0) else {
        bail!("no chapter has a quiz");
    };
    let Some(result) = run_quiz_in_browser(site(), page)? else {
        return Ok(());
    };
    let get = |key: &str| result.get(key).cloned().unwrap_or(Value::Null);
    let text = |key: &str| get(key).as_str().unwrap_or_default().to_string();
    assert_eq!(get("error"), Value::Null, "{result}");
    assert_eq!(get("enhanced"), Value::Bool(true), "{result}");
    assert_eq!(get("hiddenBeforeAnswering"), Value::Bool(true), "{result}");
    assert!(text("unanswered").contains("Pick an answer"), "{result}");
    assert!(get("radios").as_u64().unwrap_or(0) >= 2, "{result}");
    assert!(text("wrongChoice").starts_with("quiz-feedback incorrect|"), "{result}");
    assert_eq!(get("shownAfterAnswering"), Value::Bool(true), "{result}");
    assert!(text("rightChoice").starts_with("quiz-feedback correct|"), "{result}");
    assert!(text("rightNumber").starts_with("quiz-feedback correct|"), "{result}");
    assert!(text("wrongNumber").starts_with("quiz-feedback incorrect|"), "{result}");
    assert!(text("garbage").contains("Type a number"), "{result}");
    assert!(text("score").starts_with("1 of "), "{result}");
    assert_eq!(get("parsed"), serde_json::json!([0.00015, 0.25, 0.00015, -2, 0.5, null]), "{result}");
    Ok(())
}
