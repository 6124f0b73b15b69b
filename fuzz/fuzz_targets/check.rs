//! Any input: loading, checking and formatting never panic, and formatting
//! what formats is idempotent. Crashes go to `fuzz/regressions/` as `.zen`
//! files, which `cargo test` replays (compiler/tests/fuzz_regressions.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = zenc::check_source(std::path::Path::new("fuzz.zen"), text);
    if let Some(formatted) = zenc::fmt::format_source(text) {
        assert_eq!(zenc::fmt::format_source(&formatted).as_deref(), Some(formatted.as_str()));
    }
});
