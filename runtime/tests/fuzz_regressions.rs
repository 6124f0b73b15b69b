//! Agent answer frames that once broke the `agent_frame` fuzz target,
//! replayed on every test run, and the decoder's refusals.

#[test]
fn agent_frame_regressions_replay() {
    for entry in std::fs::read_dir("../fuzz/regressions/agent_frame").expect("regressions directory") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n == ".gitkeep") {
            continue;
        }
        let _ = zentinel::agents::decode_frame(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn frames_are_refused_unless_whole_and_well_formed() {
    let frame = |payload: &[u8]| {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        bytes
    };
    assert!(zentinel::agents::decode_frame(&frame(br#"{"decision":"allow"}"#)).is_ok());
    for bad in [
        Vec::new(),
        vec![0, 0, 0],
        frame(b"not json"),
        frame(br#"{"decision":"block","status":200}"#),
        [&frame(br#"{"decision":"allow"}"#)[..], b"more"].concat(),
        (u32::MAX).to_be_bytes().to_vec(),
    ] {
        assert!(zentinel::agents::decode_frame(&bad).is_err(), "{bad:?}");
    }
}
