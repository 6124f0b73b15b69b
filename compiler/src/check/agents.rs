//! Agents: external deciders reached through a Unix socket, their
//! settings, ranges and defaults (LANGUAGE.md §6).

use std::collections::HashMap;

use zbin::model;

use crate::ast::{AgentStmtKind, FailureMode, ItemKind, Number};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::{resolve_relative, Module};
use crate::source::Span;

use super::Checker;

/// Agent defaults: a short timeout, fail closed.
const AGENT_TIMEOUT_MS: u64 = 100;

impl Checker<'_> {
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

    /// Checks an agent's statements, each at most once, and lowers it when
    /// none had an error; a `socket` is required.
    fn agent(&mut self, module: &Module, agent: &crate::ast::Agent) -> Option<model::Agent> {
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
                    if let Some(bytes) = self.agent_body(size) {
                        out.body = bytes;
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

    /// `body SIZE`: how much of a request body the agent sees. That body is
    /// held back from the upstream until the agent answers, in the buffer
    /// that also replays it on a retry: at most 64 KiB.
    fn agent_body(&mut self, size: &Number) -> Option<u64> {
        let bytes = self.size(size, "body")?;
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
            return None;
        }
        Some(bytes)
    }
}
