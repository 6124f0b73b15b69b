//! Writing the artifact: the route table and automata of `build`, the
//! policy's metadata and the provenance of its sources, in the sections of
//! `zbin::format`. Output is deterministic: the same sources give the same
//! bytes.

use regex_automata::dfa::dense::DFA;
use sha2::{Digest, Sha256};
use zbin::format::{self, SectionKind};
use zbin::table::{Meta, Slice, SourceInfo};

use crate::build::{Automata, Layout};
use crate::loader::Program as Sources;

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
