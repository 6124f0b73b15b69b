//! The answers zentinel writes itself: `respond`, `redirect`, `static`,
//! errors, and agents' blocks. Each writes a whole response on the
//! downstream session, with the request's `x-request-id` and then the
//! route's and the agents' response header edits, and returns its status
//! for the access log.

use std::path::{Path, PathBuf};

use crate::compress::{self, Encoder, Negotiated};
use crate::files::{FileCache, Found};
use crate::preconditions::{self, Outcome, Validators};
use std::sync::Arc;

use bytes::Bytes;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use zbin::model::{Codec, Compress, HeaderEdit, HeaderOp};

/// Files are sent in chunks of this size, never read whole.
const CHUNK: usize = 64 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";

/// What every answer carries, zentinel's own and a proxied one alike: the
/// request id, then the route's response header edits, then the agents'.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    pub request_id: &'a http::HeaderValue,
    pub route_edits: &'a [HeaderEdit],
    pub agent_edits: &'a [HeaderEdit],
    /// The route's `compress` and what the request accepts, if it has one.
    pub compress: Option<(Negotiated, &'a Compress)>,
}

impl Answer<'_> {
    pub fn finish(&self, response: &mut ResponseHeader) -> Result<()> {
        crate::request::X_REQUEST_ID.set_on_answer(response, self.request_id.clone())?;
        apply_edits(response, self.route_edits)?;
        apply_edits(response, self.agent_edits)
    }
}

/// Applies header edits, in order, to a response.
fn apply_edits(response: &mut ResponseHeader, edits: &[HeaderEdit]) -> Result<()> {
    for edit in edits {
        match edit.op {
            HeaderOp::Set => {
                response.insert_header(edit.name.clone(), edit.value.as_str())?;
            }
            HeaderOp::Add => {
                response.append_header(edit.name.clone(), edit.value.as_str())?;
            }
            HeaderOp::Remove => {
                response.remove_header(&edit.name);
            }
        }
    }
    Ok(())
}

/// Whether a status never carries a body.
fn bodiless(status: u16) -> bool {
    matches!(status, 100..=199 | 204 | 304)
}

/// Writes a complete response with `body` (none for `HEAD` and for the
/// statuses that never have one).
pub async fn send(
    session: &mut Session,
    status: u16,
    headers: &[(&str, &str)],
    body: Bytes,
    answer: Answer<'_>,
) -> Result<u16> {
    let head = session.req_header().method == http::Method::HEAD;
    let mut response = ResponseHeader::build(status, Some(headers.len() + 3))?;
    for (name, value) in headers {
        response.insert_header(name.to_string(), *value)?;
    }
    let body = if bodiless(status) { Bytes::new() } else { body };
    if !bodiless(status) {
        response.insert_header("content-length", body.len().to_string())?;
    }
    answer.finish(&mut response)?;
    let end = head || body.is_empty();
    session.write_response_header(Box::new(response), end).await?;
    if !end {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(status)
}

/// A short text answer: errors, `404` of an action-less route.
pub async fn text(
    session: &mut Session,
    status: u16,
    message: &str,
    extra: &[(&str, &str)],
    answer: Answer<'_>,
) -> Result<u16> {
    let mut headers = vec![("content-type", TEXT)];
    headers.extend_from_slice(extra);
    send(session, status, &headers, Bytes::from(format!("{message}\n")), answer).await
}

/// `respond STATUS ["BODY"] [content_type "..."]`.
pub async fn respond(
    session: &mut Session,
    status: u16,
    body: &str,
    content_type: Option<&str>,
    answer: Answer<'_>,
) -> Result<u16> {
    let mut headers = Vec::new();
    if !body.is_empty() || content_type.is_some() {
        headers.push(("content-type", content_type.unwrap_or(TEXT)));
    }
    send(
        session,
        status,
        &headers,
        Bytes::copy_from_slice(body.as_bytes()),
        answer,
    )
    .await
}

/// `redirect STATUS "TEMPLATE"`, the template already rendered.
pub async fn redirect(session: &mut Session, status: u16, location: &str, answer: Answer<'_>) -> Result<u16> {
    let body = format!("redirecting to {location}\n");
    let headers = [("location", location), ("content-type", TEXT)];
    send(session, status, &headers, Bytes::from(body), answer).await
}

/// Decodes the percent escapes a normalized path still has (bytes outside
/// the unreserved set) into a file name.
pub(crate) fn decode(path: &str) -> Option<PathBuf> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(zbin::normalize::hex_byte(*bytes.get(i + 1)?, *bytes.get(i + 2)?)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// A single `bytes=` range within `len`: (start, end inclusive).
/// `Err(())` for a range that cannot be satisfied; `Ok(None)` for no
/// usable range header (several ranges are answered whole, as allowed).
fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (start, "") => (start.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| ())?;
            let end: u64 = end.parse().map_err(|_| ())?;
            (start, end.min(len.saturating_sub(1)))
        }
    };
    if start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `send` without a body, for headers held as owned strings.
async fn send_owned(
    session: &mut Session,
    status: u16,
    headers: &[(&'static str, String)],
    answer: Answer<'_>,
) -> Result<u16> {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    send(session, status, &headers, Bytes::new(), answer).await
}

fn file_error(what: &'static str, e: std::io::Error) -> Box<pingora_error::Error> {
    pingora_error::Error::because(pingora_error::ErrorType::FileReadError, what, e)
}

/// A `static` route: its canonical root directory and its options.
#[derive(Clone, Copy)]
pub struct StaticRoute<'a> {
    pub root: &'a Path,
    pub index: Option<&'a str>,
    pub fallback: Option<&'a str>,
    pub precompressed: bool,
}

/// `static "DIR" [index "..."] [fallback "..."] [precompressed]`: serves
/// `path` (already normalized, with the route's prefix removed) from the
/// route's root, through the open-file cache.
pub async fn serve_file(
    session: &mut Session,
    files: &FileCache,
    route: StaticRoute<'_>,
    path: &str,
    answer: Answer<'_>,
) -> Result<u16> {
    let method = session.req_header().method.clone();
    if method != http::Method::GET && method != http::Method::HEAD {
        return text(session, 405, "method not allowed", &[("allow", "GET, HEAD")], answer).await;
    }
    let Some(found) = files.find(route.root, path, route.index, route.fallback).await else {
        return text(session, 404, "not found", &[], answer).await;
    };
    let content_type = found.content_type.clone();
    let (found, coding) = match route.precompressed {
        true => precompressed_variant(session, files, route.root, found).await,
        false => (found, None),
    };
    let mut headers = validators(&found);
    if route.precompressed {
        headers.push(("vary", "Accept-Encoding".to_string()));
    }
    if let Some(codec) = coding {
        headers.push(("content-encoding", codec.token().to_string()));
    }
    let file = Validators {
        etag: &found.etag,
        modified: found.modified,
    };
    let ranges = match preconditions::evaluate(&method, &session.req_header().headers, file) {
        Outcome::NotModified => return send_owned(session, 304, &headers, answer).await,
        Outcome::Failed => return send_owned(session, 412, &headers, answer).await,
        Outcome::Proceed { ranges } => ranges,
    };
    let len = found.len;
    let range = session
        .req_header()
        .headers
        .get("range")
        .filter(|_| ranges)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, len));
    let (status, start, end) = match range {
        Some(Err(())) => {
            headers.push(("content-range", format!("bytes */{len}")));
            return send_owned(session, 416, &headers, answer).await;
        }
        Some(Ok(Some((start, end)))) => {
            headers.push(("content-range", format!("bytes {start}-{end}/{len}")));
            (206, start, end + 1)
        }
        _ => (200, 0, len),
    };
    headers.push(("content-type", content_type));
    let mut response = ResponseHeader::build(status, Some(headers.len() + 3))?;
    for (name, value) in &headers {
        response.insert_header(*name, value.as_str())?;
    }
    response.insert_header("content-length", (end - start).to_string())?;
    answer.finish(&mut response)?;
    let encoder = answer
        .compress
        .and_then(|(negotiated, compress)| negotiated.start(&mut response, compress));
    let head = method == http::Method::HEAD || end == start;
    session.write_response_header(Box::new(response), head).await?;
    if !head {
        send_part(session, &found, start, end, encoder).await?;
    }
    Ok(status)
}

/// With `precompressed`: the `FILE.br`, `FILE.zst` or `FILE.gz` beside the
/// file found, the best the client accepts that exists, and its coding;
/// else the file itself.
async fn precompressed_variant(
    session: &Session,
    files: &FileCache,
    root: &Path,
    found: Arc<Found>,
) -> (Arc<Found>, Option<Codec>) {
    let accept = session
        .req_header()
        .headers
        .get(http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let (Some(accept), Ok(relative)) = (accept, found.path.strip_prefix(root)) else {
        return (found, None);
    };
    let Some(relative) = relative.to_str() else {
        return (found, None);
    };
    for codec in compress::preferences(accept, &Codec::ALL) {
        let extension = match codec {
            Codec::Brotli => "br",
            Codec::Zstd => "zst",
            Codec::Gzip => "gz",
        };
        if let Some(variant) = files.find(root, &format!("/{relative}.{extension}"), None, None).await {
            return (variant, Some(codec));
        }
    }
    (found, None)
}

/// The headers every answer about a file carries, `304` and `416`
/// included: its validators, and that ranges of it can be asked for.
fn validators(found: &Found) -> Vec<(&'static str, String)> {
    let mut headers: Vec<(&'static str, String)> =
        vec![("etag", found.etag.clone()), ("accept-ranges", "bytes".to_string())];
    if let Some(date) = &found.last_modified {
        headers.push(("last-modified", date.clone()));
    }
    headers
}

/// Sends bytes `start..end` of a file as the answer's body, in chunks of
/// `CHUNK` read as they are sent, so a large file is never held in memory.
/// A file that shrinks meanwhile ends the body short of the length
/// announced. With an `encoder`, each chunk is compressed as it goes.
async fn send_part(
    session: &mut Session,
    found: &Arc<Found>,
    start: u64,
    end: u64,
    mut encoder: Option<Encoder>,
) -> Result<()> {
    let mut at = start;
    while at < end {
        let want = (end - at).min(CHUNK as u64);
        let mut chunk = found
            .read(at, at + want)
            .await
            .map_err(|e| file_error("reading a static file", e))?;
        let shrank = chunk.is_empty();
        at = if shrank { end } else { at + chunk.len() as u64 };
        if let Some(encoder) = encoder.as_mut() {
            chunk = encoder.encode(&chunk, at >= end).ok_or_else(|| {
                pingora_error::Error::explain(pingora_error::ErrorType::InternalError, "compressing a static file")
            })?;
        }
        if shrank && chunk.is_empty() {
            break; // the file shrank while being sent
        }
        session.write_response_body(Some(chunk), at >= end).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-1", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a%20b.txt"), Some(PathBuf::from("a b.txt")));
        assert_eq!(decode("a%00"), None);
        assert_eq!(decode("a%G0"), None);
        assert_eq!(decode("a%+5"), None);
    }
}
