//! TLS termination: certificates generated here, a real rustls client,
//! the certificate chosen by SNI, HTTP/2 offered by ALPN, and proxying
//! behind TLS (`x-forwarded-proto: https`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use support::*;

struct Generated {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn generate(name: &str) -> Generated {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("certificate");
    Generated {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().to_vec(),
    }
}

/// Connects with TLS as `server_name`, offering `alpn`; returns the
/// server's certificate, the negotiated protocol and the response to a
/// GET of `target`.
fn tls_get(
    port: u16,
    server_name: &str,
    trusted: &[&Generated],
    alpn: &[&[u8]],
    target: &str,
) -> (Vec<u8>, Option<Vec<u8>>, Response) {
    let config = client_config(trusted, alpn, rustls::DEFAULT_VERSIONS);
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut stream = rustls::Stream::new(&mut connection, &mut socket);
    let request = format!("GET {target} HTTP/1.1\r\nhost: {server_name}\r\nconnection: close\r\n\r\n");
    if alpn.first() == Some(&&b"h2"[..]) {
        // Only the handshake matters for the h2 check.
        stream.flush().unwrap();
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(stream.sock).unwrap();
        }
        let cert = stream.conn.peer_certificates().unwrap()[0].to_vec();
        let protocol = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
        return (
            cert,
            protocol,
            Response {
                status: 0,
                headers: Vec::new(),
                body: Vec::new(),
            },
        );
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let cert = connection.peer_certificates().unwrap()[0].to_vec();
    let protocol = connection.alpn_protocol().map(<[u8]>::to_vec);
    (cert, protocol, parse_response(&raw))
}

/// Serves `policy` and waits until its TLS listener on `tls_port` accepts.
fn start_tls(policy: &str, tls_port: u16) -> Proxy {
    let proxy = Proxy::start(policy);
    assert!(eventually(std::time::Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
    }));
    proxy
}

#[test]
fn terminates_tls_with_sni_and_alpn() {
    let default = generate("localhost");
    let api = generate("api.test");
    let origin = Origin::start("o", Behavior::Echo);
    let dir = std::env::temp_dir().join(format!("zentinel-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, generated) in [("site", &default), ("api", &api)] {
        std::fs::write(dir.join(format!("{name}.pem")), &generated.cert_pem).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), &generated.key_pem).unwrap();
    }
    let tls_port = free_port();
    let policy = format!(
        r#"
listen "127.0.0.1:{tls_port}" tls {{
    cert "{dir}/site.pem"
    key "{dir}/site.key"
    sni "api.test" {{
        cert "{dir}/api.pem"
        key "{dir}/api.key"
    }}
}} http2

upstream app {{
    server "{origin}"
}}

route api {{
    host "api.test"
    proxy app
}}

route site {{
    respond 200 "over tls\n"
}}
"#,
        dir = dir.display(),
        origin = origin.addr()
    );
    let proxy = start_tls(&policy, tls_port);
    let (cert, _, response) = tls_get(tls_port, "localhost", &[&default, &api], &[b"http/1.1"], "/");
    assert_eq!(cert, default.der, "the listener's own certificate");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "over tls\n");
    let (cert, _, response) = tls_get(tls_port, "api.test", &[&default, &api], &[b"http/1.1"], "/x");
    assert_eq!(cert, api.der, "the certificate of the `sni` block");
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["headers"]["x-forwarded-proto"], "https");
    let (_, protocol, _) = tls_get(tls_port, "localhost", &[&default], &[b"h2", b"http/1.1"], "/");
    assert_eq!(protocol.as_deref(), Some(&b"h2"[..]), "HTTP/2 is offered by ALPN");
    drop(proxy);
}

#[test]
fn a_missing_certificate_is_a_clear_startup_error() {
    let dir = std::env::temp_dir().join(format!("zentinel-tls-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    compile_to(
        &dir,
        "listen \"127.0.0.1:1\" tls {\n    cert \"nope.pem\"\n    key \"nope.key\"\n}\n\nroute a {\n    respond 200\n}\n",
        "site.zbin",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zentinel"))
        .args(["run", dir.join("site.zbin").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read certificate") && stderr.contains("nope.pem"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A TLS origin: answers every request with the SNI it was asked for.
fn tls_origin(generated: &Generated) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cert = rustls::pki_types::CertificateDer::from(generated.der.clone());
    let key = rustls::pki_types::PrivateKeyDer::try_from(
        rustls::pki_types::pem::PemObject::from_pem_slice(generated.key_pem.as_bytes())
            .map(|k: rustls::pki_types::PrivatePkcs8KeyDer| k.secret_pkcs8_der().to_vec())
            .unwrap(),
    )
    .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let mut connection = rustls::ServerConnection::new(config).unwrap();
                let mut stream = stream;
                let mut tls = rustls::Stream::new(&mut connection, &mut stream);
                let mut buffer = [0u8; 4096];
                let mut raw = Vec::new();
                while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => raw.extend_from_slice(&buffer[..n]),
                    }
                }
                let sni = tls.conn.server_name().unwrap_or("").to_string();
                let body = format!("sni={sni}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes());
                let _ = tls.flush();
            });
        }
    });
    port
}

#[test]
fn upstream_tls_with_sni_and_verification() {
    let origin_cert = generate("origin.test");
    let port = tls_origin(&origin_cert);
    let policy = format!(
        r#"
upstream unverified {{
    server "127.0.0.1:{port}"
    tls sni "origin.test" verify off
}}

upstream verified {{
    server "127.0.0.1:{port}"
    tls sni "origin.test"
}}

route unverified {{
    path "/unverified"
    proxy unverified
}}

route verified {{
    path "/verified"
    proxy verified
}}
"#
    );
    let proxy = Proxy::start(&policy);
    let r = proxy.get("/unverified");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "sni=origin.test", "the configured SNI is sent");
    // The origin's self-signed certificate is not trusted: verification fails.
    assert_eq!(proxy.get("/verified").status, 502);
}

/// A client config trusting `trusted`, offering `alpn`, with `versions`.
fn client_config(
    trusted: &[&Generated],
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots
            .add(rustls::pki_types::CertificateDer::from(cert.der.clone()))
            .unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A GET over HTTP/2 (TLS, ALPN `h2`): status, headers and body.
fn h2_get(port: u16, server_name: &str, trusted: &[&Generated], target: &str) -> (u16, http::HeaderMap, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = client_config(trusted, &[b"h2"], &[&rustls::version::TLS13]);
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let request = http::Request::builder()
            .method("GET")
            .uri(format!("https://{server_name}{target}"))
            .body(())
            .unwrap();
        let (parts, bytes) = h2_exchange(tls, request).await;
        (parts.status.as_u16(), parts.headers, bytes)
    })
}

fn write_pair(dir: &std::path::Path, name: &str, generated: &Generated) {
    std::fs::write(dir.join(format!("{name}.pem")), &generated.cert_pem).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), &generated.key_pem).unwrap();
}

#[test]
fn http2_requests_are_proxied_wildcards_match_and_tls12_is_spoken() {
    let default = generate("localhost");
    let wild = generate("*.wild.test");
    let origin = Origin::start("o", Behavior::Echo);
    let dir = std::env::temp_dir().join(format!("zentinel-tls-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_pair(&dir, "site", &default);
    write_pair(&dir, "wild", &wild);
    let tls_port = free_port();
    let policy = format!(
        r#"
listen "127.0.0.1:{tls_port}" tls {{
    cert "{dir}/site.pem"
    key "{dir}/site.key"
    sni "*.wild.test" {{
        cert "{dir}/wild.pem"
        key "{dir}/wild.key"
    }}
}} http2

upstream app {{
    server "{origin}"
}}

route app {{
    proxy app
}}
"#,
        dir = dir.display(),
        origin = origin.addr()
    );
    let _proxy = start_tls(&policy, tls_port);
    // HTTP/2 end to end: the upstream gets HTTP/1.1 with the authority as
    // its Host and as x-forwarded-host.
    let (status, headers, body) = h2_get(tls_port, "api.wild.test", &[&wild], "/v1/items?q=1");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(headers.get("x-request-id").is_some());
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["target"], "/v1/items?q=1");
    assert_eq!(seen["headers"]["host"], "api.wild.test");
    assert_eq!(seen["headers"]["x-forwarded-host"], "api.wild.test");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    // `*.wild.test` covers one label, no more.
    let (cert, _, _) = tls_get(tls_port, "a.wild.test", &[&wild], &[b"http/1.1"], "/");
    assert_eq!(cert, wild.der);
    let (cert, _, _) = tls_get(tls_port, "localhost", &[&default], &[b"http/1.1"], "/");
    assert_eq!(cert, default.der);
    // A client that speaks only TLS 1.2 is served.
    let config = client_config(&[&default], &[b"http/1.1"], &[&rustls::version::TLS12]);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut socket = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    let mut stream = rustls::Stream::new(&mut connection, &mut socket);
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    assert_eq!(connection.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(parse_response(&raw).status, 200);
}

#[test]
fn upstream_tls_verification_passes_for_a_trusted_certificate_and_name() {
    let origin_cert = generate("origin.test");
    let port = tls_origin(&origin_cert);
    let dir = std::env::temp_dir().join(format!("zentinel-tls-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("trusted.pem");
    std::fs::write(&ca, &origin_cert.cert_pem).unwrap();
    let policy = format!(
        r#"
upstream right {{
    server "127.0.0.1:{port}"
    tls sni "origin.test"
}}

upstream wrong_name {{
    server "127.0.0.1:{port}"
    tls sni "other.test"
}}

route right {{
    path "/right"
    proxy right
}}

route wrong {{
    path "/wrong"
    proxy wrong_name
}}
"#
    );
    // The system trust store, as rustls reads it, holds the origin's cert.
    let proxy = Proxy::start_with_env(&policy, &[], &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    let r = proxy.get("/right");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "sni=origin.test");
    // Trusted certificate, but not for the name asked: refused.
    assert_eq!(proxy.get("/wrong").status, 502);
}
