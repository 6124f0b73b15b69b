//! HTTP/1.1 as bytes: finding the end of a head, reading until enough has
//! arrived, and parsing a whole response. The client and the origins read
//! the wire with the same few functions.

use std::io::Read;
use std::net::TcpStream;

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads into `raw` until `until(raw)` holds; false when the peer is gone.
pub(super) fn fill(stream: &mut TcpStream, raw: &mut Vec<u8>, until: impl Fn(&[u8]) -> bool) -> bool {
    let mut buf = [0u8; 8192];
    while !until(raw) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// Parses a whole HTTP/1.1 response (content-length, chunked or close).
pub fn parse_response(raw: &[u8]) -> Response {
    let end = find(raw, b"\r\n\r\n").unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        while let Some(line_end) = find(&rest[at..], b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[at..at + line_end]).trim(), 16).unwrap_or(0);
            at += line_end + 2;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[at..(at + size).min(rest.len())]);
            at += size + 2;
        }
        body
    } else {
        match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, len)) => rest[..len.parse::<usize>().unwrap().min(rest.len())].to_vec(),
            None => rest.to_vec(),
        }
    };
    Response { status, headers, body }
}
