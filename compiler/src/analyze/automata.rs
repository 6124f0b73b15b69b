//! Deciding questions about patterns on their automata: does some string
//! match both (intersection), does every string of one match the other
//! (containment), and which string shows it. Each is a breadth-first
//! search over pairs of DFA states, so the answer is exact and the witness
//! is a shortest one, built from readable bytes where possible. A search
//! may be confined to a domain (the strings a normalized request can
//! have): a third automaton walked alongside, which must accept too.

use std::collections::{HashMap, VecDeque};

use regex_automata::dfa::dense::DFA;
use regex_automata::dfa::Automaton;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::Anchored;

use crate::build::builder;

/// How many state pairs a search may visit before it gives up. Patterns
/// are capped in size, so real policies stay far below this.
const SEARCH_LIMIT: usize = 2_000_000;

/// Bytes in the order witnesses prefer them: readable first.
fn preferred_bytes() -> impl Iterator<Item = u8> {
    let readable = (b'a'..=b'z')
        .chain(b'0'..=b'9')
        .chain(*b"/-._~")
        .chain(b'A'..=b'Z')
        .chain(*b"!$&'()*+,;=:@%");
    let rest = (0u8..=255).filter(|b| !(b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(b)));
    readable.chain(rest)
}

/// An anchored single-pattern DFA, for analysis.
#[derive(Debug, Clone)]
pub struct PatternDfa {
    dfa: DFA<Vec<u32>>,
    start: StateID,
}

impl PatternDfa {
    /// Builds the DFA of a regex in the policy dialect. The checker has
    /// already compiled every user regex under the cap, so failures here
    /// are internal errors.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let dfa = builder(false).build(pattern).map_err(|e| e.to_string())?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| e.to_string())?;
        Ok(PatternDfa { dfa, start })
    }

    fn accepts_at_end(&self, state: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
    }

    fn is_dead(&self, state: StateID) -> bool {
        self.dfa.is_dead_state(state) || self.dfa.is_quit_state(state)
    }

    fn step(&self, state: StateID, byte: u8) -> Option<StateID> {
        let next = self.dfa.next_state(state, byte);
        (!self.is_dead(next)).then_some(next)
    }

    /// Whether the whole of `input` matches.
    pub fn accepts(&self, input: &[u8]) -> bool {
        let mut state = self.start;
        for &byte in input {
            match self.step(state, byte) {
                Some(next) => state = next,
                None => return false,
            }
        }
        self.accepts_at_end(state)
    }

    /// A shortest string that matches, if any does.
    pub fn witness(&self) -> Option<Vec<u8>> {
        self.witness_within(None)
    }

    /// A shortest string of `domain` that matches, if any does.
    pub fn witness_within(&self, domain: Option<&PatternDfa>) -> Option<Vec<u8>> {
        search(self, None, Mode::Intersect, domain).found()
    }

    /// The literal every match starts with, as far as it is forced.
    pub fn forced_prefix(&self) -> Vec<u8> {
        let mut prefix = Vec::new();
        let mut state = self.start;
        while prefix.len() < 256 && !self.accepts_at_end(state) {
            let mut only: Option<(u8, StateID)> = None;
            let mut several = false;
            for byte in 0u8..=255 {
                if let Some(next) = self.step(state, byte) {
                    if only.is_some() {
                        several = true;
                        break;
                    }
                    only = Some((byte, next));
                }
            }
            match only {
                Some((byte, next)) if !several => {
                    prefix.push(byte);
                    state = next;
                }
                _ => break,
            }
        }
        prefix
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A string both accept.
    Intersect,
    /// A string the first accepts and the second does not.
    Difference,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Found(Vec<u8>),
    Empty,
    /// The search visited too many states to decide.
    Undecided,
}

impl Search {
    pub fn found(self) -> Option<Vec<u8>> {
        match self {
            Search::Found(w) => Some(w),
            _ => None,
        }
    }
}

/// A string of `domain` (anything when `None`) matched by both `a` and
/// `b`, if there is one.
pub fn intersection(a: &PatternDfa, b: &PatternDfa, domain: Option<&PatternDfa>) -> Search {
    search(a, Some(b), Mode::Intersect, domain)
}

/// A string of `domain` matched by `a` and not by `b`, if there is one:
/// `Empty` means `b` matches everything of `domain` that `a` matches.
pub fn difference(a: &PatternDfa, b: &PatternDfa, domain: Option<&PatternDfa>) -> Search {
    search(a, Some(b), Mode::Difference, domain)
}

/// Where one step of the search is: a state of `a`, of `b` (`None` once
/// it has died: in `Difference` mode a dead `b` rejects), of the domain.
type Triple = (StateID, Option<StateID>, Option<StateID>);

/// Breadth-first search over the joint states of `a`, `b` and `domain`.
fn search(a: &PatternDfa, b: Option<&PatternDfa>, mode: Mode, domain: Option<&PatternDfa>) -> Search {
    // Representative bytes of the joint alphabet, readable ones first.
    let mut seen_classes = HashMap::new();
    let mut alphabet = Vec::new();
    for byte in preferred_bytes() {
        let class = (
            a.dfa.byte_classes().get(byte),
            b.map(|b| b.dfa.byte_classes().get(byte)),
            domain.map(|d| d.dfa.byte_classes().get(byte)),
        );
        if seen_classes.insert(class, byte).is_none() {
            alphabet.push(byte);
        }
    }
    let accepting = |(sa, sb, sd): Triple| -> bool {
        let a_accepts = a.accepts_at_end(sa);
        let b_accepts = match (b, sb) {
            (Some(b), Some(sb)) => b.accepts_at_end(sb),
            (None, _) => true,
            (Some(_), None) => false,
        };
        let in_domain = match (domain, sd) {
            (Some(d), Some(sd)) => d.accepts_at_end(sd),
            _ => true,
        };
        in_domain
            && match mode {
                Mode::Intersect => a_accepts && b_accepts,
                Mode::Difference => a_accepts && !b_accepts,
            }
    };
    let start: Triple = (a.start, b.map(|b| b.start), domain.map(|d| d.start));
    let mut parents: HashMap<Triple, Option<(Triple, u8)>> = HashMap::new();
    parents.insert(start, None);
    let mut queue = VecDeque::from([start]);
    while let Some(triple) = queue.pop_front() {
        if accepting(triple) {
            let mut witness = Vec::new();
            let mut cursor = triple;
            while let Some(Some((parent, byte))) = parents.get(&cursor) {
                witness.push(*byte);
                cursor = *parent;
            }
            witness.reverse();
            return Search::Found(witness);
        }
        if parents.len() > SEARCH_LIMIT {
            return Search::Undecided;
        }
        let (sa, sb, sd) = triple;
        for &byte in &alphabet {
            let Some(na) = a.step(sa, byte) else { continue };
            let nd = match (domain, sd) {
                (Some(d), Some(sd)) => match d.step(sd, byte) {
                    Some(next) => Some(next),
                    None => continue, // no request goes this way
                },
                _ => None,
            };
            let nb = match (b, sb) {
                (Some(b), Some(sb)) => b.step(sb, byte),
                _ => None,
            };
            if mode == Mode::Intersect && b.is_some() && nb.is_none() {
                continue;
            }
            let next = (na, nb, nd);
            if let std::collections::hash_map::Entry::Vacant(slot) = parents.entry(next) {
                slot.insert(Some((triple, byte)));
                queue.push_back(next);
            }
        }
    }
    Search::Empty
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dfa(p: &str) -> PatternDfa {
        PatternDfa::new(p).unwrap()
    }

    #[test]
    fn intersection_finds_a_shared_string() {
        let w = intersection(&dfa("/blog/[a-z]+"), &dfa("/blog/a[0-9]*"), None)
            .found()
            .unwrap();
        assert_eq!(w, b"/blog/a");
        assert_eq!(intersection(&dfa("/a/[0-9]+"), &dfa("/a/[a-z]+"), None), Search::Empty);
    }

    #[test]
    fn difference_decides_containment() {
        assert_eq!(difference(&dfa("/api/[0-9]+"), &dfa("/api/.*"), None), Search::Empty);
        let w = difference(&dfa("/api/.*"), &dfa("/api/[0-9]+"), None).found().unwrap();
        assert!(!dfa("/api/[0-9]+").accepts(&w) && dfa("/api/.*").accepts(&w));
    }

    #[test]
    fn forced_prefixes() {
        assert_eq!(dfa("/users/[0-9]+").forced_prefix(), b"/users/");
        assert_eq!(dfa("(?i)abc").forced_prefix(), b"");
    }

    #[test]
    fn a_domain_confines_every_answer() {
        let paths = dfa(&zbin::normalize::normalized_path_language());
        // They share only the empty path, which no request has.
        let (a, b) = (dfa("(/[a-z]+)*"), dfa("(/[0-9]+)*"));
        assert_eq!(intersection(&a, &b, None), Search::Found(Vec::new()));
        assert_eq!(intersection(&a, &b, Some(&paths)), Search::Empty);
        // `/` shadows `.*` over requests, not over every string.
        let (any, root) = (dfa("(?s:.)*"), dfa("/(?s:.)*"));
        assert!(matches!(difference(&any, &root, None), Search::Found(_)));
        assert_eq!(difference(&any, &root, Some(&paths)), Search::Empty);
        assert_eq!(dfa("[a-z]+").witness_within(Some(&paths)), None);
        assert_eq!(dfa("/a//?b").witness_within(Some(&paths)), Some(b"/a/b".to_vec()));
    }
}
