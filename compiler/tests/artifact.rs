//! The artifact format: what loads, what is refused and how, never a
//! panic, and builds that reproduce byte for byte.

use std::path::Path;

use proptest::prelude::*;
use zbin::{AlignedBytes, Program};

const FIXTURE: &str = "tests/fixtures/golden.zen";
const GOLDEN: &str = "../snapshots/artifacts/golden.zbin";

fn build_fixture() -> Vec<u8> {
    let compilation = zenc::check_path(Path::new(FIXTURE)).expect("fixture readable");
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    compilation.artifact().expect("fixture compiles")
}

fn load(bytes: &[u8]) -> Result<(), zbin::ArtifactError> {
    let aligned = AlignedBytes::new(bytes);
    let program = Program::from_bytes(aligned.as_bytes())?;
    // Whatever loads must also match without panicking.
    for (host, path) in [
        ("api.example.com", "/v1/x"),
        ("a.users.example.com", "/u/12"),
        ("", "/"),
    ] {
        let headers = vec![("x-tenant".to_string(), "t1".to_string())];
        let request = zbin::Request {
            method: "GET",
            host,
            path,
            query: Some("q=1"),
            headers: &headers,
        };
        if let Some(found) = program.lookup(&request) {
            let _ = program.captures(found.route, path);
        }
        let _ = program.candidates(&request);
    }
    Ok(())
}

/// Rewrites the checksum so that a deliberate change reaches the checks
/// behind it (a hostile file, not a damaged one).
fn fix_checksum(bytes: &mut [u8]) {
    let sum = zbin::format::checksum(bytes);
    bytes[24..32].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn the_fixture_loads_and_matches() {
    let bytes = build_fixture();
    let aligned = AlignedBytes::new(&bytes);
    let program = Program::from_bytes(aligned.as_bytes()).expect("loads");
    assert_eq!(program.policy().routes.len(), 4);
    let headers = vec![("x-tenant".to_string(), "t7".to_string())];
    let request = zbin::Request {
        method: "GET",
        host: "bob.users.example.com",
        path: "/u/42",
        query: None,
        headers: &headers,
    };
    let found = program.lookup(&request).expect("matches");
    assert_eq!(program.policy().routes[found.route.index()].name, "users");
    assert_eq!(
        program.captures(found.route, "/u/42"),
        vec![("id".to_string(), "42".to_string())]
    );
}

#[test]
fn builds_are_reproducible() {
    let first = build_fixture();
    let second = build_fixture();
    assert_eq!(first, second);
    // However the path is written.
    let absolute = std::fs::canonicalize(FIXTURE).unwrap();
    let third = zenc::check_path(&absolute).unwrap().artifact().unwrap();
    assert_eq!(first, third);
}

#[test]
fn golden_artifact_is_reproduced_and_loads() {
    let built = build_fixture();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &built).unwrap();
    }
    let golden = std::fs::read(GOLDEN).expect("golden artifact committed");
    assert!(
        built == golden,
        "the fixture no longer builds to the golden artifact: if the format changed on purpose, bump \
         FORMAT_VERSION, keep the old golden as snapshots/artifacts/format-version-N.zbin and run \
         UPDATE_GOLDEN=1 cargo test -p zenc --test artifact"
    );
    load(&golden).expect("golden loads");
}

#[test]
fn artifacts_of_other_versions_are_refused() {
    // Version 0 is synthetic (the golden with its version field changed);
    // version 1 is what zenc wrote before runs were indexed, version 2
    // before the limits of LANGUAGE.md §9.3, version 3 before `compress`.
    for version in [0, 1, 2, 3] {
        let old = std::fs::read(format!("../snapshots/artifacts/format-version-{version}.zbin")).expect("committed");
        let error = load(&old).unwrap_err();
        assert!(error.is_wrong_version());
        assert_eq!(
            error.to_string(),
            format!(
                "artifact was built by format version {version}, this program reads version {} (rebuild it with this zenc)",
                zbin::format::FORMAT_VERSION
            )
        );
    }
}

#[test]
fn every_truncation_is_refused() {
    let bytes = build_fixture();
    for len in 0..bytes.len() {
        let error = load(&bytes[..len]).expect_err("a truncated artifact must not load");
        if len >= 8 {
            assert!(error.is_truncated(), "at {len}: {error}");
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = build_fixture();
    bytes.extend_from_slice(&[0; 8]);
    assert!(load(&bytes).unwrap_err().to_string().contains("header says"));
}

#[test]
fn every_corrupted_byte_is_caught() {
    let bytes = build_fixture();
    for at in (0..bytes.len()).step_by(7) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5A;
        assert!(load(&damaged).is_err(), "flipping byte {at} went unnoticed");
    }
}

#[test]
fn checksum_mismatch_says_so() {
    let mut bytes = build_fixture();
    let last = bytes.len() - 1;
    bytes[last - 100] ^= 1;
    let error = load(&bytes).unwrap_err();
    assert!(error.is_checksum_mismatch());
    assert_eq!(
        error.to_string(),
        "artifact is corrupted: its checksum does not match its contents"
    );
}

#[test]
fn the_other_byte_order_is_refused() {
    let mut bytes = build_fixture();
    bytes[12..16].reverse();
    fix_checksum(&mut bytes);
    assert!(load(&bytes).unwrap_err().to_string().contains("other byte order"));
}

#[test]
fn not_an_artifact() {
    for bytes in [&b""[..], b"route a { respond 200 }", &[0u8; 200]] {
        let error = load(bytes).unwrap_err();
        assert!(error.to_string().contains("not a zentinel artifact"), "{error}");
    }
}

#[test]
fn misaligned_bytes_are_refused_not_misread() {
    let bytes = build_fixture();
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let aligned = AlignedBytes::new(&shifted);
    let error = Program::from_bytes(&aligned.as_bytes()[1..]).unwrap_err();
    assert!(error.to_string().contains("aligned"), "{error}");
}

#[test]
fn hostile_section_tables_are_refused() {
    let bytes = build_fixture();
    // Section 0's offset pointing past the end, and its length overflowing.
    let mut past_end = bytes.clone();
    past_end[112 + 8..112 + 16].copy_from_slice(&(bytes.len() as u64 + 8).to_le_bytes());
    fix_checksum(&mut past_end);
    assert!(load(&past_end).unwrap_err().to_string().contains("outside the file"));
    let mut overflow = bytes.clone();
    overflow[112 + 16..112 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    fix_checksum(&mut overflow);
    assert!(load(&overflow).unwrap_err().to_string().contains("overflows"));
    let mut unknown = bytes.clone();
    unknown[112..116].copy_from_slice(&99u32.to_le_bytes());
    fix_checksum(&mut unknown);
    assert!(load(&unknown)
        .unwrap_err()
        .to_string()
        .contains("unknown section kind 99"));
    let mut many = bytes;
    many[20..24].copy_from_slice(&1000u32.to_le_bytes());
    fix_checksum(&mut many);
    assert!(load(&many).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Arbitrary bytes never load and never panic.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(load(&bytes).is_err());
    }

    /// A valid artifact changed anywhere, with its checksum recomputed so
    /// the change reaches every check behind it: refused or loaded, never
    /// a panic, and what loads matches without panicking.
    #[test]
    fn hostile_artifacts_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = build_fixture();
        let len = bytes.len();
        for (at, value) in edits {
            let at = 32 + at.index(len - 32); // keep the magic and version
            bytes[at] = value;
        }
        fix_checksum(&mut bytes);
        let _ = load(&bytes);
    }
}
