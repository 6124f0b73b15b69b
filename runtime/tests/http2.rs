//! HTTP/2 manners, judged by curl (nghttp2): an interim `100 Continue` is
//! relayed as over HTTP/1, and a large upload arrives whole.

mod support;

use std::process::Command;

use support::*;

/// A 10 MiB body of varied bytes, so that a lost or repeated window of it
/// shows.
fn upload_body() -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

#[test]
fn a_10_mib_upload_over_h2_with_expect_gets_100_and_arrives_whole() {
    let origin = Origin::start("store", Behavior::Echo);
    let port = free_port();
    let proxy = Proxy::start(&format!(
        "listen \"127.0.0.1:{port}\" http2\nupstream store {{\n    server \"{}\"\n}}\nroute up {{\n    proxy store\n}}\n",
        origin.addr()
    ));
    let body = upload_body();
    let file = std::env::temp_dir().join(format!("zentinel-h2-upload-{}", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    let output = Command::new("curl")
        .args(["-sS", "-v", "--http2-prior-knowledge", "--max-time", "60"])
        // Long enough that a missing 100 would show as a wait, never as
        // a pass: the verbose trace below must show the interim answer.
        .args(["--expect100-timeout", "20", "-H", "expect: 100-continue"])
        .args(["--data-binary", &format!("@{}", file.display())])
        .arg(format!("http://127.0.0.1:{port}/upload"))
        .output()
        .expect("curl runs");
    let _ = std::fs::remove_file(&file);
    let trace = String::from_utf8_lossy(&output.stderr);
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "curl failed: {trace}");
    assert!(trace.contains("< HTTP/2 100"), "no 100 Continue over HTTP/2:\n{trace}");
    assert!(trace.contains("< HTTP/2 200"), "{trace}");
    let echoed: serde_json::Value = serde_json::from_str(&answer).expect("the origin's echo");
    assert_eq!(echoed["body_bytes"], body.len());
    let received = origin.bodies.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(received == body, "the body arrived altered ({} bytes)", received.len());
    drop(proxy);
}
