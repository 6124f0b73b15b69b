//! Origins that fail in every way a real one does, on loopback sockets
//! opened by the test: each gets the right 502 or 504, a failing server
//! is ejected so that the next requests go to a healthy one, and other
//! requests are served meanwhile.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::*;

/// What a faulty origin does once it has read a request head.
#[derive(Clone, Copy)]
enum Fault {
    /// Half a head, then close.
    CloseMidHead,
    /// A head promising 100 bytes, 10 of them, then close.
    CloseMidBody,
    /// Bytes that are not HTTP.
    Garbage,
    /// A TCP reset.
    Reset,
    /// Nothing, for as long as the connection stays open.
    Silence,
}

/// An origin on a loopback port that commits `fault` on every request.
fn faulty(fault: Fault) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || commit(stream, fault));
        }
    });
    port
}

fn commit(mut stream: TcpStream, fault: Fault) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    match fault {
        Fault::CloseMidHead => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-len");
        }
        Fault::CloseMidBody => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789");
        }
        Fault::Garbage => {
            let _ = stream.write_all(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n");
        }
        Fault::Reset => {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        Fault::Silence => std::thread::sleep(Duration::from_secs(30)),
    }
}

fn policy(routes: &[(&str, u16)]) -> String {
    routes
        .iter()
        .map(|(name, port)| {
            format!(
                "upstream {name} {{\n    server \"127.0.0.1:{port}\"\n    timeout read 500ms\n}}\nroute {name} {{\n    path \"/{name}\"\n    proxy {name}\n}}\n"
            )
        })
        .collect()
}

#[test]
fn each_fault_gets_its_status_and_the_proxy_keeps_serving() {
    let healthy = Origin::start("healthy", Behavior::Echo);
    let routes = [
        ("mid_head", faulty(Fault::CloseMidHead)),
        ("garbage", faulty(Fault::Garbage)),
        ("reset", faulty(Fault::Reset)),
        ("silence", faulty(Fault::Silence)),
        ("mid_body", faulty(Fault::CloseMidBody)),
        ("healthy", healthy.port),
    ];
    let proxy = Proxy::start(&policy(&routes));
    for (route, status) in [("mid_head", 502), ("garbage", 502), ("reset", 502), ("silence", 504)] {
        assert_eq!(proxy.get(&format!("/{route}")).status, status, "{route}");
        assert_eq!(proxy.get("/healthy").status, 200, "after {route}");
    }
    // The head went out before the body failed: the answer is cut short,
    // and the client can tell (fewer bytes than its length).
    let cut = proxy.get("/mid_body");
    assert_eq!(cut.status, 200);
    assert!(cut.body.len() < 100, "{} bytes", cut.body.len());
    assert_eq!(proxy.get("/healthy").status, 200);
}

#[test]
fn a_silent_origin_holds_no_other_request() {
    let healthy = Origin::start("healthy", Behavior::Echo);
    let proxy = Proxy::start(&policy(&[
        ("silence", faulty(Fault::Silence)),
        ("healthy", healthy.port),
    ]));
    let port = proxy.port;
    let stuck = std::thread::spawn(move || get(port, "/silence").status);
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(proxy.get("/healthy").status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(stuck.join().unwrap(), 504);
}

#[test]
fn a_failing_server_is_ejected_and_its_requests_go_to_a_healthy_one() {
    let healthy = Origin::start("healthy", Behavior::Echo);
    let broken = faulty(Fault::Garbage);
    let proxy = Proxy::start(&format!(
        "upstream pool {{\n    server \"127.0.0.1:{broken}\"\n    server \"{}\"\n    passive failures 2 within 10s eject 60s\n    retry 1 on connect_error\n}}\nroute a {{\n    proxy pool\n}}\n",
        healthy.addr()
    ));
    // Round robin sends every other request to the broken server until it
    // has failed twice; after that, every request is answered by the
    // healthy one.
    let early: Vec<u16> = (0..6).map(|_| proxy.get("/").status).collect();
    assert!(early.iter().filter(|s| **s == 502).count() <= 2, "{early:?}");
    for _ in 0..10 {
        assert_eq!(proxy.get("/").status, 200);
    }
    assert!(proxy
        .metrics()
        .contains("zentinel_upstream_failures_total{upstream=\"pool\"}"));
}
