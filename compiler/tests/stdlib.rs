//! Every stdlib module compiles, and each of its policies can be used.

use std::path::Path;

#[test]
fn every_stdlib_module_compiles() {
    for (name, text) in zenc::stdlib::MODULES {
        // A module on its own parses and checks (no listen needed there).
        let (parsed, diagnostics) = zenc::syntax::parse(zenc::source::FileId(0), text)
            .unwrap_or_else(|d| panic!("std/{name} does not parse: {}", d.message));
        assert!(diagnostics.is_empty(), "std/{name}: {diagnostics:?}");
        let policies: Vec<String> = parsed
            .file
            .items
            .iter()
            .map(|item| match &item.kind {
                zenc::ast::ItemKind::Policy(p) => p.name.node.clone(),
                other => panic!("std/{name} may only define policies, found {other:?}"),
            })
            .collect();
        assert!(!policies.is_empty(), "std/{name} defines no policy");
        // Imported into a policy that uses every one of them.
        let routes: String = policies
            .iter()
            .enumerate()
            .map(|(i, p)| format!("route r{i} {{\n    path \"/{i}\"\n    respond 200\n    use {p}\n}}\n"))
            .collect();
        let root = format!("import \"std/{name}\"\nlisten \"127.0.0.1:8080\"\n{routes}");
        let compilation = zenc::check_source(Path::new("stdlib-test.zen"), &root);
        assert!(
            compilation.diagnostics.is_empty(),
            "std/{name}: {:?}",
            compilation.diagnostics
        );
        let checked = compilation.checked().cloned().expect("checks");
        for route in &checked.policy.routes {
            assert!(
                !route.modifiers.response_headers.is_empty(),
                "using a policy of std/{name} changes nothing on route {}",
                route.name
            );
        }
    }
}

#[test]
fn security_headers_sets_the_usual_headers() {
    let root = "import \"std/security-headers\"\nlisten \"127.0.0.1:8080\"\nroute a {\n    respond 200\n    use security_headers\n}\n";
    let checked = zenc::check_source(Path::new("s.zen"), root)
        .checked()
        .cloned()
        .expect("checks");
    let names: Vec<&str> = checked.policy.routes[0]
        .modifiers
        .response_headers
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for header in [
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "strict-transport-security",
    ] {
        assert!(names.contains(&header), "missing {header}: {names:?}");
    }
}
