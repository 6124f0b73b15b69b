//! `zenc fmt`: one canonical layout for a Zen file. Four-space indents,
//! one statement per line, a blank line around block items, at most one
//! blank line kept where the author left one, comments kept: a comment on
//! its own line stays before what follows it, a comment after a statement
//! stays on that line. Formatting is idempotent and preserves the AST.

use crate::ast::*;
use crate::source::Span;
use crate::syntax::keywords;
use crate::syntax::{self, Comment, Rule};

/// Formats `text`; `None` when it does not parse or a string in it does
/// not decode (check reports why).
pub fn format_source(text: &str) -> Option<String> {
    let file = crate::source::FileId(0);
    match syntax::parse(file, text).ok()? {
        (parsed, diagnostics) if diagnostics.is_empty() => Some(format_parsed(text, &parsed.file, &parsed.comments)),
        _ => None,
    }
}

/// Formats a parsed file, given the text it came from.
pub fn format_parsed(text: &str, file: &File, comments: &[Comment]) -> String {
    let mut printer = Printer {
        text,
        out: String::new(),
        indent: 0,
        comments,
        next_comment: 0,
    };
    printer.file(file);
    printer.out
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    indent: usize,
    comments: &'a [Comment],
    next_comment: usize,
}

impl Printer<'_> {
    // ------------------------------------------------------------ layout

    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
    }

    fn newline(&mut self) {
        // No trailing spaces, ever.
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.newline();
        }
    }

    /// Whether the source has an empty line between `from` and `to`.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let lines: Vec<&str> = self.text[from.min(to)..to].split('\n').collect();
        lines.len() >= 3 && lines[1..lines.len() - 1].iter().any(|l| l.trim().is_empty())
    }

    /// Prints the comments that come before `offset` on their own lines.
    /// A blank line is kept wherever the source had one between two
    /// printed things (`previous_end` is the end of the last one); with
    /// `before_next`, also between the last of them and `offset`.
    fn leading_comments(&mut self, offset: usize, mut previous_end: Option<usize>, before_next: bool) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= offset {
                break;
            }
            if previous_end.is_some_and(|end| self.blank_between(end, comment.span.start)) {
                self.blank_line();
            }
            self.line_start();
            self.out.push_str(&comment.text);
            self.newline();
            previous_end = Some(comment.span.end);
            self.next_comment += 1;
        }
        if before_next && previous_end.is_some_and(|end| self.blank_between(end, offset)) {
            self.blank_line();
        }
    }

    /// A comment that starts on the line where `end` is, after it.
    fn trailing_comment(&mut self, end: usize) {
        if let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= end && !self.text[end..comment.span.start].contains('\n') {
                self.out.push(' ');
                self.out.push_str(&comment.text);
                self.next_comment += 1;
            }
        }
    }

    /// One statement on its own line, with the comments before it and the
    /// one after it. Comments between the tokens of a statement come out
    /// before the next one, so none is lost.
    fn statement<F: FnOnce(&mut Self)>(&mut self, span: Span, previous_end: Option<usize>, print: F) {
        self.leading_comments(span.start, previous_end, true);
        self.line_start();
        print(self);
        self.trailing_comment(span.end);
        self.newline();
    }

    /// Prints `{`, the statements, and `}` for a block ending at `end`.
    fn block<T>(&mut self, stmts: &[T], end: usize, span_of: impl Fn(&T) -> Span, print: impl Fn(&mut Self, &T)) {
        self.out.push_str(" {");
        self.newline();
        self.indent += 1;
        let mut previous_end = None;
        for stmt in stmts {
            let span = span_of(stmt);
            self.statement(span, previous_end, |p| print(p, stmt));
            previous_end = Some(span.end);
        }
        // Comments before the closing brace stay inside the block.
        self.leading_comments(end, previous_end, false);
        self.indent -= 1;
        self.line_start();
        self.out.push('}');
    }

    // ------------------------------------------------------------- atoms

    /// Writes keyword `rule` as the grammar spells it.
    fn keyword(&mut self, rule: Rule) {
        self.word(keywords::spelling(rule));
    }

    fn word(&mut self, word: &str) {
        if !self.out.is_empty() && !self.out.ends_with(['\n', ' ']) {
            self.out.push(' ');
        }
        self.out.push_str(word);
    }

    fn string(&mut self, s: &Str) {
        let text = quote(s);
        self.word(&text);
    }

    fn number(&mut self, n: &Number) {
        self.word(&n.text);
    }

    fn ident(&mut self, i: &Ident) {
        self.word(&i.node);
    }

    // ------------------------------------------------------------- items

    fn file(&mut self, file: &File) {
        let mut previous: Option<&Item> = None;
        for item in &file.items {
            if previous.is_some_and(|prev| is_block_item(prev) || is_block_item(item)) {
                self.blank_line();
            }
            self.leading_comments(item.span.start, previous.map(|p| p.span.end), true);
            self.line_start();
            self.item(item);
            self.trailing_comment(item.span.end);
            self.newline();
            previous = Some(item);
        }
        // Comments after the last item.
        self.leading_comments(usize::MAX, previous.map(|p| p.span.end), false);
    }

    fn item(&mut self, item: &Item) {
        let end = item.span.end.saturating_sub(1);
        match &item.kind {
            ItemKind::Import(s) => {
                self.keyword(Rule::kw_import);
                self.string(s);
            }
            ItemKind::Admin(s) => {
                self.keyword(Rule::kw_admin);
                self.string(s);
            }
            ItemKind::Listen(listen) => {
                self.keyword(Rule::kw_listen);
                self.string(&listen.addr);
                for option in &listen.options {
                    match option {
                        ListenOption::Http2(_) => self.keyword(Rule::kw_http2),
                        ListenOption::Tls(stmts, span) => {
                            self.keyword(Rule::kw_tls);
                            self.block(stmts, span.end - 1, tls_span, |p, s| p.tls_stmt(s));
                        }
                    }
                }
            }
            ItemKind::Limits(stmts) => self.limits(stmts, end),
            ItemKind::Upstream(u) => {
                self.keyword(Rule::kw_upstream);
                self.ident(&u.name);
                self.block(&u.stmts, end, |s| s.span, |p, s| p.upstream_stmt(s));
            }
            ItemKind::Agent(a) => {
                self.keyword(Rule::kw_agent);
                self.ident(&a.name);
                self.block(&a.stmts, end, |s| s.span, |p, s| p.agent_stmt(s));
            }
            ItemKind::Policy(policy) => {
                self.keyword(Rule::kw_policy);
                self.ident(&policy.name);
                self.block(&policy.modifiers, end, |m| m.span, |p, m| p.modifier(m));
            }
            ItemKind::Route(route) => {
                self.keyword(Rule::kw_route);
                self.ident(&route.name);
                self.block(&route.stmts, end, RouteStmt::span, |p, s| p.route_stmt(s));
            }
            ItemKind::Test(test) => {
                self.keyword(Rule::kw_test);
                self.string(&test.title);
                self.block(&test.stmts, end, test_span, |p, s| p.test_stmt(s));
            }
        }
    }

    fn tls_stmt(&mut self, stmt: &TlsStmt) {
        match stmt {
            TlsStmt::Cert(s, _) => {
                self.keyword(Rule::kw_cert);
                self.string(s);
            }
            TlsStmt::Key(s, _) => {
                self.keyword(Rule::kw_key);
                self.string(s);
            }
            TlsStmt::Sni { host, stmts, span } => {
                self.keyword(Rule::kw_sni);
                self.string(host);
                self.block(stmts, span.end - 1, tls_span, |p, s| p.tls_stmt(s));
            }
        }
    }

    fn limits(&mut self, stmts: &[LimitStmt], end: usize) {
        self.keyword(Rule::kw_limits);
        self.block(
            stmts,
            end,
            |s| s.span,
            |p, s| {
                p.word(s.kind.keyword());
                p.number(&s.value);
            },
        );
    }

    fn upstream_stmt(&mut self, stmt: &UpstreamStmt) {
        match &stmt.kind {
            UpstreamStmtKind::Server { addr, options } => {
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
            UpstreamStmtKind::Balance(balance) => {
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
            UpstreamStmtKind::Health(health) => {
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
            UpstreamStmtKind::Retry { count, conditions } => {
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
            UpstreamStmtKind::RetryNonIdempotent => self.keyword(Rule::kw_retry_non_idempotent),
            UpstreamStmtKind::Tls(options) => {
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
            UpstreamStmtKind::MaxConnections(n) => {
                self.keyword(Rule::kw_max_connections);
                self.number(n);
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

    fn agent_stmt(&mut self, stmt: &AgentStmt) {
        match &stmt.kind {
            AgentStmtKind::Socket(s) => {
                self.keyword(Rule::kw_socket);
                self.string(s);
            }
            AgentStmtKind::Timeout(n) => {
                self.keyword(Rule::kw_timeout);
                self.number(n);
            }
            AgentStmtKind::OnFailure(mode) => {
                self.keyword(Rule::kw_on_failure);
                self.word(match mode {
                    FailureMode::Allow => "allow",
                    FailureMode::Deny => "deny",
                });
            }
            AgentStmtKind::Body(n) => {
                self.keyword(Rule::kw_body);
                self.number(n);
            }
        }
    }

    fn route_stmt(&mut self, stmt: &RouteStmt) {
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

    fn modifier(&mut self, modifier: &Modifier) {
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
            ModifierKind::Compress(options) => {
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

    fn test_stmt(&mut self, stmt: &TestStmt) {
        match stmt {
            TestStmt::Request(r) => {
                self.keyword(Rule::kw_request);
                self.ident(&r.method);
                self.string(&r.url);
                for option in &r.options {
                    match option {
                        RequestOption::Header(k, v, _) => {
                            self.keyword(Rule::kw_header);
                            self.string(k);
                            self.string(v);
                        }
                        RequestOption::From(ip, _) => {
                            self.keyword(Rule::kw_from);
                            self.string(ip);
                        }
                    }
                }
            }
            TestStmt::Expect(expectation, _) => {
                self.keyword(Rule::kw_expect);
                match expectation {
                    Expectation::Route(n) => {
                        self.keyword(Rule::kw_route);
                        self.ident(n);
                    }
                    Expectation::Upstream(n) => {
                        self.keyword(Rule::kw_upstream);
                        self.ident(n);
                    }
                    Expectation::Server(addr) => {
                        self.keyword(Rule::kw_server);
                        self.string(addr);
                    }
                    Expectation::Status { status, location } => {
                        self.keyword(Rule::kw_status);
                        self.number(status);
                        if let Some(l) = location {
                            self.keyword(Rule::kw_location);
                            self.string(l);
                        }
                    }
                    Expectation::NoRoute => self.keyword(Rule::kw_no_route),
                }
            }
        }
    }
}

/// Items printed as blocks get a blank line before and after them.
fn is_block_item(item: &Item) -> bool {
    match &item.kind {
        ItemKind::Upstream(_)
        | ItemKind::Agent(_)
        | ItemKind::Policy(_)
        | ItemKind::Route(_)
        | ItemKind::Test(_)
        | ItemKind::Limits(_) => true,
        ItemKind::Listen(listen) => listen.options.iter().any(|o| matches!(o, ListenOption::Tls(..))),
        ItemKind::Import(_) | ItemKind::Admin(_) => false,
    }
}

fn tls_span(stmt: &TlsStmt) -> Span {
    match stmt {
        TlsStmt::Cert(_, s) | TlsStmt::Key(_, s) => *s,
        TlsStmt::Sni { span, .. } => *span,
    }
}

fn test_span(stmt: &TestStmt) -> Span {
    match stmt {
        TestStmt::Request(r) => r.span,
        TestStmt::Expect(_, s) => *s,
    }
}

/// A string literal in canonical form: raw strings as written, others
/// with the escapes the grammar knows.
pub fn quote(s: &Str) -> String {
    if s.raw {
        return format!("r\"{}\"", s.value);
    }
    let mut out = String::with_capacity(s.value.len() + 2);
    out.push('"');
    for c in s.value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
