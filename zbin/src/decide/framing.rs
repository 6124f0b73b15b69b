//! How a request says where its body ends (RFC 9112 §6), read strictly:
//! anything two parsers could read two ways is refused, so that no proxy
//! or origin behind zentinel can find a second request in a body (request
//! smuggling). Where RFC 9112 lets a server choose, this does what Envoy
//! does: it refuses.

use super::{HeaderSource, Version};

/// A request's framing, as its headers declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    /// One `Content-Length`, a plain decimal number.
    Length(u64),
    /// `Transfer-Encoding: chunked`, alone.
    Chunked,
    /// Ambiguous or malformed: `400`, and the connection closes.
    Invalid(&'static str),
    /// A transfer coding other than `chunked`: `501`.
    Unsupported,
}

impl Framing {
    /// Reads the framing of a request of `version` from its headers.
    pub fn read(headers: &dyn HeaderSource, version: Version) -> Framing {
        let length = headers.value("content-length");
        let coding = headers.value("transfer-encoding");
        match (coding, length) {
            (None, None) => Framing::None,
            (None, Some(length)) => content_length(&length),
            // HTTP/2 frames bodies itself; its parser refuses these headers.
            (Some(_), _) if version == Version::Http2 => Framing::None,
            (Some(_), _) if version == Version::Http10 => {
                Framing::Invalid("`Transfer-Encoding` in an HTTP/1.0 request")
            }
            (Some(_), Some(_)) => Framing::Invalid("both `Content-Length` and `Transfer-Encoding`"),
            (Some(coding), None) => transfer_coding(&coding),
        }
    }
}

/// One plain decimal number: not a list (RFC 9110 §8.6 lets a recipient
/// take `3, 3` as `3`, but a parser behind us may not), no sign, no space.
fn content_length(value: &[u8]) -> Framing {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Framing::Invalid("a `Content-Length` that is not one decimal number");
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Framing::Invalid("a `Content-Length` too large"), Framing::Length)
}

/// `chunked` once, last (RFC 9112 §6.3: otherwise the length cannot be
/// determined reliably, `400`); any other coding is one zentinel does not
/// decode (`501`, RFC 9112 §6.1).
fn transfer_coding(value: &[u8]) -> Framing {
    let codings: Vec<&[u8]> = value.split(|&b| b == b',').map(<[u8]>::trim_ascii).collect();
    let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.as_slice() {
        [only] if chunked(only) => Framing::Chunked,
        [.., last] if !chunked(last) => Framing::Invalid("`Transfer-Encoding` that does not end in `chunked`"),
        all if all.iter().filter(|c| chunked(c)).count() > 1 => Framing::Invalid("`chunked` applied twice"),
        _ => Framing::Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(headers: &[(&str, &str)], version: Version) -> Framing {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Framing::read(&headers, version)
    }

    #[test]
    fn only_unambiguous_framing_is_read() {
        use Version::*;
        assert_eq!(framing(&[], Http11), Framing::None);
        assert_eq!(framing(&[("content-length", "42")], Http11), Framing::Length(42));
        assert_eq!(framing(&[("transfer-encoding", "Chunked")], Http11), Framing::Chunked);
        for bad in [
            vec![("content-length", "4"), ("transfer-encoding", "chunked")],
            vec![("content-length", "4"), ("content-length", "5")],
            vec![("content-length", "3"), ("content-length", "3")],
            vec![("content-length", "3, 3")],
            vec![("content-length", "-1")],
            vec![("content-length", "+1")],
            vec![("content-length", "4x")],
            vec![("content-length", "")],
            vec![("content-length", "99999999999999999999999")],
            vec![("transfer-encoding", "chunked, identity")],
            vec![("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
            vec![("transfer-encoding", "xchunked")],
        ] {
            assert!(matches!(framing(&bad, Http11), Framing::Invalid(_)), "{bad:?}");
        }
        assert!(matches!(
            framing(&[("transfer-encoding", "chunked")], Http10),
            Framing::Invalid(_)
        ));
        assert_eq!(
            framing(&[("transfer-encoding", "gzip, chunked")], Http11),
            Framing::Unsupported
        );
    }
}
