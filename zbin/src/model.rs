//! The checked policy: what `zenc` lowers a Zen program to and what the
//! runtime executes. Every value here is already validated and in the unit
//! the runtime uses (milliseconds, bytes, lowercase names), so the hot path
//! never parses or converts anything.

use crate::ids::{AgentId, UpstreamId};
use bincode::{Decode, Encode};

/// Milliseconds.
pub type Millis = u64;

#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Policy {
    pub listeners: Vec<Listener>,
    pub admin: Option<String>,
    pub limits: Limits,
    pub upstreams: Vec<Upstream>,
    pub agents: Vec<Agent>,
    /// In declaration order; precedence is computed from the conditions.
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Listener {
    /// A socket address, `IP:PORT`.
    pub addr: String,
    pub tls: Option<Tls>,
    pub http2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Tls {
    pub cert: String,
    pub key: String,
    pub sni: Vec<SniCert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SniCert {
    pub host: String,
    pub cert: String,
    pub key: String,
}

/// Request limits; `None` means "inherit" (routes) or "no limit" (global).
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Limits {
    pub max_header_count: Option<u32>,
    pub max_header_size: Option<u64>,
    pub max_body_size: Option<u64>,
    pub request_timeout: Option<Millis>,
    pub idle_timeout: Option<Millis>,
    /// The whole request head must arrive within it (global only).
    pub header_timeout: Option<Millis>,
    /// The longest request target, in bytes: `414` past it.
    pub max_uri_size: Option<u64>,
    /// The largest upstream response head, in bytes: `502` past it.
    pub max_response_header_size: Option<u64>,
}

impl Limits {
    /// LANGUAGE.md §9.3: `header_timeout 10s`.
    pub const DEFAULT_HEADER_TIMEOUT: Millis = 10_000;
    /// LANGUAGE.md §9.3: `idle_timeout 60s`.
    pub const DEFAULT_IDLE_TIMEOUT: Millis = 60_000;
    /// LANGUAGE.md §9.3: `max_uri_size 8KiB`.
    pub const DEFAULT_MAX_URI_SIZE: u64 = 8 * 1024;
    /// LANGUAGE.md §9.3: `max_response_header_size 64KiB`.
    pub const DEFAULT_MAX_RESPONSE_HEADER_SIZE: u64 = 64 * 1024;

    /// The most header fields the runtime's HTTP/1 parser reads (Pingora's
    /// `MAX_HEADERS`); more are answered `431` whatever the policy says.
    pub const PARSER_MAX_HEADER_COUNT: u64 = 256;
    /// The largest request or response head the parser reads (Pingora's
    /// `MAX_HEADER_SIZE`, just under 1 MiB).
    pub const PARSER_MAX_HEAD_SIZE: u64 = 1_048_575;
    /// The longest request target the parser accepts (the `http` crate's
    /// URI limit); longer ones are answered `414`.
    pub const PARSER_MAX_URI_SIZE: u64 = 65_534;

    /// These limits, and `base`'s where these set none: a route's own
    /// limits over the policy's, or a route's modifier over a `use`d one.
    pub fn or(&self, base: &Limits) -> Limits {
        Limits {
            max_header_count: self.max_header_count.or(base.max_header_count),
            max_header_size: self.max_header_size.or(base.max_header_size),
            max_body_size: self.max_body_size.or(base.max_body_size),
            request_timeout: self.request_timeout.or(base.request_timeout),
            idle_timeout: self.idle_timeout.or(base.idle_timeout),
            header_timeout: self.header_timeout.or(base.header_timeout),
            max_uri_size: self.max_uri_size.or(base.max_uri_size),
            max_response_header_size: self.max_response_header_size.or(base.max_response_header_size),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Upstream {
    pub name: String,
    pub servers: Vec<Server>,
    pub balance: Balance,
    pub health: Option<HealthCheck>,
    pub passive: Option<PassiveHealth>,
    pub timeouts: Timeouts,
    pub retry: Retry,
    pub tls: Option<UpstreamTls>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Server {
    /// `HOST:PORT`, the host an IP address or a DNS name.
    pub addr: String,
    pub weight: u32,
    pub backup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Balance {
    RoundRobin,
    LeastConn,
    Random,
    PowerOfTwoChoices,
    KetamaClientIp,
    /// Lowercase header name.
    KetamaHeader(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct HealthCheck {
    pub probe: HealthProbe,
    pub interval: Millis,
    pub timeout: Millis,
    /// Consecutive successes before a server is healthy again.
    pub rise: u32,
    /// Consecutive failures before a server is taken out.
    pub fall: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum HealthProbe {
    Http { method: String, path: String, expect: u16 },
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PassiveHealth {
    pub failures: u32,
    pub within: Millis,
    pub eject: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Timeouts {
    pub connect: Millis,
    pub read: Millis,
    pub write: Millis,
    pub idle: Millis,
}

impl Default for Timeouts {
    /// LANGUAGE.md §5: `timeout connect 5s read 60s write 60s idle 60s`.
    fn default() -> Self {
        Timeouts {
            connect: 5_000,
            read: 60_000,
            write: 60_000,
            idle: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Retry {
    pub count: u32,
    pub on_connect_error: bool,
    pub on_timeout: bool,
    pub on_status: Vec<u16>,
    pub non_idempotent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct UpstreamTls {
    pub sni: Option<String>,
    pub verify: bool,
}

/// The most of a request body an agent can be sent: the body it sees is
/// held back from the upstream until it answers, in the runtime's 64 KiB
/// replay buffer.
pub const AGENT_BODY_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Agent {
    pub name: String,
    pub socket: String,
    pub timeout: Millis,
    pub on_failure: FailureMode,
    /// How many bytes of the request body the agent is sent (0: none; at
    /// most `AGENT_BODY_MAX`).
    pub body: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum FailureMode {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Route {
    pub name: String,
    pub priority: u32,
    pub host: HostMatch,
    pub path: PathMatch,
    /// Empty: any method.
    pub methods: Vec<String>,
    pub headers: Vec<HeaderMatch>,
    pub queries: Vec<QueryMatch>,
    pub action: Action,
    pub modifiers: Modifiers,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum HostMatch {
    Any,
    /// Lowercase names; `*.example.org` kept as a wildcard.
    Names(Vec<HostName>),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum HostName {
    Exact(String),
    /// The suffix including its leading dot: `.example.org`.
    Wildcard(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum PathMatch {
    Any,
    Exact(String),
    Prefix(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct HeaderMatch {
    /// Lowercase.
    pub name: String,
    pub value: ValueMatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ValueMatch {
    Present,
    Exact(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct QueryMatch {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Action {
    /// Upstream indices with their share in percent (one entry at 100 for
    /// a plain `proxy NAME`).
    Proxy(Vec<(UpstreamId, u8)>),
    Static {
        root: String,
        index: Option<String>,
        fallback: Option<String>,
        /// `precompressed`: `FILE.br`, `FILE.zst`, `FILE.gz` beside `FILE`.
        precompressed: bool,
    },
    Redirect {
        status: u16,
        location: Template,
    },
    Respond {
        status: u16,
        body: String,
        content_type: Option<String>,
    },
    /// A route written without an action: it claims the requests it
    /// matches (its limits, rate limit and agents still apply) and answers
    /// `404`, so that a more precise route can carve a hole in a broader one.
    NotFound,
}

/// A string with variables, split once at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum TemplatePart {
    Literal(String),
    Var(TemplateVar),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum TemplateVar {
    Host,
    Path,
    Query,
    Scheme,
    RequestId,
    /// A named capture of the route's `path regex`.
    Capture(String),
}

impl TemplateVar {
    /// The builtin variable called `name`, if there is one.
    pub fn builtin(name: &str) -> Option<TemplateVar> {
        Some(match name {
            "host" => TemplateVar::Host,
            "path" => TemplateVar::Path,
            "query" => TemplateVar::Query,
            "scheme" => TemplateVar::Scheme,
            "request_id" => TemplateVar::RequestId,
            _ => return None,
        })
    }

    pub const BUILTINS: &'static [&'static str] = &["host", "path", "query", "scheme", "request_id"];
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Modifiers {
    pub rewrite: Option<Rewrite>,
    pub request_headers: Vec<HeaderEdit>,
    pub response_headers: Vec<HeaderEdit>,
    /// Agent indices, in calling order.
    pub agents: Vec<AgentId>,
    pub rate_limit: Option<RateLimit>,
    pub timeout: Option<Millis>,
    pub limits: Limits,
    /// `compress ...`: how answers to clients that accept it are encoded.
    pub compress: Option<Compress>,
}

/// `compress [gzip] [br] [zstd] [min_size SIZE] [types "TYPE" ...]`
/// (LANGUAGE.md §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Compress {
    /// The codings offered, in the server's order of preference for a tie
    /// in the client's q-values: br, then zstd, then gzip.
    pub codecs: Vec<Codec>,
    /// Bodies shorter than this (when their length is known) are sent as
    /// they are.
    pub min_size: u64,
    /// Media types compressed: exact (`application/json`) or a whole top
    /// level (`text/*`), lowercase.
    pub types: Vec<String>,
}

impl Compress {
    /// `min_size 1KiB`.
    pub const DEFAULT_MIN_SIZE: u64 = 1024;
    /// The types compressed when `types` is not written.
    pub const DEFAULT_TYPES: &'static [&'static str] = &[
        "text/*",
        "application/json",
        "application/javascript",
        "application/xml",
        "image/svg+xml",
    ];
}

/// A content coding zentinel can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Codec {
    Brotli,
    Zstd,
    Gzip,
}

impl Codec {
    /// Preference for a tie in q-values: br, then zstd, then gzip.
    pub const ALL: [Codec; 3] = [Codec::Brotli, Codec::Zstd, Codec::Gzip];

    /// The coding's name in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Codec::Brotli => "br",
            Codec::Zstd => "zstd",
            Codec::Gzip => "gzip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Rewrite {
    Prefix { from: String, to: String },
    Template(Template),
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct HeaderEdit {
    pub op: HeaderOp,
    /// Lowercase.
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum HeaderOp {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RateLimit {
    /// Requests allowed per `per` milliseconds.
    pub requests: u64,
    pub per: Millis,
    pub burst: u64,
    pub key: RateKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum RateKey {
    ClientIp,
    Header(String),
    Route,
}
