//! What a request gets before or instead of an upstream: the limits that
//! bound its connection, and the direct actions (respond, redirect, static
//! files, no action).

use std::time::Duration;
use zbin::ids::RouteId;

use pingora_error::Result;
use pingora_proxy::Session;
use zbin::decide::Act;
use zbin::model::{Action, Limits};

use super::Zentinel;
use crate::actions;
use crate::context::Ctx;
use crate::server::DEFAULT_IDLE_TIMEOUT;
use crate::state::Serving;
use crate::upstream::split_target;

impl Zentinel {
    /// Bounds the connection and the rest of the request by the limits in
    /// force: an idle keep-alive connection closes after `idle_timeout`
    /// (the route's, else the policy's, else 60s), whatever this request's
    /// answer is, and a body that stops arriving for `request_timeout` is a
    /// 408. Pipelined requests are read in turn and answered in order.
    pub(super) fn apply_limits(&self, session: &mut Session, limits: &Limits, draining: bool) {
        // Pingora has turned keep-alive off where the client asked
        // (`Connection: close`, HTTP/1.0) or the framing requires it (both
        // `Content-Length` and `Transfer-Encoding`, RFC 9112 §6.1): it stays off.
        if !draining && session.get_keepalive().is_some() {
            let idle = limits.idle_timeout.map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_millis);
            // Pingora counts keep-alive in whole seconds.
            session.set_keepalive(Some(idle.as_millis().div_ceil(1000).max(1) as u64));
        }
        session.as_downstream_mut().set_pipelining_enabled(true);
        if let Some(wait) = limits.request_timeout {
            session.set_read_timeout(Some(Duration::from_millis(wait)));
        }
    }

    /// Carries out the route's action: a proxied request goes on (`false`),
    /// anything else is answered here.
    pub(super) async fn act(&self, session: &mut Session, ctx: &mut Ctx, serving: &Serving) -> Result<bool> {
        let (Some(decision), Some(route)) = (ctx.decision.as_ref(), ctx.route()) else {
            return self.refuse(session, ctx, 404, "no route matches").await;
        };
        let answer = ctx.answer();
        let status = match (&route.action, &decision.act) {
            (Action::Proxy(targets), _) => {
                ctx.upstream = Some(if targets.len() == 1 {
                    targets[0].0
                } else {
                    split_target(targets)
                });
                return Ok(false);
            }
            (
                Action::Respond {
                    status,
                    body,
                    content_type,
                },
                _,
            ) => actions::respond(session, *status, body, content_type.as_deref(), answer).await?,
            (Action::Redirect { status, .. }, Act::Redirect { location }) => {
                actions::redirect(session, *status, location, answer).await?
            }
            (
                Action::Static {
                    root,
                    index,
                    fallback,
                    precompressed,
                },
                Act::Static { relative_from },
            ) => {
                // A prefix route serves its files from the root without the
                // prefix (`/static/app.css` under `path prefix "/static/"`
                // is `ROOT/app.css`), like nginx's `alias`.
                let path = ctx.path(session.req_header());
                let relative = path.get(*relative_from..).unwrap_or(path).to_string();
                // The root was made canonical at load; one created since
                // is found now.
                let index_of_route = ctx.route_index().map_or(0, RouteId::index);
                let root = match &serving.static_roots[index_of_route] {
                    Some(root) => root.clone(),
                    None => match tokio::fs::canonicalize(serving.loaded.resolve(root)).await {
                        Ok(root) => root,
                        Err(_) => return self.refuse(session, ctx, 404, "not found").await,
                    },
                };
                actions::serve_file(
                    session,
                    &self.shared.files,
                    actions::StaticRoute {
                        root: &root,
                        index: index.as_deref(),
                        fallback: fallback.as_deref(),
                        precompressed: *precompressed,
                    },
                    &relative,
                    answer,
                )
                .await?
            }
            _ => actions::text(session, 404, "not found", &[], answer).await?,
        };
        ctx.status = Some(status);
        Ok(true)
    }
}
