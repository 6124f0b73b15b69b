//! Why an artifact was refused. The error is a small opaque struct around
//! a private kind, with a lowercase message that says what to do.

use std::fmt;

/// An artifact that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactError {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Truncated { needed: u64, found: u64 },
    TrailingBytes { expected: u64, found: u64 },
    NotAnArtifact,
    WrongVersion { found: u32 },
    WrongEndianness,
    ChecksumMismatch,
    Misaligned,
    BadSection(String),
    Metadata(String),
    Automaton { which: &'static str, message: String },
    Inconsistent(String),
}

impl ArtifactError {
    pub(crate) fn truncated(needed: u64, found: u64) -> Self {
        Self::from(Kind::Truncated { needed, found })
    }

    pub(crate) fn trailing_bytes(expected: u64, found: u64) -> Self {
        Self::from(Kind::TrailingBytes { expected, found })
    }

    pub(crate) fn not_an_artifact() -> Self {
        Self::from(Kind::NotAnArtifact)
    }

    pub(crate) fn wrong_version(found: u32) -> Self {
        Self::from(Kind::WrongVersion { found })
    }

    pub(crate) fn wrong_endianness() -> Self {
        Self::from(Kind::WrongEndianness)
    }

    pub(crate) fn checksum_mismatch() -> Self {
        Self::from(Kind::ChecksumMismatch)
    }

    pub(crate) fn misaligned() -> Self {
        Self::from(Kind::Misaligned)
    }

    pub(crate) fn bad_section(message: impl Into<String>) -> Self {
        Self::from(Kind::BadSection(message.into()))
    }

    pub(crate) fn metadata(message: impl Into<String>) -> Self {
        Self::from(Kind::Metadata(message.into()))
    }

    pub(crate) fn automaton(which: &'static str, message: impl Into<String>) -> Self {
        Self::from(Kind::Automaton {
            which,
            message: message.into(),
        })
    }

    pub(crate) fn inconsistent(message: impl Into<String>) -> Self {
        Self::from(Kind::Inconsistent(message.into()))
    }

    /// Whether the file is an artifact of another format version.
    pub fn is_wrong_version(&self) -> bool {
        matches!(self.kind, Kind::WrongVersion { .. })
    }

    /// Whether the body does not match its checksum.
    pub fn is_checksum_mismatch(&self) -> bool {
        matches!(self.kind, Kind::ChecksumMismatch)
    }

    /// Whether the file is shorter than its header says.
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, Kind::Truncated { .. })
    }
}

impl From<Kind> for ArtifactError {
    fn from(kind: Kind) -> Self {
        ArtifactError { kind }
    }
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Truncated { needed, found } => write!(
                f,
                "artifact is truncated: it needs {needed} bytes and has {found} (was it copied completely?)"
            ),
            Kind::TrailingBytes { expected, found } => write!(
                f,
                "artifact has {found} bytes where its header says {expected} (rebuild it with zenc)"
            ),
            Kind::NotAnArtifact => write!(f, "not a zentinel artifact (no `.zbin` header); build one with `zenc build`"),
            Kind::WrongVersion { found } => write!(
                f,
                "artifact was built by format version {found}, this program reads version {} (rebuild it with this zenc)",
                crate::format::FORMAT_VERSION
            ),
            Kind::WrongEndianness => write!(
                f,
                "artifact was built on a machine of the other byte order (rebuild it on a machine like this one)"
            ),
            Kind::ChecksumMismatch => write!(f, "artifact is corrupted: its checksum does not match its contents"),
            Kind::Misaligned => write!(f, "artifact bytes are not 8-byte aligned in memory (load it with `AlignedBytes`)"),
            Kind::BadSection(message) => write!(f, "artifact has a bad section table: {message}"),
            Kind::Metadata(message) => write!(f, "artifact metadata does not decode: {message}"),
            Kind::Automaton { which, message } => write!(f, "artifact {which} automaton is invalid: {message}"),
            Kind::Inconsistent(message) => write!(f, "artifact is inconsistent: {message}"),
        }
    }
}

impl std::error::Error for ArtifactError {}
