//! Words for pest's rules, so that a parse error reads "expected a
//! duration such as `5s`" and never names a grammar rule.

use super::Rule;

/// How a rule is described to a user when the parser expected it.
fn words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        EOI => "end of file",
        sep => "a new line",
        lbrace => "`{`",
        rbrace => "`}`",
        name => "a name",
        method_name => "a method such as `GET`",
        string | raw_string | string_inner | raw_inner => "a string",
        integer => "a whole number such as `3`",
        duration => "a duration such as `5s`",
        size => "a size such as `16KiB`",
        rate => "a rate such as `100/s`",
        percent => "a percentage such as `10%`",
        item => "a top-level item (`route`, `upstream`, `listen`, `import`, ...)",
        route_stmt => "a route condition, action or modifier (`path`, `host`, `proxy`, `respond`, ...)",
        condition => "a condition (`host`, `path`, `method`, `header`, `query`)",
        action => "an action (`proxy`, `static`, `redirect`, `respond`)",
        modifier => "a modifier (`rewrite`, `request_headers`, `response_headers`, `agents`, `rate_limit`, `timeout`, `limits`, `use`)",
        upstream_stmt => "an upstream setting (`server`, `balance`, `health`, `timeout`, `retry`, ...)",
        agent_stmt => "an agent setting (`socket`, `timeout`, `on_failure`, `body`)",
        limit_stmt => "a limit (`max_header_count`, `max_header_size`, `max_body_size`, `request_timeout`, `idle_timeout`)",
        tls_stmt => "`cert`, `key` or `sni`",
        sni_stmt => "`cert` or `key`",
        header_edit => "a header edit (`set`, `add`, `remove`)",
        header_edits => "a block of header edits `{ ... }`",
        health_option => "a health check option (`expect`, `interval`, `timeout`, `rise`, `fall`)",
        timeout_phase => "a timeout phase (`connect`, `read`, `write`, `idle`)",
        retry_condition => "a retry condition (`connect_error`, `timeout`, `status`)",
        rate_option => "`burst` or `by`",
        rate_key => "`client_ip`, `header \"NAME\"` or `route`",
        static_option => "`index` or `fallback`",
        test_stmt => "`request` or `expect`",
        request_option => "`header` or `from`",
        split_target => "an upstream and its share such as `api 90%`",
        _ => return None,
    })
}

/// Joins the descriptions of the expected rules: "`a`, `b` or a string".
pub(super) fn describe(rules: &[Rule]) -> String {
    let mut phrases: Vec<String> = Vec::new();
    for &rule in rules {
        if rule == Rule::COMMENT {
            continue;
        }
        let phrase = match words(rule) {
            Some(words) => words.to_string(),
            None => keyword_of(rule).map_or_else(|| fallback(rule), |kw| format!("`{kw}`")),
        };
        if !phrases.contains(&phrase) {
            phrases.push(phrase);
        }
    }
    // "end of file" is noise next to anything more specific.
    if phrases.len() > 1 {
        phrases.retain(|p| p != "end of file");
    }
    match phrases.len() {
        0 => String::new(),
        1 => phrases.remove(0),
        _ => {
            let last = phrases.pop().unwrap_or_default();
            format!("{} or {last}", phrases.join(", "))
        }
    }
}

/// `kw_rate_limit` -> `rate_limit`.
fn keyword_of(rule: Rule) -> Option<String> {
    format!("{rule:?}").strip_prefix("kw_").map(str::to_string)
}

/// Rules without a phrase of their own are structural; name them by what
/// they are in words rather than by the rule's identifier.
fn fallback(rule: Rule) -> String {
    format!("{rule:?}").replace('_', " ")
}

/// The token at `offset`, for "found `...`": a word, a literal or one
/// character.
pub(super) fn found_at(text: &str, offset: usize) -> &str {
    let rest = &text[offset.min(text.len())..];
    if rest.starts_with("\r\n") {
        return &rest[..2];
    }
    let Some(first) = rest.chars().next() else {
        return "";
    };
    if first.is_ascii_alphanumeric() || first == '_' {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '%' || c == '/'))
            .unwrap_or(rest.len());
        &rest[..end]
    } else if first == '"' {
        // A string up to its closing quote, or up to the end of the line.
        let end = rest[1..]
            .find(['"', '\n'])
            .map(|i| i + 2)
            .unwrap_or(rest.len())
            .min(rest.len());
        let end = if rest[..end].ends_with('\n') { end - 1 } else { end };
        &rest[..end]
    } else {
        &rest[..first.len_utf8()]
    }
}

/// A hint for common slips that the expected set alone does not explain.
pub(super) fn help_for(text: &str, offset: usize, error: &pest::error::Error<Rule>) -> Option<String> {
    let rest = &text[offset.min(text.len())..];
    let positives = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
        _ => &[],
    };
    if rest.starts_with('"') && !rest[1..].split('\n').next().unwrap_or("").contains('"') {
        return Some("this string is not closed before the end of the line".to_string());
    }
    if rest.starts_with("/*") && !rest.contains("*/") {
        return Some("this block comment is never closed with `*/`".to_string());
    }
    let expects_number = positives.iter().any(|r| {
        matches!(
            r,
            Rule::duration | Rule::size | Rule::rate | Rule::percent | Rule::integer
        )
    });
    if expects_number && rest.starts_with('"') {
        let before = text[..offset.min(text.len())].trim_end();
        for (keyword, example) in [("respond", "respond 200 \"ok\""), ("redirect", "redirect 301 \"/new\"")] {
            if before.ends_with(keyword) {
                return Some(format!("the status comes first, such as `{example}`"));
            }
        }
        return Some("numbers and durations are written without quotes".to_string());
    }
    if positives.contains(&Rule::name) && rest.starts_with('"') {
        return Some("names are written without quotes".to_string());
    }
    if rest.trim().is_empty() && positives.contains(&Rule::rbrace) {
        return Some("a block opened with `{` is not closed with `}`".to_string());
    }
    if positives.contains(&Rule::sep) {
        return Some("each statement goes on its own line, or ends with `;`".to_string());
    }
    None
}
