//! Upstream statements: servers and the settings of the pool.

use crate::ast::*;
use crate::syntax::Rule;

use super::Printer;

impl Printer<'_> {
    /// One statement of an `upstream` block.
    pub(super) fn upstream_stmt(&mut self, stmt: &UpstreamStmt) {
        match &stmt.kind {
            UpstreamStmtKind::Server { addr, options } => self.server(addr, options),
            UpstreamStmtKind::Balance(balance) => self.balance(balance),
            UpstreamStmtKind::Health(health) => self.health(health),
            UpstreamStmtKind::Passive {
                failures,
                within,
                eject,
            } => {
                self.keyword(Rule::kw_passive);
                self.keyword(Rule::kw_failures);
                self.number(failures);
                self.keyword(Rule::kw_within);
                self.number(within);
                self.keyword(Rule::kw_eject);
                self.number(eject);
            }
            UpstreamStmtKind::Timeout(phases) => {
                self.keyword(Rule::kw_timeout);
                for (phase, value) in phases {
                    self.word(phase.node.keyword());
                    self.number(value);
                }
            }
            UpstreamStmtKind::Retry { count, conditions } => self.retry(count, conditions),
            UpstreamStmtKind::RetryNonIdempotent => self.keyword(Rule::kw_retry_non_idempotent),
            UpstreamStmtKind::Tls(options) => self.upstream_tls(options),
            UpstreamStmtKind::MaxConnections(n) => {
                self.keyword(Rule::kw_max_connections);
                self.number(n);
            }
        }
    }

    /// `server ADDR [weight N] [backup]`.
    fn server(&mut self, addr: &Str, options: &[ServerOption]) {
        self.keyword(Rule::kw_server);
        self.string(addr);
        for option in options {
            match option {
                ServerOption::Weight(n, _) => {
                    self.keyword(Rule::kw_weight);
                    self.number(n);
                }
                ServerOption::Backup(_) => self.keyword(Rule::kw_backup),
            }
        }
    }

    /// `balance` and its strategy.
    fn balance(&mut self, balance: &Balance) {
        self.keyword(Rule::kw_balance);
        match balance {
            Balance::RoundRobin => self.keyword(Rule::kw_round_robin),
            Balance::LeastConn => self.keyword(Rule::kw_least_conn),
            Balance::Random => self.keyword(Rule::kw_random),
            Balance::P2c => self.keyword(Rule::kw_p2c),
            Balance::Ketama(key) => {
                self.keyword(Rule::kw_ketama);
                self.keyword(Rule::kw_by);
                self.hash_key(key);
            }
        }
    }

    fn hash_key(&mut self, key: &HashKey) {
        match key {
            HashKey::ClientIp => self.keyword(Rule::kw_client_ip),
            HashKey::Header(name) => {
                self.keyword(Rule::kw_header);
                self.string(name);
            }
        }
    }

    /// `health`, its probe, and its options in the order written.
    fn health(&mut self, health: &Health) {
        self.keyword(Rule::kw_health);
        match &health.probe {
            HealthProbe::Http { method, path } => {
                self.keyword(Rule::kw_http);
                self.ident(method);
                self.string(path);
            }
            HealthProbe::Tcp => self.keyword(Rule::kw_tcp),
        }
        for option in &health.options {
            self.word(option.kind.keyword());
            self.number(&option.value);
        }
    }

    /// `retry N`, and `on` with its conditions when there are any.
    fn retry(&mut self, count: &Number, conditions: &[RetryCondition]) {
        self.keyword(Rule::kw_retry);
        self.number(count);
        if !conditions.is_empty() {
            self.keyword(Rule::kw_on);
        }
        for condition in conditions {
            match condition {
                RetryCondition::ConnectError(_) => self.keyword(Rule::kw_connect_error),
                RetryCondition::Timeout(_) => self.keyword(Rule::kw_timeout),
                RetryCondition::Status(statuses, _) => {
                    self.keyword(Rule::kw_status);
                    for status in statuses {
                        self.number(status);
                    }
                }
            }
        }
    }

    /// `tls` towards the servers, and its options.
    fn upstream_tls(&mut self, options: &[UpstreamTlsOption]) {
        self.keyword(Rule::kw_tls);
        for option in options {
            match option {
                UpstreamTlsOption::Sni(name, _) => {
                    self.keyword(Rule::kw_sni);
                    self.string(name);
                }
                UpstreamTlsOption::Verify(on, _) => {
                    self.keyword(Rule::kw_verify);
                    self.word(if *on { "on" } else { "off" });
                }
            }
        }
    }
}
