//! The ceiling for anything built on Pingora: a bare proxy with the same
//! Pingora version and settings as zentinel, one upstream, no logic.
//! Used by `bench/proxy.sh`:
//!
//! `bare_pingora LISTEN_ADDR UPSTREAM_ADDR [THREADS]`

use async_trait::async_trait;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::Result;
use pingora_proxy::{ProxyHttp, Session};

// The same allocator as zentinel, so that the comparison is of the proxies.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream.as_str(), false, String::new())))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8081".to_string());
    let upstream = args.next().unwrap_or_else(|| "127.0.0.1:9100".to_string());
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let conf = ServerConf {
        threads,
        upgrade_sock: "/tmp/bare-pingora-upgrade.sock".to_string(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, Bare { upstream });
    // The listener settings of zentinel's plain listeners.
    proxy.add_listener(ListenerConfig::tcp(&listen).l4_buffer(L4BufferSettings::default().read(0)));
    server.add_service(proxy);
    server.run_forever();
}
