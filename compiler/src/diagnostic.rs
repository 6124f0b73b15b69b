//! Diagnostics as data: a stable code, a severity, a message in the house
//! style (lowercase, user input in backticks, no final period), labelled
//! spans and an optional help line. Rendering (human, JSON, GitHub) lives
//! in `render`; every phase of the compiler only produces these.

use crate::source::Span;

/// Every diagnostic the compiler can emit. The codes are stable: tools and
/// people search for them, and `docs/diagnostics.md` explains each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Syntax,
    InvalidEscape,
    CannotRead,
    UnknownModule,
    ImportCycle,
    InvalidLiteral,
    Unsupported,
    UnknownName,
    DuplicateName,
    WrongUnit,
    OutOfRange,
    InvalidAddress,
    InvalidHeaderName,
    InvalidHeaderValue,
    InvalidMethod,
    InvalidHost,
    InvalidPath,
    DuplicateSetting,
    MissingSetting,
    TwoActions,
    DuplicateCondition,
    ModifierMismatch,
    InvalidTemplate,
    SplitSum,
    NoAction,
    PolicyCycle,
    InvalidRegex,
    RegexTooLarge,
    AmbiguousRoutes,
    UnreachableRoute,
    NoListener,
    NoServer,
    NoSocket,
    EmptyTest,
    UnusedUpstream,
    UnusedAgent,
    UnusedPolicy,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::Syntax,
        Code::InvalidEscape,
        Code::CannotRead,
        Code::UnknownModule,
        Code::ImportCycle,
        Code::InvalidLiteral,
        Code::Unsupported,
        Code::UnknownName,
        Code::DuplicateName,
        Code::WrongUnit,
        Code::OutOfRange,
        Code::InvalidAddress,
        Code::InvalidHeaderName,
        Code::InvalidHeaderValue,
        Code::InvalidMethod,
        Code::InvalidHost,
        Code::InvalidPath,
        Code::DuplicateSetting,
        Code::MissingSetting,
        Code::TwoActions,
        Code::DuplicateCondition,
        Code::ModifierMismatch,
        Code::InvalidTemplate,
        Code::SplitSum,
        Code::NoAction,
        Code::PolicyCycle,
        Code::InvalidRegex,
        Code::RegexTooLarge,
        Code::AmbiguousRoutes,
        Code::UnreachableRoute,
        Code::NoListener,
        Code::NoServer,
        Code::NoSocket,
        Code::EmptyTest,
        Code::UnusedUpstream,
        Code::UnusedAgent,
        Code::UnusedPolicy,
    ];

    /// The stable code users see, e.g. `Z0101`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "Z0001",
            Code::InvalidEscape => "Z0002",
            Code::CannotRead => "Z0003",
            Code::UnknownModule => "Z0004",
            Code::ImportCycle => "Z0005",
            Code::InvalidLiteral => "Z0006",
            Code::Unsupported => "Z0007",
            Code::UnknownName => "Z0101",
            Code::DuplicateName => "Z0102",
            Code::WrongUnit => "Z0201",
            Code::OutOfRange => "Z0202",
            Code::InvalidAddress => "Z0203",
            Code::InvalidHeaderName => "Z0204",
            Code::InvalidMethod => "Z0205",
            Code::InvalidHost => "Z0206",
            Code::InvalidPath => "Z0207",
            Code::DuplicateSetting => "Z0208",
            Code::MissingSetting => "Z0209",
            Code::InvalidHeaderValue => "Z0210",
            Code::TwoActions => "Z0301",
            Code::DuplicateCondition => "Z0302",
            Code::ModifierMismatch => "Z0303",
            Code::InvalidTemplate => "Z0304",
            Code::SplitSum => "Z0305",
            Code::NoAction => "Z0306",
            Code::PolicyCycle => "Z0307",
            Code::InvalidRegex => "Z0401",
            Code::RegexTooLarge => "Z0402",
            Code::AmbiguousRoutes => "Z0701",
            Code::UnreachableRoute => "Z0702",
            Code::NoListener => "Z0501",
            Code::NoServer => "Z0502",
            Code::NoSocket => "Z0503",
            Code::EmptyTest => "Z0504",
            Code::UnusedUpstream => "Z0601",
            Code::UnusedAgent => "Z0602",
            Code::UnusedPolicy => "Z0603",
        }
    }

    /// The default severity of the code.
    pub fn severity(self) -> Severity {
        match self {
            Code::UnusedUpstream | Code::UnusedAgent | Code::UnusedPolicy => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A span with the words that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary one: it gives the file, line and
    /// column that machine-readable formats report.
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic of `code`'s default severity, pointing at `span`.
    pub fn new(code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
            }],
            help: None,
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Appends a help line, or adds one if there is none yet.
    pub fn with_optional_help(self, help: Option<String>) -> Self {
        match help {
            Some(help) => self.with_help(help),
            None => self,
        }
    }

    pub fn primary_span(&self) -> Span {
        self.labels[0].span
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest candidate to `name`, if one is close enough to be a likely
/// typo, phrased as a help line.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(name, candidate);
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}
