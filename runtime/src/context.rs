//! What one request decided, kept from phase to phase (Pingora's `CTX`).
//! It lives inside the future of every request, and Pingora moves that
//! future as a whole at each request: what only some requests need (agents'
//! state) is boxed, and the normalized host and path are ranges of the
//! request itself whenever they are normal already.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pingora_http::RequestHeader;
use zbin::model::{Route, Upstream};

use crate::actions::Answer;
use crate::agents;
use crate::request;
use crate::state::Serving;
use crate::upstream::InFlight;

/// A normalized host or path: a range of the raw one when normalization
/// changed nothing (most requests), else its own copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normal {
    Raw(Range<usize>),
    Owned(String),
}

impl Normal {
    /// What `normalized` (the result of normalizing `raw`) is, kept.
    pub fn new(raw: &str, normalized: Cow<'_, str>) -> Normal {
        match normalized {
            Cow::Borrowed(slice) => {
                // Borrowed results are slices of what was normalized
                // (`zbin::normalize`); anything else is copied.
                let start = (slice.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
                let range = start..start.saturating_add(slice.len());
                if raw.get(range.clone()).is_some_and(|r| std::ptr::eq(r, slice)) {
                    Normal::Raw(range)
                } else {
                    Normal::Owned(slice.to_string())
                }
            }
            Cow::Owned(owned) => Normal::Owned(owned),
        }
    }

    /// The normalized string, given the raw one it was made from.
    pub fn get<'a>(&'a self, raw: &'a str) -> &'a str {
        match self {
            Normal::Raw(range) => {
                // The request a range was taken from is not changed after
                // routing (Pingora edits a copy for the upstream).
                debug_assert!(raw.get(range.clone()).is_some(), "{range:?} of {raw:?}");
                raw.get(range.clone()).unwrap_or_default()
            }
            Normal::Owned(owned) => owned,
        }
    }
}

/// Agents that see the body of a proxied request: held back until the
/// first bytes they want have arrived (nothing reaches the upstream before
/// they allow it), then asked.
pub struct BodyGate {
    /// Indices of the agents still to ask, in order.
    pub agents: Vec<u32>,
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
    pub route: Option<u32>,
    /// The normalized host, of `request::authority`.
    pub host: Normal,
    /// The normalized path, of the request target's path.
    pub path: Normal,
    /// The request id (`request::request_id`), sent upstream and back.
    pub request_id: http::HeaderValue,
    /// The whole-request deadline of the route's `timeout`.
    pub deadline: Option<Instant>,
    /// The status of a response written by zentinel itself.
    pub status: Option<u16>,
    pub upstream: Option<u32>,
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
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx {
            started: Instant::now(),
            serving: None,
            route: None,
            host: Normal::Raw(0..0),
            path: Normal::Raw(0..0),
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
        }
    }

    pub fn request_id(&self) -> &str {
        request::request_id_str(&self.request_id)
    }

    /// The normalized host of `header`, this request's.
    pub fn host<'a>(&'a self, header: &'a RequestHeader) -> &'a str {
        self.host.get(request::authority(header))
    }

    /// The normalized path of `header`, this request's; its raw path
    /// before the path was normalized (a request refused before that).
    pub fn path<'a>(&'a self, header: &'a RequestHeader) -> &'a str {
        let raw = header.uri.path();
        match &self.path {
            Normal::Raw(range) if range.is_empty() => raw,
            path => path.get(raw),
        }
    }

    pub fn route(&self) -> Option<&Route> {
        self.serving
            .as_deref()?
            .loaded
            .policy()
            .routes
            .get(self.route? as usize)
    }

    pub fn upstream(&self) -> Option<&Upstream> {
        self.serving
            .as_deref()?
            .loaded
            .policy()
            .upstreams
            .get(self.upstream? as usize)
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
    use zbin::normalize::{normalize_host, normalize_path};

    #[test]
    fn normal_hosts_and_paths_are_ranges_of_the_request() {
        for (raw, want) in [("example.com:8080", "example.com"), ("Example.COM.", "example.com")] {
            let host = Normal::new(raw, normalize_host(raw));
            assert_eq!(host.get(raw), want);
            assert_eq!(matches!(host, Normal::Raw(_)), raw.starts_with('e'));
        }
        let raw = "/a/b";
        let path = Normal::new(raw, normalize_path(raw).unwrap());
        assert_eq!(path, Normal::Raw(0..4));
        let raw = "/a//b";
        let path = Normal::new(raw, normalize_path(raw).unwrap());
        assert_eq!(path, Normal::Owned("/a/b".into()));
        // A borrowed string that is not a slice of the raw one is copied.
        assert_eq!(Normal::new("/x", Cow::Borrowed("/y")), Normal::Owned("/y".into()));
    }

    #[test]
    fn the_context_stays_small() {
        // Pingora moves it with the whole request future on every request.
        assert!(std::mem::size_of::<Ctx>() <= 320, "{}", std::mem::size_of::<Ctx>());
    }
}
