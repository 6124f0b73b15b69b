//! `zenc fmt`: one canonical layout for a Zen file. Four-space indents,
//! one statement per line, a blank line around block items, at most one
//! blank line kept where the author left one, comments kept: a comment on
//! its own line stays before what follows it, a comment after a statement
//! stays on that line. Formatting is idempotent and preserves the AST.
//!
//! The printer and its layout are here; what each kind of item and
//! statement prints is in the module of its kind.

mod cases;
mod items;
mod routes;
mod upstreams;

use crate::ast::{File, Ident, Number, Str};
use crate::source::Span;
use crate::syntax::keywords;
use crate::syntax::{self, Comment, Rule};

/// Formats `text`; `None` when it does not parse or a string in it does
/// not decode (check reports why).
pub fn format_source(text: &str) -> Option<String> {
    let file = crate::source::FileId(0);
    match syntax::parse(file, text).ok()? {
        (parsed, diagnostics) if diagnostics.is_empty() => Some(format_parsed(text, &parsed.file, &parsed.comments)),
        _ => None,
    }
}

/// Formats a parsed file, given the text it came from.
pub fn format_parsed(text: &str, file: &File, comments: &[Comment]) -> String {
    let mut printer = Printer {
        text,
        out: String::new(),
        indent: 0,
        comments,
        next_comment: 0,
    };
    printer.file(file);
    printer.out
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    indent: usize,
    comments: &'a [Comment],
    next_comment: usize,
}

impl Printer<'_> {
    // ------------------------------------------------------------ layout

    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
    }

    fn newline(&mut self) {
        // No trailing spaces, ever.
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.newline();
        }
    }

    /// Whether the source has an empty line between `from` and `to`.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let lines: Vec<&str> = self.text[from.min(to)..to].split('\n').collect();
        lines.len() >= 3 && lines[1..lines.len() - 1].iter().any(|l| l.trim().is_empty())
    }

    /// Prints the comments that come before `offset` on their own lines.
    /// A blank line is kept wherever the source had one between two
    /// printed things (`previous_end` is the end of the last one); with
    /// `before_next`, also between the last of them and `offset`.
    fn leading_comments(&mut self, offset: usize, mut previous_end: Option<usize>, before_next: bool) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= offset {
                break;
            }
            if previous_end.is_some_and(|end| self.blank_between(end, comment.span.start)) {
                self.blank_line();
            }
            self.line_start();
            self.out.push_str(&comment.text);
            self.newline();
            previous_end = Some(comment.span.end);
            self.next_comment += 1;
        }
        if before_next && previous_end.is_some_and(|end| self.blank_between(end, offset)) {
            self.blank_line();
        }
    }

    /// A comment that starts on the line where `end` is, after it.
    fn trailing_comment(&mut self, end: usize) {
        if let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= end && !self.text[end..comment.span.start].contains('\n') {
                self.out.push(' ');
                self.out.push_str(&comment.text);
                self.next_comment += 1;
            }
        }
    }

    /// One statement on its own line, with the comments before it and the
    /// one after it. Comments between the tokens of a statement come out
    /// before the next one, so none is lost.
    fn statement<F: FnOnce(&mut Self)>(&mut self, span: Span, previous_end: Option<usize>, print: F) {
        self.leading_comments(span.start, previous_end, true);
        self.line_start();
        print(self);
        self.trailing_comment(span.end);
        self.newline();
    }

    /// Prints `{`, the statements, and `}` for a block ending at `end`.
    fn block<T>(&mut self, stmts: &[T], end: usize, span_of: impl Fn(&T) -> Span, print: impl Fn(&mut Self, &T)) {
        self.out.push_str(" {");
        self.newline();
        self.indent += 1;
        let mut previous_end = None;
        for stmt in stmts {
            let span = span_of(stmt);
            self.statement(span, previous_end, |p| print(p, stmt));
            previous_end = Some(span.end);
        }
        // Comments before the closing brace stay inside the block.
        self.leading_comments(end, previous_end, false);
        self.indent -= 1;
        self.line_start();
        self.out.push('}');
    }

    // ------------------------------------------------------------- atoms

    /// Writes keyword `rule` as the grammar spells it.
    fn keyword(&mut self, rule: Rule) {
        self.word(keywords::spelling(rule));
    }

    fn word(&mut self, word: &str) {
        if !self.out.is_empty() && !self.out.ends_with(['\n', ' ']) {
            self.out.push(' ');
        }
        self.out.push_str(word);
    }

    fn string(&mut self, s: &Str) {
        let text = quote(s);
        self.word(&text);
    }

    fn number(&mut self, n: &Number) {
        self.word(&n.text);
    }

    fn ident(&mut self, i: &Ident) {
        self.word(&i.node);
    }
}

/// A string literal in canonical form: raw strings as written, others
/// with the escapes the grammar knows.
pub fn quote(s: &Str) -> String {
    if s.raw {
        return format!("r\"{}\"", s.value);
    }
    let mut out = String::with_capacity(s.value.len() + 2);
    out.push('"');
    for c in s.value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
