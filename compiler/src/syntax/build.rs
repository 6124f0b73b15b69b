//! From pest's pairs to the typed AST. The grammar guarantees the shape of
//! every pair, so the only failures here are the ones the grammar leaves to
//! the builder on purpose: escapes inside strings.

use std::collections::HashMap;

use pest::iterators::{Pair, Pairs};

use super::Rule;
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};

pub(super) struct Builder<'t> {
    file: FileId,
    text: &'t str,
    /// Comment start by comment end, to trim them off spans.
    comment_starts: HashMap<usize, usize>,
    diagnostics: Vec<Diagnostic>,
}

/// The children of a pair, without comments, read front to back.
struct Children<'i> {
    pairs: std::iter::Peekable<std::vec::IntoIter<Pair<'i, Rule>>>,
}

impl<'i> Children<'i> {
    fn of(pair: Pair<'i, Rule>) -> Self {
        let pairs: Vec<_> = pair
            .into_inner()
            .filter(|p| !matches!(p.as_rule(), Rule::COMMENT | Rule::sep | Rule::lbrace | Rule::rbrace))
            .collect();
        Children {
            pairs: pairs.into_iter().peekable(),
        }
    }

    /// The next child; the grammar guarantees it exists.
    fn next(&mut self) -> Pair<'i, Rule> {
        self.pairs.next().expect("the grammar guarantees this child exists")
    }

    fn try_next(&mut self) -> Option<Pair<'i, Rule>> {
        self.pairs.next()
    }

    fn peek_rule(&mut self) -> Option<Rule> {
        self.pairs.peek().map(Pair::as_rule)
    }

    fn rest(self) -> impl Iterator<Item = Pair<'i, Rule>> {
        self.pairs
    }
}

/// The one child of a wrapper rule (`item`, `condition`, ...).
fn only_child(pair: Pair<'_, Rule>) -> Pair<'_, Rule> {
    Children::of(pair).next()
}

impl<'t> Builder<'t> {
    pub(super) fn new(file: FileId, text: &'t str, comments: &[Span]) -> Self {
        Builder {
            file,
            text,
            comment_starts: comments.iter().map(|c| (c.end, c.start)).collect(),
            diagnostics: Vec::new(),
        }
    }

    pub(super) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// The span of a pair without the whitespace and comments that pest
    /// lets a rule end with (implicit whitespace before a repetition that
    /// then matches nothing is still consumed).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let start = pair.as_span().start();
        let mut end = pair.as_span().end();
        loop {
            let trimmed = self.text[start..end].trim_end_matches([' ', '\t']).len() + start;
            match self.comment_starts.get(&trimmed) {
                Some(&comment_start) if comment_start >= start => end = comment_start,
                _ => {
                    end = trimmed;
                    break;
                }
            }
        }
        Span::new(self.file, start, end)
    }

    pub(super) fn file(&mut self, mut pairs: Pairs<'_, Rule>) -> File {
        let file = pairs.next().expect("parse(Rule::file) yields one pair");
        let items = Children::of(file)
            .rest()
            .filter(|p| p.as_rule() == Rule::item)
            .map(|p| self.item(p))
            .collect();
        File { items }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let kind = match inner.as_rule() {
            Rule::import => ItemKind::Import(self.str(Children::of(inner).rest().nth(1).expect("import has a string"))),
            Rule::admin => ItemKind::Admin(self.str(Children::of(inner).rest().nth(1).expect("admin has a string"))),
            Rule::listen => ItemKind::Listen(self.listen(inner)),
            Rule::limits => ItemKind::Limits(self.limits(inner)),
            Rule::upstream => ItemKind::Upstream(self.upstream(inner)),
            Rule::agent => ItemKind::Agent(self.agent(inner)),
            Rule::policy => ItemKind::Policy(self.policy(inner)),
            Rule::route => ItemKind::Route(self.route(inner)),
            Rule::test => ItemKind::Test(self.test(inner)),
            rule => unreachable!("item cannot hold {rule:?}"),
        };
        Item { kind, span }
    }

    // ------------------------------------------------------------ literals

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Spanned::new(pair.as_str().to_string(), self.span(&pair))
    }

    fn number(&self, pair: Pair<'_, Rule>) -> Number {
        Number {
            text: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn str(&mut self, pair: Pair<'_, Rule>) -> Str {
        let span = self.span(&pair);
        let raw = pair.as_rule() == Rule::raw_string;
        let inner = only_child(pair);
        let value = if raw {
            inner.as_str().to_string()
        } else {
            self.unescape(inner.as_str(), span.start + 1)
        };
        Str { value, raw, span }
    }

    /// Decodes `\" \\ \n \t \r \u{...}`; anything else is reported and
    /// kept as written so that checking can go on.
    fn unescape(&mut self, text: &str, offset: usize) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, escape)) = chars.next() else {
                break;
            };
            match escape {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let rest = &text[i + 2..];
                    let decoded = rest
                        .strip_prefix('{')
                        .and_then(|r| r.find('}').map(|end| &r[..end]))
                        .filter(|hex| !hex.is_empty() && hex.len() <= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v)));
                    match decoded.and_then(|(len, v)| char::from_u32(v).map(|ch| (len, ch))) {
                        Some((len, ch)) => {
                            out.push(ch);
                            for _ in 0..len + 2 {
                                chars.next();
                            }
                        }
                        None => {
                            let end = rest.find('}').map_or(i + 2, |e| i + 3 + e);
                            // Skip what the bad escape spans, so the text after it stays as is.
                            while chars.peek().is_some_and(|&(j, _)| j < end) {
                                chars.next();
                            }
                            let span = Span::new(self.file, offset + i, offset + end.min(text.len()));
                            self.diagnostics.push(
                                Diagnostic::new(
                                    Code::InvalidEscape,
                                    format!("invalid unicode escape `{}`", &text[i..end.min(text.len())]),
                                    span,
                                    "not a unicode scalar value",
                                )
                                .with_help("write a code point in hex between braces, such as `\\u{1F600}`"),
                            );
                            out.push('\u{FFFD}');
                        }
                    }
                }
                other => {
                    let span = Span::new(self.file, offset + i, offset + i + 1 + other.len_utf8());
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::InvalidEscape,
                            format!("unknown escape `\\{other}`"),
                            span,
                            "not an escape",
                        )
                        .with_help(
                            "strings take `\\\"`, `\\\\`, `\\n`, `\\t`, `\\r` and `\\u{...}`; for a regex, a raw string `r\"...\"` takes backslashes as written",
                        ),
                    );
                    out.push('\\');
                    out.push(other);
                }
            }
        }
        out
    }

    // ------------------------------------------------------------ listeners

    fn listen(&mut self, pair: Pair<'_, Rule>) -> Listen {
        let mut children = Children::of(pair);
        children.next(); // kw_listen
        let addr = self.str(children.next());
        let mut options = Vec::new();
        for option in children.rest() {
            let span = self.span(&option);
            match option.as_rule() {
                Rule::kw_http2 => options.push(ListenOption::Http2(span)),
                Rule::listen_tls => {
                    let stmts = Children::of(option)
                        .rest()
                        .filter(|p| p.as_rule() == Rule::tls_stmt)
                        .map(|p| self.tls_stmt(only_child(p)))
                        .collect();
                    options.push(ListenOption::Tls(stmts, span));
                }
                rule => unreachable!("listen cannot hold {rule:?}"),
            }
        }
        Listen { addr, options }
    }

    fn tls_stmt(&mut self, pair: Pair<'_, Rule>) -> TlsStmt {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = Children::of(pair);
        children.next(); // keyword
        match rule {
            Rule::tls_cert => TlsStmt::Cert(self.str(children.next()), span),
            Rule::tls_key => TlsStmt::Key(self.str(children.next()), span),
            Rule::tls_sni => {
                let host = self.str(children.next());
                let stmts = children
                    .rest()
                    .filter(|p| p.as_rule() == Rule::sni_stmt)
                    .map(|p| self.tls_stmt(only_child(p)))
                    .collect();
                TlsStmt::Sni { host, stmts, span }
            }
            rule => unreachable!("tls cannot hold {rule:?}"),
        }
    }

    fn limits(&mut self, pair: Pair<'_, Rule>) -> Vec<LimitStmt> {
        Children::of(pair)
            .rest()
            .filter(|p| p.as_rule() == Rule::limit_stmt)
            .map(|stmt| {
                let (kind, value, span) = self.keyed_number(stmt, |rule| {
                    LimitKind::from_rule(rule).unwrap_or_else(|| unreachable!("limits cannot hold {rule:?}"))
                });
                LimitStmt { kind, value, span }
            })
            .collect()
    }

    /// A `KEYWORD NUMBER` statement whose keyword picks its kind.
    fn keyed_number<K>(&self, pair: Pair<'_, Rule>, kind_of: impl Fn(Rule) -> K) -> (K, Number, Span) {
        let span = self.span(&pair);
        let mut children = Children::of(pair);
        let kind = kind_of(children.next().as_rule());
        (kind, self.number(children.next()), span)
    }

    // ------------------------------------------------------------ upstreams

    fn upstream(&mut self, pair: Pair<'_, Rule>) -> Upstream {
        let mut children = Children::of(pair);
        children.next(); // kw_upstream
        let name = self.ident(children.next());
        let stmts = children
            .rest()
            .filter(|p| p.as_rule() == Rule::upstream_stmt)
            .map(|p| self.upstream_stmt(p))
            .collect();
        Upstream { name, stmts }
    }

    fn upstream_stmt(&mut self, pair: Pair<'_, Rule>) -> UpstreamStmt {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let rule = inner.as_rule();
        let kind = match rule {
            Rule::kw_retry_non_idempotent => UpstreamStmtKind::RetryNonIdempotent,
            _ => {
                let mut children = Children::of(inner);
                children.next(); // the keyword
                match rule {
                    Rule::server => {
                        let addr = self.str(children.next());
                        let options = children
                            .rest()
                            .map(|option| {
                                let span = self.span(&option);
                                match option.as_rule() {
                                    Rule::kw_backup => ServerOption::Backup(span),
                                    _ => ServerOption::Weight(
                                        self.number(Children::of(option).rest().nth(1).expect("weight has a value")),
                                        span,
                                    ),
                                }
                            })
                            .collect();
                        UpstreamStmtKind::Server { addr, options }
                    }
                    Rule::balance => {
                        let choice = children.next();
                        UpstreamStmtKind::Balance(match choice.as_rule() {
                            Rule::kw_round_robin => Balance::RoundRobin,
                            Rule::kw_least_conn => Balance::LeastConn,
                            Rule::kw_random => Balance::Random,
                            Rule::kw_p2c => Balance::P2c,
                            Rule::ketama => {
                                let key = Children::of(choice).rest().nth(2).expect("ketama has a key");
                                Balance::Ketama(self.hash_key(key))
                            }
                            rule => unreachable!("balance cannot hold {rule:?}"),
                        })
                    }
                    Rule::health => UpstreamStmtKind::Health(self.health(children.next())),
                    Rule::passive => {
                        children.next(); // failures
                        let failures = self.number(children.next());
                        children.next(); // within
                        let within = self.number(children.next());
                        children.next(); // eject
                        let eject = self.number(children.next());
                        UpstreamStmtKind::Passive {
                            failures,
                            within,
                            eject,
                        }
                    }
                    Rule::upstream_timeout => UpstreamStmtKind::Timeout(
                        children
                            .rest()
                            .map(|phase| {
                                let mut parts = Children::of(phase);
                                let keyword = parts.next();
                                let kind = match keyword.as_rule() {
                                    Rule::kw_connect => TimeoutPhase::Connect,
                                    Rule::kw_read => TimeoutPhase::Read,
                                    Rule::kw_write => TimeoutPhase::Write,
                                    Rule::kw_idle => TimeoutPhase::Idle,
                                    rule => unreachable!("timeout cannot hold {rule:?}"),
                                };
                                (Spanned::new(kind, self.span(&keyword)), self.number(parts.next()))
                            })
                            .collect(),
                    ),
                    Rule::retry => {
                        let count = self.number(children.next());
                        let conditions = children
                            .rest()
                            .filter(|p| p.as_rule() == Rule::retry_condition)
                            .map(|condition| {
                                let span = self.span(&condition);
                                let inner = only_child(condition);
                                match inner.as_rule() {
                                    Rule::kw_connect_error => RetryCondition::ConnectError(span),
                                    Rule::kw_timeout => RetryCondition::Timeout(span),
                                    _ => RetryCondition::Status(
                                        Children::of(inner).rest().skip(1).map(|n| self.number(n)).collect(),
                                        span,
                                    ),
                                }
                            })
                            .collect();
                        UpstreamStmtKind::Retry { count, conditions }
                    }
                    Rule::upstream_tls => UpstreamStmtKind::Tls(
                        children
                            .rest()
                            .map(|option| {
                                let span = self.span(&option);
                                let rule = option.as_rule();
                                let value = Children::of(option).rest().nth(1).expect("tls option has a value");
                                match rule {
                                    Rule::tls_sni_name => UpstreamTlsOption::Sni(self.str(value), span),
                                    _ => UpstreamTlsOption::Verify(value.as_rule() == Rule::kw_on, span),
                                }
                            })
                            .collect(),
                    ),
                    Rule::max_connections => UpstreamStmtKind::MaxConnections(self.number(children.next())),
                    rule => unreachable!("upstream cannot hold {rule:?}"),
                }
            }
        };
        UpstreamStmt { kind, span }
    }

    fn hash_key(&mut self, pair: Pair<'_, Rule>) -> HashKey {
        match pair.as_rule() {
            Rule::kw_client_ip => HashKey::ClientIp,
            _ => HashKey::Header(self.str(Children::of(pair).rest().nth(1).expect("header key has a name"))),
        }
    }

    fn health(&mut self, pair: Pair<'_, Rule>) -> Health {
        let rule = pair.as_rule();
        let mut children = Children::of(pair);
        children.next(); // http | tcp
        let probe = match rule {
            Rule::health_http => {
                let method = self.ident(children.next());
                let path = self.str(children.next());
                HealthProbe::Http { method, path }
            }
            _ => HealthProbe::Tcp,
        };
        let options = children
            .rest()
            .map(|option| {
                let (kind, value, span) = self.keyed_number(option, |rule| match rule {
                    Rule::kw_expect => HealthOptionKind::Expect,
                    Rule::kw_interval => HealthOptionKind::Interval,
                    Rule::kw_timeout => HealthOptionKind::Timeout,
                    Rule::kw_rise => HealthOptionKind::Rise,
                    Rule::kw_fall => HealthOptionKind::Fall,
                    rule => unreachable!("health cannot hold {rule:?}"),
                });
                HealthOption { kind, value, span }
            })
            .collect();
        Health { probe, options }
    }

    // --------------------------------------------------------------- agents

    fn agent(&mut self, pair: Pair<'_, Rule>) -> Agent {
        let mut children = Children::of(pair);
        children.next(); // kw_agent
        let name = self.ident(children.next());
        let stmts = children
            .rest()
            .filter(|p| p.as_rule() == Rule::agent_stmt)
            .map(|stmt| {
                let span = self.span(&stmt);
                let mut parts = Children::of(stmt);
                let keyword = parts.next().as_rule();
                let value = parts.next();
                let kind = match keyword {
                    Rule::kw_socket => AgentStmtKind::Socket(self.str(value)),
                    Rule::kw_timeout => AgentStmtKind::Timeout(self.number(value)),
                    Rule::kw_body => AgentStmtKind::Body(self.number(value)),
                    Rule::kw_on_failure => AgentStmtKind::OnFailure(if value.as_rule() == Rule::kw_allow {
                        FailureMode::Allow
                    } else {
                        FailureMode::Deny
                    }),
                    rule => unreachable!("agent cannot hold {rule:?}"),
                };
                AgentStmt { kind, span }
            })
            .collect();
        Agent { name, stmts }
    }

    // ----------------------------------------------------- policies, routes

    fn policy(&mut self, pair: Pair<'_, Rule>) -> Policy {
        let mut children = Children::of(pair);
        children.next(); // kw_policy
        let name = self.ident(children.next());
        let modifiers = children
            .rest()
            .filter(|p| p.as_rule() == Rule::modifier)
            .map(|p| self.modifier(p))
            .collect();
        Policy { name, modifiers }
    }

    fn route(&mut self, pair: Pair<'_, Rule>) -> Route {
        let mut children = Children::of(pair);
        children.next(); // kw_route
        let name = self.ident(children.next());
        let stmts = children
            .rest()
            .filter(|p| p.as_rule() == Rule::route_stmt)
            .map(|stmt| {
                let inner = only_child(stmt);
                match inner.as_rule() {
                    Rule::priority => {
                        let span = self.span(&inner);
                        RouteStmt::Priority(
                            self.number(Children::of(inner).rest().nth(1).expect("priority has a value")),
                            span,
                        )
                    }
                    Rule::condition => RouteStmt::Condition(self.condition(inner)),
                    Rule::action => RouteStmt::Action(self.action(inner)),
                    Rule::modifier => RouteStmt::Modifier(self.modifier(inner)),
                    rule => unreachable!("route cannot hold {rule:?}"),
                }
            })
            .collect();
        Route { name, stmts }
    }

    fn condition(&mut self, pair: Pair<'_, Rule>) -> Condition {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let rule = inner.as_rule();
        let mut children = Children::of(inner);
        children.next(); // keyword
        let kind = match rule {
            Rule::host_cond => {
                if children.peek_rule() == Some(Rule::regex_match) {
                    ConditionKind::Host(HostPattern::Regex(self.regex_operand(children.next())))
                } else {
                    ConditionKind::Host(HostPattern::Names(children.rest().map(|p| self.str(p)).collect()))
                }
            }
            Rule::path_cond => {
                let operand = children.next();
                ConditionKind::Path(match operand.as_rule() {
                    Rule::prefix_match => PathPattern::Prefix(self.regex_operand(operand)),
                    Rule::regex_match => PathPattern::Regex(self.regex_operand(operand)),
                    _ => PathPattern::Exact(self.str(operand)),
                })
            }
            Rule::method_cond => ConditionKind::Method(children.rest().map(|p| self.ident(p)).collect()),
            Rule::header_cond => {
                let name = self.str(children.next());
                let value = children.try_next().map(|value| match value.as_rule() {
                    Rule::regex_match => ValueMatch::Regex(self.regex_operand(value)),
                    _ => ValueMatch::Exact(self.str(value)),
                });
                ConditionKind::Header { name, value }
            }
            Rule::query_cond => {
                let name = self.str(children.next());
                let value = children.try_next().map(|p| self.str(p));
                ConditionKind::Query { name, value }
            }
            rule => unreachable!("condition cannot hold {rule:?}"),
        };
        Condition { kind, span }
    }

    /// The string of `prefix "..."` or `regex "..."`.
    fn regex_operand(&mut self, pair: Pair<'_, Rule>) -> Str {
        let string = Children::of(pair).rest().nth(1).expect("operand has a string");
        self.str(string)
    }

    fn action(&mut self, pair: Pair<'_, Rule>) -> Action {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let rule = inner.as_rule();
        let mut children = Children::of(inner);
        children.next(); // keyword
        let kind = match rule {
            Rule::proxy => {
                if children.peek_rule() == Some(Rule::split_target) {
                    ActionKind::Split(
                        children
                            .rest()
                            .map(|target| {
                                let mut parts = Children::of(target);
                                let name = self.ident(parts.next());
                                (name, self.number(parts.next()))
                            })
                            .collect(),
                    )
                } else {
                    ActionKind::Proxy(self.ident(children.next()))
                }
            }
            Rule::static_files => {
                let root = self.str(children.next());
                let options = children
                    .rest()
                    .map(|option| {
                        let span = self.span(&option);
                        let mut parts = Children::of(option);
                        let keyword = parts.next().as_rule();
                        let value = self.str(parts.next());
                        if keyword == Rule::kw_index {
                            StaticOption::Index(value, span)
                        } else {
                            StaticOption::Fallback(value, span)
                        }
                    })
                    .collect();
                ActionKind::Static { root, options }
            }
            Rule::redirect => {
                let status = self.number(children.next());
                let location = self.str(children.next());
                ActionKind::Redirect { status, location }
            }
            Rule::respond => {
                let status = self.number(children.next());
                let mut body = None;
                let mut content_type = None;
                for part in children.rest() {
                    if part.as_rule() == Rule::content_type {
                        content_type =
                            Some(self.str(Children::of(part).rest().nth(1).expect("content_type has a value")));
                    } else {
                        body = Some(self.str(part));
                    }
                }
                ActionKind::Respond {
                    status,
                    body,
                    content_type,
                }
            }
            rule => unreachable!("action cannot hold {rule:?}"),
        };
        Action { kind, span }
    }

    fn modifier(&mut self, pair: Pair<'_, Rule>) -> Modifier {
        let span = self.span(&pair);
        let inner = only_child(pair);
        let rule = inner.as_rule();
        if rule == Rule::limits {
            return Modifier {
                kind: ModifierKind::Limits(self.limits(inner)),
                span,
            };
        }
        let mut children = Children::of(inner);
        children.next(); // keyword
        let kind = match rule {
            Rule::rewrite => {
                if children.peek_rule() == Some(Rule::kw_prefix) {
                    children.next();
                    let from = self.str(children.next());
                    let to = self.str(children.next());
                    ModifierKind::RewritePrefix { from, to }
                } else {
                    ModifierKind::Rewrite(self.str(children.next()))
                }
            }
            Rule::request_headers => ModifierKind::RequestHeaders(self.header_edits(children.next())),
            Rule::response_headers => ModifierKind::ResponseHeaders(self.header_edits(children.next())),
            Rule::agents => ModifierKind::Agents(children.rest().map(|p| self.ident(p)).collect()),
            Rule::rate_limit => {
                let rate = self.number(children.next());
                let options = children
                    .rest()
                    .map(|option| {
                        let span = self.span(&option);
                        let mut parts = Children::of(option);
                        let keyword = parts.next().as_rule();
                        let value = parts.next();
                        if keyword == Rule::kw_burst {
                            RateOption::Burst(self.number(value), span)
                        } else {
                            let key = only_child(value);
                            let key = match key.as_rule() {
                                Rule::kw_client_ip => RateKey::ClientIp,
                                Rule::kw_route => RateKey::Route,
                                _ => RateKey::Header(
                                    self.str(Children::of(key).rest().nth(1).expect("header key has a name")),
                                ),
                            };
                            RateOption::By(key, span)
                        }
                    })
                    .collect();
                ModifierKind::RateLimit { rate, options }
            }
            Rule::route_timeout => ModifierKind::Timeout(self.number(children.next())),
            Rule::use_policy => ModifierKind::Use(children.rest().map(|p| self.ident(p)).collect()),
            Rule::compress => ModifierKind::Compress(children.rest().map(|p| self.compress_option(p)).collect()),
            rule => unreachable!("modifier cannot hold {rule:?}"),
        };
        Modifier { kind, span }
    }

    /// One option of `compress`: a codec, `min_size SIZE` or `types "T"...`.
    fn compress_option(&mut self, pair: Pair<'_, Rule>) -> CompressOption {
        let span = self.span(&pair);
        let mut parts = Children::of(pair);
        match parts.next().as_rule() {
            Rule::kw_gzip => CompressOption::Codec(CompressCodec::Gzip, span),
            Rule::kw_br => CompressOption::Codec(CompressCodec::Br, span),
            Rule::kw_zstd => CompressOption::Codec(CompressCodec::Zstd, span),
            Rule::kw_min_size => CompressOption::MinSize(self.number(parts.next()), span),
            Rule::kw_types => CompressOption::Types(parts.rest().map(|p| self.str(p)).collect(), span),
            rule => unreachable!("compress cannot hold {rule:?}"),
        }
    }

    fn header_edits(&mut self, pair: Pair<'_, Rule>) -> Vec<HeaderEdit> {
        Children::of(pair)
            .rest()
            .filter(|p| p.as_rule() == Rule::header_edit)
            .map(|edit| {
                let span = self.span(&edit);
                let mut parts = Children::of(edit);
                let kind = match parts.next().as_rule() {
                    Rule::kw_set => HeaderEditKind::Set,
                    Rule::kw_add => HeaderEditKind::Add,
                    _ => HeaderEditKind::Remove,
                };
                let name = self.str(parts.next());
                let value = parts.try_next().map(|p| self.str(p));
                HeaderEdit {
                    kind,
                    name,
                    value,
                    span,
                }
            })
            .collect()
    }

    // ---------------------------------------------------------------- tests

    fn test(&mut self, pair: Pair<'_, Rule>) -> Test {
        let mut children = Children::of(pair);
        children.next(); // kw_test
        let title = self.str(children.next());
        let stmts = children
            .rest()
            .filter(|p| p.as_rule() == Rule::test_stmt)
            .map(|stmt| {
                let inner = only_child(stmt);
                let span = self.span(&inner);
                let rule = inner.as_rule();
                let mut parts = Children::of(inner);
                parts.next(); // keyword
                if rule == Rule::test_request {
                    let method = self.ident(parts.next());
                    let url = self.str(parts.next());
                    let options = parts
                        .rest()
                        .map(|option| {
                            let span = self.span(&option);
                            let mut bits = Children::of(option);
                            let keyword = bits.next().as_rule();
                            if keyword == Rule::kw_header {
                                let name = self.str(bits.next());
                                let value = self.str(bits.next());
                                RequestOption::Header(name, value, span)
                            } else {
                                RequestOption::From(self.str(bits.next()), span)
                            }
                        })
                        .collect();
                    TestStmt::Request(TestRequest {
                        method,
                        url,
                        options,
                        span,
                    })
                } else {
                    let what = parts.next();
                    let expectation = match what.as_rule() {
                        Rule::kw_no_route => Expectation::NoRoute,
                        Rule::expect_route => {
                            Expectation::Route(self.ident(Children::of(what).rest().nth(1).expect("route name")))
                        }
                        Rule::expect_upstream => {
                            Expectation::Upstream(self.ident(Children::of(what).rest().nth(1).expect("upstream name")))
                        }
                        Rule::expect_server => {
                            Expectation::Server(self.str(Children::of(what).rest().nth(1).expect("server address")))
                        }
                        _ => {
                            let mut bits = Children::of(what);
                            bits.next(); // status
                            let status = self.number(bits.next());
                            let location = bits.rest().nth(1).map(|p| self.str(p));
                            Expectation::Status { status, location }
                        }
                    };
                    TestStmt::Expect(expectation, span)
                }
            })
            .collect();
        Test { title, stmts }
    }
}
