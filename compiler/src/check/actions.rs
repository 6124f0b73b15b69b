//! A route's one action (LANGUAGE.md §4.3): where it sends the request,
//! or what it answers itself.

use std::collections::HashMap;

use zbin::ids::UpstreamId;
use zbin::model;

use crate::ast::{Action, ActionKind, Ident, Number, StaticOption, Str};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::{resolve_relative, Module};
use crate::source::Span;

use super::{Checker, NameKind};

impl<'p> Checker<'p> {
    /// Lowers a route's action; `captures` are the names the route's `path
    /// regex` captures, for a `redirect` template.
    pub(super) fn action(&mut self, action: &'p Action, module: &Module, captures: &[String]) -> Option<model::Action> {
        match &action.kind {
            ActionKind::Proxy(name) => {
                let index = self.resolve(NameKind::Upstream, name)?;
                Some(model::Action::Proxy(vec![(UpstreamId::new(index), 100)]))
            }
            ActionKind::Split(targets) => self.split(targets, action.span),
            ActionKind::Static { root, options } => self.static_files(root, options, module),
            ActionKind::Redirect { status, location } => self.redirect(status, location, captures),
            ActionKind::Respond {
                status,
                body,
                content_type,
            } => {
                // 1xx are interim answers: a client given one as the final answer
                // waits for another that never comes.
                let status = self.status(status, "respond status", 200..=599)?;
                Some(model::Action::Respond {
                    status,
                    body: body.as_ref().map(|b| b.value.clone()).unwrap_or_default(),
                    content_type: content_type.as_ref().map(|c| c.value.clone()),
                })
            }
        }
    }

    /// `proxy split`: each upstream once, with shares that add up to 100%.
    fn split(&mut self, targets: &[(Ident, Number)], span: Span) -> Option<model::Action> {
        let mut out: Vec<(UpstreamId, u8)> = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut total: u64 = 0;
        let mut complete = true;
        for (name, share) in targets {
            if let Some(first) = seen.insert(name.node.as_str(), name.span) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateSetting,
                        format!("upstream `{}` appears twice in this split", name.node),
                        name.span,
                        "listed again here",
                    )
                    .with_label(first, "first listed here")
                    .with_help("give it one share that adds both up"),
                );
                complete = false;
                continue;
            }
            let index = self.resolve(NameKind::Upstream, name);
            let share = self.percent(share);
            match (index, share) {
                (Some(index), Some(share)) => {
                    total += u64::from(share);
                    out.push((UpstreamId::new(index), share));
                }
                _ => complete = false,
            }
        }
        if complete && total != 100 {
            let shares: Vec<String> = out.iter().map(|(_, s)| format!("{s}%")).collect();
            self.report(
                Diagnostic::new(
                    Code::SplitSum,
                    format!("split shares add up to {total}%, not 100%"),
                    span,
                    format!("{} = {total}%", shares.join(" + ")),
                )
                .with_help("shares are percentages of the traffic and must add up to 100%"),
            );
            return None;
        }
        complete.then_some(model::Action::Proxy(out))
    }

    /// `static`: a root directory, relative to the policy's file, and its
    /// `index` and `fallback` files inside it.
    fn static_files(&mut self, root: &Str, options: &[StaticOption], module: &Module) -> Option<model::Action> {
        let mut index: Option<(String, Span)> = None;
        let mut fallback: Option<(String, Span)> = None;
        let mut precompressed: Option<Span> = None;
        for option in options {
            let (slot, value, at, word) = match option {
                StaticOption::Index(v, at) => (&mut index, v, *at, "index"),
                StaticOption::Fallback(v, at) => (&mut fallback, v, *at, "fallback"),
                StaticOption::Precompressed(at) => {
                    match precompressed {
                        Some(first) => self.duplicate_setting("precompressed", *at, first),
                        None => precompressed = Some(*at),
                    }
                    continue;
                }
            };
            if let Some((_, first)) = slot {
                let first = *first;
                self.duplicate_setting(word, at, first);
                continue;
            }
            if self.inside_root(value, word) {
                *slot = Some((value.value.clone(), at));
            }
        }
        if root.value.is_empty() {
            self.report(Diagnostic::new(
                Code::InvalidPath,
                "empty static root",
                root.span,
                "needs a directory",
            ));
            return None;
        }
        Some(model::Action::Static {
            root: resolve_relative(module.rel_dir.as_deref(), &root.value),
            index: index.map(|(v, _)| v),
            fallback: fallback.map(|(v, _)| v),
            precompressed: precompressed.is_some(),
        })
    }

    /// Whether the `word` (`index` or `fallback`) file names a file inside
    /// the static root, so that it cannot serve a file outside it.
    fn inside_root(&mut self, file: &Str, word: &str) -> bool {
        let outside = file.value.is_empty() || file.value.split('/').any(|s| s == "..") || file.value.starts_with('/');
        if outside {
            self.report(
                Diagnostic::new(
                    Code::InvalidPath,
                    format!("`{word}` file `{}` is not inside the root", file.value),
                    file.span,
                    "must be a relative path inside the static root",
                )
                .with_help("name a file relative to the root, such as `index.html`"),
            );
        }
        !outside
    }

    /// `redirect`: a redirect status, and a location template that may use
    /// the route's captures.
    fn redirect(&mut self, status: &Number, location: &Str, captures: &[String]) -> Option<model::Action> {
        let status_value = self.integer(status, "redirect status", 0..=u64::MAX);
        let status = match status_value {
            Some(s @ (301 | 302 | 307 | 308)) => Some(s as u16),
            Some(_) => {
                self.report(
                    Diagnostic::new(
                        Code::OutOfRange,
                        format!("redirect status `{}` is not a redirect", status.text),
                        status.span,
                        "expected 301, 302, 307 or 308",
                    )
                    .with_help(
                        "301 and 308 are permanent, 302 and 307 temporary; 307 and 308 keep the method and body",
                    ),
                );
                None
            }
            None => None,
        };
        let template = self.parse_template(location);
        let template = template.and_then(|t| self.resolve_template(&t, captures, "redirect"));
        Some(model::Action::Redirect {
            status: status?,
            location: template?,
        })
    }
}
