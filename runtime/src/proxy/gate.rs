//! Agents in the request's path: asked with the headers in
//! `request_filter`, or, for those that read the body, once the first bytes
//! they want have arrived (a proxied body is held back by a gate until
//! they allow it; a direct action's body is read here).

use std::time::Duration;
use zbin::ids::AgentId;

use bytes::{Bytes, BytesMut};
use pingora_error::{Error, ErrorType, Result};
use pingora_proxy::Session;
use zbin::model::{Action, Limits};

use super::facts::{decision_host, decision_path};
use super::{Zentinel, BODY_WAIT};
use crate::actions;
use crate::agents;
use crate::context::{BodyGate, Ctx};
use crate::request;
use crate::state::Serving;

impl Zentinel {
    /// Writes what the agents answered instead of letting the request on.
    pub(super) async fn write_refusal(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        refusal: &agents::Refusal,
    ) -> Result<u16> {
        match refusal {
            agents::Refusal::Block { status, body, headers } => {
                let mut all: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                if !headers.iter().any(|(k, _)| k == "content-type") {
                    all.push(("content-type", "text/plain; charset=utf-8"));
                }
                actions::send(session, *status, &all, Bytes::from(body.clone()), ctx.answer()).await
            }
            agents::Refusal::Redirect { status, location } => {
                actions::redirect(session, *status, location, ctx.answer()).await
            }
            agents::Refusal::Unavailable => actions::text(session, 503, "service unavailable", &[], ctx.answer()).await,
        }
    }

    /// Asks `agents` about the request, with `body` for those that want it.
    async fn ask_agents(
        &self,
        session: &Session,
        ctx: &mut Ctx,
        agent_list: &[AgentId],
        body: Option<(&[u8], bool)>,
    ) -> Option<agents::Refusal> {
        if agent_list.is_empty() {
            return None;
        }
        let serving = ctx.serving.clone()?;
        let route = ctx.route().map(|r| r.name.clone()).unwrap_or_default();
        let header = session.req_header();
        let headers: Vec<(String, String)> = header
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let client_ip = request::client_ip(session).map(|ip| ip.to_string()).unwrap_or_default();
        let agent_request = agents::AgentRequest {
            request_id: request::request_id_str(&ctx.request_id),
            client_ip: &client_ip,
            method: header.method.as_str(),
            host: decision_host(&ctx.decision, header),
            path: decision_path(&ctx.decision, header),
            query: header.uri.query(),
            route: &route,
            headers: &headers,
            body,
        };
        let edits = &mut ctx.agents.get_or_insert_with(Default::default).edits;
        agents::ask(agent_list, &serving.loaded, &agent_request, &self.shared.metrics, edits).await
    }

    /// Reads up to `want` bytes of the request body (for a direct action,
    /// whose body goes nowhere else); and whether that is all of it.
    async fn read_body(&self, session: &mut Session, want: usize, wait: Duration) -> Result<(BytesMut, bool)> {
        let mut body = BytesMut::new();
        while body.len() < want {
            let read = tokio::time::timeout(wait, session.read_request_body())
                .await
                .map_err(|_| Error::explain(ErrorType::ReadTimedout, "waiting for the request body").into_down())?
                .map_err(|e| e.into_down())?;
            match read {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => return Ok((body, true)),
            }
        }
        let complete = session.is_body_done();
        Ok((body, complete))
    }

    /// The body gate of agents that read the body (`BodyGate`): holds
    /// chunks until the agents have what they want, then asks them.
    pub(super) async fn hold_for_agents(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(gate) = ctx.agents.as_mut().and_then(|a| a.gate.as_mut()) else {
            return Ok(());
        };
        if let Some(chunk) = body.take() {
            gate.held.extend_from_slice(&chunk);
        }
        if gate.held.len() < gate.want && !end_of_stream {
            // Held: an empty chunk that is not the end sends nothing.
            *body = Some(Bytes::new());
            return Ok(());
        }
        let (agent_list, held) = (gate.agents.clone(), gate.held.split().freeze());
        let request_edits = ctx.agents_mut().edits.request.len();
        if let Some(refusal) = self
            .ask_agents(session, ctx, &agent_list, Some((&held, end_of_stream)))
            .await
        {
            let status = refusal.status();
            ctx.agents_mut().refusal = Some(refusal);
            return Err(Error::explain(
                ErrorType::HTTPStatus(status),
                "an agent refused the request",
            ));
        }
        let request_id = ctx.request_id.clone();
        let agents = ctx.agents_mut();
        if agents.edits.request.len() > request_edits {
            // Not applied to a retry either: every attempt is the same request.
            agents.edits.request.truncate(request_edits);
            log::warn!(
                "request {}: edits to the upstream request from agents that read the body come after it was sent; ignored",
                request::request_id_str(&request_id)
            );
        }
        if let Some(gate) = agents.gate.as_mut() {
            gate.allowed = true;
        }
        // What was held goes on; at the end, nothing held is no chunk at all.
        *body = (!held.is_empty() || !end_of_stream).then_some(held);
        Ok(())
    }

    /// Asks the route's agents, in order: those before the first that
    /// wants the body now; that one and those after it once the body is
    /// there (for a proxied request, through the body gate). `Some` when
    /// the request was answered here.
    pub(super) async fn run_agents(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        serving: &Serving,
        limits: &Limits,
    ) -> Result<Option<bool>> {
        let Some(route) = ctx.route() else { return Ok(None) };
        let agent_list = route.modifiers.agents.clone();
        if agent_list.is_empty() {
            return Ok(None);
        }
        let proxied = matches!(route.action, Action::Proxy(_));
        let policy_agents = &serving.loaded.policy().agents;
        let split = agent_list
            .iter()
            .position(|&a| policy_agents[a.index()].body > 0)
            .unwrap_or(agent_list.len());
        let (now, later) = agent_list.split_at(split);
        if let Some(refusal) = self.ask_agents(session, ctx, now, None).await {
            ctx.status = Some(self.write_refusal(session, ctx, &refusal).await?);
            return Ok(Some(true));
        }
        if later.is_empty() {
            return Ok(None);
        }
        let want = later
            .iter()
            .map(|&a| policy_agents[a.index()].body as usize)
            .max()
            .unwrap_or(0);
        if proxied && !session.as_mut().is_body_empty() {
            // Held back in `request_body_filter` until they allow it.
            ctx.agents_mut().gate = Some(BodyGate {
                agents: later.to_vec(),
                want,
                held: BytesMut::new(),
                allowed: false,
            });
            return Ok(None);
        }
        let (body, complete) = if proxied {
            (BytesMut::new(), true)
        } else {
            let wait = limits.request_timeout.map_or(BODY_WAIT, Duration::from_millis);
            self.read_body(session, want, wait).await?
        };
        if limits.max_body_size.is_some_and(|max| body.len() as u64 > max) {
            return self.refuse(session, ctx, 413, "request body too large").await.map(Some);
        }
        if let Some(refusal) = self.ask_agents(session, ctx, later, Some((&body, complete))).await {
            ctx.status = Some(self.write_refusal(session, ctx, &refusal).await?);
            return Ok(Some(true));
        }
        Ok(None)
    }
}
