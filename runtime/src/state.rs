//! State shared by every request and service: what is being served
//! (swapped atomically on reload), server state that outlives reloads, rate
//! limiters, metrics and the access log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::accesslog::AccessLog;
use crate::artifact::{self, LoadError, Loaded};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::upstream::{Pools, UpstreamRuntime};

/// One loaded artifact and what the runtime derived from it at load time,
/// so that a request only indexes: an `UpstreamRuntime` per upstream (in
/// policy order) and the canonical root of every `static` route.
pub struct Serving {
    pub loaded: Arc<Loaded>,
    pub upstreams: Vec<UpstreamRuntime>,
    /// By route index, then for requests no route matched (the last).
    pub route_metrics: Vec<crate::metrics::RouteMetrics>,
    /// By upstream index.
    pub upstream_metrics: Vec<crate::metrics::UpstreamMetrics>,
    /// By route index: the canonical static root, when the route serves
    /// files and its root exists.
    pub static_roots: Vec<Option<PathBuf>>,
}

impl Serving {
    /// Derives the runtime state of `loaded`, carrying server state over
    /// from `pools`. Blocking (DNS names, canonical paths): call it while
    /// loading, off the async threads.
    pub fn new(loaded: Arc<Loaded>, pools: &Pools, metrics: &Metrics) -> Serving {
        let policy = loaded.policy();
        let route_metrics = (0..=policy.routes.len()).map(|_| Default::default()).collect();
        let upstream_metrics = policy.upstreams.iter().map(|u| metrics.upstream(&u.name)).collect();
        let upstreams = policy.upstreams.iter().map(|u| pools.runtime(u)).collect();
        let static_roots = policy
            .routes
            .iter()
            .map(|route| match &route.action {
                zbin::model::Action::Static { root, .. } => std::fs::canonicalize(loaded.resolve(root)).ok(),
                _ => None,
            })
            .collect();
        Serving {
            loaded,
            upstreams,
            route_metrics,
            upstream_metrics,
            static_roots,
        }
    }
}

pub struct Shared {
    /// Where the artifact is read from, at start and on every reload.
    pub path: PathBuf,
    current: ArcSwap<Serving>,
    pub pools: Pools,
    pub rate_limiter: RateLimiter,
    pub metrics: Metrics,
    /// `None` with `--access-log off`.
    pub access_log: Option<AccessLog>,
    /// The open-file cache of static routes, kept across reloads.
    pub files: crate::files::FileCache,
    /// Set once shutdown begins: `/ready` answers 503 from then on.
    draining: AtomicBool,
}

impl Shared {
    /// The state of a server starting with `loaded`; access log lines go
    /// to `access_log` (through a writer thread started here), or nowhere.
    pub fn new(
        path: PathBuf,
        loaded: Arc<Loaded>,
        access_log: Option<Box<dyn std::io::Write + Send>>,
    ) -> std::io::Result<Self> {
        let metrics = Metrics::new();
        metrics.set_artifact(&loaded.digest);
        let access_log = access_log
            .map(|out| AccessLog::start(out, metrics.access_log_dropped.clone()))
            .transpose()?;
        let pools = Pools::default();
        let serving = Serving::new(loaded, &pools, &metrics);
        Ok(Shared {
            path,
            current: ArcSwap::from_pointee(serving),
            pools,
            rate_limiter: RateLimiter::default(),
            metrics,
            access_log,
            files: crate::files::FileCache::default(),
            draining: AtomicBool::new(false),
        })
    }

    /// What is being served; a request keeps the one it started with.
    pub fn current(&self) -> Arc<Serving> {
        self.current.load_full()
    }

    /// Loads the artifact again from its path and swaps it in; on any
    /// error the current one keeps serving. Blocking: call it off the
    /// async threads.
    pub fn reload(&self) -> Result<Arc<Loaded>, LoadError> {
        match artifact::load(&self.path) {
            Ok(loaded) => {
                let old = self.current();
                let listeners = |l: &Loaded| l.policy().listeners.clone();
                if listeners(&old.loaded) != listeners(&loaded) || old.loaded.policy().admin != loaded.policy().admin {
                    log::warn!("the new artifact changes listeners; they take effect on restart or upgrade");
                }
                self.current
                    .store(Arc::new(Serving::new(loaded.clone(), &self.pools, &self.metrics)));
                self.metrics.reloads.inc();
                self.metrics.set_artifact(&loaded.digest);
                log::info!("reloaded {} (digest {})", self.path.display(), loaded.digest);
                Ok(loaded)
            }
            Err(error) => {
                self.metrics.reload_failures.inc();
                log::error!("reload refused, still serving the previous artifact: {error}");
                Err(error)
            }
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
