//! Policies and routes: conditions, the action, and modifiers.

use pest::iterators::Pair;

use super::{only_child, Builder, Children};
use crate::ast::*;
use crate::syntax::Rule;

impl Builder<'_> {
    pub(super) fn policy(&mut self, pair: Pair<'_, Rule>) -> Policy {
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

    pub(super) fn route(&mut self, pair: Pair<'_, Rule>) -> Route {
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
                        match parts.next().as_rule() {
                            Rule::kw_index => StaticOption::Index(self.str(parts.next()), span),
                            Rule::kw_fallback => StaticOption::Fallback(self.str(parts.next()), span),
                            _ => StaticOption::Precompressed(span),
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
}
