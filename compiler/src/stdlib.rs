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
