//! The typed syntax tree of one Zen source file. It mirrors what was
//! written, in source order, with a span on every node; meaning (units,
//! ranges, names) is checked later by `check`, which lowers it to the
//! artifact's model.

use serde::Serialize;

use crate::source::Span;
use crate::syntax::{keywords, Rule};

/// A value with the span of the text it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

pub type Ident = Spanned<String>;

/// A string literal with its escapes decoded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Str {
    pub value: String,
    /// Written `r"..."`.
    pub raw: bool,
    pub span: Span,
}

/// A numeric literal: digits with an optional unit, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Number {
    /// The literal as written, e.g. `250ms`.
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ItemKind {
    Import(Str),
    Listen(Listen),
    Admin(Str),
    Limits(Vec<LimitStmt>),
    Upstream(Upstream),
    Agent(Agent),
    Policy(Policy),
    Route(Route),
    Test(Test),
}

// ------------------------------------------------------------- listeners

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listen {
    pub addr: Str,
    pub options: Vec<ListenOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ListenOption {
    Tls(Vec<TlsStmt>, Span),
    Http2(Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TlsStmt {
    Cert(Str, Span),
    Key(Str, Span),
    Sni { host: Str, stmts: Vec<TlsStmt>, span: Span },
}

// ----------------------------------------------------------------- limits

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LimitKind {
    MaxHeaderCount,
    MaxHeaderSize,
    MaxBodySize,
    RequestTimeout,
    IdleTimeout,
    HeaderTimeout,
    MaxUriSize,
    MaxResponseHeaderSize,
}

impl LimitKind {
    /// Every limit, in the order `zenc fmt` and the messages list them.
    pub const ALL: [LimitKind; 8] = [
        LimitKind::MaxHeaderCount,
        LimitKind::MaxHeaderSize,
        LimitKind::MaxBodySize,
        LimitKind::RequestTimeout,
        LimitKind::IdleTimeout,
        LimitKind::HeaderTimeout,
        LimitKind::MaxUriSize,
        LimitKind::MaxResponseHeaderSize,
    ];

    /// The grammar's keyword rule for this limit.
    pub fn rule(self) -> Rule {
        match self {
            LimitKind::MaxHeaderCount => Rule::kw_max_header_count,
            LimitKind::MaxHeaderSize => Rule::kw_max_header_size,
            LimitKind::MaxBodySize => Rule::kw_max_body_size,
            LimitKind::RequestTimeout => Rule::kw_request_timeout,
            LimitKind::IdleTimeout => Rule::kw_idle_timeout,
            LimitKind::HeaderTimeout => Rule::kw_header_timeout,
            LimitKind::MaxUriSize => Rule::kw_max_uri_size,
            LimitKind::MaxResponseHeaderSize => Rule::kw_max_response_header_size,
        }
    }

    /// The limit a keyword rule names, if it names one.
    pub fn from_rule(rule: Rule) -> Option<LimitKind> {
        LimitKind::ALL.into_iter().find(|kind| kind.rule() == rule)
    }

    pub fn keyword(self) -> &'static str {
        keywords::spelling(self.rule())
    }

    /// Whether the limit can only be set in the top-level `limits`: the
    /// request head must be read before a route can be chosen.
    pub fn global_only(self) -> bool {
        matches!(self, LimitKind::HeaderTimeout)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitStmt {
    pub kind: LimitKind,
    pub value: Number,
    pub span: Span,
}

// -------------------------------------------------------------- upstreams

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    pub name: Ident,
    pub stmts: Vec<UpstreamStmt>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamStmt {
    pub kind: UpstreamStmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum UpstreamStmtKind {
    Server {
        addr: Str,
        options: Vec<ServerOption>,
    },
    Balance(Balance),
    Health(Health),
    Passive {
        failures: Number,
        within: Number,
        eject: Number,
    },
    Timeout(Vec<(Spanned<TimeoutPhase>, Number)>),
    Retry {
        count: Number,
        conditions: Vec<RetryCondition>,
    },
    RetryNonIdempotent,
    Tls(Vec<UpstreamTlsOption>),
    MaxConnections(Number),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ServerOption {
    Weight(Number, Span),
    Backup(Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Balance {
    RoundRobin,
    LeastConn,
    Random,
    P2c,
    Ketama(HashKey),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HashKey {
    ClientIp,
    Header(Str),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub probe: HealthProbe,
    pub options: Vec<HealthOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HealthProbe {
    Http { method: Ident, path: Str },
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HealthOptionKind {
    Expect,
    Interval,
    Timeout,
    Rise,
    Fall,
}

impl HealthOptionKind {
    /// The grammar's keyword rule for this kind.
    pub fn rule(self) -> Rule {
        match self {
            HealthOptionKind::Expect => Rule::kw_expect,
            HealthOptionKind::Interval => Rule::kw_interval,
            HealthOptionKind::Timeout => Rule::kw_timeout,
            HealthOptionKind::Rise => Rule::kw_rise,
            HealthOptionKind::Fall => Rule::kw_fall,
        }
    }

    pub fn keyword(self) -> &'static str {
        keywords::spelling(self.rule())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthOption {
    pub kind: HealthOptionKind,
    pub value: Number,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TimeoutPhase {
    Connect,
    Read,
    Write,
    Idle,
}

impl TimeoutPhase {
    /// The grammar's keyword rule for this kind.
    pub fn rule(self) -> Rule {
        match self {
            TimeoutPhase::Connect => Rule::kw_connect,
            TimeoutPhase::Read => Rule::kw_read,
            TimeoutPhase::Write => Rule::kw_write,
            TimeoutPhase::Idle => Rule::kw_idle,
        }
    }

    pub fn keyword(self) -> &'static str {
        keywords::spelling(self.rule())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RetryCondition {
    ConnectError(Span),
    Timeout(Span),
    Status(Vec<Number>, Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum UpstreamTlsOption {
    Sni(Str, Span),
    Verify(bool, Span),
}

// ----------------------------------------------------------------- agents

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    pub name: Ident,
    pub stmts: Vec<AgentStmt>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStmt {
    pub kind: AgentStmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AgentStmtKind {
    Socket(Str),
    Timeout(Number),
    OnFailure(FailureMode),
    Body(Number),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FailureMode {
    Allow,
    Deny,
}

// ------------------------------------------------------ policies, routes

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub name: Ident,
    pub modifiers: Vec<Modifier>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub name: Ident,
    pub stmts: Vec<RouteStmt>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RouteStmt {
    Priority(Number, Span),
    Condition(Condition),
    Action(Action),
    Modifier(Modifier),
}

impl RouteStmt {
    pub fn span(&self) -> Span {
        match self {
            RouteStmt::Priority(_, span) => *span,
            RouteStmt::Condition(c) => c.span,
            RouteStmt::Action(a) => a.span,
            RouteStmt::Modifier(m) => m.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub kind: ConditionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ConditionKind {
    Host(HostPattern),
    Path(PathPattern),
    Method(Vec<Ident>),
    Header { name: Str, value: Option<ValueMatch> },
    Query { name: Str, value: Option<Str> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum HostPattern {
    Names(Vec<Str>),
    Regex(Str),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PathPattern {
    Exact(Str),
    Prefix(Str),
    Regex(Str),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ValueMatch {
    Exact(Str),
    Regex(Str),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ActionKind {
    Proxy(Ident),
    Split(Vec<(Ident, Number)>),
    Static {
        root: Str,
        options: Vec<StaticOption>,
    },
    Redirect {
        status: Number,
        location: Str,
    },
    Respond {
        status: Number,
        body: Option<Str>,
        content_type: Option<Str>,
    },
}

impl ActionKind {
    /// The keyword that starts the action, as users write it.
    /// The grammar's keyword rule for this kind.
    pub fn rule(&self) -> Rule {
        match self {
            ActionKind::Proxy(_) | ActionKind::Split(_) => Rule::kw_proxy,
            ActionKind::Static { .. } => Rule::kw_static,
            ActionKind::Redirect { .. } => Rule::kw_redirect,
            ActionKind::Respond { .. } => Rule::kw_respond,
        }
    }

    pub fn keyword(&self) -> &'static str {
        keywords::spelling(self.rule())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StaticOption {
    Index(Str, Span),
    Fallback(Str, Span),
    /// Serve `FILE.br`, `FILE.zst` or `FILE.gz` beside `FILE` to clients
    /// that accept it.
    Precompressed(Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Modifier {
    pub kind: ModifierKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ModifierKind {
    RewritePrefix { from: Str, to: Str },
    Rewrite(Str),
    RequestHeaders(Vec<HeaderEdit>),
    ResponseHeaders(Vec<HeaderEdit>),
    Agents(Vec<Ident>),
    RateLimit { rate: Number, options: Vec<RateOption> },
    Timeout(Number),
    Limits(Vec<LimitStmt>),
    Use(Vec<Ident>),
    Compress(Vec<CompressOption>),
}

impl ModifierKind {
    /// The grammar's keyword rule for this kind.
    pub fn rule(&self) -> Rule {
        match self {
            ModifierKind::RewritePrefix { .. } | ModifierKind::Rewrite(_) => Rule::kw_rewrite,
            ModifierKind::RequestHeaders(_) => Rule::kw_request_headers,
            ModifierKind::ResponseHeaders(_) => Rule::kw_response_headers,
            ModifierKind::Agents(_) => Rule::kw_agents,
            ModifierKind::RateLimit { .. } => Rule::kw_rate_limit,
            ModifierKind::Compress(_) => Rule::kw_compress,
            ModifierKind::Timeout(_) => Rule::kw_timeout,
            ModifierKind::Limits(_) => Rule::kw_limits,
            ModifierKind::Use(_) => Rule::kw_use,
        }
    }

    pub fn keyword(&self) -> &'static str {
        keywords::spelling(self.rule())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeaderEdit {
    pub kind: HeaderEditKind,
    pub name: Str,
    /// `None` for `remove`.
    pub value: Option<Str>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HeaderEditKind {
    Set,
    Add,
    Remove,
}

impl HeaderEditKind {
    /// The grammar's keyword rule for this kind.
    pub fn rule(self) -> Rule {
        match self {
            HeaderEditKind::Set => Rule::kw_set,
            HeaderEditKind::Add => Rule::kw_add,
            HeaderEditKind::Remove => Rule::kw_remove,
        }
    }

    pub fn keyword(self) -> &'static str {
        keywords::spelling(self.rule())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum CompressOption {
    /// `gzip`, `br` or `zstd`: the keyword's rule.
    Codec(CompressCodec, Span),
    MinSize(Number, Span),
    Types(Vec<Str>, Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CompressCodec {
    Gzip,
    Br,
    Zstd,
}

impl CompressCodec {
    /// The grammar's keyword rule for this codec.
    pub fn rule(self) -> Rule {
        match self {
            CompressCodec::Gzip => Rule::kw_gzip,
            CompressCodec::Br => Rule::kw_br,
            CompressCodec::Zstd => Rule::kw_zstd,
        }
    }

    pub fn keyword(self) -> &'static str {
        keywords::spelling(self.rule())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RateOption {
    Burst(Number, Span),
    By(RateKey, Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RateKey {
    ClientIp,
    Header(Str),
    Route,
}

// ------------------------------------------------------------------ tests

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Test {
    pub title: Str,
    pub stmts: Vec<TestStmt>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TestStmt {
    Request(TestRequest),
    Expect(Expectation, Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestRequest {
    pub method: Ident,
    pub url: Str,
    pub options: Vec<RequestOption>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RequestOption {
    Header(Str, Str, Span),
    From(Str, Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Expectation {
    Route(Ident),
    Upstream(Ident),
    /// `expect server "HOST:PORT"`: the server consistent hashing (or a
    /// single server) sends the request to. An extension of LANGUAGE.md §7.
    Server(Str),
    Status {
        status: Number,
        location: Option<Str>,
    },
    NoRoute,
}
