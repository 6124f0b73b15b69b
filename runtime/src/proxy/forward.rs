//! The forwarding headers of an upstream request: the client's hop-by-hop
//! headers go (by Pingora's rules, in one pass), and `X-Forwarded-For`,
//! `-Proto`, `-Host` and `X-Request-Id` are set.

use pingora_error::Result;
use pingora_http::RequestHeader;
use pingora_proxy::Session;

use crate::context::Ctx;
use crate::request;

/// Strips the client's hop-by-hop headers from `request` and sets the
/// forwarding headers.
pub(super) fn forward(session: &Session, request: &mut RequestHeader, ctx: &Ctx) -> Result<()> {
    // First, so that the edits below may set any header: Pingora's own
    // pass is off for zentinel's peers (`upstream_peer`). The same pass
    // tells whether the client sent any of the four headers set here.
    let held = request::strip_request_hop_by_hop(request, session.req_header().version == http::Version::HTTP_11)?;

    // Room for the four forwarding headers and the edits at once: the
    // maps of a request with few headers would otherwise grow again for
    // each (vendored `reserve`, a patch written for upstream).
    request.reserve(4 + ctx.request_edit_count());
    // None only without a client address (a Unix socket) or any line.
    let lines = held.then_some(&*request);
    if let Some(forwarded_for) = request::forwarded_for(lines, request::client_ip(session)) {
        request::X_FORWARDED_FOR.set(request, forwarded_for)?;
    }
    request::X_FORWARDED_PROTO.set(request, request::scheme_value(session))?;
    // The authority the client asked for: its `Host` value as sent, or
    // an HTTP/2 client's `:authority`.
    let client_request = session.req_header();
    match client_request.headers.get(http::header::HOST) {
        Some(host) => {
            let host = host.clone();
            request::X_FORWARDED_HOST.set(request, host)?;
        }
        None => {
            // An HTTP/2 `:authority`: checked by the `http` crate.
            let host = http::HeaderValue::from_str(request::authority(client_request)).ok();
            if let Some(host) = host.filter(|h| !h.is_empty()) {
                request::X_FORWARDED_HOST.set(request, host)?;
            }
        }
    }
    request::X_REQUEST_ID.set(request, ctx.request_id.clone())?;
    Ok(())
}
