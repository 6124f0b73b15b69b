//! Words for pest's rules, so that a parse error reads "expected a
//! duration such as `5s`" and never names a grammar rule.

use super::{keywords, Rule};

/// How a rule is described to a user when the parser expected it. Pest
/// mostly reports tokens and the places where a statement may come, but
/// every rule has words, so that no rule name can ever reach a user (a
/// test holds this for every rule of the grammar); the rest are grouped by
/// the item they belong to.
fn words(rule: Rule) -> Option<&'static str> {
    token_words(rule)
        .or_else(|| slot_words(rule))
        .or_else(|| item_words(rule))
        .or_else(|| upstream_words(rule))
        .or_else(|| route_words(rule))
        .or_else(|| test_words(rule))
}

/// Tokens and literals: punctuation, names, strings and numbers.
fn token_words(rule: Rule) -> Option<&'static str> {
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
        WHITESPACE => "a space",
        ident_char => "a letter, digit, `_` or `-`",
        str => "a string",
        num_lit => "a number",
        COMMENT => "a comment",
        _ => return None,
    })
}

/// The places where one of several statements or options may come: the
/// words list what may come there.
fn slot_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        item => "a top-level item (`route`, `upstream`, `listen`, `import`, ...)",
        route_stmt => "a route condition, action or modifier (`path`, `host`, `proxy`, `respond`, ...)",
        condition => "a condition (`host`, `path`, `method`, `header`, `query`)",
        action => "an action (`proxy`, `static`, `redirect`, `respond`)",
        modifier => "a modifier (`rewrite`, `request_headers`, `response_headers`, `agents`, `rate_limit`, `timeout`, `limits`, `use`, `compress`)",
        upstream_stmt => "an upstream setting (`server`, `balance`, `health`, `timeout`, `retry`, ...)",
        agent_stmt => "an agent setting (`socket`, `timeout`, `on_failure`, `body`)",
        limit_stmt => "a limit such as `max_body_size 1MiB` or `idle_timeout 60s`",
        tls_stmt => "`cert`, `key` or `sni`",
        sni_stmt => "`cert` or `key`",
        header_edit => "a header edit (`set`, `add`, `remove`)",
        header_edits => "a block of header edits `{ ... }`",
        health_option => "a health check option (`expect`, `interval`, `timeout`, `rise`, `fall`)",
        timeout_phase => "a timeout phase (`connect`, `read`, `write`, `idle`)",
        retry_condition => "a retry condition (`connect_error`, `timeout`, `status`)",
        rate_option => "`burst` or `by`",
        rate_key => "`client_ip`, `header \"NAME\"` or `route`",
        static_option => "`index`, `fallback` or `precompressed`",
        test_stmt => "`request` or `expect`",
        request_option => "`header` or `from`",
        split_target => "an upstream and its share such as `api 90%`",
        listen_option => "`tls { ... }` or `http2`",
        file => "a top-level item (`route`, `upstream`, `listen`, `import`, ...)",
        _ => return None,
    })
}

/// The small top-level items (`import`, `admin`, `listen`, `limits`,
/// `agent`, `policy`) and their parts.
fn item_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        import => "`import \"std/NAME\"` or `import \"./file.zen\"`",
        admin => "`admin \"ADDR:PORT\"`",
        listen => "`listen \"ADDR:PORT\"`",
        listen_tls => "a `tls { ... }` block",
        tls_cert => "`cert \"FILE\"`",
        tls_key => "`key \"FILE\"`",
        tls_sni => "an `sni \"HOST\" { ... }` block",
        limits => "a `limits { ... }` block",
        agent => "an agent `agent NAME { ... }`",
        policy => "a policy `policy NAME { ... }`",
        _ => return None,
    })
}

/// An upstream and its settings.
fn upstream_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        upstream => "an upstream `upstream NAME { ... }`",
        server => "`server \"HOST:PORT\"`",
        server_weight => "`weight N`",
        balance => "`balance` and a balancing mode",
        ketama => "`ketama by client_ip` or `ketama by header \"NAME\"`",
        header_key => "`header \"NAME\"`",
        health => "`health http ...` or `health tcp ...`",
        health_http => "`http METHOD \"PATH\"`",
        health_tcp => "`tcp`",
        passive => "`passive failures N within D eject D`",
        upstream_timeout => "`timeout` and its phases",
        retry => "`retry N on ...`",
        retry_status => "`status` and one or more statuses",
        upstream_tls => "`tls` and its options",
        tls_sni_name => "`sni \"NAME\"`",
        tls_verify => "`verify on` or `verify off`",
        max_connections => "`max_connections N`",
        _ => return None,
    })
}

/// A route: its conditions, actions and modifiers.
fn route_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        route => "a route `route NAME { ... }`",
        priority => "`priority N`",
        host_cond => "a `host` condition",
        path_cond => "a `path` condition",
        prefix_match => "`prefix \"/PATH\"`",
        regex_match => "`regex \"...\"`",
        method_cond => "a `method` condition",
        header_cond => "a `header` condition",
        query_cond => "a `query` condition",
        proxy => "`proxy UPSTREAM`",
        static_files => "`static \"DIR\"`",
        redirect => "`redirect STATUS \"LOCATION\"`",
        respond => "`respond STATUS`",
        content_type => "`content_type \"TYPE\"`",
        rewrite => "`rewrite`",
        request_headers => "`request_headers { ... }`",
        response_headers => "`response_headers { ... }`",
        agents => "`agents NAME ...`",
        rate_limit => "`rate_limit RATE`",
        route_timeout => "`timeout D`",
        use_policy => "`use POLICY`",
        compress => "`compress` and its options",
        compress_option => "`gzip`, `br`, `zstd`, `min_size SIZE` or `types \"TYPE\" ...`",
        _ => return None,
    })
}

/// A `test` block: its request and expectations.
fn test_words(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        test => "a test `test \"TITLE\" { ... }`",
        test_request => "`request METHOD \"URL\"`",
        test_expect => "`expect ...`",
        expect_route => "`route NAME`",
        expect_upstream => "`upstream NAME`",
        expect_server => "`server \"HOST:PORT\"`",
        expect_status => "`status N`",
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
fn keyword_of(rule: Rule) -> Option<&'static str> {
    keywords::spelling_of(rule)
}

/// Every rule has words (a test holds this); should one ever be added
/// without, the user still never sees its identifier.
fn fallback(_rule: Rule) -> String {
    "something else".to_string()
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
    if let Some(help) = misspelt_keyword(rest, positives) {
        return Some(help);
    }
    if positives.contains(&Rule::sep) {
        return Some("each statement goes on its own line, or ends with `;`".to_string());
    }
    None
}

/// The keywords that may start a statement where the parser expected one
/// of `positives`.
fn statement_keywords(positives: &[Rule]) -> Vec<&'static str> {
    use Rule::*;
    const ITEMS: &[Rule] = &[
        kw_import,
        kw_listen,
        kw_admin,
        kw_limits,
        kw_upstream,
        kw_agent,
        kw_policy,
        kw_route,
        kw_test,
    ];
    const ROUTE_ONLY: &[Rule] = &[
        kw_priority,
        kw_host,
        kw_path,
        kw_method,
        kw_header,
        kw_query,
        kw_proxy,
        kw_static,
        kw_redirect,
        kw_respond,
    ];
    const MODIFIERS: &[Rule] = &[
        kw_rewrite,
        kw_request_headers,
        kw_response_headers,
        kw_agents,
        kw_rate_limit,
        kw_timeout,
        kw_limits,
        kw_use,
        kw_compress,
    ];
    const UPSTREAM: &[Rule] = &[
        kw_server,
        kw_balance,
        kw_health,
        kw_passive,
        kw_timeout,
        kw_retry,
        kw_retry_non_idempotent,
        kw_tls,
        kw_max_connections,
    ];
    const AGENT: &[Rule] = &[kw_socket, kw_timeout, kw_on_failure, kw_body];
    const TEST: &[Rule] = &[kw_request, kw_expect];
    let limit_rules = crate::ast::LimitKind::ALL.map(|kind| kind.rule());
    let lists: &[&[Rule]] = match positives {
        p if p.contains(&item) || p.contains(&file) => &[ITEMS],
        p if p.contains(&route_stmt) => &[ROUTE_ONLY, MODIFIERS],
        p if p.contains(&modifier) => &[MODIFIERS],
        p if p.contains(&upstream_stmt) => &[UPSTREAM],
        p if p.contains(&agent_stmt) => &[AGENT],
        p if p.contains(&limit_stmt) => &[&limit_rules],
        p if p.contains(&test_stmt) => &[TEST],
        _ => &[],
    };
    lists
        .iter()
        .flat_map(|list| list.iter().map(|&rule| keywords::spelling(rule)))
        .collect()
}

/// "did you mean `listen`?" for a word where a statement was expected.
fn misspelt_keyword(rest: &str, positives: &[Rule]) -> Option<String> {
    let word = found_at(rest, 0);
    if !word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    crate::diagnostic::did_you_mean(word, statement_keywords(positives))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_words() {
        let missing: Vec<String> = Rule::all_rules()
            .iter()
            .filter(|&&rule| words(rule).is_none() && keyword_of(rule).is_none())
            .map(|rule| format!("{rule:?}"))
            .collect();
        assert!(missing.is_empty(), "rules without words: {missing:?}");
    }
}
