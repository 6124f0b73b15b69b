//! Inputs that once broke a fuzz target, replayed on every test run: each
//! `fuzz/regressions/TARGET/` folder through `zenc::fuzzing::TARGET`.

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("check", zenc::fuzzing::check),
    ("fmt_round_trip", zenc::fuzzing::fmt_round_trip),
    ("artifact", zenc::fuzzing::artifact),
    ("matcher", zenc::fuzzing::matcher),
    ("normalize", zenc::fuzzing::normalize),
    ("template", zenc::fuzzing::template),
];

#[test]
fn fuzz_regressions_replay() {
    let mut count = 0;
    for (name, target) in TARGETS {
        let dir = std::path::Path::new("../fuzz/regressions").join(name);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n == ".gitkeep") {
                continue;
            }
            let data = std::fs::read(&path).expect("readable regression");
            // The `check` regressions hold the formatter too, as they did
            // before the targets were split.
            target(&data);
            if *name == "check" {
                zenc::fuzzing::fmt_round_trip(&data);
            }
            count += 1;
        }
    }
    assert!(count > 0, "no regression replayed");
}

#[test]
fn every_target_runs_on_a_sample() {
    // A sample for each, so that a target that cannot run at all is
    // caught here, not in a fuzzing session.
    let policy = std::fs::read("tests/fixtures/golden.zen").unwrap();
    zenc::fuzzing::check(&policy);
    zenc::fuzzing::fmt_round_trip(&policy);
    zenc::fuzzing::artifact(b"\x10\x00hello");
    zenc::fuzzing::matcher(b"GET\xffapi.example.com\xff/v1/users\xffq=1\xffx-tenant\xfft1");
    zenc::fuzzing::normalize(b"/a/./b/../%7e%41//c/");
    zenc::fuzzing::template(b"\x00\x01\x02\x06\x07\xffhost\xff/p\xffq=1\xfflit\xffcap");
}
