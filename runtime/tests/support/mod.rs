//! Real things for the runtime's integration tests: a `zentinel` process
//! serving a policy compiled by `zenc`, origin servers on loopback ports,
//! and a plain HTTP/1.1 client over TCP. Nothing is mocked.
//!
//! - `raw`: HTTP/1.1 as bytes, read the same way by the client and the
//!   origins;
//! - `client`: requests sent over fresh connections, and one HTTP/2
//!   exchange;
//! - `origin`: origin servers and how they answer;
//! - `proxy`: a `zentinel run` process and its files.

#![allow(dead_code)]

mod client;
mod origin;
mod proxy;
mod raw;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

// The names the tests use. Each test file uses some of them: the others
// are no more unused imports there than the items are dead code.
#[allow(unused_imports)]
pub use client::{get, h2_exchange, read_response, send, send_raw, stalled_body, try_get};
#[allow(unused_imports)]
pub use origin::{Behavior, Origin};
#[allow(unused_imports)]
pub use proxy::{compile_to, Proxy};
#[allow(unused_imports)]
pub use raw::{parse_response, Response};

/// A free loopback port (bound and released), never one this test process
/// was handed before: the kernel may give a just-released port out again,
/// and two listeners of one policy then collide.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Polls `condition` until it holds or `within` passes.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

pub fn socket(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
