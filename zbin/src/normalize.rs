//! Request normalization, shared by the compiler (`explain`, `test`, and
//! checking that policy paths are in normal form) and the runtime, so that
//! every side sees the same path and host for the same request.
//!
//! Paths (LANGUAGE.md §4.2): percent-encoded unreserved characters are
//! decoded, other escapes keep their encoding with uppercase hex, `.` and
//! `..` segments are resolved (never above the root), and runs of `/`
//! become one. An encoded `/`, a NUL byte or a bad escape is refused.
//!
//! Most requests are normal already: both functions then borrow what they
//! were given (a slice of it), and copy only what they change.

use std::borrow::Cow;
use std::fmt;

/// Why a path was refused; the runtime answers `400` for every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// `%2F` or `%2f`: an encoded slash would let a path segment hide a
    /// separator from the router but not from the upstream.
    EncodedSlash,
    /// A raw or encoded NUL byte.
    Nul,
    /// `%` not followed by two hex digits.
    BadEscape,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with `/`",
            PathError::EncodedSlash => "path contains an encoded `/` (`%2F`)",
            PathError::Nul => "path contains a NUL byte",
            PathError::BadEscape => "path contains a bad percent escape",
        })
    }
}

impl std::error::Error for PathError {}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The value of one hex digit (no sign, no space: unlike `from_str_radix`).
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte of a percent escape's two hex digits.
pub fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some(hex_value(hi)? * 16 + hex_value(lo)?)
}

/// Normalizes the path part of a request target (no query string):
/// `raw` itself when it is normal already.
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    // Most paths are normal already: one scan says so, and they are kept
    // as they are (this runs for every request).
    if is_normal(raw.as_bytes()) {
        return Ok(Cow::Borrowed(raw));
    }
    normalize_path_fully(raw).map(Cow::Owned)
}

/// Whether `normalize_path` returns `raw` as it is: absolute, without an
/// escape or a NUL, and without a segment that is `.`, `..` or empty (but
/// for the last: a trailing `/` stays).
fn is_normal(raw: &[u8]) -> bool {
    let Some((b'/', rest)) = raw.split_first() else {
        return false;
    };
    if rest.iter().any(|&b| b == b'%' || b == 0) {
        return false;
    }
    let mut segments = rest.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        match segment {
            b"." | b".." => return false,
            b"" if segments.peek().is_some() => return false,
            _ => {}
        }
    }
    true
}

fn normalize_path_fully(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // First pass: decode unreserved escapes, canonicalise the rest.
    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            0 => return Err(PathError::Nul),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError::BadEscape);
                };
                let value = hi * 16 + lo;
                match value {
                    0 => return Err(PathError::Nul),
                    b'/' => return Err(PathError::EncodedSlash),
                    v if is_unreserved(v) => decoded.push(v as char),
                    v => {
                        decoded.push('%');
                        decoded.push(char::from(b"0123456789ABCDEF"[(v >> 4) as usize]));
                        decoded.push(char::from(b"0123456789ABCDEF"[(v & 15) as usize]));
                    }
                }
                i += 3;
            }
            _ => {
                // Copy the whole UTF-8 sequence starting here.
                let len = utf8_len(b);
                decoded.push_str(&raw[i..(i + len).min(raw.len())]);
                i += len;
            }
        }
    }
    // Second pass: segments.
    let mut segments: Vec<&str> = Vec::new();
    let trailing_slash = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Normalizes a request host: lowercase, without port or trailing dot.
/// `[::1]:8080` becomes `[::1]`. A host already in lowercase is a slice of
/// `raw`.
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    let host = if raw.starts_with('[') {
        match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        match raw.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// A regex (policy dialect, matched whole) for every path that
/// `normalize_path` can return for a request the HTTP parser accepts: `/`,
/// then segments that are neither empty, `.` nor `..`, made of the bytes
/// a request target may carry raw (RFC 3986 and the `http` crate: no
/// space, `"`-`<`-`>`-`` ` `` are refused, `{ } |` are let through) and of
/// escapes that normalization keeps (upper-case hex, never an unreserved
/// byte, `/` or NUL); a trailing `/` is kept. The compiler decides
/// ambiguity and reachability over this language only, so a string no
/// request can have is never shown as a witness nor makes a shadow fail.
pub fn normalized_path_language() -> String {
    // Raw bytes allowed in a path, less `/` (the separator) and `%`
    // (which only starts an escape); `.` is split out to exclude the
    // segments `.` and `..`.
    let raw_not_dot = r"[\x21\x22\x24\x26-\x2D\x30-\x3B\x3D\x40-\x5F\x61-\x7E\x80-\xFF]";
    let mut escapes = Vec::new();
    for hi in 0..16u8 {
        let digits: String = (0..16u8)
            .filter(|lo| {
                let byte = hi * 16 + lo;
                !(is_unreserved(byte) || byte == b'/' || byte == 0)
            })
            .map(|lo| char::from(b"0123456789ABCDEF"[lo as usize]))
            .collect();
        if !digits.is_empty() {
            escapes.push(format!("{}[{digits}]", char::from(b"0123456789ABCDEF"[hi as usize])));
        }
    }
    let escape = format!("%(?:{})", escapes.join("|"));
    let not_dot = format!("(?:{raw_not_dot}|{escape})");
    let any = format!(r"(?:{raw_not_dot}|\.|{escape})");
    let segment = format!(r"(?:{not_dot}{any}*|\.{not_dot}{any}*|\.\.{any}+)");
    format!("/(?:{segment}(?:/{segment})*/?)?")
}

/// A regex for every host `normalize_host` can return: no ASCII upper
/// case (the rest is whatever a `Host` header carries).
pub fn normalized_host_language() -> &'static str {
    "[^A-Z]*"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize() {
        let cases = [
            ("/", "/"),
            ("/a//b", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/../../a", "/a"),
            ("/a/b/..", "/a/"),
            ("/%7Euser/%41", "/~user/A"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%20b/", "/a%20b/"),
            ("/api/", "/api/"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn paths_refused() {
        assert_eq!(normalize_path("/a%2Fb"), Err(PathError::EncodedSlash));
        assert_eq!(normalize_path("/a%2fb"), Err(PathError::EncodedSlash));
        assert_eq!(normalize_path("/a%00"), Err(PathError::Nul));
        assert_eq!(normalize_path("/a\0"), Err(PathError::Nul));
        assert_eq!(normalize_path("/a%G1"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("/a%4"), Err(PathError::BadEscape));
        assert_eq!(normalize_path("a"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn hosts_normalize() {
        assert_eq!(normalize_host("API.Example.com:8080"), "api.example.com");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
    }

    #[test]
    fn what_is_normal_already_is_borrowed() {
        let raw = "example.com:8080";
        let Cow::Borrowed(host) = normalize_host(raw) else {
            panic!("a lowercase host is not copied");
        };
        assert_eq!(host, "example.com");
        assert_eq!(host.as_ptr(), raw.as_ptr());
        assert!(matches!(normalize_host("Example.com"), Cow::Owned(_)));
        assert!(matches!(normalize_path("/a/b/"), Ok(Cow::Borrowed("/a/b/"))));
        assert!(matches!(normalize_path("/a//b"), Ok(Cow::Owned(_))));
    }

    mod languages {
        use super::super::*;
        use proptest::prelude::*;
        use regex_automata::meta::Regex;

        fn whole(pattern: &str) -> Regex {
            Regex::builder()
                .syntax(crate::regex_syntax_config())
                .build(&format!("^(?:{pattern})$"))
                .expect("compiles")
        }

        static PATHS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| whole(&normalized_path_language()));
        static HOSTS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| whole(normalized_host_language()));

        #[test]
        fn the_path_language_refuses_what_normalization_never_returns() {
            let language = whole(&normalized_path_language());
            for ok in [
                "/",
                "/a",
                "/a/",
                "/a/b",
                "/.a",
                "/..a",
                "/...",
                "/a%20b",
                "/caf%C3%A9",
                "/~user",
                "/\u{e9}",
            ] {
                assert!(language.is_match(ok), "{ok}");
            }
            for never in [
                "", "a", "//", "/a//b", "/./", "/.", "/..", "/a/../b", "/%41", "/%2F", "/%c3", "/a b", "/%",
            ] {
                assert!(!language.is_match(never), "{never}");
            }
        }

        /// The pieces of what requests can carry after the first `/`: raw
        /// bytes, escapes of every kind, dot segments, a NUL.
        fn path_parts() -> impl Strategy<Value = Vec<String>> {
            prop::collection::vec(
                prop_oneof![
                    Just("/".to_string()),
                    Just(".".to_string()),
                    Just("..".to_string()),
                    Just("\0".to_string()),
                    "[a-zA-Z0-9._~!$&'()*+,;=:@{}|\"-]{1,3}",
                    (0u8..=255).prop_map(|b| format!("%{b:02x}")),
                    (0u8..=255).prop_map(|b| format!("%{b:02X}")),
                    // Non-ASCII, raw (the `http` crate lets valid UTF-8 through).
                    "[^\\x00-\\x7F]",
                ],
                0..12,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            // Over what requests can carry, whatever normalization returns
            // is in the language.
            #[test]
            fn every_normalized_path_is_in_the_language(parts in path_parts()) {
                let raw = format!("/{}", parts.concat());
                if let Ok(path) = normalize_path(&raw) {
                    prop_assert!(PATHS.is_match(path.as_bytes()), "{} -> {}", raw, path);
                }
            }

            // The shortcut for paths that are normal already never
            // changes an answer.
            #[test]
            fn the_normal_path_shortcut_agrees_with_full_normalization(
                parts in path_parts(),
                absolute in proptest::bool::weighted(0.95),
            ) {
                let raw = format!("{}{}", if absolute { "/" } else { "" }, parts.concat());
                prop_assert_eq!(normalize_path(&raw).map(Cow::into_owned), normalize_path_fully(&raw), "{}", raw);
            }

            #[test]
            fn every_normalized_host_is_in_the_language(raw in "\\PC{0,20}") {
                let host = normalize_host(&raw);
                prop_assert!(HOSTS.is_match(host.as_bytes()), "{} -> {}", raw, host);
            }
        }
    }
}
