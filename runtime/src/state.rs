//! State shared by every request and service: the artifact being served
//! (swapped atomically on reload), upstream pools, rate limiters, metrics
//! and the access log.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::artifact::{self, LoadError, Loaded};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::upstream::Pools;

pub struct Shared {
    /// Where the artifact is read from, at start and on every reload.
    pub path: PathBuf,
    current: ArcSwap<Loaded>,
    pub pools: Pools,
    pub rate_limiter: RateLimiter,
    pub metrics: Metrics,
    access_log: Mutex<std::io::BufWriter<Box<dyn Write + Send>>>,
}

impl Shared {
    pub fn new(path: PathBuf, loaded: Arc<Loaded>, access_log: Box<dyn Write + Send>) -> Self {
        let metrics = Metrics::new();
        metrics.set_artifact(&loaded.digest);
        Shared {
            path,
            current: ArcSwap::new(loaded),
            pools: Pools::default(),
            rate_limiter: RateLimiter::default(),
            metrics,
            access_log: Mutex::new(std::io::BufWriter::with_capacity(64 * 1024, access_log)),
        }
    }

    /// The artifact being served; a request keeps the one it started with.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// Loads the artifact again from its path and swaps it in; on any
    /// error the current one keeps serving.
    pub fn reload(&self) -> Result<Arc<Loaded>, LoadError> {
        match artifact::load(&self.path) {
            Ok(loaded) => {
                let old = self.current();
                let listeners = |l: &Loaded| l.policy().listeners.iter().map(|l| l.addr.clone()).collect::<Vec<_>>();
                if listeners(&old) != listeners(&loaded) || old.policy().admin != loaded.policy().admin {
                    log::warn!("the new artifact changes listeners; they take effect on restart or upgrade");
                }
                self.current.store(loaded.clone());
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

    /// Buffers one access log line (with its newline).
    pub fn access_log(&self, line: &str) {
        let mut out = self.access_log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes());
    }

    /// Writes buffered access log lines out.
    pub fn flush_access_log(&self) {
        let mut out = self.access_log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.flush();
    }
}
