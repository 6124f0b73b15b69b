//! Front-end speed on generated policies: parse; parse and check (names,
//! units, values, every regex compiled to enforce its size cap); and all
//! that `zenc check` does, which adds building the automata and proving
//! the routes unambiguous and reachable.
//! Run with `make bench` (or `cargo bench -p zenc --bench front_end`).

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn front_end(c: &mut Criterion) {
    let mut group = c.benchmark_group("front_end");
    group.sample_size(10);
    for routes in [100usize, 1_000, 10_000] {
        let text = zenc::synth::policy(routes, 1);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", routes), &text, |b, text| {
            b.iter(|| zenc::syntax::parse(zenc::source::FileId(0), text).expect("parses"))
        });
        group.bench_with_input(BenchmarkId::new("parse_and_check", routes), &text, |b, text| {
            b.iter(|| {
                let (program, diagnostics) = zenc::loader::load_source(Path::new("bench.zen"), text);
                assert!(diagnostics.is_empty());
                let (checked, diagnostics) = zenc::check::check(&program);
                assert!(diagnostics.is_empty());
                checked.expect("checks")
            })
        });
        group.bench_with_input(BenchmarkId::new("zenc_check", routes), &text, |b, text| {
            b.iter(|| {
                let compilation = zenc::check_source(Path::new("bench.zen"), text);
                assert!(compilation.checked().is_some());
                compilation
            })
        });
        group.bench_with_input(BenchmarkId::new("fmt", routes), &text, |b, text| {
            b.iter(|| zenc::fmt::format_source(text).expect("parses"))
        });
    }
    group.finish();
}

criterion_group!(benches, front_end);
criterion_main!(benches);
