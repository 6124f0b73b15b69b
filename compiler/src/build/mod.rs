//! Building: from a checked policy to its route table (`layout`) and the
//! automata that match it. The analysis proves things about what is built
//! here, and emit writes it; neither imports the other. The host and path
//! automata are anchored multi-pattern dense DFAs (MatchKind::All, no
//! Unicode) whose end-of-input state names every pattern that matches the
//! whole input; header-value regexes get one small DFA each.

pub mod layout;

use regex_automata::dfa::dense::{self, DFA};
use regex_automata::dfa::StartKind;
use regex_automata::nfa::thompson;
use regex_automata::MatchKind;

pub use layout::{layout, HostPattern, Layout, PathPattern};

/// The one configuration every route automaton is built with: anchored,
/// every matching pattern reported (MatchKind::All), the policy's regex
/// dialect; `reverse` reads input from its end (the host automaton).
pub fn builder(reverse: bool) -> dense::Builder {
    let mut builder = dense::Builder::new();
    builder
        .syntax(zbin::regex_syntax_config())
        .thompson(thompson::Config::new().utf8(false).reverse(reverse))
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .match_kind(MatchKind::All)
                .minimize(false),
        );
    builder
}

/// The built automata of one policy.
#[derive(Debug)]
pub struct Automata {
    pub hosts: Option<DFA<Vec<u32>>>,
    pub paths: Option<DFA<Vec<u32>>>,
    pub values: Vec<DFA<Vec<u32>>>,
}

/// The largest the host or the path automaton may be, in bytes: each
/// regex is capped on its own (`check::regex`), but patterns can multiply
/// when determinized together (`.*a.{12}` beside `.*b.{12}`).
pub const AUTOMATON_SIZE_CAP: usize = 128 << 20;

/// Why the automata of a policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The `automaton` ("host" or "path") would be larger than `cap`.
    TooLarge { automaton: &'static str, cap: usize },
    /// Anything else: an internal error, since every pattern was checked.
    Other(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::TooLarge { automaton, cap } if cap >> 20 > 0 => {
                write!(f, "the {automaton} automaton would be larger than {} MiB", cap >> 20)
            }
            BuildError::TooLarge { automaton, cap } => {
                write!(f, "the {automaton} automaton would be larger than {} KiB", cap >> 10)
            }
            BuildError::Other(message) => f.write_str(message),
        }
    }
}

fn build(patterns: &[String], reverse: bool, automaton: &'static str, cap: usize) -> Result<DFA<Vec<u32>>, BuildError> {
    let mut builder = builder(reverse);
    builder
        .thompson(
            regex_automata::nfa::thompson::Config::new()
                .utf8(false)
                .reverse(reverse)
                .nfa_size_limit(Some(cap)),
        )
        .configure(
            DFA::config()
                .dfa_size_limit(Some(cap))
                .determinize_size_limit(Some(2 * cap)),
        );
    builder.build_many(patterns).map_err(|e| {
        let nfa_too_large = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<regex_automata::nfa::thompson::BuildError>())
            .is_some_and(|n| n.size_limit().is_some());
        if e.is_size_limit_exceeded() || nfa_too_large {
            BuildError::TooLarge { automaton, cap }
        } else {
            BuildError::Other(e.to_string())
        }
    })
}

/// Builds every automaton the layout needs.
pub fn build_automata(layout: &Layout) -> Result<Automata, BuildError> {
    build_automata_within(layout, AUTOMATON_SIZE_CAP)
}

/// As `build_automata`, with `cap` for the size of each automaton.
pub fn build_automata_within(layout: &Layout, cap: usize) -> Result<Automata, BuildError> {
    let hosts: Vec<String> = layout.host_patterns.iter().map(|p| p.regex()).collect();
    let paths: Vec<String> = layout.path_patterns.iter().map(|p| p.regex()).collect();
    Ok(Automata {
        // Hosts differ at their ends (`*.example.org`, `[a-z]+\.api\.net`):
        // read backwards, those ends are literal prefixes and the automaton
        // stays a trie; forwards, every pattern's leading loop would be
        // live at once during determinization.
        hosts: (!hosts.is_empty())
            .then(|| build(&hosts, true, "host", cap))
            .transpose()?,
        paths: (!paths.is_empty())
            .then(|| build(&paths, false, "path", cap))
            .transpose()?,
        values: layout
            .value_regexes
            .iter()
            .map(|r| build(std::slice::from_ref(r), false, "header value", cap))
            .collect::<Result<_, _>>()?,
    })
}

/// The number of states reachable from the anchored start state.
pub fn state_count(dfa: &DFA<Vec<u32>>) -> usize {
    use regex_automata::dfa::Automaton as _;
    let Ok(start) =
        dfa.start_state(&regex_automata::util::start::Config::new().anchored(regex_automata::Anchored::Yes))
    else {
        return 0;
    };
    let classes = dfa.byte_classes();
    let representatives: Vec<u8> = classes.representatives(..).filter_map(|u| u.as_u8()).collect();
    let mut seen = std::collections::HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(state) = stack.pop() {
        for &byte in &representatives {
            let next = dfa.next_state(state, byte);
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_of(routes: usize) -> Layout {
        let mut text = String::from("listen \"127.0.0.1:8080\"\n");
        for i in 0..routes {
            let letter = char::from(b'a' + i as u8);
            text.push_str(&format!(
                "route r{i} {{\n    priority {i}\n    path regex r\"/(?s:.)*{letter}[^/]{{6}}\"\n    respond 200\n}}\n"
            ));
        }
        let (program, _) = crate::loader::load_source(std::path::Path::new("t.zen"), &text);
        let (checked, diagnostics) = crate::check::check(&program);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        layout(&checked.expect("checks").policy)
    }

    #[test]
    fn regexes_that_multiply_together_are_refused_at_the_cap() {
        let layout = layout_of(8);
        // Each regex is small, and so are two of them together...
        assert!(build_automata_within(&layout_of(2), 256 << 10).is_ok());
        // ...but eight unanchored ones determinize past the cap.
        assert_eq!(
            build_automata_within(&layout, 256 << 10).map(|_| ()),
            Err(BuildError::TooLarge {
                automaton: "path",
                cap: 256 << 10
            })
        );
        assert_eq!(
            BuildError::TooLarge {
                automaton: "path",
                cap: 256 << 10
            }
            .to_string(),
            "the path automaton would be larger than 256 KiB"
        );
    }
}
