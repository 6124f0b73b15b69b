//! Policies: named lists of modifiers, expanded where they are `use`d.
//! Each is checked once, used or not; a `use` that closes a cycle is
//! reported with the whole chain.

use std::collections::HashMap;

use crate::ast::{Ident, ItemKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::Module;

use super::modifiers::Applied;
use super::{Checker, NameKind};

/// The state of a policy's expansion, for cycle detection.
#[derive(Debug, Clone)]
pub(super) enum PolicyState {
    InProgress,
    Done(Vec<Applied>),
}

/// The policies expanded so far, or being expanded, by name.
pub(super) type Policies = HashMap<String, PolicyState>;

impl<'p> Checker<'p> {
    /// Expands every policy once, so that those no route uses are checked
    /// too.
    pub(super) fn policies(&mut self) -> Policies {
        let mut policies = Policies::new();
        for (module, item) in self.items() {
            if let ItemKind::Policy(policy) = &item.kind {
                if !policies.contains_key(&policy.name.node) {
                    self.expand_policy(&policy.name.node, module, &mut policies);
                }
            }
        }
        policies
    }

    /// The modifiers of policy `name`, expanded; `None` when it is unknown
    /// or part of a cycle (both reported).
    fn expand_policy(&mut self, name: &str, module: &'p Module, policies: &mut Policies) -> Option<Vec<Applied>> {
        match policies.get(name) {
            Some(PolicyState::Done(applied)) => return Some(applied.clone()),
            Some(PolicyState::InProgress) => return None,
            None => {}
        }
        let (policy_module, policy) = self.items().find_map(|(m, item)| match &item.kind {
            ItemKind::Policy(p) if p.name.node == name => Some((m, p)),
            _ => None,
        })?;
        let _ = module;
        policies.insert(name.to_string(), PolicyState::InProgress);
        self.policy_stack.push(name.to_string());
        let mut applied = Vec::new();
        for modifier in &policy.modifiers {
            self.modifier(modifier, policy_module, policies, &mut applied);
        }
        self.policy_stack.pop();
        policies.insert(name.to_string(), PolicyState::Done(applied.clone()));
        Some(applied)
    }

    /// `use NAME`: appends the policy's modifiers, each marked as brought
    /// in by this `use`; a `use` that closes a cycle is reported instead.
    pub(super) fn use_policy(
        &mut self,
        name: &Ident,
        module: &'p Module,
        policies: &mut Policies,
        out: &mut Vec<Applied>,
    ) {
        self.resolve(NameKind::Policy, name);
        if matches!(policies.get(&name.node), Some(PolicyState::InProgress)) {
            let start = self.policy_stack.iter().position(|p| *p == name.node).unwrap_or(0);
            let chain: Vec<String> = self.policy_stack[start..]
                .iter()
                .chain(std::iter::once(&name.node))
                .map(|p| format!("`{p}`"))
                .collect();
            self.report(
                Diagnostic::new(
                    Code::PolicyCycle,
                    format!("policy cycle: {}", chain.join(" uses ")),
                    name.span,
                    "this `use` closes a cycle",
                )
                .with_help("a policy cannot include itself; move the shared modifiers into a third policy"),
            );
            return;
        }
        if let Some(applied) = self.expand_policy(&name.node, module, policies) {
            out.extend(applied.into_iter().map(|a| Applied {
                via: Some(name.span),
                ..a
            }));
        }
    }
}
