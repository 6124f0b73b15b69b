//! The properties the fuzzers check, one function each, so that
//! `cargo fuzz` (fuzz/fuzz_targets/) and the replay of every committed
//! crash (`compiler/tests/fuzz_regressions.rs`, run by `make test`) run the
//! same code. Each takes arbitrary bytes and panics when a property fails.

use std::sync::LazyLock;

use zbin::decide::{decide, Facts, HostHeader, Scheme, TargetForm, Version};
use zbin::model::{Template, TemplatePart, TemplateVar};
use zbin::normalize::normalize_path;

/// Loading and checking never panic.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crate::check_source(std::path::Path::new("fuzz.zen"), text);
}

/// Formatting what formats is idempotent, and keeps the program: the
/// formatted text checks to the same diagnostics codes and policy.
pub fn fmt_round_trip(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(formatted) = crate::fmt::format_source(text) else {
        return;
    };
    assert_eq!(
        crate::fmt::format_source(&formatted).as_deref(),
        Some(formatted.as_str())
    );
    let before = crate::check_source(std::path::Path::new("fuzz.zen"), text);
    let after = crate::check_source(std::path::Path::new("fuzz.zen"), &formatted);
    let codes = |c: &crate::Compilation| c.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>();
    assert_eq!(codes(&before), codes(&after), "formatting changed the diagnostics");
    assert_eq!(
        before.checked().map(|c| &c.policy),
        after.checked().map(|c| &c.policy),
        "formatting changed the policy"
    );
}

/// A policy with a route of every kind, compiled once: the base the
/// artifact and matcher targets vary.
static BASE: LazyLock<(Vec<u8>, zbin::model::Policy)> = LazyLock::new(|| {
    let source = include_str!("../tests/fixtures/golden.zen");
    let compilation = crate::check_source(std::path::Path::new("golden.zen"), source);
    let policy = compilation.checked().expect("the golden fixture checks").policy.clone();
    (compilation.artifact().expect("the golden fixture builds"), policy)
});

/// The base artifact loaded, and the reference matcher built, once:
/// building them for every input held the `matcher` target to about two
/// hundred inputs a second. Statics, so that they stay reachable (a leaked
/// box would be reported by LeakSanitizer when the fuzzer exits).
static ALIGNED: LazyLock<zbin::AlignedBytes> = LazyLock::new(|| zbin::AlignedBytes::new(&BASE.0));
static PROGRAM: LazyLock<zbin::Program<'static>> =
    LazyLock::new(|| zbin::Program::from_bytes(ALIGNED.as_bytes()).expect("the base artifact loads"));
static REFERENCE: LazyLock<crate::reference::ReferenceMatcher> =
    LazyLock::new(|| crate::reference::ReferenceMatcher::new(&BASE.1));

/// An artifact with a valid header and arbitrary section bytes (the input
/// is laid over the sections, and the checksum fixed, so that the loader
/// gets past it): loading never panics, and a program that loads answers
/// lookups and decisions without panicking.
pub fn artifact(data: &[u8]) {
    let mut bytes = BASE.0.clone();
    let start = zbin::format::FIXED_HEADER_LEN;
    if data.is_empty() || bytes.len() <= start {
        return;
    }
    // The first two bytes choose where the input goes; the rest is XORed in.
    let at = start + usize::from(u16::from_le_bytes([data[0], *data.get(1).unwrap_or(&0)])) % (bytes.len() - start);
    for (i, byte) in data.iter().skip(2).enumerate() {
        if let Some(target) = bytes.get_mut(at + i) {
            *target ^= byte;
        }
    }
    let sum = zbin::format::checksum(&bytes);
    bytes[24..32].copy_from_slice(&sum.to_le_bytes());
    let aligned = zbin::AlignedBytes::new(&bytes);
    let Ok(program) = zbin::Program::from_bytes(aligned.as_bytes()) else {
        return;
    };
    for (host, path) in [("api.example.com", "/v1/users"), ("a.b", "/"), ("", "/x/../y")] {
        let _ = decide(&program, &facts("GET", host, path, None, &Vec::new()));
    }
}

/// A request from arbitrary bytes: method, host, path, query and one
/// header, separated by 0xFF.
fn request_parts(data: &[u8]) -> Option<[String; 6]> {
    let mut parts = data
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Some([
        parts.next()?,
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_else(|| "/".into()),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    ])
}

fn facts<'r>(
    method: &'r str,
    host: &'r str,
    path: &'r str,
    query: Option<&'r str>,
    headers: &'r Vec<(String, String)>,
) -> Facts<'r> {
    Facts {
        method,
        version: Version::Http11,
        scheme: Scheme::Http,
        target_form: TargetForm::Origin,
        target_authority: None,
        host_header: HostHeader::Value(host),
        path,
        query,
        headers,
        client_ip: None,
        request_id: "fuzz",
    }
}

/// The compiled automaton, the reference matcher and the decision agree
/// on the route of any request.
pub fn matcher(data: &[u8]) {
    let Some([method, host, path, query, name, value]) = request_parts(data) else {
        return;
    };
    let headers = vec![(name.to_ascii_lowercase(), value)];
    let (program, reference) = (&*PROGRAM, &*REFERENCE);
    let query = (!query.is_empty()).then_some(query.as_str());
    let decision = decide(program, &facts(&method, &host, &path, query, &headers));
    let Some(normal_path) = decision.normalized_path(&path) else {
        return;
    };
    let normal_host = decision.host.get(&host);
    let request = zbin::Request {
        method: &method,
        host: normal_host,
        path: normal_path,
        query,
        headers: &headers,
    };
    let automaton = program.lookup(&request).map(|m| m.route);
    let reference = reference.lookup(&request).map(|(route, _)| route);
    assert_eq!(
        automaton, reference,
        "automaton and reference differ on {method} {normal_host} {normal_path}"
    );
    if decision.refusal().is_none() {
        assert_eq!(decision.route, automaton, "decision and matcher differ");
    }
}

/// Path normalization is idempotent and never leaves a `.` or `..`
/// segment, an encoded `/`, a NUL or an empty segment.
pub fn normalize(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(normal) = normalize_path(raw) else { return };
    assert_eq!(
        normalize_path(&normal).as_deref(),
        Ok(&*normal),
        "not idempotent: {raw:?}"
    );
    assert!(normal.starts_with('/'), "{normal:?}");
    let segments: Vec<&str> = normal.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        assert!(*segment != "." && *segment != "..", "{raw:?} -> {normal:?}");
        assert!(!segment.is_empty() || i == last, "empty segment: {raw:?} -> {normal:?}");
    }
    let upper = normal.to_ascii_uppercase();
    assert!(
        !upper.contains("%2F") && !upper.contains("%00") && !normal.contains('\0'),
        "{normal:?}"
    );
}

/// Rendering any template for any request never panics, writes every
/// literal, and leaves no `?` before an empty `{query}`.
pub fn template(data: &[u8]) {
    let Some([host, path, query, literal, capture, _]) = request_parts(data) else {
        return;
    };
    let mut parts = Vec::new();
    for (i, &byte) in data.iter().take(16).enumerate() {
        parts.push(match byte % 8 {
            0 => TemplatePart::Var(TemplateVar::Host),
            1 => TemplatePart::Var(TemplateVar::Path),
            2 => TemplatePart::Var(TemplateVar::Query),
            3 => TemplatePart::Var(TemplateVar::Scheme),
            4 => TemplatePart::Var(TemplateVar::RequestId),
            5 => TemplatePart::Var(TemplateVar::Capture(format!("c{}", i % 2))),
            6 => TemplatePart::Literal("?".into()),
            _ => TemplatePart::Literal(literal.clone()),
        });
    }
    let template = Template { parts };
    let captures = vec![("c0".to_string(), capture)];
    let query = (!query.is_empty()).then_some(query.as_str());
    let context = zbin::matcher::TemplateContext {
        host: &host,
        path: &path,
        query,
        scheme: "https",
        request_id: "id",
        captures: &captures,
    };
    let rendered = zbin::matcher::render(&template, &context);
    let literal_bytes: usize = template
        .parts
        .iter()
        .map(|p| match p {
            TemplatePart::Literal(text) => text.len(),
            TemplatePart::Var(_) => 0,
        })
        .sum();
    // Each empty `{query}` may take back one `?` before it.
    let queries = template
        .parts
        .iter()
        .filter(|p| matches!(p, TemplatePart::Var(TemplateVar::Query)))
        .count();
    assert!(rendered.len() + queries >= literal_bytes, "{rendered:?}");
}
