//! Putting a Pingora server together from an artifact: one proxy service
//! with every listener of the policy, the admin listener, and the
//! background services (reload, health checks).

use std::path::PathBuf;
use std::sync::Arc;

use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;

use crate::admin::Admin;
use crate::artifact;
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
    /// `-` for standard output.
    pub access_log: String,
}

/// Builds and runs the server; returns only on a startup error.
pub fn run(options: RunOptions) -> Result<(), String> {
    let loaded = artifact::load(&options.artifact).map_err(|e| e.to_string())?;
    let access_log: Box<dyn std::io::Write + Send> = if options.access_log == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&options.access_log)
                .map_err(|e| format!("cannot open the access log `{}`: {e}", options.access_log))?,
        )
    };
    let shared = Arc::new(Shared::new(options.artifact.clone(), loaded.clone(), access_log));
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.threads
    };
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(options.grace_period),
        graceful_shutdown_timeout_seconds: Some(options.grace_period.max(1)),
        upgrade_sock: options.upgrade_sock.display().to_string(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let mut proxy = pingora_proxy::http_proxy_service_with_name(
        &server.configuration,
        Zentinel { shared: shared.clone() },
        "zentinel",
    );
    for listener in &loaded.policy().listeners {
        match &listener.tls {
            None => proxy.add_tcp(&listener.addr),
            Some(tls) => {
                let settings = crate::tls::settings(&loaded, tls, listener.http2)
                    .map_err(|e| format!("listener {}: {e}", listener.addr))?;
                proxy.add_tls_with_settings(&listener.addr, None, settings);
            }
        }
    }
    if loaded.policy().listeners.iter().any(|l| l.http2 && l.tls.is_none()) {
        // HTTP/2 without TLS (h2c, by prior knowledge); HTTP/1.1 still works.
        if let Some(app) = proxy.app_logic_mut() {
            let mut options = pingora_core::apps::HttpServerOptions::default();
            options.h2c = true;
            app.server_options = Some(options);
        }
    }
    server.add_service(proxy);
    if let Some(addr) = &loaded.policy().admin {
        let mut admin = Service::new("zentinel admin".to_string(), Admin { shared: shared.clone() });
        admin.add_tcp(addr);
        server.add_service(admin);
    }
    server.add_service(background_service("reload", Reloader { shared: shared.clone() }));
    server.add_service(background_service("health checks", HealthChecks { shared }));
    log::info!(
        "serving {} (digest {}) with {threads} threads",
        options.artifact.display(),
        loaded.digest
    );
    server.run_forever()
}
