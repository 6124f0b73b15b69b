//! A normalized host or path, kept as a range of the request's own bytes
//! whenever normalization changed nothing, so that the decision copies
//! nothing for most requests.

use std::borrow::Cow;
use std::ops::Range;

/// A normalized host or path: a range of the raw one when normalization
/// changed nothing (most requests), else its own copy. The range is of
/// `u32`, so that a `Normal` is no larger than a `String` (a request head
/// is far below 4 GiB: the parser's limits say so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Normal {
    Raw(Range<u32>),
    Owned(String),
}

impl Normal {
    /// What `normalized` (the result of normalizing `raw`) is, kept.
    pub fn new(raw: &str, normalized: Cow<'_, str>) -> Normal {
        match normalized {
            Cow::Borrowed(slice) => {
                // Borrowed results are slices of what was normalized
                // (`crate::normalize`); anything else is copied.
                let start = (slice.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
                let range = start..start.saturating_add(slice.len());
                let small = u32::try_from(range.start).ok().zip(u32::try_from(range.end).ok());
                match small {
                    Some((start, end)) if raw.get(range).is_some_and(|r| std::ptr::eq(r, slice)) => {
                        Normal::Raw(start..end)
                    }
                    _ => Normal::Owned(slice.to_string()),
                }
            }
            Cow::Owned(owned) => Normal::Owned(owned),
        }
    }

    /// The normalized string, given the raw one it was made from.
    pub fn get<'a>(&'a self, raw: &'a str) -> &'a str {
        match self {
            Normal::Raw(range) => raw.get(range.start as usize..range.end as usize).unwrap_or_default(),
            Normal::Owned(owned) => owned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{normalize_host, normalize_path};

    #[test]
    fn normal_hosts_and_paths_are_ranges_of_the_request() {
        for (raw, want) in [("example.com:8080", "example.com"), ("Example.COM.", "example.com")] {
            let host = Normal::new(raw, normalize_host(raw));
            assert_eq!(host.get(raw), want);
            assert_eq!(matches!(host, Normal::Raw(_)), raw.starts_with('e'));
        }
        let raw = "/a/b";
        let path = Normal::new(raw, normalize_path(raw).unwrap());
        assert_eq!(path, Normal::Raw(0..4));
        let raw = "/a//b";
        let path = Normal::new(raw, normalize_path(raw).unwrap());
        assert_eq!(path, Normal::Owned("/a/b".into()));
        // A borrowed string that is not a slice of the raw one is copied.
        assert_eq!(Normal::new("/x", Cow::Borrowed("/y")), Normal::Owned("/y".into()));
        assert_eq!(std::mem::size_of::<Normal>(), std::mem::size_of::<String>());
    }
}
