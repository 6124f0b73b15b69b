//! Reload on SIGHUP, refusing bad artifacts, draining on SIGTERM, and
//! handing the listening sockets over on SIGQUIT.

mod support;

use std::time::Duration;

use support::*;

const V1: &str = "route a {\n    respond 200 \"v1\"\n}\n";
const V2: &str = "route a {\n    respond 200 \"v2\"\n}\n";

/// A policy whose one route proxies to `origin`.
fn proxied_to(origin: &Origin) -> String {
    format!(
        "upstream slow {{\n    server \"{}\"\n}}\n\nroute a {{\n    proxy slow\n}}\n",
        origin.addr()
    )
}

/// Starts a process serving V2 with `--upgrade`, has `old` hand it the
/// sockets (SIGQUIT), and waits until the new one answers and the old one
/// has exited.
fn hand_over(old: &mut Proxy) -> Proxy {
    let new = Proxy::start_upgrade(old, V2);
    // The new process waits for the sockets; give it a moment to listen
    // on the upgrade socket, then ask the old one to hand them over.
    std::thread::sleep(Duration::from_millis(500));
    old.signal("QUIT");
    assert!(
        eventually(Duration::from_secs(15), || get(new.port, "/").text() == "v2"),
        "{}",
        new.stderr()
    );
    assert!(
        old.wait_exit(Duration::from_secs(15)).is_some(),
        "the old process exits"
    );
    new
}

#[test]
fn sighup_reloads_and_a_bad_artifact_keeps_the_old_one() {
    let proxy = Proxy::start(V1);
    assert_eq!(proxy.get("/").text(), "v1");
    proxy.replace_policy(V2);
    proxy.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || proxy.get("/").text() == "v2"),
        "{}",
        proxy.stderr()
    );
    assert!(proxy.metrics().contains("zentinel_reloads_total 1"));
    // A corrupted artifact is refused; v2 keeps serving.
    let path = proxy.dir.join("site.zbin");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(proxy.dir.join("broken.zbin"), bytes).unwrap();
    std::fs::rename(proxy.dir.join("broken.zbin"), &path).unwrap();
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy
        .metrics()
        .contains("zentinel_reload_failures_total 1")));
    assert_eq!(proxy.get("/").text(), "v2");
    assert!(proxy.stderr().contains("reload refused"), "{}", proxy.stderr());
    // So is a missing one.
    std::fs::remove_file(&path).unwrap();
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy
        .metrics()
        .contains("zentinel_reload_failures_total 2")));
    assert_eq!(proxy.get("/").text(), "v2");
}

#[test]
fn whatever_happens_to_the_artifact_file_the_last_good_policy_serves() {
    let proxy = Proxy::start(V1);
    let path = proxy.dir.join("site.zbin");
    let good_v1 = std::fs::read(&path).unwrap();
    // Requests keep flowing from another thread through everything below.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, port) = (stop.clone(), proxy.port);
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answers.push(support::try_get(port, "/").map(|r| (r.status, r.text())));
            }
            answers
        })
    };
    let refusals = |n: usize| {
        let want = format!("zentinel_reload_failures_total {n}");
        assert!(
            eventually(Duration::from_secs(5), || proxy.metrics().contains(&want)),
            "{want}: {}",
            proxy.stderr()
        );
        assert_eq!(proxy.get("/").text(), "v1");
    };
    // Rewritten in place with garbage of the same length, without a
    // reload: the process does not read the file again, and must not
    // fault on what it read before.
    std::fs::write(&path, vec![0xA5u8; good_v1.len()]).unwrap();
    assert_eq!(proxy.get("/").text(), "v1");
    proxy.signal("HUP");
    refusals(1);
    // Truncated in place to half, then to nothing.
    std::fs::write(&path, &good_v1[..good_v1.len() / 2]).unwrap();
    proxy.signal("HUP");
    refusals(2);
    std::fs::File::create(&path).unwrap();
    proxy.signal("HUP");
    refusals(3);
    // Deleted, then replaced by a directory.
    std::fs::remove_file(&path).unwrap();
    proxy.signal("HUP");
    refusals(4);
    std::fs::create_dir(&path).unwrap();
    proxy.signal("HUP");
    refusals(5);
    std::fs::remove_dir(&path).unwrap();
    // A good artifact copied over in place is taken.
    proxy.replace_policy(V2);
    let good_v2 = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good_v1).unwrap();
    std::fs::write(&path, &good_v2).unwrap();
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy.get("/").text() == "v2"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = load.join().unwrap();
    assert!(answers.len() > 10, "{} requests under load", answers.len());
    let failed: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a, Some((200, text)) if text == "v1" || text == "v2"))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(proxy.stderr().contains("reload refused"), "{}", proxy.stderr());
}

#[test]
fn reload_keeps_health_state_of_unchanged_upstreams() {
    let mut flaky = Origin::start("flaky", Behavior::Echo);
    let steady = Origin::start("steady", Behavior::Echo);
    let (flaky_addr, steady_addr) = (flaky.addr(), steady.addr());
    let policy = |body: &str| {
        format!(
            "upstream pool {{\n    server \"{flaky_addr}\"\n    server \"{steady_addr}\"\n    health tcp interval 100ms timeout 100ms fall 1 rise 50\n}}\n\nroute a {{\n    proxy pool\n    {body}\n}}\n"
        )
    };
    let proxy = Proxy::start(&policy("response_headers { set \"x-v\" \"1\" }"));
    flaky.stop();
    assert!(eventually(Duration::from_secs(5), || proxy.metrics().contains(
        &format!(
            "zentinel_upstream_server_healthy{{server=\"{}\",upstream=\"pool\"}} 0",
            flaky.addr()
        )
    )));
    let _back = Origin::start_on("flaky", flaky.port, Behavior::Echo);
    proxy.replace_policy(&policy("response_headers { set \"x-v\" \"2\" }"));
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy.get("/").header("x-v") == Some("2")));
    // `rise 50` at 100ms: the server stays out for seconds, across the reload.
    for _ in 0..6 {
        assert_eq!(proxy.get("/").json()["origin"], "steady");
    }
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits() {
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(700)));
    let policy = proxied_to(&slow);
    let mut proxy = Proxy::start(&policy);
    let port = proxy.port;
    let in_flight = std::thread::spawn(move || get(port, "/"));
    std::thread::sleep(Duration::from_millis(150));
    proxy.signal("TERM");
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200, "the request in flight was served");
    let status = proxy
        .wait_exit(Duration::from_secs(15))
        .expect("zentinel exits after draining");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigquit_hands_the_sockets_to_an_upgraded_process() {
    let mut old = Proxy::start(V1);
    assert_eq!(old.get("/").text(), "v1");
    let mut new = hand_over(&mut old);
    assert_eq!(get(new.port, "/").text(), "v2");
    new.signal("TERM");
    assert!(new.wait_exit(Duration::from_secs(15)).is_some());
}

#[test]
fn a_request_keeps_the_artifact_it_started_with() {
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(800)));
    let policy = |version: &str| {
        format!(
            "upstream slow {{\n    server \"{}\"\n}}\n\nroute a {{\n    proxy slow\n    response_headers {{ set \"x-v\" \"{version}\" }}\n}}\n",
            slow.addr()
        )
    };
    let proxy = Proxy::start(&policy("1"));
    let port = proxy.port;
    let in_flight = std::thread::spawn(move || get(port, "/"));
    std::thread::sleep(Duration::from_millis(200));
    proxy.replace_policy(&policy("2"));
    proxy.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || proxy
        .metrics()
        .contains("zentinel_reloads_total 1")));
    let first = in_flight.join().unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-v"), Some("1"), "the reload changed a request midway");
    assert_eq!(proxy.get("/").header("x-v"), Some("2"));
}

#[test]
fn sigterm_stops_accepting_and_logs_what_it_drained() {
    let slow = Origin::start("slow", Behavior::Slow(Duration::from_millis(1200)));
    let policy = proxied_to(&slow);
    let mut proxy = Proxy::start(&policy);
    let port = proxy.port;
    let in_flight = std::thread::spawn(move || send(port, "GET", "/", &[("x-request-id", "drained-request")], b""));
    std::thread::sleep(Duration::from_millis(200));
    proxy.signal("TERM");
    // New connections are refused while the one in flight finishes.
    assert!(eventually(Duration::from_secs(5), || std::net::TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_err()));
    assert_eq!(in_flight.join().unwrap().status, 200);
    assert!(proxy.wait_exit(Duration::from_secs(15)).is_some_and(|s| s.success()));
    // The drained request reached the access log before the process ended.
    let log = proxy.access_log();
    assert!(
        log.iter()
            .any(|l| l["request_id"] == "drained-request" && l["status"] == 200),
        "{log:?}"
    );
}

#[test]
fn a_request_that_meets_the_drain_is_answered_and_closes_its_connection() {
    use std::io::{Read, Write};
    let origin = Origin::start("o", Behavior::Echo);
    let mut proxy = Proxy::start(&proxied_to(&origin));
    let connect = || {
        let stream = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
    };
    let exchange = |stream: &mut std::net::TcpStream| {
        stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        read_response(stream).expect("an answer before the connection closes")
    };
    // A keep-alive connection answered once and then idle, and one that
    // was accepted but has not sent its request yet...
    let mut used = connect();
    assert_eq!(exchange(&mut used).header("connection"), Some("keep-alive"));
    let mut fresh = connect();
    std::thread::sleep(Duration::from_millis(100));
    proxy.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    // ...each send a request as the drain begins: answered, not dropped,
    // and told that the connection ends with it.
    for stream in [&mut used, &mut fresh] {
        let r = exchange(stream);
        assert_eq!(r.status, 200, "{}", proxy.stderr());
        assert_eq!(r.header("connection"), Some("close"));
        let mut rest = Vec::new();
        assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "then it is closed");
    }
    assert!(proxy.wait_exit(Duration::from_secs(15)).is_some());
}

#[test]
fn sigquit_loses_no_request_under_load() {
    let mut old = Proxy::start(V1);
    let port = old.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut served, mut failed) = (0, Vec::new());
            let started = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match try_get(port, "/") {
                    Some(r) if r.status == 200 => served += 1,
                    other => failed.push(format!(
                        "at {:?}: {}",
                        started.elapsed(),
                        other.map_or("no answer".to_string(), |r| format!("status {}", r.status))
                    )),
                }
            }
            (served, failed)
        })
    };
    let mut new = hand_over(&mut old);
    // Keep the load on the new process for a moment.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (served, failed) = load.join().unwrap();
    assert!(served > 20, "served only {served}");
    assert!(
        failed.is_empty(),
        "{} requests failed during the handover ({served} served): {failed:?}\nold:\n{}\nnew:\n{}",
        failed.len(),
        old.stderr(),
        new.stderr()
    );
    new.signal("TERM");
    assert!(new.wait_exit(Duration::from_secs(15)).is_some());
}

/// Reloads under continuous load, good and corrupt artifacts alternating:
/// no request fails, and what is served is always the last good policy.
/// `bench/reload.sh` runs the same with 1,000 reloads.
#[test]
fn reloads_under_load_alternating_good_and_corrupt_lose_nothing() {
    let proxy = Proxy::start(V1);
    let path = proxy.dir.join("site.zbin");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, port) = (stop.clone(), proxy.port);
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            let mut served = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match support::try_get(port, "/") {
                    Some(r) if r.status == 200 => served += 1,
                    other => failed.push(other.map(|r| r.status)),
                }
            }
            (served, failed)
        })
    };
    for round in 2..=21 {
        let version = format!("route a {{\n    respond 200 \"v{round}\"\n}}\n");
        proxy.replace_policy(&version);
        proxy.signal("HUP");
        let want = format!("v{round}");
        assert!(
            eventually(Duration::from_secs(5), || proxy.get("/").text() == want),
            "{want}: {}",
            proxy.stderr()
        );
        // A corrupt one, renamed over it, is refused: the good one stays.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5A;
        std::fs::write(proxy.dir.join("bad.zbin"), bytes).unwrap();
        std::fs::rename(proxy.dir.join("bad.zbin"), &path).unwrap();
        proxy.signal("HUP");
        let refused = format!("zentinel_reload_failures_total {}", round - 1);
        assert!(eventually(Duration::from_secs(5), || proxy
            .metrics()
            .contains(&refused)));
        assert_eq!(proxy.get("/").text(), want);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (served, failed) = load.join().unwrap();
    assert!(served > 20, "{served} requests served under load");
    assert!(failed.is_empty(), "{failed:?}");
}
