//! Upstream pools and agents: their settings, ranges and defaults
//! (LANGUAGE.md §5 and §6).

use std::collections::HashMap;

use zbin::model;

use crate::ast::{
    AgentStmtKind, Balance, FailureMode, HashKey, HealthOptionKind, HealthProbe, ItemKind, RetryCondition,
    ServerOption, UpstreamStmtKind, UpstreamTlsOption,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::resolve_relative;
use crate::source::Span;

use super::Checker;

/// Agent defaults: a short timeout, fail closed.
const AGENT_TIMEOUT_MS: u64 = 100;

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

    fn upstream(&mut self, upstream: &crate::ast::Upstream, span: Span) -> Option<model::Upstream> {
        let errors_before = self.error_count();
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        let mut servers = Vec::new();
        let mut server_spans: HashMap<String, Span> = HashMap::new();
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
            let once = match &stmt.kind {
                UpstreamStmtKind::Server { .. } => None,
                UpstreamStmtKind::Balance(_) => Some("balance"),
                UpstreamStmtKind::Health(_) => Some("health"),
                UpstreamStmtKind::Passive { .. } => Some("passive"),
                UpstreamStmtKind::Timeout(_) => Some("timeout"),
                UpstreamStmtKind::Retry { .. } => Some("retry"),
                UpstreamStmtKind::RetryNonIdempotent => Some("retry_non_idempotent"),
                UpstreamStmtKind::Tls(_) => Some("tls"),
                UpstreamStmtKind::MaxConnections(_) => Some("max_connections"),
            };
            if let Some(word) = once {
                if let Some(first) = seen.insert(word, stmt.span) {
                    self.duplicate_setting(word, stmt.span, first);
                    continue;
                }
            }
            match &stmt.kind {
                UpstreamStmtKind::Server { addr, options } => {
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
                    if let Some(addr) = addr {
                        if let Some(first) = server_spans.get(&addr) {
                            let first = *first;
                            self.report(
                                Diagnostic::new(
                                    Code::DuplicateSetting,
                                    format!("server `{addr}` is listed twice"),
                                    stmt.span,
                                    "listed again here",
                                )
                                .with_label(first, "first listed here")
                                .with_help("give one entry a higher `weight` instead"),
                            );
                            continue;
                        }
                        server_spans.insert(addr.clone(), stmt.span);
                        servers.push(model::Server {
                            addr,
                            weight: weight.and_then(|(w, _)| w).unwrap_or(1) as u32,
                            backup: backup.is_some(),
                        });
                    }
                }
                UpstreamStmtKind::Balance(balance) => {
                    out.balance = match balance {
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
                UpstreamStmtKind::Health(health) => out.health = self.health(health, stmt.span),
                UpstreamStmtKind::Passive {
                    failures,
                    within,
                    eject,
                } => {
                    let failures = self.integer(failures, "failures", 1..=1_000).map(|v| v as u32);
                    let within = self.duration(within, "within");
                    let eject = self.duration(eject, "eject");
                    if let (Some(failures), Some(within), Some(eject)) = (failures, within, eject) {
                        out.passive = Some(model::PassiveHealth {
                            failures,
                            within,
                            eject,
                        });
                    }
                }
                UpstreamStmtKind::Timeout(phases) => {
                    let mut phase_seen: HashMap<crate::ast::TimeoutPhase, Span> = HashMap::new();
                    for (phase, value) in phases {
                        if let Some(first) = phase_seen.insert(phase.node, phase.span) {
                            self.duplicate_setting(phase.node.keyword(), phase.span, first);
                            continue;
                        }
                        let Some(ms) = self.duration(value, phase.node.keyword()) else {
                            continue;
                        };
                        match phase.node {
                            crate::ast::TimeoutPhase::Connect => out.timeouts.connect = ms,
                            crate::ast::TimeoutPhase::Read => out.timeouts.read = ms,
                            crate::ast::TimeoutPhase::Write => out.timeouts.write = ms,
                            crate::ast::TimeoutPhase::Idle => out.timeouts.idle = ms,
                        }
                    }
                }
                UpstreamStmtKind::Retry { count, conditions } => {
                    out.retry.count = self.integer(count, "retry count", 0..=10).unwrap_or(0) as u32;
                    for condition in conditions {
                        match condition {
                            RetryCondition::ConnectError(_) => out.retry.on_connect_error = true,
                            RetryCondition::Timeout(_) => out.retry.on_timeout = true,
                            RetryCondition::Status(statuses, _) => {
                                for status in statuses {
                                    if let Some(status) = self.status(status, "retry status", 400..=599) {
                                        out.retry.on_status.push(status);
                                    }
                                }
                            }
                        }
                    }
                    if conditions.is_empty() {
                        // `retry N` alone retries what is always safe to retry.
                        out.retry.on_connect_error = true;
                    }
                }
                UpstreamStmtKind::RetryNonIdempotent => out.retry.non_idempotent = true,
                UpstreamStmtKind::Tls(options) => {
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
                                    .with_help(
                                        "write the name the upstream's certificate is for, such as `api.example.com`",
                                    ),
                                ),
                                None => {}
                            },
                            UpstreamTlsOption::Verify(on, _) => tls.verify = *on,
                        }
                    }
                    out.tls = Some(tls);
                }
                UpstreamStmtKind::MaxConnections(n) => {
                    out.max_connections = self.integer(n, "max_connections", 1..=1_000_000).map(|v| v as u32);
                }
            }
        }
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
        out.servers = servers;
        (self.error_count() == errors_before).then_some(out)
    }

    fn health(&mut self, health: &crate::ast::Health, span: Span) -> Option<model::HealthCheck> {
        let mut seen: HashMap<HealthOptionKind, Span> = HashMap::new();
        let mut expect = None;
        let mut interval = None;
        let mut timeout = None;
        let mut rise = None;
        let mut fall = None;
        for option in &health.options {
            if let Some(first) = seen.insert(option.kind, option.span) {
                self.duplicate_setting(option.kind.keyword(), option.span, first);
                continue;
            }
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
                    expect = self.status(&option.value, "health check status", 100..=599);
                }
                HealthOptionKind::Interval => interval = self.duration(&option.value, "interval"),
                HealthOptionKind::Timeout => timeout = self.duration(&option.value, "timeout"),
                HealthOptionKind::Rise => rise = self.integer(&option.value, "rise", 1..=100).map(|v| v as u32),
                HealthOptionKind::Fall => fall = self.integer(&option.value, "fall", 1..=100).map(|v| v as u32),
            }
        }
        for (missing, word) in [
            (!seen.contains_key(&HealthOptionKind::Interval), "interval"),
            (!seen.contains_key(&HealthOptionKind::Timeout), "timeout"),
        ] {
            if missing {
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
            HealthProbe::Http { method, path } => {
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
                model::HealthProbe::Http {
                    method: method?,
                    path: path?,
                    expect: expect.unwrap_or(200),
                }
            }
            HealthProbe::Tcp => model::HealthProbe::Tcp,
        };
        Some(model::HealthCheck {
            probe,
            interval: interval?,
            timeout: timeout?,
            rise: rise.unwrap_or(2),
            fall: fall.unwrap_or(3),
        })
    }

    /// Every agent, in declaration order.
    pub(super) fn agents(&mut self) -> Vec<Option<model::Agent>> {
        let mut lowered = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (module, item) in self.items() {
            let ItemKind::Agent(agent) = &item.kind else { continue };
            let agent_lowered = self.agent(module, agent);
            // A duplicate (already reported) is checked all the same, so
            // that every error shows in one run, but not kept.
            if names.insert(agent.name.node.as_str()) {
                lowered.push(agent_lowered);
            }
        }
        lowered
    }

    fn agent(&mut self, module: &crate::loader::Module, agent: &crate::ast::Agent) -> Option<model::Agent> {
        {
            let errors_before = self.error_count();
            let mut seen: HashMap<&str, Span> = HashMap::new();
            let mut out = model::Agent {
                name: agent.name.node.clone(),
                socket: String::new(),
                timeout: AGENT_TIMEOUT_MS,
                on_failure: model::FailureMode::Deny,
                body: 0,
            };
            for stmt in &agent.stmts {
                let word = match &stmt.kind {
                    AgentStmtKind::Socket(_) => "socket",
                    AgentStmtKind::Timeout(_) => "timeout",
                    AgentStmtKind::OnFailure(_) => "on_failure",
                    AgentStmtKind::Body(_) => "body",
                };
                if let Some(first) = seen.insert(word, stmt.span) {
                    self.duplicate_setting(word, stmt.span, first);
                    continue;
                }
                match &stmt.kind {
                    AgentStmtKind::Socket(path) => {
                        if path.value.is_empty() {
                            self.report(Diagnostic::new(
                                Code::InvalidAddress,
                                "empty socket path",
                                path.span,
                                "needs the path of a Unix socket",
                            ));
                        }
                        out.socket = resolve_relative(module.rel_dir.as_deref(), &path.value);
                    }
                    AgentStmtKind::Timeout(d) => out.timeout = self.duration(d, "timeout").unwrap_or(AGENT_TIMEOUT_MS),
                    AgentStmtKind::OnFailure(mode) => {
                        out.on_failure = match mode {
                            FailureMode::Allow => model::FailureMode::Allow,
                            FailureMode::Deny => model::FailureMode::Deny,
                        }
                    }
                    AgentStmtKind::Body(size) => {
                        // The body an agent sees is held back from the
                        // upstream until the agent answers, in the buffer
                        // that also replays it on a retry: at most 64 KiB.
                        if let Some(bytes) = self.size(size, "body") {
                            if bytes > model::AGENT_BODY_MAX {
                                self.report(
                                    Diagnostic::new(
                                        Code::OutOfRange,
                                        format!("agent body `{}` is out of range", size.text),
                                        size.span,
                                        "expected at most 64KiB",
                                    )
                                    .with_help(
                                        "an agent sees at most the first 64KiB of a body; the rest streams upstream once it allows the request",
                                    ),
                                );
                            } else {
                                out.body = bytes;
                            }
                        }
                    }
                }
            }
            if !seen.contains_key("socket") {
                self.report(
                    Diagnostic::new(
                        Code::NoSocket,
                        format!("agent `{}` has no socket", agent.name.node),
                        agent.name.span,
                        "an agent is reached through a Unix socket",
                    )
                    .with_help("add one, such as `socket \"/run/zentinel/waf.sock\"`"),
                );
            }
            (self.error_count() == errors_before).then_some(out)
        }
    }

    pub(super) fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}
