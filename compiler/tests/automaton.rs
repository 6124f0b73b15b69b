//! The automaton against the reference matcher: random route sets (every
//! kind of host and path condition, methods, headers, queries,
//! priorities), random requests around their edges; the automaton's
//! winner must be the reference's (or, where the set is ambiguous and the
//! compiler would refuse it, one of the reference's tied winners).
//!
//! And the analysis against the same reference: every ambiguity it reports
//! comes with a request that both routes really match, and a route set it
//! accepts leaves no request to declaration order.
//!
//! More cases: `PROPTEST_CASES=20000 cargo test -p zenc --test automaton`.

use proptest::prelude::*;
use zbin::model::*;

const HOSTS: &[&str] = &[
    "a.com",
    "b.a.com",
    "x.b.a.com",
    "y.b.a.com",
    "zz.a.com",
    "c.com",
    "a.com.evil",
    "",
];
const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/a/12",
    "/ab",
    "/a/b/c",
    "/b",
    "/a/b/",
    "/A/12",
    // Raw UTF-8 (the HTTP parser lets it through): captures of byte regexes
    // can end inside a character.
    "/a/\u{e9}",
    "/\u{e9}t\u{e9}",
    "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/6/7/8/9",
];

fn host_match() -> impl Strategy<Value = HostMatch> {
    let name = prop_oneof![
        prop::sample::select(vec!["a.com", "b.a.com", "x.b.a.com", "c.com"])
            .prop_map(|n| HostName::Exact(n.to_string())),
        prop::sample::select(vec![".a.com", ".b.a.com", ".com"]).prop_map(|s| HostName::Wildcard(s.to_string())),
    ];
    prop_oneof![
        2 => Just(HostMatch::Any),
        3 => prop::collection::vec(name, 1..3).prop_map(|mut names| {
            names.dedup();
            HostMatch::Names(names)
        }),
        1 => prop::sample::select(vec![r"[a-z]+\.a\.com", r"(?:x|y)\.b\.a\.com", r"c\.com|a\.com", r"(?i)A\.COM"])
            .prop_map(|r| HostMatch::Regex(r.to_string())),
    ]
}

fn path_match() -> impl Strategy<Value = PathMatch> {
    prop_oneof![
        2 => Just(PathMatch::Any),
        2 => prop::sample::select(vec!["/", "/a", "/a/b", "/ab"]).prop_map(|p| PathMatch::Exact(p.to_string())),
        3 => prop::sample::select(vec!["/", "/a", "/a/", "/a/b"]).prop_map(|p| PathMatch::Prefix(p.to_string())),
        2 => prop::sample::select(vec!["/a/[0-9]+", "/[a-z]+", "/a/.*", "(?i)/a/[0-9]+", "/a/(?P<rest>.*)/?"])
            .prop_map(|r| PathMatch::Regex(r.to_string())),
    ]
}

fn route(index: usize) -> impl Strategy<Value = Route> {
    (
        0u32..3,
        host_match(),
        path_match(),
        prop::sample::subsequence(vec!["GET", "POST"], 0..=2),
        prop::option::of(prop_oneof![
            Just(ValueMatch::Present),
            Just(ValueMatch::Exact("1".to_string())),
            Just(ValueMatch::Regex("[0-9]+".to_string())),
        ]),
        prop::option::of(prop::option::of(Just("1".to_string()))),
    )
        .prop_map(move |(priority, host, path, methods, header, query)| Route {
            name: format!("r{index}"),
            priority,
            host,
            path,
            methods: methods.into_iter().map(str::to_string).collect(),
            headers: header
                .map(|value| HeaderMatch {
                    name: "x-t".to_string(),
                    value,
                })
                .into_iter()
                .collect(),
            queries: query
                .map(|value| QueryMatch {
                    name: "q".to_string(),
                    value,
                })
                .into_iter()
                .collect(),
            action: Action::Respond {
                status: 200,
                body: String::new(),
                content_type: None,
            },
            modifiers: Modifiers::default(),
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    (1usize..12).prop_flat_map(|n| {
        (0..n).map(route).collect::<Vec<_>>().prop_map(|routes| Policy {
            routes,
            ..Policy::default()
        })
    })
}

/// The automaton's winner is the reference's (one of its tied winners
/// where the set is ambiguous), and explain's candidates agree.
fn agree(policy: &Policy, probes: &[Probe]) -> Result<(), TestCaseError> {
    let bytes = zenc::artifact_for(policy).expect("builds");
    let aligned = zbin::AlignedBytes::new(&bytes);
    let program = zbin::Program::from_bytes(aligned.as_bytes()).expect("loads");
    let reference = zenc::reference::ReferenceMatcher::new(policy);
    for probe in probes.iter().cloned() {
        let headers = probe.headers();
        let request = probe.request(&headers);
        let found = program.lookup(&request);
        match reference.winners(&request) {
            None => prop_assert!(
                found.is_none(),
                "automaton matched {:?} for {:?}, reference nothing",
                found,
                probe
            ),
            Some((key, routes)) => {
                let found = found.ok_or_else(|| {
                    TestCaseError::fail(format!("automaton matched nothing for {probe:?}, reference {routes:?}"))
                })?;
                prop_assert_eq!(found.key, key, "key differs for {:?}", probe);
                prop_assert!(
                    routes.contains(&found.route),
                    "automaton chose r{} for {:?}, reference {:?}",
                    found.route,
                    probe,
                    routes
                );
            }
        }
        // `explain`'s candidate list agrees with the winner.
        let candidates = program.candidates(&request);
        prop_assert_eq!(candidates.first().map(|(_, a)| a.key), found.map(|m| m.key));
        // Templates read captures of the winner's regex: never a panic.
        if let Some(found) = found {
            let _ = program.captures(found.route, probe.path);
        }
    }
    Ok(())
}

/// Up to 40 routes that mostly share a path and a key, each wanting one
/// value of `x-t`, of `q` or a method, some with a second condition.
fn crowded_policy() -> impl Strategy<Value = Policy> {
    let route = (
        prop::sample::select(vec![PathMatch::Prefix("/a".to_string()), PathMatch::Any]),
        0u32..2,
        prop_oneof![
            (0u8..6).prop_map(|v| (Some(v.to_string()), None, Vec::new())),
            (0u8..6).prop_map(|v| (None, Some(v.to_string()), Vec::new())),
            prop::sample::subsequence(vec!["GET", "POST", "PUT", "M1"], 1..=2).prop_map(|m| (
                None,
                None,
                m.into_iter().map(str::to_string).collect()
            )),
        ],
        prop::bool::weighted(0.2),
    );
    prop::collection::vec(route, 8..40).prop_map(|routes| Policy {
        routes: routes
            .into_iter()
            .enumerate()
            .map(|(i, (path, priority, (header, query, methods), extra))| Route {
                name: format!("r{i}"),
                priority,
                host: HostMatch::Any,
                path,
                methods,
                headers: header
                    .map(|v| HeaderMatch {
                        name: "x-t".to_string(),
                        value: ValueMatch::Exact(v),
                    })
                    .into_iter()
                    .chain(extra.then(|| HeaderMatch {
                        name: "x-e".to_string(),
                        value: ValueMatch::Present,
                    }))
                    .collect(),
                queries: query
                    .map(|v| QueryMatch {
                        name: "q".to_string(),
                        value: Some(v),
                    })
                    .into_iter()
                    .collect(),
                action: Action::NotFound,
                modifiers: Modifiers::default(),
            })
            .collect(),
        ..Policy::default()
    })
}

#[derive(Debug, Clone)]
struct Probe {
    method: &'static str,
    host: &'static str,
    path: &'static str,
    /// Values of `x-t`, one per field line (several lines are one value).
    header: Vec<&'static str>,
    query: Option<&'static str>,
}

impl Probe {
    fn headers(&self) -> Vec<(String, String)> {
        self.header.iter().map(|v| ("x-t".to_string(), v.to_string())).collect()
    }

    fn request<'r>(&'r self, headers: &'r Vec<(String, String)>) -> zbin::Request<'r> {
        zbin::Request {
            method: self.method,
            host: self.host,
            path: self.path,
            query: self.query,
            headers,
        }
    }
}

fn probe() -> impl Strategy<Value = Probe> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "M1"]),
        prop::sample::select(HOSTS.to_vec()),
        prop::sample::select(PATHS.to_vec()),
        prop::collection::vec(prop::sample::select(vec!["1", "12", "x", "", "0", "3", "5"]), 0..3),
        prop::option::of(prop::sample::select(vec![
            "q=1", "q=2", "q", "a=1&q=1", "q=%31", "q=1&q=2", "q=2&q=1", "q=0", "q=4&q=5",
        ])),
    )
        .prop_map(|(method, host, path, header, query)| Probe {
            method,
            host,
            path,
            header,
            query,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn automaton_agrees_with_the_reference(policy in policy(), probes in prop::collection::vec(probe(), 1..24)) {
        agree(&policy, &probes)?;
    }

    // Many routes of one key on one path, told apart by values of a
    // header, a query parameter or the method: the runs the compiler
    // indexes, held to the same reference.
    #[test]
    fn indexed_runs_agree_with_the_reference(policy in crowded_policy(), probes in prop::collection::vec(probe(), 1..24)) {
        agree(&policy, &probes)?;
    }

    #[test]
    fn the_analysis_leaves_nothing_to_declaration_order(policy in policy(), probes in prop::collection::vec(probe(), 1..24)) {
        let findings = zenc::findings(&policy).expect("builds");
        let reference = zenc::reference::ReferenceMatcher::new(&policy);
        // Every witness is a request both routes match, with equal keys.
        for (a, b, witness) in findings.ambiguous().iter().filter(|(_, _, w)| w.proven) {
            let headers = witness.headers.clone();
            let query: Vec<String> = witness.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let query = query.join("&");
            let request = zbin::Request {
                method: &witness.method,
                host: &witness.host,
                path: &witness.path,
                query: (!query.is_empty()).then_some(query.as_str()),
                headers: &headers,
            };
            let matching = reference.matching(&request);
            let key_of = |route: zbin::ids::RouteId| matching.iter().find(|(r, _)| *r == route).map(|(_, k)| *k);
            prop_assert!(key_of(*a).is_some() && key_of(*a) == key_of(*b),
                "witness {:?} of r{} and r{}: reference matches {:?}", witness, a, b, matching);
        }
        // Accepted: every request has one winner.
        if findings.ambiguous().is_empty() {
            for probe in probes {
                let headers = probe.headers();
                let request = probe.request(&headers);
                if let Some((_, winners)) = reference.winners(&request) {
                    prop_assert_eq!(winners.len(), 1, "{:?} has tied winners {:?}", probe, winners);
                }
            }
        }
        // An unreachable route never wins any request.
        for probe in probes_for_reachability() {
            let request = zbin::Request { method: probe.0, host: probe.1, path: probe.2, query: None, headers: &Vec::new() };
            if let Some((_, winners)) = reference.winners(&request) {
                for route in &findings.unreachable() {
                    prop_assert!(!winners.contains(route) || winners.len() > 1,
                        "r{} is reported unreachable but wins {:?}", route, probe);
                }
            }
        }
    }
}

/// Plain requests over every host and path of the probes.
fn probes_for_reachability() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    HOSTS.iter().flat_map(|h| {
        PATHS
            .iter()
            .flat_map(move |p| ["GET", "POST"].into_iter().map(move |m| (m, *h, *p)))
    })
}
