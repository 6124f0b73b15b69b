//! The ceiling for anything built on Pingora: a bare proxy with the same
//! Pingora version and settings as zentinel, one upstream, no logic: its
//! listener and its upstream's timeouts (those zentinel gives an upstream
//! by default, LANGUAGE.md §5) are set by zentinel's own functions.
//! Used by `bench/proxy.sh`:
//!
//! `bare_pingora LISTEN_ADDR UPSTREAM_ADDR [THREADS]`

use async_trait::async_trait;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::Result;
use pingora_proxy::{ProxyHttp, Session};

// The same allocator as zentinel, so that the comparison is of the proxies.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: std::net::SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        // Set by zentinel's own code, so the settings cannot drift apart.
        zentinel::upstream::set_timeouts(&mut peer.options, &zbin::model::Timeouts::default(), None);
        Ok(Box::new(peer))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8081".to_string());
    let upstream = args.next().unwrap_or_else(|| "127.0.0.1:9100".to_string());
    let upstream = upstream.parse().expect("UPSTREAM_ADDR is an IP address and port");
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let conf = ServerConf {
        threads,
        upgrade_sock: "/tmp/bare-pingora-upgrade.sock".to_string(),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_listener(zentinel::server::plain(&listen));
    server.add_service(proxy);
    server.run_forever();
}
