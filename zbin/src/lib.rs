//! zbin: the contract between `zenc` and `zentinel`. It holds the checked
//! policy model, request normalization, the artifact format and the code
//! that loads and matches a compiled policy. It links no policy parser and
//! no diagnostics renderer: the runtime depends on this crate alone.
//!
//! Building automata is the compiler's half; this crate only loads and
//! walks them (regex-automata's search side). The one regex this side ever
//! parses is a route's path regex whose named captures a template uses,
//! compiled once at load into a capture extractor.

pub mod balance;
pub mod codec;
pub mod decide;
pub mod error;
pub mod format;
pub mod ids;
pub mod matcher;
pub mod model;
pub mod normalize;
pub mod program;
pub mod table;

pub use decide::{decide, Decision, Facts};
pub use error::ArtifactError;
pub use format::AlignedBytes;
pub use matcher::{HeaderSource, LookupTrace, Match, Request};
pub use program::Program;

/// The regex syntax every side uses: bytes, ASCII classes, `(?i)` for
/// ASCII case folding. The compiler builds with it and the runtime builds
/// its capture extractors with it, so both read a pattern alike.
pub fn regex_syntax_config() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new().unicode(false).utf8(false)
}

/// `pattern` as a regex that can be embedded in a larger one: parsed and
/// printed back, so that its comments and verbose mode (`(?x)`, where a
/// `#` comment would swallow a closing parenthesis written after it) are
/// gone, and what it matches is unchanged.
pub fn embeddable_regex(pattern: &str) -> Result<String, String> {
    regex_automata::util::syntax::parse_with(pattern, &regex_syntax_config())
        .map(|hir| hir.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddable_regexes_match_what_was_written() {
        let config = regex_syntax_config();
        for pattern in [
            "/blog/(?P<slug>[a-z0-9-]+)",
            "(?x) /a  # a comment that would swallow a `)`\n /b",
            "(?i)/API/v[0-9]+",
            "[^/]+\\.(png|jpe?g)",
            "/\\xFF.*",
            "a|b|",
            "",
        ] {
            let embedded = embeddable_regex(pattern).expect("parses");
            let wrapped = format!("(?:{embedded})");
            assert_eq!(
                regex_automata::util::syntax::parse_with(&wrapped, &config).expect("reparses"),
                regex_automata::util::syntax::parse_with(pattern, &config).expect("parses"),
                "{pattern} -> {embedded}"
            );
        }
    }
}
