//! `book serve`: the built site over HTTP on the loopback interface, and the Run API, on axum and
//! tower-http (the stack of mdBook's own `serve`).
//!
//! The router: `GET /api/status` and `POST /api/run`; everything else is a static file of the built
//! site through tower-http's [`ServeDir`] (content types, conditional requests, `HEAD`, ranges),
//! behind a path guard that refuses traversal whatever its encoding, and symlinks that lead out of
//! the site.
//!
//! `POST /api/run` compiles and runs code on the reader's machine (through an [`Execute`], in
//! practice the [`Runner`](crate::listings::runner::Runner)), so it is guarded:
//! - **Host** (a middleware in front of everything): on a loopback address every request must name
//!   the server by a loopback name and its port (`127.0.0.1:PORT`, `localhost:PORT`,
//!   `[::1]:PORT`), which defeats DNS rebinding (a page of `evil.example` whose name now resolves
//!   to 127.0.0.1 still sends `Host: evil.example`).
//! - **Origin** (a middleware in front of the API routes): a run request must carry
//!   `Origin: http://<that host>`, and `Sec-Fetch-Site`, when the browser sends it, must be
//!   `same-origin`: no other web page the reader has open can post to it.
//! - **Token** (same middleware): a per-launch random token, injected into the HTML pages as they
//!   are served (never written to disk), must come back in the `X-Book-Token` header. Other pages
//!   cannot read it.
//! - **Content type** `application/json` (a cross-site form cannot send it without a preflight,
//!   which the server never approves), a body of at most [`MAX_CODE_BYTES`].
//! - **One job at a time** and at most `max_waiting` queued (429 beyond); the runner adds the time,
//!   memory and output limits and kills the program's whole process group.
//!
//! The Run API is only offered on a loopback address.
//!
//! A run answers with a streamed body of JSON lines (`{"stage":"queued"|"preparing"|"compiling"|
//! "running"}`, then `{"stage":"done","outcome":{…}}` or `{"stage":"error","message":…}`), so the
//! page can say what is happening.

use crate::listings::runner::{Outcome, Stage};
use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::handler::HandlerWithoutStateExt as _;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::mpsc::UnboundedSender;
use tower_http::services::ServeDir;

/// The built site on disk, and the guard in front of [`ServeDir`].
pub struct StaticSite {
    root: PathBuf,
}

impl StaticSite {
    pub fn new(root: &Path) -> Result<StaticSite> {
        let root = root.canonicalize().with_context(|| format!("no built site at {}", root.display()))?;
        Ok(StaticSite { root })
    }

    /// Refuses a request path (as sent, before percent-decoding) that is malformed (400), that
    /// would leave the site (403: `..`, `.`, backslashes or NULs in any segment, in whatever
    /// encoding they arrived), or that names a symlink leading out of the site (403). Everything
    /// else is [`ServeDir`]'s to answer.
    fn refusal(&self, path: &str) -> Option<Response> {
        let well_formed =
            path.split('%').skip(1).all(|s| s.len() >= 2 && s.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit));
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok().filter(|_| well_formed);
        let Some(decoded) = decoded.filter(|_| path.starts_with('/')) else {
            return Some(text(StatusCode::BAD_REQUEST, "bad percent-encoding\n"));
        };
        let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
        let plain = |s: &&str| {
            !s.contains(['\\', '\0'])
                && matches!(Path::new(s).components().next(), Some(Component::Normal(_)))
                && Path::new(s).components().count() == 1
        };
        if !segments.iter().all(plain) {
            return Some(text(StatusCode::FORBIDDEN, "forbidden path\n"));
        }
        let file = self.root.join(segments.iter().collect::<PathBuf>());
        if file.canonicalize().is_ok_and(|real| !real.starts_with(&self.root)) {
            return Some(text(StatusCode::FORBIDDEN, "forbidden path\n"));
        }
        None
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

/// Compiles and runs code; [`crate::listings::runner::Runner`] in the real server, a stand-in in tests.
pub trait Execute: Send + Sync + 'static {
    /// Gets ready (builds what the first run needs).
    fn prepare(&self) -> Result<()>;
    /// Compiles and runs `code`, reporting each stage as it starts.
    fn execute(&self, code: &str, crate_name: Option<&str>, stage: &mut dyn FnMut(Stage)) -> Result<Outcome>;
}

impl Execute for crate::listings::runner::Runner {
    fn prepare(&self) -> Result<()> {
        crate::listings::runner::Runner::prepare(self)
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

/// What every request handler shares.
struct App {
    site: StaticSite,
    /// The `Host` values accepted; `None` accepts any (a deliberately non-loopback server, which
    /// offers no Run API).
    hosts: Option<Vec<String>>,
    api: Option<RunApi>,
}

type Shared = State<Arc<App>>;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Equal strings, compared without an early exit.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    (status, headers, value.to_string()).into_response()
}

fn refuse(status: StatusCode, why: &str) -> Response {
    json_reply(status, &serde_json::json!({ "error": why }))
}

/// In front of everything: on a loopback server, the `Host` must be one of its loopback names.
async fn host_guard(State(app): Shared, request: Request, next: Next) -> Response {
    if let Some(hosts) = &app.hosts {
        let host = header(request.headers(), "host").unwrap_or_default();
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return text(StatusCode::FORBIDDEN, "forbidden: this server answers only to its loopback address\n");
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The site changes with every build: revalidate, never serve a stale page from cache.
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
    response
}

/// In front of the API routes: the API is on, a browser request comes from this server's own
/// pages, and the token matches.
async fn api_guard(State(app): Shared, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD | Method::POST) {
        // The router's 405 (an OPTIONS preflight is never approved); no handler runs.
        return next.run(request).await;
    }
    let Some(api) = &app.api else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this server offers no Run API (it is not on a loopback address, or was started with --no-run)",
        );
    };
    let headers = request.headers();
    let own_origin = format!("http://{}", header(headers, "host").unwrap_or_default());
    match header(headers, "origin") {
        Some(origin) if origin.eq_ignore_ascii_case(&own_origin) => {}
        Some(_) => return refuse(StatusCode::FORBIDDEN, "forbidden: the request comes from another site"),
        None if request.method() == Method::POST => {
            return refuse(StatusCode::FORBIDDEN, "forbidden: no Origin header");
        }
        None => {}
    }
    if header(headers, "sec-fetch-site").is_some_and(|site| site != "same-origin") {
        return refuse(StatusCode::FORBIDDEN, "forbidden: not a same-origin request");
    }
    if !same_secret(header(headers, TOKEN_HEADER).unwrap_or_default(), &api.token) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden: missing or wrong token (reload the page served by `book serve`)",
        );
    }
    next.run(request).await
}

/// In front of [`ServeDir`]: the path guard before; after, `charset=utf-8` on text, a permanent
/// redirect to a folder's slash, and on HTML pages the security policy and (with the Run API) the
/// token.
async fn finish_pages(State(app): Shared, request: Request, next: Next) -> Response {
    if let Some(refusal) = app.site.refusal(request.uri().path()) {
        return refusal;
    }
    let head_only = request.method() == Method::HEAD;
    let mut response = next.run(request).await;
    if response.status() == StatusCode::TEMPORARY_REDIRECT {
        // The site's folders do not move; relative links on a folder's index need the slash.
        *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    }
    let content_type = header(response.headers(), "content-type").unwrap_or_default().to_string();
    let content_type = match content_type.as_str() {
        "application/javascript" => "text/javascript; charset=utf-8".to_string(),
        t if t.starts_with("text/") && !t.contains("charset") => format!("{t}; charset=utf-8"),
        t => t.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if !content_type.starts_with("text/html") {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let Some(api) = &app.api else { return response };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if head_only || !matches!(response.status(), StatusCode::OK | StatusCode::NOT_FOUND) {
        return response;
    }
    // The page is served with the token in it; it differs from the file, so no validators.
    let (mut parts, body) = response.into_parts();
    let Ok(html) = axum::body::to_bytes(body, usize::MAX).await else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "could not read the file\n");
    };
    let html = String::from_utf8_lossy(&html);
    let meta = format!("<meta name=\"{TOKEN_META}\" content=\"{}\">", api.token);
    let html = match html.find("</head>") {
        Some(at) => format!("{}{meta}\n{}", &html[..at], &html[at..]),
        None => format!("{meta}\n{html}"),
    };
    for name in [header::CONTENT_LENGTH, header::ETAG, header::LAST_MODIFIED, header::ACCEPT_RANGES] {
        parts.headers.remove(name);
    }
    Response::from_parts(parts, Body::from(html))
}

/// A missing file: the site's own 404 page, with status 404.
async fn not_found(root: PathBuf) -> Response {
    match tokio::fs::read(root.join("404.html")).await {
        Ok(body) => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(_) => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `GET /api/status`.
async fn status(State(app): Shared) -> Response {
    let api = app.api.as_ref().expect("api_guard lets requests through only with an API");
    let readiness = api.readiness.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (state, message) = match readiness {
        Readiness::Preparing => ("preparing", String::new()),
        Readiness::Ready => ("ready", String::new()),
        Readiness::Failed(message) => ("failed", message),
    };
    let queue = api.queue.lock();
    json_reply(
        StatusCode::OK,
        &serde_json::json!({ "state": state, "message": message, "busy": queue.running, "waiting": queue.waiting }),
    )
}

/// `POST /api/run`: checks the request, takes a place in the queue (or 429), and streams the
/// job's progress as JSON lines while a thread of its own runs it.
async fn run(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let api = app.api.as_ref().expect("api_guard lets requests through only with an API");
    let json = header(&headers, "content-type").is_some_and(|t| t.trim().starts_with("application/json"));
    if !json {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be application/json");
    }
    // At most MAX_CODE_BYTES are kept; beyond that up to 1 MiB more is read and dropped, so that
    // the 413 reaches a client still sending instead of a reset connection.
    let (mut body, mut chunks, mut received) = (Vec::new(), body.into_data_stream(), 0usize);
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            return refuse(StatusCode::BAD_REQUEST, "could not read the body");
        };
        received += chunk.len();
        if received <= MAX_CODE_BYTES {
            body.extend_from_slice(&chunk);
        } else if received > MAX_CODE_BYTES + (1 << 20) {
            break;
        }
    }
    if received > MAX_CODE_BYTES {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, &format!("the code is larger than {} KiB", MAX_CODE_BYTES >> 10));
    }
    #[derive(serde::Deserialize)]
    struct RunRequest {
        code: String,
        #[serde(rename = "crate")]
        crate_name: Option<String>,
    }
    let parsed: RunRequest = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            return refuse(StatusCode::BAD_REQUEST, &format!("expected {{\"code\": \"…\", \"crate\": \"…\"}}: {e}"));
        }
    };
    let valid_crate = parsed
        .crate_name
        .as_deref()
        .is_none_or(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if parsed.code.trim().is_empty() || !valid_crate {
        return refuse(StatusCode::BAD_REQUEST, "empty code, or a crate name that is not an identifier");
    }
    let Some(place) = api.queue.join(true) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "busy: another run is in progress and the queue is full; try again in a moment",
        );
    };
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let executor = Arc::clone(&api.executor);
    std::thread::spawn(move || run_job(place, executor.as_ref(), &parsed.code, parsed.crate_name.as_deref(), &sender));
    // Each line goes out as it comes; when the client goes away the job finishes under its own limits.
    let lines = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|line| (Ok::<Bytes, std::convert::Infallible>(line), receiver))
    });
    let headers = [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"), (header::CACHE_CONTROL, "no-store")];
    (headers, Body::from_stream(lines)).into_response()
}

/// Runs one job in its turn, sending its progress as JSON lines.
fn run_job(
    mut place: Place,
    executor: &dyn Execute,
    code: &str,
    crate_name: Option<&str>,
    sender: &UnboundedSender<Bytes>,
) {
    let send = |value: serde_json::Value| {
        let _ = sender.send(Bytes::from(format!("{value}\n")));
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
    addr: SocketAddr,
    readiness: Option<Arc<Mutex<Readiness>>>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
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
        let _keep_running = self.stop;
        let _ = self.thread.join();
    }

    /// Stops accepting connections, lets the requests in flight finish, and returns.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Serves `site_dir` on `addr` without a Run API. Use [`listen_address`] to pick `addr`; port 0
/// picks a free port.
pub fn start(site_dir: &Path, addr: SocketAddr) -> Result<RunningServer> {
    start_with(site_dir, addr, None)
}

/// Serves `site_dir` on `addr`, with the Run API when `run` is given and `addr` is loopback; the
/// warm-up (preparing, then compiling `warm_up`) starts at once, in the background.
pub fn start_with(site_dir: &Path, addr: SocketAddr, run_options: Option<RunOptions>) -> Result<RunningServer> {
    let site = StaticSite::new(site_dir)?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let loopback = addr.ip().is_loopback();
    let api = match run_options.filter(|_| loopback) {
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
    let root = site.root.clone();
    let app = Arc::new(App { site, hosts: loopback.then(|| loopback_hosts(addr)), api });
    let files = ServeDir::new(&root).not_found_service((move || not_found(root.clone())).into_service());
    let pages = Router::<()>::new()
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), finish_pages));
    let router = Router::new()
        .route("/api/status", get(status))
        .route("/api/run", post(run))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), api_guard))
        .fallback_service(pages)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), host_guard))
        .with_state(app);
    // Two threads answer requests; each run gets a thread of its own while it runs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("book-serve")
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    let listener = {
        let _context = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // Only `stop` stops the server: a dropped RunningServer leaves it running.
                    if stopped.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
                .await
        })
    });
    Ok(RunningServer { addr, readiness, stop, thread })
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
        let server = start(&dir.path().join("site"), listen_address(0, None).0).unwrap();
        assert_eq!(get(server.addr(), "GET", "/link.txt").0, 403);
        server.stop();
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
        for file in crate::files::files_under(dir.path()).unwrap() {
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
