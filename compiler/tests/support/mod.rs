//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The AST of `text` as JSON with every span removed, so that two layouts
/// of the same policy compare equal.
pub fn ast_without_spans(text: &str) -> Value {
    let (parsed, _) = zenc::syntax::parse(zenc::source::FileId(0), text).expect("parses");
    let mut value = serde_json::to_value(&parsed.file).expect("AST serializes");
    strip_spans(&mut value);
    value
}

fn strip_spans(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let is_span =
                map.len() == 3 && map.contains_key("file") && map.contains_key("start") && map.contains_key("end");
            if is_span {
                *value = Value::Null;
                return;
            }
            map.remove("span");
            map.values_mut().for_each(strip_spans);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_spans),
        _ => {}
    }
}

/// Every `.zen` file of the repository that should parse: examples,
/// stdlib and the formatting corpus.
pub fn repository_policies() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["../examples", "../examples/multi-file", "../stdlib", "tests/corpus/fmt"] {
        for entry in std::fs::read_dir(dir).expect("directory exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "zen") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Formats `text`, which must parse.
pub fn format(text: &str) -> String {
    zenc::fmt::format_source(text).expect("parses")
}

/// The comments of `text`, in order, as written.
pub fn comments(text: &str) -> Vec<String> {
    let (parsed, _) = zenc::syntax::parse(zenc::source::FileId(0), text).expect("parses");
    parsed.comments.into_iter().map(|c| c.text).collect()
}

/// Runs `zenc` with `args`, without colour.
pub fn zenc(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zenc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("zenc runs")
}

/// Runs `zenc` with `args` and `input` on its standard input.
pub fn zenc_with_input(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zenc"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("zenc runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writes stdin");
    child.wait_with_output().expect("zenc ends")
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` to `dir/name`; returns the path as a string.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

/// A fresh scratch directory unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zenc-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
