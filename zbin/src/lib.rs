//! zbin: the contract between `zenc` and `zentinel`. It holds the checked
//! policy model, request normalization, and (with the artifact format) the
//! code that loads and matches a compiled policy. It links no parser and no
//! diagnostics renderer: the runtime depends on this crate alone.

pub mod model;
pub mod normalize;
