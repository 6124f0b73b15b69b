//! Renderers for diagnostics: human (miette; graphical only with the `cli`
//! feature), JSON (one object per line) and GitHub workflow annotations.
//! Each takes the data and the sources, nothing else.

use miette::{LabeledSpan, NamedSource, SourceSpan};
use serde_json::json;

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};

/// A diagnostic with its sources, in the shape miette renders. Labels in
/// other files than the primary one become related notes.
#[derive(Debug)]
pub struct MietteDiagnostic {
    message: String,
    code: String,
    severity: miette::Severity,
    help: Option<String>,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteDiagnostic>,
}

impl std::fmt::Display for MietteDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteDiagnostic {}

impl miette::Diagnostic for MietteDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(&self.code) as Box<dyn std::fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|d| d as &dyn miette::Diagnostic)))
        }
    }
}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new(span.start.into(), span.len())
}

impl MietteDiagnostic {
    pub fn new(diagnostic: &Diagnostic, sources: &SourceMap) -> Self {
        let primary = diagnostic.primary_span().file;
        let file = sources.get(primary);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for (i, label) in diagnostic.labels.iter().enumerate() {
            let text = (!label.message.is_empty()).then(|| label.message.clone());
            if label.span.file == primary {
                labels.push(if i == 0 {
                    LabeledSpan::new_primary_with_span(text, source_span(label.span))
                } else {
                    LabeledSpan::new_with_span(text, source_span(label.span))
                });
            } else {
                let other = sources.get(label.span.file);
                related.push(MietteDiagnostic {
                    message: label.message.clone(),
                    code: String::new(),
                    severity: miette::Severity::Advice,
                    help: None,
                    source: NamedSource::new(other.name.clone(), other.text.to_string()),
                    labels: vec![LabeledSpan::new_with_span(None, source_span(label.span))],
                    related: Vec::new(),
                });
            }
        }
        MietteDiagnostic {
            message: diagnostic.message.clone(),
            code: diagnostic.code.as_str().to_string(),
            severity: match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            help: diagnostic.help.clone(),
            source: NamedSource::new(file.name.clone(), file.text.to_string()),
            labels,
            related,
        }
    }
}

/// Renders diagnostics for a terminal (`color`) or for plain text.
#[cfg(feature = "cli")]
pub fn human(diagnostics: &[Diagnostic], sources: &SourceMap, color: bool, width: usize) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let rendered = MietteDiagnostic::new(diagnostic, sources);
        // Writing to a String cannot fail, and miette renders even a span
        // it cannot read (with a note saying so): nothing is dropped.
        let _ = handler.render_report(&mut out, &rendered);
    }
    out
}

/// 1-based line and column of both ends of a span.
fn position(span: Span, sources: &SourceMap) -> (usize, usize, usize, usize) {
    let file = sources.get(span.file);
    let (line, column) = file.line_col(span.start);
    let (end_line, end_column) = file.line_col(span.end);
    (line, column, end_line, end_column)
}

/// One JSON object for a diagnostic, with the fields LANGUAGE.md §8 fixes
/// and every label.
pub fn json_value(diagnostic: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let span = diagnostic.primary_span();
    let (line, column, end_line, end_column) = position(span, sources);
    let labels: Vec<serde_json::Value> = diagnostic
        .labels
        .iter()
        .map(|label| {
            let (line, column, end_line, end_column) = position(label.span, sources);
            json!({
                "file": sources.get(label.span.file).name,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "message": label.message,
            })
        })
        .collect();
    json!({
        "code": diagnostic.code.as_str(),
        "severity": diagnostic.severity.as_str(),
        "message": diagnostic.message,
        "file": sources.get(span.file).name,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "help": diagnostic.help,
        "labels": labels,
    })
}

/// One JSON object per line.
pub fn json(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&json_value(diagnostic, sources).to_string());
        out.push('\n');
    }
    out
}

/// GitHub workflow commands (`::error file=...::message`), one per line.
pub fn github(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let span = diagnostic.primary_span();
        let (line, column, end_line, end_column) = position(span, sources);
        let mut message = diagnostic.message.clone();
        if let Some(label) = diagnostic.labels.first().filter(|l| !l.message.is_empty()) {
            message.push_str(": ");
            message.push_str(&label.message);
        }
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{} file={},line={line},col={column},endLine={end_line},endColumn={end_column},title={}::{}\n",
            diagnostic.severity.as_str(),
            escape_property(&sources.get(span.file).name),
            escape_property(diagnostic.code.as_str()),
            escape_data(&message),
        ));
    }
    out
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;
    use crate::diagnostic::Code;
    use crate::source::{SourceFile, SourceMap, Span};

    #[test]
    fn a_diagnostic_with_a_span_miette_cannot_read_is_still_shown() {
        let mut sources = SourceMap::new();
        let file = sources.add(SourceFile::new("site.zen", "route a {}\n"));
        // A span past the end of its file: miette refuses to read it.
        let diagnostic = Diagnostic::new(
            Code::UnknownName,
            "unknown upstream `api`",
            Span::new(file, 500, 510),
            "here",
        )
        .with_help("did you mean `app`?");
        let out = human(&[diagnostic], &sources, false, 80);
        assert!(out.contains("unknown upstream `api`"), "{out}");
        assert!(out.contains("Z0101"), "{out}");
        assert!(out.contains("did you mean `app`?"), "{out}");
    }
}
