//! `zentinel`: serves a compiled `.zbin` artifact on Pingora.
//!
//! The artifact format and the serving runtime are still being built;
//! until then this binary only reports its version, so that the workspace
//! layout and the dependency boundary (the runtime links `zbin` and never
//! the compiler's parser or diagnostics) are in place and tested from the
//! start.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "zentinel",
    version,
    about = "Serves a compiled Zen policy (.zbin) on Pingora"
)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    // Normalization is shared with the compiler; linking it here keeps the
    // dependency real.
    let _ = zbin::normalize::normalize_host("localhost");
    eprintln!("zentinel: serving artifacts is not implemented yet");
    std::process::exit(2);
}
