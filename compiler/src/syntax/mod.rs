//! Parsing: `grammar/zen.pest` via pest, then a typed AST (`build`) and
//! the comments the formatter keeps. Pest's rule names never leave this
//! module: `expected` turns them into words.

mod build;
mod expected;
pub mod keywords;

use pest::Parser as _;

use crate::ast::File;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/zen.pest"]
pub(crate) struct ZenParser;

/// A comment as written, with its span; the formatter puts it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

/// The result of parsing one file.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub file: File,
    pub comments: Vec<Comment>,
}

/// Parses one source file. On a syntax error there is no tree, only the
/// diagnostic; other problems found while building the tree (bad escapes)
/// come back beside it.
pub fn parse(file: FileId, text: &str) -> Result<(Parsed, Vec<Diagnostic>), Diagnostic> {
    let pairs = ZenParser::parse(Rule::file, text).map_err(|error| syntax_error(file, text, error))?;
    let comments: Vec<Comment> = pairs
        .clone()
        .flatten()
        .filter(|pair| pair.as_rule() == Rule::COMMENT)
        .map(|pair| {
            let text = pair.as_str().trim_end();
            let start = pair.as_span().start();
            Comment {
                text: text.to_string(),
                span: Span::new(file, start, start + text.len()),
            }
        })
        .collect();
    let comment_spans: Vec<Span> = comments.iter().map(|c| c.span).collect();
    let mut builder = build::Builder::new(file, text, &comment_spans);
    let ast = builder.file(pairs);
    Ok((Parsed { file: ast, comments }, builder.into_diagnostics()))
}

fn syntax_error(file: FileId, text: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    let offset = match error.location {
        pest::error::InputLocation::Pos(pos) => pos,
        pest::error::InputLocation::Span((start, _)) => start,
    };
    let (expected, unexpected) = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, negatives } => {
            (expected::describe(positives), expected::describe(negatives))
        }
        pest::error::ErrorVariant::CustomError { message } => (message.clone(), String::new()),
    };
    let found = expected::found_at(text, offset);
    // At the end of the file there is nothing to underline: point at the
    // last thing written instead.
    let span = if found.is_empty() {
        let end = text.trim_end().len();
        let start = text[..end].char_indices().last().map_or(0, |(i, _)| i);
        Span::new(file, start, end)
    } else {
        Span::new(file, offset, offset + found.len())
    };
    let message = if expected.is_empty() {
        format!("unexpected {}", found_words(found))
    } else {
        format!("expected {expected}, found {}", found_words(found))
    };
    let mut diagnostic = Diagnostic::new(Code::Syntax, message, span, label_for(&expected));
    if !unexpected.is_empty() {
        diagnostic = diagnostic.with_help(format!("{unexpected} is not allowed here"));
    } else if let Some(help) = expected::help_for(text, offset, &error) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

fn found_words(found: &str) -> String {
    match found {
        "" => "end of file".to_string(),
        "\n" | "\r\n" => "end of line".to_string(),
        other => format!("`{other}`"),
    }
}

fn label_for(expected: &str) -> String {
    if expected.is_empty() {
        "unexpected here".to_string()
    } else {
        format!("expected {expected}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape_problems(literal: &str) -> Vec<Code> {
        let text = format!("route a {{\n    respond 200 {literal}\n}}\n");
        let (_, diagnostics) = parse(FileId(0), &text).expect("parses");
        diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn unicode_escapes_take_hex_digits_only() {
        assert!(escape_problems(r#""\u{41}\u{1F600}""#).is_empty());
        assert_eq!(escape_problems(r#""\u{+41}""#), vec![Code::InvalidEscape]);
        assert_eq!(escape_problems(r#""\u{ 41}""#), vec![Code::InvalidEscape]);
        assert_eq!(escape_problems(r#""\u{D83D}""#), vec![Code::InvalidEscape]);
    }
}
