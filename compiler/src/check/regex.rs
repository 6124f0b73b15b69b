//! Regexes: every regex in a policy must compile, with the syntax the
//! runtime uses (bytes, ASCII classes, `(?i)` for ASCII case folding), to
//! an anchored DFA no larger than the cap, so that the route automaton
//! stays small and the hot path never meets a regex it cannot run.

use regex_automata::dfa::{dense, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::PatternID;

use crate::ast::Str;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;

use super::Checker;

/// The largest DFA one regex may compile to, in bytes.
pub const REGEX_DFA_SIZE_CAP: usize = 1 << 20;

/// How far past the cap we keep building to say how large a regex is.
const MEASURE_LIMIT: usize = 8 * REGEX_DFA_SIZE_CAP;

/// The regex syntax shared by the compiler and the runtime.
pub fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// Why a regex was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegexProblem {
    /// The pattern does not parse; `span` is the byte range within the
    /// pattern when the parser knows it.
    Syntax {
        message: String,
        span: Option<(usize, usize)>,
    },
    /// The DFA is larger than the cap; `size` is `None` when it is larger
    /// than even the measuring limit.
    TooLarge { size: Option<usize>, cap: usize },
}

/// Compiles `pattern` and returns the names of its captures.
pub fn compile(pattern: &str) -> Result<Vec<String>, RegexProblem> {
    let config = syntax_config();
    if let Err(error) = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
    {
        let (message, span) = match &error {
            regex_syntax::Error::Parse(e) => (e.kind().to_string(), Some((e.span().start.offset, e.span().end.offset))),
            regex_syntax::Error::Translate(e) => {
                (e.kind().to_string(), Some((e.span().start.offset, e.span().end.offset)))
            }
            other => (other.to_string(), None),
        };
        return Err(RegexProblem::Syntax { message, span });
    }
    // The NFA is bounded too: counted repetitions (`(a{1000}){1000}`)
    // multiply out in it before any DFA is built.
    let nfa = thompson::Compiler::new()
        .syntax(config)
        .configure(thompson::Config::new().utf8(false).nfa_size_limit(Some(MEASURE_LIMIT)))
        .build(pattern)
        .map_err(|e| match e.size_limit() {
            Some(_) => RegexProblem::TooLarge {
                size: None,
                cap: REGEX_DFA_SIZE_CAP,
            },
            None => RegexProblem::Syntax {
                message: e.to_string(),
                span: None,
            },
        })?;
    let captures = nfa
        .group_info()
        .pattern_names(PatternID::ZERO)
        .flatten()
        .map(str::to_string)
        .collect();
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .dfa_size_limit(Some(MEASURE_LIMIT))
                .determinize_size_limit(Some(MEASURE_LIMIT)),
        )
        .build_from_nfa(&nfa);
    match dfa {
        Ok(dfa) if dfa.memory_usage() <= REGEX_DFA_SIZE_CAP => Ok(captures),
        Ok(dfa) => Err(RegexProblem::TooLarge {
            size: Some(dfa.memory_usage()),
            cap: REGEX_DFA_SIZE_CAP,
        }),
        Err(e) if e.is_size_limit_exceeded() => Err(RegexProblem::TooLarge {
            size: None,
            cap: REGEX_DFA_SIZE_CAP,
        }),
        Err(e) => Err(RegexProblem::Syntax {
            message: e.to_string(),
            span: None,
        }),
    }
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / (1 << 10) as f64)
    } else {
        format!("{bytes} B")
    }
}

impl Checker<'_> {
    /// Checks a regex written in the policy; returns its capture names.
    pub(crate) fn regex(&mut self, pattern: &Str) -> Option<Vec<String>> {
        match compile(&pattern.value) {
            Ok(captures) => Some(captures),
            Err(RegexProblem::Syntax { message, span }) => {
                // Point into the pattern when its text is as written.
                let written = &self.program.sources.snippet(pattern.span);
                let offset = if pattern.raw { 2 } else { 1 };
                let exact = written.len() == pattern.value.len() + offset + 1;
                let at = match span {
                    Some((start, end)) if exact => Span::new(
                        pattern.span.file,
                        pattern.span.start + offset + start,
                        pattern.span.start + offset + end.max(start + 1).min(pattern.value.len()),
                    ),
                    _ => pattern.span,
                };
                let mut diagnostic = Diagnostic::new(
                    Code::InvalidRegex,
                    format!("invalid regex `{}`", pattern.value),
                    at,
                    message.to_lowercase(),
                );
                if !pattern.raw && pattern.value.contains('\\') {
                    diagnostic = diagnostic.with_help("a raw string `r\"...\"` keeps backslashes as written");
                }
                self.report(diagnostic);
                None
            }
            Err(RegexProblem::TooLarge { size, cap }) => {
                let size = match size {
                    Some(size) => human_size(size),
                    None => format!("more than {}", human_size(MEASURE_LIMIT)),
                };
                self.report(
                    Diagnostic::new(
                        Code::RegexTooLarge,
                        format!("regex `{}` compiles to a DFA of {size}, over the cap of {}", pattern.value, human_size(cap)),
                        pattern.span,
                        format!("{size} automaton"),
                    )
                    .with_help(
                        "bounded repetitions of alternatives (`(a|b){20}`) and counted classes grow the DFA exponentially; use a prefix or a smaller bound",
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_repetitions_are_refused_before_they_exhaust_memory() {
        // About 10^9 NFA states if multiplied out.
        assert_eq!(
            compile("(?:(?:a{1000}){1000}){1000}"),
            Err(RegexProblem::TooLarge {
                size: None,
                cap: REGEX_DFA_SIZE_CAP
            })
        );
        assert!(compile("/blog/(?P<slug>[a-z0-9-]+)").is_ok());
    }
}
