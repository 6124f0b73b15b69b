//! An agent's answer frame, as it arrives on the socket: decoding never
//! panics, whatever the bytes. Crashes go to `fuzz/regressions/agent_frame/`,
//! which `make test` replays (runtime/tests/fuzz_regressions.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = zentinel::agents::decode_frame(data);
});
