//! zbin: the contract between `zenc` and `zentinel`. It holds the checked
//! policy model, request normalization, the artifact format and the code
//! that loads and matches a compiled policy. It links no parser and no
//! diagnostics renderer: the runtime depends on this crate alone.
//!
//! Building automata is the compiler's half; this crate only loads and
//! walks them (regex-automata's search side).

pub mod codec;
pub mod error;
pub mod format;
pub mod matcher;
pub mod model;
pub mod normalize;
pub mod program;
pub mod table;

pub use error::ArtifactError;
pub use format::AlignedBytes;
pub use matcher::{HeaderSource, Match, Request};
pub use program::Program;

/// The regex syntax every side uses: bytes, ASCII classes, `(?i)` for
/// ASCII case folding. The compiler builds with it and the runtime builds
/// its capture extractors with it, so both read a pattern alike.
pub fn regex_syntax_config() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new().unicode(false).utf8(false)
}
