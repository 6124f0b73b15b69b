//! Route matching: the compiled automaton against the reference linear
//! matcher on generated policies of 10 to 10,000 routes, and against
//! matchit on the 130-route GitHub API set; plus compile and load times.
//! Run with `make bench` (or `cargo bench -p zenc --bench matching`).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use zenc::reference::ReferenceMatcher;

struct Prepared {
    artifact: zbin::AlignedBytes,
    policy: zbin::model::Policy,
    requests: Vec<(String, String)>,
}

fn prepare(text: &str) -> Prepared {
    let compilation = zenc::check_source(Path::new("bench.zen"), text);
    assert!(
        compilation.diagnostics.is_empty(),
        "{:?}",
        compilation.diagnostics.first()
    );
    let artifact = zbin::AlignedBytes::new(&compilation.artifact().expect("artifact"));
    let policy = compilation.checked().cloned().expect("checks").policy;
    // Up to 1,000 requests spread over the routes, each routed somewhere.
    let step = (policy.routes.len() / 1000).max(1);
    let requests = policy
        .routes
        .iter()
        .step_by(step)
        .map(zenc::synth::request_for)
        .collect();
    Prepared {
        artifact,
        policy,
        requests,
    }
}

fn request<'r>(host: &'r str, path: &'r str, headers: &'r Vec<(String, String)>) -> zbin::Request<'r> {
    zbin::Request {
        method: "GET",
        host,
        path,
        query: None,
        headers,
    }
}

fn lookups(c: &mut Criterion) {
    let headers: Vec<(String, String)> = vec![("x-tenant".to_string(), "t3".to_string())];
    let mut group = c.benchmark_group("lookup");
    for routes in [10usize, 100, 1_000, 10_000] {
        let prepared = prepare(&zenc::synth::policy(routes, 1));
        let program = zbin::Program::from_bytes(prepared.artifact.as_bytes()).expect("loads");
        let reference = ReferenceMatcher::new(&prepared.policy);
        let n = prepared.requests.len();
        let mut i = 0;
        group.bench_function(BenchmarkId::new("automaton", routes), |b| {
            b.iter(|| {
                let (host, path) = &prepared.requests[i % n];
                i += 1;
                black_box(program.lookup(&request(host, path, &headers)))
            })
        });
        let mut i = 0;
        group.bench_function(BenchmarkId::new("reference", routes), |b| {
            b.iter(|| {
                let (host, path) = &prepared.requests[i % n];
                i += 1;
                black_box(reference.lookup(&request(host, path, &headers)))
            })
        });
    }
    group.finish();
}

fn github(c: &mut Criterion) {
    let routes = include_str!("github_routes.txt");
    let prepared = prepare(&zenc::synth::path_set_policy(routes));
    let program = zbin::Program::from_bytes(prepared.artifact.as_bytes()).expect("loads");
    let reference = ReferenceMatcher::new(&prepared.policy);
    let mut matchit = matchit::Router::new();
    for (i, route) in routes.lines().filter(|l| !l.is_empty()).enumerate() {
        matchit.insert(route, i).expect("matchit takes the route");
    }
    // The four lookups router benchmarks use.
    let calls = [
        "/user/repos",
        "/repos/rust-lang/rust/stargazers",
        "/orgs/rust-lang/public_members/nikomatsakis",
        "/repos/rust-lang/rust/releases/1.51.0",
    ];
    let headers = Vec::new();
    for call in calls {
        let found = program.lookup(&request("example.com", call, &headers)).expect("routed");
        let expected = matchit.at(call).expect("routed").value;
        assert_eq!(found.route.index(), *expected, "{call}");
    }
    let mut group = c.benchmark_group("github");
    group.bench_function("automaton", |b| {
        b.iter(|| {
            for call in calls {
                black_box(program.lookup(&request("example.com", call, &headers)));
            }
        })
    });
    group.bench_function("reference", |b| {
        b.iter(|| {
            for call in calls {
                black_box(reference.lookup(&request("example.com", call, &headers)));
            }
        })
    });
    group.bench_function("matchit", |b| {
        b.iter(|| {
            for call in calls {
                black_box(matchit.at(call).ok());
            }
        })
    });
    group.finish();
}

fn compile_and_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    let dir = std::env::temp_dir().join(format!("zentinel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    for routes in [10usize, 100, 1_000, 10_000] {
        let text = zenc::synth::policy(routes, 1);
        group.bench_function(BenchmarkId::new("compile", routes), |b| {
            b.iter(|| {
                zenc::check_source(Path::new("bench.zen"), &text)
                    .artifact()
                    .expect("compiles")
            })
        });
        let artifact = zenc::check_source(Path::new("bench.zen"), &text).artifact().unwrap();
        let file = dir.join(format!("bench-{routes}.zbin"));
        std::fs::write(&file, &artifact).expect("artifact written");
        eprintln!("artifact size at {routes} routes: {} bytes", artifact.len());
        // What `zentinel` does at start and on SIGHUP: open, map, verify.
        group.bench_function(BenchmarkId::new("load", routes), |b| {
            b.iter(|| {
                let opened = std::fs::File::open(&file).expect("opens");
                // SAFETY: the file is ours, written above and not changed
                // while mapped.
                let map = unsafe { memmap2::Mmap::map(&opened) }.expect("maps");
                black_box(zbin::Program::from_bytes(&map).expect("loads").policy().routes.len())
            })
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    group.finish();
}

criterion_group!(benches, lookups, github, compile_and_load);
criterion_main!(benches);
