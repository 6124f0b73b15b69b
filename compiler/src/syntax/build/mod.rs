//! From pest's pairs to the typed AST. The grammar guarantees the shape of
//! every pair, so the only failures here are the ones the grammar leaves to
//! the builder on purpose: escapes inside strings.
//!
//! The builder and its literals are here; each kind of item is built in
//! the module of its kind.

mod cases;
mod items;
mod routes;
mod upstreams;

use std::collections::HashMap;

use pest::iterators::{Pair, Pairs};

use super::Rule;
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};

pub(super) struct Builder<'t> {
    file: FileId,
    text: &'t str,
    /// Comment start by comment end, to trim them off spans.
    comment_starts: HashMap<usize, usize>,
    diagnostics: Vec<Diagnostic>,
}

/// The children of a pair, without comments, read front to back.
struct Children<'i> {
    pairs: std::iter::Peekable<std::vec::IntoIter<Pair<'i, Rule>>>,
}

impl<'i> Children<'i> {
    fn of(pair: Pair<'i, Rule>) -> Self {
        let pairs: Vec<_> = pair
            .into_inner()
            .filter(|p| !matches!(p.as_rule(), Rule::COMMENT | Rule::sep | Rule::lbrace | Rule::rbrace))
            .collect();
        Children {
            pairs: pairs.into_iter().peekable(),
        }
    }

    /// The next child; the grammar guarantees it exists.
    fn next(&mut self) -> Pair<'i, Rule> {
        self.pairs.next().expect("the grammar guarantees this child exists")
    }

    fn try_next(&mut self) -> Option<Pair<'i, Rule>> {
        self.pairs.next()
    }

    fn peek_rule(&mut self) -> Option<Rule> {
        self.pairs.peek().map(Pair::as_rule)
    }

    fn rest(self) -> impl Iterator<Item = Pair<'i, Rule>> {
        self.pairs
    }
}

/// The one child of a wrapper rule (`item`, `condition`, ...).
fn only_child(pair: Pair<'_, Rule>) -> Pair<'_, Rule> {
    Children::of(pair).next()
}

impl<'t> Builder<'t> {
    pub(super) fn new(file: FileId, text: &'t str, comments: &[Span]) -> Self {
        Builder {
            file,
            text,
            comment_starts: comments.iter().map(|c| (c.end, c.start)).collect(),
            diagnostics: Vec::new(),
        }
    }

    pub(super) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// The span of a pair without the whitespace and comments that pest
    /// lets a rule end with (implicit whitespace before a repetition that
    /// then matches nothing is still consumed).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let start = pair.as_span().start();
        let mut end = pair.as_span().end();
        loop {
            let trimmed = self.text[start..end].trim_end_matches([' ', '\t']).len() + start;
            match self.comment_starts.get(&trimmed) {
                Some(&comment_start) if comment_start >= start => end = comment_start,
                _ => {
                    end = trimmed;
                    break;
                }
            }
        }
        Span::new(self.file, start, end)
    }

    pub(super) fn file(&mut self, mut pairs: Pairs<'_, Rule>) -> File {
        let file = pairs.next().expect("parse(Rule::file) yields one pair");
        let items = Children::of(file)
            .rest()
            .filter(|p| p.as_rule() == Rule::item)
            .map(|p| self.item(p))
            .collect();
        File { items }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let kind = match inner.as_rule() {
            Rule::import => ItemKind::Import(self.str(Children::of(inner).rest().nth(1).expect("import has a string"))),
            Rule::admin => ItemKind::Admin(self.str(Children::of(inner).rest().nth(1).expect("admin has a string"))),
            Rule::listen => ItemKind::Listen(self.listen(inner)),
            Rule::limits => ItemKind::Limits(self.limits(inner)),
            Rule::upstream => ItemKind::Upstream(self.upstream(inner)),
            Rule::agent => ItemKind::Agent(self.agent(inner)),
            Rule::policy => ItemKind::Policy(self.policy(inner)),
            Rule::route => ItemKind::Route(self.route(inner)),
            Rule::test => ItemKind::Test(self.test(inner)),
            rule => unreachable!("item cannot hold {rule:?}"),
        };
        Item { kind, span }
    }

    // ------------------------------------------------------------ literals

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Spanned::new(pair.as_str().to_string(), self.span(&pair))
    }

    fn number(&self, pair: Pair<'_, Rule>) -> Number {
        Number {
            text: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn str(&mut self, pair: Pair<'_, Rule>) -> Str {
        let span = self.span(&pair);
        let raw = pair.as_rule() == Rule::raw_string;
        let inner = only_child(pair);
        let value = if raw {
            inner.as_str().to_string()
        } else {
            self.unescape(inner.as_str(), span.start + 1)
        };
        Str { value, raw, span }
    }

    /// Decodes `\" \\ \n \t \r \u{...}`; anything else is reported and
    /// kept as written so that checking can go on.
    fn unescape(&mut self, text: &str, offset: usize) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, escape)) = chars.next() else {
                break;
            };
            match escape {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let rest = &text[i + 2..];
                    let decoded = rest
                        .strip_prefix('{')
                        .and_then(|r| r.find('}').map(|end| &r[..end]))
                        .filter(|hex| !hex.is_empty() && hex.len() <= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v)));
                    match decoded.and_then(|(len, v)| char::from_u32(v).map(|ch| (len, ch))) {
                        Some((len, ch)) => {
                            out.push(ch);
                            for _ in 0..len + 2 {
                                chars.next();
                            }
                        }
                        None => {
                            let end = rest.find('}').map_or(i + 2, |e| i + 3 + e);
                            // Skip what the bad escape spans, so the text after it stays as is.
                            while chars.peek().is_some_and(|&(j, _)| j < end) {
                                chars.next();
                            }
                            let span = Span::new(self.file, offset + i, offset + end.min(text.len()));
                            self.diagnostics.push(
                                Diagnostic::new(
                                    Code::InvalidEscape,
                                    format!("invalid unicode escape `{}`", &text[i..end.min(text.len())]),
                                    span,
                                    "not a unicode scalar value",
                                )
                                .with_help("write a code point in hex between braces, such as `\\u{1F600}`"),
                            );
                            out.push('\u{FFFD}');
                        }
                    }
                }
                other => {
                    let span = Span::new(self.file, offset + i, offset + i + 1 + other.len_utf8());
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::InvalidEscape,
                            format!("unknown escape `\\{other}`"),
                            span,
                            "not an escape",
                        )
                        .with_help(
                            "strings take `\\\"`, `\\\\`, `\\n`, `\\t`, `\\r` and `\\u{...}`; for a regex, a raw string `r\"...\"` takes backslashes as written",
                        ),
                    );
                    out.push('\\');
                    out.push(other);
                }
            }
        }
        out
    }

    /// A `KEYWORD NUMBER` statement whose keyword picks its kind.
    fn keyed_number<K>(&self, pair: Pair<'_, Rule>, kind_of: impl Fn(Rule) -> K) -> (K, Number, Span) {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let kind = kind_of(children.next().as_rule());
        (kind, self.number(children.next()), span)
    }
}
