//! The facts of a Pingora request, as `zbin::decide` reads them, and the
//! decision's host and path read back against the request they came from.

use pingora_http::RequestHeader;
use pingora_proxy::Session;
use zbin::decide::{Facts, HostHeader, Scheme, Version};
use zbin::Decision;

use crate::request;
use crate::state::Serving;

/// The request's headers as the matcher reads them, without copying.
pub(crate) struct HeaderView<'h>(&'h http::HeaderMap);

impl zbin::HeaderSource for HeaderView<'_> {
    fn value(&self, name: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
        zbin::matcher::combined(self.0.get_all(name).iter().map(|v| v.as_bytes()))
    }

    fn field_count(&self) -> usize {
        self.0.len()
    }

    fn field_bytes(&self) -> u64 {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
            .sum()
    }
}

/// The normalized host of `header` (`Ctx::host`, for a borrow of the
/// decision alone).
pub(crate) fn decision_host<'a>(decision: &'a Option<Decision>, header: &'a RequestHeader) -> &'a str {
    let raw = request::authority(header);
    decision.as_ref().map_or(raw, |d| d.host.get(raw))
}

/// The normalized path of `header` (`Ctx::path`, for a borrow of the
/// decision alone).
pub(crate) fn decision_path<'a>(decision: &'a Option<Decision>, header: &'a RequestHeader) -> &'a str {
    let raw = header.uri.path();
    decision.as_ref().and_then(|d| d.normalized_path(raw)).unwrap_or(raw)
}

/// The facts of the request in `session`, put to the policy: the one
/// decision, which the phases then carry out.
pub(super) fn decide(serving: &Serving, session: &Session, request_id: &http::HeaderValue) -> Decision {
    let header = session.req_header();
    let mut hosts = header.headers.get_all(http::header::HOST).iter();
    let host_header = match (hosts.next(), hosts.next()) {
        (None, _) => HostHeader::Absent,
        (Some(host), None) => host.to_str().map_or(HostHeader::Invalid, HostHeader::Value),
        (Some(_), Some(_)) => HostHeader::Invalid,
    };
    let facts = Facts {
        method: header.method.as_str(),
        version: match header.version {
            http::Version::HTTP_2 => Version::Http2,
            http::Version::HTTP_09 | http::Version::HTTP_10 => Version::Http10,
            _ => Version::Http11,
        },
        scheme: if request::scheme(session) == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        },
        target_form: request::target_form(header),
        target_authority: request::target_authority(header),
        host_header,
        path: header.uri.path(),
        query: header.uri.query(),
        headers: &HeaderView(&header.headers),
        client_ip: request::client_ip(session),
        request_id: request::request_id_str(request_id),
    };
    zbin::decide(serving.loaded.program(), &facts)
}
