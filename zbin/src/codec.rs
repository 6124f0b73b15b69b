//! The one place that knows how metadata is encoded (bincode 2, standard
//! configuration), so the encoding can change without touching anything
//! else. Decoding is bounded: the containers it reads may claim at most
//! `DECODE_LIMIT` bytes in all, so a hostile length prefix is refused
//! rather than followed (a claim under the limit reserves memory it never
//! fills: decoding fails as soon as the section runs out of bytes).

use crate::error::ArtifactError;
use crate::table::Meta;

/// Upper bound on what decoding may claim for containers, in all: a
/// hostile length prefix past it fails at once. A policy of 10,000 routes
/// claims a few MiB.
const DECODE_LIMIT: usize = 128 << 20;

pub fn encode_meta(meta: &Meta) -> Vec<u8> {
    bincode::encode_to_vec(meta, bincode::config::standard()).expect("encoding into a Vec cannot fail")
}

pub fn decode_meta(bytes: &[u8]) -> Result<Meta, ArtifactError> {
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let (meta, read) =
        bincode::decode_from_slice::<Meta, _>(bytes, config).map_err(|e| ArtifactError::metadata(e.to_string()))?;
    if read != bytes.len() {
        return Err(ArtifactError::metadata(format!(
            "{} bytes left over after the metadata",
            bytes.len() - read
        )));
    }
    Ok(meta)
}
