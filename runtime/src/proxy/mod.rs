//! The Pingora `ProxyHttp` phases. The policy decides once, in
//! `request_filter` (`facts`, `zbin::decide`), and the decision is kept in
//! the request context with the `Arc` of the artifact it came from, so a
//! reload never changes a request midway.
//! Limits, rate limits, agents and direct actions are answered there;
//! server choice and timeouts in `upstream_peer`; rewrites and header edits
//! in `upstream_request_filter` and `response_filter`; the access log and
//! metrics in `logging`; errors become statuses in `fail_to_proxy`
//! (`request::error_status`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::upstreams::peer::{HttpPeer, HttpUpstreamRequestPolicy};
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

mod act;
mod facts;
mod forward;
mod gate;

pub(crate) use facts::{decision_host, decision_path};

use crate::actions;
use crate::compress::{Compression, Negotiated};
use crate::context::Ctx;
use crate::request;
use crate::state::Shared;
use crate::upstream::InFlight;
use facts::decide;
use forward::forward;

/// How long a request body may take to arrive for an agent when no
/// `request_timeout` says.
const BODY_WAIT: Duration = Duration::from_secs(60);

/// The proxy: shared state, and the artifact in it.
pub struct Zentinel {
    pub shared: Arc<Shared>,
}

fn deadline_error() -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(504), "the route's timeout passed")
}

impl Zentinel {
    /// Writes an error answer of zentinel's own.
    async fn refuse(&self, session: &mut Session, ctx: &mut Ctx, status: u16, message: &str) -> Result<bool> {
        self.refuse_with(session, ctx, status, message, &[]).await
    }

    async fn refuse_with(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        status: u16,
        message: &str,
        extra: &[(&str, &str)],
    ) -> Result<bool> {
        ctx.status = Some(actions::text(session, status, message, extra, ctx.answer()).await?);
        Ok(true)
    }

    /// Counts a failed attempt against the server it went to.
    fn note_failure(&self, ctx: &Ctx) {
        let (Some(serving), Some(upstream), Some((_, _, state))) =
            (ctx.serving.as_deref(), ctx.upstream, ctx.server.as_ref())
        else {
            return;
        };
        serving.upstream_metrics[upstream.index()].failures.inc();
        self.shared
            .pools
            .record_failure(&serving.loaded.policy().upstreams[upstream.index()], state.state());
    }

    /// Whether another attempt may follow this one: the method allows it,
    /// the retry budget and the deadline are not spent, and the body can
    /// be sent again.
    fn may_retry(&self, session: &Session, ctx: &Ctx) -> bool {
        let Some(upstream) = ctx.upstream() else { return false };
        let retry = &upstream.retry;
        (retry.non_idempotent || request::is_idempotent(&session.req_header().method))
            && ctx.attempts <= retry.count
            && !ctx.past_deadline()
            && !session.as_ref().retry_buffer_truncated()
            && session.response_written().is_none()
    }
}

#[async_trait]
impl ProxyHttp for Zentinel {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new()
    }

    /// Marks the connection as reused for its next request (a `()` costs
    /// no allocation): that request's head may then take the keep-alive
    /// timeout besides `header_timeout` (vendored patch,
    /// `request_head_timeout`).
    fn persist_connection_context(
        &self,
        _session: &Session,
        _ctx: &Ctx,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        Some(Box::new(()))
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let serving = self.shared.current();
        ctx.serving = Some(serving.clone());
        let draining = session.is_process_shutting_down();
        if draining {
            // This answer is the connection's last (`Connection: close`).
            session.set_keepalive(None);
        }
        ctx.request_id = request::request_id(session.req_header());
        let decision = decide(&serving, session, &ctx.request_id);
        let policy = serving.loaded.policy();
        let limits = zbin::decide::effective_limits(policy, decision.route(policy));
        ctx.decision = Some(decision);
        self.apply_limits(session, &limits, draining);
        let decision = ctx.decision.as_ref().expect("decided above");
        if let Some(refusal) = decision.refusal() {
            if refusal.closes() {
                session.set_keepalive(None);
            }
            let message = match refusal.status() {
                400 => format!("bad request: {refusal}"),
                _ => refusal.to_string(),
            };
            return self.refuse(session, ctx, refusal.status(), &message).await;
        }
        let Some(route) = decision.route(policy) else {
            return self.refuse(session, ctx, 404, "no route matches").await;
        };
        if let (Some(limit), Some(key)) = (&route.modifiers.rate_limit, &decision.rate_key) {
            if let Err(wait) = self.shared.rate_limiter.check(&route.name, &key.bytes(), limit) {
                let wait = wait.to_string();
                return self
                    .refuse_with(session, ctx, 429, "too many requests", &[("retry-after", &wait)])
                    .await;
            }
        }
        ctx.compression = route.modifiers.compress.as_ref().map(|compress| {
            Box::new(Compression {
                negotiated: Negotiated::new(session.req_header(), compress),
                encoder: None,
            })
        });
        ctx.deadline = route
            .modifiers
            .timeout
            .and_then(|t| ctx.started.checked_add(Duration::from_millis(t)));
        if let Some(answered) = self.run_agents(session, ctx, &serving, &limits).await? {
            return Ok(answered);
        }
        self.act(session, ctx, &serving).await
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // After a 101 the bytes are a tunnel's (a WebSocket's), not a body.
        if session.was_upgraded() {
            return Ok(());
        }
        // An empty last chunk would be written as a chunk of its own, and
        // the end of the body after it: the end alone says the same.
        if end_of_stream && body.as_ref().is_some_and(Bytes::is_empty) {
            *body = None;
        }
        // Counted as it streams: a body without a length is cut off at the
        // limit instead of being buffered whole.
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if let Some(route) = ctx.route() {
                let global = ctx.serving.as_deref().map(|s| &s.loaded.policy().limits);
                let max = route
                    .modifiers
                    .limits
                    .max_body_size
                    .or(global.and_then(|l| l.max_body_size));
                if max.is_some_and(|max| ctx.body_bytes > max) {
                    return Err(Error::explain(ErrorType::HTTPStatus(413), "request body too large"));
                }
            }
        }
        if ctx.closed_gate().is_some() {
            // Boxed: the agents' exchange would make every request's
            // future larger, and only a few requests have it.
            return Box::pin(self.hold_for_agents(session, body, end_of_stream, ctx)).await;
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let left = ctx.time_left();
        if left.is_some_and(|t| t.is_zero()) {
            return Err(deadline_error());
        }
        let serving = ctx
            .serving
            .clone()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no artifact"))?;
        let id = ctx
            .upstream
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no upstream for this route"))?;
        let upstream = &serving.loaded.policy().upstreams[id.index()];
        let runtime = &serving.upstreams[id.index()];
        let key = ctx
            .decision
            .as_ref()
            .and_then(|d| d.balance_key(id))
            .map(|k| k.bytes())
            .unwrap_or_default();
        let Some(choice) = self.shared.pools.choose(upstream, runtime, &key, &ctx.tried) else {
            return Err(Error::explain(
                ErrorType::HTTPStatus(503),
                "no server of the upstream is available",
            ));
        };
        let tls = upstream.tls.as_ref();
        // A name only TLS uses: plain HTTP sends the client's Host.
        let sni = match tls {
            Some(tls) => tls.sni.clone().unwrap_or_else(|| choice.state.host.clone()),
            None => String::new(),
        };
        let mut peer = HttpPeer::new(choice.addr, tls.is_some(), sni);
        // The whole exchange ends at the route's deadline, even when the
        // server keeps sending a byte now and then (vendored patch).
        session.upstream_deadline = ctx.deadline;
        // `upstream_request_filter` strips the client's hop-by-hop headers
        // by Pingora's rules, in one pass instead of Pingora's thirteen
        // lookups (`request::strip_request_hop_by_hop`).
        peer.options.http_upstream_request_policy = HttpUpstreamRequestPolicy::preserve();
        crate::upstream::set_timeouts(&mut peer.options, &upstream.timeouts, left);
        if let Some(tls) = tls {
            peer.options.verify_cert = tls.verify;
            peer.options.verify_hostname = tls.verify;
        }
        // Counted in flight from here until the request ends or moves on to
        // another server (the previous attempt's count ends here).
        ctx.server = Some((choice.index, choice.addr, InFlight::new(choice.state)));
        // A retry replays the body from the start: what the body gate held
        // of the previous attempt is held again, not twice.
        if let Some(gate) = ctx.closed_gate() {
            gate.held.clear();
        }
        // Fewer servers than `u32::MAX` in an upstream: a policy is a file.
        ctx.tried.push(choice.index as u32);
        ctx.attempts += 1;
        // A retry replays the body through `request_body_filter`.
        ctx.body_bytes = 0;
        serving.upstream_metrics[id.index()].attempts.inc();
        Ok(Box::new(peer))
    }

    fn fail_to_connect(&self, session: &mut Session, _peer: &HttpPeer, ctx: &mut Ctx, mut e: Box<Error>) -> Box<Error> {
        self.note_failure(ctx);
        let wanted = ctx.upstream().is_some_and(|u| {
            if matches!(e.etype(), ErrorType::ConnectTimedout) {
                u.retry.on_timeout
            } else {
                u.retry.on_connect_error
            }
        });
        e.set_retry(wanted && self.may_retry(session, ctx));
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("peer: {peer}"));
        if std::mem::take(&mut ctx.retry_on_status) {
            let again = self.may_retry(session, ctx);
            e.set_retry(again);
            return e;
        }
        // A client that goes away, or sends too much, says nothing about
        // the server.
        if e.esource() != &ErrorSource::Upstream {
            e.set_retry(false);
            return e;
        }
        let timed_out = matches!(e.etype(), ErrorType::ReadTimedout | ErrorType::WriteTimedout);
        // The server waited for a body the client stopped sending: 408.
        if timed_out && !session.is_body_done() {
            ctx.client_stalled = true;
            e.set_retry(false);
            return e;
        }
        // A pooled connection the server had closed meanwhile: no fault of
        // the server, and one more go on a fresh one is always allowed.
        if client_reused && matches!(e.retry, pingora_error::RetryType::ReusedOnly) {
            let idempotent = request::is_idempotent(&session.req_header().method)
                || ctx.upstream().is_some_and(|u| u.retry.non_idempotent);
            let again = idempotent
                && !ctx.past_deadline()
                && !session.as_ref().retry_buffer_truncated()
                && session.response_written().is_none();
            e.set_retry(again);
            return e;
        }
        self.note_failure(ctx);
        let on_timeout = ctx.upstream().is_some_and(|u| u.retry.on_timeout);
        if !self.may_retry(session, ctx) {
            e.set_retry(false);
        } else if timed_out {
            e.set_retry(on_timeout);
        } else {
            // A pooled connection the server had closed: worth another go.
            e.retry.decide_reuse(client_reused);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        forward(session, request, ctx)?;
        let client_request = session.req_header();
        let (Some(decision), Some(route)) = (ctx.decision.as_ref(), ctx.route()) else {
            return Ok(());
        };
        // The upstream receives the origin form of the normalized path,
        // after any rewrite (an absolute-form target loses its authority).
        let raw_path = client_request.uri.path();
        let changed = decision
            .upstream_path(raw_path)
            .is_some_and(|p| p != request.uri.path());
        if changed || request::target_authority(request).is_some() {
            if let Some(target) = decision.upstream_target(raw_path, request.uri.query()) {
                let uri = target
                    .parse::<http::Uri>()
                    .map_err(|e| Error::because(ErrorType::InternalError, "building the upstream path", e))?;
                request.set_uri(uri);
            }
        }
        let agent_edits = ctx.agents.as_ref().map_or(&[][..], |a| a.edits.request.as_slice());
        for edit in route.modifiers.request_headers.iter().chain(agent_edits) {
            match edit.op {
                zbin::model::HeaderOp::Set => {
                    request.insert_header(edit.name.clone(), edit.value.as_str())?;
                }
                zbin::model::HeaderOp::Add => {
                    request.append_header(edit.name.clone(), edit.value.as_str())?;
                }
                zbin::model::HeaderOp::Remove => {
                    request.remove_header(&edit.name);
                }
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Nothing has gone to the client yet: past the deadline, a 504.
        if ctx.past_deadline() {
            return Err(deadline_error());
        }
        // A head larger than the limit is not relayed: the server's fault,
        // 502, as nginx and Envoy answer.
        if request::response_head_size(response) as u64 > ctx.max_response_header_size() {
            self.note_failure(ctx);
            return Err(Error::explain(
                ErrorType::HTTPStatus(502),
                "the upstream's response head is larger than the limit",
            ));
        }
        let status = response.status.as_u16();
        let on_status = ctx.upstream().is_some_and(|u| u.retry.on_status.contains(&status));
        if on_status && self.may_retry(session, ctx) {
            // Another server gets the request; this answer is dropped.
            self.note_failure(ctx);
            ctx.retry_on_status = true;
            let mut e = Error::explain(ErrorType::HTTPStatus(status), "upstream status asks for a retry");
            e.set_retry(true);
            return Err(e);
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        // The answer has begun: past the deadline, the only thing left to
        // do is to cut it off.
        if ctx.past_deadline() {
            // Not the server's fault: it was answering, too slowly for the route.
            return Err(Error::explain(
                ErrorType::ReadTimedout,
                "the route's timeout passed mid-response",
            ));
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        request::strip_hop_by_hop(response);
        // An interim answer (`100 Continue`) is relayed as the upstream sent
        // it: the route's header edits and the request id go on the final one.
        if response.status.is_informational() {
            return Ok(());
        }
        ctx.answer().finish(response)?;
        let compress = ctx.route().and_then(|r| r.modifiers.compress.as_ref());
        let negotiated = ctx.compression.as_ref().map(|c| c.negotiated);
        let encoder = negotiated.zip(compress).and_then(|(n, c)| n.start(response, c));
        if encoder.is_some() {
            // The length is no longer known: chunked on HTTP/1 (HTTP/2
            // drops the header and frames the body itself).
            response.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
        }
        if let Some(compression) = ctx.compression.as_mut() {
            compression.encoder = encoder;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        if let Some(encoder) = ctx.compression.as_mut().and_then(|c| c.encoder.as_mut()) {
            let input = body.take().unwrap_or_default();
            let encoded = encoder
                .encode(&input, end_of_stream)
                .ok_or_else(|| Error::explain(ErrorType::InternalError, "compressing a response"))?;
            *body = Some(encoded);
        }
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let written = session.response_written().is_some();
        let mut code = if ctx.client_stalled {
            408
        } else {
            request::error_status(e)
        };
        let refusal = ctx.agents.as_mut().and_then(|a| a.refusal.take());
        if let Some(refusal) = refusal.filter(|_| !written) {
            match self.write_refusal(session, ctx, &refusal).await {
                Ok(status) => ctx.status = Some(status),
                Err(_) => code = 0,
            }
            return FailToProxy {
                error_code: ctx.status.unwrap_or(code),
                can_reuse_downstream: false,
            };
        }
        if code > 0 && !written {
            let reason = http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_lowercase();
            if let Ok(status) = actions::text(session, code, &reason, &[], ctx.answer()).await {
                ctx.status = Some(status);
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        // The server's in-flight count ends with `ctx`, right after this.
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.status)
            .unwrap_or(0);
        let elapsed = ctx.started.elapsed();
        let route = ctx.route().map(|r| r.name.as_str());
        if let Some(serving) = ctx.serving.as_deref() {
            // The last entry is for requests no route matched.
            let index = ctx.route_index().map_or(serving.route_metrics.len() - 1, |r| r.index());
            serving.route_metrics[index].record(
                &self.shared.metrics,
                route.unwrap_or(""),
                status,
                elapsed.as_secs_f64(),
            );
        }
        let Some(access_log) = &self.shared.access_log else {
            return;
        };
        let header = session.req_header();
        let client_ip = request::client_ip(session).map(|ip| ip.to_string()).unwrap_or_default();
        let upstream_addr = ctx.server.as_ref().map(|(_, addr, _)| addr.to_string());
        let line = crate::accesslog::line(&crate::accesslog::Entry {
            request_id: ctx.request_id(),
            client_ip: &client_ip,
            method: header.method.as_str(),
            host: ctx.host(header),
            path: ctx.path(header),
            status,
            bytes: session.body_bytes_sent(),
            duration_ms: elapsed.as_secs_f64() * 1e3,
            route,
            upstream: ctx.upstream().map(|u| u.name.as_str()),
            upstream_addr: upstream_addr.as_deref(),
            attempts: ctx.attempts,
        });
        access_log.log(line);
    }
}
