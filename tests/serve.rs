//! The served book, for real: one `book serve` server (built site + Run API on the real runner,
//! warmed up once) shared by every test in this file.
//!
//! - The Run API refuses foreign `Host`s, foreign or missing `Origin`s, cross-site fetches, missing
//!   or wrong tokens and non-JSON bodies, and runs nothing when it refuses; a proper request runs.
//! - The runner's limits hold on real programs: wall time (with the program's child process killed
//!   too), memory, output; compiler errors come back readable; figures a program writes come back.
//! - Headless Chromium, driven over the DevTools protocol (the `headless_chrome` crate): every page loads with no console error,
//!   no failed request and no request leaving the machine; images and math render; a Run click on
//!   a chapter-1 listing shows its output, an edit changes it, a broken edit shows the compiler's
//!   error, Reset restores it; interactive figures respond to their controls. The same pages from a
//!   static server (no Run API) show recorded outputs, no Run button, and working figures.
//!
//! Chromium: `CHROMIUM=/path` or `chromium`/`chromium-browser`/`google-chrome` on PATH. Without
//! one the browser test is skipped with a loud message, except under `CI=true`, where it fails.
//! `BOOK_TEST_ROOT=/path` tests another book root (default: this workspace).

use anyhow::{Context, Result, bail};
use book::listings::runner::{RunLimits, Runner};
use book::markdown::pulldown_cmark::{CodeBlockKind, Event, Tag};
use book::serve::{Readiness, RunOptions, RunningServer, TOKEN_HEADER, TOKEN_META};
use headless_chrome::browser::tab::point::Point;
use headless_chrome::protocol::cdp::types::Event as CdpEvent;
use headless_chrome::protocol::cdp::{Input, Log, Network, Page, Runtime};
use headless_chrome::{LaunchOptions, Tab};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Limits of the test server's runs: small, so the limit tests are quick.
const RUN_WALL: Duration = Duration::from_secs(10);
const RUN_MEMORY: u64 = 2 << 30;
const RUN_OUTPUT: usize = 64 << 10;

struct Shared {
    _dir: tempfile::TempDir,
    root: PathBuf,
    site: PathBuf,
    server: RunningServer,
    token: String,
    started: Instant,
    ready_after: OnceLock<Duration>,
}

fn book_root() -> PathBuf {
    std::env::var_os("BOOK_TEST_ROOT").map(PathBuf::from).unwrap_or_else(book::workspace_root)
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = book_root();
        let site = book::site::build(&root, Some(&dir.path().join("site"))).expect("the book builds").site;
        let workspace = book::workspace_root();
        let mut limits = RunLimits::default();
        limits.run.wall_time = RUN_WALL;
        limits.run.cpu_seconds = Some(4 * RUN_WALL.as_secs());
        limits.run.memory_bytes = Some(RUN_MEMORY);
        limits.run.output_bytes = RUN_OUTPUT;
        let runner = Runner::new(&workspace, &book::listings::runner::default_scratch_dir(&workspace), limits).unwrap();
        let run =
            RunOptions { executor: Arc::new(runner), max_waiting: 64, warm_up: book::listings::first_listing(&root) };
        let started = Instant::now();
        let server = book::serve::start_with(&site, "127.0.0.1:0".parse().unwrap(), Some(run)).unwrap();
        // The token, read from a served page exactly as the browser gets it.
        let page = http(server.addr(), "GET", "/", &[], "").unwrap();
        assert_eq!(page.status, 200);
        assert!(page.head.contains("content-security-policy: default-src 'self'"), "{}", page.head);
        let token = meta_token(&page.body).expect("served pages carry the Run token");
        Shared { _dir: dir, root, site, server, token, started, ready_after: OnceLock::new() }
    })
}

fn meta_token(html: &str) -> Option<String> {
    let at = html.find(&format!("<meta name=\"{TOKEN_META}\" content=\""))?;
    let rest = &html[at..];
    let start = rest.find("content=\"")? + "content=\"".len();
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_string())
}

/// Waits for the warm-up (preparing the runner and compiling the first listing) to finish.
fn ready(shared: &Shared) -> Duration {
    *shared.ready_after.get_or_init(|| {
        let deadline = Instant::now() + Duration::from_secs(45 * 60);
        loop {
            match shared.server.readiness() {
                Some(Readiness::Ready) => break,
                Some(Readiness::Failed(e)) => panic!("the Run API failed to get ready: {e}"),
                _ if Instant::now() > deadline => panic!("the Run API was not ready after 45 minutes"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let took = shared.started.elapsed();
        eprintln!(
            "[serve] Run API ready {:.1} s after the server started (prepare + first listing)",
            took.as_secs_f64()
        );
        took
    })
}

struct HttpReply {
    status: u16,
    /// Header lines, lower-cased.
    head: String,
    body: String,
}

/// One HTTP/1.1 exchange. `headers` may override `Host`; a chunked body is decoded.
fn http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Result<HttpReply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut request = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let status = head.split(' ').nth(1).context("no status line")?.parse()?;
    let mut body = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).context("a chunk size")?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok())
    {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(HttpReply { status, head, body: String::from_utf8_lossy(&body).into_owned() })
}

/// The headers a page served by the server sends with a run.
fn page_headers<'a>(shared: &'a Shared, origin: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("Origin", origin), ("Content-Type", "application/json"), (TOKEN_HEADER, shared.token.as_str())]
}

/// Posts `code` like the page does; returns the stages seen and the final event.
fn run(shared: &Shared, code: &str) -> Result<(Vec<String>, Value)> {
    let origin = format!("http://{}", shared.server.addr());
    let body = json!({ "code": code, "crate": "ch01_gradients" }).to_string();
    let reply = http(shared.server.addr(), "POST", "/api/run", &page_headers(shared, &origin), &body)?;
    if reply.status != 200 {
        bail!("status {}: {}", reply.status, reply.body);
    }
    let events: Vec<Value> = reply.body.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let stages = events.iter().filter_map(|e| e["stage"].as_str().map(str::to_string)).collect();
    let last = events.last().cloned().context("no events")?;
    Ok((stages, last))
}

fn outcome(shared: &Shared, code: &str) -> Value {
    let (stages, last) = run(shared, code).unwrap();
    assert_eq!(last["stage"], "done", "stages {stages:?}, last {last}");
    assert!(stages.contains(&"compiling".to_string()), "{stages:?}");
    last["outcome"].clone()
}

#[test]
fn the_run_api_refuses_foreign_requests_and_runs_nothing() {
    let shared = shared();
    let addr = shared.server.addr();
    let marker = shared._dir.path().join("ran.txt");
    let code = format!("fn main() {{ std::fs::write({:?}, \"ran\").unwrap(); }}\n", marker.display().to_string());
    let body = json!({ "code": code }).to_string();
    let origin = format!("http://{addr}");
    let attacker_host = format!("attacker.example:{}", addr.port());
    let token = shared.token.as_str();
    let json_type = ("Content-Type", "application/json");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        (
            "a DNS-rebound Host",
            vec![("Host", &attacker_host), ("Origin", "http://attacker.example"), json_type, (TOKEN_HEADER, token)],
            403,
        ),
        ("a foreign Origin", vec![("Origin", "http://evil.example"), json_type, (TOKEN_HEADER, token)], 403),
        ("no Origin", vec![json_type, (TOKEN_HEADER, token)], 403),
        (
            "a cross-site fetch",
            vec![("Origin", &origin), ("Sec-Fetch-Site", "cross-site"), json_type, (TOKEN_HEADER, token)],
            403,
        ),
        ("no token", vec![("Origin", &origin), json_type], 403),
        (
            "a wrong token",
            vec![("Origin", &origin), json_type, (TOKEN_HEADER, "00000000000000000000000000000000")],
            403,
        ),
        ("a form post", vec![("Origin", &origin), ("Content-Type", "text/plain"), (TOKEN_HEADER, token)], 415),
    ];
    for (what, headers, status) in cases {
        let reply = http(addr, "POST", "/api/run", &headers, &body).unwrap();
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
    }
    // Pages, too, are only served under the loopback names (the token is in them).
    let reply = http(addr, "GET", "/index.html", &[("Host", &attacker_host)], "").unwrap();
    assert_eq!(reply.status, 403);
    assert!(meta_token(&reply.body).is_none());
    let too_big = json!({ "code": "x".repeat(book::serve::MAX_CODE_BYTES) }).to_string();
    assert_eq!(http(addr, "POST", "/api/run", &page_headers(shared, &origin), &too_big).unwrap().status, 413);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "a refused request ran code");

    // The same request from the book's own page runs: the refusals above were the checks, not a
    // broken runner.
    let result = outcome(shared, &code);
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran");
}

#[test]
fn runaway_programs_are_stopped_with_their_children() {
    let shared = shared();
    // A program that starts a child process, then never ends.
    let code = "fn main() {\n    let child = std::process::Command::new(\"sleep\").arg(\"600\").spawn().unwrap();\n    \
                println!(\"{}\", child.id());\n    loop { std::hint::spin_loop(); }\n}\n";
    let started = Instant::now();
    let result = outcome(shared, code);
    assert!(result["ending"].as_str().unwrap().contains("ran longer than the limit of 10 s"), "{result}");
    assert!(started.elapsed() < RUN_WALL + Duration::from_secs(120));
    let pid: u32 = result["stdout"].as_str().unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(state.is_empty() || state.contains(") Z"), "the program's child {pid} survived: {state}");

    let result =
        outcome(shared, "fn main() {\n    let v = vec![1u8; 6 << 30];\n    println!(\"{}\", v[v.len() / 2]);\n}\n");
    assert_eq!(result["success"], false, "{result}");
    assert!(result["stderr"].as_str().unwrap().contains("memory allocation of 6442450944 bytes failed"), "{result}");

    let result = outcome(shared, "fn main() {\n    loop {\n        println!(\"spam, spam, spam\");\n    }\n}\n");
    assert!(result["ending"].as_str().unwrap().contains("printed more than the limit"), "{result}");
    assert_eq!(result["stdout"].as_str().unwrap().len(), RUN_OUTPUT);
}

#[test]
fn compiler_errors_are_readable_and_written_figures_come_back() {
    let shared = shared();
    let result = outcome(shared, "fn main() {\n    let x: u32 = \"three\";\n}\n");
    assert_eq!(result["compiled"], false);
    let compiler = result["compiler"].as_str().unwrap();
    assert!(compiler.contains("error[E0308]: mismatched types") && compiler.contains("listing.rs:2:"), "{compiler}");

    // A chapter crate's own code, as a listing uses it, and a figure written with lab.
    let code = "use anyhow::Result;\nuse chapter_kit::figure::Figure;\n\nfn main() -> Result<()> {\n    \
                let figure = Figure::new(\"ch01\", \"mine\", \"alt\", \"<svg xmlns='http://www.w3.org/2000/svg'/>\".into(), &1)?;\n    \
                figure.write(std::path::Path::new(\".\"))?;\n    println!(\"{}\", ch01_gradients::chain::chain_rule_by_hand(lab::Activation::Sigmoid, 1.0, 0.0, 0.0, 2).len());\n    \
                Ok(())\n}\n";
    let result = outcome(shared, code);
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(result["stdout"], "2\n");
    assert_eq!(result["figures"][0]["name"], "figures/ch01/mine.svg", "{result}");
    assert!(result["figures"][0]["svg"].as_str().unwrap().starts_with("<svg"));
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium, driven over the DevTools protocol by the `headless_chrome` crate (without its
// `fetch` feature: it never downloads a browser, it starts the one found below).

/// What the page's session reported that the checks read, in order.
#[derive(Debug, Clone)]
enum Seen {
    /// A console error or assertion, an uncaught exception, a browser log error.
    Problem(String),
    Request {
        id: String,
        url: String,
    },
    Finished {
        id: String,
    },
    Failed {
        id: String,
        error: String,
        canceled: bool,
    },
    Response {
        status: u32,
        url: String,
    },
    Loaded,
}

/// A headless Chromium and one page.
struct Browser {
    tab: Arc<Tab>,
    /// Owns the browser process (closed on drop).
    _browser: headless_chrome::Browser,
    _profile: tempfile::TempDir,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        ["chromium", "chromium-browser", "google-chrome"].iter().map(|name| dir.join(name)).find(|p| p.is_file())
    })
}

/// The event as a [`Seen`], if the checks read it.
fn seen(event: &CdpEvent) -> Option<Seen> {
    Some(match event {
        CdpEvent::RuntimeConsoleAPICalled(e)
            if matches!(
                e.params.Type,
                Runtime::ConsoleAPICalledEventTypeOption::Error | Runtime::ConsoleAPICalledEventTypeOption::Assert
            ) =>
        {
            let args: Vec<_> = e.params.args.iter().map(|a| a.value.clone().unwrap_or_default()).collect();
            Seen::Problem(format!("console error: {args:?}"))
        }
        CdpEvent::RuntimeExceptionThrown(e) => Seen::Problem(format!("exception: {:?}", e.params.exception_details)),
        CdpEvent::LogEntryAdded(e) if matches!(e.params.entry.level, Log::LogEntryLevel::Error) => {
            Seen::Problem(format!("browser error: {} ({:?})", e.params.entry.text, e.params.entry.url))
        }
        CdpEvent::NetworkRequestWillBeSent(e) => {
            Seen::Request { id: e.params.request_id.clone(), url: e.params.request.url.clone() }
        }
        CdpEvent::NetworkLoadingFinished(e) => Seen::Finished { id: e.params.request_id.clone() },
        CdpEvent::NetworkLoadingFailed(e) => Seen::Failed {
            id: e.params.request_id.clone(),
            error: e.params.error_text.clone(),
            canceled: e.params.canceled == Some(true),
        },
        CdpEvent::NetworkResponseReceived(e) => {
            Seen::Response { status: e.params.response.status, url: e.params.response.url.clone() }
        }
        CdpEvent::PageLoadEventFired(_) => Seen::Loaded,
        _ => return None,
    })
}

impl Browser {
    fn launch(chromium: &Path) -> Result<Browser> {
        let profile = tempfile::tempdir()?;
        let args: Vec<&std::ffi::OsStr> = ["--disable-gpu", "--disable-component-update", "--disable-sync"]
            .iter()
            .map(std::ffi::OsStr::new)
            .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(chromium.to_path_buf()))
            // headless, and the crate's defaults: --disable-background-networking, --no-first-run…
            .headless(true)
            .sandbox(false)
            .window_size(Some((1200, 900)))
            .user_data_dir(Some(profile.path().to_path_buf()))
            .args(args)
            // The test waits minutes for the Run API to warm up without talking to the browser.
            .idle_browser_timeout(Duration::from_secs(3 * 3600))
            .build()
            .map_err(|e| anyhow::anyhow!("Chromium launch options: {e}"))?;
        let browser = headless_chrome::Browser::new(options)
            .with_context(|| format!("starting {} and connecting to it", chromium.display()))?;
        let tab = browser.new_tab()?;
        // Generous: on a busy 2-core machine a long chapter can take a while to lay out.
        tab.set_default_timeout(Duration::from_secs(180));
        let seen_events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen_events);
        tab.add_event_listener(Arc::new(move |event: &CdpEvent| {
            if let Some(record) = seen(event) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(record);
            }
        }))?;
        tab.enable_runtime()?;
        tab.enable_log()?;
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })?;
        Ok(Browser { tab, _browser: browser, _profile: profile, seen: seen_events })
    }

    /// A mark in what the page reported, for [`Browser::problems_since`].
    fn mark(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn seen_since(&self, from: usize) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())[from..].to_vec()
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    fn eval(&self, expression: &str) -> Result<Value> {
        let evaluated = self.tab.call_method(Runtime::Evaluate {
            expression: expression.to_string(),
            return_by_value: Some(true),
            await_promise: Some(true),
            generate_preview: None,
            silent: None,
            include_command_line_api: None,
            user_gesture: None,
            object_group: None,
            context_id: None,
            throw_on_side_effect: None,
            timeout: None,
            disable_breaks: None,
            repl_mode: None,
            allow_unsafe_eval_blocked_by_csp: None,
            unique_context_id: None,
            serialization_options: None,
        })?;
        if let Some(details) = evaluated.exception_details {
            bail!("`{expression}` threw: {details:?}");
        }
        Ok(evaluated.result.value.unwrap_or(Value::Null))
    }

    /// Evaluates `expression` until it is truthy.
    fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression)?;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != json!("") && value != json!(0);
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("waited {timeout:?} for `{expression}`");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Loads `url` and waits for its load event and for its network to settle.
    fn open(&self, url: &str) -> Result<()> {
        let from = self.mark();
        self.tab.navigate_to(url)?;
        let deadline = Instant::now() + Duration::from_secs(180);
        while !self.seen_since(from).iter().any(|s| matches!(s, Seen::Loaded)) {
            if Instant::now() > deadline {
                let seen = self.seen_since(from);
                let unfinished: Vec<&str> = seen
                    .iter()
                    .filter_map(|s| match s {
                        Seen::Request { id, url } => Some((id, url.as_str())),
                        _ => None,
                    })
                    .filter(|(id, _)| {
                        !seen.iter().any(
                            |s| matches!(s, Seen::Finished { id: done } | Seen::Failed { id: done, .. } if done == *id),
                        )
                    })
                    .map(|(_, url)| url)
                    .collect();
                bail!("{url} did not finish loading; requests without an answer: {unfinished:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.settle(Duration::from_millis(500));
        Ok(())
    }

    /// Waits until the page has reported nothing for `quiet`.
    fn settle(&self, quiet: Duration) {
        let (mut count, mut since) = (self.mark(), Instant::now());
        while since.elapsed() < quiet {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.mark();
            if now != count {
                (count, since) = (now, Instant::now());
            }
        }
    }

    /// A real left click at the centre of the element `selector` matches (scrolled into view).
    fn click(&self, selector: &str) -> Result<()> {
        let point = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ))?;
        let (Some(x), Some(y)) = (point[0].as_f64(), point[1].as_f64()) else { bail!("nothing matches {selector}") };
        self.tab.click_point(Point { x, y })?;
        Ok(())
    }

    /// Types `text` at the caret, as a reader's keyboard (or an input method) would.
    fn insert_text(&self, text: &str) -> Result<()> {
        self.tab.call_method(Input::InsertText { text: text.to_string() })?;
        Ok(())
    }

    /// With `BOOK_TEST_SCREENSHOTS=<dir>`, saves a PNG of what `selector` matches (scrolled into
    /// view) as `<dir>/<name>.png`, for a person to look at.
    fn screenshot(&self, selector: &str, name: &str) -> Result<()> {
        let Some(dir) = std::env::var_os("BOOK_TEST_SCREENSHOTS") else {
            return Ok(());
        };
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; }})()"
        ))?;
        let number = |i: usize| rect[i].as_f64().context("no element to capture");
        let clip = Page::Viewport { x: number(0)?, y: number(1)?, width: number(2)?, height: number(3)?, scale: 1.0 };
        let png = self.tab.capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, Some(clip), true)?;
        std::fs::create_dir_all(&dir)?;
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png)?;
        Ok(())
    }

    /// Presses a key (`ArrowRight`…) in the focused element.
    fn key(&self, key: &str) -> Result<()> {
        self.tab.press_key(key)?;
        Ok(())
    }

    /// Problems seen since `from`: console errors, exceptions, failed or error responses, and
    /// requests to anything but `origin` (and data: URLs).
    fn problems_since(&self, from: usize, origin: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut urls = HashMap::new();
        for seen in self.seen_since(from) {
            match seen {
                Seen::Problem(problem) => problems.push(problem),
                Seen::Request { id, url } => {
                    if !(url.starts_with(origin) || url.starts_with("data:") || url.starts_with("about:")) {
                        problems.push(format!("request leaving the book's server: {url}"));
                    }
                    urls.insert(id, url);
                }
                Seen::Failed { id, error, canceled: false } => {
                    let url = urls.get(&id).cloned().unwrap_or_default();
                    problems.push(format!("failed request: {url}: {error}"));
                }
                Seen::Response { status, url } if status >= 400 => problems.push(format!("HTTP {status} for {url}")),
                _ => {}
            }
        }
        problems
    }
}

/// The pages a reader opens: every HTML file of the site but `print.html` (every chapter at once,
/// which opens the print dialog) and `toc.html` (the sidebar for readers without JavaScript, only
/// ever shown inside a page).
fn pages(site: &Path) -> Vec<String> {
    let mut pages: Vec<String> = book::files::files_under(site)
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .filter(|p| p.file_name().is_some_and(|n| n != "print.html" && n != "toc.html"))
        .map(|p| p.strip_prefix(site).unwrap().display().to_string())
        .collect();
    pages.sort();
    pages
}

const LISTING_2: &str = "div.listing-output[data-listing=\"2\"]";

/// In the page: moves every control and cursor of every interactive figure to another value and
/// back, and lists each one whose move changed nothing drawn (lines, read-out, legend), left no
/// line drawn, raised an error, or whose move back did not restore the figure.
const EVERY_CONTROL_WORKS: &str = r#"(() => {
  const failures = [];
  const state = f => [f.querySelector('.interactive-readout').textContent,
    Array.from(f.querySelectorAll('svg.interactive-plot path')).map(p => p.getAttribute('d')).join(';'),
    Array.from(f.querySelectorAll('.interactive-legend-item')).filter(i => !i.hidden).map(i => i.textContent).join(';')].join('|');
  const set = (input, value) => {
    if (input.type === 'checkbox') { input.checked = value; } else { input.value = value; }
    input.dispatchEvent(new Event(input.type === 'range' ? 'input' : 'change'));
  };
  document.querySelectorAll('figure.interactive').forEach(f => {
    f.querySelectorAll('.interactive-controls input, .interactive-controls select').forEach(input => {
      const name = `${f.id}: ${input.id}`;
      const original = input.type === 'checkbox' ? input.checked : input.value;
      let other;
      if (input.type === 'checkbox') { other = !original; }
      else if (input.type === 'range') { other = input.value === input.max ? input.min : input.max; }
      else { other = Array.from(input.options).map(o => o.value).find(v => v !== original); }
      if (other === undefined || String(other) === String(original)) { failures.push(`${name} has a single value`); return; }
      const before = state(f);
      try { set(input, other); } catch (e) { failures.push(`${name} threw ${e}`); return; }
      const after = state(f);
      if (after === before) { failures.push(`${name} changed nothing`); }
      if (!Array.from(f.querySelectorAll('svg.interactive-plot path')).some(p => (p.getAttribute('d') || '').length > 0)) {
        failures.push(`${name} left no line drawn`);
      }
      if (f.querySelector('.interactive-error')) { failures.push(`${name} broke the figure`); }
      set(input, original);
      if (state(f) !== before) { failures.push(`${name}: moving it back did not restore the figure`); }
    });
  });
  return failures;
})()"#;

#[test]
fn the_served_book_works_in_a_real_browser() -> Result<()> {
    let Some(chromium) = find_chromium() else {
        let message = "Chromium not found (install Debian's `chromium`, or set CHROMIUM=/path/to/chromium)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}: under CI=true the browser test must run");
        }
        eprintln!("\n==============================================================");
        eprintln!("SKIPPED the browser test: {message}");
        eprintln!("==============================================================\n");
        return Ok(());
    };
    let shared = shared();
    let origin = format!("http://{}", shared.server.addr());
    let browser = Browser::launch(&chromium)?;

    // Every page loads cleanly; images and math render; every interactive figure is drawn, and each
    // of its controls (sliders, selects, toggles, the cursor) changes what it shows and back.
    let mut figures_seen = 0;
    for page in pages(&shared.site) {
        let from = browser.mark();
        browser.open(&format!("{origin}/{page}"))?;
        // Going deeper blocks are closed by default (tests/teaching.rs checks that); open them so that
        // their formulas and figures are checked and their controls can take focus.
        browser.eval("document.querySelectorAll('details.going-deeper').forEach(d => { d.open = true; })")?;
        let broken_images = browser.eval(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))",
        )?;
        assert_eq!(broken_images, json!([]), "{page}: images that do not render");
        // Formulas in closed <details> (quiz answers, solutions) are not rendered until opened.
        let math = browser.eval(
            "(() => { const shown = Array.from(document.querySelectorAll('main math')).filter(m => m.checkVisibility()); \
             return [shown.length, shown.filter(m => m.getBoundingClientRect().width > 0).length]; })()",
        )?;
        let (shown, drawn) = (math[0].as_u64().unwrap_or(0), math[1].as_u64().unwrap_or(0));
        assert_eq!(drawn, shown, "{page}: formulas without a size");
        let undrawn = browser.eval(
            "Array.from(document.querySelectorAll('figure.interactive')).filter(f => !f.dataset.ready || \
             f.querySelector('.interactive-error') || !f.querySelector('svg path')).map(f => f.id)",
        )?;
        assert_eq!(undrawn, json!([]), "{page}: interactive figures that were not drawn");
        let dead = browser.eval(EVERY_CONTROL_WORKS)?;
        assert_eq!(dead, json!([]), "{page}: interactive figures whose controls do not work");
        let ids = browser.eval("Array.from(document.querySelectorAll('figure.interactive')).map(f => f.id)")?;
        for id in ids.as_array().into_iter().flatten().filter_map(Value::as_str) {
            figures_seen += 1;
            browser.screenshot(&format!("#{id}"), id)?;
        }
        let problems = browser.problems_since(from, &origin);
        assert!(problems.is_empty(), "{page}:\n{}", problems.join("\n"));
    }

    let blocks: usize = book::files::files_under(&shared.root.join("src"))?
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            book::markdown::parser(&text)
                .filter(|e| {
                    matches!(e, Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                    if info.trim() == book::preprocess::interactive::LANGUAGE)
                })
                .count()
        })
        .sum();
    assert_eq!(figures_seen, blocks, "interactive figures on the pages against ```interactive blocks in src/");

    let chapter = format!("{origin}/01-gradients.html");
    let from = browser.mark();
    browser.open(&chapter)?;
    let math_font = browser.eval("document.fonts.check('16px \"Latin Modern Math\"')")?;
    assert_eq!(math_font, json!(true), "the bundled math font is not available");

    // Run: the live output of listing 1-2 is what the book recorded for it.
    let text = std::fs::read_to_string(shared.root.join("src/01-gradients.md"))?;
    let listing_2 = book::listings::listings(&text).swap_remove(1);
    let recorded = book::listings::read_outputs(&shared.root.join("src"), Path::new("01-gradients.md"))?;
    let expected = recorded.by_hash(&listing_2.hash()).context("listing 1-2 has a recorded output")?.stdout.clone();
    // run.js puts, after the listing's <pre>: a toolbar (Run, Reset, state), the live output, and
    // then comes the recorded output. Name them, to keep the selectors below short.
    browser
        .wait_for(
            &format!("document.querySelector('{LISTING_2}').parentElement.querySelector('.listing-run')"),
            Duration::from_secs(30),
        )
        .context("the Run button appears under `serve`")?;
    browser.eval(&format!(
        "(() => {{ const recorded = document.querySelector('{LISTING_2}'); recorded.id = 'recorded'; \
         const live = recorded.previousElementSibling; live.id = 'live'; const toolbar = live.previousElementSibling; \
         toolbar.querySelector('.listing-run').id = 'run'; toolbar.querySelector('.listing-reset').id = 'reset'; \
         toolbar.querySelector('.listing-state').id = 'state'; toolbar.previousElementSibling.querySelector('code').id = 'code'; }})()"
    ))?;
    let ready_after = ready(shared);
    let state = "document.getElementById('state').textContent";
    let live_stdout = "(document.querySelector('#live .listing-stdout') || {}).textContent";
    for attempt in 1..=3 {
        let clicked = Instant::now();
        browser.click("#run")?;
        let done = browser.wait_for(&format!("{state}.startsWith('done') && {state}"), Duration::from_secs(300))?;
        eprintln!("[serve] Run click {attempt} → output shown after {:.2} s ({done})", clicked.elapsed().as_secs_f64());
        let got = browser.eval(live_stdout)?;
        assert_eq!(got.as_str().map(str::trim_end), Some(expected.trim_end()), "run {attempt} of listing 1-2");
        assert_eq!(
            browser.eval("document.getElementById('recorded').hidden")?,
            json!(true),
            "the live output replaces the recorded one"
        );
    }
    eprintln!("[serve] (the server was ready {:.1} s after it started)", ready_after.as_secs_f64());

    // Edit: select a word of the code and type over it, as a reader would; Run shows the change.
    let selected = browser.eval(
        "(() => { const code = document.getElementById('code'); code.focus(); \
         const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT); let node; \
         while ((node = walker.nextNode())) { const at = node.data.indexOf('dL/dw: candle'); if (at >= 0) { \
           const range = document.createRange(); range.setStart(node, at); range.setEnd(node, at + 5); \
           getSelection().removeAllRanges(); getSelection().addRange(range); return true; } } return false; })()",
    )?;
    assert_eq!(selected, json!(true));
    browser.insert_text("EDITED dw")?;
    assert_eq!(browser.eval("!document.getElementById('reset').hidden")?, json!(true), "Reset appears after an edit");
    browser.click("#run")?;
    browser.wait_for(&format!("{state}.startsWith('done')"), Duration::from_secs(300))?;
    let got = browser.eval(live_stdout)?;
    assert!(got.as_str().unwrap_or_default().starts_with("EDITED dw: candle 0.157500419739"), "edited output: {got}");
    browser.eval("document.getElementById('code').blur()")?;
    browser.screenshot("#live", "edited-run")?;
    browser.screenshot("#code", "edited-code")?;

    // A broken edit: the compiler's error, readable, where the output was.
    browser.eval(
        "(() => { const code = document.getElementById('code'); code.focus(); const range = document.createRange(); \
         range.selectNodeContents(code); range.collapse(false); getSelection().removeAllRanges(); getSelection().addRange(range); })()",
    )?;
    browser.insert_text("\nfn broken() -> u32 { \"three\" }\n")?;
    browser.click("#run")?;
    browser.wait_for(&format!("{state}.startsWith('did not compile')"), Duration::from_secs(300))?;
    let compiler = browser.eval("document.querySelector('#live .listing-compiler').textContent")?;
    assert!(compiler.as_str().unwrap_or_default().contains("error[E0308]: mismatched types"), "{compiler}");

    // Reset: the printed listing and its recorded output are back.
    browser.click("#reset")?;
    let code = browser.eval("document.getElementById('code').textContent")?;
    assert_eq!(
        code.as_str().map(|t| format!("{}\n", t.trim_end())),
        Some(listing_2.code.clone()),
        "Reset restores the code"
    );
    assert_eq!(browser.eval("document.getElementById('recorded').hidden")?, json!(false));

    // Interactive figures: all drawn; the chain figure's depth cursor moves its read-out and lines.
    assert_eq!(browser.eval("document.querySelectorAll('figure.interactive[data-ready]').length")?, json!(3));
    let state = "(() => { const f = document.getElementById('interactive-01-gradients-3'); return f.querySelector('.interactive-readout').textContent + '|' + Array.from(f.querySelectorAll('path')).map(p => p.getAttribute('d').length).join(','); })()";
    let before = browser.eval(state)?;
    browser.eval("document.getElementById('interactive-01-gradients-3-cursor').focus()")?;
    for _ in 0..5 {
        browser.key("ArrowRight")?;
    }
    let after = browser.eval(state)?;
    for n in 1..=3 {
        browser.screenshot(&format!("#interactive-01-gradients-{n}"), &format!("interactive-{n}"))?;
    }
    assert_ne!(before, after, "the depth slider changed nothing");
    assert!(after.as_str().unwrap_or_default().starts_with("depth L = 25 →"), "{after}");
    // The descent figure's learning-rate slider swaps the run drawn.
    let drawn =
        "document.getElementById('interactive-01-gradients-1').querySelector('.interactive-readout').textContent";
    let before = browser.eval(drawn)?;
    browser.eval("document.getElementById('interactive-01-gradients-1-control-0').focus()")?;
    browser.key("ArrowRight")?;
    let after = browser.eval(drawn)?;
    assert!(
        before.as_str().unwrap_or_default().contains("η = 0.5 ×")
            && after.as_str().unwrap_or_default().contains("η = 0.95 ×"),
        "{before} → {after}"
    );
    let problems = browser.problems_since(from, &origin);
    assert!(problems.is_empty(), "01-gradients.html under serve:\n{}", problems.join("\n"));

    // Chapter 2's depth sweep: the activation selector swaps sigmoid for tanh.
    if pages(&shared.site).iter().any(|p| p == "02-saturation.html") {
        let from = browser.mark();
        browser.open(&format!("{origin}/02-saturation.html"))?;
        // The depth sweep is in a Going deeper block.
        browser.eval("document.querySelectorAll('details.going-deeper').forEach(d => { d.open = true; })")?;
        let id = "interactive-02-saturation-3";
        let readout = format!("document.querySelector('#{id} .interactive-readout').textContent");
        let before = browser.eval(&readout)?;
        browser.eval(&format!("document.getElementById('{id}-control-0').focus()"))?;
        browser.key("ArrowDown")?;
        let after = browser.eval(&readout)?;
        assert!(
            before.as_str().unwrap_or_default().contains("sigmoid: gˡ")
                && after.as_str().unwrap_or_default().contains("tanh: gˡ"),
            "{before} → {after}"
        );
        browser.screenshot(&format!("#{id}"), "interactive-ch02-sweep")?;
        let problems = browser.problems_since(from, &origin);
        assert!(problems.is_empty(), "02-saturation.html:\n{}", problems.join("\n"));
    }

    // Chapter 6's training curves: a fixed y range (`max = 4`) with every line clipped to the frame,
    // and colour keys — each network keeps its colour from one depth to the next.
    if pages(&shared.site).iter().any(|p| p == "06-residual.html") {
        let from = browser.mark();
        browser.open(&format!("{origin}/06-residual.html"))?;
        let id = "interactive-06-residual-1";
        let look = format!(
            "(() => {{ const f = document.getElementById('{id}'); const lines = Array.from(f.querySelectorAll('path.interactive-line')); \
             return {{ clipped: lines.every(p => p.getAttribute('clip-path') === `url(#{id}-clip)`) && !!f.querySelector('#{id}-clip'), \
               top: Math.max(...Array.from(f.querySelectorAll('.interactive-axes text[text-anchor=end]')).map(t => Number(t.textContent)).filter(Number.isFinite)), \
               strokes: lines.map(p => p.querySelector('title').textContent + '=' + p.getAttribute('stroke')).join(';') }}; }})()"
        );
        let before = browser.eval(&look)?;
        browser.eval(&format!("document.getElementById('{id}-control-0').focus()"))?;
        browser.key("ArrowLeft")?;
        let after = browser.eval(&look)?;
        assert_eq!(before["clipped"], json!(true), "{before}");
        assert_eq!(before["top"], json!(4), "the y axis ends at its max: {before}");
        assert_eq!(before["strokes"], after["strokes"], "colours follow the network, not the depth");
        let problems = browser.problems_since(from, &origin);
        assert!(problems.is_empty(), "06-residual.html:\n{}", problems.join("\n"));
    }

    // The same site from a plain static server: recorded outputs, no Run button, working figures.
    let static_server = book::serve::start(&shared.site, "127.0.0.1:0".parse().unwrap())?;
    let static_origin = format!("http://{}", static_server.addr());
    let from = browser.mark();
    browser.open(&format!("{static_origin}/01-gradients.html"))?;
    let summary = browser.eval(
        "[document.querySelectorAll('.listing-run').length, document.querySelectorAll('div.listing-output .listing-stdout').length, \
          document.querySelectorAll('figure.interactive[data-ready]').length, document.querySelectorAll('[contenteditable]').length]",
    )?;
    let listings = book::listings::listings(&std::fs::read_to_string(shared.root.join("src/01-gradients.md"))?).len();
    assert_eq!(
        summary,
        json!([0, listings, 3, 0]),
        "static: [run buttons, recorded outputs, figures, editable blocks]"
    );
    let problems = browser.problems_since(from, &static_origin);
    assert!(problems.is_empty(), "static 01-gradients.html:\n{}", problems.join("\n"));
    static_server.stop();
    Ok(())
}
