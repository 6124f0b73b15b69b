//! zenc: the Zen policy compiler. Parsing (`syntax`), loading with imports
//! (`loader`), checking and lowering (`check`), formatting (`fmt`) and the
//! renderers of diagnostics (`render`). The binary in `main.rs` is a thin
//! command-line layer over this library.

pub mod analyze;
pub mod ast;
pub mod build;
pub mod check;
pub mod diagnostic;
pub mod emit;
pub mod explain;
pub mod fmt;
pub mod fuzzing;
pub mod inspect;
pub mod loader;
pub mod reference;
pub mod render;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod synth;
pub mod testing;

use std::path::Path;

use crate::check::Checked;
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::{Program, ReadError};
use crate::source::Span;

/// The outcome of loading, checking and compiling one policy: the
/// program as loaded, its diagnostics, and, when nothing was wrong, the
/// policy built.
#[derive(Debug)]
pub struct Compilation {
    pub program: Program,
    /// Present when there was no error.
    pub built: Option<Built>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// A policy that checked clean, laid out and built, and whose analysis
/// found nothing wrong: all that `emit` writes.
#[derive(Debug)]
pub struct Built {
    pub checked: Checked,
    pub layout: build::Layout,
    pub automata: build::Automata,
    pub stats: BuildStats,
}

/// Figures about a build, for `zenc build`'s summary.
#[derive(Debug, Clone, Copy)]
pub struct BuildStats {
    pub routes: usize,
    pub alternatives: usize,
    pub host_patterns: usize,
    pub path_patterns: usize,
    pub host_states: usize,
    pub path_states: usize,
    pub automata_bytes: usize,
}

impl Compilation {
    /// The `.zbin` bytes, present when there was no error, written on
    /// demand (checking alone never pays for it). Relative paths in it are
    /// relative to the root file's directory: the artifact belongs beside
    /// its source (see `artifact_at` for elsewhere).
    pub fn artifact(&self) -> Option<Vec<u8>> {
        let built = self.built.as_ref()?;
        let (digest, sources) = emit::provenance(&self.program);
        Some(emit::write(
            &built.checked.policy,
            &built.layout,
            &built.automata,
            digest,
            sources,
        ))
    }

    /// The checked policy, its tests and spans, when there was no error.
    pub fn checked(&self) -> Option<&Checked> {
        self.built.as_ref().map(|b| &b.checked)
    }

    /// The artifact for a file in `dir`: relative paths rebased so that
    /// they still name the same files from there.
    pub fn artifact_at(&self, dir: &Path) -> Option<Vec<u8>> {
        let built = self.built.as_ref()?;
        let root_dir = self
            .program
            .module(self.program.root)
            .and_then(|m| m.dir.clone())
            .unwrap_or_default();
        let mut policy = built.checked.policy.clone();
        emit::rebase(&mut policy, &root_dir, dir);
        let (digest, sources) = emit::provenance(&self.program);
        Some(emit::write(&policy, &built.layout, &built.automata, digest, sources))
    }

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

/// A combined automaton that cannot be built: pointed at the routes whose
/// regexes go into it (literal patterns never make it grow).
fn automaton_error(error: &build::BuildError, checked: &Checked, program: &Program) -> Diagnostic {
    let regex_routes: Vec<Span> = checked
        .policy
        .routes
        .iter()
        .zip(&checked.route_spans)
        .filter(|(route, _)| match error {
            build::BuildError::TooLarge { automaton: "host", .. } => {
                matches!(route.host, zbin::model::HostMatch::Regex(_))
            }
            _ => matches!(route.path, zbin::model::PathMatch::Regex(_)),
        })
        .map(|(_, span)| *span)
        .collect();
    let Some((&first, rest)) = regex_routes.split_first() else {
        return Diagnostic::new(
            Code::RegexTooLarge,
            format!("the route automaton cannot be built: {error}"),
            program.root_span(),
            "while building the automata of this policy",
        );
    };
    let mut diagnostic = Diagnostic::new(
        Code::RegexTooLarge,
        format!("the route automaton cannot be built: {error}"),
        first,
        "a regex of this route goes into it",
    )
    .with_help(
        "each regex is small on its own, but together they multiply: anchor regexes with a literal start (`/api/...` rather than `.*api`), or turn regexes into `path prefix` and `path` conditions",
    );
    for span in rest.iter().take(4) {
        diagnostic = diagnostic.with_label(*span, "and of this one");
    }
    diagnostic
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
    let mut laps = Laps::new("");
    let checked = if loaded {
        let (checked, found) = check::check(&program);
        diagnostics.extend(found);
        checked.filter(|_| !diagnostics.iter().any(Diagnostic::is_error))
    } else {
        None
    };
    laps.lap("load and check");
    let built = checked.and_then(|checked| build_checked(checked, &program, &mut diagnostics, &mut laps));
    diagnostics.sort_by_key(|d| (d.primary_span().file, d.primary_span().start));
    Compilation {
        program,
        built,
        diagnostics,
    }
}

/// Lays out, builds and analyses a checked policy; `None` when an
/// automaton cannot be built or the analysis finds an error (reported in
/// `diagnostics`).
fn build_checked(
    checked: Checked,
    program: &Program,
    diagnostics: &mut Vec<Diagnostic>,
    laps: &mut Laps,
) -> Option<Built> {
    let layout = build::layout(&checked.policy);
    laps.lap("layout");
    let automata = match build::build_automata(&layout) {
        Ok(automata) => automata,
        Err(error) => {
            diagnostics.push(automaton_error(&error, &checked, program));
            return None;
        }
    };
    laps.lap("automata");
    let findings = analyze::analyze(
        &checked.policy,
        &layout,
        automata.hosts.as_ref(),
        automata.paths.as_ref(),
    );
    diagnostics.extend(analyze::report::diagnostics(
        &findings,
        &checked.policy,
        &checked.route_spans,
    ));
    laps.lap("analysis");
    if diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    let stats = BuildStats {
        routes: checked.policy.routes.len(),
        alternatives: layout.alternatives.len(),
        host_patterns: layout.host_patterns.len(),
        path_patterns: layout.path_patterns.len(),
        host_states: automata.hosts.as_ref().map_or(0, build::state_count),
        path_states: automata.paths.as_ref().map_or(0, build::state_count),
        automata_bytes: automata.hosts.as_ref().map_or(0, |d| d.memory_usage())
            + automata.paths.as_ref().map_or(0, |d| d.memory_usage())
            + automata.values.iter().map(|d| d.memory_usage()).sum::<usize>(),
    };
    Some(Built {
        checked,
        layout,
        automata,
        stats,
    })
}

/// Lays out, builds and analyses `policy` (already checked): what
/// `zenc check` reports of its routes, as data.
pub fn findings(policy: &zbin::model::Policy) -> Result<analyze::Findings, String> {
    let layout = build::layout(policy);
    let automata = build::build_automata(&layout).map_err(|e| e.to_string())?;
    Ok(analyze::analyze(
        policy,
        &layout,
        automata.hosts.as_ref(),
        automata.paths.as_ref(),
    ))
}

/// Compiles a checked policy straight to an artifact, without analysis;
/// for tests and benchmarks that build route sets directly.
pub fn artifact_for(policy: &zbin::model::Policy) -> Result<Vec<u8>, String> {
    let layout = build::layout(policy);
    let automata = build::build_automata(&layout).map_err(|e| e.to_string())?;
    Ok(emit::write(policy, &layout, &automata, [0; 32], Vec::new()))
}

/// The time of each compiler phase, printed to stderr when `ZENC_TIMINGS`
/// is set; `indent` sets a phase's parts apart from the phases.
pub(crate) struct Laps {
    on: bool,
    indent: &'static str,
    clock: std::time::Instant,
}

impl Laps {
    pub(crate) fn new(indent: &'static str) -> Laps {
        Laps {
            on: std::env::var_os("ZENC_TIMINGS").is_some(),
            indent,
            clock: std::time::Instant::now(),
        }
    }

    /// Prints the time since the last lap as `phase`'s.
    pub(crate) fn lap(&mut self, phase: &str) {
        if self.on {
            let ms = self.clock.elapsed().as_secs_f64() * 1e3;
            eprintln!("zenc: {}{phase} {ms:.1} ms", self.indent);
        }
        self.clock = std::time::Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automaton_too_large_points_at_the_routes_whose_regexes_go_into_it() {
        let text = r#"listen "127.0.0.1:8080"
route plain { path prefix "/p"; respond 200 }
route first { path regex r"/a/.*x"; respond 200 }
route hosts { host regex r"[a-z]+\.com"; respond 200 }
route second { path regex r"/b/.*y"; respond 200 }
"#;
        let compilation = check_source(Path::new("site.zen"), text);
        let checked = compilation.checked().expect("checks");
        let error = build::BuildError::TooLarge {
            automaton: "path",
            cap: 128 << 20,
        };
        let diagnostic = automaton_error(&error, checked, &compilation.program);
        assert_eq!(diagnostic.code, Code::RegexTooLarge);
        assert_eq!(
            diagnostic.message,
            "the route automaton cannot be built: the path automaton would be larger than 128 MiB"
        );
        let named: Vec<&str> = diagnostic
            .labels
            .iter()
            .map(|l| &text[l.span.start..l.span.end])
            .collect();
        assert_eq!(named, ["first", "second"]);
        let host_error = build::BuildError::TooLarge {
            automaton: "host",
            cap: 128 << 20,
        };
        let diagnostic = automaton_error(&host_error, checked, &compilation.program);
        assert_eq!(
            &text[diagnostic.labels[0].span.start..diagnostic.labels[0].span.end],
            "hosts"
        );
    }
}
