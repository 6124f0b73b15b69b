//! Writes a generated policy of N routes to stdout, for benchmarks:
//! `cargo run --release -p zenc --example synth -- 10000 > big.zen`.

fn main() {
    let routes = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let seed = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(1);
    print!("{}", zenc::synth::policy(routes, seed));
}
