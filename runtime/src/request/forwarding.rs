//! The headers zentinel adds to every proxied request (`X-Forwarded-For`,
//! `-Proto`, `-Host`, `X-Request-Id`) and answer (`X-Request-Id`), written
//! with a static name and their case on the wire.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue};
use pingora_http::{RequestHeader, ResponseHeader};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
