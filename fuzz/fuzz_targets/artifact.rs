//! `zenc::fuzzing::artifact`: see its documentation for the property. Crashes
//! go to `fuzz/regressions/artifact/`, which `make test` replays
//! (compiler/tests/fuzz_regressions.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zenc::fuzzing::artifact(data));
