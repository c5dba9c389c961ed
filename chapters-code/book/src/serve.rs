//! `book serve`: the built site over HTTP on the loopback interface.
//!
//! Requests go through [`Routes::respond`]: one `match` on method and path, so an endpoint such as
//! `POST /api/run` is one more arm (it gets the whole request, headers and body included). Anything
//! unmatched is a static file of the built site, where path traversal is refused.

use anyhow::{Context, Result, bail};
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response};

/// Threads answering requests: enough that a slow client does not stall the page's other files.
const WORKERS: usize = 4;

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

/// Everything the server answers.
pub struct Routes {
    pub site: StaticSite,
}

impl Routes {
    pub fn respond(&self, request: &mut Request) -> Reply {
        match request.method() {
            Method::Get | Method::Head => self.site.get(request.url()),
            _ => {
                // Drain the body so the connection stays usable for the next request.
                let _ = std::io::copy(&mut request.as_reader().take(1 << 20), &mut std::io::sink());
                let mut reply = Reply::text(405, "method not allowed\n");
                reply.headers.push(("Allow", "GET, HEAD".into()));
                reply
            }
        }
    }
}

/// Where to listen: loopback unless `bind` names another address on purpose, in which case the
/// returned warning must be shown.
pub fn listen_address(port: u16, bind: Option<IpAddr>) -> (SocketAddr, Option<String>) {
    let ip = bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let warning = (!ip.is_loopback()).then(|| {
        format!(
            "WARNING: serving on {ip}, not loopback: anyone who can reach this machine on port {port} can read the book \
             (and use any endpoint the server offers)."
        )
    });
    (SocketAddr::new(ip, port), warning)
}

/// A running server; dropping it does not stop it, [`RunningServer::stop`] does.
pub struct RunningServer {
    http: Arc<tiny_http::Server>,
    workers: Vec<std::thread::JoinHandle<()>>,
    addr: SocketAddr,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
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

/// Serves `site_dir` on `addr`. Use [`listen_address`] to pick `addr`; port 0 picks a free port.
pub fn start(site_dir: &Path, addr: SocketAddr) -> Result<RunningServer> {
    let routes = Arc::new(Routes { site: StaticSite::new(site_dir)? });
    let http = Arc::new(tiny_http::Server::http(addr).map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?);
    let Some(addr) = http.server_addr().to_ip() else { bail!("not listening on an IP address") };
    let workers = (0..WORKERS)
        .map(|_| {
            let (http, routes) = (Arc::clone(&http), Arc::clone(&routes));
            std::thread::spawn(move || {
                while let Ok(mut request) = http.recv() {
                    let reply = routes.respond(&mut request);
                    let _ = request.respond(into_response(reply));
                }
            })
        })
        .collect();
    Ok(RunningServer { http, workers, addr })
}

fn into_response(reply: Reply) -> Response<std::io::Cursor<Vec<u8>>> {
    let header = |name: &str, value: &str| Header::from_bytes(name, value).expect("ASCII header");
    let mut response = Response::from_data(reply.body)
        .with_status_code(reply.status)
        .with_header(header("Content-Type", reply.content_type))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Cache-Control", "no-cache"));
    for (name, value) in &reply.headers {
        response.add_header(header(name, value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

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
}
