//! Every shipped example checks clean, with no warning.

#[test]
fn examples_check_clean() {
    for path in [
        "../examples/site.zen",
        "../examples/quickstart.zen",
        "../examples/multi-file/main.zen",
    ] {
        let compilation = zenc::check_path(std::path::Path::new(path)).expect("readable");
        let rendered = zenc::render::human(&compilation.diagnostics, &compilation.program.sources, false, 100);
        assert!(compilation.diagnostics.is_empty(), "{path}:\n{rendered}");
        assert!(compilation.checked().is_some());
    }
}
