//! Route statements: conditions, the action, and modifiers (which
//! policies hold too).

use crate::ast::*;
use crate::source::Span;
use crate::syntax::Rule;

use super::Printer;

impl Printer<'_> {
    pub(super) fn route_stmt(&mut self, stmt: &RouteStmt) {
        match stmt {
            RouteStmt::Priority(n, _) => {
                self.keyword(Rule::kw_priority);
                self.number(n);
            }
            RouteStmt::Condition(c) => self.condition(c),
            RouteStmt::Action(a) => self.action(a),
            RouteStmt::Modifier(m) => self.modifier(m),
        }
    }

    fn condition(&mut self, condition: &Condition) {
        match &condition.kind {
            ConditionKind::Host(HostPattern::Names(names)) => {
                self.keyword(Rule::kw_host);
                for name in names {
                    self.string(name);
                }
            }
            ConditionKind::Host(HostPattern::Regex(r)) => {
                self.keyword(Rule::kw_host);
                self.keyword(Rule::kw_regex);
                self.string(r);
            }
            ConditionKind::Path(PathPattern::Exact(p)) => {
                self.keyword(Rule::kw_path);
                self.string(p);
            }
            ConditionKind::Path(PathPattern::Prefix(p)) => {
                self.keyword(Rule::kw_path);
                self.keyword(Rule::kw_prefix);
                self.string(p);
            }
            ConditionKind::Path(PathPattern::Regex(r)) => {
                self.keyword(Rule::kw_path);
                self.keyword(Rule::kw_regex);
                self.string(r);
            }
            ConditionKind::Method(methods) => {
                self.keyword(Rule::kw_method);
                for m in methods {
                    self.ident(m);
                }
            }
            ConditionKind::Header { name, value } => {
                self.keyword(Rule::kw_header);
                self.string(name);
                match value {
                    None => {}
                    Some(ValueMatch::Exact(v)) => self.string(v),
                    Some(ValueMatch::Regex(r)) => {
                        self.keyword(Rule::kw_regex);
                        self.string(r);
                    }
                }
            }
            ConditionKind::Query { name, value } => {
                self.keyword(Rule::kw_query);
                self.string(name);
                if let Some(v) = value {
                    self.string(v);
                }
            }
        }
    }

    fn action(&mut self, action: &Action) {
        match &action.kind {
            ActionKind::Proxy(name) => {
                self.keyword(Rule::kw_proxy);
                self.ident(name);
            }
            ActionKind::Split(targets) => {
                self.keyword(Rule::kw_proxy);
                for (name, share) in targets {
                    self.ident(name);
                    self.number(share);
                }
            }
            ActionKind::Static { root, options } => {
                self.keyword(Rule::kw_static);
                self.string(root);
                for option in options {
                    match option {
                        StaticOption::Index(s, _) => {
                            self.keyword(Rule::kw_index);
                            self.string(s);
                        }
                        StaticOption::Fallback(s, _) => {
                            self.keyword(Rule::kw_fallback);
                            self.string(s);
                        }
                        StaticOption::Precompressed(_) => self.keyword(Rule::kw_precompressed),
                    }
                }
            }
            ActionKind::Redirect { status, location } => {
                self.keyword(Rule::kw_redirect);
                self.number(status);
                self.string(location);
            }
            ActionKind::Respond {
                status,
                body,
                content_type,
            } => {
                self.keyword(Rule::kw_respond);
                self.number(status);
                if let Some(body) = body {
                    self.string(body);
                }
                if let Some(ct) = content_type {
                    self.keyword(Rule::kw_content_type);
                    self.string(ct);
                }
            }
        }
    }

    pub(super) fn modifier(&mut self, modifier: &Modifier) {
        let end = modifier.span.end.saturating_sub(1);
        match &modifier.kind {
            ModifierKind::RewritePrefix { from, to } => {
                self.keyword(Rule::kw_rewrite);
                self.keyword(Rule::kw_prefix);
                self.string(from);
                self.string(to);
            }
            ModifierKind::Rewrite(t) => {
                self.keyword(Rule::kw_rewrite);
                self.string(t);
            }
            ModifierKind::RequestHeaders(edits) => {
                self.keyword(Rule::kw_request_headers);
                self.header_edits(edits, modifier.span);
            }
            ModifierKind::ResponseHeaders(edits) => {
                self.keyword(Rule::kw_response_headers);
                self.header_edits(edits, modifier.span);
            }
            ModifierKind::Agents(names) => {
                self.keyword(Rule::kw_agents);
                for n in names {
                    self.ident(n);
                }
            }
            ModifierKind::RateLimit { rate, options } => {
                self.keyword(Rule::kw_rate_limit);
                self.number(rate);
                for option in options {
                    match option {
                        RateOption::Burst(n, _) => {
                            self.keyword(Rule::kw_burst);
                            self.number(n);
                        }
                        RateOption::By(key, _) => {
                            self.keyword(Rule::kw_by);
                            match key {
                                RateKey::ClientIp => self.keyword(Rule::kw_client_ip),
                                RateKey::Route => self.keyword(Rule::kw_route),
                                RateKey::Header(name) => {
                                    self.keyword(Rule::kw_header);
                                    self.string(name);
                                }
                            }
                        }
                    }
                }
            }
            ModifierKind::Timeout(n) => {
                self.keyword(Rule::kw_timeout);
                self.number(n);
            }
            ModifierKind::Limits(stmts) => self.limits(stmts, end),
            ModifierKind::Use(names) => {
                self.keyword(Rule::kw_use);
                for n in names {
                    self.ident(n);
                }
            }
            ModifierKind::Compress(options) => self.compress(options),
        }
    }

    /// `compress` and its options, as written.
    fn compress(&mut self, options: &[CompressOption]) {
        self.keyword(Rule::kw_compress);
        for option in options {
            match option {
                CompressOption::Codec(codec, _) => self.keyword(codec.rule()),
                CompressOption::MinSize(size, _) => {
                    self.keyword(Rule::kw_min_size);
                    self.number(size);
                }
                CompressOption::Types(types, _) => {
                    self.keyword(Rule::kw_types);
                    for t in types {
                        self.string(t);
                    }
                }
            }
        }
    }

    /// One edit and no comment inside: `{ set "k" "v" }` on one line;
    /// anything else: one edit per line.
    fn header_edits(&mut self, edits: &[HeaderEdit], span: Span) {
        let has_comment = self
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.span.start < span.end);
        if edits.len() == 1 && !has_comment {
            self.out.push_str(" {");
            self.header_edit(&edits[0]);
            self.out.push_str(" }");
            return;
        }
        if edits.is_empty() && !has_comment {
            self.out.push_str(" {}");
            return;
        }
        self.block(edits, span.end - 1, |e| e.span, |p, e| p.header_edit(e));
    }

    fn header_edit(&mut self, edit: &HeaderEdit) {
        self.word(edit.kind.keyword());
        self.string(&edit.name);
        if let Some(v) = &edit.value {
            self.string(v);
        }
    }
}
