//! Upstream pools: their servers and settings, ranges and defaults
//! (LANGUAGE.md §5).

use std::collections::HashMap;

use zbin::model;

use crate::ast::{
    Balance, HashKey, HealthOptionKind, HealthProbe, Ident, ItemKind, Number, RetryCondition, ServerOption, Spanned,
    Str, TimeoutPhase, UpstreamStmtKind, UpstreamTlsOption,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;

use super::Checker;

/// An upstream's servers as they are checked, with where each address was
/// listed, to report one listed twice.
#[derive(Default)]
struct Servers {
    list: Vec<model::Server>,
    spans: HashMap<String, Span>,
}

/// A health check's options, each written at most once.
#[derive(Default)]
struct HealthOptions {
    /// Where each option was written, valid or not.
    seen: HashMap<HealthOptionKind, Span>,
    expect: Option<u16>,
    interval: Option<u64>,
    timeout: Option<u64>,
    rise: Option<u32>,
    fall: Option<u32>,
}

/// The keyword of a setting an upstream takes at most once; `None` for
/// `server`, which it takes many times.
fn once_keyword(kind: &UpstreamStmtKind) -> Option<&'static str> {
    match kind {
        UpstreamStmtKind::Server { .. } => None,
        UpstreamStmtKind::Balance(_) => Some("balance"),
        UpstreamStmtKind::Health(_) => Some("health"),
        UpstreamStmtKind::Passive { .. } => Some("passive"),
        UpstreamStmtKind::Timeout(_) => Some("timeout"),
        UpstreamStmtKind::Retry { .. } => Some("retry"),
        UpstreamStmtKind::RetryNonIdempotent => Some("retry_non_idempotent"),
        UpstreamStmtKind::Tls(_) => Some("tls"),
        UpstreamStmtKind::MaxConnections(_) => Some("max_connections"),
    }
}

impl Checker<'_> {
    /// Every upstream, in declaration order (`None` where it had errors or
    /// was a duplicate).
    pub(super) fn upstreams(&mut self) -> Vec<Option<model::Upstream>> {
        let mut lowered = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (_, item) in self.items() {
            let ItemKind::Upstream(upstream) = &item.kind else {
                continue;
            };
            let upstream_lowered = self.upstream(upstream, item.span);
            // A duplicate (already reported) is checked all the same, so
            // that every error shows in one run, but not kept.
            if names.insert(upstream.name.node.as_str()) {
                lowered.push(upstream_lowered);
            }
        }
        lowered
    }

    /// Checks an upstream's statements in the order written, each setting
    /// at most once, and lowers it when none had an error.
    fn upstream(&mut self, upstream: &crate::ast::Upstream, span: Span) -> Option<model::Upstream> {
        let errors_before = self.error_count();
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        let mut servers = Servers::default();
        let mut out = model::Upstream {
            name: upstream.name.node.clone(),
            servers: Vec::new(),
            balance: model::Balance::RoundRobin,
            health: None,
            passive: None,
            timeouts: model::Timeouts::default(),
            retry: model::Retry::default(),
            tls: None,
            max_connections: None,
        };
        for stmt in &upstream.stmts {
            if let Some(word) = once_keyword(&stmt.kind) {
                if let Some(first) = seen.insert(word, stmt.span) {
                    self.duplicate_setting(word, stmt.span, first);
                    continue;
                }
            }
            match &stmt.kind {
                UpstreamStmtKind::Server { addr, options } => self.server(addr, options, stmt.span, &mut servers),
                UpstreamStmtKind::Balance(balance) => out.balance = self.balance(balance),
                UpstreamStmtKind::Health(health) => out.health = self.health(health, stmt.span),
                UpstreamStmtKind::Passive {
                    failures,
                    within,
                    eject,
                } => out.passive = self.passive(failures, within, eject),
                UpstreamStmtKind::Timeout(phases) => self.upstream_timeouts(phases, &mut out.timeouts),
                UpstreamStmtKind::Retry { count, conditions } => self.retry(count, conditions, &mut out.retry),
                UpstreamStmtKind::RetryNonIdempotent => out.retry.non_idempotent = true,
                UpstreamStmtKind::Tls(options) => out.tls = Some(self.upstream_tls(options)),
                UpstreamStmtKind::MaxConnections(n) => {
                    out.max_connections = self.integer(n, "max_connections", 1..=1_000_000).map(|v| v as u32);
                }
            }
        }
        self.some_primary_server(upstream, span, &servers.list);
        out.servers = servers.list;
        (self.error_count() == errors_before).then_some(out)
    }

    /// `server ADDR [weight N] [backup]`: each address once per upstream.
    fn server(&mut self, addr: &Str, options: &[ServerOption], span: Span, servers: &mut Servers) {
        let addr = self.server_addr(addr);
        let mut weight = None;
        let mut backup = None;
        for option in options {
            match option {
                ServerOption::Weight(number, at) => {
                    if let Some((_, first)) = weight {
                        self.duplicate_setting("weight", *at, first);
                    } else {
                        weight = Some((self.integer(number, "weight", 1..=10_000), *at));
                    }
                }
                ServerOption::Backup(at) => {
                    if let Some(first) = backup {
                        self.duplicate_setting("backup", *at, first);
                    }
                    backup = Some(*at);
                }
            }
        }
        let Some(addr) = addr else { return };
        if let Some(first) = servers.spans.get(&addr) {
            let first = *first;
            self.report(
                Diagnostic::new(
                    Code::DuplicateSetting,
                    format!("server `{addr}` is listed twice"),
                    span,
                    "listed again here",
                )
                .with_label(first, "first listed here")
                .with_help("give one entry a higher `weight` instead"),
            );
            return;
        }
        servers.spans.insert(addr.clone(), span);
        servers.list.push(model::Server {
            addr,
            weight: weight.and_then(|(w, _)| w).unwrap_or(1) as u32,
            backup: backup.is_some(),
        });
    }

    /// Reports an upstream without a server, or with only backups: either
    /// way nothing serves its traffic.
    fn some_primary_server(&mut self, upstream: &crate::ast::Upstream, span: Span, servers: &[model::Server]) {
        let any_server = upstream
            .stmts
            .iter()
            .any(|s| matches!(s.kind, UpstreamStmtKind::Server { .. }));
        if !any_server {
            self.report(
                Diagnostic::new(
                    Code::NoServer,
                    format!("upstream `{}` has no server", upstream.name.node),
                    upstream.name.span,
                    "an upstream needs at least one server",
                )
                .with_label(span, "in this upstream")
                .with_help("add one, such as `server \"127.0.0.1:9000\"`"),
            );
        } else if !servers.is_empty() && servers.iter().all(|s| s.backup) {
            self.report(
                Diagnostic::new(
                    Code::NoServer,
                    format!("upstream `{}` has only backup servers", upstream.name.node),
                    upstream.name.span,
                    "backups serve only while no primary server is healthy",
                )
                .with_help("remove `backup` from at least one server"),
            );
        }
    }

    /// `balance`: how a server is chosen; a `ketama` header must be a
    /// header name.
    fn balance(&mut self, balance: &Balance) -> model::Balance {
        match balance {
            Balance::RoundRobin => model::Balance::RoundRobin,
            Balance::LeastConn => model::Balance::LeastConn,
            Balance::Random => model::Balance::Random,
            Balance::P2c => model::Balance::PowerOfTwoChoices,
            Balance::Ketama(HashKey::ClientIp) => model::Balance::KetamaClientIp,
            Balance::Ketama(HashKey::Header(name)) => match self.header_name(name) {
                Some(name) => model::Balance::KetamaHeader(name),
                None => model::Balance::RoundRobin,
            },
        }
    }

    /// `passive failures N within D eject D`: kept only when all three
    /// are valid.
    fn passive(&mut self, failures: &Number, within: &Number, eject: &Number) -> Option<model::PassiveHealth> {
        let failures = self.integer(failures, "failures", 1..=1_000).map(|v| v as u32);
        let within = self.duration(within, "within");
        let eject = self.duration(eject, "eject");
        Some(model::PassiveHealth {
            failures: failures?,
            within: within?,
            eject: eject?,
        })
    }

    /// `timeout connect D read D ...`: each phase at most once; the others
    /// keep their defaults.
    fn upstream_timeouts(&mut self, phases: &[(Spanned<TimeoutPhase>, Number)], timeouts: &mut model::Timeouts) {
        let mut phase_seen: HashMap<TimeoutPhase, Span> = HashMap::new();
        for (phase, value) in phases {
            if let Some(first) = phase_seen.insert(phase.node, phase.span) {
                self.duplicate_setting(phase.node.keyword(), phase.span, first);
                continue;
            }
            let Some(ms) = self.duration(value, phase.node.keyword()) else {
                continue;
            };
            match phase.node {
                TimeoutPhase::Connect => timeouts.connect = ms,
                TimeoutPhase::Read => timeouts.read = ms,
                TimeoutPhase::Write => timeouts.write = ms,
                TimeoutPhase::Idle => timeouts.idle = ms,
            }
        }
    }

    /// `retry N [on ...]`: how many times, and on what. `retry_non_idempotent`
    /// is its own statement and is left as it is.
    fn retry(&mut self, count: &Number, conditions: &[RetryCondition], retry: &mut model::Retry) {
        retry.count = self.integer(count, "retry count", 0..=10).unwrap_or(0) as u32;
        for condition in conditions {
            match condition {
                RetryCondition::ConnectError(_) => retry.on_connect_error = true,
                RetryCondition::Timeout(_) => retry.on_timeout = true,
                RetryCondition::Status(statuses, _) => {
                    for status in statuses {
                        if let Some(status) = self.status(status, "retry status", 400..=599) {
                            retry.on_status.push(status);
                        }
                    }
                }
            }
        }
        if conditions.is_empty() {
            // `retry N` alone retries what is always safe to retry.
            retry.on_connect_error = true;
        }
    }

    /// `tls [sni NAME] [verify BOOL]`: TLS to the servers, verified unless
    /// told otherwise; the server name is one host.
    fn upstream_tls(&mut self, options: &[UpstreamTlsOption]) -> model::UpstreamTls {
        let mut tls = model::UpstreamTls {
            sni: None,
            verify: true,
        };
        let mut option_seen: HashMap<&str, Span> = HashMap::new();
        for option in options {
            let (word, at) = match option {
                UpstreamTlsOption::Sni(_, at) => ("sni", *at),
                UpstreamTlsOption::Verify(_, at) => ("verify", *at),
            };
            if let Some(first) = option_seen.insert(word, at) {
                self.duplicate_setting(word, at, first);
                continue;
            }
            match option {
                UpstreamTlsOption::Sni(name, _) => match self.host_name(name) {
                    Some(model::HostName::Exact(host)) => tls.sni = Some(host),
                    Some(model::HostName::Wildcard(_)) => self.report(
                        Diagnostic::new(
                            Code::InvalidHost,
                            format!("invalid server name `{}`", name.value),
                            name.span,
                            "a TLS server name is one host, not a pattern",
                        )
                        .with_help("write the name the upstream's certificate is for, such as `api.example.com`"),
                    ),
                    None => {}
                },
                UpstreamTlsOption::Verify(on, _) => tls.verify = *on,
            }
        }
        tls
    }

    // ------------------------------------------------------------- health

    /// `health http|tcp ...`: a probe, and its options; `interval` and
    /// `timeout` are required.
    fn health(&mut self, health: &crate::ast::Health, span: Span) -> Option<model::HealthCheck> {
        let options = self.health_options(health);
        for (kind, word) in [
            (HealthOptionKind::Interval, "interval"),
            (HealthOptionKind::Timeout, "timeout"),
        ] {
            if !options.seen.contains_key(&kind) {
                self.report(
                    Diagnostic::new(
                        Code::MissingSetting,
                        format!("health check has no `{word}`"),
                        span,
                        format!("needs `{word}`"),
                    )
                    .with_help("write both, such as `interval 5s timeout 1s`"),
                );
            }
        }
        let probe = match &health.probe {
            HealthProbe::Http { method, path } => self.http_probe(method, path, options.expect)?,
            HealthProbe::Tcp => model::HealthProbe::Tcp,
        };
        Some(model::HealthCheck {
            probe,
            interval: options.interval?,
            timeout: options.timeout?,
            rise: options.rise.unwrap_or(2),
            fall: options.fall.unwrap_or(3),
        })
    }

    /// A health check's options, each at most once; `expect` only for an
    /// http probe, which has a status to expect.
    fn health_options(&mut self, health: &crate::ast::Health) -> HealthOptions {
        let mut options = HealthOptions::default();
        for option in &health.options {
            if let Some(first) = options.seen.insert(option.kind, option.span) {
                self.duplicate_setting(option.kind.keyword(), option.span, first);
                continue;
            }
            let value = &option.value;
            match option.kind {
                HealthOptionKind::Expect => {
                    if matches!(health.probe, HealthProbe::Tcp) {
                        self.report(
                            Diagnostic::new(
                                Code::ModifierMismatch,
                                "`expect` has no meaning for a tcp health check",
                                option.span,
                                "a tcp check only connects",
                            )
                            .with_help("use `health http GET \"/path\" expect 200 ...` to check a status"),
                        );
                    }
                    options.expect = self.status(value, "health check status", 100..=599);
                }
                HealthOptionKind::Interval => options.interval = self.duration(value, "interval"),
                HealthOptionKind::Timeout => options.timeout = self.duration(value, "timeout"),
                HealthOptionKind::Rise => options.rise = self.integer(value, "rise", 1..=100).map(|v| v as u32),
                HealthOptionKind::Fall => options.fall = self.integer(value, "fall", 1..=100).map(|v| v as u32),
            }
        }
        options
    }

    /// `health http METHOD PATH`: a method and an absolute path; the status
    /// expected defaults to 200.
    fn http_probe(&mut self, method: &Ident, path: &Str, expect: Option<u16>) -> Option<model::HealthProbe> {
        let method = self.method(method);
        let path = if path.value.starts_with('/') {
            Some(path.value.clone())
        } else {
            self.report(
                Diagnostic::new(
                    Code::InvalidPath,
                    format!("invalid health check path `{}`", path.value),
                    path.span,
                    "must start with `/`",
                )
                .with_help(format!("write `/{}`", path.value)),
            );
            None
        };
        Some(model::HealthProbe::Http {
            method: method?,
            path: path?,
            expect: expect.unwrap_or(200),
        })
    }
}
