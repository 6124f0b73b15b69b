//! Templates of `rewrite` and `redirect`: text with `{name}` variables.
//! A template is split where it is written; its variables are resolved
//! for each route it lands in, against that route's captures.

use zbin::model::{self, TemplatePart, TemplateVar};

use crate::ast::Str;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::source::Span;

use super::Checker;

/// A template split into literal text and variables, as written.
#[derive(Debug, Clone)]
pub(super) struct ParsedTemplate {
    pub(super) parts: Vec<RawPart>,
}

#[derive(Debug, Clone)]
pub(super) enum RawPart {
    Literal(String),
    Var(String, Span),
}

/// A template's text and where it was written, to point at a part of it.
struct TemplateText<'t> {
    text: &'t str,
    span: Span,
    /// The bytes that open the literal: `"`, or `r"`.
    offset: usize,
    /// Whether the text is as written (no escapes), so that offsets into
    /// it are offsets into the source.
    exact: bool,
}

impl<'t> TemplateText<'t> {
    /// `written` is the literal as it appears in the source.
    fn new(template: &'t Str, written: &str) -> Self {
        let text = template.value.as_str();
        let offset = if template.raw { 2 } else { 1 };
        TemplateText {
            text,
            span: template.span,
            offset,
            exact: written.len() == text.len() + offset + 1,
        }
    }

    /// Bytes `start..end` of the text in the source; the whole literal when
    /// escapes make the text differ from what was written.
    fn at(&self, start: usize, end: usize) -> Span {
        if self.exact {
            Span::new(
                self.span.file,
                self.span.start + self.offset + start,
                self.span.start + self.offset + end,
            )
        } else {
            self.span
        }
    }
}

impl Checker<'_> {
    /// Splits `{name}` variables out of a template; `{{` and `}}` are
    /// literal braces.
    pub(super) fn parse_template(&mut self, template: &Str) -> Option<ParsedTemplate> {
        let template = TemplateText::new(template, self.program.sources.snippet(template.span));
        let text = template.text;
        let mut parts = Vec::new();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    literal.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    literal.push('}');
                    i += 2;
                }
                b'{' => {
                    let (var, len) = self.template_var(&template, i)?;
                    if !literal.is_empty() {
                        parts.push(RawPart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(var);
                    i += len;
                }
                b'}' => {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidTemplate,
                            format!("unmatched `}}` in template `{text}`"),
                            template.at(i, i + 1),
                            "no `{` opens this",
                        )
                        .with_help("write `}}` for a literal brace"),
                    );
                    return None;
                }
                _ => {
                    let len = text[i..].chars().next().map_or(1, char::len_utf8);
                    literal.push_str(&text[i..i + len]);
                    i += len;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(RawPart::Literal(literal));
        }
        Some(ParsedTemplate { parts })
    }

    /// The variable whose `{` is at byte `i`, and the bytes it takes up to
    /// its `}`; reports a `{` never closed or a name that is not one.
    fn template_var(&mut self, template: &TemplateText, i: usize) -> Option<(RawPart, usize)> {
        let text = template.text;
        let Some(len) = text[i + 1..].find('}') else {
            self.report(
                Diagnostic::new(
                    Code::InvalidTemplate,
                    format!("unclosed `{{` in template `{text}`"),
                    template.at(i, i + 1),
                    "opened here",
                )
                .with_help("close the variable with `}`, or write `{{` for a literal brace"),
            );
            return None;
        };
        let name = &text[i + 1..i + 1 + len];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            self.report(
                Diagnostic::new(
                    Code::InvalidTemplate,
                    format!("invalid template variable `{{{name}}}`"),
                    template.at(i, i + len + 2),
                    "not a variable name",
                )
                .with_help("variables are names such as `{path}`; write `{{` and `}}` for literal braces"),
            );
            return None;
        }
        Some((RawPart::Var(name.to_string(), template.at(i, i + len + 2)), len + 2))
    }

    /// Resolves a template's variables against the builtins and the
    /// route's captures.
    pub(super) fn resolve_template(
        &mut self,
        template: &ParsedTemplate,
        captures: &[String],
        used_by: &str,
    ) -> Option<model::Template> {
        let mut parts = Vec::new();
        let mut ok = true;
        for part in &template.parts {
            match part {
                RawPart::Literal(text) => parts.push(TemplatePart::Literal(text.clone())),
                RawPart::Var(name, span) => {
                    if let Some(var) = TemplateVar::builtin(name) {
                        parts.push(TemplatePart::Var(var));
                    } else if captures.iter().any(|c| c == name) {
                        parts.push(TemplatePart::Var(TemplateVar::Capture(name.clone())));
                    } else {
                        let known = TemplateVar::BUILTINS
                            .iter()
                            .copied()
                            .chain(captures.iter().map(String::as_str));
                        let help = did_you_mean(name, known).unwrap_or_else(|| {
                            if captures.is_empty() {
                                format!(
                                    "{used_by} templates know `{{host}}`, `{{path}}`, `{{query}}`, `{{scheme}}`, `{{request_id}}` and the named captures of the route's `path regex`, such as `(?P<{name}>[^/]+)`"
                                )
                            } else {
                                let names: Vec<String> = captures.iter().map(|c| format!("`{{{c}}}`")).collect();
                                format!("this route's `path regex` captures {}", names.join(", "))
                            }
                        });
                        self.report(
                            Diagnostic::new(
                                Code::InvalidTemplate,
                                format!("unknown template variable `{{{name}}}`"),
                                *span,
                                "no capture or builtin has this name",
                            )
                            .with_help(help),
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(model::Template { parts })
    }
}
