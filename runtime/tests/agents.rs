//! External agents: the example WAF agent runs as a real process on a
//! Unix socket; zentinel allows, blocks and redirects on its word, applies
//! its header edits, and follows `on_failure` when it is slow or absent.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use support::*;

struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example agent, built by `cargo test` beside the test binaries.
fn start_agent(socket: &PathBuf) -> AgentProcess {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let agent = examples.join("waf_agent");
    if !agent.exists() {
        // `cargo test --test agents` alone does not build examples.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "zentinel-runtime", "--example", "waf_agent"])
            .status()
            .expect("cargo runs");
        assert!(status.success() && agent.exists(), "cannot build {}", agent.display());
    }
    let child = Command::new(agent).arg(socket).spawn().expect("agent starts");
    assert!(eventually(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(socket).is_ok()
    }));
    AgentProcess(child)
}

/// The example agent on a socket of its own, and an echoing origin.
fn agent_and_origin(name: &str) -> (PathBuf, AgentProcess, Origin) {
    let socket = std::env::temp_dir().join(format!("zentinel-waf-{name}-{}.sock", std::process::id()));
    let agent = start_agent(&socket);
    (socket, agent, Origin::start("o", Behavior::Echo))
}

/// The policy of `agents_allow_block_redirect_and_edit_headers`: the
/// example agent (at `socket`) on a route that proxies to `origin` and on
/// one that answers itself, and two agents that are never there, one that
/// lets requests through on failure and one that does not.
fn headers_policy(socket: &Path, origin: &Origin) -> String {
    format!(
        r#"
agent waf {{
    socket "{socket}"
    timeout 300ms
    on_failure deny
}}

agent absent {{
    socket "{socket}.missing"
    on_failure allow
}}

agent strict {{
    socket "{socket}.missing"
    on_failure deny
}}

upstream app {{
    server "{origin}"
}}

route app {{
    path prefix "/app"
    proxy app
    agents waf
}}

route login {{
    path "/login-old"
    respond 200 "never seen"
    agents waf
}}

route lenient {{
    path "/lenient"
    respond 200 "allowed without the agent\n"
    agents absent
}}

route closed {{
    path "/closed"
    respond 200 "never seen"
    agents strict
}}
"#,
        socket = socket.display(),
        origin = origin.addr()
    )
}

#[test]
fn agents_allow_block_redirect_and_edit_headers() {
    let (socket, _agent, origin) = agent_and_origin("headers");
    let proxy = Proxy::start(&headers_policy(&socket, &origin));
    let r = proxy.get("/app/x");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-agent"), Some("waf"), "the agent's response header");
    assert_eq!(
        r.json()["headers"]["x-agent-checked"],
        "1",
        "the agent's request header"
    );
    let r = send(proxy.port, "GET", "/app/x", &[("x-attack", "1")], b"");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-blocked-by"), Some("waf"));
    assert_eq!(r.text(), "blocked by the example WAF\n");
    assert_eq!(
        origin.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a blocked request never reaches the origin"
    );
    let r = proxy.get("/login-old");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/login"));
    // Timeout with on_failure deny: 503.
    let r = send(proxy.port, "GET", "/app/x", &[("x-slow-agent", "1")], b"");
    assert_eq!(r.status, 503);
    // Refused connection: allow or deny as the agent says.
    assert_eq!(proxy.get("/lenient").status, 200);
    assert_eq!(proxy.get("/closed").status, 503);
    let metrics = proxy.metrics();
    for expected in [
        "zentinel_agent_calls_total{agent=\"waf\",outcome=\"allow\"} 1",
        "zentinel_agent_calls_total{agent=\"waf\",outcome=\"block\"} 1",
        "zentinel_agent_calls_total{agent=\"waf\",outcome=\"redirect\"} 1",
        "zentinel_agent_calls_total{agent=\"waf\",outcome=\"failure\"} 1",
    ] {
        assert!(metrics.contains(expected), "missing {expected} in\n{metrics}");
    }
}

#[test]
fn agents_that_ask_for_the_body_see_it_before_the_upstream_does() {
    let (socket, _agent, origin) = agent_and_origin("body");
    let policy = format!(
        r#"
agent waf {{
    socket "{socket}"
    timeout 2s
    on_failure deny
    body 16KiB
}}

upstream app {{
    server "{origin}"
}}

route app {{
    path prefix "/app"
    proxy app
    agents waf
}}

route form {{
    path "/form"
    respond 200 "thanks\n"
    agents waf
}}
"#,
        socket = socket.display(),
        origin = origin.addr()
    );
    let proxy = Proxy::start(&policy);
    let hits = || origin.hits.load(std::sync::atomic::Ordering::SeqCst);
    // An attack in the body is blocked before anything reaches the origin.
    let r = send(proxy.port, "POST", "/app/users", &[], b"name=x'; drop table users; --");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.header("x-blocked-by"), Some("waf"));
    assert_eq!(hits(), 0);
    // A benign body goes through whole, and the agent saw all of it.
    let r = send(proxy.port, "POST", "/app/users", &[], b"name=ann");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-agent-body-bytes"), Some("8"));
    assert_eq!(r.header("x-agent-body-complete"), Some("true"));
    assert_eq!(r.json()["body_bytes"], 8);
    // A body far larger than what the agent reads (and than the 64 KiB
    // zentinel can buffer): the agent sees its first 16 KiB, the origin
    // all of it, unchanged.
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let r = send(proxy.port, "POST", "/app/upload", &[], &big);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-agent-body-bytes"), Some("16384"));
    assert_eq!(r.header("x-agent-body-complete"), Some("false"));
    let received = origin.bodies.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(
        received == big,
        "the body arrived changed: {} bytes of {}",
        received.len(),
        big.len()
    );
    // ...and an attack past the first 16 KiB is, as documented, unseen.
    let mut late = vec![b'a'; 20_000];
    late.extend_from_slice(b"DROP TABLE users");
    assert_eq!(send(proxy.port, "POST", "/app/upload", &[], &late).status, 200);
    // No body at all: the agent is asked with an empty one.
    let r = proxy.get("/app/x");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-agent-body-bytes"), Some("0"));
    // A direct answer reads the body too (nothing else will).
    assert_eq!(send(proxy.port, "POST", "/form", &[], b"DROP TABLE t").status, 403);
    let r = send(proxy.port, "POST", "/form", &[], b"comment=hello");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "thanks\n");
}

#[test]
fn a_retry_while_the_body_is_held_sends_it_once() {
    let (socket, _agent, healthy) = agent_and_origin("retry");
    let refusing = Origin::start("refusing", Behavior::Refuse(503));
    let policy = format!(
        "agent waf {{\n    socket \"{}\"\n    timeout 2s\n    body 16KiB\n}}\n\nupstream pool {{\n    server \"{}\"\n    server \"{}\"\n    retry 1 on status 503\n}}\n\nroute a {{\n    proxy pool\n    agents waf\n}}\n",
        socket.display(),
        refusing.addr(),
        healthy.addr()
    );
    let proxy = Proxy::start_with(&policy, &["--threads", "1"]);
    let body: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    // Round robin starts on the refusing server. The first 8 KB arrive,
    // are held (the agent wants 16 KiB), the refusal comes, and the retry
    // replays what was read so far.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..8_000]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream.write_all(&body[8_000..]).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let r = parse_response(&raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        refusing.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the retry path was taken"
    );
    let received = healthy.bodies.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(
        received == body,
        "the body arrived changed: {} bytes of {}",
        received.len(),
        body.len()
    );
}
