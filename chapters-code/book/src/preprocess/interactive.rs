//! Interactive figures: a fenced ```` ```interactive ```` block holds a small TOML spec over one of
//! the figure JSON files the chapter crates generate; this preprocessor resolves it against the data
//! at build time (so a wrong path fails the build) and replaces the block with a `<figure>` that
//! carries the resolved series inline. `assets/interactive.js` draws it as SVG, with its controls,
//! in the static site as well as under `book serve`: no request, no library, no network.
//!
//! ```toml
//! data = "ch01/descent.json"            # under src/figures/
//! title = "Loss against step"
//! caption = "Optional text under the figure."
//! x = { label = "step", from = 0 }      # `from`: x = from + index for series without an `x` path
//! y = { label = "loss", log = true }     # `min`, `max`: a fixed range; lines leave it at the frame
//! cursor = { label = "step", value = 100, truncate = false }  # a slider along x with a read-out
//!
//! [[series]]
//! each = "runs"                         # one series per element of data.runs (array or object)
//! y = "losses"                          # path inside the element; `a.*.b` maps over an array
//! label = "η = {fraction} × limit"      # {path} reads the element; {@key}, {@index} name it
//! tags = { rate = "{fraction}" }        # what controls select on
//! colour = "{activation}"               # series with the same colour key share a colour
//! when = "spike_lr"                     # only the elements where this path exists and is neither null nor false
//! dashed = false
//!
//! [[control]]
//! kind = "slider"                       # slider | select | toggle
//! tag = "rate"
//! label = "learning rate (× the stability limit)"
//! value = "0.5"                         # initial value (default: the first)
//! # kind = "toggle" takes `on` and `off` values of the tag instead
//! ```
//!
//! A path that starts with `/` (in `x`, `y`, `when` or a `{…}` of a label, tag or colour) reads the figure's
//! data from its root instead of the element, e.g. `x = "/options.depths"` for a grid that every
//! element shares.
//!
//! A series is shown when every control's value equals the series' tag of that name (series without
//! the tag are always shown), and when its legend checkbox is ticked. Axes span every series (or the
//! axis' `min`/`max`), so switching a control keeps the scale and the comparison honest. Without a
//! `colour` key every series has its own colour, in order.

use crate::markdown::{
    self,
    pulldown_cmark::{CodeBlockKind, Event, Tag},
};
use anyhow::{Context, Result, bail};
use mdbook_preprocessor::PreprocessorContext;
use mdbook_preprocessor::book::Book;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path};

/// The info string of an interactive block.
pub const LANGUAGE: &str = "interactive";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    data: String,
    title: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    x: AxisSpec,
    #[serde(default)]
    y: AxisSpec,
    #[serde(default)]
    cursor: Option<Cursor>,
    series: Vec<SeriesSpec>,
    #[serde(default, rename = "control")]
    controls: Vec<ControlSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AxisSpec {
    #[serde(default)]
    label: String,
    #[serde(default)]
    log: bool,
    /// x = from + index, for series without an `x` path.
    #[serde(default)]
    from: Option<f64>,
    /// A fixed range instead of the data's.
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    label: String,
    #[serde(default)]
    value: Option<f64>,
    /// Draw the series only up to the cursor.
    #[serde(default)]
    truncate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesSpec {
    #[serde(default)]
    each: Option<String>,
    y: String,
    #[serde(default)]
    x: Option<String>,
    label: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    colour: Option<String>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    dashed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlSpec {
    kind: ControlKind,
    tag: String,
    label: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    off: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ControlKind {
    Slider,
    Select,
    Toggle,
}

/// What the page gets: everything resolved to numbers and strings.
#[derive(Debug, Serialize)]
struct Resolved {
    title: String,
    caption: Option<String>,
    source: String,
    x: Axis,
    y: Axis,
    cursor: Option<Cursor>,
    controls: Vec<Control>,
    series: Vec<Series>,
}

#[derive(Debug, Serialize)]
struct Axis {
    label: String,
    log: bool,
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Control {
    kind: ControlKind,
    tag: String,
    label: String,
    values: Vec<String>,
    value: String,
}

#[derive(Debug, Serialize)]
struct Series {
    label: String,
    x: Vec<Option<f64>>,
    y: Vec<Option<f64>>,
    tags: BTreeMap<String, String>,
    /// Index into the page's palette.
    colour: usize,
    dashed: bool,
}

/// `data` at a dotted `path`; numeric segments index arrays. `*` is handled by [`numbers`].
fn at<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(data);
    }
    super::values::lookup(data, path)
}

/// Where `path` reads from: the figure's `root` for `/path`, else `element`.
fn base<'a, 'p>(root: &'a Value, element: &'a Value, path: &'p str) -> (&'a Value, &'p str) {
    match path.strip_prefix('/') {
        Some(rest) => (root, rest),
        None => (element, path),
    }
}

/// The numbers at `path` in `data`: an array of numbers (nulls are gaps), or `a.*.b`, which maps
/// `b` over the array `a`.
fn numbers(data: &Value, path: &str) -> Result<Vec<Option<f64>>> {
    let as_number = |v: &Value, what: &str| -> Result<Option<f64>> {
        match v {
            Value::Number(n) => Ok(n.as_f64()),
            Value::Null => Ok(None),
            other => bail!("{what} is {other}, not a number"),
        }
    };
    if let Some((head, tail)) = path.split_once(".*") {
        let array = at(data, head).and_then(Value::as_array).with_context(|| format!("`{head}` is not an array"))?;
        let tail = tail.trim_start_matches('.');
        return array
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let value = at(item, tail).with_context(|| format!("no `{tail}` in `{head}.{i}`"))?;
                as_number(value, &format!("`{head}.{i}.{tail}`"))
            })
            .collect();
    }
    let array = at(data, path).and_then(Value::as_array).with_context(|| format!("`{path}` is not an array"))?;
    array.iter().enumerate().map(|(i, v)| as_number(v, &format!("`{path}.{i}`"))).collect()
}

/// Where an element of `each` sits: the figure's data, the element, its key and its index.
struct Place<'a> {
    root: &'a Value,
    element: &'a Value,
    key: &'a str,
    index: usize,
}

/// Fills `{path}`, `{/path}`, `{@key}` and `{@index}` in `template` from `place`.
fn fill(template: &str, place: &Place) -> Result<String> {
    fill_any(template, place, false)
}

/// [`fill`]; with `any_value`, objects, arrays and null are written as compact JSON, which a colour
/// key may use (`{"leaky_relu":0.1}` is a fine key, if not a label).
fn fill_any(template: &str, place: &Place, any_value: bool) -> Result<String> {
    let (key, index) = (place.key, place.index);
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close =
            rest[open..].find('}').map(|i| open + i).with_context(|| format!("unclosed `{{` in `{template}`"))?;
        let name = &rest[open + 1..close];
        match name {
            "@key" => out.push_str(key),
            "@index" => write!(out, "{index}").expect("writing to a String"),
            path => {
                let (data, path) = base(place.root, place.element, path);
                let value = at(data, path).with_context(|| format!("no `{path}` for `{template}`"))?;
                match value {
                    Value::String(s) => out.push_str(s),
                    Value::Number(_) | Value::Bool(_) => out.push_str(&value.to_string()),
                    other if any_value => out.push_str(&other.to_string()),
                    other => bail!("`{path}` is {other}, which cannot go into a label"),
                }
            }
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves a spec against the figure data under `figures_dir`.
fn resolve(spec_text: &str, figures_dir: &Path) -> Result<Resolved> {
    let spec: Spec = toml::from_str(spec_text).context("the spec is not valid TOML for an interactive figure")?;
    let escapes = Path::new(&spec.data).components().any(|c| !matches!(c, Component::Normal(_)));
    if escapes || !spec.data.ends_with(".json") {
        bail!("data = `{}` must be a .json file inside src/figures/, e.g. `ch01/name.json`", spec.data);
    }
    let path = figures_dir.join(&spec.data);
    let data = chapter_kit::figure::read_data(&path)?;
    let mut series = Vec::new();
    // Colour keys in order of first appearance; a series without a key gets a colour of its own.
    let mut colours: Vec<Option<String>> = Vec::new();
    for (n, s) in spec.series.iter().enumerate() {
        let context = || format!("series {} (label `{}`)", n + 1, s.label);
        let elements: Vec<(String, usize, &Value)> = match &s.each {
            None => vec![(String::new(), 0, &data)],
            Some(each) => match at(&data, each) {
                Some(Value::Array(items)) => items.iter().enumerate().map(|(i, v)| (i.to_string(), i, v)).collect(),
                Some(Value::Object(map)) => map.iter().enumerate().map(|(i, (k, v))| (k.clone(), i, v)).collect(),
                _ => bail!("{}: each = `{each}` is not an array or object in {}", context(), path.display()),
            },
        };
        if let Some(when) = &s.when {
            // A path no element has is a typo, not a filter.
            if !elements.iter().any(|(_, _, element)| {
                let (from, path) = base(&data, element, when);
                at(from, path).is_some()
            }) {
                bail!("{}: when = `{when}`: no element has it", context());
            }
        }
        for (key, index, element) in elements {
            let place = Place { root: &data, element, key: &key, index };
            if let Some(when) = &s.when {
                // Elements without the path are skipped, like null or false ones (a GRU has no cell state).
                let (from, path) = base(&data, element, when);
                if matches!(at(from, path), None | Some(Value::Null | Value::Bool(false))) {
                    continue;
                }
            }
            let (from, path) = base(&data, element, &s.y);
            let y = numbers(from, path).with_context(context)?;
            let x = match &s.x {
                Some(x) => {
                    let (from, path) = base(&data, element, x);
                    numbers(from, path).with_context(context)?
                }
                None => {
                    let from = spec.x.from.unwrap_or(0.0);
                    (0..y.len()).map(|i| Some(from + i as f64)).collect()
                }
            };
            if x.len() != y.len() {
                bail!("{}: {} x values but {} y values", context(), x.len(), y.len());
            }
            let label = fill(&s.label, &place).with_context(context)?;
            let tags = s
                .tags
                .iter()
                .map(|(tag, template)| Ok((tag.clone(), fill(template, &place)?)))
                .collect::<Result<BTreeMap<_, _>>>()
                .with_context(context)?;
            let colour_key = s.colour.as_ref().map(|c| fill_any(c, &place, true)).transpose().with_context(context)?;
            let colour = match colour_key.as_ref().and_then(|k| colours.iter().position(|c| c.as_ref() == Some(k))) {
                Some(i) => i,
                None => {
                    colours.push(colour_key);
                    colours.len() - 1
                }
            };
            series.push(Series { label, x, y, tags, colour, dashed: s.dashed });
        }
    }
    if series.is_empty() {
        bail!("no series");
    }
    for (axis, range) in [("x", &spec.x), ("y", &spec.y)] {
        let log = range.log;
        if let (Some(min), Some(max)) = (range.min, range.max)
            && (min >= max || min.is_nan() || max.is_nan())
        {
            bail!("the {axis} axis: min = {min} is not below max = {max}");
        }
        if log && (range.min.is_some_and(|v| v <= 0.0) || range.max.is_some_and(|v| v <= 0.0)) {
            bail!("the {axis} axis is a log axis: its min and max must be positive");
        }
        let inside = |v: f64| range.min.is_none_or(|min| v >= min) && range.max.is_none_or(|max| v <= max);
        let values = series.iter().flat_map(|s| if axis == "x" { &s.x } else { &s.y });
        let usable = values.flatten().filter(|v| v.is_finite() && (!log || **v > 0.0) && inside(**v)).count();
        if usable == 0 {
            let why = if log { " (a log axis needs positive values)" } else { "" };
            let limits = if range.min.is_some() || range.max.is_some() { " inside its min and max" } else { "" };
            bail!("the {axis} axis has no value to draw{limits}{why}");
        }
    }
    let mut controls = Vec::new();
    for c in &spec.controls {
        let mut values: Vec<String> = Vec::new();
        for s in &series {
            if let Some(v) = s.tags.get(&c.tag)
                && !values.contains(v)
            {
                values.push(v.clone());
            }
        }
        if values.is_empty() {
            bail!("control `{}`: no series has the tag `{}`", c.label, c.tag);
        }
        if c.kind == ControlKind::Toggle {
            let (Some(on), Some(off)) = (&c.on, &c.off) else {
                bail!("control `{}`: a toggle needs `on` and `off` values", c.label);
            };
            for v in [on, off] {
                if !values.contains(v) {
                    bail!("control `{}`: no series has {} = `{v}` (values: {})", c.label, c.tag, values.join(", "));
                }
            }
            values = vec![off.clone(), on.clone()];
        } else if c.kind == ControlKind::Slider && values.iter().all(|v| v.parse::<f64>().is_ok()) {
            values.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
        }
        let value = match &c.value {
            Some(v) if values.contains(v) => v.clone(),
            Some(v) => bail!("control `{}`: initial value `{v}` is not one of {}", c.label, values.join(", ")),
            None => values[0].clone(),
        };
        controls.push(Control { kind: c.kind, tag: c.tag.clone(), label: c.label.clone(), values, value });
    }
    Ok(Resolved {
        title: spec.title,
        caption: spec.caption,
        source: spec.data,
        x: Axis { label: spec.x.label, log: spec.x.log, min: spec.x.min, max: spec.x.max },
        y: Axis { label: spec.y.label, log: spec.y.log, min: spec.y.min, max: spec.y.max },
        cursor: spec.cursor,
        controls,
        series,
    })
}

/// The one line of HTML an interactive block becomes.
fn figure_html(resolved: &Resolved, id: &str) -> Result<String> {
    // `<` only occurs inside JSON strings, where `\u003c` means the same: no `</script>` can end
    // the element early.
    let json = serde_json::to_string(resolved)?.replace('<', "\\u003c");
    let title = crate::markdown::escape_html_line(&resolved.title);
    Ok(format!(
        "<figure class=\"interactive\" id=\"{id}\" aria-label=\"{title}\"><script type=\"application/json\" \
         class=\"interactive-spec\">{json}</script><noscript><p>{title}: this interactive figure needs JavaScript.</p>\
         </noscript></figure>"
    ))
}

/// Replaces every interactive block of `content` with its figure; errors name the block's line.
/// The figures get the ids `interactive-<chapter>-1`, `-2`… (unique in the print page too).
pub fn expand(content: &str, figures_dir: &Path, chapter: &str) -> Result<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(std::ops::Range<usize>, String)> = None;
    for (event, range) in markdown::parser(content).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if info.trim() == LANGUAGE => {
                current = Some((range, String::new()));
            }
            Event::Text(text) => {
                if let Some((_, spec)) = current.as_mut() {
                    spec.push_str(&text);
                }
            }
            Event::End(_) => blocks.extend(current.take()),
            _ => {}
        }
    }
    let mut out = String::with_capacity(content.len());
    let mut copied_to = 0;
    let mut problems = Vec::new();
    for (n, (range, spec)) in blocks.into_iter().enumerate() {
        out.push_str(&content[copied_to..range.start]);
        copied_to = range.end;
        let line = markdown::line_of(content, range.start);
        match resolve(&spec, figures_dir).and_then(|r| figure_html(&r, &format!("interactive-{chapter}-{}", n + 1))) {
            Ok(html) => {
                out.push_str(&html);
                out.push('\n');
            }
            Err(e) => problems.push(format!("line {line}: interactive figure: {e:#}")),
        }
    }
    out.push_str(&content[copied_to..]);
    if problems.is_empty() { Ok(out) } else { bail!("{}", problems.join("\n")) }
}

/// The mdBook preprocessor.
pub struct InteractivePreprocessor;

impl mdbook_preprocessor::Preprocessor for InteractivePreprocessor {
    fn name(&self) -> &str {
        "interactive"
    }

    fn run(&self, ctx: &PreprocessorContext, mut book: Book) -> Result<Book> {
        let figures_dir = ctx.root.join(&ctx.config.book.src).join("figures");
        super::rewrite_chapters(&mut book, "interactive figures that do not resolve", |chapter| {
            if !chapter.content.contains(LANGUAGE) {
                return Ok(None);
            }
            let stem =
                chapter.source_path.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
            let id: String = stem
                .unwrap_or_else(|| chapter.name.clone())
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            expand(&chapter.content, &figures_dir, &id).map(Some)
        })?;
        Ok(book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn figures(data: Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        chapter_kit::figure::Figure::new("ch07", "demo", "alt", String::new(), &data)
            .unwrap()
            .write(dir.path())
            .unwrap();
        dir
    }

    const SPEC: &str = r#"
data = "ch07/demo.json"
title = "Loss <by> rate"
x = { label = "step", from = 1 }
y = { label = "loss", log = true }
cursor = { label = "step", value = 2 }

[[series]]
each = "runs"
y = "losses"
label = "rate {rate}"
tags = { rate = "{rate}" }

[[series]]
y = "bound"
label = "bound"
dashed = true

[[control]]
kind = "slider"
tag = "rate"
label = "learning rate"
value = "0.5"
"#;

    #[test]
    fn resolves_series_tags_and_controls() {
        let dir = figures(json!({
            "runs": [{"rate": 1.5, "losses": [3.0, 2.0, null]}, {"rate": 0.5, "losses": [3.0, 1.0, 0.5]}],
            "bound": [1.0, 1.0, 1.0]
        }));
        let r = resolve(SPEC, &dir.path().join("figures")).unwrap();
        assert_eq!(r.series.len(), 3);
        assert_eq!(r.series[0].label, "rate 1.5");
        assert_eq!(r.series[0].x, [Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(r.series[0].y, [Some(3.0), Some(2.0), None]);
        assert!(r.series[2].tags.is_empty() && r.series[2].dashed);
        assert_eq!(r.controls[0].values, ["0.5", "1.5"], "a slider's values are sorted");
        assert_eq!(r.controls[0].value, "0.5");
        let html = figure_html(&r, "interactive-1").unwrap();
        assert!(!html.contains('\n') && !html.contains("<by>") && html.contains("Loss \\u003cby> rate"), "{html}");
        assert!(html.contains("Loss &lt;by&gt; rate"));
    }

    #[test]
    fn maps_over_arrays_of_objects() {
        let dir =
            figures(json!({"rows": [{"h": 0.1, "f32": 1e-2, "f64": 1e-3}, {"h": 0.01, "f32": 1e-3, "f64": 1e-5}]}));
        let spec = "data = \"ch07/demo.json\"\ntitle = \"t\"\nx = { log = true }\ny = { log = true }\n\
                    [[series]]\nx = \"rows.*.h\"\ny = \"rows.*.f64\"\nlabel = \"f64\"\ntags = { p = \"f64\" }\n\
                    [[series]]\nx = \"rows.*.h\"\ny = \"rows.*.f32\"\nlabel = \"f32\"\ntags = { p = \"f32\" }\n\
                    [[control]]\nkind = \"toggle\"\ntag = \"p\"\nlabel = \"double precision\"\non = \"f64\"\noff = \"f32\"\n";
        let r = resolve(spec, &dir.path().join("figures")).unwrap();
        assert_eq!(r.series[0].x, [Some(0.1), Some(0.01)]);
        assert_eq!(r.series[0].y, [Some(1e-3), Some(1e-5)]);
        assert_eq!(r.controls[0].values, ["f32", "f64"]);
    }

    #[test]
    fn root_paths_colour_keys_when_and_ranges() {
        let dir = figures(json!({
            "options": {"depths": [1, 2, 4]},
            "series": [
                {"act": {"leaky": 0.1}, "spike": null, "scores": [[{"lr": 0.1, "acc": 0.9}], [{"lr": 0.1, "acc": 0.8}], [{"lr": 0.1, "acc": 0.7}]], "best": [0.9, 0.9, 0.8]},
                {"act": "tanh", "spike": 0.5, "scores": [[{"lr": 0.1, "acc": 0.5}], [{"lr": 0.1, "acc": 0.4}], [{"lr": 0.1, "acc": 0.3}]], "best": [0.6, 0.5, 0.4]}
            ]
        }));
        let spec = r#"
data = "ch07/demo.json"
title = "t"
y = { min = 0, max = 1 }

[[series]]
each = "series"
x = "/options.depths"
y = "scores.*.0.acc"
label = "rate {scores.0.0.lr}, depths up to {/options.depths.2}"
tags = { lr = "{scores.0.0.lr}" }
colour = "{act}"

[[series]]
each = "series"
x = "/options.depths"
y = "best"
label = "best, spike {spike}"
tags = { spike = "{spike}" }
colour = "{act}"
when = "spike"
dashed = true

[[series]]
y = "series.0.best"
label = "no colour key"

[[control]]
kind = "select"
tag = "spike"
label = "spike"
"#;
        let r = resolve(spec, &dir.path().join("figures")).unwrap();
        assert_eq!(r.series[0].x, [Some(1.0), Some(2.0), Some(4.0)], "`/path` reads from the root");
        assert_eq!(r.series[1].y, [Some(0.5), Some(0.4), Some(0.3)]);
        assert_eq!(r.series[0].label, "rate 0.1, depths up to 4");
        assert_eq!(r.series.len(), 4, "`when` leaves out the element whose spike is null");
        assert_eq!(r.series[2].label, "best, spike 0.5");
        assert_eq!(r.controls[0].values, ["0.5"]);
        let colours: Vec<usize> = r.series.iter().map(|s| s.colour).collect();
        assert_eq!(colours, [0, 1, 1, 2], "same key, same colour; no key, a colour of its own");
        assert_eq!((r.y.min, r.y.max), (Some(0.0), Some(1.0)));
        let html = figure_html(&r, "interactive-1").unwrap();
        assert!(html.contains("\"colour\":1") && html.contains("\"max\":1.0"), "{html}");

        // An element without the `when` path is skipped too (a GRU run has no cell state `c`).
        let gated = figures(json!({"runs": [{"h": [1.0, 0.5], "c": [1.0, 0.9]}, {"h": [1.0, 0.2]}]}));
        let spec_c = "data = \"ch07/demo.json\"\ntitle = \"t\"\n[[series]]\neach = \"runs\"\ny = \"c\"\nwhen = \"c\"\nlabel = \"c\"\n";
        let r = resolve(spec_c, &gated.path().join("figures")).unwrap();
        assert_eq!(r.series.len(), 1);
        assert_eq!(r.series[0].y, [Some(1.0), Some(0.9)]);

        // Without colour keys every series has its own colour, as before.
        let plain =
            figures(json!({"runs": [{"rate": 0.5, "losses": [1.0]}, {"rate": 1.5, "losses": [2.0]}], "bound": [1.0]}));
        let r = resolve(SPEC, &plain.path().join("figures")).unwrap();
        assert_eq!(r.series.iter().map(|s| s.colour).collect::<Vec<_>>(), [0, 1, 2]);

        let figures_dir = dir.path().join("figures");
        for (bad, needle) in [
            (spec.replace("min = 0, max = 1", "min = 1, max = 0"), "min = 1 is not below max = 0"),
            (spec.replace("min = 0, max = 1", "log = true, min = 0"), "min and max must be positive"),
            (spec.replace("min = 0, max = 1", "min = 2"), "no value to draw inside its min and max"),
            (spec.replace("/options.depths.2", "/options.depth.2"), "no `options.depth.2`"),
            (spec.replace("when = \"spike\"", "when = \"spiek\""), "when = `spiek`: no element has it"),
            (spec.replace("tags = { lr", "tags = { act = \"{act}\", lr"), "cannot go into a label"),
        ] {
            let err = format!("{:#}", resolve(&bad, &figures_dir).unwrap_err());
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn mistakes_are_build_errors_with_a_line() {
        let dir = figures(json!({"runs": [{"rate": 1, "losses": [1.0]}], "bound": [1.0]}));
        let figures_dir = dir.path().join("figures");
        for (spec, needle) in [
            (SPEC.replace("losses", "lossez"), "`lossez` is not an array"),
            (SPEC.replace("ch07/demo.json", "../x.json"), "inside src/figures"),
            (SPEC.replace("ch07/demo.json", "ch07/none.json"), "none.json"),
            (SPEC.replace("value = \"0.5\"", "value = \"9\""), "initial value `9`"),
            (SPEC.replace("tag = \"rate\"", "tag = \"ratio\""), "no series has the tag `ratio`"),
            (SPEC.replace("title", "titel"), "unknown field"),
        ] {
            let md = format!("# T\n\ntext\n\n```interactive\n{spec}```\n");
            let err = format!("{:#}", expand(&md, &figures_dir, "07-demo").unwrap_err());
            assert!(err.contains("line 5") && err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn blocks_become_figures_and_other_code_stays() {
        let dir = figures(json!({"runs": [{"rate": 0.5, "losses": [1.0, 0.5]}], "bound": [1.0, 1.0]}));
        let md = format!("# T\n\n```toml\nx = 1\n```\n\n```interactive\n{SPEC}```\n\nAfter.\n");
        let out = expand(&md, &dir.path().join("figures"), "07-demo").unwrap();
        assert!(out.contains("```toml\nx = 1\n```"));
        assert!(out.contains("<figure class=\"interactive\" id=\"interactive-07-demo-1\""));
        assert!(out.contains("</figure>\n\n\nAfter.") || out.contains("</figure>\n\nAfter."), "{out}");
        assert!(!out.contains("```interactive"));
    }
}
