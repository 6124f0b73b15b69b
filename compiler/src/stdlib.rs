//! The standard library: `.zen` modules embedded in `zenc` so that
//! `import "std/NAME"` works from any directory.

/// Every module as `(NAME, source)`; imported as `std/NAME`.
pub const MODULES: &[(&str, &str)] = &[
    ("cache", include_str!("../../stdlib/cache.zen")),
    ("cors", include_str!("../../stdlib/cors.zen")),
    ("security-headers", include_str!("../../stdlib/security-headers.zen")),
];

/// The source of `std/NAME`.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// The stdlib module that defines `policy NAME`, if any.
pub fn module_defining_policy(name: &str) -> Option<&'static str> {
    let needle = format!("policy {name} ");
    MODULES
        .iter()
        .find(|(_, text)| text.lines().any(|line| line.starts_with(&needle)))
        .map(|(module, _)| *module)
}
