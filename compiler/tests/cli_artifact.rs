//! `zenc build`, `explain`, `test` and `inspect` end to end.

mod support;

use std::path::Path;

use std::process::Command;

use support::{scratch, stderr, stdout, write, zenc};

const FIXTURE: &str = "tests/fixtures/golden.zen";

fn explain_json(file: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["explain", "--json", file];
    all.extend_from_slice(args);
    let out = zenc(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("one JSON object")
}

#[test]
fn build_writes_beside_the_source_by_default_and_prints_a_summary() {
    let dir = scratch("build");
    let source = dir.join("site.zen");
    std::fs::copy(FIXTURE, &source).unwrap();
    let out = zenc(&["build", source.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let artifact = dir.join("site.zbin");
    assert!(artifact.exists());
    let summary = stdout(&out);
    assert!(
        summary.starts_with(&format!("built {}: 4 routes (5 alternatives)", artifact.display())),
        "{summary}"
    );
    assert!(summary.contains("host automaton") && summary.contains("path automaton") && summary.contains(" ms"));
    assert!(!dir.join("site.zbin.tmp").exists(), "no temporary file is left behind");
    // -o elsewhere
    let other = dir.join("out.zbin");
    let out = zenc(&["build", source.to_str().unwrap(), "-o", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read(&other).unwrap(), std::fs::read(&artifact).unwrap());
}

#[test]
fn build_refuses_a_bad_policy_and_writes_nothing() {
    let dir = scratch("bad");
    let source = dir.join("bad.zen");
    std::fs::write(&source, "listen \"127.0.0.1:8080\"\nroute a {\n    proxy nowhere\n}\n").unwrap();
    let out = zenc(&["build", source.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown upstream `nowhere`"));
    assert!(!dir.join("bad.zbin").exists());
    let out = zenc(&["build", "/nonexistent/x.zen"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_json_has_the_contract_fields() {
    let v = explain_json(FIXTURE, &["GET", "http://api.example.com/v1/users"]);
    assert_eq!(v["route"], "api");
    assert_eq!(v["action"], "proxy");
    assert_eq!(v["upstream"], "api");
    assert!(v["status"].is_null());
    assert!(v["location"].is_null());
    let candidates = v["candidates"].as_array().unwrap();
    assert_eq!(candidates[0]["route"], "api");
    assert_eq!(candidates[0]["key"], serde_json::json!([0, 3, 0, 2, 3, 1]));
    assert_eq!(candidates.last().unwrap()["route"], "home");
}

#[test]
fn explain_json_shows_the_whole_decision() {
    let dir = scratch("explain-decision");
    let source = dir.join("d.zen");
    std::fs::write(
        &source,
        r#"listen "127.0.0.1:8080"
limits {
    max_body_size 1MiB
}
upstream api {
    server "127.0.0.1:9001"
}
agent waf {
    socket "/tmp/waf.sock"
    timeout 50ms
}
route api {
    path prefix "/api"
    proxy api
    rewrite prefix "/api" "/v2"
    agents waf
    rate_limit 10/s by header "x-key"
    request_headers { set "x-from" "zen"; remove "cookie" }
    response_headers { add "x-served" "1" }
    limits {
        max_header_count 20
    }
}
route ok {
    path "/ok"
    respond 200
}
"#,
    )
    .unwrap();
    let file = source.to_str().unwrap();
    let v = explain_json(file, &["GET", "http://example.com/api/a/../b?q=1", "-H", "x-key: k1"]);
    assert_eq!(v["route"], "api");
    assert_eq!(v["upstream_path"], "/v2/b?q=1");
    assert_eq!(v["path"], "/api/b");
    assert_eq!(v["limits"]["max_header_count"], 20);
    assert_eq!(v["limits"]["max_body_size"], 1024 * 1024);
    assert!(v["limits"]["idle_timeout_ms"].is_null());
    assert_eq!(v["rate_limit_key"], "header `x-key` = `k1`");
    assert_eq!(v["agents"], serde_json::json!(["waf"]));
    assert_eq!(
        v["request_headers"],
        serde_json::json!([{"op": "set", "name": "x-from", "value": "zen"}, {"op": "remove", "name": "cookie"}])
    );
    assert_eq!(
        v["response_headers"],
        serde_json::json!([{"op": "add", "name": "x-served", "value": "1"}])
    );
    let v = explain_json(file, &["GET", "http://example.com/ok"]);
    assert!(v["upstream_path"].is_null());
    assert!(v["rate_limit_key"].is_null());
    assert_eq!(v["agents"], serde_json::json!([]));
    // A declared body over the route's limit is refused like the runtime does.
    let v = explain_json(
        file,
        &["POST", "http://example.com/api/x", "-H", "content-length: 2000000"],
    );
    assert_eq!(v["route"], "api");
    assert_eq!(v["status"], 413);
    assert!(v["upstream_path"].is_null());
    // An absolute-form target is routed on its own host; a Host naming
    // another authority is refused.
    let absolute = |host: &str| {
        let host = format!("host: {host}");
        explain_json(file, &["--absolute-form", "GET", "http://example.com/ok", "-H", &host])
    };
    assert_eq!(absolute("example.com:80")["route"], "ok");
    let v = absolute("other.example");
    assert!(v["route"].is_null());
    assert_eq!(v["status"], 400);
    assert_eq!(v["error"], "`Host` names another authority than the request target");
}

#[test]
fn explain_renders_redirects_with_captures() {
    let v = explain_json(
        FIXTURE,
        &["GET", "http://Ann.Users.Example.com:8443/u/7", "-H", "x-tenant: t1"],
    );
    assert_eq!(v["route"], "users");
    assert_eq!(v["status"], 302);
    assert_eq!(v["location"], "https://ann.users.example.com/users/7");
}

#[test]
fn explain_answers_404_and_400_like_the_runtime() {
    let dir = scratch("explain");
    let source = dir.join("p.zen");
    std::fs::write(
        &source,
        "listen \"127.0.0.1:8080\"\nroute a {\n    path \"/a\"\n    respond 200\n}\n",
    )
    .unwrap();
    let file = source.to_str().unwrap();
    let v = explain_json(file, &["GET", "http://x/b"]);
    assert!(v["route"].is_null());
    assert_eq!(v["status"], 404);
    let v = explain_json(file, &["GET", "http://x/a%2Fb"]);
    assert_eq!(v["status"], 400);
    assert!(v["error"].as_str().unwrap().contains("%2F"));
    // Normalization happens before matching.
    let v = explain_json(file, &["GET", "http://x/b/../a"]);
    assert_eq!(v["route"], "a");
    assert_eq!(v["path"], "/a");
}

#[test]
fn explain_reads_zbin_files_too() {
    let dir = scratch("explain-zbin");
    let artifact = dir.join("g.zbin");
    assert_eq!(
        zenc(&["build", FIXTURE, "-o", artifact.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let from_zbin = explain_json(artifact.to_str().unwrap(), &["GET", "http://example.com/search?q=x"]);
    let from_zen = explain_json(FIXTURE, &["GET", "http://example.com/search?q=x"]);
    assert_eq!(from_zbin, from_zen);
    assert_eq!(from_zbin["route"], "search");
    // A damaged artifact is refused with the reason.
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&artifact, bytes).unwrap();
    let out = zenc(&["explain", artifact.to_str().unwrap(), "GET", "http://example.com/"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
}

#[test]
fn explain_text_output() {
    for (name, args) in [
        ("api", vec!["GET", "http://api.example.com/v1/users"]),
        (
            "users-redirect",
            vec!["GET", "http://bob.users.example.com/u/12", "-H", "x-tenant: t9"],
        ),
        (
            "no-header-falls-through",
            vec!["GET", "http://bob.users.example.com/u/12"],
        ),
        ("refused-path", vec!["GET", "http://example.com/a%00b"]),
    ] {
        let mut all = vec!["explain", FIXTURE];
        all.extend(args);
        let out = zenc(&all);
        assert_eq!(out.status.code(), Some(0));
        insta::with_settings!({snapshot_path => "../../snapshots/explain", prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, stdout(&out));
        });
    }
}

#[test]
fn test_command_passes_fails_and_measures_coverage() {
    let out = zenc(&["test", "../examples/quickstart.zen"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("12 passed, 0 failed"));
    assert!(stdout(&out).contains("every route is reached"));

    let dir = scratch("test");
    let source = dir.join("t.zen");
    std::fs::write(
        &source,
        r#"listen "127.0.0.1:8080"

route a {
    path "/a"
    respond 200
}

route b {
    path "/b"
    redirect 301 "/new{path}"
}

test "a is a" {
    request GET "http://x/a"
    expect route a
}

test "b redirects" {
    request GET "http://x/b"
    expect status 301 location "/old/b"
}
"#,
    )
    .unwrap();
    let out = zenc(&["test", source.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("test a is a ... ok"), "{text}");
    assert!(text.contains("test b redirects ... FAILED"), "{text}");
    assert!(text.contains("expected location `/old/b`, got `/new/b`"), "{text}");
    assert!(text.contains("1 passed, 1 failed"), "{text}");

    std::fs::write(
        &source,
        "listen \"127.0.0.1:8080\"\nroute a {\n    path \"/a\"\n    respond 200\n}\n\nroute b {\n    path \"/b\"\n    respond 200\n}\n\ntest \"a\" {\n    request GET \"http://x/a\"\n    expect status 200\n}\n",
    )
    .unwrap();
    let out = zenc(&["test", source.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("coverage: 1 of 2 routes (50%); no test reaches `b`"),
        "{}",
        stdout(&out)
    );
    let out = zenc(&["test", source.to_str().unwrap(), "--min-coverage", "80"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("coverage 50% is below the minimum of 80%"));
    let out = zenc(&["test", source.to_str().unwrap(), "--min-coverage", "50"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn inspect_describes_and_refuses() {
    let out = zenc(&["inspect", "../snapshots/artifacts/golden.zbin"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "zentinel artifact, verified",
        &format!("format version   {}", zbin::format::FORMAT_VERSION),
        "source digest    sha256 ",
        "golden.zen",
        "metadata",
        "host automaton",
        "path automaton",
        "value automata",
        "4 routes, 5 alternatives",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let out = zenc(&["inspect", "../snapshots/artifacts/format-version-1.zbin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("format version 1"), "{}", stderr(&out));
    let out = zenc(&["inspect", FIXTURE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a zentinel artifact"));
    let out = zenc(&["inspect", "/nonexistent.zbin"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = Path::new(FIXTURE);
}

#[test]
fn where_a_build_runs_does_not_change_the_bytes() {
    // The policy imports a file from beside its own directory and names a
    // static root there: every path in the artifact is stored relative.
    let dir = scratch("reproducible");
    std::fs::create_dir_all(dir.join("site")).unwrap();
    std::fs::create_dir_all(dir.join("shared/public")).unwrap();
    write(
        &dir.join("shared"),
        "routes.zen",
        "route files {\n    path prefix \"/files/\"\n    static \"./public\"\n}\n",
    );
    write(
        &dir.join("site"),
        "site.zen",
        "import \"../shared/routes.zen\"\n\nlisten \"127.0.0.1:8080\"\n",
    );
    let build_in = |cwd: &Path, source: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_zenc"))
            .args(["build", source])
            .current_dir(cwd)
            .output()
            .expect("zenc runs");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(dir.join("site/site.zbin")).expect("artifact written")
    };
    let from_above = build_in(&dir, "site/site.zen");
    let from_beside = build_in(&dir.join("site"), "site.zen");
    let from_elsewhere = build_in(&dir.join("shared"), "../site/site.zen");
    assert!(
        from_above == from_beside,
        "building from another directory changed the artifact"
    );
    assert!(
        from_above == from_elsewhere,
        "building from another directory changed the artifact"
    );
    let inspected = zenc(&["inspect", dir.join("site/site.zbin").to_str().unwrap()]);
    assert!(
        stdout(&inspected).contains("../shared/routes.zen"),
        "{}",
        stdout(&inspected)
    );
}
