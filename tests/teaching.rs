//! Quizzes, and how exercises and quizzes reach readers:
//! - every quiz in `src/quizzes/` parses, resolves its measured answers from the figure data, is used
//!   by exactly one chapter, and quotes no measurement as a hand-copied literal;
//! - the built site renders quizzes and solutions as plain HTML (questions, lettered choices,
//!   collapsed answers) on the chapter pages and in print.html, and loads the teaching assets only
//!   where they are needed, from the site itself;
//! - in a real browser (Debian's chromium, headless), `quiz.js` checks answers and reveals
//!   explanations. Outside CI a missing browser skips that test loudly; under `CI=true` it fails;
//! - every "Going deeper" block of a chapter (`<details class="going-deeper">`, see
//!   `book::assets::teaching`) reaches its page collapsed, titled and rendered as Markdown, and print.html
//!   carries every one of them open;
//! - chapters 1 to 9 state their core path's reading time (words ÷ 200 a minute, Going deeper and
//!   everything from the exercises on left out), the statement matches the text, and the core path
//!   stays near the 25 minutes the book promises; each closes its core path with a "Key numbers"
//!   box whose numbers all come from figure data.

use anyhow::{Context, Result, bail};
use book::preprocess::values::FigureData;
use regex::Regex;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

fn src() -> PathBuf {
    book::workspace_root().join("src")
}

fn quiz_files(src: &Path) -> Result<Vec<String>> {
    let dir = src.join("quizzes");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<String> = book::files::files_under(&dir)?
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
        book::files::files_under(src)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    let mut uses: Vec<(String, PathBuf)> = Vec::new();
    for chapter in &chapters {
        for (_, parsed) in book::preprocess::quiz::directives(&std::fs::read_to_string(chapter)?) {
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
        let questions = match book::preprocess::quiz::load(src, &file, &mut data) {
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
        for json in book::files::files_under(&src.join("figures").join(format!("ch{chapter}")))
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            if let Ok(value) = chapter_kit::figure::read_data(&json) {
                let name = json.file_name().unwrap().to_string_lossy().into_owned();
                let mut found = Vec::new();
                scalars(&value, "", &mut found);
                measured.extend(found.into_iter().map(|(key, x)| (format!("{name}:{key}"), x)));
            }
        }
        for (i, q) in questions.iter().enumerate() {
            if let book::preprocess::quiz::Answer::Number { value, source: None, .. } = q.answer {
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
    chapter_kit::figure::Figure::new("ch09", "f", "", String::new(), &data)?.write(src)?;
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
    for file in book::files::files_under(src)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(&file)?;
        let (quizzes, exercises) =
            (book::preprocess::quiz::directives(&text).len(), book::preprocess::exercise::directives(&text).len());
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

/// How a chapter opens a "Going deeper" block (the convention of `book::assets::teaching`).
const GOING_DEEPER: &str = "<details class=\"going-deeper\">";

/// The problems of one built page's "Going deeper" blocks, against the `expected` number in its
/// source: each is there, closed, titled "Going deeper: …", holds rendered Markdown (paragraphs,
/// not raw `##` or `$$`), and the page loads the stylesheet that sets it apart.
fn going_deeper_problems(page: &str, html: &str, expected: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let closed = html.matches(GOING_DEEPER).count();
    let opened = html.matches("<details class=\"going-deeper\" open").count();
    if closed != expected || opened > 0 {
        problems.push(format!(
            "{page}: {expected} Going deeper block(s) in the source, {closed} closed and {opened} open on the page"
        ));
    }
    for block in html.split(GOING_DEEPER).skip(1) {
        let body = block.split("</details>").next().unwrap_or_default();
        let summary = body.trim_start().strip_prefix("<summary>").unwrap_or_default();
        if !summary.starts_with("Going deeper: ") {
            problems.push(format!("{page}: a Going deeper block without its <summary>Going deeper: …</summary>"));
        }
        if !body.contains("<p>") || body.contains("\n## ") || body.contains("$$") {
            problems.push(format!("{page}: a Going deeper block whose Markdown did not render"));
        }
    }
    if expected > 0 && !html.contains("teaching/teaching.css\">") {
        problems.push(format!("{page}: has Going deeper blocks but not the teaching stylesheet"));
    }
    problems
}

#[test]
fn going_deeper_blocks_are_collapsed_on_pages_and_open_in_print() -> Result<()> {
    let (src, site) = (src(), site());
    let mut problems = Vec::new();
    let mut total = 0;
    for file in book::files::files_under(&src)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(&file)?;
        let expected = text.lines().filter(|line| line.trim() == GOING_DEEPER).count();
        let page = file.strip_prefix(&src)?.with_extension("html");
        let Ok(html) = std::fs::read_to_string(site.join(&page)) else {
            continue; // not in SUMMARY.md (tests/site.rs checks the pages that are)
        };
        total += expected;
        problems.extend(going_deeper_problems(&page.display().to_string(), &html, expected));
    }
    assert!(total >= 6, "only {total} Going deeper blocks in the book: chapters 2 to 7 each have at least one");
    let print = std::fs::read_to_string(site.join("print.html"))?;
    let open = print.matches("<details class=\"going-deeper\" open>").count();
    if open != total || print.contains(GOING_DEEPER) {
        problems.push(format!("print.html: {open} of {total} Going deeper blocks open, the rest closed"));
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn the_going_deeper_check_catches_its_problems() {
    let css = "<link rel=\"stylesheet\" href=\"teaching/teaching.css\">";
    let good = format!("{css}{GOING_DEEPER}\n<summary>Going deeper: spectra</summary>\n<p>text</p>\n</details>");
    assert_eq!(going_deeper_problems("a.html", &good, 1), Vec::<String>::new());
    let cases = [
        (good.clone(), 2, "2 Going deeper block(s) in the source, 1 closed"),
        (good.replace("deeper\">", "deeper\" open>"), 1, "0 closed and 1 open"),
        (good.replace("Going deeper: spectra", "Spectra"), 1, "without its <summary>"),
        (good.replace("<p>text</p>", "\n## Raw\n"), 1, "did not render"),
        (good.replace(css, ""), 1, "not the teaching stylesheet"),
    ];
    for (html, expected, problem) in cases {
        let problems = going_deeper_problems("a.html", &html, expected);
        assert!(problems.iter().any(|p| p.contains(problem)), "missed {problem:?}: {problems:?}");
    }
}

/// Reading speed behind every stated reading time.
const WORDS_PER_MINUTE: usize = 200;
/// The longest core path a chapter may have, in minutes: the book aims at about 25.
const MAX_CORE_MINUTES: usize = 30;
/// How far a stated reading time may drift from the count before the statement must be updated.
const READING_TIME_SLACK: usize = 3;

/// The words of a chapter's core path: everything before `## Exercises`, without HTML comments,
/// "Going deeper" blocks, display math, images and non-Rust fences (figure widgets, sample
/// output); a `{{#value}}` is one word, and a listing counts the words of the lines a reader sees.
fn core_path_words(text: &str) -> usize {
    static COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").unwrap());
    static DEEPER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"(?s)<details class="going-deeper">.*?</details>"#).unwrap());
    static DISPLAY_MATH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)\$\$.*?\$\$").unwrap());
    static VALUE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{#value [^}]*\}\}").unwrap());
    static IMAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^!\[.*$").unwrap());
    static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"</?[a-z][^>\n]*>").unwrap());
    let core = text.split("\n## Exercises").next().unwrap_or_default();
    let core = DEEPER.replace_all(&COMMENT.replace_all(core, ""), "").into_owned();
    let (mut prose, mut code) = (String::new(), 0);
    let mut fence: Option<bool> = None; // Some(is_rust) inside a fenced block
    for line in core.lines() {
        let trimmed = line.trim_start();
        match fence {
            None if trimmed.starts_with("```") => fence = Some(trimmed.starts_with("```rust")),
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
            Some(_) if trimmed.starts_with("```") => fence = None,
            Some(true) if !(trimmed == "#" || trimmed.starts_with("# ")) => code += line.split_whitespace().count(),
            Some(_) => {}
        }
    }
    let prose = DISPLAY_MATH.replace_all(&prose, "");
    let prose = VALUE.replace_all(&prose, "N");
    let prose = IMAGE.replace_all(&prose, "");
    let prose = TAG.replace_all(&prose, "");
    prose.split_whitespace().count() + code
}

/// The minutes a chapter states for its core path ("… about N minutes …" in its reading-time line).
fn stated_reading_time(text: &str) -> Option<usize> {
    static STATED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\*\*Reading time:\*\* the core path takes about (\d+) minutes").unwrap());
    STATED.captures(text).and_then(|c| c[1].parse().ok())
}

/// The reading-time and Key-numbers problems of one chapter; `(words, minutes)` of its core path.
fn core_path_problems(name: &str, text: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let words = core_path_words(text);
    let minutes = (words + WORDS_PER_MINUTE / 2) / WORDS_PER_MINUTE;
    match stated_reading_time(text) {
        None => problems.push(format!(
            "{name}: no \"**Reading time:** the core path takes about N minutes\" line (the count says {minutes})"
        )),
        Some(stated) if stated.abs_diff(minutes) > READING_TIME_SLACK => problems.push(format!(
            "{name}: states about {stated} minutes, but its core path has {words} words, {minutes} minutes at \
             {WORDS_PER_MINUTE} a minute: update the line"
        )),
        Some(_) => {}
    }
    if minutes > MAX_CORE_MINUTES {
        problems.push(format!(
            "{name}: the core path takes {minutes} minutes (over {MAX_CORE_MINUTES}): move research-level \
             material into Going deeper blocks"
        ));
    }
    let objectives = text.find("<!-- ANCHOR: objectives -->");
    let stated_at = text.find("**Reading time:**");
    if objectives.is_none() || stated_at.is_none_or(|s| objectives.is_some_and(|o| s < o)) {
        problems.push(format!("{name}: should open with its objectives, then state its reading time"));
    }
    let core = text.split("\n## Exercises").next().unwrap_or_default();
    match core.split("<!-- ANCHOR: key-numbers -->").nth(1).and_then(|rest| rest.split("<!-- ANCHOR_END").next()) {
        None => problems.push(format!("{name}: no Key numbers box before its exercises")),
        Some(box_) => {
            let items: Vec<&str> = box_.split("\n> - ").skip(1).collect();
            if !(3..=4).contains(&items.len()) || items.iter().any(|item| !item.contains("{{#value ")) {
                problems.push(format!(
                    "{name}: the Key numbers box should list three or four measurements, each a {{{{#value}}}}"
                ));
            }
        }
    }
    (problems, minutes)
}

#[test]
fn chapters_state_their_reading_time_and_key_numbers() -> Result<()> {
    let src = src();
    let mut problems = Vec::new();
    let chapters = [
        "01-gradients.md",
        "02-saturation.md",
        "03-relu.md",
        "04-initialization.md",
        "05-batch-norm.md",
        "06-residual.md",
        "07-recurrent.md",
        "08-transformers.md",
        "09-diagnosis.md",
    ];
    for name in chapters {
        let text = std::fs::read_to_string(src.join(name)).with_context(|| format!("reading {name}"))?;
        let (found, minutes) = core_path_problems(name, &text);
        eprintln!("{name}: core path {} words, about {minutes} minutes", core_path_words(&text));
        problems.extend(found);
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn the_reading_time_check_catches_its_problems() {
    let words = |n: usize| vec!["word"; n].join(" ");
    let key = "## Key numbers\n\n<!-- ANCHOR: key-numbers -->\n> - **{{#value a.json:x}}**: one\n\
               > - **{{#value a.json:y}}**: two\n> - **{{#value a.json:z}}**: three\n<!-- ANCHOR_END: key-numbers -->\n";
    let chapter = |minutes: usize, body: &str| {
        format!(
            "# T\n\n<!-- ANCHOR: objectives -->\n> goals\n<!-- ANCHOR_END: objectives -->\n\n\
             **Reading time:** the core path takes about {minutes} minutes.\n\n{body}\n{key}\n## Exercises\n\n{}\n",
            words(5000)
        )
    };
    // 2,000 words of prose, a listing of 200 visible words (hidden lines and a Going deeper block
    // of 4,000 words left out): about 11 minutes.
    let listing = format!("```rust\n{}\n# {}\n```\n", words(200), words(50));
    let deeper = format!(
        "<details class=\"going-deeper\">\n<summary>Going deeper: x</summary>\n\n{}\n\n</details>",
        words(4000)
    );
    let body = format!("{}\n\n{listing}\n{deeper}\n\n$$ {} $$\n", words(2000), words(300));
    let (problems, minutes) = core_path_problems("t.md", &chapter(11, &body));
    assert_eq!((problems.clone(), minutes), (vec![], 11), "{problems:?}");
    let cases = [
        (chapter(20, &body), "states about 20 minutes"),
        (chapter(11, &body).replace("**Reading time:**", "Reading time:"), "no \"**Reading time:**"),
        (chapter(40, &words(8000)), "over 30"),
        (chapter(11, &body).replace("<!-- ANCHOR: key-numbers -->", ""), "no Key numbers box"),
        (chapter(11, &body).replace("{{#value a.json:z}}", "0.5"), "three or four measurements"),
        (chapter(11, &body).replace("<!-- ANCHOR: objectives -->", ""), "open with its objectives"),
    ];
    for (text, problem) in cases {
        let (problems, _) = core_path_problems("t.md", &text);
        assert!(problems.iter().any(|p| p.contains(problem)), "missed {problem:?}: {problems:?}");
    }
}
