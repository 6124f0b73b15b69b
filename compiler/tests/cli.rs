//! `zenc` end to end: arguments in, exit code and output out.

mod support;

use std::process::Command;

use support::{scratch, stderr, stdout, write, zenc, zenc_with_input};

const CLEAN: &str = "listen \"127.0.0.1:8080\"\nroute a {\n    path \"/\"\n    respond 200 \"ok\"\n}\n";
const UNUSED: &str =
    "listen \"127.0.0.1:8080\"\nupstream spare {\n    server \"127.0.0.1:9000\"\n}\n\nroute a {\n    respond 200\n}\n";
const BROKEN: &str = "listen \"127.0.0.1:8080\"\nroute a {\n    path \"/\"\n    proxy nowhere\n    timeout 5\n}\n";

#[test]
fn check_clean_policy_exits_zero() {
    let dir = scratch("clean");
    let file = write(&dir, "site.zen", CLEAN);
    let out = zenc(&["check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("ok (1 route, 0 tests)"), "{}", stderr(&out));
}

#[test]
fn check_reports_every_error_and_exits_one() {
    let dir = scratch("broken");
    let file = write(&dir, "site.zen", BROKEN);
    let out = zenc(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Z0101") && err.contains("unknown upstream `nowhere`"),
        "{err}"
    );
    assert!(
        err.contains("Z0201") && err.contains("expected a duration, found the number `5`"),
        "{err}"
    );
    assert!(err.contains("2 errors, 0 warnings"), "{err}");
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = scratch("warn");
    let file = write(&dir, "site.zen", UNUSED);
    let out = zenc(&["check", &file]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("unused upstream `spare`"));
    let out = zenc(&["check", "--deny-warnings", &file]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn unreadable_file_exits_two() {
    let out = zenc(&["check", "/nonexistent/site.zen"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read `/nonexistent/site.zen`"));
}

#[test]
fn unreadable_file_wins_over_errors_in_others() {
    let dir = scratch("mixed");
    let broken = write(&dir, "broken.zen", BROKEN);
    let out = zenc(&["check", &broken, "/nonexistent/site.zen"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_format_has_the_contract_fields() {
    let dir = scratch("json");
    let file = write(&dir, "site.zen", BROKEN);
    let out = zenc(&["check", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["code"], "Z0101");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["message"], "unknown upstream `nowhere`");
    assert_eq!(first["file"], file.as_str());
    assert_eq!(first["line"], 4);
    assert_eq!(first["column"], 11);
    assert_eq!(first["end_line"], 4);
    assert_eq!(first["end_column"], 18);
    assert!(first["help"].is_null() || first["help"].is_string());
    assert_eq!(lines[1]["code"], "Z0201");
    assert_eq!(lines[1]["help"], "add a unit, such as `5s` or `5ms`");
}

#[test]
fn github_format_annotates() {
    let dir = scratch("github");
    let file = write(&dir, "site.zen", BROKEN);
    let out = zenc(&["check", "--format", "github", &file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let first = text.lines().next().expect("an annotation");
    assert!(
        first.starts_with(&format!(
            "::error file={file},line=4,col=11,endLine=4,endColumn=18,title=Z0101::"
        )),
        "{first}"
    );
}

#[test]
fn fmt_check_and_write() {
    let dir = scratch("fmt");
    let messy = write(
        &dir,
        "messy.zen",
        "listen \"127.0.0.1:8080\"; route a { respond 200 }\n",
    );
    let out = zenc(&["fmt", "--check", &messy]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not formatted"));
    let out = zenc(&["fmt", &messy]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "listen \"127.0.0.1:8080\"\n\nroute a {\n    respond 200\n}\n"
    );
    let out = zenc(&["fmt", "--check", &messy]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn fmt_reads_standard_input() {
    let messy = "listen \"127.0.0.1:8080\"; route a { respond 200 }\n";
    let tidy = "listen \"127.0.0.1:8080\"\n\nroute a {\n    respond 200\n}\n";
    let out = zenc_with_input(&["fmt", "-"], messy);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), tidy);
    let out = zenc_with_input(&["fmt", "--check", "-"], messy);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "", "--check prints no formatted text");
    assert!(stderr(&out).contains("standard input is not formatted"));
    let out = zenc_with_input(&["fmt", "--check", "-"], tidy);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn fmt_refuses_what_does_not_parse() {
    let dir = scratch("fmt-bad");
    let bad = write(&dir, "bad.zen", "route a {\n");
    let out = zenc(&["fmt", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Z0001"));
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "route a {\n",
        "a file that does not parse is left alone"
    );
}

#[test]
fn imports_resolve_relative_to_the_importer() {
    let dir = scratch("imports");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    write(
        &dir,
        "sub/pools.zen",
        "upstream api {\n    server \"127.0.0.1:9000\"\n}\n",
    );
    let main = write(
        &dir,
        "main.zen",
        "import \"./sub/pools.zen\"\nimport \"std/cors\"\nlisten \"127.0.0.1:8080\"\nroute a {\n    proxy api\n    use cors_permissive\n}\n",
    );
    // Run from another directory: imports follow the file, not the cwd.
    let out = Command::new(env!("CARGO_BIN_EXE_zenc"))
        .args(["check", &main])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn import_cycles_show_the_chain() {
    let dir = scratch("cycle");
    write(&dir, "a.zen", "import \"./b.zen\"\n");
    write(&dir, "b.zen", "import \"./a.zen\"\n");
    let main = write(&dir, "main.zen", "import \"./a.zen\"\nlisten \"127.0.0.1:8080\"\n");
    let out = zenc(&["check", "--format", "json", &main]);
    assert_eq!(out.status.code(), Some(1));
    let diagnostic: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().expect("one")).unwrap();
    assert_eq!(diagnostic["code"], "Z0005");
    let a = dir.join("a.zen").display().to_string();
    let b = dir.join("b.zen").display().to_string();
    assert_eq!(
        diagnostic["message"],
        format!("import cycle: `{a}` imports `{b}` imports `{a}`")
    );
}

#[test]
fn help_and_version() {
    let out = zenc(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("zenc "));
    let out = zenc(&["--help"]);
    assert!(stdout(&out).contains("check") && stdout(&out).contains("fmt"));
}
