//! Keys read from a request: what a rate limit counts by, and what
//! consistent hashing picks a server by.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use super::Facts;
use crate::model::RateKey;

/// A key read from the request: what a rate limit counts by, or what
/// consistent hashing picks a server by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKey {
    /// One bucket for the whole route.
    Route,
    ClientIp(Option<IpAddr>),
    /// A header's value (its lines joined, RFC 9110 §5.3), if sent; the
    /// header's name is the policy's.
    Header(Option<Box<[u8]>>),
}

impl RequestKey {
    /// The bytes counted or hashed: the address as text, the header's
    /// value, or nothing (absent keys all share one bucket or server).
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            RequestKey::Route | RequestKey::ClientIp(None) | RequestKey::Header(None) => Cow::Borrowed(&[]),
            RequestKey::ClientIp(Some(ip)) => Cow::Owned(ip.to_string().into_bytes()),
            RequestKey::Header(Some(v)) => Cow::Borrowed(v),
        }
    }

    pub(super) fn read(key: &RateKey, facts: &Facts<'_>) -> RequestKey {
        match key {
            RateKey::Route => RequestKey::Route,
            RateKey::ClientIp => RequestKey::ClientIp(facts.client_ip),
            RateKey::Header(name) => RequestKey::header(name, facts),
        }
    }

    pub(super) fn header(name: &str, facts: &Facts<'_>) -> RequestKey {
        RequestKey::Header(facts.headers.value(name).map(|v| v.into_owned().into()))
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestKey::Route => f.write_str("route"),
            RequestKey::ClientIp(Some(ip)) => write!(f, "client_ip {ip}"),
            RequestKey::ClientIp(None) => f.write_str("client_ip (none)"),
            RequestKey::Header(Some(v)) => write!(f, "header value `{}`", String::from_utf8_lossy(v)),
            RequestKey::Header(None) => f.write_str("header (absent)"),
        }
    }
}
