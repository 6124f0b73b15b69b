//! Hop-by-hop headers (RFC 9110 §7.6.1): what describes one connection
//! and never goes further, removed from upstream requests by Pingora's
//! rules in one pass, and from answers.

use http::HeaderName;
use pingora_error::{Error, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};

/// Whether a header describes one hop and never goes further (RFC 9110
/// §7.6.1), with `proxy-connection` and `keep-alive` of older clients.
/// A `match` on the name: this runs for every header of every answer.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

/// Removes the headers of an upstream's answer that describe its hop:
/// the hop-by-hop ones (`is_hop_by_hop`) and those its `connection` names.
/// `upgrade` stays (a 426 names what to upgrade to), as do the framing
/// headers, which are Pingora's to write. `connection` itself is Pingora's
/// too: its HTTP/1 writer puts its own on every answer but a 1xx (from the
/// client connection's keep-alive), and its HTTP/2 writer drops it; so it
/// is removed here only from a 1xx, and a 101 keeps the origin's.
pub fn strip_hop_by_hop(response: &mut ResponseHeader) {
    let switching = response.status == http::StatusCode::SWITCHING_PROTOCOLS;
    let informational = response.status.is_informational() && !switching;
    // One pass over the few headers an answer has, most of which are not
    // hop-by-hop: what goes is collected, then removed.
    let mut gone: smallvec::SmallVec<[HeaderName; 4]> = smallvec::SmallVec::new();
    for (name, value) in &response.headers {
        if !is_hop_by_hop(name) {
            continue;
        }
        if name != http::header::CONNECTION {
            if name != http::header::UPGRADE {
                gone.push(name.clone());
            }
            continue;
        }
        if informational {
            gone.push(name.clone());
        }
        if switching {
            continue;
        }
        for token in value.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if token.is_empty() || token.eq_ignore_ascii_case(b"close") || token.eq_ignore_ascii_case(b"keep-alive") {
                continue;
            }
            if let Ok(named) = HeaderName::from_bytes(token) {
                let framing = named == http::header::CONTENT_LENGTH || named == http::header::TRANSFER_ENCODING;
                // Hop-by-hop names have their own rule above.
                if !framing && !is_hop_by_hop(&named) {
                    gone.push(named);
                }
            }
        }
    }
    for name in &gone {
        response.remove_header(name);
    }
}

/// Most names one `connection` line may nominate (Pingora's bound): ten or
/// more refuse the request, so that a request cannot make the proxy work
/// through an endless list.
const MAX_CONNECTION_NOMINATIONS: usize = 10;

/// Whether a request header stops at zentinel: the hop-by-hop ones, the
/// framing header (Pingora frames the upstream request itself) and HTTP/2's
/// `http2-settings` upgrade header.
fn is_request_hop_by_hop(name: &HeaderName) -> bool {
    is_hop_by_hop(name) || name == http::header::TRANSFER_ENCODING || name.as_str() == "http2-settings"
}

/// Whether `byte` may be in an HTTP token (RFC 9110 §5.6.2), the form of
/// each name `connection` nominates.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Why a `connection` line is refused: the request gets a 400.
fn bad_connection(why: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InvalidHTTPHeader, why).into_down()
}

/// Whether zentinel sets a header of this name on every upstream request.
fn is_added(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "x-forwarded-for" | "x-forwarded-proto" | "x-forwarded-host" | "x-request-id"
    )
}

/// Removes from the upstream copy of a request the headers that describe
/// the client's hop, and refuses a `connection` line that would remove more.
/// Returns whether the request holds a header zentinel sets (`Added`): the
/// same pass tells, so that most requests, which hold none, are not
/// searched for them again.
///
/// This is Pingora's standard upstream request policy, which zentinel turns
/// off for its peers (`HttpUpstreamRequestPolicy::preserve`) because
/// Pingora spends a map lookup on each of thirteen names for every request,
/// present or not; here one pass over the headers the request has finds the
/// few that go. The rules are Pingora's:
/// - the names of `is_request_hop_by_hop` go, and those `connection`
///   nominates;
/// - a nomination of `host`, an `x-forwarded-*` header zentinel writes or a
///   pseudo-header (`:authority`), one that is not a token, and ten or more
///   nominations refuse the request;
/// - a WebSocket upgrade of an HTTP/1.1 client (`upgrade: websocket`, the
///   first line) goes on as `connection: Upgrade` and `upgrade: websocket`;
///   any other upgrade is dropped, so the origin answers plain HTTP.
pub fn strip_request_hop_by_hop(request: &mut RequestHeader, client_is_http11: bool) -> pingora_error::Result<bool> {
    let mut gone: smallvec::SmallVec<[HeaderName; 4]> = smallvec::SmallVec::new();
    let mut upgrade: Option<bool> = None;
    let mut nominations = 0;
    let mut holds_added = false;
    for (name, value) in &request.headers {
        if !is_request_hop_by_hop(name) {
            holds_added |= is_added(name);
            continue;
        }
        if !gone.contains(name) {
            gone.push(name.clone());
        }
        if name == http::header::UPGRADE {
            upgrade.get_or_insert_with(|| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
            continue;
        }
        if name != http::header::CONNECTION {
            continue;
        }
        for token in value.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if token.is_empty() {
                continue;
            }
            nominations += 1;
            if nominations >= MAX_CONNECTION_NOMINATIONS {
                return Err(bad_connection("too many Connection header nominations"));
            }
            if token.starts_with(b":") {
                return Err(bad_connection(
                    "a pseudo-header cannot be nominated by the Connection header",
                ));
            }
            if !token.iter().all(|&b| is_tchar(b)) {
                return Err(bad_connection("invalid token nominated by the Connection header"));
            }
            let named = HeaderName::from_bytes(token)
                .map_err(|_| bad_connection("invalid token nominated by the Connection header"))?;
            if matches!(
                named.as_str(),
                "host" | "x-forwarded-for" | "x-forwarded-host" | "x-forwarded-proto"
            ) {
                return Err(bad_connection(
                    "a protected header cannot be nominated by the Connection header",
                ));
            }
            // Hop-by-hop names go anyway.
            if !is_request_hop_by_hop(&named) && !gone.contains(&named) {
                gone.push(named);
            }
        }
    }
    for name in &gone {
        request.remove_header(name);
    }
    if client_is_http11 && upgrade == Some(true) {
        request.insert_header(http::header::CONNECTION, "Upgrade")?;
        request.insert_header(http::header::UPGRADE, "websocket")?;
    }
    Ok(holds_added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::error_status;

    #[test]
    fn answers_lose_their_hop_by_hop_headers() {
        let answer = |status: u16, headers: &[(&'static str, &'static str)]| {
            let mut response = ResponseHeader::build(status, None).unwrap();
            for (name, value) in headers {
                response.append_header(*name, *value).unwrap();
            }
            strip_hop_by_hop(&mut response);
            let mut kept: Vec<String> = response.headers.keys().map(|k| k.to_string()).collect();
            kept.sort();
            kept
        };
        let hops = [
            ("Connection", "keep-alive, X-Origin-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Origin-Hop", "1"),
            ("Proxy-Connection", "keep-alive"),
            ("Trailer", "x-sum"),
            ("Content-Length", "0"),
            ("X-Kept", "yes"),
        ];
        // `connection` stays for Pingora to replace with its own.
        assert_eq!(answer(200, &hops), ["connection", "content-length", "x-kept"]);
        // A 1xx is written as it is: it loses `connection` here.
        assert_eq!(
            answer(103, &[("Connection", "keep-alive"), ("Link", "</a.css>; rel=preload")]),
            ["link"]
        );
        // A 426 names what to upgrade to.
        assert_eq!(
            answer(426, &[("Upgrade", "websocket"), ("Connection", "upgrade")]),
            ["connection", "upgrade"]
        );
        // Framing is Pingora's, whatever `connection` says.
        let framing = [("Connection", "content-length"), ("Content-Length", "0")];
        assert_eq!(answer(200, &framing), ["connection", "content-length"]);
        // A 101 keeps what the upgrade needs.
        let switching = [
            ("Connection", "Upgrade, X-Tunnel"),
            ("Upgrade", "websocket"),
            ("X-Tunnel", "1"),
        ];
        assert_eq!(answer(101, &switching), ["connection", "upgrade", "x-tunnel"]);
    }

    /// The upstream copy of a request, after the strip: its headers as
    /// `name: value` in order, or the refusal's reason.
    fn stripped(headers: &[(&str, &str)], version: http::Version) -> Result<Vec<String>, String> {
        let mut request = RequestHeader::build("GET", b"/", None).unwrap();
        request.set_version(version);
        for (name, value) in headers {
            request.append_header(name.to_string(), *value).unwrap();
        }
        match strip_request_hop_by_hop(&mut request, version == http::Version::HTTP_11) {
            Ok(_) => {
                let mut kept: Vec<String> = request
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                    .collect();
                kept.sort();
                Ok(kept)
            }
            Err(e) => {
                assert_eq!(error_status(&e), 400, "{e}");
                Err(e.context.map(|c| c.to_string()).unwrap_or_default())
            }
        }
    }

    #[test]
    fn requests_lose_their_hop_by_hop_headers_by_pingoras_rules() {
        let v11 = http::Version::HTTP_11;
        // Every name of Pingora's standard policy, and what `connection`
        // nominates, on any of its lines.
        let hops = [
            ("Connection", "keep-alive, X-Private"),
            ("connection", "X-Other"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authenticate", "Basic"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("TE", "trailers"),
            ("Trailer", "x-sum"),
            ("Transfer-Encoding", "chunked"),
            ("HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"),
            ("X-Private", "1"),
            ("X-Other", "2"),
            ("Host", "example.com"),
            ("X-Kept", "yes"),
        ];
        assert_eq!(stripped(&hops, v11).unwrap(), ["host: example.com", "x-kept: yes"]);
        // A request with none loses nothing.
        let plain = [("Host", "a"), ("Accept", "*/*"), ("X-Forwarded-For", "10.0.0.1")];
        assert_eq!(
            stripped(&plain, v11).unwrap(),
            ["accept: */*", "host: a", "x-forwarded-for: 10.0.0.1"]
        );
        // The pass tells whether the client sent a header zentinel sets.
        let holds = |headers: &[(&str, &str)]| {
            let mut request = RequestHeader::build("GET", b"/", None).unwrap();
            for (name, value) in headers {
                request.append_header(name.to_string(), *value).unwrap();
            }
            strip_request_hop_by_hop(&mut request, true).unwrap()
        };
        assert!(holds(&plain));
        for added in ["X-Forwarded-Proto", "x-forwarded-host", "X-Request-Id"] {
            assert!(holds(&[("Host", "a"), (added, "1")]), "{added}");
        }
        assert!(!holds(&hops));
        assert!(!holds(&[("Host", "a"), ("X-Forwarded-Port", "80")]));
    }

    #[test]
    fn upgrades_and_nominations_follow_pingoras_rules() {
        let v11 = http::Version::HTTP_11;
        // A WebSocket upgrade of an HTTP/1.1 client goes on, normalized,
        // without what else its `connection` nominated.
        let websocket = [
            ("Connection", "keep-alive, Upgrade, X-Private"),
            ("Upgrade", "WebSocket"),
            ("X-Private", "1"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert_eq!(
            stripped(&websocket, v11).unwrap(),
            [
                "connection: Upgrade",
                "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
                "upgrade: websocket"
            ]
        );
        // Not from HTTP/1.0, and no other protocol: the origin answers
        // plain HTTP.
        assert_eq!(
            stripped(&websocket, http::Version::HTTP_10).unwrap(),
            ["sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=="]
        );
        let h2c = [
            ("Connection", "Upgrade, HTTP2-Settings"),
            ("Upgrade", "h2c"),
            ("HTTP2-Settings", "AA"),
        ];
        assert_eq!(stripped(&h2c, v11).unwrap(), Vec::<String>::new());
        // The first `upgrade` line decides, as for Pingora.
        let two = [("Connection", "upgrade"), ("Upgrade", "h2c"), ("Upgrade", "websocket")];
        assert_eq!(stripped(&two, v11).unwrap(), Vec::<String>::new());

        // A nomination of what zentinel must forward refuses the request,
        // whatever its case; so do pseudo-headers and what is not a token.
        for protected in ["Host", "x-forwarded-for", "X-Forwarded-Host", "x-forwarded-proto"] {
            let why = stripped(&[("Connection", &format!("close, {protected}"))], v11).unwrap_err();
            assert!(why.contains("protected header"), "{protected}: {why}");
        }
        let why = stripped(&[("Connection", ":authority")], v11).unwrap_err();
        assert!(why.contains("pseudo-header"), "{why}");
        for malformed in ["\"x-forwarded-for\"", "x private", "x/y"] {
            let why = stripped(&[("Connection", malformed)], v11).unwrap_err();
            assert!(why.contains("invalid token"), "{malformed}: {why}");
        }
        // Nine nominations pass, ten are refused, counted over every line;
        // empty list items count for nothing.
        let nine = "a, b, c, d, e, f, g, h, i, , ,";
        assert_eq!(
            stripped(&[("Connection", nine), ("X-Kept", "1")], v11).unwrap(),
            ["x-kept: 1"]
        );
        let why = stripped(&[("Connection", nine), ("Connection", "j")], v11).unwrap_err();
        assert!(why.contains("too many"), "{why}");
    }

    #[test]
    fn hop_by_hop_names_are_those_of_rfc_9110_and_older_clients() {
        for name in [
            http::header::CONNECTION,
            HeaderName::from_static("keep-alive"),
            HeaderName::from_static("proxy-connection"),
            http::header::PROXY_AUTHENTICATE,
            http::header::PROXY_AUTHORIZATION,
            http::header::TE,
            http::header::TRAILER,
            http::header::UPGRADE,
        ] {
            assert!(is_hop_by_hop(&name), "{name}");
        }
        for name in [
            http::header::CONTENT_LENGTH,
            http::header::TRANSFER_ENCODING,
            http::header::HOST,
            HeaderName::from_static("x-connection"),
            HeaderName::from_static("tee"),
        ] {
            assert!(!is_hop_by_hop(&name), "{name}");
        }
    }
}
