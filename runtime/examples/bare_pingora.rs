//! The ceiling for anything built on Pingora: a bare proxy with the same
//! Pingora version and settings as zentinel, one upstream, no logic. Its
//! upstream has the timeouts zentinel gives one by default (LANGUAGE.md
//! §5: connect 5s, read 60s, write 60s, idle 60s): settings, not logic.
//! Used by `bench/proxy.sh`:
//!
//! `bare_pingora LISTEN_ADDR UPSTREAM_ADDR [THREADS]`

use std::time::Duration;

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
    upstream: std::net::SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        let timeouts = zbin::model::Timeouts::default();
        let ms = |ms: u64| Some(Duration::from_millis(ms));
        peer.options.connection_timeout = ms(timeouts.connect);
        peer.options.total_connection_timeout = ms(timeouts.connect);
        peer.options.read_timeout = ms(timeouts.read);
        peer.options.write_timeout = ms(timeouts.write);
        peer.options.idle_timeout = ms(timeouts.idle);
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
    // The listener settings of zentinel's plain listeners.
    proxy.add_listener(ListenerConfig::tcp(&listen).l4_buffer(L4BufferSettings::default().read(0)));
    server.add_service(proxy);
    server.run_forever();
}
