//! The diagnostics corpus: every file in `tests/corpus/diagnostics` is a
//! bad policy whose first line says which codes it must produce
//! (`// expect: Z0101, Z0601`); a file whose error must be at its very
//! first byte says so on its last line instead. The codes are asserted exactly, and the
//! human rendering is snapshotted under `snapshots/diagnostics`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use zenc::diagnostic::Code;

const CORPUS: &str = "tests/corpus/diagnostics";

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("corpus directory exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "zen"))
        .collect();
    files.sort();
    files
}

/// The codes a corpus file says it expects.
fn expected_codes(path: &Path, text: &str) -> BTreeSet<String> {
    let header = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("// expect:"))
        .or_else(|| text.lines().last().and_then(|line| line.strip_prefix("// expect:")))
        .unwrap_or_else(|| panic!("{} must start (or end) with `// expect: Z....`", path.display()));
    header.split(',').map(|c| c.trim().to_string()).collect()
}

#[test]
fn corpus_produces_exactly_the_expected_codes() {
    let files = corpus_files();
    assert!(!files.is_empty(), "the corpus is empty");
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable corpus file");
        let expected = expected_codes(path, &text);
        let compilation = zenc::check_source(path, &text);
        let found: BTreeSet<String> = compilation
            .diagnostics
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect();
        if found != expected {
            failures.push(format!("{}: expected {expected:?}, found {found:?}", path.display()));
        }
        let rendered = zenc::render::human(&compilation.diagnostics, &compilation.program.sources, false, 100);
        let name = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
        insta::with_settings!({
            snapshot_path => "../../snapshots/diagnostics",
            prepend_module_to_snapshot => false,
            description => format!("zenc check {}", path.display()),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, rendered);
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_has_a_corpus_file() {
    let mut covered = BTreeSet::new();
    for path in corpus_files() {
        let text = std::fs::read_to_string(&path).expect("readable corpus file");
        covered.extend(expected_codes(&path, &text));
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(missing.is_empty(), "codes without a corpus file: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let docs = std::fs::read_to_string("../docs/diagnostics.md").expect("docs/diagnostics.md exists");
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !docs.contains(&format!("## {c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from docs/diagnostics.md: {missing:?}"
    );
}

#[test]
fn codes_are_unique() {
    let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes.len(), Code::ALL.len());
}
