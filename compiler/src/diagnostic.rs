//! Diagnostics as data: a stable code, a severity, a message in the house
//! style (lowercase, user input in backticks, no final period), labelled
//! spans and an optional help line. Rendering (human, JSON, GitHub) lives
//! in `render`; every phase of the compiler only produces these.

use crate::source::Span;

/// Declares `Code`, its stable strings and `Code::ALL` from one list, so
/// that none of the three can leave a code out.
macro_rules! codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every diagnostic the compiler can emit. The codes are stable:
        /// tools and people search for them, and `docs/diagnostics.md`
        /// explains each one. A retired code is never given out again.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable code users see, e.g. `Z0101`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }
        }
    };
}

codes! {
    Syntax => "Z0001",
    InvalidEscape => "Z0002",
    CannotRead => "Z0003",
    UnknownModule => "Z0004",
    ImportCycle => "Z0005",
    InvalidLiteral => "Z0006",
    // Z0007 (not supported by this version) is retired: agents now see bodies.
    UnknownName => "Z0101",
    DuplicateName => "Z0102",
    WrongUnit => "Z0201",
    OutOfRange => "Z0202",
    InvalidAddress => "Z0203",
    InvalidHeaderName => "Z0204",
    InvalidMethod => "Z0205",
    InvalidHost => "Z0206",
    InvalidPath => "Z0207",
    DuplicateSetting => "Z0208",
    MissingSetting => "Z0209",
    InvalidHeaderValue => "Z0210",
    GlobalOnlyLimit => "Z0211",
    TwoActions => "Z0301",
    DuplicateCondition => "Z0302",
    ModifierMismatch => "Z0303",
    InvalidTemplate => "Z0304",
    SplitSum => "Z0305",
    // Z0306 (a route without an action) is retired: such a route answers 404.
    PolicyCycle => "Z0307",
    InvalidRegex => "Z0401",
    RegexTooLarge => "Z0402",
    NoListener => "Z0501",
    NoServer => "Z0502",
    NoSocket => "Z0503",
    EmptyTest => "Z0504",
    UnusedUpstream => "Z0601",
    UnusedAgent => "Z0602",
    UnusedPolicy => "Z0603",
    AmbiguousRoutes => "Z0701",
    UnreachableRoute => "Z0702",
}

impl Code {
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
