//! `zentinel`: serve a compiled Zen policy, or check an artifact.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "zentinel",
    version,
    about = "Serves a compiled Zen policy (.zbin) on Pingora"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve an artifact. SIGHUP reloads it from the same path, SIGTERM
    /// drains and exits, SIGQUIT hands the sockets to a process started
    /// with --upgrade.
    Run {
        artifact: PathBuf,
        /// Worker threads (default: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Take over the listening sockets of a running zentinel.
        #[arg(long)]
        upgrade: bool,
        /// Seconds in-flight requests get to finish after SIGTERM.
        #[arg(long, default_value_t = 5)]
        grace_period: u64,
        /// The Unix socket listening sockets are handed over on.
        #[arg(long, default_value = "/tmp/zentinel-upgrade.sock")]
        upgrade_sock: PathBuf,
        /// Where JSON access log lines go: a file, `-` for standard output,
        /// `off` for nowhere.
        #[arg(long, default_value = "-")]
        access_log: String,
    },
    /// Load and verify an artifact without serving it.
    Check { artifact: PathBuf },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Before any listener: a SIGHUP must not end the process (its default
    // action), and one that arrives before the reload service runs is kept.
    if let Err(e) = zentinel::reload::catch_hangups() {
        log::error!("cannot catch SIGHUP: {e}");
        return ExitCode::FAILURE;
    }
    match Cli::parse().command {
        Command::Check { artifact } => match zentinel::artifact::load(&artifact) {
            Ok(loaded) => {
                let policy = loaded.policy();
                println!(
                    "{}: ok, {} routes, {} upstreams, {} listeners, digest {}",
                    artifact.display(),
                    policy.routes.len(),
                    policy.upstreams.len(),
                    policy.listeners.len(),
                    loaded.digest
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Run {
            artifact,
            threads,
            upgrade,
            grace_period,
            upgrade_sock,
            access_log,
        } => {
            let options = zentinel::server::RunOptions {
                artifact,
                threads,
                upgrade,
                grace_period,
                upgrade_sock,
                access_log,
            };
            match zentinel::server::run(options) {
                // Pingora's own runtimes may still hold threads: leave now.
                Ok(()) => std::process::exit(0),
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
