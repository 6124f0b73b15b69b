//! The runtime's boundary: it links `zbin`, never the compiler's parser
//! (pest) or diagnostics (miette). `cargo tree` is the judge.

#[test]
fn runtime_never_links_pest_or_miette() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--manifest-path",
            manifest,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.contains("zbin"), "the runtime should depend on zbin:\n{tree}");
    for forbidden in ["pest", "miette", "zenc"] {
        let linked: Vec<&str> = tree
            .lines()
            .filter(|line| {
                line.split_whitespace().next() == Some(forbidden) || line.starts_with(&format!("{forbidden}_"))
            })
            .collect();
        assert!(linked.is_empty(), "the runtime links {forbidden}: {linked:?}");
    }
}
