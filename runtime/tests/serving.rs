//! What zentinel answers itself: respond, redirect, static files, 400 and
//! 404, the admin listener, the access log, and `zentinel check`.

mod support;

use support::*;

fn static_site(dir_name: &str) -> (std::path::PathBuf, String) {
    let root = std::env::temp_dir().join(format!("zentinel-static-{}-{dir_name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::write(root.join("app.js"), "console.log(1)\n").unwrap();
    std::fs::write(root.join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
    std::fs::write(root.join("big.txt"), "0123456789".repeat(10_000)).unwrap();
    // A secret beside the root, and a link that points at it.
    std::fs::write(root.with_extension("secret"), "secret\n").unwrap();
    let _ = std::os::unix::fs::symlink(root.with_extension("secret"), root.join("escape.txt"));
    let policy = format!(
        r#"
route assets {{
    path prefix "/assets/"
    static "{root}" index "index.html"
    response_headers {{ set "cache-control" "max-age=60" }}
}}

route app {{
    path prefix "/app"
    static "{root}" fallback "index.html"
}}

route hello {{
    path "/hello"
    respond 201 "hi there\n" content_type "text/plain"
    response_headers {{ set "x-hello" "1" }}
}}

route empty {{
    path "/empty"
    respond 204
}}

route moved {{
    path regex r"/old/(?P<slug>[a-z]+)"
    redirect 308 "https://{{host}}/new/{{slug}}?{{query}}"
}}
"#,
        root = root.display()
    );
    (root, policy)
}

#[test]
fn respond_and_redirect() {
    let (_root, policy) = static_site("respond");
    let proxy = Proxy::start(&policy);
    let r = proxy.get("/hello");
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "hi there\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-hello"), Some("1"));
    let r = send(proxy.port, "HEAD", "/hello", &[], b"");
    assert_eq!(r.status, 201);
    assert!(r.body.is_empty());
    let r = proxy.get("/empty");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = send(
        proxy.port,
        "GET",
        "/old/post?x=1",
        &[("host", "Blog.Example.com:8080")],
        b"",
    );
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location"), Some("https://blog.example.com/new/post?x=1"));
    // zentinel's own answers carry the request id, kept or generated.
    let r = send(proxy.port, "GET", "/hello", &[("x-request-id", "mine-1")], b"");
    assert_eq!(r.header("x-request-id"), Some("mine-1"));
    let r = proxy.get("/old/post");
    assert_eq!(r.header("x-request-id").map(str::len), Some(32));
    assert_eq!(
        proxy.get("/nowhere-else").header("x-request-id").map(str::len),
        Some(32)
    );
}

#[test]
fn static_files() {
    let (_root, policy) = static_site("files");
    let proxy = Proxy::start(&policy);
    let r = proxy.get("/assets/app.js");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "console.log(1)\n");
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    let etag = r.header("etag").expect("an etag").to_string();
    // Revalidation.
    let r = send(proxy.port, "GET", "/assets/app.js", &[("if-none-match", &etag)], b"");
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    // Index of a directory, and of the root.
    assert_eq!(proxy.get("/assets/docs/").text(), "<h1>docs</h1>\n");
    assert_eq!(proxy.get("/assets/").text(), "<h1>home</h1>\n");
    // Ranges.
    let r = send(proxy.port, "GET", "/assets/big.txt", &[("range", "bytes=10-14")], b"");
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "01234");
    assert_eq!(r.header("content-range"), Some("bytes 10-14/100000"));
    let r = send(proxy.port, "GET", "/assets/big.txt", &[("range", "bytes=200000-")], b"");
    assert_eq!(r.status, 416);
    // A large file arrives whole.
    assert_eq!(proxy.get("/assets/big.txt").body.len(), 100_000);
    // HEAD: headers, no body.
    let r = send(proxy.port, "HEAD", "/assets/big.txt", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100000"));
    assert!(r.body.is_empty());
    // Missing file; fallback; methods.
    assert_eq!(proxy.get("/assets/nope.js").status, 404);
    assert_eq!(proxy.get("/app/some/client/route").text(), "<h1>home</h1>\n");
    assert_eq!(send(proxy.port, "POST", "/assets/app.js", &[], b"x").status, 405);
}

/// RFC 9110 §13 through a running zentinel: each precondition, and a
/// resumed download of a file that changed in between.
#[test]
fn static_preconditions() {
    let (root, policy) = static_site("preconditions");
    let proxy = Proxy::start(&policy);
    let get = |headers: &[(&str, &str)]| send(proxy.port, "GET", "/assets/big.txt", headers, b"");
    let first = get(&[]);
    let etag = first.header("etag").expect("an etag").to_string();
    let modified = first.header("last-modified").expect("a date").to_string();
    let weak = format!("W/{etag}");
    assert_eq!(get(&[("if-none-match", &weak)]).status, 304, "weak comparison");
    assert_eq!(get(&[("if-modified-since", &modified)]).status, 304);
    assert_eq!(get(&[("if-match", &etag)]).status, 200);
    assert_eq!(get(&[("if-match", "\"other\"")]).status, 412);
    assert_eq!(get(&[("if-match", &weak)]).status, 412, "If-Match compares strongly");
    assert_eq!(
        get(&[("if-unmodified-since", "Thu, 01 Jan 1970 00:00:01 GMT")]).status,
        412
    );
    assert_eq!(get(&[("if-unmodified-since", &modified)]).status, 200);
    let resumed = get(&[("range", "bytes=10-14"), ("if-range", &etag)]);
    assert_eq!((resumed.status, resumed.text().as_str()), (206, "01234"));
    // The file changes: the old validator no longer holds, and the resumed
    // download gets the whole new file rather than a piece of it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(root.join("big.txt"), "abcdefghij".repeat(10_000)).unwrap();
    let stale = get(&[("range", "bytes=10-14"), ("if-range", &etag)]);
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body.len(), 100_000);
    assert!(stale.text().starts_with("abcdefghij"));
    let stale = get(&[("range", "bytes=10-14"), ("if-range", &modified)]);
    assert_eq!(stale.status, 200, "a date If-Range from before the change");
    assert_eq!(get(&[("if-none-match", &etag)]).status, 200);
    assert_eq!(get(&[("if-match", &etag)]).status, 412);
}

#[test]
fn static_never_leaves_its_root() {
    let (_root, policy) = static_site("escape");
    let proxy = Proxy::start(&policy);
    for target in [
        "/assets/../site.zen",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/assets/..%2f..%2fetc/passwd",
        // Double-encoded: `%252e` is a literal `%2e` in a name, never a dot.
        "/assets/%252e%252e/%252e%252e/etc/passwd",
        // A backslash is a byte of a name on Unix, not a separator.
        "/assets/..\\..\\etc\\passwd",
        "/assets/%5c..%5c..%5cetc%5cpasswd",
        // Overlong UTF-8 for `.` and `/` (`%c0%ae`, `%c0%af`): not UTF-8 at all.
        "/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/assets/..%c0%af..%c0%afetc/passwd",
        "/assets/escape.txt",
    ] {
        let r = proxy.get(target);
        assert!(
            !r.text().contains("secret") && !r.text().contains("root:"),
            "{target}: {}",
            r.text()
        );
        assert!(matches!(r.status, 400 | 404), "{target}: {}", r.status);
    }
}

#[test]
fn bad_paths_are_400_and_unrouted_are_404() {
    let proxy = Proxy::start("route only {\n    path \"/only\"\n    respond 200\n}\n");
    assert_eq!(proxy.get("/a%2Fb").status, 400);
    assert_eq!(proxy.get("/a%00b").status, 400);
    assert_eq!(proxy.get("/a%zz").status, 400);
    assert_eq!(proxy.get("/other").status, 404);
    assert_eq!(proxy.get("/x/../only").status, 200);
    assert_eq!(proxy.get("//only").status, 200);
}

#[test]
fn admin_listener_and_access_log() {
    let proxy = Proxy::start("route a {\n    path \"/a\"\n    respond 200 \"a\"\n}\n");
    assert_eq!(proxy.get("/a").status, 200);
    assert_eq!(proxy.get("/missing").status, 404);
    assert_eq!(get(proxy.admin, "/health").status, 200);
    assert_eq!(get(proxy.admin, "/ready").status, 200);
    let routes = get(proxy.admin, "/routes").json();
    assert_eq!(routes["routes"][0]["name"], "a");
    let digest = routes["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64);
    let metrics = proxy.metrics();
    assert!(
        metrics.contains("zentinel_requests_total{route=\"a\",status=\"2xx\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("zentinel_requests_total{route=\"\",status=\"4xx\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("zentinel_artifact_info{{digest=\"{digest}\"}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains("zentinel_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(eventually(std::time::Duration::from_secs(5), || proxy
        .access_log()
        .len()
        >= 2));
    let log = proxy.access_log();
    let line = &log[0];
    for field in [
        "time",
        "request_id",
        "client_ip",
        "method",
        "host",
        "path",
        "status",
        "bytes",
        "duration_ms",
        "route",
        "upstream",
        "upstream_addr",
        "attempts",
    ] {
        assert!(line.get(field).is_some(), "access log lacks {field}: {line}");
    }
    assert_eq!(line["route"], "a");
    assert_eq!(line["status"], 200);
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(log[1]["status"], 404);
}

#[test]
fn check_verifies_without_serving() {
    let dir = std::env::temp_dir().join(format!("zentinel-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    compile_to(
        &dir,
        "listen \"127.0.0.1:1\"\nroute a {\n    respond 200\n}\n",
        "good.zbin",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zentinel"))
        .args(["check", dir.join("good.zbin").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 1 routes"));
    let mut bytes = std::fs::read(dir.join("good.zbin")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(dir.join("bad.zbin"), bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zentinel"))
        .args(["check", dir.join("bad.zbin").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
}

#[test]
fn http2_without_tls_speaks_h2c() {
    use std::io::{Read, Write};
    for (http2, speaks) in [(" http2", true), ("", false)] {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("zentinel-h2c-{}-{}", std::process::id(), speaks));
        std::fs::create_dir_all(&dir).unwrap();
        compile_to(
            &dir,
            &format!("listen \"127.0.0.1:{port}\"{http2}\n\nroute a {{\n    respond 200\n}}\n"),
            "site.zbin",
        );
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zentinel"))
            .args(["run", "site.zbin", "--threads", "1"])
            .args(["--upgrade-sock", dir.join("u.sock").to_str().unwrap()])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(eventually(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }));
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // The HTTP/2 connection preface and an empty SETTINGS frame.
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .unwrap();
        let mut frame = [0u8; 9];
        let read = stream.read(&mut frame).unwrap_or(0);
        let got_settings = read >= 4 && frame[3] == 0x04;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            got_settings,
            speaks,
            "http2={http2:?}: first bytes {:?}",
            &frame[..read]
        );
    }
}

#[test]
fn the_access_log_can_be_turned_off() {
    let proxy = Proxy::start_with("route a {\n    respond 200\n}\n", &["--access-log", "off"]);
    for _ in 0..3 {
        assert_eq!(proxy.get("/").status, 200);
    }
    assert!(proxy
        .metrics()
        .contains("zentinel_requests_total{route=\"a\",status=\"2xx\"} 3"));
    assert!(!proxy.dir.join("access.log").exists());
}
