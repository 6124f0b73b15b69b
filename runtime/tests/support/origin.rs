//! Origin servers on loopback ports: HTTP/1.1 with keep-alive, one thread
//! per connection, answering as their `Behavior` says and counting what
//! they receive.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::raw::{fill, find};

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
    pub health: Arc<AtomicU16>,
    /// The bodies of the requests served, in order.
    pub bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The targets of the requests served, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What an origin's connections share.
#[derive(Clone)]
struct OriginState {
    name: String,
    behavior: Behavior,
    hits: Arc<AtomicUsize>,
    health: Arc<AtomicU16>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    requests: Arc<Mutex<Vec<String>>>,
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
            health: Arc::new(AtomicU16::new(200)),
            bodies: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(Mutex::new(Vec::new())),
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

/// A request head as an origin received it.
struct RequestHead {
    /// The head as it arrived, request line first, without the blank line.
    text: String,
    method: String,
    target: String,
    /// Names in lowercase, values trimmed, in order.
    headers: Vec<(String, String)>,
}

impl RequestHead {
    /// Reads the next request head off the connection; `raw` is left with
    /// what follows it. `None` when the client is gone.
    fn read(stream: &mut TcpStream, raw: &mut Vec<u8>) -> Option<RequestHead> {
        if !fill(stream, raw, |r| find(r, b"\r\n\r\n").is_some()) {
            return None;
        }
        let head_end = find(raw, b"\r\n\r\n")?;
        let text = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        raw.drain(..head_end + 4);
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(RequestHead {
            text,
            method,
            target,
            headers,
        })
    }

    /// Whether the client asked for the connection to close after this
    /// request.
    fn wants_close(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"))
    }

    /// Whether header `name` lists `token` (any case).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k == name && v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
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
        let Some(request) = RequestHead::read(&mut stream, &mut raw) else {
            return;
        };
        if !answer(&mut stream, &mut raw, state, &request) {
            return;
        }
    }
}

/// Answers one request as the origin's behavior says; whether the
/// connection stays open for the next one.
fn answer(stream: &mut TcpStream, raw: &mut Vec<u8>, state: &OriginState, request: &RequestHead) -> bool {
    let close = request.wants_close();
    let keep = if close { "close" } else { "keep-alive" };
    if request.target == "/healthz" {
        let status = state.health.load(Ordering::SeqCst);
        let _ = stream.write_all(
            format!("HTTP/1.1 {status} X\r\ncontent-length: 3\r\nconnection: {keep}\r\n\r\nok\n").as_bytes(),
        );
        return !close;
    }
    if let Behavior::Refuse(status) = state.behavior {
        state.hits.fetch_add(1, Ordering::SeqCst);
        let _ = stream
            .write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes());
        return false;
    }
    // As a real server does: the client that asked may send its body now.
    if request.has_token("expect", "100-continue") {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let Some(body) = read_body(stream, raw, &request.headers) else {
        return false;
    };
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.bodies.lock().unwrap().push(body.clone());
    state.requests.lock().unwrap().push(request.target.clone());
    let status = match state.behavior {
        Behavior::Slow(delay) => {
            std::thread::sleep(delay);
            200
        }
        Behavior::Status(status) => status,
        Behavior::Trickle(every) => {
            trickle(stream, every);
            return false;
        }
        Behavior::Upgrade => {
            upgrade_and_echo(stream, raw, request);
            return false;
        }
        // Answered above, before the body.
        Behavior::Echo | Behavior::Refuse(_) => 200,
    };
    let response = echo_response(state, request, status, body.len(), keep);
    stream.write_all(response.as_bytes()).is_ok() && !close
}

/// `Behavior::Trickle`: the head of a 20-byte answer at once, then its body
/// a byte every `every`.
fn trickle(stream: &mut TcpStream, every: Duration) {
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\n");
    for _ in 0..20 {
        std::thread::sleep(every);
        if stream.write_all(b"x").is_err() {
            return;
        }
    }
}

/// `Behavior::Upgrade`: only what asks for a WebSocket upgrade gets one,
/// as a WebSocket server would, proof that the upgrade reached the origin;
/// then every byte that arrives (`raw` first) is echoed until the client
/// goes away.
fn upgrade_and_echo(stream: &mut TcpStream, raw: &[u8], request: &RequestHead) {
    if !(request.has_token("connection", "upgrade") && request.has_token("upgrade", "websocket")) {
        let _ =
            stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\nconnection: close\r\n\r\nno upgrade");
        return;
    }
    let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
    let _ = stream.write_all(raw);
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

/// The answer to a request with `status`: a JSON echo of what the origin
/// received, for tests to check what the proxy sent on. A request header
/// `x-origin-reply: name: value|name: value` asks for more headers in it.
fn echo_response(state: &OriginState, request: &RequestHead, status: u16, body_bytes: usize, keep: &str) -> String {
    let headers = &request.headers;
    let echoed = serde_json::json!({
        "origin": state.name,
        "method": request.method,
        "target": request.target,
        "headers": headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        // The header lines as they arrived, case and order kept.
        "head": request.text.split("\r\n").skip(1).collect::<Vec<_>>(),
        "body_bytes": body_bytes,
    })
    .to_string();
    let extra: String = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-origin-reply"))
        .flat_map(|(_, v)| v.split('|').map(|line| format!("{}\r\n", line.trim())))
        .collect();
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-origin: {}\r\nconnection: {keep}\r\n{extra}\r\n{echoed}",
        echoed.len(),
        state.name
    )
}
