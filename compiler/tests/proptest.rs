//! Properties over generated input: the parser and the checker never
//! panic, and `fmt` is idempotent and preserves the AST and the comments
//! of generated valid policies laid out in random ways.
//!
//! More cases: `PROPTEST_CASES=5000 cargo test -p zenc --test proptest`.

mod support;

use proptest::prelude::*;
use support::{ast_without_spans, comments, format};

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_-]{0,6}"
}

/// A string literal: plain with escapes, or raw.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~éü\\n\\t]{0,10}".prop_map(|v| zenc::fmt::quote(&zenc::ast::Str {
            value: v,
            raw: false,
            span: zenc::source::Span::new(zenc::source::FileId(0), 0, 0),
        })),
        "[a-z0-9/().*+?\\\\-]{0,10}".prop_map(|v| format!("r\"{v}\"")),
    ]
}

fn number() -> impl Strategy<Value = String> {
    (
        0u32..100_000,
        prop::sample::select(vec!["", "ms", "s", "m", "h", "B", "KiB", "MiB", "%", "/s", "/m"]),
    )
        .prop_map(|(n, unit)| format!("{n}{unit}"))
}

fn method() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "get", "PURGE"]).prop_map(str::to_string)
}

fn route_stmt() -> BoxedStrategy<String> {
    prop_oneof![
        number().prop_map(|n| format!("priority {n}")),
        prop::collection::vec(string(), 1..3).prop_map(|h| format!("host {}", h.join(" "))),
        string().prop_map(|s| format!("host regex {s}")),
        string().prop_map(|s| format!("path {s}")),
        string().prop_map(|s| format!("path prefix {s}")),
        string().prop_map(|s| format!("path regex {s}")),
        prop::collection::vec(method(), 1..3).prop_map(|m| format!("method {}", m.join(" "))),
        (string(), prop::option::of(string())).prop_map(|(k, v)| format!("header {k} {}", v.unwrap_or_default())),
        (string(), string()).prop_map(|(k, v)| format!("header {k} regex {v}")),
        (string(), prop::option::of(string())).prop_map(|(k, v)| format!("query {k} {}", v.unwrap_or_default())),
        name().prop_map(|n| format!("proxy {n}")),
        prop::collection::vec((name(), number()), 1..3).prop_map(|t| format!(
            "proxy {}",
            t.iter().map(|(n, p)| format!("{n} {p}")).collect::<Vec<_>>().join(" ")
        )),
        (string(), prop::option::of(string())).prop_map(|(d, i)| match i {
            Some(i) => format!("static {d} index {i} fallback {i}"),
            None => format!("static {d}"),
        }),
        (number(), string()).prop_map(|(n, s)| format!("redirect {n} {s}")),
        (number(), prop::option::of(string()), prop::option::of(string())).prop_map(|(n, b, c)| {
            let mut s = format!("respond {n}");
            if let Some(b) = b {
                s.push_str(&format!(" {b}"));
            }
            if let Some(c) = c {
                s.push_str(&format!(" content_type {c}"));
            }
            s
        }),
        modifier(),
    ]
    .boxed()
}

fn modifier() -> BoxedStrategy<String> {
    prop_oneof![
        (string(), string()).prop_map(|(a, b)| format!("rewrite prefix {a} {b}")),
        string().prop_map(|s| format!("rewrite {s}")),
        prop::collection::vec(header_edit(), 0..3).prop_map(|e| format!("request_headers {{ {} }}", e.join("; "))),
        prop::collection::vec(header_edit(), 0..3).prop_map(|e| format!("response_headers {{\n{}\n}}", e.join("\n"))),
        prop::collection::vec(name(), 1..3).prop_map(|n| format!("agents {}", n.join(" "))),
        (number(), prop::option::of(number()), prop::option::of(string())).prop_map(|(r, b, h)| format!(
            "rate_limit {r}{}{}",
            b.map(|b| format!(" burst {b}")).unwrap_or_default(),
            h.map(|h| format!(" by header {h}")).unwrap_or_default()
        )),
        number().prop_map(|n| format!("timeout {n}")),
        (number(), number()).prop_map(|(a, b)| format!("limits {{ max_header_count {a}; max_body_size {b} }}")),
        prop::collection::vec(name(), 1..3).prop_map(|n| format!("use {}", n.join(" "))),
    ]
    .boxed()
}

fn header_edit() -> impl Strategy<Value = String> {
    prop_oneof![
        (string(), string()).prop_map(|(k, v)| format!("set {k} {v}")),
        (string(), string()).prop_map(|(k, v)| format!("add {k} {v}")),
        string().prop_map(|k| format!("remove {k}")),
    ]
}

fn upstream_stmt() -> BoxedStrategy<String> {
    prop_oneof![
        (string(), prop::option::of(number()), any::<bool>()).prop_map(|(a, w, b)| format!(
            "server {a}{}{}",
            w.map(|w| format!(" weight {w}")).unwrap_or_default(),
            if b { " backup" } else { "" }
        )),
        prop::sample::select(vec![
            "round_robin",
            "least_conn",
            "random",
            "p2c",
            "ketama by client_ip"
        ])
        .prop_map(|b| format!("balance {b}")),
        string().prop_map(|h| format!("balance ketama by header {h}")),
        (method(), string(), number(), number())
            .prop_map(|(m, p, i, t)| format!("health http {m} {p} expect 200 interval {i} timeout {t}")),
        (number(), number()).prop_map(|(i, t)| format!("health tcp interval {i} timeout {t} rise 2 fall 3")),
        (number(), number(), number()).prop_map(|(f, w, e)| format!("passive failures {f} within {w} eject {e}")),
        (number(), number()).prop_map(|(c, r)| format!("timeout connect {c} read {r}")),
        number().prop_map(|n| format!("retry {n} on connect_error timeout status 502 503")),
        Just("retry_non_idempotent".to_string()),
        string().prop_map(|s| format!("tls sni {s} verify on")),
        number().prop_map(|n| format!("max_connections {n}")),
    ]
    .boxed()
}

/// A separator between statements: newlines, `;`, blank lines and comments.
fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just(";".to_string()),
        Just(" ; ".to_string()),
        Just("\n\n\n".to_string()),
        "[a-z ]{0,8}".prop_map(|c| format!(" // {c}\n")),
        "[a-z ]{0,8}".prop_map(|c| format!("\n/* {c} */\n")),
    ]
}

fn block(head: String, stmts: Vec<String>, seps: Vec<String>) -> String {
    let mut out = format!("{head} {{\n");
    for (stmt, sep) in stmts.iter().zip(seps.iter().cycle()) {
        out.push_str(stmt);
        out.push_str(if sep == ";" || sep == " ; " { "\n" } else { sep });
        out.push('\n');
    }
    out.push('}');
    out
}

fn item() -> BoxedStrategy<String> {
    prop_oneof![
        string().prop_map(|s| format!("import {s}")),
        string().prop_map(|s| format!("listen {s}")),
        (string(), string(), string()).prop_map(|(a, c, k)| format!("listen {a} tls {{ cert {c} key {k} }} http2")),
        string().prop_map(|s| format!("admin {s}")),
        (name(), prop::collection::vec(route_stmt(), 0..6), prop::collection::vec(separator(), 1..3))
            .prop_map(|(n, s, sep)| block(format!("route {n}"), s, sep)),
        (name(), prop::collection::vec(upstream_stmt(), 0..5), prop::collection::vec(separator(), 1..3))
            .prop_map(|(n, s, sep)| block(format!("upstream {n}"), s, sep)),
        (name(), prop::collection::vec(modifier(), 0..4), prop::collection::vec(separator(), 1..3))
            .prop_map(|(n, s, sep)| block(format!("policy {n}"), s, sep)),
        (name(), string(), number()).prop_map(|(n, s, t)| format!("agent {n} {{ socket {s}; timeout {t}; on_failure allow }}")),
        (string(), method(), string(), name()).prop_map(|(t, m, u, r)| format!(
            "test {t} {{\n request {m} {u} header \"x\" \"y\" from \"10.0.0.1\"\n expect route {r}\n expect server \"10.0.0.2:80\"\n expect status 200 location \"/\"\n}}"
        )),
    ]
    .boxed()
}

fn policy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(item(), 0..6),
        prop::collection::vec(separator(), 1..4),
    )
        .prop_map(|(items, seps)| {
            let mut out = String::new();
            for (item, sep) in items.iter().zip(seps.iter().cycle()) {
                out.push_str(item);
                // `;` may end an item, but a block comment needs a newline after it.
                out.push_str(sep);
                out.push('\n');
            }
            out
        })
}

proptest! {
    #[test]
    fn generated_policies_parse(text in policy()) {
        prop_assert!(zenc::syntax::parse(zenc::source::FileId(0), &text).is_ok(), "does not parse:\n{}", text);
    }

    #[test]
    fn fmt_is_idempotent(text in policy()) {
        let once = format(&text);
        let twice = format(&once);
        prop_assert_eq!(&once, &twice, "input:\n{}", text);
    }

    #[test]
    fn fmt_preserves_the_ast_and_comments(text in policy()) {
        let formatted = format(&text);
        prop_assert_eq!(ast_without_spans(&text), ast_without_spans(&formatted), "input:\n{}\nformatted:\n{}", text, formatted);
        prop_assert_eq!(comments(&text), comments(&formatted));
    }

    #[test]
    fn parser_and_checker_never_panic_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = zenc::syntax::parse(zenc::source::FileId(0), &text);
        let _ = zenc::check_source(std::path::Path::new("fuzz.zen"), &text);
    }

    #[test]
    fn parser_and_checker_never_panic_on_damaged_policies(
        text in policy(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, "\\PC{0,3}"), 1..4),
    ) {
        let mut damaged = text.clone();
        for (at, len, insert) in cuts {
            if damaged.is_empty() { break; }
            let mut start = at.index(damaged.len());
            while !damaged.is_char_boundary(start) { start -= 1; }
            let mut end = (start + len).min(damaged.len());
            while !damaged.is_char_boundary(end) { end += 1; }
            damaged.replace_range(start..end, &insert);
        }
        let _ = zenc::syntax::parse(zenc::source::FileId(0), &damaged);
        let _ = zenc::check_source(std::path::Path::new("fuzz.zen"), &damaged);
        if let Some(formatted) = zenc::fmt::format_source(&damaged) {
            prop_assert_eq!(zenc::fmt::format_source(&formatted), Some(formatted.clone()));
        }
    }
}
