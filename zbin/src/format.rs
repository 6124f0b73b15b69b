//! The `.zbin` container: a fixed header, a section table and 8-byte
//! aligned sections. Every length and offset read from a file goes through
//! checked arithmetic; nothing here trusts the bytes it is given.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "ZBIN\r\n\x1a\n" (catches text-mode mangling)
//!      8     4  format version (little endian)
//!     12     4  endianness mark 0x01020304 in the writer's byte order
//!     16     4  flags (none defined; must be 0)
//!     20     4  section count
//!     24     8  xxh3-64 checksum of every byte of the file but these 8
//!     32    32  SHA-256 digest of the sources, as given by the compiler
//!     64    32  compiler version, UTF-8, zero padded
//!     96     8  total length of the file in bytes
//!    104     8  reserved, 0
//!    112  24*n  section table: kind u32, reserved u32, offset u64, len u64
//! ```

use xxhash_rust::xxh3::Xxh3;

use crate::error::ArtifactError;

pub const MAGIC: [u8; 8] = *b"ZBIN\r\n\x1a\n";
/// Bumped whenever the layout or the metadata encoding changes.
pub const FORMAT_VERSION: u32 = 4;
pub const ENDIAN_MARK: u32 = 0x0102_0304;
pub const FIXED_HEADER_LEN: usize = 112;
pub const SECTION_ENTRY_LEN: usize = 24;
/// More sections than any artifact has; bounds the table a file can claim.
pub const MAX_SECTIONS: u32 = 16;

/// What a section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SectionKind {
    /// bincode-encoded `table::Meta`.
    Meta = 1,
    /// Dense DFA over normalized hosts read from last byte to first, one
    /// pattern per host pattern.
    HostAutomaton = 2,
    /// Dense DFA over normalized paths, one pattern per path pattern.
    PathAutomaton = 3,
    /// Anchored DFAs for header-value regexes, at `Meta::value_automata`.
    ValueAutomata = 4,
}

impl SectionKind {
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            1 => SectionKind::Meta,
            2 => SectionKind::HostAutomaton,
            3 => SectionKind::PathAutomaton,
            4 => SectionKind::ValueAutomata,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Meta => "metadata",
            SectionKind::HostAutomaton => "host automaton",
            SectionKind::PathAutomaton => "path automaton",
            SectionKind::ValueAutomata => "value automata",
        }
    }
}

/// The header fields, as read from or written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub format_version: u32,
    pub checksum: u64,
    pub source_digest: [u8; 32],
    pub compiler_version: String,
    pub total_len: u64,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub kind: SectionKind,
    pub offset: u64,
    pub len: u64,
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The checksum of a whole file: every byte but the checksum field.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(&bytes[..24.min(bytes.len())]);
    if bytes.len() > 32 {
        hasher.update(&bytes[32..]);
    }
    hasher.digest()
}

/// Lays out `sections` after a header and returns the whole file.
/// Sections are written in the order given, each 8-byte aligned.
pub fn write(source_digest: [u8; 32], compiler_version: &str, sections: &[(SectionKind, &[u8])]) -> Vec<u8> {
    let table_end = FIXED_HEADER_LEN + SECTION_ENTRY_LEN * sections.len();
    let mut offsets = Vec::with_capacity(sections.len());
    let mut cursor = align8(table_end);
    for (_, bytes) in sections {
        offsets.push(cursor);
        cursor = align8(cursor + bytes.len());
    }
    let total = cursor;
    let mut out = vec![0u8; total];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&ENDIAN_MARK.to_ne_bytes());
    out[16..20].copy_from_slice(&0u32.to_le_bytes());
    out[20..24].copy_from_slice(&(sections.len() as u32).to_le_bytes());
    out[32..64].copy_from_slice(&source_digest);
    let version = compiler_version.as_bytes();
    let version = &version[..version.len().min(32)];
    out[64..64 + version.len()].copy_from_slice(version);
    out[96..104].copy_from_slice(&(total as u64).to_le_bytes());
    for (i, ((kind, bytes), offset)) in sections.iter().zip(&offsets).enumerate() {
        let entry = FIXED_HEADER_LEN + i * SECTION_ENTRY_LEN;
        out[entry..entry + 4].copy_from_slice(&(*kind as u32).to_le_bytes());
        out[entry + 8..entry + 16].copy_from_slice(&(*offset as u64).to_le_bytes());
        out[entry + 16..entry + 24].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        out[*offset..*offset + bytes.len()].copy_from_slice(bytes);
    }
    let sum = checksum(&out);
    out[24..32].copy_from_slice(&sum.to_le_bytes());
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(buf)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(buf)
}

/// Reads and checks the header and section table. The checksum is
/// verified here, so a caller that gets `Ok` holds an uncorrupted file.
pub fn read_header(bytes: &[u8]) -> Result<Header, ArtifactError> {
    let format_version = check_identity(bytes)?;
    let total_len = check_total_len(bytes)?;
    let stored = u64_at(bytes, 24);
    if checksum(bytes) != stored {
        return Err(ArtifactError::checksum_mismatch());
    }
    // From here on the bytes are as the writer wrote them, but a writer can
    // be hostile too: every field is still checked.
    if u32_at(bytes, 16) != 0 {
        return Err(ArtifactError::bad_section("unknown flags are set"));
    }
    let sections = read_section_table(bytes, total_len)?;
    check_disjoint(&sections)?;
    let mut source_digest = [0u8; 32];
    source_digest.copy_from_slice(&bytes[32..64]);
    Ok(Header {
        format_version,
        checksum: stored,
        source_digest,
        compiler_version: compiler_version(bytes),
        total_len,
        sections,
    })
}

/// The magic, the format version and the byte order: whether these bytes
/// are an artifact this build can read at all, told apart from a file cut
/// short, before any other field is trusted. Returns the format version.
fn check_identity(bytes: &[u8]) -> Result<u32, ArtifactError> {
    let found = bytes.len() as u64;
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        if bytes.len() < 8 && MAGIC.starts_with(bytes) && !bytes.is_empty() {
            return Err(ArtifactError::truncated(FIXED_HEADER_LEN as u64, found));
        }
        return Err(ArtifactError::not_an_artifact());
    }
    if bytes.len() < FIXED_HEADER_LEN {
        return Err(ArtifactError::truncated(FIXED_HEADER_LEN as u64, found));
    }
    let format_version = u32_at(bytes, 8);
    if format_version != FORMAT_VERSION {
        return Err(ArtifactError::wrong_version(format_version));
    }
    let mut mark = [0u8; 4];
    mark.copy_from_slice(&bytes[12..16]);
    if u32::from_ne_bytes(mark) != ENDIAN_MARK {
        return Err(ArtifactError::wrong_endianness());
    }
    Ok(format_version)
}

/// The length the header records, against the bytes given: a file cut
/// short or with bytes after its end is reported as such, not as a
/// checksum mismatch. Returns that length.
fn check_total_len(bytes: &[u8]) -> Result<u64, ArtifactError> {
    let found = bytes.len() as u64;
    let total_len = u64_at(bytes, 96);
    if total_len > found {
        return Err(ArtifactError::truncated(total_len, found));
    }
    if total_len < found {
        return Err(ArtifactError::trailing_bytes(total_len, found));
    }
    Ok(total_len)
}

/// The section table: a bounded count of entries, each of a known kind,
/// aligned, inside the file after the table, and no kind twice.
fn read_section_table(bytes: &[u8], total_len: u64) -> Result<Vec<Section>, ArtifactError> {
    let count = u32_at(bytes, 20);
    if count > MAX_SECTIONS {
        return Err(ArtifactError::bad_section(format!(
            "{count} sections, at most {MAX_SECTIONS} exist"
        )));
    }
    let table_end = FIXED_HEADER_LEN + SECTION_ENTRY_LEN * count as usize;
    if table_end > bytes.len() {
        return Err(ArtifactError::truncated(table_end as u64, bytes.len() as u64));
    }
    let mut sections: Vec<Section> = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let section = read_section_entry(bytes, FIXED_HEADER_LEN + i * SECTION_ENTRY_LEN, table_end, total_len)?;
        if sections.iter().any(|s| s.kind == section.kind) {
            return Err(ArtifactError::bad_section(format!(
                "two {} sections",
                section.kind.name()
            )));
        }
        sections.push(section);
    }
    Ok(sections)
}

/// One entry of the section table, at `entry`: its kind is known, and its
/// bytes are 8-byte aligned and lie between the table's end and the file's.
fn read_section_entry(bytes: &[u8], entry: usize, table_end: usize, total_len: u64) -> Result<Section, ArtifactError> {
    let raw_kind = u32_at(bytes, entry);
    let kind = SectionKind::from_u32(raw_kind)
        .ok_or_else(|| ArtifactError::bad_section(format!("unknown section kind {raw_kind}")))?;
    let offset = u64_at(bytes, entry + 8);
    let len = u64_at(bytes, entry + 16);
    let end = offset
        .checked_add(len)
        .ok_or_else(|| ArtifactError::bad_section(format!("{} section overflows", kind.name())))?;
    if !offset.is_multiple_of(8) {
        return Err(ArtifactError::bad_section(format!(
            "{} section is not 8-byte aligned",
            kind.name()
        )));
    }
    if offset < table_end as u64 || end > total_len {
        return Err(ArtifactError::bad_section(format!(
            "{} section lies outside the file",
            kind.name()
        )));
    }
    Ok(Section { kind, offset, len })
}

/// No two sections share a byte: a hostile writer could otherwise make one
/// section's bytes be read as another kind.
fn check_disjoint(sections: &[Section]) -> Result<(), ArtifactError> {
    let mut by_offset = sections.to_vec();
    by_offset.sort_by_key(|s| s.offset);
    for pair in by_offset.windows(2) {
        if pair[0].offset + pair[0].len > pair[1].offset {
            return Err(ArtifactError::bad_section(format!(
                "{} and {} sections overlap",
                pair[0].kind.name(),
                pair[1].kind.name()
            )));
        }
    }
    Ok(())
}

/// The compiler version field: UTF-8 up to its first zero byte (the field
/// is zero padded), with anything invalid replaced rather than refused.
fn compiler_version(bytes: &[u8]) -> String {
    let version_bytes = &bytes[64..96];
    let version_end = version_bytes.iter().position(|&b| b == 0).unwrap_or(32);
    String::from_utf8_lossy(&version_bytes[..version_end]).into_owned()
}

impl Header {
    pub fn section(&self, kind: SectionKind) -> Option<Section> {
        self.sections.iter().copied().find(|s| s.kind == kind)
    }

    /// The digest as lowercase hex.
    pub fn digest_hex(&self) -> String {
        self.source_digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Bytes with 8-byte alignment, for loading an artifact from something
/// other than a memory map (which is page-aligned already).
#[derive(Debug, Clone, Default)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: `words` owns at least `bytes.len()` initialized bytes,
        // and u8 has no alignment or validity requirements.
        let view = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) };
        view[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }

    /// Reads the file at `path` straight into aligned memory this value
    /// owns: nothing done to the file afterwards (rewritten in place,
    /// truncated, deleted) can change or unmap what was read. A file that
    /// shrinks while it is read is an error; one that grows is read to the
    /// length it had (its checksum then refuses it).
    pub fn read(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "file too large"))?;
        let mut words = vec![0u64; len.div_ceil(8)];
        // SAFETY: `words` owns at least `len` initialized bytes, and u8 has
        // no alignment or validity requirements.
        let view = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) };
        file.read_exact(view)?;
        Ok(AlignedBytes { words, len })
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: as in `new`: the words hold `len` initialized bytes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}
