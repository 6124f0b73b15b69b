//! The quickstart, as `make run` serves it and the README tries it: the
//! policy in `examples/quickstart.zen` with its files, on free ports, and
//! every curl line of the README.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn the_quickstart_answers_every_readme_line() {
    let port = free_port();
    let admin = free_port();
    let dir = std::env::temp_dir().join(format!("zentinel-quickstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("public")).unwrap();
    let source = std::fs::read_to_string("../examples/quickstart.zen").unwrap();
    let policy = source
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:9901", &format!("127.0.0.1:{admin}"));
    for file in std::fs::read_dir("../examples/public").unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, dir.join("public").join(file.file_name().unwrap())).unwrap();
    }
    compile_to(&dir, &policy, "site.zbin");
    let proxy = Proxy::serve(dir.clone(), port, admin, &[], &[]);

    // A static file, with the relaxed security headers.
    let r = proxy.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(
        r.body,
        std::fs::read("../examples/public/index.html").unwrap(),
        "the index of ./public"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("etag").is_some());
    // Proxied to the quickstart's own backend route, rewritten on the way.
    let r = proxy.get("/api/hello");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "hello from the backend\n");
    // A redirect built from a regex capture.
    let r = proxy.get("/docs/intro");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/guide/intro"));
    // A direct response.
    let r = proxy.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok\n");
    // Metrics on the admin listener, counting what just happened.
    let metrics = get(admin, "/metrics").text();
    assert!(
        metrics.contains("zentinel_requests_total{route=\"api\",status=\"2xx\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("zentinel_artifact_info{digest="), "{metrics}");
    // Reload after `zenc build`, as the README says.
    std::fs::write(dir.join("site.zen"), policy.replace("ok\\n", "still ok\\n")).unwrap();
    let rebuilt = zenc::check_path(&dir.join("site.zen")).unwrap().artifact().unwrap();
    std::fs::write(dir.join("next.zbin"), rebuilt).unwrap();
    std::fs::rename(dir.join("next.zbin"), dir.join("site.zbin")).unwrap();
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy.get("/healthz").text() == "still ok\n"));
}
