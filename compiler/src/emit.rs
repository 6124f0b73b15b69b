//! Building the automata and writing the artifact. The host and path
//! automata are anchored multi-pattern dense DFAs (MatchKind::All, no
//! Unicode) whose end-of-input state names every pattern that matches the
//! whole input; header-value regexes get one small DFA each. Output is
//! deterministic: the same sources give the same bytes.

use regex_automata::dfa::dense::DFA;
use sha2::{Digest, Sha256};
use zbin::format::{self, SectionKind};
use zbin::table::{Meta, Slice, SourceInfo};

use crate::analyze::Layout;
use crate::loader::Program as Sources;

/// The built automata of one policy.
#[derive(Debug)]
pub struct Automata {
    pub hosts: Option<DFA<Vec<u32>>>,
    pub paths: Option<DFA<Vec<u32>>>,
    pub values: Vec<DFA<Vec<u32>>>,
}

/// The largest the host or the path automaton may be, in bytes: each
/// regex is capped on its own (`check::regex`), but patterns can multiply
/// when determinized together (`.*a.{12}` beside `.*b.{12}`).
pub const AUTOMATON_SIZE_CAP: usize = 128 << 20;

/// Why the automata of a policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The `automaton` ("host" or "path") would be larger than `cap`.
    TooLarge { automaton: &'static str, cap: usize },
    /// Anything else: an internal error, since every pattern was checked.
    Other(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::TooLarge { automaton, cap } if cap >> 20 > 0 => {
                write!(f, "the {automaton} automaton would be larger than {} MiB", cap >> 20)
            }
            BuildError::TooLarge { automaton, cap } => {
                write!(f, "the {automaton} automaton would be larger than {} KiB", cap >> 10)
            }
            BuildError::Other(message) => f.write_str(message),
        }
    }
}

fn build(patterns: &[String], reverse: bool, automaton: &'static str, cap: usize) -> Result<DFA<Vec<u32>>, BuildError> {
    let mut builder = crate::analyze::automata::builder(reverse);
    builder
        .thompson(
            regex_automata::nfa::thompson::Config::new()
                .utf8(false)
                .reverse(reverse)
                .nfa_size_limit(Some(cap)),
        )
        .configure(
            DFA::config()
                .dfa_size_limit(Some(cap))
                .determinize_size_limit(Some(2 * cap)),
        );
    builder.build_many(patterns).map_err(|e| {
        let nfa_too_large = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<regex_automata::nfa::thompson::BuildError>())
            .is_some_and(|n| n.size_limit().is_some());
        if e.is_size_limit_exceeded() || nfa_too_large {
            BuildError::TooLarge { automaton, cap }
        } else {
            BuildError::Other(e.to_string())
        }
    })
}

/// Builds every automaton the layout needs.
pub fn build_automata(layout: &Layout) -> Result<Automata, BuildError> {
    build_automata_within(layout, AUTOMATON_SIZE_CAP)
}

/// As `build_automata`, with `cap` for the size of each automaton.
pub fn build_automata_within(layout: &Layout, cap: usize) -> Result<Automata, BuildError> {
    let hosts: Vec<String> = layout.host_patterns.iter().map(|p| p.regex()).collect();
    let paths: Vec<String> = layout.path_patterns.iter().map(|p| p.regex()).collect();
    Ok(Automata {
        // Hosts differ at their ends (`*.example.org`, `[a-z]+\.api\.net`):
        // read backwards, those ends are literal prefixes and the automaton
        // stays a trie; forwards, every pattern's leading loop would be
        // live at once during determinization.
        hosts: (!hosts.is_empty())
            .then(|| build(&hosts, true, "host", cap))
            .transpose()?,
        paths: (!paths.is_empty())
            .then(|| build(&paths, false, "path", cap))
            .transpose()?,
        values: layout
            .value_regexes
            .iter()
            .map(|r| build(std::slice::from_ref(r), false, "header value", cap))
            .collect::<Result<_, _>>()?,
    })
}

/// The number of states reachable from the anchored start state.
pub fn state_count(dfa: &DFA<Vec<u32>>) -> usize {
    use regex_automata::dfa::Automaton as _;
    let Ok(start) =
        dfa.start_state(&regex_automata::util::start::Config::new().anchored(regex_automata::Anchored::Yes))
    else {
        return 0;
    };
    let classes = dfa.byte_classes();
    let representatives: Vec<u8> = classes.representatives(..).filter_map(|u| u.as_u8()).collect();
    let mut seen = std::collections::HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(state) = stack.pop() {
        for &byte in &representatives {
            let next = dfa.next_state(state, byte);
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen.len()
}

fn serialize(dfa: &DFA<Vec<u32>>) -> Vec<u8> {
    let (bytes, padding) = dfa.to_bytes_native_endian();
    bytes[padding..].to_vec()
}

/// SHA-256 over every source, in load order, each as length and content
/// (names are left out so that the digest does not depend on the
/// directory a build runs in).
pub fn source_digest(sources: &Sources) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for (_, file) in sources.sources.files() {
        hasher.update((file.text.len() as u64).to_le_bytes());
        hasher.update(file.text.as_bytes());
    }
    hasher.finalize().into()
}

/// A source's name relative to the root file's directory (stdlib modules
/// keep `std/NAME`), so that where a build runs does not change the bytes:
/// `../lib/x.zen` whether `zenc` ran beside the policy or above it.
fn portable_name(id: crate::source::FileId, sources: &Sources) -> String {
    use crate::loader::{absolute, relative_to};
    let name = &sources.sources.get(id).name;
    if sources.module(id).is_some_and(|m| m.is_stdlib) {
        return name.clone();
    }
    let root = std::path::Path::new(&sources.sources.get(sources.root).name);
    let dir = absolute(root.parent().unwrap_or(std::path::Path::new("")));
    relative_to(&absolute(std::path::Path::new(name)), &dir)
        .display()
        .to_string()
}

/// The digest and the list of sources of a loaded program.
pub fn provenance(sources: &Sources) -> ([u8; 32], Vec<SourceInfo>) {
    let list = sources
        .sources
        .files()
        .map(|(id, f)| SourceInfo {
            name: portable_name(id, sources),
            bytes: f.text.len() as u64,
        })
        .collect();
    (source_digest(sources), list)
}

/// Compiles a checked policy straight to an artifact, without analysis;
/// for tests and benchmarks that build route sets directly.
pub fn artifact_for(policy: &zbin::model::Policy) -> Result<Vec<u8>, String> {
    let layout = crate::analyze::layout(policy);
    let automata = build_automata(&layout).map_err(|e| e.to_string())?;
    Ok(write(policy, &layout, &automata, [0; 32], Vec::new()))
}

/// Writes the artifact.
pub fn write(
    policy: &zbin::model::Policy,
    layout: &Layout,
    automata: &Automata,
    digest: [u8; 32],
    sources: Vec<SourceInfo>,
) -> Vec<u8> {
    let mut values = Vec::new();
    let mut slices = Vec::new();
    for dfa in &automata.values {
        let bytes = serialize(dfa);
        slices.push(Slice {
            offset: values.len() as u64,
            len: bytes.len() as u64,
        });
        values.extend_from_slice(&bytes);
        values.resize(values.len().div_ceil(8) * 8, 0);
    }
    let meta = Meta {
        policy: policy.clone(),
        sources,
        conditions: layout.conditions.clone(),
        alternatives: layout.alternatives.clone(),
        buckets: layout.buckets.clone(),
        host_patterns: layout.host_patterns.len() as u32,
        path_patterns: layout.path_patterns.len() as u32,
        value_automata: slices,
    };
    let meta_bytes = zbin::codec::encode_meta(&meta);
    let hosts = automata.hosts.as_ref().map(serialize);
    let paths = automata.paths.as_ref().map(serialize);
    let mut sections: Vec<(SectionKind, &[u8])> = vec![(SectionKind::Meta, &meta_bytes)];
    if let Some(hosts) = &hosts {
        sections.push((SectionKind::HostAutomaton, hosts));
    }
    if let Some(paths) = &paths {
        sections.push((SectionKind::PathAutomaton, paths));
    }
    if !values.is_empty() {
        sections.push((SectionKind::ValueAutomata, &values));
    }
    format::write(digest, env!("CARGO_PKG_VERSION"), &sections)
}

/// Rewrites the policy's relative paths (relative to the root file's
/// directory) to be relative to `artifact_dir`, where the runtime will
/// resolve them.
pub fn rebase(policy: &mut zbin::model::Policy, root_dir: &std::path::Path, artifact_dir: &std::path::Path) {
    use crate::loader::{absolute, relative_to};
    let root = absolute(root_dir);
    let base = absolute(artifact_dir);
    if root == base {
        return;
    }
    let fix = |path: &mut String| {
        if std::path::Path::new(path.as_str()).is_relative() {
            let target = absolute(&root.join(path.as_str()));
            let relative = relative_to(&target, &base);
            *path = if relative.as_os_str().is_empty() {
                ".".to_string()
            } else {
                relative.display().to_string()
            };
        }
    };
    for listener in &mut policy.listeners {
        if let Some(tls) = &mut listener.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
            for sni in &mut tls.sni {
                fix(&mut sni.cert);
                fix(&mut sni.key);
            }
        }
    }
    for agent in &mut policy.agents {
        fix(&mut agent.socket);
    }
    for route in &mut policy.routes {
        if let zbin::model::Action::Static { root, .. } = &mut route.action {
            fix(root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_of(routes: usize) -> Layout {
        let mut text = String::from("listen \"127.0.0.1:8080\"\n");
        for i in 0..routes {
            let letter = char::from(b'a' + i as u8);
            text.push_str(&format!(
                "route r{i} {{\n    priority {i}\n    path regex r\"/(?s:.)*{letter}[^/]{{6}}\"\n    respond 200\n}}\n"
            ));
        }
        let (program, _) = crate::loader::load_source(std::path::Path::new("t.zen"), &text);
        let (checked, diagnostics) = crate::check::check(&program);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        crate::analyze::layout(&checked.expect("checks").policy)
    }

    #[test]
    fn regexes_that_multiply_together_are_refused_at_the_cap() {
        let layout = layout_of(8);
        // Each regex is small, and so are two of them together...
        assert!(build_automata_within(&layout_of(2), 256 << 10).is_ok());
        // ...but eight unanchored ones determinize past the cap.
        assert_eq!(
            build_automata_within(&layout, 256 << 10).map(|_| ()),
            Err(BuildError::TooLarge {
                automaton: "path",
                cap: 256 << 10
            })
        );
        assert_eq!(
            BuildError::TooLarge {
                automaton: "path",
                cap: 256 << 10
            }
            .to_string(),
            "the path automaton would be larger than 256 KiB"
        );
    }
}
