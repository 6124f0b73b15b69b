//! `zenc inspect`: an artifact's header, sources, sections and contents,
//! in words.

use std::fmt::Write;
use std::path::Path;

use zbin::format::SectionKind;

/// A description of a verified artifact.
pub fn describe(path: &Path, program: &zbin::Program<'_>) -> String {
    let header = &program.header;
    let meta = &program.meta;
    let policy = program.policy();
    let mut out = String::new();
    let _ = writeln!(out, "{}: zentinel artifact, verified", path.display());
    let _ = writeln!(out, "  format version   {}", header.format_version);
    let _ = writeln!(out, "  built by         zenc {}", header.compiler_version);
    let _ = writeln!(out, "  size             {} bytes", header.total_len);
    let _ = writeln!(out, "  checksum         xxh3-64 {:016x}", header.checksum);
    let _ = writeln!(out, "  source digest    sha256 {}", header.digest_hex());
    let _ = writeln!(out, "  sources");
    for source in &meta.sources {
        let _ = writeln!(out, "    {:<40} {} bytes", source.name, source.bytes);
    }
    let _ = writeln!(out, "  sections");
    for section in &header.sections {
        let detail = match section.kind {
            SectionKind::Meta => format!(
                "{} routes, {} alternatives, {} buckets",
                policy.routes.len(),
                meta.alternatives.len(),
                meta.buckets.len()
            ),
            SectionKind::HostAutomaton => format!("{} host patterns", meta.host_patterns),
            SectionKind::PathAutomaton => format!("{} path patterns", meta.path_patterns),
            SectionKind::ValueAutomata => format!("{} header value automata", meta.value_automata.len()),
        };
        let _ = writeln!(
            out,
            "    {:<16} offset {:>8}  size {:>9}  {detail}",
            section.kind.name(),
            section.offset,
            section.len
        );
    }
    let _ = writeln!(
        out,
        "  policy           {} listeners, {} upstreams, {} agents, {} routes",
        policy.listeners.len(),
        policy.upstreams.len(),
        policy.agents.len(),
        policy.routes.len()
    );
    out
}
