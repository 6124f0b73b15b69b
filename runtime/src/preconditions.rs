//! Conditional requests (RFC 9110 §13) for the files zentinel serves:
//! `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`
//! and `If-Range`, evaluated in the order of §13.2.2. Pure: the caller
//! gives the request's headers and the file's validators and carries out
//! the outcome.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName};
use http::Method;

/// What is known of the file being answered with.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The entity tag, quoted (`"..."`, or `W/"..."` when weak).
    pub etag: &'a str,
    /// The modification time, if the file system knows it.
    pub modified: Option<SystemTime>,
}

/// What the preconditions leave to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answer as if unconditional; honour a `Range` only when `ranges`
    /// (an `If-Range` that no longer matches asks for the whole file).
    Proceed { ranges: bool },
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// Evaluates the request's preconditions against `file` (RFC 9110
/// §13.2.2, steps 1 to 5). A precondition header that cannot be parsed
/// (a malformed date) is ignored, as the RFC requires of dates.
pub fn evaluate(method: &Method, headers: &HeaderMap, file: Validators<'_>) -> Outcome {
    let read = method == Method::GET || method == Method::HEAD;
    // Step 1, else step 2.
    if let Some(tags) = joined(headers, &http::header::IF_MATCH) {
        if !list_matches(&tags, file.etag, Comparison::Strong) {
            return Outcome::Failed;
        }
    } else if let Some(since) = date(headers, &http::header::IF_UNMODIFIED_SINCE) {
        if file.modified.is_some_and(|m| seconds(m) > seconds(since)) {
            return Outcome::Failed;
        }
    }
    // Step 3, else step 4.
    if let Some(tags) = joined(headers, &http::header::IF_NONE_MATCH) {
        if list_matches(&tags, file.etag, Comparison::Weak) {
            return if read { Outcome::NotModified } else { Outcome::Failed };
        }
    } else if read {
        if let Some(since) = date(headers, &http::header::IF_MODIFIED_SINCE) {
            if file.modified.is_some_and(|m| seconds(m) <= seconds(since)) {
                return Outcome::NotModified;
            }
        }
    }
    // Step 5: `If-Range` only means something beside a `Range` on a GET.
    let ranges = method != Method::GET
        || !headers.contains_key(http::header::RANGE)
        || headers
            .get(http::header::IF_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|condition| if_range_holds(condition.trim(), file));
    Outcome::Proceed { ranges }
}

/// `If-Range`: an entity tag, compared strongly, or a date that must be
/// the file's modification time exactly (§13.1.5).
fn if_range_holds(condition: &str, file: Validators<'_>) -> bool {
    if condition.starts_with('"') || condition.starts_with("W/") {
        return matches!(tags(condition).next(), Some(Ok(tag)) if tag.matches(file.etag, Comparison::Strong));
    }
    match (httpdate::parse_http_date(condition), file.modified) {
        (Ok(date), Some(modified)) => seconds(date) == seconds(modified),
        _ => false,
    }
}

/// All lines of a header as one comma-separated list; `None` when absent.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(
        values
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// HTTP dates have whole seconds: a file's time is compared at that grain.
fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and equal (`If-Match`, `If-Range`).
    Strong,
    /// Equal once `W/` is set aside (`If-None-Match`).
    Weak,
}

/// One entity tag of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    /// The opaque part, quotes included.
    opaque: &'a str,
}

impl Tag<'_> {
    fn matches(self, etag: &str, comparison: Comparison) -> bool {
        let (their_weak, theirs) = match etag.strip_prefix("W/") {
            Some(opaque) => (true, opaque),
            None => (false, etag),
        };
        match comparison {
            Comparison::Strong => !self.weak && !their_weak && self.opaque == theirs,
            Comparison::Weak => self.opaque == theirs,
        }
    }
}

/// Whether `list` (`*`, or entity tags separated by commas) names `etag`.
/// A list that does not parse matches nothing.
fn list_matches(list: &str, etag: &str, comparison: Comparison) -> bool {
    if list.trim() == "*" {
        return true; // the file exists: any current representation matches
    }
    let mut any = false;
    for tag in tags(list) {
        match tag {
            Ok(tag) => any |= tag.matches(etag, comparison),
            Err(()) => return false,
        }
    }
    any
}

/// The entity tags of a list. Commas may appear inside a tag's quotes, so
/// the list is read quote by quote rather than split on commas.
fn tags(list: &str) -> impl Iterator<Item = Result<Tag<'_>, ()>> {
    let mut rest = list;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return None;
        }
        let (weak, after) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let Some(inner) = after.strip_prefix('"') else {
            rest = "";
            return Some(Err(()));
        };
        let Some(close) = inner.find('"') else {
            rest = "";
            return Some(Err(()));
        };
        let opaque = &after[..close + 2];
        rest = &inner[close + 1..];
        Some(Ok(Tag { weak, opaque }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"5-abc\"";

    fn file() -> Validators<'static> {
        Validators {
            etag: TAG,
            modified: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        }
    }

    fn at(offset: i64) -> String {
        let secs = (1_700_000_000i64 + offset) as u64;
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn eval(method: Method, headers: &[(&str, &str)]) -> Outcome {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        evaluate(&method, &map, file())
    }

    const FULL: Outcome = Outcome::Proceed { ranges: true };

    #[test]
    fn if_none_match_compares_weakly() {
        assert_eq!(eval(Method::GET, &[("if-none-match", TAG)]), Outcome::NotModified);
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "W/\"5-abc\"")]),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Method::HEAD, &[("if-none-match", "\"x\", \"5-abc\"")]),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "\"x\""), ("if-none-match", TAG)]),
            Outcome::NotModified
        );
        assert_eq!(eval(Method::GET, &[("if-none-match", "*")]), Outcome::NotModified);
        assert_eq!(eval(Method::GET, &[("if-none-match", "\"other\"")]), FULL);
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "\"a,b\", \"5-abc\"")]),
            Outcome::NotModified
        );
    }

    #[test]
    fn if_match_compares_strongly_and_fails_with_412() {
        assert_eq!(eval(Method::GET, &[("if-match", TAG)]), FULL);
        assert_eq!(eval(Method::GET, &[("if-match", "*")]), FULL);
        assert_eq!(eval(Method::GET, &[("if-match", "W/\"5-abc\"")]), Outcome::Failed);
        assert_eq!(eval(Method::GET, &[("if-match", "\"other\"")]), Outcome::Failed);
        assert_eq!(eval(Method::GET, &[("if-match", "garbage")]), Outcome::Failed);
    }

    #[test]
    fn dates_compare_at_whole_seconds() {
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", &at(0))]),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", &at(10))]),
            Outcome::NotModified
        );
        assert_eq!(eval(Method::GET, &[("if-modified-since", &at(-1))]), FULL);
        assert_eq!(eval(Method::GET, &[("if-modified-since", "not a date")]), FULL);
        assert_eq!(eval(Method::GET, &[("if-unmodified-since", &at(0))]), FULL);
        assert_eq!(eval(Method::GET, &[("if-unmodified-since", &at(-1))]), Outcome::Failed);
        assert_eq!(eval(Method::GET, &[("if-unmodified-since", "nonsense")]), FULL);
    }

    #[test]
    fn the_order_of_rfc_9110() {
        // If-Match wins over If-Unmodified-Since (step 2 is skipped).
        assert_eq!(
            eval(Method::GET, &[("if-match", TAG), ("if-unmodified-since", &at(-100))]),
            FULL
        );
        // If-None-Match wins over If-Modified-Since (step 4 is skipped).
        assert_eq!(
            eval(
                Method::GET,
                &[("if-none-match", "\"other\""), ("if-modified-since", &at(10))]
            ),
            FULL
        );
        // A failed If-Match is 412 even when If-None-Match would be 304.
        assert_eq!(
            eval(Method::GET, &[("if-match", "\"other\""), ("if-none-match", TAG)]),
            Outcome::Failed
        );
    }

    #[test]
    fn if_range_keeps_or_drops_the_range() {
        let range = ("range", "bytes=0-1");
        assert_eq!(eval(Method::GET, &[range, ("if-range", TAG)]), FULL);
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", "\"old\"")]),
            Outcome::Proceed { ranges: false }
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", "W/\"5-abc\"")]),
            Outcome::Proceed { ranges: false }
        );
        assert_eq!(eval(Method::GET, &[range, ("if-range", &at(0))]), FULL);
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", &at(-5))]),
            Outcome::Proceed { ranges: false }
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", "garbage")]),
            Outcome::Proceed { ranges: false }
        );
        // Without a Range, If-Range says nothing.
        assert_eq!(eval(Method::GET, &[("if-range", "\"old\"")]), FULL);
    }
}
