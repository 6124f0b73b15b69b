//! Real things for the runtime's integration tests: a `zentinel` process
//! serving a policy compiled by `zenc`, origin servers on loopback ports,
//! and a plain HTTP/1.1 client over TCP. Nothing is mocked.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free loopback port (bound and released), never one this test process
/// was handed before: the kernel may give a just-released port out again,
/// and two listeners of one policy then collide.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a whole HTTP/1.1 response (content-length, chunked or close).
pub fn parse_response(raw: &[u8]) -> Response {
    let end = find(raw, b"\r\n\r\n").unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        while let Some(line_end) = find(&rest[at..], b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[at..at + line_end]).trim(), 16).unwrap_or(0);
            at += line_end + 2;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[at..(at + size).min(rest.len())]);
            at += size + 2;
        }
        body
    } else {
        match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, len)) => rest[..len.parse::<usize>().unwrap().min(rest.len())].to_vec(),
            None => rest.to_vec(),
        }
    };
    Response { status, headers, body }
}

/// Sends one request on a fresh connection (`connection: close`).
pub fn send(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str("host: example.com\r\n");
    }
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("connection") {
            request.push_str(&format!("{k}: close, {v}\r\n"));
        } else {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !body.is_empty() {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    // One `connection` line: the caller's, with `close` added.
    match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("connection")) {
        Some(_) => request.push_str("\r\n"),
        None => request.push_str("connection: close\r\n\r\n"),
    }
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

/// Sends `raw` bytes as they are (a request written by hand) and reads the
/// answer until the connection closes.
pub fn send_raw(port: u16, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    parse_response(&answer)
}

/// A POST that announces 100 bytes of body, sends 10 and waits: the
/// answer zentinel gives it.
pub fn stalled_body(port: u16) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

/// Reads one answer with a `content-length` body from a connection that
/// stays open; `None` when the peer closes before it is all here.
pub fn read_response(stream: &mut TcpStream) -> Option<Response> {
    let mut raw = Vec::new();
    if !fill(stream, &mut raw, |r| find(r, b"\r\n\r\n").is_some()) {
        return None;
    }
    let head = find(&raw, b"\r\n\r\n")? + 4;
    let length: usize = parse_response(&raw).header("content-length")?.parse().ok()?;
    fill(stream, &mut raw, |r| r.len() >= head + length).then(|| parse_response(&raw))
}

/// A GET that may fail (refused, reset): `None` then.
pub fn try_get(port: u16, target: &str) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    find(&raw, b"\r\n\r\n")?;
    Some(parse_response(&raw))
}

pub fn get(port: u16, target: &str) -> Response {
    send(port, "GET", target, &[], b"")
}

/// How an origin answers.
#[derive(Clone, Copy, Debug)]
pub enum Behavior {
    /// 200 with a JSON echo of the request.
    Echo,
    /// Echo after sleeping.
    Slow(Duration),
    /// Always this status.
    Status(u16),
    /// The head at once, then a 20-byte body a byte every `Duration`.
    Trickle(Duration),
    /// `101 Switching Protocols` to a WebSocket upgrade, then every byte
    /// echoed; `400` to any other request.
    Upgrade,
    /// This status as soon as the head arrives, before any body is read,
    /// then the connection closed.
    Refuse(u16),
}

/// An origin server on a loopback port: HTTP/1.1 with keep-alive, echoing
/// what it receives.
pub struct Origin {
    pub name: String,
    pub port: u16,
    /// Requests served (health checks aside).
    pub hits: Arc<AtomicUsize>,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// The status `/healthz` answers.
    pub health: Arc<std::sync::atomic::AtomicU16>,
    /// The bodies of the requests served, in order.
    pub bodies: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    /// The targets of the requests served, in order.
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What an origin's connections share.
#[derive(Clone)]
struct OriginState {
    name: String,
    behavior: Behavior,
    hits: Arc<AtomicUsize>,
    health: Arc<std::sync::atomic::AtomicU16>,
    bodies: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Origin {
    pub fn start(name: &str, behavior: Behavior) -> Origin {
        Self::start_on(name, 0, behavior)
    }

    pub fn start_on(name: &str, port: u16, behavior: Behavior) -> Origin {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("origin binds");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let state = OriginState {
            name: name.to_string(),
            behavior,
            hits: Arc::new(AtomicUsize::new(0)),
            health: Arc::new(std::sync::atomic::AtomicU16::new(200)),
            bodies: Arc::new(std::sync::Mutex::new(Vec::new())),
            requests: Arc::new(std::sync::Mutex::new(Vec::new())),
        };
        let thread = {
            let (stop, connections, state) = (stop.clone(), connections.clone(), state.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            connections.fetch_add(1, Ordering::SeqCst);
                            let (state, stop) = (state.clone(), stop.clone());
                            std::thread::spawn(move || serve(stream, &state, &stop));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Origin {
            name: name.to_string(),
            port,
            hits: state.hits,
            connections,
            health: state.health,
            bodies: state.bodies,
            requests: state.requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops listening: connections are refused from now on, and open ones
    /// are closed after their current request.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads into `raw` until `until(raw)` holds; false when the peer is gone.
fn fill(stream: &mut TcpStream, raw: &mut Vec<u8>, until: impl Fn(&[u8]) -> bool) -> bool {
    let mut buf = [0u8; 8192];
    while !until(raw) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// Reads one request body (content-length or chunked) from `raw` (and the
/// stream); `raw` is left with what follows it.
fn read_body(stream: &mut TcpStream, raw: &mut Vec<u8>, headers: &[(String, String)]) -> Option<Vec<u8>> {
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            if !fill(stream, raw, |r| find(r, b"\r\n").is_some()) {
                return None;
            }
            let line_end = find(raw, b"\r\n")?;
            let size_text = String::from_utf8_lossy(&raw[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            raw.drain(..line_end + 2);
            if !fill(stream, raw, |r| r.len() >= size + 2) {
                return None;
            }
            body.extend_from_slice(&raw[..size]);
            raw.drain(..size + 2);
            if size == 0 {
                return Some(body);
            }
        }
    }
    let len = header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if !fill(stream, raw, |r| r.len() >= len) {
        return None;
    }
    Some(raw.drain(..len).collect())
}

/// Serves requests on one connection until the client closes it or asks to.
fn serve(mut stream: TcpStream, state: &OriginState, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if !fill(&mut stream, &mut raw, |r| find(r, b"\r\n\r\n").is_some()) {
            return;
        }
        let Some(head_end) = find(&raw, b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        raw.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let close = headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        let keep = if close { "close" } else { "keep-alive" };
        if target == "/healthz" {
            let status = state.health.load(Ordering::SeqCst);
            let _ = stream.write_all(
                format!("HTTP/1.1 {status} X\r\ncontent-length: 3\r\nconnection: {keep}\r\n\r\nok\n").as_bytes(),
            );
            if close {
                return;
            }
            continue;
        }
        if let Behavior::Refuse(status) = state.behavior {
            state.hits.fetch_add(1, Ordering::SeqCst);
            let _ = stream
                .write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes());
            return;
        }
        let Some(body) = read_body(&mut stream, &mut raw, &headers) else {
            return;
        };
        state.hits.fetch_add(1, Ordering::SeqCst);
        state.bodies.lock().unwrap().push(body.clone());
        state.requests.lock().unwrap().push(target.clone());
        let status = match state.behavior {
            Behavior::Slow(delay) => {
                std::thread::sleep(delay);
                200
            }
            Behavior::Status(status) => status,
            Behavior::Trickle(every) => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\n");
                for _ in 0..20 {
                    std::thread::sleep(every);
                    if stream.write_all(b"x").is_err() {
                        return;
                    }
                }
                return;
            }
            Behavior::Upgrade => {
                // Only what asks for a WebSocket upgrade gets one, as a
                // WebSocket server would: proof that the upgrade reached it.
                let has = |name: &str, token: &str| {
                    headers
                        .iter()
                        .any(|(k, v)| k == name && v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                };
                if !(has("connection", "upgrade") && has("upgrade", "websocket")) {
                    let _ = stream.write_all(
                        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\nconnection: close\r\n\r\nno upgrade",
                    );
                    return;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
                );
                // Echo whatever arrives, until the client goes away.
                let _ = stream.write_all(&raw);
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            // Answered above, before the body.
            Behavior::Echo | Behavior::Refuse(_) => 200,
        };
        let echoed = serde_json::json!({
            "origin": state.name,
            "method": method,
            "target": target,
            "headers": headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            // The header lines as they arrived, case and order kept.
            "head": head.split("\r\n").skip(1).collect::<Vec<_>>(),
            "body_bytes": body.len(),
        })
        .to_string();
        // `x-origin-reply: name: value|name: value` asks for more headers
        // in the answer.
        let extra: String = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-origin-reply"))
            .flat_map(|(_, v)| v.split('|').map(|line| format!("{}\r\n", line.trim())))
            .collect();
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-origin: {}\r\nconnection: {keep}\r\n{extra}\r\n{echoed}",
            echoed.len(),
            state.name
        );
        if stream.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// One HTTP/2 exchange on `io` (a TCP or TLS stream): the request, then
/// the answer's head and its whole body.
pub async fn h2_exchange<T>(io: T, request: http::Request<()>) -> (http::response::Parts, Vec<u8>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut client, connection) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let (response, _) = client.send_request(request, true).unwrap();
    let (parts, mut body) = response.await.unwrap().into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        bytes.extend_from_slice(&chunk);
    }
    (parts, bytes)
}

/// A `zentinel run` process serving a policy.
pub struct Proxy {
    child: Child,
    pub port: u16,
    pub admin: u16,
    pub dir: PathBuf,
}

impl Proxy {
    /// Compiles `body` (everything but `listen` and `admin`, which are
    /// added on free ports) and serves it.
    pub fn start(body: &str) -> Proxy {
        Self::start_with(body, &[])
    }

    pub fn start_with(body: &str, extra_args: &[&str]) -> Proxy {
        Self::start_with_env(body, extra_args, &[])
    }

    /// As `start_with`, with environment variables for the process.
    pub fn start_with_env(body: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let dir = std::env::temp_dir().join(format!(
            "zentinel-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let admin = free_port();
        let policy = format!("listen \"127.0.0.1:{port}\"\nadmin \"127.0.0.1:{admin}\"\n{body}");
        compile_to(&dir, &policy, "site.zbin");
        Self::serve(dir, port, admin, extra_args, env)
    }

    /// Serves `dir/site.zbin`, which listens on `port` with its admin
    /// listener on `admin`.
    pub fn serve(dir: PathBuf, port: u16, admin: u16, extra_args: &[&str], env: &[(&str, &str)]) -> Proxy {
        let child = Command::new(env!("CARGO_BIN_EXE_zentinel"))
            .args(["run", "site.zbin", "--grace-period", "2"])
            .args(["--upgrade-sock", dir.join("upgrade.sock").to_str().unwrap()])
            .args(if extra_args.contains(&"--access-log") {
                Vec::new()
            } else {
                vec!["--access-log".to_string(), dir.join("access.log").display().to_string()]
            })
            .args(if extra_args.contains(&"--threads") {
                &[][..]
            } else {
                &["--threads", "2"][..]
            })
            .args(extra_args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap()))
            .spawn()
            .expect("zentinel starts");
        let proxy = Proxy {
            child,
            port,
            admin,
            dir,
        };
        proxy.wait_ready();
        proxy
    }

    /// Starts a process with `--upgrade` that takes over `old`'s sockets
    /// (its listeners and upgrade socket), serving `body`.
    pub fn start_upgrade(old: &Proxy, body: &str) -> Proxy {
        let dir = std::env::temp_dir().join(format!(
            "zentinel-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let policy = format!(
            "listen \"127.0.0.1:{}\"\nadmin \"127.0.0.1:{}\"\n{body}",
            old.port, old.admin
        );
        compile_to(&dir, &policy, "site.zbin");
        let child = Command::new(env!("CARGO_BIN_EXE_zentinel"))
            .args(["run", "site.zbin", "--threads", "2", "--grace-period", "2", "--upgrade"])
            .args(["--upgrade-sock", old.dir.join("upgrade.sock").to_str().unwrap()])
            .args(["--access-log", dir.join("access.log").to_str().unwrap()])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap()))
            .spawn()
            .expect("zentinel starts");
        Proxy {
            child,
            port: old.port,
            admin: old.admin,
            dir,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.admin)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("zentinel did not start: {}", self.stderr());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The access log lines, parsed.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }

    pub fn get(&self, target: &str) -> Response {
        get(self.port, target)
    }

    pub fn metrics(&self) -> String {
        get(self.admin, "/metrics").text()
    }

    /// Replaces the artifact the way `zenc build` does (write, then
    /// rename) with `policy`'s, keeping this proxy's listeners.
    pub fn replace_policy(&self, body: &str) {
        let policy = format!(
            "listen \"127.0.0.1:{}\"\nadmin \"127.0.0.1:{}\"\n{body}",
            self.port, self.admin
        );
        compile_to(&self.dir, &policy, "next.zbin");
        std::fs::rename(self.dir.join("next.zbin"), self.dir.join("site.zbin")).unwrap();
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Compiles a policy with zenc into `dir/name`.
pub fn compile_to(dir: &Path, policy: &str, name: &str) {
    let source = dir.join("site.zen");
    std::fs::write(&source, policy).unwrap();
    let compilation = zenc::check_path(&source).unwrap();
    let errors: Vec<String> = compilation.diagnostics.iter().map(|d| d.message.clone()).collect();
    let artifact = compilation
        .artifact()
        .unwrap_or_else(|| panic!("policy does not compile: {errors:?}\n{policy}"));
    std::fs::write(dir.join(name), artifact).unwrap();
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `condition` until it holds or `within` passes.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

pub fn socket(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
