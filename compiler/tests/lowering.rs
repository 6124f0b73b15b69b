//! What the checker lowers each construct to: one policy that uses every
//! upstream, agent, limit and modifier setting, and the model it becomes,
//! value by value (in the units the runtime uses: milliseconds, bytes),
//! a test for each kind of item.

use zbin::model::{Balance, FailureMode, HeaderEdit, HeaderOp, HealthProbe, RateKey, Rewrite, Timeouts};

const POLICY: &str = r#"
listen "127.0.0.1:8080"
listen "127.0.0.1:8443" http2

limits {
    max_header_count 50; max_header_size 8KiB; max_body_size 1MiB
    request_timeout 30s; idle_timeout 2m
    header_timeout 5s; max_uri_size 4KiB; max_response_header_size 32KiB
}

upstream api {
    server "127.0.0.1:9001" weight 3
    server "app.internal:9002"
    server "127.0.0.1:9003" backup
    balance ketama by header "X-User"
    health http HEAD "/healthz" expect 204 interval 2s timeout 500ms rise 3 fall 4
    passive failures 5 within 10s eject 30s
    timeout connect 1s read 2s write 3s idle 4s
    retry 2 on connect_error timeout status 502 503
    retry_non_idempotent
    tls sni "api.internal" verify off
    max_connections 100
}

upstream cache {
    server "127.0.0.1:9100"
    balance ketama by client_ip
    health tcp interval 1s timeout 1s
}

agent waf {
    socket "waf.sock"
    timeout 20ms
    on_failure allow
    body 16KiB
}

route api {
    path prefix "/v1"
    proxy api
    rewrite prefix "/v1" "/"
    request_headers { set "x-a" "1"; add "x-b" "2"; remove "x-c" }
    response_headers { set "x-d" "3" }
    agents waf
    rate_limit 6000/m burst 20 by route
    timeout 5s
    limits { max_body_size 2MiB; request_timeout 1s; max_uri_size 2KiB; max_response_header_size 16KiB }
}

route cached {
    path prefix "/c"
    proxy cache
    rate_limit 10/s by client_ip
}

route keyed {
    path prefix "/k"
    proxy cache
    rate_limit 1/s by header "X-Key"
}

test "from an address" {
    request GET "http://example.com/c" header "X-User" "ann" from "203.0.113.7"
    expect upstream cache
}
"#;

/// `POLICY`, checked; it must have no diagnostic at all.
fn checked() -> zenc::check::Checked {
    let dir = std::env::temp_dir().join(format!("zenc-lowering-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let compilation = zenc::check_source(&dir.join("site.zen"), POLICY);
    let messages: Vec<_> = compilation.diagnostics.iter().map(|d| d.message.clone()).collect();
    assert!(messages.is_empty(), "{messages:?}");
    compilation.checked().cloned().expect("checks")
}

#[test]
fn listeners_and_limits_lower_to_their_values() {
    let policy = checked().policy;
    assert_eq!(policy.listeners.len(), 2);
    assert!(!policy.listeners[0].http2 && policy.listeners[1].http2);
    let limits = &policy.limits;
    assert_eq!(limits.max_header_count, Some(50));
    assert_eq!(limits.max_header_size, Some(8 * 1024));
    assert_eq!(limits.max_body_size, Some(1 << 20));
    assert_eq!(limits.request_timeout, Some(30_000));
    assert_eq!(limits.idle_timeout, Some(120_000));
    assert_eq!(limits.header_timeout, Some(5_000));
    assert_eq!(limits.max_uri_size, Some(4 * 1024));
    assert_eq!(limits.max_response_header_size, Some(32 * 1024));
}

#[test]
fn upstream_servers_and_health_lower_to_their_values() {
    let policy = checked().policy;
    let api = &policy.upstreams[0];
    assert_eq!(
        api.servers
            .iter()
            .map(|s| (s.addr.as_str(), s.weight, s.backup))
            .collect::<Vec<_>>(),
        [
            ("127.0.0.1:9001", 3, false),
            ("app.internal:9002", 1, false),
            ("127.0.0.1:9003", 1, true)
        ]
    );
    assert_eq!(api.balance, Balance::KetamaHeader("x-user".into()));
    let health = api.health.as_ref().expect("health");
    assert_eq!(
        health.probe,
        HealthProbe::Http {
            method: "HEAD".into(),
            path: "/healthz".into(),
            expect: 204
        }
    );
    assert_eq!(
        (health.interval, health.timeout, health.rise, health.fall),
        (2_000, 500, 3, 4)
    );
    let passive = api.passive.as_ref().expect("passive");
    assert_eq!((passive.failures, passive.within, passive.eject), (5, 10_000, 30_000));
}

#[test]
fn upstream_timeouts_retries_and_tls_lower_to_their_values() {
    let policy = checked().policy;
    let api = &policy.upstreams[0];
    assert_eq!(
        api.timeouts,
        Timeouts {
            connect: 1_000,
            read: 2_000,
            write: 3_000,
            idle: 4_000
        }
    );
    assert_eq!(api.retry.count, 2);
    assert!(api.retry.on_connect_error && api.retry.on_timeout && api.retry.non_idempotent);
    assert_eq!(api.retry.on_status, [502, 503]);
    let tls = api.tls.as_ref().expect("tls");
    assert_eq!((tls.sni.as_deref(), tls.verify), (Some("api.internal"), false));
    assert_eq!(api.max_connections, Some(100));
}

#[test]
fn an_upstream_without_settings_gets_the_defaults() {
    let policy = checked().policy;
    let cache = &policy.upstreams[1];
    assert_eq!(cache.balance, Balance::KetamaClientIp);
    assert_eq!(cache.health.as_ref().map(|h| &h.probe), Some(&HealthProbe::Tcp));
    // The defaults of LANGUAGE.md §5.
    assert_eq!(cache.timeouts, Timeouts::default());
    assert_eq!(cache.retry.count, 0);
    assert!(cache.tls.is_none() && cache.passive.is_none());
}

#[test]
fn agent_settings_lower_to_their_values() {
    let policy = checked().policy;
    let waf = &policy.agents[0];
    assert_eq!(waf.socket, "waf.sock");
    assert_eq!(
        (waf.timeout, waf.on_failure, waf.body),
        (20, FailureMode::Allow, 16 * 1024)
    );
}

#[test]
fn route_modifiers_lower_to_their_values() {
    let policy = checked().policy;
    let api_route = &policy.routes[0].modifiers;
    assert_eq!(
        api_route.rewrite,
        Some(Rewrite::Prefix {
            from: "/v1".into(),
            to: "/".into()
        })
    );
    let edit = |op, name: &str, value: &str| HeaderEdit {
        op,
        name: name.into(),
        value: value.into(),
    };
    assert_eq!(
        api_route.request_headers,
        [
            edit(HeaderOp::Set, "x-a", "1"),
            edit(HeaderOp::Add, "x-b", "2"),
            edit(HeaderOp::Remove, "x-c", "")
        ]
    );
    assert_eq!(api_route.response_headers, [edit(HeaderOp::Set, "x-d", "3")]);
    assert_eq!(api_route.agents, [zbin::ids::AgentId(0)]);
    let rate = api_route.rate_limit.as_ref().expect("rate limit");
    assert_eq!(
        (rate.requests, rate.per, rate.burst, &rate.key),
        (6000, 60_000, 20, &RateKey::Route)
    );
    assert_eq!(api_route.timeout, Some(5_000));
}

#[test]
fn route_limits_override_only_what_they_set() {
    let policy = checked().policy;
    let api_route = &policy.routes[0].modifiers;
    assert_eq!(api_route.limits.max_body_size, Some(2 << 20));
    assert_eq!(api_route.limits.request_timeout, Some(1_000));
    assert_eq!(api_route.limits.max_uri_size, Some(2 * 1024));
    assert_eq!(api_route.limits.max_response_header_size, Some(16 * 1024));
    assert_eq!(api_route.limits.max_header_count, None, "unset route limits inherit");
}

#[test]
fn rate_limits_key_by_what_they_say_and_burst_one_period() {
    let policy = checked().policy;
    let cached = policy.routes[1].modifiers.rate_limit.as_ref().expect("rate limit");
    assert_eq!(
        (cached.requests, cached.per, &cached.key),
        (10, 1_000, &RateKey::ClientIp)
    );
    assert_eq!(cached.burst, 10, "the burst defaults to one period's worth");
    let keyed = policy.routes[2].modifiers.rate_limit.as_ref().expect("rate limit");
    assert_eq!(keyed.key, RateKey::Header("x-key".into()));
}

#[test]
fn a_test_request_keeps_its_headers_and_client_address() {
    let checked = checked();
    let test = &checked.tests[0];
    assert_eq!(test.request.client_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(test.request.headers, [("x-user".to_string(), "ann".to_string())]);
}
