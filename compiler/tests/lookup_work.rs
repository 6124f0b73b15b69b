//! How much a lookup does, counted rather than timed (BENCHMARKS.md: what
//! a test can check deterministically belongs in tests). The automata step
//! over each byte of host and path once; after them, a lookup visits a
//! few buckets and tests a few alternatives, however many routes there
//! are: at 10 or 10,000 generated routes, and when a thousand routes
//! share one path and differ only by a header, a query parameter or the
//! method.

use std::path::Path;

fn compile(text: &str) -> (zbin::AlignedBytes, zbin::model::Policy) {
    let compilation = zenc::check_source(Path::new("work.zen"), text);
    let messages: Vec<_> = compilation
        .diagnostics
        .iter()
        .take(3)
        .map(|d| d.message.clone())
        .collect();
    assert!(messages.is_empty(), "{messages:?}");
    let bytes = zbin::AlignedBytes::new(&compilation.artifact().expect("artifact"));
    (bytes, compilation.checked().cloned().expect("checked").policy)
}

/// The most buckets and alternatives one lookup of any route's own
/// request touches, over every route of a generated policy.
fn worst_case(routes: usize) -> (usize, usize) {
    let (bytes, policy) = compile(&zenc::synth::policy(routes, 1));
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    let headers = vec![("x-tenant".to_string(), "t3".to_string())];
    let step = (routes / 500).max(1);
    let mut worst = (0, 0);
    for route in policy.routes.iter().step_by(step) {
        let (host, path) = zenc::synth::request_for(route);
        let request = zbin::Request {
            method: "GET",
            host: &host,
            path: &path,
            query: None,
            headers: &headers,
        };
        let (_, trace) = program.lookup_traced(&request);
        assert_eq!(trace.bytes, host.len() + path.len(), "each byte is stepped once");
        worst = (worst.0.max(trace.buckets), worst.1.max(trace.tested));
    }
    worst
}

#[test]
fn lookup_work_does_not_grow_with_the_number_of_routes() {
    let small = worst_case(10);
    let large = worst_case(10_000);
    assert!(
        large.0 <= 8 && large.1 <= 8,
        "at 10,000 routes: {large:?} (buckets, alternatives)"
    );
    assert!(
        large.0 <= small.0 + 4 && large.1 <= small.1 + 4,
        "10 routes: {small:?}, 10,000: {large:?}"
    );
}

/// A thousand routes on one path that differ only by `condition(i)`, and
/// maybe one more with the same key, disjoint from them by `other`.
fn shared_path(condition: impl Fn(usize) -> String, other: Option<&str>) -> String {
    let mut text = String::from("listen \"127.0.0.1:8080\"\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "route r{i} {{\n    path prefix \"/api\"\n    {}\n    respond 200\n}}\n",
            condition(i)
        ));
    }
    if let Some(other) = other {
        text.push_str(&format!(
            "route other {{\n    path prefix \"/api\"\n    {other}\n    respond 200\n}}\n"
        ));
    }
    text
}

fn route_of(
    program: &zbin::Program<'_>,
    policy: &zbin::model::Policy,
    method: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
) -> (Option<String>, usize) {
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let request = zbin::Request {
        method,
        host: "example.com",
        path: "/api/items",
        query,
        headers: &headers,
    };
    let (found, trace) = program.lookup_traced(&request);
    (found.map(|m| policy.routes[m.route.index()].name.clone()), trace.tested)
}

#[test]
fn routes_told_apart_by_a_header_are_found_by_its_value() {
    let (bytes, policy) = compile(&shared_path(
        |i| format!("header \"x-tenant\" \"t{i}\""),
        Some("header \"x-tenant\" regex r\"admin-.*\""),
    ));
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    let (route, tested) = route_of(&program, &policy, "GET", None, &[("x-tenant", "t537")]);
    assert_eq!(route.as_deref(), Some("r537"));
    assert!(tested <= 2, "tested {tested} alternatives");
    // The route that wants no exact value is in the run's rest.
    let (route, tested) = route_of(&program, &policy, "GET", None, &[("x-tenant", "admin-1")]);
    assert_eq!(route.as_deref(), Some("other"));
    assert!(tested <= 2, "tested {tested} alternatives");
    // A value no route wants: nothing, still cheaply.
    let (route, tested) = route_of(&program, &policy, "GET", None, &[("x-tenant", "t5000")]);
    assert_eq!(route, None);
    assert!(tested <= 2, "tested {tested} alternatives");
    // A header sent twice is one value: it names no tenant.
    let (route, _) = route_of(
        &program,
        &policy,
        "GET",
        None,
        &[("x-tenant", "t1"), ("x-tenant", "t2")],
    );
    assert_eq!(route, None);
}

#[test]
fn routes_told_apart_by_a_query_parameter_or_the_method_are_found_too() {
    let (bytes, policy) = compile(&shared_path(|i| format!("query \"v\" \"{i}\""), None));
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    let (route, tested) = route_of(&program, &policy, "GET", Some("a=1&v=73&v=74"), &[]);
    assert_eq!(route.as_deref(), Some("r73"), "the first value counts");
    assert!(tested <= 2, "tested {tested} alternatives");
    let (route, _) = route_of(&program, &policy, "GET", Some("v=%37%33"), &[]);
    assert_eq!(route.as_deref(), Some("r73"), "values are compared decoded");

    let (bytes, policy) = compile(&shared_path(|i| format!("method M{i}"), None));
    let program = zbin::Program::from_bytes(bytes.as_bytes()).expect("loads");
    let (route, tested) = route_of(&program, &policy, "M999", None, &[]);
    assert_eq!(route.as_deref(), Some("r999"));
    assert!(tested <= 2, "tested {tested} alternatives");
}
