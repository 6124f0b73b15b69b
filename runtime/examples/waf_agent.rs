//! An example zentinel agent: a tiny WAF on a Unix socket.
//!
//! `cargo run -p zentinel-runtime --example waf_agent -- /run/zentinel/waf.sock`
//!
//! Rules, to show every kind of answer (see docs/agents.md):
//! - a request with an `x-attack` header, `..` in its query, or (for an
//!   agent declared with `body`) `DROP TABLE` in its body, is blocked with
//!   403;
//! - `/login-old` is redirected to `/login`;
//! - a request with `x-slow-agent` waits 2 s (to show timeouts);
//! - anything else is allowed, tagged `x-agent-checked: 1` upstream and
//!   `x-agent: waf` in the response.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use serde_json::{json, Value};

fn answer(request: &Value) -> Value {
    let has_header = |name: &str| {
        request["headers"]
            .as_array()
            .is_some_and(|headers| headers.iter().any(|h| h[0].as_str() == Some(name)))
    };
    if has_header("x-slow-agent") {
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    let body = request["body"].as_str().map(|b| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default()
    });
    let sqli = body.is_some_and(|b| String::from_utf8_lossy(&b).to_ascii_uppercase().contains("DROP TABLE"));
    if has_header("x-attack") || sqli || request["query"].as_str().is_some_and(|q| q.contains("..")) {
        return json!({
            "decision": "block",
            "status": 403,
            "body": "blocked by the example WAF\n",
            "headers": {"x-blocked-by": "waf"}
        });
    }
    if request["path"] == "/login-old" {
        return json!({"decision": "redirect", "status": 301, "location": "/login"});
    }
    let mut response_headers = json!({"x-agent": "waf"});
    if let Some(seen) = request["body"].as_str() {
        // How much of the body it saw, to show what `body` sends.
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(seen)
            .unwrap_or_default()
            .len();
        response_headers["x-agent-body-bytes"] = json!(bytes.to_string());
        response_headers["x-agent-body-complete"] = json!(request["body_complete"].to_string());
    }
    json!({
        "decision": "allow",
        "request_headers": {"set": {"x-agent-checked": "1"}},
        "response_headers": {"set": response_headers}
    })
}

fn serve(mut stream: UnixStream) -> std::io::Result<()> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let mut frame = vec![0u8; u32::from_be_bytes(length) as usize];
    stream.read_exact(&mut frame)?;
    let request: Value = serde_json::from_slice(&frame).unwrap_or(Value::Null);
    let reply = answer(&request).to_string().into_bytes();
    stream.write_all(&(reply.len() as u32).to_be_bytes())?;
    stream.write_all(&reply)
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/zentinel-waf.sock".to_string());
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap_or_else(|e| {
        eprintln!("cannot listen on {path}: {e}");
        std::process::exit(1);
    });
    eprintln!("waf agent listening on {path}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = serve(stream);
        });
    }
}
