//! Upstreams: servers and the settings of the pool.

use pest::iterators::Pair;

use super::{only_child, Builder, Children};
use crate::ast::*;
use crate::syntax::Rule;

impl Builder<'_> {
    pub(super) fn upstream(&mut self, pair: Pair<'_, Rule>) -> Upstream {
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
        if rule == Rule::kw_retry_non_idempotent {
            return UpstreamStmt {
                kind: UpstreamStmtKind::RetryNonIdempotent,
                span,
            };
        }
        let mut children = Children::of(inner);
        children.next(); // the keyword
        let kind = match rule {
            Rule::server => self.server(children),
            Rule::balance => UpstreamStmtKind::Balance(self.balance(children.next())),
            Rule::health => UpstreamStmtKind::Health(self.health(children.next())),
            Rule::passive => self.passive(children),
            Rule::upstream_timeout => UpstreamStmtKind::Timeout(self.timeout_phases(children)),
            Rule::retry => self.retry(children),
            Rule::upstream_tls => UpstreamStmtKind::Tls(self.upstream_tls(children)),
            Rule::max_connections => UpstreamStmtKind::MaxConnections(self.number(children.next())),
            rule => unreachable!("upstream cannot hold {rule:?}"),
        };
        UpstreamStmt { kind, span }
    }

    /// `server ADDR [weight N] [backup]`, after the keyword.
    fn server(&mut self, mut children: Children<'_>) -> UpstreamStmtKind {
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

    /// The strategy after `balance`.
    fn balance(&mut self, choice: Pair<'_, Rule>) -> Balance {
        match choice.as_rule() {
            Rule::kw_round_robin => Balance::RoundRobin,
            Rule::kw_least_conn => Balance::LeastConn,
            Rule::kw_random => Balance::Random,
            Rule::kw_p2c => Balance::P2c,
            Rule::ketama => {
                let key = Children::of(choice).rest().nth(2).expect("ketama has a key");
                Balance::Ketama(self.hash_key(key))
            }
            rule => unreachable!("balance cannot hold {rule:?}"),
        }
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

    /// `passive failures N within D eject D`, after the keyword.
    fn passive(&mut self, mut children: Children<'_>) -> UpstreamStmtKind {
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

    /// The phases of an upstream's `timeout`, each with its duration.
    fn timeout_phases(&mut self, children: Children<'_>) -> Vec<(Spanned<TimeoutPhase>, Number)> {
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
            .collect()
    }

    /// `retry N [on CONDITION...]`, after the keyword.
    fn retry(&mut self, mut children: Children<'_>) -> UpstreamStmtKind {
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

    /// The options of an upstream's `tls`.
    fn upstream_tls(&mut self, children: Children<'_>) -> Vec<UpstreamTlsOption> {
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
            .collect()
    }
}
