//! `zenc test`: every `test` block runs against the compiled artifact
//! (loaded and verified like the runtime loads it), not the syntax tree.

use crate::check::{Expect, TestCase};
use crate::explain::{evaluate, Outcome};

/// One test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub title: String,
    pub outcome: Outcome,
    /// What did not hold, in words; empty when the test passed.
    pub failures: Vec<String>,
}

/// All results, and which routes no test reached.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub results: Vec<TestResult>,
    pub routes: usize,
    /// Names of the routes that no test's request was routed to.
    pub unreached: Vec<String>,
}

impl TestReport {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.failures.is_empty()).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Percentage of routes some test reaches.
    pub fn coverage(&self) -> f64 {
        if self.routes == 0 {
            return 100.0;
        }
        100.0 * (self.routes - self.unreached.len()) as f64 / self.routes as f64
    }
}

/// Runs `cases` against `program`.
pub fn run(program: &zbin::Program<'_>, cases: &[TestCase]) -> TestReport {
    let policy = program.policy();
    let mut reached = vec![false; policy.routes.len()];
    let mut results = Vec::new();
    for case in cases {
        let outcome = evaluate(program, &case.request);
        if let Some(route) = outcome.route_index {
            reached[route] = true;
        }
        let mut failures = Vec::new();
        for (expect, _) in &case.expectations {
            if let Some(failure) = check(expect, &outcome, policy) {
                failures.push(failure);
            }
        }
        results.push(TestResult {
            title: case.title.clone(),
            outcome,
            failures,
        });
    }
    let unreached = policy
        .routes
        .iter()
        .zip(&reached)
        .filter(|(_, reached)| !**reached)
        .map(|(route, _)| route.name.clone())
        .collect();
    TestReport {
        results,
        routes: policy.routes.len(),
        unreached,
    }
}

fn got(outcome: &Outcome) -> String {
    match (&outcome.route, outcome.decision.refusal()) {
        (_, Some(refusal)) => format!("the request was refused ({refusal}: {})", refusal.status()),
        (None, _) => "no route (404)".to_string(),
        (Some(route), _) => format!("route `{route}`"),
    }
}

/// Why `expect` does not hold, or `None` when it does.
fn check(expect: &Expect, outcome: &Outcome, policy: &zbin::model::Policy) -> Option<String> {
    match expect {
        Expect::Route(index) => {
            let name = &policy.routes[*index].name;
            (outcome.route.as_ref() != Some(name)).then(|| format!("expected route `{name}`, got {}", got(outcome)))
        }
        Expect::Upstream(index) => {
            let name = &policy.upstreams[*index].name;
            if outcome.upstreams.iter().any(|(u, _)| u == name) {
                None
            } else if outcome.action == Some("proxy") {
                let names: Vec<String> = outcome.upstreams.iter().map(|(u, _)| format!("`{u}`")).collect();
                Some(format!(
                    "expected upstream `{name}`, got {} proxying to {}",
                    got(outcome),
                    names.join(", ")
                ))
            } else {
                Some(format!(
                    "expected upstream `{name}`, got {} which does not proxy",
                    got(outcome)
                ))
            }
        }
        Expect::Server(addr) => match &outcome.server {
            Ok(server) if server == addr => None,
            Ok(server) => Some(format!(
                "expected server {addr}, got server {server} of {}",
                got(outcome)
            )),
            Err(why) => Some(format!("expected server {addr}, but {why}")),
        },
        Expect::Status { status, location } => {
            let Some(actual) = outcome.status else {
                return Some(format!(
                    "expected status {status}, but {} answers with whatever its {} returns",
                    got(outcome),
                    if outcome.action == Some("static") {
                        "files"
                    } else {
                        "upstream"
                    }
                ));
            };
            if actual != *status {
                return Some(format!("expected status {status}, got {actual} from {}", got(outcome)));
            }
            match (location, &outcome.location) {
                (Some(expected), Some(actual)) if expected != actual => {
                    Some(format!("expected location `{expected}`, got `{actual}`"))
                }
                (Some(expected), None) => Some(format!("expected location `{expected}`, got none")),
                _ => None,
            }
        }
        Expect::NoRoute => outcome
            .route
            .as_ref()
            .map(|route| format!("expected no route, got route `{route}`")),
    }
}
