//! `compress` (LANGUAGE.md §9.2): which coding an answer gets, and the
//! streaming encoder that applies it. Negotiation is zentinel's (q-values,
//! the route's codecs, types and `min_size`, what must never be encoded);
//! the codecs are Pingora's (`pingora_core::protocols::http::compression`),
//! never written here. Proxied answers and static files both go through
//! `Negotiated::start` and `Encoder`.

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY,
};
use pingora_core::protocols::http::compression::{Algorithm, Encode};
use pingora_http::{RequestHeader, ResponseHeader};
use zbin::model::{Codec, Compress};

/// The levels used: bounded so that one core keeps a sensible throughput
/// (docs/benchmarks.md records what they give).
fn level(codec: Codec) -> u32 {
    match codec {
        Codec::Gzip => 5,
        Codec::Brotli => 4,
        Codec::Zstd => 3,
    }
}

/// What the request allows, worked out once from its `Accept-Encoding`
/// and the route's `compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The coding to use if the answer qualifies; `None` when the client
    /// accepts none of the route's (its answers still vary on the header).
    codec: Option<Codec>,
}

impl Negotiated {
    /// The coding for `request` under `compress`, chosen by the client's
    /// q-values; a tie goes to br, then zstd, then gzip. `HEAD` is never
    /// encoded.
    pub fn new(request: &RequestHeader, compress: &Compress) -> Negotiated {
        let accept = request.headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok());
        let codec = if request.method == http::Method::HEAD {
            None
        } else {
            accept.and_then(|accept| choose(accept, &compress.codecs))
        };
        Negotiated { codec }
    }

    /// Decides for `response` and, when it is encoded, rewrites its head:
    /// `Content-Encoding`, no `Content-Length`, a weak `ETag`. `Vary:
    /// Accept-Encoding` goes on every answer that could have been encoded,
    /// whether this one was or not. The encoder for its body, if any.
    pub fn start(self, response: &mut ResponseHeader, compress: &Compress) -> Option<Encoder> {
        if !eligible(response, compress) {
            return None;
        }
        add_vary(response);
        let codec = self.codec?;
        let algorithm = match codec {
            Codec::Gzip => Algorithm::Gzip,
            Codec::Brotli => Algorithm::Brotli,
            Codec::Zstd => Algorithm::Zstd,
        };
        let encoder = algorithm.compressor(level(codec))?;
        let _ = response.insert_header(CONTENT_ENCODING, codec.token());
        response.remove_header(&CONTENT_LENGTH);
        if let Some(tag) = response.headers.get(ETAG).and_then(|t| t.to_str().ok()) {
            if tag.starts_with('"') {
                let weak = format!("W/{tag}");
                let _ = response.insert_header(ETAG, weak);
            }
        }
        Some(Encoder { inner: encoder })
    }
}

/// A request's compression state, on a route with `compress`.
#[derive(Debug)]
pub struct Compression {
    pub negotiated: Negotiated,
    /// Set once a proxied answer's head was found to qualify.
    pub encoder: Option<Encoder>,
}

/// A body being encoded, chunk by chunk, never buffered whole.
pub struct Encoder {
    inner: Box<dyn Encode + Send + Sync>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoder")
    }
}

impl Encoder {
    /// The encoded bytes for `chunk` (`end` on the last): maybe empty
    /// while the codec gathers input. `None` when the codec failed; the
    /// answer is then cut off, since its head already promised the coding.
    pub fn encode(&mut self, chunk: &[u8], end: bool) -> Option<Bytes> {
        self.inner.encode(chunk, end).ok()
    }
}

/// Whether an answer may be encoded at all (LANGUAGE.md §9.2): a final,
/// full answer with a body, not already encoded, not `no-transform`, of a
/// listed type, and not known to be under `min_size`.
fn eligible(response: &ResponseHeader, compress: &Compress) -> bool {
    let status = response.status.as_u16();
    if !(200..300).contains(&status) || matches!(status, 204 | 206) {
        return false;
    }
    let headers = &response.headers;
    if headers
        .get(CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return false;
    }
    if headers.get_all(CACHE_CONTROL).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-transform")))
    }) {
        return false;
    }
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|len| len < compress.min_size) {
        return false;
    }
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|content_type| type_listed(content_type, &compress.types))
}

/// Whether `content_type` (parameters aside) is one of `types`.
fn type_listed(content_type: &str, types: &[String]) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let top = media.split('/').next().unwrap_or("");
    types.iter().any(|t| match t.strip_suffix("/*") {
        Some(prefix) => prefix == top,
        None => *t == media,
    })
}

/// Adds `Accept-Encoding` to `Vary` unless it is there (or `*` is).
fn add_vary(response: &mut ResponseHeader) {
    let present = response.headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|f| f.trim() == "*" || f.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !present {
        let _ = response.append_header(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// The codec of `offered` the client prefers by q-value (RFC 9110
/// §12.5.3); ties go to the order of `Codec::ALL`. `*` stands for any
/// coding not named; `q=0` refuses one.
fn choose(accept: &str, offered: &[Codec]) -> Option<Codec> {
    let mut best: Option<(u16, Codec)> = None;
    for codec in Codec::ALL {
        if !offered.contains(&codec) {
            continue;
        }
        let q = quality(accept, codec.token());
        if q > 0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, codec));
        }
    }
    best.map(|(_, codec)| codec)
}

/// The codings of `offered` the client accepts, best first (by q-value,
/// then br, zstd, gzip), for choosing among precompressed files.
pub fn preferences(accept: &str, offered: &[Codec]) -> Vec<Codec> {
    let mut accepted: Vec<(u16, Codec)> = Codec::ALL
        .into_iter()
        .filter(|codec| offered.contains(codec))
        .map(|codec| (quality(accept, codec.token()), codec))
        .filter(|(q, _)| *q > 0)
        .collect();
    // Stable: equal q-values keep the order of `Codec::ALL`.
    accepted.sort_by_key(|&(q, _)| std::cmp::Reverse(q));
    accepted.into_iter().map(|(_, codec)| codec).collect()
}

/// The q-value (in thousandths) `accept` gives `token`: its own entry,
/// else `*`'s, else 0.
fn quality(accept: &str, token: &str) -> u16 {
    let mut star = None;
    for entry in accept.split(',') {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .next()
            .map_or(1000, parse_q);
        if name.eq_ignore_ascii_case(token) {
            return q;
        }
        if name == "*" {
            star = Some(q);
        }
    }
    star.unwrap_or(0)
}

/// `0.8` -> 800; anything malformed counts as 0 (not acceptable).
fn parse_q(text: &str) -> u16 {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().unwrap_or(0);
    match whole {
        "0" => thousandths,
        "1" if thousandths == 0 => 1000,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Compress {
        Compress {
            codecs: Codec::ALL.to_vec(),
            min_size: 1024,
            types: Compress::DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn q_values_choose_and_ties_go_to_br_then_zstd() {
        let offered = Codec::ALL;
        assert_eq!(choose("gzip", &offered), Some(Codec::Gzip));
        assert_eq!(choose("gzip, deflate, br, zstd", &offered), Some(Codec::Brotli));
        assert_eq!(choose("gzip, zstd", &offered), Some(Codec::Zstd));
        assert_eq!(choose("br;q=0.5, gzip;q=0.9", &offered), Some(Codec::Gzip));
        assert_eq!(choose("br;q=0, *", &offered), Some(Codec::Zstd));
        assert_eq!(choose("*;q=0", &offered), None);
        assert_eq!(choose("identity", &offered), None);
        assert_eq!(choose("gzip;q=1.5", &offered), None, "a malformed q refuses");
        assert_eq!(choose("br", &[Codec::Gzip]), None, "only what the route offers");
        assert_eq!(choose("GZIP;Q=0.2", &offered), Some(Codec::Gzip));
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn request(accept: &str, method: &str) -> RequestHeader {
        let mut r = RequestHeader::build(method, b"/", None).unwrap();
        r.insert_header("accept-encoding", accept).unwrap();
        r
    }

    #[test]
    fn what_is_never_encoded() {
        let c = all();
        let get = Negotiated::new(&request("gzip", "GET"), &c);
        let text = [("content-type", "text/html; charset=utf-8"), ("content-length", "5000")];
        assert!(get.start(&mut response(200, &text), &c).is_some());
        assert!(get.start(&mut response(206, &text), &c).is_none());
        assert!(get.start(&mut response(404, &text), &c).is_none());
        let small = [("content-type", "text/html"), ("content-length", "100")];
        assert!(get.start(&mut response(200, &small), &c).is_none());
        let png = [("content-type", "image/png"), ("content-length", "5000")];
        assert!(get.start(&mut response(200, &png), &c).is_none());
        let encoded = [("content-type", "text/html"), ("content-encoding", "gzip")];
        assert!(get.start(&mut response(200, &encoded), &c).is_none());
        let no_transform = [("content-type", "text/html"), ("cache-control", "public, no-transform")];
        assert!(get.start(&mut response(200, &no_transform), &c).is_none());
        let head = Negotiated::new(&request("gzip", "HEAD"), &c);
        assert!(head.start(&mut response(200, &text), &c).is_none());
    }

    #[test]
    fn an_encoded_head_is_rewritten_and_every_eligible_answer_varies() {
        let c = all();
        let mut r = response(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", "5000"),
                ("etag", "\"v1\""),
            ],
        );
        let encoder = Negotiated::new(&request("br", "GET"), &c).start(&mut r, &c);
        assert!(encoder.is_some());
        assert_eq!(r.headers.get("content-encoding").unwrap(), "br");
        assert!(r.headers.get("content-length").is_none());
        assert_eq!(r.headers.get("etag").unwrap(), "W/\"v1\"");
        assert_eq!(r.headers.get("vary").unwrap(), "Accept-Encoding");
        // A client that accepts nothing still gets `Vary`.
        let mut r = response(200, &[("content-type", "text/css")]);
        assert!(Negotiated::new(&request("identity", "GET"), &c)
            .start(&mut r, &c)
            .is_none());
        assert_eq!(r.headers.get("vary").unwrap(), "Accept-Encoding");
    }

    #[test]
    fn the_codecs_round_trip() {
        use std::io::Read;
        let body = "hello, compressed world\n".repeat(500);
        let c = all();
        for (accept, decode) in [("gzip", "gzip"), ("br", "br"), ("zstd", "zstd")] {
            let mut r = response(200, &[("content-type", "text/plain")]);
            let mut encoder = Negotiated::new(&request(accept, "GET"), &c).start(&mut r, &c).unwrap();
            let mut out = Vec::new();
            for chunk in body.as_bytes().chunks(1000) {
                out.extend_from_slice(&encoder.encode(chunk, false).unwrap());
            }
            out.extend_from_slice(&encoder.encode(&[], true).unwrap());
            let mut decoded = Vec::new();
            match decode {
                "gzip" => {
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                "br" => {
                    brotli::Decompressor::new(&out[..], 4096)
                        .read_to_end(&mut decoded)
                        .unwrap();
                }
                _ => decoded = zstd::decode_all(&out[..]).unwrap(),
            }
            assert_eq!(decoded, body.as_bytes(), "{accept}");
            assert!(out.len() < body.len() / 4, "{accept}: {} bytes", out.len());
        }
    }
}
