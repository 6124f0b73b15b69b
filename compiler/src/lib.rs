//! zenc: the Zen policy compiler. Parsing (`syntax`), loading with imports
//! (`loader`), checking and lowering (`check`), formatting (`fmt`) and the
//! renderers of diagnostics (`render`). The binary in `main.rs` is a thin
//! command-line layer over this library.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod fmt;
pub mod loader;
pub mod render;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod synth;

use std::path::Path;

use crate::check::Checked;
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::{Program, ReadError};

/// The outcome of loading and checking one policy.
#[derive(Debug)]
pub struct Compilation {
    pub program: Program,
    /// Present when there was no error.
    pub checked: Option<Checked>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn has_warnings(&self) -> bool {
        self.diagnostics.iter().any(|d| !d.is_error())
    }
}

/// Loads, parses and checks the policy at `path` with everything it
/// imports. `Err` only when the file itself cannot be read.
pub fn check_path(path: &Path) -> Result<Compilation, ReadError> {
    let (program, diagnostics) = loader::load(path)?;
    Ok(finish(program, diagnostics))
}

/// As `check_path`, for a root file whose text is already in hand.
pub fn check_source(path: &Path, text: &str) -> Compilation {
    let (program, diagnostics) = loader::load_source(path, text);
    finish(program, diagnostics)
}

fn finish(program: Program, mut diagnostics: Vec<Diagnostic>) -> Compilation {
    // A file that did not load leaves names undefined; checking the rest
    // would bury the real error under consequences of it.
    let loaded = !diagnostics.iter().any(|d| {
        matches!(
            d.code,
            Code::Syntax | Code::CannotRead | Code::UnknownModule | Code::ImportCycle
        )
    });
    let checked = if loaded {
        let (checked, found) = check::check(&program);
        diagnostics.extend(found);
        checked.filter(|_| !diagnostics.iter().any(Diagnostic::is_error))
    } else {
        None
    };
    diagnostics.sort_by_key(|d| (d.primary_span().file, d.primary_span().start));
    Compilation {
        program,
        checked,
        diagnostics,
    }
}
