//! Top-level settings: listeners and their TLS, `admin`, and `limits`
//! (LANGUAGE.md §3), which routes and policies may also set.

use std::collections::HashMap;

use zbin::model;

use crate::ast::{ItemKind, LimitKind, LimitStmt, Listen, ListenOption, TlsStmt};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::{resolve_relative, Module};
use crate::source::Span;

use super::values::Kind;
use super::Checker;

impl Checker<'_> {
    /// The top-level items: every `listen`, and `admin` and `limits` at
    /// most once each. A policy needs at least one listener.
    pub(super) fn globals(&mut self, policy: &mut model::Policy) {
        let mut admin_span: Option<Span> = None;
        let mut limits_span: Option<Span> = None;
        let mut listen_spans: HashMap<String, Span> = HashMap::new();
        let mut any_listen = false;
        for (module, item) in self.items() {
            match &item.kind {
                ItemKind::Listen(listen) => {
                    any_listen = true;
                    if let Some(listener) = self.listener(listen, module, &mut listen_spans) {
                        policy.listeners.push(listener);
                    }
                }
                ItemKind::Admin(addr) => {
                    if let Some(first) = admin_span {
                        self.duplicate_setting("admin", item.span, first);
                    }
                    admin_span = Some(item.span);
                    policy.admin = self.listen_addr(addr, "127.0.0.1");
                }
                ItemKind::Limits(stmts) => {
                    if let Some(first) = limits_span {
                        self.duplicate_setting("limits", item.span, first);
                    }
                    limits_span = Some(item.span);
                    policy.limits = self.limits(stmts, true);
                }
                _ => {}
            }
        }
        if !any_listen {
            self.no_listener();
        }
    }

    /// A `listen` item: its options, and an address no other listener
    /// has; `listen_spans` holds where each address was taken.
    fn listener(
        &mut self,
        listen: &Listen,
        module: &Module,
        listen_spans: &mut HashMap<String, Span>,
    ) -> Option<model::Listener> {
        let addr = self.listen_addr(&listen.addr, "0.0.0.0");
        let (tls, http2) = self.listen_options(&listen.options, module);
        let addr = addr?;
        if let Some(first) = listen_spans.get(&addr) {
            let first = *first;
            self.report(
                Diagnostic::new(
                    Code::DuplicateSetting,
                    format!("two listeners on `{addr}`"),
                    listen.addr.span,
                    "this address is already taken",
                )
                .with_label(first, "first listener here"),
            );
            return None;
        }
        listen_spans.insert(addr.clone(), listen.addr.span);
        Some(model::Listener { addr, tls, http2 })
    }

    /// A listener's `tls` block and `http2`, each at most once: its TLS
    /// settings, and whether it speaks HTTP/2.
    fn listen_options(&mut self, options: &[ListenOption], module: &Module) -> (Option<model::Tls>, bool) {
        let mut tls = None;
        let mut http2: Option<Span> = None;
        let mut tls_span: Option<Span> = None;
        for option in options {
            match option {
                ListenOption::Http2(span) => {
                    if let Some(first) = http2 {
                        self.duplicate_setting("http2", *span, first);
                    }
                    http2 = Some(*span);
                }
                ListenOption::Tls(stmts, span) => {
                    if let Some(first) = tls_span {
                        self.duplicate_setting("tls", *span, first);
                        continue;
                    }
                    tls_span = Some(*span);
                    tls = self.tls(stmts, *span, module);
                }
            }
        }
        (tls, http2.is_some())
    }

    /// Reports a policy without `listen`, at the first line of the root
    /// file's first item: the policy starts there.
    fn no_listener(&mut self) {
        let Some(root) = self.program.module(self.program.root) else {
            return;
        };
        let span = root.ast.items.first().map_or(self.program.root_span(), |item| {
            let text = &self.program.sources.get(item.span.file).text[item.span.start..item.span.end];
            let first_line = text.find('\n').unwrap_or(text.len());
            Span::new(item.span.file, item.span.start, item.span.start + first_line)
        });
        self.report(
            Diagnostic::new(
                Code::NoListener,
                "the policy has no `listen`",
                span,
                "a policy needs at least one listener",
            )
            .with_help("add a listener, such as `listen \"127.0.0.1:8080\"`"),
        );
    }

    fn tls(&mut self, stmts: &[TlsStmt], span: Span, module: &Module) -> Option<model::Tls> {
        let (cert, key) = self.cert_and_key(stmts, span, module, "tls")?;
        let mut sni = Vec::new();
        for stmt in stmts {
            if let TlsStmt::Sni { host, stmts, span } = stmt {
                let name = self.host_name(host);
                if let (Some(name), Some((cert, key))) = (name, self.cert_and_key(stmts, *span, module, "sni")) {
                    let host = match name {
                        model::HostName::Exact(h) => h,
                        model::HostName::Wildcard(suffix) => format!("*{suffix}"),
                    };
                    sni.push(model::SniCert { host, cert, key });
                }
            }
        }
        Some(model::Tls { cert, key, sni })
    }

    /// The one `cert` and one `key` of a `tls` or `sni` block.
    fn cert_and_key(
        &mut self,
        stmts: &[TlsStmt],
        span: Span,
        module: &Module,
        block: &str,
    ) -> Option<(String, String)> {
        let mut cert: Option<(String, Span)> = None;
        let mut key: Option<(String, Span)> = None;
        for stmt in stmts {
            let (slot, value, at, word) = match stmt {
                TlsStmt::Cert(value, at) => (&mut cert, value, *at, "cert"),
                TlsStmt::Key(value, at) => (&mut key, value, *at, "key"),
                TlsStmt::Sni { .. } => continue,
            };
            if let Some((_, first)) = slot {
                let first = *first;
                self.duplicate_setting(word, at, first);
            } else {
                *slot = Some((resolve_relative(module.rel_dir.as_deref(), &value.value), at));
            }
        }
        for (missing, word) in [(cert.is_none(), "cert"), (key.is_none(), "key")] {
            if missing {
                self.report(
                    Diagnostic::new(
                        Code::MissingSetting,
                        format!("`{block}` block has no `{word}`"),
                        span,
                        format!("needs a `{word}`"),
                    )
                    .with_help("write both, such as `cert \"site.pem\" key \"site.key\"`"),
                );
            }
        }
        Some((cert?.0, key?.0))
    }

    /// A limits block: the top-level one when `global`, else a route's or
    /// a policy's.
    pub(crate) fn limits(&mut self, stmts: &[LimitStmt], global: bool) -> model::Limits {
        let mut limits = model::Limits::default();
        let mut seen: HashMap<LimitKind, Span> = HashMap::new();
        for stmt in stmts {
            if let Some(first) = seen.insert(stmt.kind, stmt.span) {
                self.duplicate_setting(stmt.kind.keyword(), stmt.span, first);
                continue;
            }
            if stmt.kind.global_only() && !global {
                self.report(
                    Diagnostic::new(
                        Code::GlobalOnlyLimit,
                        format!("`{}` can only be set in the top-level `limits`", stmt.kind.keyword()),
                        stmt.span,
                        "set for a route here",
                    )
                    .with_help("the whole request head arrives before a route is chosen; move it to the top-level `limits { ... }`"),
                );
                continue;
            }
            let value = &stmt.value;
            let what = stmt.kind.keyword();
            match stmt.kind {
                LimitKind::MaxHeaderCount => {
                    limits.max_header_count = self
                        .parser_bound(value, what, model::Limits::PARSER_MAX_HEADER_COUNT, Kind::Integer)
                        .map(|v| v as u32);
                }
                LimitKind::MaxHeaderSize => {
                    limits.max_header_size =
                        self.parser_bound(value, what, model::Limits::PARSER_MAX_HEAD_SIZE, Kind::Size)
                }
                LimitKind::MaxBodySize => limits.max_body_size = self.size(value, what),
                LimitKind::RequestTimeout => limits.request_timeout = self.duration(value, what),
                LimitKind::IdleTimeout => limits.idle_timeout = self.duration(value, what),
                LimitKind::HeaderTimeout => limits.header_timeout = self.duration(value, what),
                LimitKind::MaxUriSize => {
                    limits.max_uri_size = self.parser_bound(value, what, model::Limits::PARSER_MAX_URI_SIZE, Kind::Size)
                }
                LimitKind::MaxResponseHeaderSize => {
                    limits.max_response_header_size =
                        self.parser_bound(value, what, model::Limits::PARSER_MAX_HEAD_SIZE, Kind::Size)
                }
            }
        }
        limits
    }
}
