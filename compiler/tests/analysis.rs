//! Route analysis: routes with equal keys that no request matches both
//! compile cleanly; precedence decides the rest; the witnesses shown in
//! errors really match both routes.

use std::path::Path;

fn compile(routes: &str) -> zenc::Compilation {
    let text = format!("listen \"127.0.0.1:8080\"\n{routes}");
    zenc::check_source(Path::new("analysis.zen"), &text)
}

fn codes(routes: &str) -> Vec<&'static str> {
    compile(routes).diagnostics.iter().map(|d| d.code.as_str()).collect()
}

fn route(name: &str, body: &str) -> String {
    format!("route {name} {{\n{body}\n    respond 200\n}}\n")
}

#[test]
fn disjoint_routes_with_equal_keys_compile_cleanly() {
    let cases = [
        // different methods
        (
            "    path prefix \"/v1\"\n    method GET HEAD",
            "    path prefix \"/v1\"\n    method POST",
        ),
        // disjoint regexes
        ("    path regex r\"/a/[0-9]+\"", "    path regex r\"/a/[a-z]+\""),
        // different header values
        (
            "    path \"/x\"\n    header \"x-v\" \"1\"",
            "    path \"/x\"\n    header \"x-v\" \"2\"",
        ),
        // a header value outside the other's regex
        (
            "    path \"/x\"\n    header \"x-v\" \"abc\"",
            "    path \"/x\"\n    header \"x-v\" regex r\"[0-9]+\"",
        ),
        // different exact hosts, same path
        (
            "    host \"a.com\"\n    path \"/\"",
            "    host \"b.com\"\n    path \"/\"",
        ),
        // wildcards of equal length, different suffixes
        ("    host \"*.aa.com\"", "    host \"*.bb.com\""),
        // different query values
        (
            "    path \"/s\"\n    query \"v\" \"1\"",
            "    path \"/s\"\n    query \"v\" \"2\"",
        ),
        // host regexes that never meet
        (
            "    host regex r\"[a-z]+\\.x\\.com\"",
            "    host regex r\"[0-9]+\\.x\\.com\"",
        ),
        // prefixes of equal length that differ
        ("    path prefix \"/ab\"", "    path prefix \"/cd\""),
    ];
    for (a, b) in cases {
        let routes = route("first", a) + &route("second", b);
        assert_eq!(codes(&routes), Vec::<&str>::new(), "{routes}");
    }
}

#[test]
fn precedence_resolves_what_keys_order() {
    let cases = [
        // exact path beats a prefix that covers it
        ("    path \"/a\"", "    path prefix \"/a\""),
        // a longer prefix beats a shorter one
        ("    path prefix \"/a/b\"", "    path prefix \"/a\""),
        // an exact host beats a wildcard
        ("    host \"x.a.com\"", "    host \"*.a.com\""),
        // more conditions beat fewer
        ("    path \"/x\"\n    method GET", "    path \"/x\""),
    ];
    for (a, b) in cases {
        let routes = route("specific", a) + &route("general", b);
        assert_eq!(codes(&routes), Vec::<&str>::new(), "{routes}");
    }
}

#[test]
fn equal_keys_that_overlap_are_ambiguous() {
    let cases = [
        ("    path prefix \"/v1\"", "    path prefix \"/v1\""),
        ("    path regex r\"/a/.*\"", "    path regex r\"/a/b[0-9]\""),
        ("    host \"*.a.com\" \"*.b.com\"", "    host \"*.b.com\""),
        ("", ""),
    ];
    for (a, b) in cases {
        let routes = route("first", a) + &route("second", b);
        assert_eq!(codes(&routes), vec!["Z0701"], "{routes}");
    }
}

#[test]
fn the_witness_of_an_ambiguity_matches_both_routes() {
    let routes = route(
        "first",
        "    host regex r\"[a-c]+\\.example\\.com\"\n    path regex r\"/p/[0-9]{2}\"",
    ) + &route(
        "second",
        "    host regex r\"b[a-z]*\\.example\\.com\"\n    path regex r\"/p/1[0-9]\"",
    );
    let compilation = compile(&routes);
    let diagnostic = compilation.diagnostics.first().expect("ambiguous");
    assert_eq!(diagnostic.code.as_str(), "Z0701");
    // "... both match `GET http://HOST/PATH`"
    let request = diagnostic.message.split('`').nth(5).expect("a request in backticks");
    let url = request.strip_prefix("GET ").expect("a method");
    let (_, authority, path, _) = zenc::explain::parse_url(url).expect("a URL");
    let first = regex_automata::meta::Regex::new(r"^[a-c]+\.example\.com$").unwrap();
    let second = regex_automata::meta::Regex::new(r"^b[a-z]*\.example\.com$").unwrap();
    assert!(first.is_match(&authority) && second.is_match(&authority), "{authority}");
    assert!(path.starts_with("/p/1") && path.len() == 5, "{path}");
}

#[test]
fn shadowed_routes_are_unreachable_and_partial_shadows_are_not() {
    let shadowed = route("wide", "    path prefix \"/docs\"") + &route("narrow", "    path regex r\"/docs/[a-z]+\"");
    assert_eq!(codes(&shadowed), vec!["Z0702"]);
    // A regex that reaches outside the prefix is only partly shadowed.
    let partial =
        route("wide", "    path prefix \"/docs\"") + &route("narrow", "    path regex r\"/(docs|api)/[a-z]+\"");
    assert_eq!(codes(&partial), Vec::<&str>::new());
    // One host alternative shadowed, the other free: reachable.
    let split =
        route("wide", "    host \"*.a.com\"\n    priority 1") + &route("narrow", "    host \"x.a.com\" \"b.com\"");
    assert_eq!(codes(&split), Vec::<&str>::new());
    // Every alternative shadowed: unreachable.
    let both = route("wide", "    host \"*.a.com\" \"*.b.com\"\n    priority 1")
        + &route("narrow", "    host \"x.a.com\" \"y.b.com\"");
    assert_eq!(codes(&both), vec!["Z0702"]);
}

#[test]
fn only_requests_that_can_exist_count() {
    // They share only the empty path, and no request has it.
    let empty_only =
        route("letters", "    path regex r\"(/[a-z]+)*\"") + &route("digits", "    path regex r\"(/[0-9]+)*\"");
    assert_eq!(codes(&empty_only), Vec::<&str>::new());
    // `/` covers every path a request can have, so `.*` never wins.
    let covered = route("root", "    path prefix \"/\"") + &route("anything", "    path regex r\".*\"");
    assert_eq!(codes(&covered), vec!["Z0702"]);
    // Normalized paths never hold `//` nor a lower-case escape: the only
    // path both could share is impossible.
    let impossible =
        route("double", "    path regex r\"/a/?/b\"") + &route("escaped", "    path regex r\"/a(//|%2f)b\"");
    assert_eq!(codes(&impossible), vec!["Z0702"], "`escaped` matches no request at all");
}

#[test]
fn a_regex_no_request_matches_makes_its_route_unreachable() {
    for (condition, says) in [
        ("    path regex r\"[a-z]+\"", "no request path matches `[a-z]+`"),
        ("    path regex r\"/a/\\.\\./b\"", "no request path matches"),
        ("    host regex r\"[A-Z]+\\.example\\.com\"", "no request host matches"),
    ] {
        let compilation = compile(&route("dead", condition));
        let messages: Vec<(&str, &str)> = compilation
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0].0, "Z0702");
        assert!(messages[0].1.contains(says), "{messages:?}");
    }
    // The same host regex with `(?i)` is fine.
    assert_eq!(
        codes(&route("live", "    host regex r\"(?i)[A-Z]+\\.example\\.com\"")),
        Vec::<&str>::new()
    );
}

/// Compiles `text`, loads the artifact and runs its `test` blocks: the
/// whole path a policy takes, for regexes that are awkward to embed.
fn run_tests(text: &str) -> zenc::testing::TestReport {
    let compilation = zenc::check_source(Path::new("regex.zen"), text);
    assert!(
        !compilation.has_errors(),
        "{:?}",
        compilation.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    let bytes = zbin::AlignedBytes::new(&compilation.artifact().expect("artifact"));
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    zenc::testing::run(&program, &compilation.checked().cloned().expect("checked").tests)
}

#[test]
fn verbose_regexes_with_comments_compile_route_and_capture() {
    let report = run_tests(
        r##"listen "127.0.0.1:8080"
route docs {
    path regex r"(?x) /docs/ (?P<page>[a-z]+)  # the page, as a comment says"
    redirect 301 "/guide/{page}"
}
route hosts {
    host regex r"(?x) [a-z]+ \.example\.com  # any one label"
    respond 200
}
test "the capture of a verbose regex" {
    request GET "http://x.org/docs/intro"
    expect status 301 location "/guide/intro"
}
test "a verbose host regex" {
    request GET "http://www.example.com/"
    expect route hosts
}
test "a comment is not part of the pattern" {
    request GET "http://x.org/docs/intro#"
    expect status 301 location "/guide/intro"
}
"##,
    );
    let failures: Vec<_> = report.results.iter().filter(|r| !r.failures.is_empty()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.passed(), 3);
}

#[test]
fn a_route_without_an_action_claims_its_requests_and_answers_404() {
    let report = run_tests(
        r#"listen "127.0.0.1:8080"
route site {
    path prefix "/"
    respond 200 "site"
}
route no_dotfiles {
    priority 1
    path regex r"/(.*/)?\..*"
    response_headers { set "x-hidden" "1" }
}
test "a dotfile is not found, by the route that hides it" {
    request GET "http://example.com/app/.env"
    expect route no_dotfiles
    expect status 404
}
test "everything else is the site" {
    request GET "http://example.com/app/main.js"
    expect route site
    expect status 200
}
"#,
    );
    let failures: Vec<_> = report.results.iter().filter(|r| !r.failures.is_empty()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(report.unreached.is_empty());
}

#[test]
fn explain_lists_a_route_once_with_its_best_key() {
    let text =
        "listen \"127.0.0.1:8080\"\nroute site {\n    host \"a.example.com\" \"*.example.com\"\n    respond 200\n}\n";
    let compilation = zenc::check_source(Path::new("once.zen"), text);
    let bytes = zbin::AlignedBytes::new(&compilation.artifact().expect("artifact"));
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    let request = zenc::explain::RequestSpec {
        method: "GET".into(),
        scheme: "http".into(),
        authority: "a.example.com".into(),
        path: "/".into(),
        query: None,
        headers: Vec::new(),
        client_ip: None,
        absolute_form: false,
    };
    let outcome = zenc::explain::evaluate(&program, &request);
    assert_eq!(outcome.candidates.len(), 1, "{:?}", outcome.candidates);
    assert_eq!(outcome.candidates[0].key.host_class, zbin::table::Class::Exact);
}

#[test]
fn expect_server_follows_the_client_address_through_consistent_hashing() {
    let servers = ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"];
    let model: Vec<zbin::model::Server> = servers
        .iter()
        .map(|addr| zbin::model::Server {
            addr: addr.to_string(),
            weight: 1,
            backup: false,
        })
        .collect();
    let mut text = String::from(
        "listen \"127.0.0.1:8080\"\nupstream api {\n    server \"127.0.0.1:9001\"\n    server \"127.0.0.1:9002\"\n    server \"127.0.0.1:9003\"\n    balance ketama by client_ip\n}\nroute api {\n    proxy api\n}\n",
    );
    let mut seen = std::collections::HashSet::new();
    for i in 0..12 {
        let client = format!("198.51.100.{i}");
        let expected = &servers[zbin::balance::pick(&model, client.as_bytes(), |_| true).unwrap()];
        seen.insert(*expected);
        text.push_str(&format!(
            "test \"client {client}\" {{\n    request GET \"http://x.org/\" from \"{client}\"\n    expect server \"{expected}\"\n}}\n"
        ));
    }
    assert!(seen.len() > 1, "the clients should spread over the servers");
    let report = run_tests(&text);
    let failures: Vec<_> = report.results.iter().filter(|r| !r.failures.is_empty()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.passed(), 12);

    // Without `from`, the test says what is missing.
    let text = text.replace(" from \"198.51.100.0\"", "");
    let report = run_tests(&text);
    let failure = &report.results[0].failures[0];
    assert!(failure.contains("hashes the client address"), "{failure}");
}
