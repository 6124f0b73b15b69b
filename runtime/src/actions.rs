//! The answers zentinel writes itself: `respond`, `redirect`, `static`,
//! errors, and agents' blocks. Each writes a whole response on the
//! downstream session, with the request's `x-request-id` and then the
//! route's and the agents' response header edits, and returns its status
//! for the access log.

use std::path::{Path, PathBuf};

use crate::preconditions::{self, Outcome, Validators};
use bytes::{Bytes, BytesMut};
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use zbin::model::{HeaderEdit, HeaderOp};

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
fn decode(path: &str) -> Option<PathBuf> {
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

/// The file under `root` (canonical) for `relative`, if it exists inside
/// the root: symlinks that lead outside are refused.
async fn inside(root: &Path, relative: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
    let candidate = tokio::fs::canonicalize(root.join(relative)).await.ok()?;
    if !candidate.starts_with(root) {
        return None;
    }
    let metadata = tokio::fs::metadata(&candidate).await.ok()?;
    Some((candidate, metadata))
}

/// A strong validator from size and modification time.
fn etag(metadata: &std::fs::Metadata) -> String {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{:x}\"", metadata.len(), modified)
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

/// `static "DIR" [index "..."] [fallback "..."]`: serves `path` (already
/// normalized, with the route's prefix removed) from `root`, the canonical
/// root directory (`None` when it did not exist at load: then found now).
pub async fn serve_file(
    session: &mut Session,
    root: &Path,
    path: &str,
    index: Option<&str>,
    fallback: Option<&str>,
    answer: Answer<'_>,
) -> Result<u16> {
    let method = session.req_header().method.clone();
    if method != http::Method::GET && method != http::Method::HEAD {
        return text(session, 405, "method not allowed", &[("allow", "GET, HEAD")], answer).await;
    }
    let Some((file_path, metadata)) = find_file(root, path, index, fallback).await else {
        return text(session, 404, "not found", &[], answer).await;
    };
    let tag = etag(&metadata);
    let mut headers = validators(&tag, &metadata);
    let file = Validators {
        etag: &tag,
        modified: metadata.modified().ok(),
    };
    let ranges = match preconditions::evaluate(&method, &session.req_header().headers, file) {
        Outcome::NotModified => return send_owned(session, 304, &headers, answer).await,
        Outcome::Failed => return send_owned(session, 412, &headers, answer).await,
        Outcome::Proceed { ranges } => ranges,
    };
    let len = metadata.len();
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
    let part = FilePart {
        path: &file_path,
        start,
        end,
    };
    let content_type = mime_guess::from_path(&file_path).first_or_octet_stream().to_string();
    headers.push(("content-type", content_type));
    let mut response = ResponseHeader::build(status, Some(headers.len() + 3))?;
    for (name, value) in &headers {
        response.insert_header(name.to_string(), value.as_str())?;
    }
    response.insert_header("content-length", part.len().to_string())?;
    answer.finish(&mut response)?;
    let head = method == http::Method::HEAD || part.len() == 0;
    session.write_response_header(Box::new(response), head).await?;
    if !head {
        part.send(session).await?;
    }
    Ok(status)
}

/// The file a static route answers `path` with: the file itself, else a
/// directory's `index`, else the `fallback`; `None` for a `404`. Every
/// candidate is looked up with `inside`, so none leads out of `root`.
async fn find_file(
    root: &Path,
    path: &str,
    index: Option<&str>,
    fallback: Option<&str>,
) -> Option<(PathBuf, std::fs::Metadata)> {
    let relative = decode(path.trim_start_matches('/')).unwrap_or_default();
    let mut found = inside(root, &relative).await;
    if let Some((dir, metadata)) = &found {
        if metadata.is_dir() {
            found = match index {
                Some(index) => inside(root, &dir.strip_prefix(root).unwrap_or(&relative).join(index)).await,
                None => None,
            };
        }
    }
    if found.as_ref().is_none_or(|(_, m)| !m.is_file()) {
        found = match fallback {
            Some(fallback) => inside(root, Path::new(fallback)).await.filter(|(_, m)| m.is_file()),
            None => None,
        };
    }
    found
}

/// The headers every answer about a file carries, `304` and `416`
/// included: its validators, and that ranges of it can be asked for.
fn validators(tag: &str, metadata: &std::fs::Metadata) -> Vec<(&'static str, String)> {
    let mut headers: Vec<(&'static str, String)> =
        vec![("etag", tag.to_string()), ("accept-ranges", "bytes".to_string())];
    if let Some(date) = metadata.modified().ok().map(httpdate::fmt_http_date) {
        headers.push(("last-modified", date));
    }
    headers
}

/// The bytes of a file an answer sends: from `start` to `end` (exclusive),
/// all of it or the one range asked for.
struct FilePart<'a> {
    path: &'a Path,
    start: u64,
    end: u64,
}

impl FilePart<'_> {
    fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Sends the part as the answer's body, in chunks of `CHUNK` read as
    /// they are sent, so a large file is never held in memory. A file that
    /// shrinks meanwhile ends the body short of the length announced.
    async fn send(&self, session: &mut Session) -> Result<()> {
        let mut file = tokio::fs::File::open(self.path)
            .await
            .map_err(|e| file_error("opening a static file", e))?;
        if self.start > 0 {
            file.seek(std::io::SeekFrom::Start(self.start))
                .await
                .map_err(|e| file_error("seeking a static file", e))?;
        }
        let mut remaining = self.len();
        while remaining > 0 {
            let want = (remaining as usize).min(CHUNK);
            // Read straight into the buffer that is sent: no copy per chunk.
            let mut buffer = BytesMut::with_capacity(want);
            let read = (&mut file)
                .take(want as u64)
                .read_buf(&mut buffer)
                .await
                .map_err(|e| file_error("reading a static file", e))?;
            if read == 0 {
                break; // the file shrank while being sent
            }
            remaining -= read as u64;
            session
                .write_response_body(Some(buffer.freeze()), remaining == 0)
                .await?;
        }
        Ok(())
    }
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
