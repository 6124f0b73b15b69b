//! `compress` through a running zentinel, judged by curl (which decodes
//! gzip, br and zstd): proxied answers and static files, each codec, and
//! the answers that must never be encoded.

mod support;

use std::process::Command;

use support::*;

/// curl's answer: the head (lowercase names) and the body as curl decoded it.
fn curl(url: &str, args: &[&str]) -> (String, Vec<u8>) {
    let head = std::env::temp_dir().join(format!(
        "zentinel-compress-head-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let output = Command::new("curl")
        .args(["-sS", "--compressed", "--max-time", "20", "-D"])
        .arg(&head)
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&head).unwrap_or_default();
    let _ = std::fs::remove_file(&head);
    (text, output.stdout)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A header's value, its name matched without case.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// A directory of files for one test (each its own: tests run at once).
fn site(name: &str) -> (std::path::PathBuf, String) {
    let root = std::env::temp_dir().join(format!("zentinel-compress-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("page.html"), "<p>hello, compressed world</p>\n".repeat(200)).unwrap();
    std::fs::write(root.join("tiny.html"), "<p>hi</p>\n").unwrap();
    std::fs::write(root.join("photo.png"), vec![7u8; 5000]).unwrap();
    let root = std::fs::canonicalize(root).unwrap();
    (root.clone(), root.display().to_string())
}

#[test]
fn each_codec_for_proxied_answers_and_static_files() {
    let origin = Origin::start("api", Behavior::Echo);
    let (_root, dir) = site("codecs");
    let proxy = Proxy::start(&format!(
        "upstream api {{\n    server \"{}\"\n}}\nroute api {{\n    path prefix \"/api/\"\n    proxy api\n    compress\n}}\nroute files {{\n    path prefix \"/files/\"\n    static \"{dir}\"\n    compress gzip zstd br\n}}\n",
        origin.addr()
    ));
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let page = "<p>hello, compressed world</p>\n".repeat(200);
    // A header that makes the origin's JSON echo longer than `min_size`.
    let padding = format!("x-padding: {}", "p".repeat(3000));
    for codec in ["gzip", "br", "zstd"] {
        let accept = format!("accept-encoding: {codec}");
        let (head, body) = curl(&format!("{base}/files/page.html"), &["-H", &accept]);
        assert_eq!(header(&head, "content-encoding"), Some(codec), "{head}");
        assert_eq!(header(&head, "vary"), Some("Accept-Encoding"), "{head}");
        assert!(header(&head, "etag").is_some_and(|t| t.starts_with("W/\"")), "{head}");
        assert!(header(&head, "content-length").is_none(), "{head}");
        assert_eq!(String::from_utf8_lossy(&body), page, "{codec}: static");
        let (head, body) = curl(&format!("{base}/api/x"), &["-H", &accept, "-H", &padding]);
        assert_eq!(header(&head, "content-encoding"), Some(codec), "{head}");
        let echoed: serde_json::Value = serde_json::from_slice(&body).expect("decoded JSON");
        assert_eq!(echoed["target"], "/api/x", "{codec}: proxied");
    }
    // q-values choose; a tie goes to br.
    let (head, _) = curl(
        &format!("{base}/files/page.html"),
        &["-H", "accept-encoding: gzip;q=1, br;q=0.5"],
    );
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    let (head, _) = curl(
        &format!("{base}/files/page.html"),
        &["-H", "accept-encoding: gzip, zstd, br"],
    );
    assert_eq!(header(&head, "content-encoding"), Some("br"));
}

#[test]
fn what_is_never_encoded() {
    let (_root, dir) = site("never");
    let proxy = Proxy::start(&format!(
        "route files {{\n    static \"{dir}\"\n    compress min_size 1KiB\n}}\nroute gzip_only {{\n    path prefix \"/gz/\"\n    static \"{dir}\"\n    compress gzip\n}}\n"
    ));
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let accept = "accept-encoding: gzip, br, zstd";
    // Only the codecs the route names are offered.
    let (head, _) = curl(&format!("{base}/gz/page.html"), &["-H", "accept-encoding: br"]);
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    let (head, _) = curl(
        &format!("{base}/gz/page.html"),
        &["-H", "accept-encoding: br, gzip;q=0.1"],
    );
    assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{head}");
    // Not accepted: sent as it is, still varying.
    let (head, _) = curl(&format!("{base}/page.html"), &["-H", "accept-encoding: identity"]);
    assert_eq!(header(&head, "content-encoding"), None);
    assert_eq!(header(&head, "vary"), Some("Accept-Encoding"));
    assert!(
        header(&head, "etag").is_some_and(|t| t.starts_with('"')),
        "the strong etag stays: {head}"
    );
    // Under min_size, a type not listed, a range, HEAD.
    let (head, _) = curl(&format!("{base}/tiny.html"), &["-H", accept]);
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    let (head, _) = curl(&format!("{base}/photo.png"), &["-H", accept]);
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    let (head, body) = curl(&format!("{base}/page.html"), &["-H", accept, "-H", "range: bytes=0-9"]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(body, b"<p>hello, ");
    let (head, _) = curl(&format!("{base}/page.html"), &["-I", "-H", accept]);
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    // The weak validator of an encoded answer revalidates it.
    let (head, _) = curl(&format!("{base}/page.html"), &["-H", accept]);
    let etag = header(&head, "etag").expect("an etag").to_string();
    let r = send(
        proxy.port,
        "GET",
        "/page.html",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
        b"",
    );
    assert_eq!(r.status, 304);
}

#[test]
fn precompressed_files_are_served_beside_their_originals() {
    let (root, dir) = site("precompressed");
    // The variants' bytes are what is sent: no coding is applied on the way.
    std::fs::write(root.join("page.html.br"), b"brotli bytes").unwrap();
    std::fs::write(root.join("page.html.gz"), b"gzip bytes").unwrap();
    let proxy = Proxy::start(&format!("route files {{\n    static \"{dir}\" precompressed\n}}\n"));
    let get = |accept: &str| send(proxy.port, "GET", "/page.html", &[("accept-encoding", accept)], b"");
    let r = get("gzip, br, zstd");
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.body, b"brotli bytes");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let r = get("zstd, gzip;q=0.5");
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "no .zst beside it: the next accepted"
    );
    assert_eq!(r.body, b"gzip bytes");
    let r = get("identity");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.text().starts_with("<p>hello"));
    let r = send(proxy.port, "GET", "/tiny.html", &[("accept-encoding", "br")], b"");
    assert_eq!(r.header("content-encoding"), None, "no variant: the file itself");
}
