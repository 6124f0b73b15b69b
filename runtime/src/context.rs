//! What one request decided, kept from phase to phase (Pingora's `CTX`):
//! the policy's decision (`zbin::decide`), made once in `request_filter`,
//! and what carrying it out has done so far. It lives inside the future of
//! every request, and Pingora moves that future as a whole at each
//! request: what only some requests need (agents' state) is boxed, and the
//! decision's host and path are ranges of the request itself whenever they
//! are normal already.

use std::sync::Arc;
use std::time::{Duration, Instant};
use zbin::ids::{AgentId, RouteId, UpstreamId};

use bytes::BytesMut;
use pingora_http::RequestHeader;
use zbin::model::{Route, Upstream};
use zbin::Decision;

use crate::actions::Answer;
use crate::agents;
use crate::compress::Compression;
use crate::request;
use crate::state::Serving;
use crate::upstream::InFlight;

/// Agents that see the body of a proxied request: held back until the
/// first bytes they want have arrived (nothing reaches the upstream before
/// they allow it), then asked.
pub struct BodyGate {
    /// Indices of the agents still to ask, in order.
    pub agents: Vec<AgentId>,
    /// How many bytes the greediest of them wants.
    pub want: usize,
    pub held: BytesMut,
    /// Asked, and allowed: the rest of the body passes.
    pub allowed: bool,
}

/// What the agents of a request's route decided and hold.
#[derive(Default)]
pub struct AgentState {
    pub edits: agents::Edits,
    pub gate: Option<BodyGate>,
    /// A refusal decided in the body phase, for `fail_to_proxy`.
    pub refusal: Option<agents::Refusal>,
}

/// What one request decided, phase to phase.
pub struct Ctx {
    pub started: Instant,
    pub serving: Option<Arc<Serving>>,
    /// What the policy decided for the request; `None` before
    /// `request_filter` asked.
    pub decision: Option<Decision>,
    /// The request id (`request::request_id`), sent upstream and back.
    pub request_id: http::HeaderValue,
    /// The whole-request deadline of the route's `timeout`.
    pub deadline: Option<Instant>,
    /// The status of a response written by zentinel itself.
    pub status: Option<u16>,
    pub upstream: Option<UpstreamId>,
    /// The server of the current attempt, counted in flight while held.
    pub server: Option<(usize, std::net::SocketAddr, InFlight)>,
    /// Servers tried, in order (inline: retries are few).
    pub tried: smallvec::SmallVec<[u32; 4]>,
    pub attempts: u32,
    /// Body bytes seen in this attempt (a retry replays them).
    pub body_bytes: u64,
    /// Only for routes with agents.
    pub agents: Option<Box<AgentState>>,
    /// Set when an upstream status asks for a retry (`retry on status`).
    pub retry_on_status: bool,
    /// The upstream waited for a request body the client stopped sending:
    /// the client's fault (408), not the server's.
    pub client_stalled: bool,
    /// On a route with `compress`: what the request accepts, and the
    /// encoder of a proxied answer (boxed: the context is moved with the
    /// request's future and stays small).
    pub compression: Option<Box<Compression>>,
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx {
            started: Instant::now(),
            serving: None,
            decision: None,
            request_id: http::HeaderValue::from_static(""),
            deadline: None,
            status: None,
            upstream: None,
            server: None,
            tried: smallvec::SmallVec::new(),
            attempts: 0,
            body_bytes: 0,
            agents: None,
            retry_on_status: false,
            client_stalled: false,
            compression: None,
        }
    }

    pub fn request_id(&self) -> &str {
        request::request_id_str(&self.request_id)
    }

    /// The normalized host of `header`, this request's (as sent, before
    /// the decision).
    pub fn host<'a>(&'a self, header: &'a RequestHeader) -> &'a str {
        crate::proxy::decision_host(&self.decision, header)
    }

    /// The normalized path of `header`, this request's; its raw path
    /// before the path was normalized (a request refused before that).
    pub fn path<'a>(&'a self, header: &'a RequestHeader) -> &'a str {
        crate::proxy::decision_path(&self.decision, header)
    }

    /// The index of the route that won.
    pub fn route_index(&self) -> Option<RouteId> {
        self.decision.as_ref()?.route
    }

    pub fn route(&self) -> Option<&Route> {
        self.serving
            .as_deref()?
            .loaded
            .policy()
            .routes
            .get(self.route_index()?.index())
    }

    pub fn upstream(&self) -> Option<&Upstream> {
        self.serving
            .as_deref()?
            .loaded
            .policy()
            .upstreams
            .get(self.upstream?.index())
    }

    /// The largest upstream response head relayed: the route's
    /// `max_response_header_size`, else the policy's, else 64 KiB.
    pub fn max_response_header_size(&self) -> u64 {
        self.serving
            .as_deref()
            .and_then(|s| zbin::decide::effective_limits(s.loaded.policy(), self.route()).max_response_header_size)
            .unwrap_or(zbin::model::Limits::DEFAULT_MAX_RESPONSE_HEADER_SIZE)
    }

    /// The agents' state, made on first use.
    pub fn agents_mut(&mut self) -> &mut AgentState {
        self.agents.get_or_insert_with(Default::default)
    }

    /// The body gate, while it holds the body back.
    pub fn closed_gate(&mut self) -> Option<&mut BodyGate> {
        self.agents.as_mut()?.gate.as_mut().filter(|g| !g.allowed)
    }

    /// What an answer of zentinel's own carries.
    pub fn answer(&self) -> Answer<'_> {
        Answer {
            request_id: &self.request_id,
            route_edits: self
                .route()
                .map_or(&[][..], |r| r.modifiers.response_headers.as_slice()),
            agent_edits: self.agents.as_ref().map_or(&[][..], |a| a.edits.response.as_slice()),
            compress: self
                .compression
                .as_ref()
                .map(|c| c.negotiated)
                .zip(self.route().and_then(|r| r.modifiers.compress.as_ref())),
        }
    }

    /// How many request header edits the route and its agents make.
    pub fn request_edit_count(&self) -> usize {
        self.route().map_or(0, |r| r.modifiers.request_headers.len())
            + self.agents.as_ref().map_or(0, |a| a.edits.request.len())
    }

    /// Time left before the route's deadline; `None` without one.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn past_deadline(&self) -> bool {
        self.time_left().is_some_and(|t| t.is_zero())
    }
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_stays_small() {
        // Pingora moves it with the whole request future on every request.
        // 320 bytes before `compress`, whose whole state is one pointer.
        assert!(std::mem::size_of::<Ctx>() <= 328, "{}", std::mem::size_of::<Ctx>());
    }
}
