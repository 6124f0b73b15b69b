//! Inputs that once broke the front end, replayed on every test run.

#[test]
fn fuzz_regressions_replay() {
    let mut count = 0;
    for entry in std::fs::read_dir("../fuzz/regressions").expect("regressions directory") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("utf-8 regression");
        let _ = zenc::check_source(&path, &text);
        if let Some(formatted) = zenc::fmt::format_source(&text) {
            assert_eq!(
                zenc::fmt::format_source(&formatted).as_deref(),
                Some(formatted.as_str()),
                "{}",
                path.display()
            );
        }
        count += 1;
    }
    assert!(count > 0, "no regression replayed");
}
