//! `book serve`: the built site over HTTP on the loopback interface, and the Run API.
//!
//! Requests go through [`Routes::respond`]: one `match` on method and path. Anything unmatched is
//! a static file of the built site, where path traversal is refused.
//!
//! `POST /api/run` compiles and runs code on the reader's machine (through an [`Execute`], in
//! practice the [`Runner`](crate::runner::Runner)), so it is guarded:
//! - **Host**: on a loopback address every request must name the server by a loopback name and its
//!   port (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`), which defeats DNS rebinding (a page
//!   of `evil.example` whose name now resolves to 127.0.0.1 still sends `Host: evil.example`).
//! - **Origin**: a run request must carry `Origin: http://<that host>`, and `Sec-Fetch-Site`, when
//!   the browser sends it, must be `same-origin`: no other web page the reader has open can post to it.
//! - **Token**: a per-launch random token, injected into the HTML pages as they are served (never
//!   written to disk), must come back in the `X-Book-Token` header. Other pages cannot read it.
//! - **Content type** `application/json` (a cross-site form cannot send it without a preflight,
//!   which the server never approves), a body of at most [`MAX_CODE_BYTES`].
//! - **One job at a time** and at most `max_waiting` queued (429 beyond); the runner adds the time,
//!   memory and output limits and kills the program's whole process group.
//!
//! The Run API is only offered on a loopback address.
//!
//! A run answers with a stream of JSON lines (`{"stage":"queued"|"preparing"|"compiling"|
//! "running"}`, then `{"stage":"done","outcome":{…}}` or `{"stage":"error","message":…}`), so the
//! page can say what is happening.

use crate::runner::{Outcome, Stage};
use anyhow::{Context, Result, bail};
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use tiny_http::{Method, Request};

/// Threads answering requests: enough that a slow client does not stall the page's other files.
const WORKERS: usize = 8;

/// A response before it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, content_type: "text/plain; charset=utf-8", headers: Vec::new(), body: body.as_bytes().to_vec() }
    }
}

/// Content type by file extension; unknown types download rather than render.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "txt" | "md" | "rs" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Decodes `%XX` escapes; `None` on a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The built site on disk.
pub struct StaticSite {
    root: PathBuf,
}

impl StaticSite {
    pub fn new(root: &Path) -> Result<StaticSite> {
        let root = root.canonicalize().with_context(|| format!("no built site at {}", root.display()))?;
        Ok(StaticSite { root })
    }

    /// Answers a GET for the request target `target` (path and optional query, as sent).
    pub fn get(&self, target: &str) -> Reply {
        let path = target.split(['?', '#']).next().unwrap_or_default();
        if !path.starts_with('/') {
            return Reply::text(400, "bad request target\n");
        }
        let Some(decoded) = percent_decode(path).and_then(|b| String::from_utf8(b).ok()) else {
            return Reply::text(400, "bad percent-encoding\n");
        };
        // Every segment must be a plain name: no `..`, `.`, backslashes or NULs, whatever encoding
        // they arrived in (decoding happened above).
        let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
        let plain = |s: &&str| {
            !s.contains(['\\', '\0']) && matches!(Path::new(s).components().next(), Some(Component::Normal(_)))
        };
        if !segments.iter().all(|s| plain(s) && Path::new(s).components().count() == 1) {
            return Reply::text(403, "forbidden path\n");
        }
        let mut file = self.root.join(segments.iter().collect::<PathBuf>());
        if file.is_dir() {
            if !path.ends_with('/') {
                // Relative links on the index page need the trailing slash.
                let mut reply = Reply::text(301, "moved\n");
                reply.headers.push(("Location", format!("{path}/")));
                return reply;
            }
            file = file.join("index.html");
        }
        // A symlink inside the site must not lead out of it.
        match file.canonicalize() {
            Ok(real) if !real.starts_with(&self.root) => Reply::text(403, "forbidden path\n"),
            Ok(real) if real.is_file() => match std::fs::read(&real) {
                Ok(body) => Reply { status: 200, content_type: content_type(&real), headers: Vec::new(), body },
                Err(_) => Reply::text(500, "could not read the file\n"),
            },
            _ => self.not_found(),
        }
    }

    fn not_found(&self) -> Reply {
        match std::fs::read(self.root.join("404.html")) {
            Ok(body) => Reply { status: 404, content_type: "text/html; charset=utf-8", headers: Vec::new(), body },
            Err(_) => Reply::text(404, "not found\n"),
        }
    }
}

/// The largest request body `POST /api/run` accepts.
pub const MAX_CODE_BYTES: usize = 256 << 10;

/// The header that carries the per-launch token.
pub const TOKEN_HEADER: &str = "X-Book-Token";

/// The `<meta>` through which served pages carry the token to `run.js`.
pub const TOKEN_META: &str = "book-run-token";

/// What the pages may load and talk to: only this server (data: URLs for images and fonts). It
/// keeps every request on the machine, and no other site may frame the book.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'none'";

/// Compiles and runs code; [`crate::runner::Runner`] in the real server, a stand-in in tests.
pub trait Execute: Send + Sync + 'static {
    /// Gets ready (builds what the first run needs).
    fn prepare(&self) -> Result<()>;
    /// Compiles and runs `code`, reporting each stage as it starts.
    fn execute(&self, code: &str, crate_name: Option<&str>, stage: &mut dyn FnMut(Stage)) -> Result<Outcome>;
}

impl Execute for crate::runner::Runner {
    fn prepare(&self) -> Result<()> {
        crate::runner::Runner::prepare(self)
    }

    fn execute(&self, code: &str, crate_name: Option<&str>, stage: &mut dyn FnMut(Stage)) -> Result<Outcome> {
        self.run(code, crate_name, stage)
    }
}

/// How the Run API is set up.
pub struct RunOptions {
    pub executor: Arc<dyn Execute>,
    /// Requests that may wait while one runs; more get 429.
    pub max_waiting: usize,
    /// Code compiled and run once at start (after preparing), so that the reader's first Run finds
    /// everything warm: (code, crate name).
    pub warm_up: Option<(String, Option<String>)>,
}

/// One job at a time, and a bounded number waiting.
struct Queue {
    state: Mutex<QueueState>,
    turn: Condvar,
    max_waiting: usize,
}

#[derive(Default)]
struct QueueState {
    running: bool,
    waiting: usize,
}

/// A place in the [`Queue`]; dropping it gives the place (or the turn) up.
struct Place {
    queue: Arc<Queue>,
    started: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place, unless `bounded` and the queue is full.
    fn join(self: &Arc<Self>, bounded: bool) -> Option<Place> {
        let mut state = self.lock();
        if bounded && state.running && state.waiting >= self.max_waiting {
            return None;
        }
        state.waiting += 1;
        Some(Place { queue: Arc::clone(self), started: false })
    }
}

impl Place {
    /// Whether a job runs now (so this one waits).
    fn must_wait(&self) -> bool {
        self.queue.lock().running
    }

    fn wait_turn(&mut self) {
        let mut state = self.queue.lock();
        while state.running {
            state = self.queue.turn.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.running = true;
        state.waiting -= 1;
        self.started = true;
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        if self.started {
            state.running = false;
        } else {
            state.waiting -= 1;
        }
        self.queue.turn.notify_all();
    }
}

/// Where the Run API stands, for `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Preparing,
    Ready,
    Failed(String),
}

struct RunApi {
    token: String,
    executor: Arc<dyn Execute>,
    queue: Arc<Queue>,
    readiness: Arc<Mutex<Readiness>>,
}

/// An answer: a finished reply, or a stream of chunks (a run's progress) sent as they come.
pub enum Answer {
    Reply(Reply),
    Stream(Receiver<Vec<u8>>),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Answer {
        Answer::Reply(reply)
    }
}

/// Everything the server answers.
pub struct Routes {
    pub site: StaticSite,
    /// The `Host` values accepted; `None` accepts any (a deliberately non-loopback server, which
    /// offers no Run API).
    hosts: Option<Vec<String>>,
    api: Option<RunApi>,
}

fn header<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str())
}

/// Equal strings, compared without an early exit.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_reply(status: u16, value: &serde_json::Value) -> Reply {
    let mut reply = Reply {
        status,
        content_type: "application/json",
        headers: vec![("Cache-Control", "no-store".into())],
        body: value.to_string().into_bytes(),
    };
    reply.headers.push(("X-Frame-Options", "DENY".into()));
    reply
}

fn refuse(status: u16, why: &str) -> Answer {
    json_reply(status, &serde_json::json!({ "error": why })).into()
}

impl Routes {
    pub fn respond(&self, request: &mut Request) -> Answer {
        if let Some(hosts) = &self.hosts {
            let host = header(request, "Host").unwrap_or_default();
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                drain(request);
                return Reply::text(403, "forbidden: this server answers only to its loopback address\n").into();
            }
        }
        let path = request.url().split(['?', '#']).next().unwrap_or_default().to_string();
        match (request.method(), path.as_str()) {
            (Method::Get | Method::Head, "/api/status") => self.status(request),
            (Method::Post, "/api/run") => self.run(request),
            (Method::Get | Method::Head, _) => self.page(request.url()).into(),
            _ => {
                drain(request);
                let mut reply = Reply::text(405, "method not allowed\n");
                reply.headers.push(("Allow", "GET, HEAD".into()));
                reply.into()
            }
        }
    }

    /// A static file; HTML pages carry the Run token (when the API is on) and the security policy.
    fn page(&self, target: &str) -> Reply {
        let mut reply = self.site.get(target);
        if !reply.content_type.starts_with("text/html") {
            return reply;
        }
        reply.headers.push(("Content-Security-Policy", CONTENT_SECURITY_POLICY.into()));
        reply.headers.push(("X-Frame-Options", "DENY".into()));
        if let Some(api) = &self.api {
            let html = String::from_utf8_lossy(&reply.body);
            let meta = format!("<meta name=\"{TOKEN_META}\" content=\"{}\">", api.token);
            let body = match html.find("</head>") {
                Some(at) => format!("{}{meta}\n{}", &html[..at], &html[at..]),
                None => format!("{meta}\n{html}"),
            };
            reply.body = body.into_bytes();
            reply.headers.push(("Cache-Control", "no-store".into()));
        }
        reply
    }

    /// The checks every Run API request passes before anything else happens: the API is on, the
    /// token matches, and a browser request comes from this server's own pages.
    fn check_api_request(&self, request: &Request, origin_required: bool) -> Result<&RunApi, Answer> {
        let Some(api) = &self.api else {
            return Err(refuse(
                404,
                "this server offers no Run API (it is not on a loopback address, or was started with --no-run)",
            ));
        };
        let host = header(request, "Host").unwrap_or_default();
        let own_origin = format!("http://{host}");
        match header(request, "Origin") {
            Some(origin) if origin.eq_ignore_ascii_case(&own_origin) => {}
            Some(_) => return Err(refuse(403, "forbidden: the request comes from another site")),
            None if origin_required => return Err(refuse(403, "forbidden: no Origin header")),
            None => {}
        }
        if header(request, "Sec-Fetch-Site").is_some_and(|site| site != "same-origin") {
            return Err(refuse(403, "forbidden: not a same-origin request"));
        }
        let token = header(request, TOKEN_HEADER).unwrap_or_default();
        if !same_secret(token, &api.token) {
            return Err(refuse(403, "forbidden: missing or wrong token (reload the page served by `book serve`)"));
        }
        Ok(api)
    }

    fn status(&self, request: &mut Request) -> Answer {
        let api = match self.check_api_request(request, false) {
            Ok(api) => api,
            Err(answer) => return answer,
        };
        let readiness = api.readiness.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (state, message) = match readiness {
            Readiness::Preparing => ("preparing", String::new()),
            Readiness::Ready => ("ready", String::new()),
            Readiness::Failed(message) => ("failed", message),
        };
        let queue = api.queue.lock();
        json_reply(
            200,
            &serde_json::json!({ "state": state, "message": message, "busy": queue.running, "waiting": queue.waiting }),
        )
        .into()
    }

    fn run(&self, request: &mut Request) -> Answer {
        let api = match self.check_api_request(request, true) {
            Ok(api) => api,
            Err(answer) => {
                drain(request);
                return answer;
            }
        };
        let json = header(request, "Content-Type").is_some_and(|t| t.trim().starts_with("application/json"));
        if !json {
            drain(request);
            return refuse(415, "the body must be application/json");
        }
        let mut body = Vec::new();
        if request.as_reader().take(MAX_CODE_BYTES as u64 + 1).read_to_end(&mut body).is_err() {
            return refuse(400, "could not read the body");
        }
        if body.len() > MAX_CODE_BYTES {
            drain(request);
            return refuse(413, &format!("the code is larger than {} KiB", MAX_CODE_BYTES >> 10));
        }
        #[derive(serde::Deserialize)]
        struct RunRequest {
            code: String,
            #[serde(rename = "crate")]
            crate_name: Option<String>,
        }
        let parsed: RunRequest = match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(e) => return refuse(400, &format!("expected {{\"code\": \"…\", \"crate\": \"…\"}}: {e}")),
        };
        let valid_crate = parsed
            .crate_name
            .as_deref()
            .is_none_or(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if parsed.code.trim().is_empty() || !valid_crate {
            return refuse(400, "empty code, or a crate name that is not an identifier");
        }
        let Some(place) = api.queue.join(true) else {
            return refuse(429, "busy: another run is in progress and the queue is full; try again in a moment");
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        let executor = Arc::clone(&api.executor);
        std::thread::spawn(move || {
            run_job(place, executor.as_ref(), &parsed.code, parsed.crate_name.as_deref(), &sender)
        });
        Answer::Stream(receiver)
    }
}

/// Runs one job in its turn, sending its progress as JSON lines.
fn run_job(mut place: Place, executor: &dyn Execute, code: &str, crate_name: Option<&str>, sender: &Sender<Vec<u8>>) {
    let send = |value: serde_json::Value| {
        let _ = sender.send(format!("{value}\n").into_bytes());
    };
    if place.must_wait() {
        send(serde_json::json!({ "stage": "queued" }));
    }
    place.wait_turn();
    let result = executor.execute(code, crate_name, &mut |stage| send(serde_json::json!({ "stage": stage })));
    match result {
        Ok(outcome) => send(serde_json::json!({ "stage": "done", "outcome": outcome })),
        Err(e) => send(serde_json::json!({ "stage": "error", "message": format!("{e:#}") })),
    }
}

/// Reads and discards what is left of a request's body (at most 1 MiB), so the connection stays
/// usable for the next request.
fn drain(request: &mut Request) {
    let _ = std::io::copy(&mut request.as_reader().take(1 << 20), &mut std::io::sink());
}

/// 32 hex digits from the kernel's random source.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the Run token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `Host` values under which a loopback server at `addr` may be addressed.
fn loopback_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![format!("localhost:{port}")];
    match addr.ip() {
        IpAddr::V4(ip) => hosts.push(format!("{ip}:{port}")),
        IpAddr::V6(ip) => hosts.push(format!("[{ip}]:{port}")),
    }
    hosts
}

/// Where to listen: loopback unless `bind` names another address on purpose, in which case the
/// returned warning must be shown.
pub fn listen_address(port: u16, bind: Option<IpAddr>) -> (SocketAddr, Option<String>) {
    let ip = bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let warning = (!ip.is_loopback()).then(|| {
        format!(
            "WARNING: serving on {ip}, not loopback: anyone who can reach this machine on port {port} can read the book. \
             The Run button is off: running code is offered only on a loopback address."
        )
    });
    (SocketAddr::new(ip, port), warning)
}

/// A running server; dropping it does not stop it, [`RunningServer::stop`] does.
pub struct RunningServer {
    http: Arc<tiny_http::Server>,
    workers: Vec<std::thread::JoinHandle<()>>,
    addr: SocketAddr,
    readiness: Option<Arc<Mutex<Readiness>>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Whether the Run API is on.
    pub fn runs_code(&self) -> bool {
        self.readiness.is_some()
    }

    /// Where the Run API stands (`None` without one).
    pub fn readiness(&self) -> Option<Readiness> {
        self.readiness.as_ref().map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Blocks until the server stops.
    pub fn wait(self) {
        for worker in self.workers {
            let _ = worker.join();
        }
    }

    pub fn stop(self) {
        for _ in &self.workers {
            self.http.unblock();
        }
        self.wait();
    }
}

/// Serves `site_dir` on `addr` without a Run API. Use [`listen_address`] to pick `addr`; port 0
/// picks a free port.
pub fn start(site_dir: &Path, addr: SocketAddr) -> Result<RunningServer> {
    start_with(site_dir, addr, None)
}

/// Serves `site_dir` on `addr`, with the Run API when `run` is given and `addr` is loopback; the
/// warm-up (preparing, then compiling `warm_up`) starts at once, in the background.
pub fn start_with(site_dir: &Path, addr: SocketAddr, run: Option<RunOptions>) -> Result<RunningServer> {
    let site = StaticSite::new(site_dir)?;
    let http = Arc::new(tiny_http::Server::http(addr).map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?);
    let Some(addr) = http.server_addr().to_ip() else { bail!("not listening on an IP address") };
    let loopback = addr.ip().is_loopback();
    let api = match run.filter(|_| loopback) {
        None => None,
        Some(options) => {
            let api = RunApi {
                token: new_token()?,
                executor: options.executor,
                queue: Arc::new(Queue {
                    state: Mutex::new(QueueState::default()),
                    turn: Condvar::new(),
                    max_waiting: options.max_waiting,
                }),
                readiness: Arc::new(Mutex::new(Readiness::Preparing)),
            };
            warm_up(&api, options.warm_up);
            Some(api)
        }
    };
    let readiness = api.as_ref().map(|api| Arc::clone(&api.readiness));
    let routes = Arc::new(Routes { site, hosts: loopback.then(|| loopback_hosts(addr)), api });
    // Each waiting or running job holds a worker while it streams its progress.
    let workers = (0..WORKERS)
        .map(|_| {
            let (http, routes) = (Arc::clone(&http), Arc::clone(&routes));
            std::thread::spawn(move || {
                while let Ok(mut request) = http.recv() {
                    match routes.respond(&mut request) {
                        Answer::Reply(reply) => respond(request, reply),
                        Answer::Stream(chunks) => stream(request, &chunks),
                    }
                }
            })
        })
        .collect();
    Ok(RunningServer { http, workers, addr, readiness })
}

/// Prepares the executor and runs the warm-up code, holding the queue's turn meanwhile.
fn warm_up(api: &RunApi, code: Option<(String, Option<String>)>) {
    let mut place = api.queue.join(false).expect("an unbounded join always gets a place");
    let (executor, readiness) = (Arc::clone(&api.executor), Arc::clone(&api.readiness));
    std::thread::spawn(move || {
        place.wait_turn();
        let result = executor.prepare().and_then(|()| match &code {
            Some((code, crate_name)) => {
                executor.execute(code, crate_name.as_deref(), &mut |_| {}).and_then(|outcome| {
                    if outcome.compiled {
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!("the warm-up listing did not compile:\n{}", outcome.compiler))
                    }
                })
            }
            None => Ok(()),
        });
        *readiness.lock().unwrap_or_else(|e| e.into_inner()) = match result {
            Ok(()) => Readiness::Ready,
            Err(e) => Readiness::Failed(format!("{e:#}")),
        };
        drop(place);
    });
}

/// Sends `chunks` as a chunked HTTP response, each as soon as it arrives.
fn stream(request: Request, chunks: &Receiver<Vec<u8>>) {
    let mut writer = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson; charset=utf-8\r\nCache-Control: no-store\r\n\
                X-Content-Type-Options: nosniff\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut result = writer.write_all(head.as_bytes()).and_then(|()| writer.flush());
    for chunk in chunks {
        if result.is_err() {
            break; // The client went away; the job finishes under its own limits.
        }
        result = write!(writer, "{:x}\r\n", chunk.len())
            .and_then(|()| writer.write_all(&chunk))
            .and_then(|()| writer.write_all(b"\r\n"))
            .and_then(|()| writer.flush());
    }
    let _ = writer.write_all(b"0\r\n\r\n").and_then(|()| writer.flush());
}

/// Writes `reply` on the request's connection, with `Connection: close`.
///
/// Every response closes its connection. tiny_http serves each connection from a thread of a pool
/// that can leave a new connection queued behind idle keep-alive ones; a browser loading a page
/// opens several connections at once and then keeps them open, and a resource could wait forever.
/// Closed connections free their threads at once (and cost nothing on the loopback interface).
/// tiny_http refuses a `Connection` header on its own responses, so the response is written raw.
fn respond(request: Request, reply: Reply) {
    let head_only = *request.method() == Method::Head;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nX-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    if !reply.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("Cache-Control")) {
        head.push_str("Cache-Control: no-cache\r\n");
    }
    for (name, value) in &reply.headers {
        // Values are ours (constants, paths from the request line): no line breaks to smuggle.
        let value = value.replace(['\r', '\n'], " ");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = request.into_writer();
    let body: &[u8] = if head_only { &[] } else { &reply.body };
    let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body)).and_then(|()| writer.flush());
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        for (path, body) in [
            ("index.html", "<p>home</p>"),
            ("404.html", "<p>lost</p>"),
            ("ch/index.html", "<p>chapter</p>"),
            ("figures/ch01/a.svg", "<svg/>"),
            ("figures/ch01/a.json", "{}"),
            ("book.js", "1"),
            ("css/general.css", "p{}"),
            ("mathml/latinmodern-math.woff2", "wOF2"),
            ("with space.html", "<p>space</p>"),
        ] {
            std::fs::create_dir_all(site.join(path).parent().unwrap()).unwrap();
            std::fs::write(site.join(path), body).unwrap();
        }
        std::fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
        dir
    }

    /// A plain HTTP/1.1 exchange: (status, headers in lower case, body).
    fn get(addr: SocketAddr, method: &str, target: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    #[test]
    fn serves_files_with_their_types_and_refuses_traversal() {
        let dir = site();
        let server = start(&dir.path().join("site"), listen_address(0, None).0).unwrap();
        let addr = server.addr();
        assert!(addr.ip().is_loopback());

        for (target, status, content_type, body) in [
            ("/", 200, "text/html; charset=utf-8", "<p>home</p>"),
            ("/index.html?x=1", 200, "text/html; charset=utf-8", "<p>home</p>"),
            ("/ch/", 200, "text/html; charset=utf-8", "<p>chapter</p>"),
            ("/figures/ch01/a.svg", 200, "image/svg+xml", "<svg/>"),
            ("/figures/ch01/a.json", 200, "application/json", "{}"),
            ("/book.js", 200, "text/javascript; charset=utf-8", "1"),
            ("/css/general.css", 200, "text/css; charset=utf-8", "p{}"),
            ("/mathml/latinmodern-math.woff2", 200, "font/woff2", "wOF2"),
            ("/with%20space.html", 200, "text/html; charset=utf-8", "<p>space</p>"),
            ("/missing.html", 404, "text/html; charset=utf-8", "<p>lost</p>"),
        ] {
            let (got_status, head, got_body) = get(addr, "GET", target);
            assert_eq!(got_status, status, "{target}");
            assert!(head.contains(&format!("content-type: {content_type}")), "{target}: {head}");
            assert_eq!(got_body, body, "{target}");
        }

        let (status, head, _) = get(addr, "GET", "/ch");
        assert_eq!(status, 301);
        assert!(head.contains("location: /ch/"), "{head}");

        for target in [
            "/../secret.txt",
            "/ch/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/ch/%2e%2e%2f%2e%2e%2fsecret.txt",
            "/..%2fsecret.txt",
            "/..%5csecret.txt",
            "/./index.html",
            "/%00",
            "/%zz",
            "secret.txt",
        ] {
            let (status, _, body) = get(addr, "GET", target);
            assert!((400..500).contains(&status) && status != 404, "{target}: {status}");
            assert!(!body.contains("SECRET"), "{target}");
        }

        assert_eq!(get(addr, "POST", "/index.html").0, 405);
        let (status, _, body) = get(addr, "HEAD", "/index.html");
        assert_eq!((status, body.as_str()), (200, ""));
        server.stop();
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_cannot_leave_the_site() {
        let dir = site();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("site/link.txt")).unwrap();
        let site = StaticSite::new(&dir.path().join("site")).unwrap();
        assert_eq!(site.get("/link.txt").status, 403);
    }

    #[test]
    fn only_an_explicit_bind_leaves_loopback_and_it_warns() {
        let (addr, warning) = listen_address(3000, None);
        assert_eq!((addr.to_string().as_str(), warning), ("127.0.0.1:3000", None));
        assert!(listen_address(3000, Some("::1".parse().unwrap())).1.is_none());
        let (addr, warning) = listen_address(3000, Some("0.0.0.0".parse().unwrap()));
        assert_eq!(addr.to_string(), "0.0.0.0:3000");
        assert!(warning.unwrap().contains("WARNING"));
    }

    /// An HTTP/1.1 exchange with extra headers (which may replace `Host`): (status, headers in
    /// lower case, body); a chunked body is decoded.
    fn request(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut text = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            text.push_str(&format!("Host: {addr}\r\n"));
        }
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        stream.write_all(format!("{text}\r\n{body}").as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let mut body = Vec::new();
        if head.contains("transfer-encoding: chunked") {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                if size == 0 {
                    break;
                }
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            reader.read_to_end(&mut body).unwrap();
        }
        (status, head, String::from_utf8_lossy(&body).into_owned())
    }

    /// Counts its runs; each run waits until `release` has a message (when `gated`).
    struct Mock {
        prepared: AtomicUsize,
        runs: AtomicUsize,
        running: AtomicUsize,
        most_at_once: AtomicUsize,
        gate: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
    }

    impl Mock {
        fn new(gate: Option<std::sync::mpsc::Receiver<()>>) -> Arc<Mock> {
            Arc::new(Mock {
                prepared: AtomicUsize::new(0),
                runs: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                most_at_once: AtomicUsize::new(0),
                gate: gate.map(Mutex::new),
            })
        }
    }

    impl Execute for Mock {
        fn prepare(&self) -> Result<()> {
            self.prepared.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        fn execute(&self, code: &str, _: Option<&str>, stage: &mut dyn FnMut(Stage)) -> Result<Outcome> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            self.runs.fetch_add(1, Ordering::SeqCst);
            stage(Stage::Compiling);
            if let Some(gate) = &self.gate {
                let _ = gate.lock().unwrap().recv_timeout(std::time::Duration::from_secs(30));
            }
            stage(Stage::Running);
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Outcome {
                compiled: true,
                success: true,
                stdout: format!("ran {} bytes\n", code.len()),
                ..Outcome::default()
            })
        }
    }

    fn serve_with(mock: &Arc<Mock>, max_waiting: usize) -> (tempfile::TempDir, RunningServer, String) {
        let dir = site();
        let executor: Arc<dyn Execute> = mock.clone();
        let run = RunOptions { executor, max_waiting, warm_up: None };
        let server = start_with(&dir.path().join("site"), listen_address(0, None).0, Some(run)).unwrap();
        while server.readiness() == Some(Readiness::Preparing) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(server.readiness(), Some(Readiness::Ready));
        let (_, _, page) = request(server.addr(), "GET", "/index.html", &[], "");
        let token = page.split("content=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_string();
        (dir, server, token)
    }

    #[test]
    fn the_run_api_refuses_before_running_anything() {
        let mock = Mock::new(None);
        let (dir, server, token) = serve_with(&mock, 1);
        let addr = server.addr();
        assert_eq!(token.len(), 32);
        // The token lives in the served page only, never in the site's files.
        let (_, head, page) = request(addr, "GET", "/index.html", &[], "");
        assert!(
            page.contains(&format!("<meta name=\"{TOKEN_META}\" content=\"{token}\">")) && page.contains("<p>home</p>")
        );
        assert!(
            head.contains("cache-control: no-store") && head.contains("content-security-policy: default-src 'self'")
        );
        for file in crate::site::files_under(dir.path()).unwrap() {
            assert!(!std::fs::read_to_string(&file).unwrap_or_default().contains(&token), "{}", file.display());
        }

        let origin = format!("http://{addr}");
        let rebound = format!("attacker.example:{}", addr.port());
        let https = format!("https://{addr}");
        let zeros = "0".repeat(32);
        let body = r#"{"code": "fn main() {}"}"#;
        let json = ("Content-Type", "application/json");
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, u16);
        let cases: Vec<Case> = vec![
            (
                "rebound host",
                vec![("Host", &rebound), ("Origin", "http://attacker.example"), json, (TOKEN_HEADER, &token)],
                body,
                403,
            ),
            (
                "other port",
                vec![("Host", "127.0.0.1:1"), ("Origin", "http://127.0.0.1:1"), json, (TOKEN_HEADER, &token)],
                body,
                403,
            ),
            ("no host", vec![("Host", ""), json, (TOKEN_HEADER, &token)], body, 403),
            ("evil origin", vec![("Origin", "http://evil.example"), json, (TOKEN_HEADER, &token)], body, 403),
            ("https origin", vec![("Origin", &https), json, (TOKEN_HEADER, &token)], body, 403),
            ("no origin", vec![json, (TOKEN_HEADER, &token)], body, 403),
            (
                "cross-site",
                vec![("Origin", &origin), ("Sec-Fetch-Site", "cross-site"), json, (TOKEN_HEADER, &token)],
                body,
                403,
            ),
            ("no token", vec![("Origin", &origin), json], body, 403),
            ("wrong token", vec![("Origin", &origin), json, (TOKEN_HEADER, &zeros)], body, 403),
            ("short token", vec![("Origin", &origin), json, (TOKEN_HEADER, &token[..31])], body, 403),
            (
                "form post",
                vec![
                    ("Origin", &origin),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    (TOKEN_HEADER, &token),
                ],
                body,
                415,
            ),
            ("not json", vec![("Origin", &origin), json, (TOKEN_HEADER, &token)], "code=1", 400),
            (
                "bad crate",
                vec![("Origin", &origin), json, (TOKEN_HEADER, &token)],
                r#"{"code": "x", "crate": "../x"}"#,
                400,
            ),
        ];
        for (what, headers, body, status) in cases {
            let (got, _, answer) = request(addr, "POST", "/api/run", &headers, body);
            assert_eq!(got, status, "{what}: {answer}");
        }
        let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(MAX_CODE_BYTES));
        let (got, ..) = request(addr, "POST", "/api/run", &[("Origin", &origin), json, (TOKEN_HEADER, &token)], &huge);
        assert_eq!(got, 413);
        assert_eq!(request(addr, "GET", "/api/status", &[("Origin", &origin)], "").0, 403, "status needs the token");
        assert_eq!(request(addr, "GET", "/index.html", &[("Host", &rebound)], "").0, 403, "pages need a loopback Host");
        assert_eq!(
            request(addr, "OPTIONS", "/api/run", &[("Origin", "http://evil.example")], "").0,
            405,
            "no preflight approval"
        );
        assert_eq!(mock.runs.load(Ordering::SeqCst), 0, "a refused request ran code");

        // The page's own request runs, and streams its stages.
        let headers =
            [("Origin", origin.as_str()), json, (TOKEN_HEADER, token.as_str()), ("Sec-Fetch-Site", "same-origin")];
        let (status, head, events) = request(addr, "POST", "/api/run", &headers, body);
        assert_eq!(status, 200, "{events}");
        assert!(head.contains("application/x-ndjson"));
        let stages: Vec<String> = events
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["stage"].to_string())
            .collect();
        assert_eq!(stages, ["\"compiling\"", "\"running\"", "\"done\""]);
        assert!(events.contains("ran 12 bytes"));
        let (status, _, state) = request(addr, "GET", "/api/status", &[(TOKEN_HEADER, &token)], "");
        assert_eq!(status, 200);
        assert!(state.contains("\"state\":\"ready\""), "{state}");
        assert_eq!((mock.runs.load(Ordering::SeqCst), mock.prepared.load(Ordering::SeqCst)), (1, 1));
        server.stop();
    }

    #[test]
    fn one_run_at_a_time_and_the_queue_is_bounded() {
        let (release, gate) = std::sync::mpsc::channel();
        let mock = Mock::new(Some(gate));
        let (_dir, server, token) = serve_with(&mock, 1);
        let addr = server.addr();
        let post = move || {
            let origin = format!("http://{addr}");
            let headers =
                [("Origin", origin.as_str()), ("Content-Type", "application/json"), (TOKEN_HEADER, token.as_str())];
            request(addr, "POST", "/api/run", &headers, r#"{"code": "fn main() {}"}"#)
        };
        let first = std::thread::spawn(post.clone());
        while mock.running.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let second = std::thread::spawn(post.clone());
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (status, _, body) = post();
        assert_eq!(status, 429, "a third request while one runs and one waits: {body}");
        release.send(()).unwrap();
        release.send(()).unwrap();
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        assert_eq!((first.0, second.0), (200, 200));
        assert!(second.2.starts_with("{\"stage\":\"queued\"}"), "{}", second.2);
        assert!(first.2.contains("\"done\"") && second.2.contains("\"done\""));
        assert_eq!(mock.most_at_once.load(Ordering::SeqCst), 1, "two runs at once");
        server.stop();
    }

    #[test]
    fn a_non_loopback_server_offers_no_run_api() {
        let mock = Mock::new(None);
        let dir = site();
        let executor: Arc<dyn Execute> = mock.clone();
        let run = RunOptions { executor, max_waiting: 1, warm_up: None };
        let server = start_with(&dir.path().join("site"), "0.0.0.0:0".parse().unwrap(), Some(run)).unwrap();
        assert!(!server.runs_code());
        let addr = SocketAddr::from(([127, 0, 0, 1], server.addr().port()));
        let (status, _, page) = request(addr, "GET", "/index.html", &[], "");
        assert_eq!(status, 200);
        assert!(!page.contains(TOKEN_META));
        let headers = [("Origin", "http://127.0.0.1"), ("Content-Type", "application/json")];
        assert_eq!(request(addr, "POST", "/api/run", &headers, r#"{"code": "x"}"#).0, 404);
        assert_eq!((mock.runs.load(Ordering::SeqCst), mock.prepared.load(Ordering::SeqCst)), (0, 0));
        server.stop();
    }
}
