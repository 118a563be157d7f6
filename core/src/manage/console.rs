//! `gatepass console`: the API Tokens page and the management API in
//! operator mode, served on the loopback interface for one person at the
//! machine.
//!
//! Operator mode sees and changes every owner's keys, so the server is
//! guarded like a Jupyter notebook:
//!
//! - it binds to a loopback address only (an address anyone else can reach
//!   is refused before anything listens);
//! - it prints a login URL holding a one-time random token; the first
//!   request that presents it gets an `HttpOnly; SameSite=Strict` session
//!   cookie and a redirect that takes the token out of the address bar, and
//!   the token is spent: a copy of the URL in a shell history or a log
//!   opens nothing afterwards;
//! - every other request needs the session cookie, compared in constant
//!   time, and a `Host` naming the loopback address (so a DNS-rebinding page
//!   under another name is refused even before the cookie is looked at);
//! - the management API's own rules (JSON bodies, same-origin changes) apply
//!   on top, as under any framework mount.
//!
//! The cookie's name carries the port: browsers send cookies for
//! `127.0.0.1` to every port, and two consoles must not log each other out.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Actor, Principal, Request, Response, MAX_BODY_BYTES};
use crate::Gate;

/// Worker threads answering requests: the page loads three files and a few
/// API calls at once, and a slow store call must not stall the rest.
const WORKERS: usize = 4;

/// Length of the login token and of session cookies, in base62 characters
/// (≈ 238 bits).
const SECRET_LEN: usize = 40;

/// Why the console could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The address is not a loopback address.
    #[error("the console listens on a loopback address only (127.0.0.1 or ::1), not {0}")]
    NotLoopback(SocketAddr),
    /// Binding the address failed (in use, no permission, …).
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

type Handler = dyn Fn(&Request<'_>) -> Response + Send + Sync;

/// A console bound to its address, not yet serving.
pub struct Console {
    server: tiny_http::Server,
    addr: SocketAddr,
    login: Mutex<Option<Zeroizing<String>>>,
    sessions: Mutex<Vec<Zeroizing<String>>>,
    cookie_name: String,
    stopping: AtomicBool,
    handler: Box<Handler>,
}

impl std::fmt::Debug for Console {
    // Never the login token or the sessions.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// Listens on `addr` (a loopback address; port 0 picks a free port) and
    /// answers every logged-in request with `handler`, which sees paths
    /// relative to `/`.
    pub fn bind<H>(addr: SocketAddr, handler: H) -> Result<Self, ConsoleError>
    where
        H: Fn(&Request<'_>) -> Response + Send + Sync + 'static,
    {
        if !addr.ip().is_loopback() {
            return Err(ConsoleError::NotLoopback(addr));
        }
        let listener =
            TcpListener::bind(addr).map_err(|source| ConsoleError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ConsoleError::Bind { addr, source })?;
        let server =
            tiny_http::Server::from_listener(listener, None).map_err(|e| ConsoleError::Bind {
                addr,
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok(Self {
            server,
            addr,
            login: Mutex::new(Some(random_secret())),
            sessions: Mutex::new(Vec::new()),
            cookie_name: format!("gatepass_console_{}", addr.port()),
            stopping: AtomicBool::new(false),
            handler: Box::new(handler),
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address without credentials.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The one-time login URL to print, or `None` once it was used.
    #[must_use]
    pub fn login_url(&self) -> Option<String> {
        self.login
            .lock()
            .as_ref()
            .map(|token| format!("http://{}/?token={}", self.addr, token.as_str()))
    }

    /// Serves until [`Console::stop`] is called (from another thread).
    pub fn run(&self) {
        std::thread::scope(|scope| {
            for _ in 0..WORKERS {
                scope.spawn(|| {
                    while !self.stopping.load(Ordering::Acquire) {
                        match self.server.recv() {
                            Ok(request) => self.answer(request),
                            Err(_) if self.stopping.load(Ordering::Acquire) => break,
                            // A connection that failed while its request was
                            // read: nothing to answer, keep serving.
                            Err(_) => {}
                        }
                    }
                });
            }
        });
    }

    /// Makes [`Console::run`] return once the requests in flight are
    /// answered.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        for _ in 0..WORKERS {
            self.server.unblock();
        }
    }

    fn answer(&self, mut request: tiny_http::Request) {
        let response = self.respond(&mut request);
        let mut out =
            tiny_http::Response::from_data(response.body).with_status_code(response.status);
        for (name, value) in &response.headers {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                out.add_header(header);
            }
        }
        // The client may have gone; there is no one left to tell.
        let _ = request.respond(out);
    }

    fn respond(&self, request: &mut tiny_http::Request) -> Response {
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_owned(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect();
        let Some(host) = header(&headers, "host").filter(|host| self.is_own_host(host)) else {
            return text(
                403,
                "This console answers only at its own loopback address.",
            );
        };
        let self_origin = format!("http://{host}");
        let url = request.url().to_owned();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let path = path.strip_prefix('/').unwrap_or(path);

        let session = self.session(&headers);
        if path.is_empty() {
            if let Some(token) = query_value(query, "token") {
                return self.log_in(token, session);
            }
        }
        if !session {
            return text(
                401,
                "Not logged in: open the login link that `gatepass console` printed. \
                 It works once; restart the console for a new one.",
            );
        }

        if request.body_length().is_some_and(|n| n > MAX_BODY_BYTES) {
            return text(413, "The request body is too large.");
        }
        let mut body = Vec::new();
        let limit = u64::try_from(MAX_BODY_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if request
            .as_reader()
            .take(limit)
            .read_to_end(&mut body)
            .is_err()
        {
            return text(400, "The request body could not be read.");
        }
        if body.len() > MAX_BODY_BYTES {
            return text(413, "The request body is too large.");
        }
        let method = request.method().as_str().to_owned();
        (self.handler)(&Request {
            method: &method,
            path,
            query,
            headers: &headers,
            self_origin: Some(&self_origin),
            body: &body,
        })
    }

    fn is_own_host(&self, host: &str) -> bool {
        let port = self.addr.port();
        let names: [String; 3] = match self.addr {
            SocketAddr::V4(a) => [
                format!("{}:{port}", a.ip()),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
            ],
            SocketAddr::V6(a) => [
                format!("[{}]:{port}", a.ip()),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
        };
        names.iter().any(|n| n.eq_ignore_ascii_case(host))
    }

    /// Whether the request carries a live session cookie.
    fn session(&self, headers: &[(String, String)]) -> bool {
        let sessions = self.sessions.lock();
        headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.cookie_name)
            .any(|(_, value)| {
                sessions
                    .iter()
                    .any(|s| bool::from(s.as_bytes().ct_eq(value.as_bytes())))
            })
    }

    fn log_in(&self, token: &str, has_session: bool) -> Response {
        let mut login = self.login.lock();
        let matches = login
            .as_ref()
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(token.as_bytes())));
        if !matches {
            drop(login);
            return if has_session {
                redirect_home(None)
            } else {
                text(
                    401,
                    "This login link was already used or is wrong. \
                     Restart `gatepass console` for a new one.",
                )
            };
        }
        // Spent: the URL in a terminal's scrollback opens nothing more.
        *login = None;
        drop(login);
        let session = random_secret();
        let cookie = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name,
            session.as_str()
        );
        self.sessions.lock().push(session);
        redirect_home(Some(cookie))
    }
}

/// Serves the API Tokens page and the management API for `gate` in operator
/// mode (every owner's keys) on `addr`, a loopback address, until the
/// process ends. `on_ready` gets the one-time login URL to show the person
/// at the machine.
///
/// Changes are recorded with the actor `console:<user>` (the OS user the
/// console runs as), so the audit trail tells console changes from the
/// app's own.
pub fn serve(
    gate: Arc<Gate>,
    addr: SocketAddr,
    on_ready: impl FnOnce(&str),
) -> Result<(), ConsoleError> {
    serve_with(addr, operator(gate), on_ready)
}

/// The management API for `gate` in operator mode, as the console answers.
fn operator(gate: Arc<Gate>) -> impl Fn(&Request<'_>) -> Response + Send + Sync + 'static {
    let principal = Principal::operator(Actor::new(console_actor()));
    move |request: &Request<'_>| super::handle(&gate, &principal, request)
}

/// `console:` and the OS user, as far as the environment tells it.
fn console_actor() -> String {
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.chars().any(char::is_control))
        .unwrap_or_else(|| "operator".to_owned());
    format!("console:{user}")
}

/// [`serve`] with any handler in place of the management API.
pub fn serve_with<H>(
    addr: SocketAddr,
    handler: H,
    on_ready: impl FnOnce(&str),
) -> Result<(), ConsoleError>
where
    H: Fn(&Request<'_>) -> Response + Send + Sync + 'static,
{
    let console = Console::bind(addr, handler)?;
    if let Some(url) = console.login_url() {
        on_ready(&url);
    }
    console.run();
    Ok(())
}

fn random_secret() -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(SECRET_LEN));
    crate::base62::push_random(&mut s, SECRET_LEN);
    s
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn redirect_home(cookie: Option<String>) -> Response {
    let mut headers = vec![
        ("Location".to_owned(), "/".to_owned()),
        ("Cache-Control".to_owned(), "no-store".to_owned()),
        ("Referrer-Policy".to_owned(), "no-referrer".to_owned()),
    ];
    if let Some(cookie) = cookie {
        headers.push(("Set-Cookie".to_owned(), cookie));
    }
    Response {
        status: 303,
        headers,
        body: Vec::new(),
    }
}

fn text(status: u16, message: &str) -> Response {
    Response {
        status,
        headers: vec![
            (
                "Content-Type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            ),
            ("Cache-Control".to_owned(), "no-store".to_owned()),
            ("X-Content-Type-Options".to_owned(), "nosniff".to_owned()),
        ],
        body: message.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{Ipv4Addr, TcpStream};
    use std::sync::atomic::AtomicUsize;

    struct Running {
        console: Arc<Console>,
        thread: Option<std::thread::JoinHandle<()>>,
        calls: Arc<AtomicUsize>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.console.stop();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// A console whose handler echoes what it was given, so the tests see
    /// exactly what reaches the management API.
    fn start() -> Running {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let bound = Console::bind((Ipv4Addr::LOCALHOST, 0).into(), move |req: &Request<'_>| {
            seen.fetch_add(1, Ordering::SeqCst);
            Response {
                status: 200,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: format!(
                    "{} [{}] [{}] [{}] {}",
                    req.method,
                    req.path,
                    req.query,
                    req.self_origin.unwrap_or("-"),
                    req.body.len()
                )
                .into_bytes(),
            }
        });
        let Ok(console) = bound else {
            unreachable!("bind failed")
        };
        let console = Arc::new(console);
        let serving = Arc::clone(&console);
        let thread = std::thread::spawn(move || serving.run());
        Running {
            console,
            thread: Some(thread),
            calls,
        }
    }

    struct Answer {
        status: u16,
        head: String,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<String> {
            self.head.lines().find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        }
    }

    fn send(addr: SocketAddr, raw: &str) -> Answer {
        let Ok(mut stream) = TcpStream::connect(addr) else {
            unreachable!("connect failed")
        };
        // A test that waits for an answer that never comes fails, not hangs.
        assert!(stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .is_ok());
        assert!(stream.write_all(raw.as_bytes()).is_ok());
        let mut out = String::new();
        assert!(stream.read_to_string(&mut out).is_ok());
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out.as_str(), ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Answer {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    fn get(addr: SocketAddr, target: &str, extra: &str) -> Answer {
        send(
            addr,
            &format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n"),
        )
    }

    /// Logs in and returns the `Cookie:` header line.
    fn log_in(running: &Running) -> String {
        let Some(url) = running.console.login_url() else {
            unreachable!("no login URL")
        };
        let addr = running.console.local_addr();
        let target = url.trim_start_matches(&format!("http://{addr}"));
        let answer = get(addr, target, "");
        assert_eq!(answer.status, 303, "{}", answer.head);
        let Some(cookie) = answer.header("set-cookie") else {
            unreachable!("no cookie")
        };
        let pair = cookie.split(';').next().unwrap_or_default().to_owned();
        format!("Cookie: other=1; {pair}\r\n")
    }

    #[test]
    fn refuses_addresses_others_can_reach() {
        for addr in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                unreachable!()
            };
            let bound = Console::bind(addr, |_: &Request<'_>| text(200, ""));
            assert!(matches!(bound, Err(ConsoleError::NotLoopback(_))), "{addr}");
        }
    }

    #[test]
    fn nothing_reaches_the_api_without_logging_in() {
        let running = start();
        let addr = running.console.local_addr();
        for target in ["/", "/keys", "/page/app.js", "/?token=wrong", "/?token="] {
            let answer = get(addr, target, "");
            assert_eq!(answer.status, 401, "{target}");
            assert!(answer.body.contains("gatepass console"));
        }
        // A cookie with the right name and a guessed value is no session.
        let name = &running.console.cookie_name;
        let answer = get(addr, "/keys", &format!("Cookie: {name}=guess\r\n"));
        assert_eq!(answer.status, 401);
        assert_eq!(running.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_login_token_works_once_and_becomes_an_http_only_strict_cookie() {
        let running = start();
        let addr = running.console.local_addr();
        let Some(url) = running.console.login_url() else {
            unreachable!()
        };
        assert!(url.starts_with(&format!("http://{addr}/?token=")));
        let target = url.trim_start_matches(&format!("http://{addr}"));

        let first = get(addr, target, "");
        assert_eq!(first.status, 303);
        assert_eq!(first.header("location").as_deref(), Some("/"));
        assert_eq!(first.header("cache-control").as_deref(), Some("no-store"));
        let cookie = first.header("set-cookie").unwrap_or_default();
        assert!(cookie.starts_with(&format!("gatepass_console_{}=", addr.port())));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(running.console.login_url().is_none());

        // Spent: the same URL without the cookie opens nothing.
        let again = get(addr, target, "");
        assert_eq!(again.status, 401);
        assert!(again.header("set-cookie").is_none());

        // With the cookie, the request reaches the API, relative to `/`.
        let pair = cookie.split(';').next().unwrap_or_default();
        let answer = get(addr, "/keys?status=active", &format!("Cookie: {pair}\r\n"));
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body,
            format!("GET [keys] [status=active] [http://{addr}] 0")
        );
        let page = get(addr, "/", &format!("Cookie: {pair}\r\n"));
        assert_eq!(page.body, format!("GET [] [] [http://{addr}] 0"));
        // The login URL again, with the cookie: just home.
        assert_eq!(
            get(addr, target, &format!("Cookie: {pair}\r\n")).status,
            303
        );
    }

    #[test]
    fn another_host_name_is_refused_even_with_the_cookie() {
        let running = start();
        let addr = running.console.local_addr();
        let cookie = log_in(&running);
        let calls = running.calls.load(Ordering::SeqCst);
        let answer = send(
            addr,
            &format!(
                "GET /keys HTTP/1.1\r\nHost: attacker.example:{}\r\nConnection: close\r\n{cookie}\r\n",
                addr.port()
            ),
        );
        assert_eq!(answer.status, 403);
        assert_eq!(running.calls.load(Ordering::SeqCst), calls);
        let named = send(
            addr,
            &format!(
                "GET /keys HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n{cookie}\r\n",
                addr.port()
            ),
        );
        assert_eq!(named.status, 200);
        assert!(named
            .body
            .contains(&format!("[http://localhost:{}]", addr.port())));
    }

    #[test]
    fn bodies_reach_the_api_up_to_the_limit() {
        let running = start();
        let addr = running.console.local_addr();
        let cookie = log_in(&running);
        let post = |len: usize| {
            send(
                addr,
                &format!(
                    "POST /keys HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{cookie}Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n{}",
                    "x".repeat(len)
                ),
            )
        };
        let ok = post(MAX_BODY_BYTES);
        assert_eq!(ok.status, 200);
        assert!(ok.body.ends_with(&format!(" {MAX_BODY_BYTES}")));
        assert_eq!(post(MAX_BODY_BYTES + 1).status, 413);
    }

    #[test]
    fn serves_the_page_and_the_api_in_operator_mode() {
        let Ok(gate) = Gate::open("memory://", None) else {
            unreachable!()
        };
        let gate = Arc::new(gate);
        let Ok(issued) = gate.issue(crate::IssueRequest {
            name: "bob's key".into(),
            subject: Some("bob".into()),
            ..crate::IssueRequest::default()
        }) else {
            unreachable!()
        };
        let Ok(console) =
            Console::bind((Ipv4Addr::LOCALHOST, 0).into(), operator(Arc::clone(&gate)))
        else {
            unreachable!()
        };
        let console = Arc::new(console);
        let serving = Arc::clone(&console);
        let thread = std::thread::spawn(move || serving.run());
        let running = Running {
            console,
            thread: Some(thread),
            calls: Arc::new(AtomicUsize::new(0)),
        };
        let addr = running.console.local_addr();
        let cookie = log_in(&running);

        let page = get(addr, "/", &cookie);
        assert_eq!(page.status, 200);
        assert!(page.header("content-security-policy").is_some());
        assert!(page.body.contains("Create Token"));

        // Every owner's keys: operator mode.
        let keys = get(addr, "/keys", &cookie);
        assert_eq!(keys.status, 200, "{}", keys.body);
        assert!(keys.body.contains(&issued.key.id) && keys.body.contains("\"subject\":\"bob\""));

        let create = |origin: &str| {
            let body = r#"{"name":"ci 1"}"#;
            send(
                addr,
                &format!(
                    "POST /keys HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{cookie}{origin}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            )
        };
        // The API's same-origin rule holds behind the console's login.
        assert_eq!(create("").status, 403);
        assert_eq!(create("Origin: http://evil.example\r\n").status, 403);
        let created = create(&format!("Origin: http://{addr}\r\n"));
        assert_eq!(created.status, 201, "{}", created.body);
        assert!(created.body.contains("\"token\""));

        // Recorded as the console's actor.
        let Ok(page) = gate.events(&crate::audit::EventQuery {
            limit: 10,
            ..crate::audit::EventQuery::default()
        }) else {
            unreachable!()
        };
        assert!(page.events.iter().any(|e| e.actor.starts_with("console:")));
    }

    #[test]
    fn debug_shows_no_secret() {
        let running = start();
        let shown = format!("{:?}", running.console);
        let Some(url) = running.console.login_url() else {
            unreachable!()
        };
        let token = url.rsplit('=').next().unwrap_or_default();
        assert!(!token.is_empty() && !shown.contains(token), "{shown}");
    }
}
