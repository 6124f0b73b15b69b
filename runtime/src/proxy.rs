//! The Pingora `ProxyHttp` phases. The route is matched once, in
//! `request_filter`, and kept in the request context with the `Arc` of the
//! artifact it came from, so a reload never changes a request midway.
//! Direct actions, limits and rate limits are answered there; server
//! choice happens in `upstream_peer`; rewrites and header edits in
//! `upstream_request_filter` and `response_filter`; the access log and
//! metrics in `logging`; errors become statuses in `fail_to_proxy`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderName;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use zbin::matcher::{render, TemplateContext};
use zbin::model::{Action, PathMatch, RateKey, Rewrite, Route, Upstream};
use zbin::normalize::{normalize_host, normalize_path};

use crate::actions;
use crate::artifact::Loaded;
use crate::state::Shared;
use crate::upstream::{split_target, ServerState};

/// Headers that describe one hop and never go further.
const HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's headers as the matcher reads them, without copying.
struct HeaderView<'h>(&'h http::HeaderMap);

impl zbin::HeaderSource for HeaderView<'_> {
    fn value(&self, name: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
        zbin::matcher::combined(self.0.get_all(name).iter().map(|v| v.as_bytes()))
    }
}

/// What one request decided, phase to phase.
pub struct Ctx {
    started: Instant,
    loaded: Option<Arc<Loaded>>,
    route: Option<u32>,
    host: String,
    path: String,
    request_id: String,
    /// The status of a response written by zentinel itself.
    status: Option<u16>,
    upstream: Option<u32>,
    server: Option<(usize, String, Arc<ServerState>)>,
    tried: Vec<usize>,
    attempts: u32,
    body_bytes: u64,
    /// Header edits agents asked for, applied after the route's own.
    agent_request_edits: Vec<zbin::model::HeaderEdit>,
    agent_response_edits: Vec<zbin::model::HeaderEdit>,
    /// Set when an upstream status asks for a retry (`retry on status`).
    retry_on_status: bool,
}

/// The proxy: shared state, and the artifact in it.
pub struct Zentinel {
    pub shared: Arc<Shared>,
}

fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn is_idempotent(method: &http::Method) -> bool {
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

impl Zentinel {
    fn route<'c>(&self, ctx: &'c Ctx) -> Option<(&'c Loaded, &'c Route)> {
        let loaded = ctx.loaded.as_deref()?;
        let route = loaded.policy().routes.get(ctx.route? as usize)?;
        Some((loaded, route))
    }

    fn upstream<'c>(&self, ctx: &'c Ctx) -> Option<&'c Upstream> {
        ctx.loaded.as_deref()?.policy().upstreams.get(ctx.upstream? as usize)
    }

    /// Writes an error answer of zentinel's own.
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        status: u16,
        message: &str,
        extra: &[(&str, String)],
    ) -> Result<bool> {
        let mut headers: Vec<(&str, String)> = vec![("content-type", "text/plain; charset=utf-8".to_string())];
        headers.extend_from_slice(extra);
        headers.push(("x-request-id", ctx.request_id.clone()));
        ctx.status = Some(actions::send(session, status, &headers, Bytes::from(format!("{message}\n")), &[]).await?);
        Ok(true)
    }

    fn client_ip(session: &Session) -> String {
        session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    }

    fn scheme(session: &Session) -> &'static str {
        if session.digest().is_some_and(|d| d.ssl_digest.is_some()) {
            "https"
        } else {
            "http"
        }
    }
}

#[async_trait]
impl ProxyHttp for Zentinel {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            loaded: None,
            route: None,
            host: String::new(),
            path: String::new(),
            request_id: String::new(),
            status: None,
            upstream: None,
            server: None,
            tried: Vec::new(),
            attempts: 0,
            body_bytes: 0,
            agent_request_edits: Vec::new(),
            agent_response_edits: Vec::new(),
            retry_on_status: false,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let loaded = self.shared.current();
        ctx.loaded = Some(loaded.clone());
        let header = session.req_header();
        ctx.request_id = header
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_request_id(v))
            .map_or_else(new_request_id, str::to_string);
        let global = &loaded.policy().limits;
        // Header limits before anything else looks at the headers.
        let count = header.headers.len();
        let size: usize = header.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
        if global.max_header_count.is_some_and(|max| count > max as usize)
            || global.max_header_size.is_some_and(|max| size as u64 > max)
        {
            return self
                .refuse(session, ctx, 431, "request header fields too large", &[])
                .await;
        }
        let raw_host = header
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| header.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        ctx.host = normalize_host(&raw_host);
        let raw_path = header.uri.path().to_string();
        let query = header.uri.query().map(str::to_string);
        let method = header.method.clone();
        ctx.path = match normalize_path(&raw_path) {
            Ok(path) => path,
            Err(error) => {
                return self
                    .refuse(session, ctx, 400, &format!("bad request: {error}"), &[])
                    .await
            }
        };
        // Scoped: the request view must not live across an await.
        let found = {
            let headers = HeaderView(&session.req_header().headers);
            let request = zbin::Request {
                method: method.as_str(),
                host: &ctx.host,
                path: &ctx.path,
                query: query.as_deref(),
                headers: &headers,
            };
            loaded.program().lookup(&request)
        };
        let Some(found) = found else {
            return self.refuse(session, ctx, 404, "no route matches", &[]).await;
        };
        ctx.route = Some(found.route);
        let route = &loaded.policy().routes[found.route as usize];
        let limits = &route.modifiers.limits;
        if limits.max_header_count.is_some_and(|max| count > max as usize)
            || limits.max_header_size.is_some_and(|max| size as u64 > max)
        {
            return self
                .refuse(session, ctx, 431, "request header fields too large", &[])
                .await;
        }
        if let Some(idle) = limits.idle_timeout.or(global.idle_timeout) {
            // Keep-alive connections close after this long without a request.
            session.set_keepalive(Some(idle.div_ceil(1000).max(1)));
        }
        if let Some(timeout) = limits.request_timeout.or(global.request_timeout) {
            // The rest of the request (its body) must arrive in time: 408.
            session.set_read_timeout(Some(Duration::from_millis(timeout)));
        }
        let max_body = limits.max_body_size.or(global.max_body_size);
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if max_body.is_some_and(|max| declared.is_some_and(|len| len > max)) {
            return self.refuse(session, ctx, 413, "request body too large", &[]).await;
        }
        if let Some(limit) = &route.modifiers.rate_limit {
            let key = match &limit.key {
                RateKey::ClientIp => Self::client_ip(session),
                RateKey::Route => String::new(),
                RateKey::Header(name) => session
                    .req_header()
                    .headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            };
            if let Err(wait) = self.shared.rate_limiter.check(&route.name, &key, limit) {
                return self
                    .refuse(
                        session,
                        ctx,
                        429,
                        "too many requests",
                        &[("retry-after", wait.to_string())],
                    )
                    .await;
            }
        }
        let headers: Vec<(String, String)> = if route.modifiers.agents.is_empty() {
            Vec::new()
        } else {
            session
                .req_header()
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect()
        };
        for &index in &route.modifiers.agents {
            let agent = &loaded.policy().agents[index as usize];
            let socket = loaded.resolve(&agent.socket);
            let client_ip = Self::client_ip(session);
            let request = crate::agents::AgentRequest {
                request_id: &ctx.request_id,
                client_ip: &client_ip,
                method: method.as_str(),
                host: &ctx.host,
                path: &ctx.path,
                query: query.as_deref(),
                route: &route.name,
                headers: &headers,
            };
            let outcome = crate::agents::call(agent, &socket, &request).await;
            let label = match &outcome {
                Ok(crate::agents::Decision::Allow { .. }) => "allow",
                Ok(crate::agents::Decision::Block { .. }) => "block",
                Ok(crate::agents::Decision::Redirect { .. }) => "redirect",
                Err(_) => "failure",
            };
            self.shared
                .metrics
                .agent_calls
                .with_label_values(&[agent.name.as_str(), label])
                .inc();
            match outcome {
                Ok(crate::agents::Decision::Allow {
                    request_headers,
                    response_headers,
                }) => {
                    ctx.agent_request_edits.extend(request_headers);
                    ctx.agent_response_edits.extend(response_headers);
                }
                Ok(crate::agents::Decision::Block { status, body, headers }) => {
                    let mut extra: Vec<(&str, String)> = vec![("x-request-id", ctx.request_id.clone())];
                    if !headers.iter().any(|(k, _)| k == "content-type") {
                        extra.push(("content-type", "text/plain; charset=utf-8".to_string()));
                    }
                    extra.extend(headers.iter().map(|(k, v)| (k.as_str(), v.clone())));
                    ctx.status = Some(actions::send(session, status, &extra, Bytes::from(body), &[]).await?);
                    return Ok(true);
                }
                Ok(crate::agents::Decision::Redirect { status, location }) => {
                    ctx.status = Some(actions::redirect(session, status, location, &[]).await?);
                    return Ok(true);
                }
                Err(reason) => match agent.on_failure {
                    zbin::model::FailureMode::Allow => {
                        log::warn!("agent `{}` failed ({reason}); allowing the request", agent.name);
                    }
                    zbin::model::FailureMode::Deny => {
                        log::warn!("agent `{}` failed ({reason}); denying the request", agent.name);
                        return self.refuse(session, ctx, 503, "service unavailable", &[]).await;
                    }
                },
            }
        }
        let mut all_edits = route.modifiers.response_headers.clone();
        all_edits.extend(ctx.agent_response_edits.iter().cloned());
        let edits = &all_edits;
        match &route.action {
            Action::Proxy(targets) => {
                ctx.upstream = Some(if targets.len() == 1 {
                    targets[0].0
                } else {
                    split_target(targets)
                });
                Ok(false)
            }
            Action::Respond {
                status,
                body,
                content_type,
            } => {
                ctx.status = Some(actions::respond(session, *status, body, content_type.as_deref(), edits).await?);
                Ok(true)
            }
            Action::Redirect { status, location } => {
                let captures = loaded.program().captures(found.route, &ctx.path);
                let location = render(
                    location,
                    &TemplateContext {
                        host: &ctx.host,
                        path: &ctx.path,
                        query: query.as_deref(),
                        scheme: Self::scheme(session),
                        request_id: &ctx.request_id,
                        captures: &captures,
                    },
                );
                ctx.status = Some(actions::redirect(session, *status, location, edits).await?);
                Ok(true)
            }
            Action::NotFound => {
                let headers = [("content-type", "text/plain; charset=utf-8".to_string())];
                ctx.status =
                    Some(actions::send(session, 404, &headers, Bytes::from_static(b"not found\n"), edits).await?);
                Ok(true)
            }
            Action::Static { root, index, fallback } => {
                // A prefix route serves its files from the root without the
                // prefix (`/static/app.css` under `path prefix "/static/"`
                // is `ROOT/app.css`), like nginx's `alias`.
                let relative = match &route.path {
                    PathMatch::Prefix(prefix) => {
                        ctx.path.strip_prefix(prefix.trim_end_matches('/')).unwrap_or(&ctx.path)
                    }
                    _ => ctx.path.as_str(),
                }
                .to_string();
                let root = loaded.resolve(root);
                ctx.status = Some(
                    actions::serve_file(session, &root, &relative, index.as_deref(), fallback.as_deref(), edits)
                        .await?,
                );
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Counted as it streams: a body without a length is cut off at the
        // limit instead of being buffered whole.
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if let Some((loaded, route)) = self.route(ctx) {
                let max = route
                    .modifiers
                    .limits
                    .max_body_size
                    .or(loaded.policy().limits.max_body_size);
                if max.is_some_and(|max| ctx.body_bytes > max) {
                    return Err(Error::explain(ErrorType::HTTPStatus(413), "request body too large"));
                }
            }
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let loaded = ctx.loaded.clone();
        let Some(upstream) = loaded
            .as_deref()
            .and_then(|l| l.policy().upstreams.get(ctx.upstream? as usize))
        else {
            return Err(Error::explain(ErrorType::HTTPStatus(500), "no upstream for this route"));
        };
        let key = match &upstream.balance {
            zbin::model::Balance::KetamaHeader(name) => session
                .req_header()
                .headers
                .get(name.as_str())
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default(),
            _ => Self::client_ip(session).into_bytes(),
        };
        let Some(choice) = self.shared.pools.choose(upstream, &key, &ctx.tried) else {
            return Err(Error::explain(ErrorType::HTTPStatus(503), "no healthy server"));
        };
        if let Some((_, _, previous)) = ctx.server.take() {
            previous.active.fetch_sub(1, Ordering::Relaxed);
        }
        choice.state.active.fetch_add(1, Ordering::Relaxed);
        ctx.tried.push(choice.index);
        ctx.attempts += 1;
        self.shared
            .metrics
            .upstream_attempts
            .with_label_values(&[upstream.name.as_str()])
            .inc();
        let tls = upstream.tls.as_ref();
        let sni = tls.and_then(|t| t.sni.clone()).unwrap_or_else(|| {
            choice
                .addr
                .rsplit_once(':')
                .map_or(String::new(), |(h, _)| h.to_string())
        });
        let mut peer = HttpPeer::new(choice.addr.as_str(), tls.is_some(), sni);
        let timeouts = &upstream.timeouts;
        let route_timeout = self.route(ctx).and_then(|(_, r)| r.modifiers.timeout);
        peer.options.connection_timeout = Some(Duration::from_millis(timeouts.connect));
        peer.options.read_timeout = Some(Duration::from_millis(
            route_timeout.map_or(timeouts.read, |t| t.min(timeouts.read)),
        ));
        peer.options.write_timeout = Some(Duration::from_millis(timeouts.write));
        peer.options.idle_timeout = Some(Duration::from_millis(timeouts.idle));
        if let Some(tls) = tls {
            peer.options.verify_cert = tls.verify;
            peer.options.verify_hostname = tls.verify;
        }
        ctx.server = Some((choice.index, choice.addr, choice.state));
        Ok(Box::new(peer))
    }

    fn fail_to_connect(&self, session: &mut Session, _peer: &HttpPeer, ctx: &mut Ctx, mut e: Box<Error>) -> Box<Error> {
        self.note_failure(ctx);
        if let Some(upstream) = self.upstream(ctx) {
            let retry = &upstream.retry;
            let allowed = retry.non_idempotent || is_idempotent(&session.req_header().method);
            let timed_out = matches!(e.etype(), ErrorType::ConnectTimedout);
            let wanted = if timed_out {
                retry.on_timeout
            } else {
                retry.on_connect_error
            };
            e.set_retry(allowed && wanted && ctx.attempts <= retry.count);
        }
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
            e.set_retry(true);
            return e;
        }
        self.note_failure(ctx);
        let timed_out = matches!(e.etype(), ErrorType::ReadTimedout | ErrorType::WriteTimedout);
        let retry = self.upstream(ctx).map(|u| u.retry.clone()).unwrap_or_default();
        let allowed = retry.non_idempotent || is_idempotent(&session.req_header().method);
        if allowed
            && timed_out
            && retry.on_timeout
            && ctx.attempts <= retry.count
            && !session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(true);
        } else if !allowed {
            e.set_retry(false);
        } else {
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
        for name in &HOP_BY_HOP {
            // Looking up a prepared name is cheap; removing is rare.
            if request.headers.contains_key(name) {
                request.remove_header(name);
            }
        }
        let client_ip = Self::client_ip(session);
        let forwarded_for = match request.headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) if !client_ip.is_empty() => format!("{previous}, {client_ip}"),
            Some(previous) => previous.to_string(),
            None => client_ip,
        };
        request.insert_header(X_FORWARDED_FOR, forwarded_for)?;
        request.insert_header(X_FORWARDED_PROTO, Self::scheme(session))?;
        if let Some(host) = session.req_header().headers.get(http::header::HOST).cloned() {
            request.insert_header(X_FORWARDED_HOST, host)?;
        }
        request.insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
        let Some((loaded, route)) = self.route(ctx) else {
            return Ok(());
        };
        // The upstream receives the normalized path, after any rewrite.
        let query = request.uri.query().map(str::to_string);
        let path = match &route.modifiers.rewrite {
            Some(Rewrite::Prefix { from, to }) => match ctx.path.strip_prefix(from.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') || from.ends_with('/') => {
                    let joined = format!("{}/{}", to.trim_end_matches('/'), rest.trim_start_matches('/'));
                    if rest.is_empty() && !to.ends_with('/') && to != "/" {
                        to.clone()
                    } else {
                        joined
                    }
                }
                _ => ctx.path.clone(),
            },
            Some(Rewrite::Template(template)) => {
                let captures = loaded.program().captures(ctx.route.unwrap_or(0), &ctx.path);
                render(
                    template,
                    &TemplateContext {
                        host: &ctx.host,
                        path: &ctx.path,
                        query: query.as_deref(),
                        scheme: Self::scheme(session),
                        request_id: &ctx.request_id,
                        captures: &captures,
                    },
                )
            }
            None => ctx.path.clone(),
        };
        // Rebuild the target only when the path changed.
        if path != request.uri.path() {
            let target = match &query {
                Some(q) if !path.contains('?') => format!("{path}?{q}"),
                _ => path,
            };
            let uri = target
                .parse::<http::Uri>()
                .map_err(|e| Error::because(ErrorType::InternalError, "building the upstream path", e))?;
            request.set_uri(uri);
        }
        for edit in route.modifiers.request_headers.iter().chain(&ctx.agent_request_edits) {
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
        let status = response.status.as_u16();
        let Some(upstream) = self.upstream(ctx) else {
            return Ok(());
        };
        let retry = &upstream.retry;
        let allowed = retry.non_idempotent || is_idempotent(&session.req_header().method);
        if retry.on_status.contains(&status) && allowed && ctx.attempts <= retry.count {
            // Another server gets the request; this answer is dropped.
            self.note_failure(ctx);
            ctx.retry_on_status = true;
            let mut e = Error::explain(ErrorType::HTTPStatus(status), "upstream status asks for a retry");
            e.set_retry(true);
            return Err(e);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        for name in &HOP_BY_HOP {
            if *name != http::header::UPGRADE && response.headers.contains_key(name) {
                response.remove_header(name);
            }
        }
        response.insert_header(X_REQUEST_ID, ctx.request_id.as_str())?;
        if let Some((_, route)) = self.route(ctx) {
            actions::apply_edits(response, &route.modifiers.response_headers)?;
        }
        actions::apply_edits(response, &ctx.agent_response_edits)?;
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ReadTimedout if matches!(e.esource(), pingora_error::ErrorSource::Downstream) => 408,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
            ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::ConnectionClosed
            | ErrorType::ConnectProxyFailure
            | ErrorType::TLSHandshakeFailure
            | ErrorType::InvalidHTTPHeader => {
                if matches!(e.esource(), pingora_error::ErrorSource::Downstream) {
                    400
                } else {
                    502
                }
            }
            _ => match e.esource() {
                pingora_error::ErrorSource::Upstream => 502,
                pingora_error::ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                _ => 500,
            },
        };
        if code > 0 {
            let reason = http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_lowercase();
            let headers = [
                ("content-type", "text/plain; charset=utf-8".to_string()),
                ("x-request-id", ctx.request_id.clone()),
            ];
            if actions::send(session, code, &headers, Bytes::from(format!("{reason}\n")), &[])
                .await
                .is_ok()
            {
                ctx.status = Some(code);
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let upstream_addr = ctx.server.as_ref().map(|(_, addr, _)| addr.clone());
        if let Some((_, _, state)) = ctx.server.take() {
            state.active.fetch_sub(1, Ordering::Relaxed);
        }
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.status)
            .unwrap_or(0);
        let elapsed = ctx.started.elapsed();
        let route = self.route(ctx).map_or("", |(_, r)| r.name.as_str()).to_string();
        let upstream = self.upstream(ctx).map(|u| u.name.clone());
        let metrics = &self.shared.metrics;
        metrics
            .requests
            .with_label_values(&[route.as_str(), crate::metrics::status_class(status)])
            .inc();
        metrics
            .duration
            .with_label_values(&[route.as_str()])
            .observe(elapsed.as_secs_f64());
        let header = session.req_header();
        let client_ip = Self::client_ip(session);
        let path = if ctx.path.is_empty() {
            header.uri.path()
        } else {
            ctx.path.as_str()
        };
        let line = crate::accesslog::line(&crate::accesslog::Entry {
            request_id: &ctx.request_id,
            client_ip: &client_ip,
            method: header.method.as_str(),
            host: &ctx.host,
            path,
            status,
            bytes: session.body_bytes_sent(),
            duration_ms: elapsed.as_secs_f64() * 1e3,
            route: (!route.is_empty()).then_some(route.as_str()),
            upstream: upstream.as_deref(),
            upstream_addr: upstream_addr.as_deref(),
            attempts: ctx.attempts,
        });
        self.shared.access_log(&line);
    }
}

impl Zentinel {
    /// Counts a failed attempt against the server it went to.
    fn note_failure(&self, ctx: &Ctx) {
        let (Some(upstream), Some((_, _, state))) = (self.upstream(ctx), ctx.server.as_ref()) else {
            return;
        };
        self.shared
            .metrics
            .upstream_failures
            .with_label_values(&[upstream.name.as_str()])
            .inc();
        self.shared.pools.record_failure(upstream, state);
    }
}
