//! zentinel: serves a compiled `.zbin` artifact on Pingora. The artifact is
//! memory-mapped and verified by `zbin`; requests are matched once and
//! served by the `ProxyHttp` phases in `proxy`. Nothing here parses policy
//! text or compiles a route: that all happened in `zenc`.

pub mod accesslog;
pub mod actions;
pub mod admin;
pub mod agents;
pub mod artifact;
pub mod compress;
pub mod context;
pub mod files;
pub mod health;
pub mod metrics;
pub mod preconditions;
pub mod proxy;
pub mod ratelimit;
pub mod reload;
pub mod request;
pub mod server;
pub mod state;
pub mod tls;
pub mod upstream;
