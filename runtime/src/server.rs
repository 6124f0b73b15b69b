//! Putting a Pingora server together from an artifact: the proxy listeners
//! of the policy, the admin listener, and the background services (reload,
//! health checks, DNS). Returns when the server has shut down, once the
//! access log is written out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pingora_core::apps::HttpServerOptions;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{RunArgs, Server};
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use pingora_proxy::HttpProxy;
use zbin::model::Limits;

use crate::admin::Admin;
use crate::artifact::{self, Loaded};
use crate::health::HealthChecks;
use crate::proxy::Zentinel;
use crate::reload::Reloader;
use crate::state::Shared;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub artifact: PathBuf,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Take the listening sockets over from a running instance.
    pub upgrade: bool,
    /// Seconds to keep serving in-flight requests after SIGTERM.
    pub grace_period: u64,
    pub upgrade_sock: PathBuf,
    /// A file, `-` for standard output, `off` for none.
    pub access_log: String,
}

/// Builds the server and runs it until it is told to stop; `Err` only on a
/// startup error.
pub fn run(options: RunOptions) -> Result<(), String> {
    let loaded = artifact::load(&options.artifact).map_err(|e| e.to_string())?;
    let out = open_access_log(&options.access_log)?;
    let shared = Arc::new(
        Shared::new(options.artifact.clone(), loaded.clone(), out)
            .map_err(|e| format!("cannot start the access log: {e}"))?,
    );
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };
    let mut server = bootstrap(&options, threads);
    add_proxy_services(&mut server, &shared, &loaded)?;
    add_admin_and_background(&mut server, &shared, loaded.policy());
    log::info!(
        "serving {} (digest {}) with {threads} threads",
        options.artifact.display(),
        loaded.digest
    );
    server.run(RunArgs::default());
    // Requests drained during shutdown are logged too.
    if let Some(log) = &shared.access_log {
        log.finish(Duration::from_secs(2));
    }
    Ok(())
}

/// Where the access log goes, from `--access-log`: a file appended to,
/// `-` for standard output, or nowhere for `off`.
fn open_access_log(spec: &str) -> Result<Option<Box<dyn std::io::Write + Send>>, String> {
    Ok(match spec {
        "off" => None,
        "-" => Some(Box::new(std::io::stdout())),
        path => Some(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the access log `{path}`: {e}"))?,
        )),
    })
}

/// A Pingora server with `threads` workers, the shutdown timing and the
/// upgrade socket of `options`, bootstrapped: with `--upgrade`, that is
/// where it takes the running instance's listening sockets over.
fn bootstrap(options: &RunOptions, threads: usize) -> Server {
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(options.grace_period),
        // The grace period has already let requests finish: what is left
        // gets one more second before the runtimes are stopped.
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: options.upgrade_sock.display().to_string(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    server
}

/// The proxy services, with the policy's listeners. HTTP/2 with prior
/// knowledge (h2c) is a setting of a whole service, and it makes a listener
/// wait for 24 bytes before it can tell HTTP/1 from HTTP/2: plain listeners
/// that ask for `http2` get a service of their own, so the others keep
/// answering the shortest HTTP/1.0 request.
fn add_proxy_services(server: &mut Server, shared: &Arc<Shared>, loaded: &Loaded) -> Result<(), String> {
    let policy = loaded.policy();
    let mut main = service(server, shared, "zentinel");
    let mut h2c = service(server, shared, "zentinel h2c");
    let mut has_h2c = false;
    for listener in &policy.listeners {
        match &listener.tls {
            None if listener.http2 => {
                h2c.add_listener(plain(&listener.addr));
                has_h2c = true;
            }
            None => main.add_listener(plain(&listener.addr)),
            Some(tls) => {
                let settings = crate::tls::settings(loaded, tls, listener.http2)
                    .map_err(|e| format!("listener {}: {e}", listener.addr))?;
                main.add_tls_with_settings(&listener.addr, None, settings);
            }
        }
    }
    configure(&mut main, policy, false);
    server.add_service(main);
    if has_h2c {
        configure(&mut h2c, policy, true);
        server.add_service(h2c);
    }
    Ok(())
}

/// The services beside the proxy: the admin listener when the policy has
/// one, reloads on SIGHUP, and health checks with DNS refreshes.
fn add_admin_and_background(server: &mut Server, shared: &Arc<Shared>, policy: &zbin::model::Policy) {
    if let Some(addr) = &policy.admin {
        let mut admin = Service::new("zentinel admin".to_string(), Admin { shared: shared.clone() });
        admin.add_tcp(addr);
        server.add_service(admin);
    }
    server.add_service(background_service("reload", Reloader { shared: shared.clone() }));
    server.add_service(background_service(
        "health checks",
        HealthChecks { shared: shared.clone() },
    ));
}

/// A plain-TCP listener. Pingora's default puts a 64 KiB read buffer in
/// front of every connection, kept while the connection idles: 100 KiB of
/// memory per idle keep-alive client, where unbuffered it is 38 KiB, at the
/// same throughput (docs/benchmarks.md). Request heads are read into
/// Pingora's own growing buffer either way. TLS listeners keep the buffer:
/// TLS reads in records, and the buffer saves system calls there.
pub fn plain(addr: &str) -> ListenerConfig {
    ListenerConfig::tcp(addr).l4_buffer(L4BufferSettings::default().read(0))
}

/// How long an idle connection is kept when the policy does not say
/// (LANGUAGE.md §9.3).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(zbin::model::Limits::DEFAULT_IDLE_TIMEOUT);

/// The HTTP settings of a proxy service: HTTP/2 connections close after the
/// policy's `idle_timeout` without a stream (HTTP/1's is set per request),
/// a request head must arrive whole within `header_timeout` (else `408`,
/// vendored patch), and their connection window is opened as nginx opens it (2^31-1 bytes:
/// an upload is bounded per stream, 64 KiB a round trip, not per
/// connection); `h2c` turns on HTTP/2 with prior knowledge.
fn configure(service: &mut Service<HttpProxy<Zentinel>>, policy: &zbin::model::Policy, h2c: bool) {
    let Some(app) = service.app_logic_mut() else { return };
    let mut options = HttpServerOptions::default();
    options.h2c = h2c;
    options.h2_idle_timeout = Some(
        policy
            .limits
            .idle_timeout
            .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_millis),
    );
    app.server_options = Some(options);
    app.request_head_timeout = Some(policy.limits.header_timeout.map_or(
        Duration::from_millis(Limits::DEFAULT_HEADER_TIMEOUT),
        Duration::from_millis,
    ));
    let mut h2 = pingora_core::protocols::http::v2::server::default_h2_options();
    h2.initial_connection_window_size(H2_CONNECTION_WINDOW);
    app.h2_options = Some(h2);
}

/// The largest HTTP/2 flow-control window (RFC 9113 §6.9.1).
const H2_CONNECTION_WINDOW: u32 = (1 << 31) - 1;

fn service(server: &Server, shared: &Arc<Shared>, name: &str) -> Service<HttpProxy<Zentinel>> {
    pingora_proxy::http_proxy_service_with_name(&server.configuration, Zentinel { shared: shared.clone() }, name)
}
