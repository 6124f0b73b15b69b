//! Small facts about a request that several phases need: its authority
//! (HTTP/1 `Host` or HTTP/2 `:authority`), its id, the client's address,
//! whether its method may be retried, and which status an error becomes.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue};
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::Session;

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

/// A header zentinel adds to every proxied request or answer: its name,
/// and how it is written on the wire (Pingora keeps the case of every
/// header it sends).
pub struct Added {
    pub name: HeaderName,
    pub wire: &'static str,
}

pub const X_FORWARDED_FOR: Added = Added::new("x-forwarded-for", "X-Forwarded-For");
pub const X_FORWARDED_PROTO: Added = Added::new("x-forwarded-proto", "X-Forwarded-Proto");
pub const X_FORWARDED_HOST: Added = Added::new("x-forwarded-host", "X-Forwarded-Host");
pub const X_REQUEST_ID: Added = Added::new("x-request-id", "X-Request-Id");

impl Added {
    const fn new(name: &'static str, wire: &'static str) -> Added {
        Added {
            name: HeaderName::from_static(name),
            wire,
        }
    }

    /// Sets the header on a request (replacing any the client sent). Its
    /// name is neither parsed nor copied, as Pingora's `insert_header`
    /// would for each request (vendored `insert_known_header`, a patch
    /// written for upstream).
    pub fn set(&self, request: &mut RequestHeader, value: HeaderValue) -> pingora_error::Result<()> {
        request.insert_known_header(self.name.clone(), self.wire, value)
    }

    /// Sets the header on an answer.
    pub fn set_on_answer(&self, response: &mut ResponseHeader, value: HeaderValue) -> pingora_error::Result<()> {
        response.insert_known_header(self.name.clone(), self.wire, value)
    }
}

/// The authority of the request target: HTTP/2's `:authority` (in the
/// URI), or an HTTP/1 absolute-form target's (Pingora keeps it only in the
/// raw target, and has refused the request already when `Host` differs
/// from it byte for byte).
pub fn target_authority(request: &RequestHeader) -> Option<&str> {
    if let Some(authority) = request.uri.authority() {
        return Some(authority.as_str());
    }
    pingora_http::authority::raw_target_authority(request.raw_path())
        .authority()
        .and_then(|a| std::str::from_utf8(a).ok())
}

/// The form of the request's target as the client sent it (Pingora has
/// percent-escaped a raw space or other illegal byte in it by then, which
/// leaves no origin form: such a target is refused).
pub fn target_form(request: &RequestHeader) -> zbin::decide::TargetForm {
    use pingora_http::authority::{raw_target_authority, RawTargetAuthority};
    use zbin::decide::TargetForm;
    let raw = request.raw_path();
    if request.version == http::Version::HTTP_2 || raw.first() == Some(&b'/') {
        return TargetForm::Origin;
    }
    match raw_target_authority(raw) {
        RawTargetAuthority::Absolute { .. } => TargetForm::Absolute,
        _ if raw == b"*" => TargetForm::Asterisk,
        _ => TargetForm::Invalid,
    }
}

/// The host and port the client asked for: the target's authority
/// (`target_authority`), else HTTP/1's `Host` (`zbin::decide::Facts::authority`).
pub fn authority(request: &RequestHeader) -> &str {
    target_authority(request)
        .or_else(|| request.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()))
        .unwrap_or("")
}

/// An `x-request-id` worth keeping: 1 to 128 of `[A-Za-z0-9._:-]`.
pub fn valid_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 128 && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A new request id: 128 random bits, in hex. Ids are made many at a
/// time, into one buffer per thread, and each is a slice of it: a request
/// costs no allocation of its own (a buffer is freed with its last id).
pub fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const BITS: usize = 16;
    const PER_BATCH: usize = 64;
    thread_local! {
        /// The current batch, and where the next id in it starts.
        static BATCH: std::cell::RefCell<(bytes::Bytes, usize)> = Default::default();
    }
    BATCH.with_borrow_mut(|(batch, next)| {
        if *next >= batch.len() {
            let mut bits = [0u8; BITS * PER_BATCH];
            rand::fill(&mut bits[..]);
            let hex: Vec<u8> = bits
                .iter()
                .flat_map(|&byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]])
                .collect();
            *batch = bytes::Bytes::from(hex);
            *next = 0;
        }
        let id = batch.slice(*next..*next + 2 * BITS);
        *next += 2 * BITS;
        HeaderValue::from_maybe_shared(id).expect("hex digits are a header value")
    })
}

/// The request's id: the client's when valid, a new one otherwise. A
/// header value, so that the upstream request and the answer share it
/// without copying it again.
pub fn request_id(request: &RequestHeader) -> HeaderValue {
    request
        .headers
        .get(X_REQUEST_ID.name)
        .filter(|v| valid_request_id(v.as_bytes()))
        .map_or_else(new_request_id, HeaderValue::clone)
}

/// A request id as text: only ever made of `valid_request_id` bytes.
pub fn request_id_str(id: &HeaderValue) -> &str {
    std::str::from_utf8(id.as_bytes()).unwrap_or_default()
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

/// `X-Forwarded-For` for the upstream: every line the client sent, as one
/// list (RFC 9110 §5.3), then the client's address.
/// `request` is None for a request known to hold none.
pub fn forwarded_for(request: Option<&RequestHeader>, client: Option<IpAddr>) -> Option<HeaderValue> {
    // Written on the stack, then copied once into the value.
    let mut value = Buffer::new();
    let lines = request
        .into_iter()
        .flat_map(|r| r.headers.get_all(X_FORWARDED_FOR.name));
    for line in lines {
        if !value.is_empty() {
            value.extend_from_slice(b", ");
        }
        value.extend_from_slice(line.as_bytes());
    }
    if let Some(ip) = client {
        if !value.is_empty() {
            value.extend_from_slice(b", ");
        }
        push_ip(&mut value, ip);
    }
    if value.is_empty() {
        return None;
    }
    // Lines that were header values, and an address: a header value.
    HeaderValue::from_bytes(&value).ok()
}

/// Room for a few addresses before spilling to the heap.
type Buffer = smallvec::SmallVec<[u8; 64]>;

/// Writes an address as `Display` does, without its formatting machinery
/// for the common IPv4 case (this runs for every proxied request).
fn push_ip(out: &mut Buffer, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(_) => out.extend_from_slice(ip.to_string().as_bytes()),
    }
}

pub fn client_ip(session: &Session) -> Option<IpAddr> {
    session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip())
}

/// `https` when the client connection is TLS, as a header value.
pub fn scheme_value(session: &Session) -> http::HeaderValue {
    http::HeaderValue::from_static(scheme(session))
}

/// `https` when the client connection is TLS.
pub fn scheme(session: &Session) -> &'static str {
    if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
        "https"
    } else {
        "http"
    }
}

/// The size of a response head as it came on the wire: the status line and
/// every field line (`name: value` and its line end).
pub fn response_head_size(response: &ResponseHeader) -> usize {
    let fields: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    // `HTTP/1.1 200 `, the reason phrase, CRLF; and the blank line.
    let reason = response.get_reason_phrase().map_or(0, str::len);
    fields + "HTTP/1.1 200 ".len() + reason + 4
}

/// Methods a retry may repeat (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::OPTIONS
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::TRACE
    )
}

/// The status an error is answered with, `0` when the client is gone:
/// the one place errors become 400/408/413/502/503/504.
pub fn error_status(e: &Error) -> u16 {
    use ErrorSource::{Downstream, Upstream};
    use ErrorType::*;
    match (e.esource(), e.etype()) {
        (_, HTTPStatus(code)) => *code,
        (Downstream, ReadTimedout) => 408,
        (Downstream, ConnectionClosed | ReadError | WriteError | H2Error | WriteTimedout) => 0,
        (Downstream, _) => 400,
        (_, ConnectTimedout | ReadTimedout | WriteTimedout) => 504,
        (Upstream, _) => 502,
        (_, ConnectRefused | ConnectNoRoute | ConnectError | ConnectionClosed | TLSHandshakeFailure) => 502,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id(b"4bf92f3577b34da6-a3ce.929d:0e"));
        assert!(!valid_request_id(b""));
        assert!(!valid_request_id(b"has space"));
        assert!(!valid_request_id("a".repeat(129).as_bytes()));
        // Past the end of a batch too: every id is new and well formed.
        let ids: std::collections::HashSet<HeaderValue> = (0..200).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 200);
        for id in &ids {
            assert_eq!(request_id_str(id).len(), 32);
            assert!(id.as_bytes().iter().all(|b| b"0123456789abcdef".contains(b)), "{id:?}");
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.99.100",
            "127.0.0.1",
            "255.255.255.255",
            "::1",
            "2001:db8::8:800:200c:417a",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Buffer::new();
            push_ip(&mut out, ip);
            assert_eq!(std::str::from_utf8(&out).unwrap(), ip.to_string());
        }
    }

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

    #[test]
    fn added_headers_replace_the_clients_and_keep_their_case_on_the_wire() {
        let mut request = RequestHeader::build("GET", b"/", None).unwrap();
        request.append_header("x-request-id", "from-the-client").unwrap();
        request.append_header("Accept", "*/*").unwrap();
        X_REQUEST_ID
            .set(&mut request, HeaderValue::from_static("ours"))
            .unwrap();
        X_FORWARDED_PROTO
            .set(&mut request, HeaderValue::from_static("https"))
            .unwrap();
        let mut wire = Vec::new();
        request.header_to_h1_wire(&mut wire);
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "X-Request-Id: ours\r\nAccept: */*\r\nX-Forwarded-Proto: https\r\n",
            "the client's value is replaced where it stood, in our case"
        );
        let mut answer = ResponseHeader::build(200, None).unwrap();
        answer.append_header("X-Request-Id", "from-the-origin").unwrap();
        X_REQUEST_ID
            .set_on_answer(&mut answer, HeaderValue::from_static("ours"))
            .unwrap();
        // In the map, as every reader of `headers` expects.
        assert_eq!(answer.headers.get("x-request-id").unwrap(), "ours");
        let parts = answer.as_owned_parts();
        let ids: Vec<_> = parts.headers.get_all("x-request-id").iter().collect();
        assert_eq!(ids, ["ours"]);
    }

    #[test]
    fn forwarded_for_joins_every_line_then_the_client() {
        let mut request = RequestHeader::build("GET", b"/", None).unwrap();
        let client = Some(IpAddr::from([192, 0, 2, 7]));
        assert_eq!(forwarded_for(Some(&request), client).unwrap(), "192.0.2.7");
        assert_eq!(forwarded_for(Some(&request), None), None);
        assert_eq!(forwarded_for(None, client).unwrap(), "192.0.2.7");
        request.append_header("x-forwarded-for", "203.0.113.1").unwrap();
        request
            .append_header("X-Forwarded-For", "198.51.100.2, 10.0.0.1")
            .unwrap();
        assert_eq!(
            forwarded_for(Some(&request), client).unwrap(),
            "203.0.113.1, 198.51.100.2, 10.0.0.1, 192.0.2.7"
        );
        assert_eq!(
            forwarded_for(Some(&request), None).unwrap(),
            "203.0.113.1, 198.51.100.2, 10.0.0.1"
        );
    }

    #[test]
    fn errors_become_statuses() {
        let e = |kind, source: fn(Box<Error>) -> Box<Error>| source(Error::new(kind));
        assert_eq!(error_status(&e(ErrorType::ConnectRefused, Error::into_up)), 502);
        assert_eq!(error_status(&e(ErrorType::ConnectTimedout, Error::into_up)), 504);
        assert_eq!(error_status(&e(ErrorType::ReadTimedout, Error::into_up)), 504);
        assert_eq!(error_status(&e(ErrorType::ReadTimedout, Error::into_down)), 408);
        assert_eq!(error_status(&e(ErrorType::ConnectionClosed, Error::into_down)), 0);
        assert_eq!(error_status(&e(ErrorType::InvalidHTTPHeader, Error::into_down)), 400);
        assert_eq!(error_status(&e(ErrorType::InvalidHTTPHeader, Error::into_up)), 502);
        assert_eq!(error_status(&e(ErrorType::HTTPStatus(413), |e| e)), 413);
    }
}
