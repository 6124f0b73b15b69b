//! Values: numeric literals and their units, ranges, and the small
//! languages inside strings (addresses, header names, methods, host names,
//! paths). Each check reports what was wrong and what would be right.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use crate::ast::{Ident, Number, Str};
use crate::diagnostic::{Code, Diagnostic};

use super::Checker;

/// The unit a literal was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    None,
    Duration(u64),
    Size(u64),
    Percent,
    Rate(u64),
}

/// What the context wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Integer,
    Duration,
    Size,
    Rate,
    Percent,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Integer => "a whole number",
            Kind::Duration => "a duration",
            Kind::Size => "a size",
            Kind::Rate => "a rate",
            Kind::Percent => "a percentage",
        }
    }

    fn how(self) -> &'static str {
        match self {
            Kind::Integer => "whole numbers are written without a unit, such as `3`",
            Kind::Duration => "durations are written like `250ms`, `5s`, `2m` or `1h`",
            Kind::Size => "sizes are written like `512B`, `16KiB`, `10MiB` or `1GiB`",
            Kind::Rate => "rates are written like `100/s`, `6000/m` or `50000/h`",
            Kind::Percent => "percentages are written like `10%`",
        }
    }
}

fn unit_kind(unit: Unit) -> Kind {
    match unit {
        Unit::None => Kind::Integer,
        Unit::Duration(_) => Kind::Duration,
        Unit::Size(_) => Kind::Size,
        Unit::Percent => Kind::Percent,
        Unit::Rate(_) => Kind::Rate,
    }
}

fn parse_unit(suffix: &str) -> Option<Unit> {
    Some(match suffix {
        "" => Unit::None,
        "ms" => Unit::Duration(1),
        "s" => Unit::Duration(1_000),
        "m" => Unit::Duration(60_000),
        "h" => Unit::Duration(3_600_000),
        "B" => Unit::Size(1),
        "KiB" => Unit::Size(1 << 10),
        "MiB" => Unit::Size(1 << 20),
        "GiB" => Unit::Size(1 << 30),
        "%" => Unit::Percent,
        "/s" => Unit::Rate(1_000),
        "/m" => Unit::Rate(60_000),
        "/h" => Unit::Rate(3_600_000),
        _ => return None,
    })
}

/// Units that people write by habit, and what Zen calls them.
fn unit_hint(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hour" | "hours" => "h",
        "msec" | "millis" => "ms",
        "kb" | "KB" | "k" | "K" | "Kb" => "KiB",
        "mb" | "MB" | "M" | "Mb" => "MiB",
        "gb" | "GB" | "G" | "Gb" => "GiB",
        "b" => "B",
        "/sec" | "/second" => "/s",
        "/min" | "/minute" => "/m",
        "/hour" => "/h",
        _ => return None,
    })
}

impl Checker<'_> {
    /// Parses a literal that should be of `kind`; returns the value in the
    /// base unit (ms, bytes, percent; rates return the count and keep the
    /// period in `rate`).
    fn literal(&mut self, number: &Number, kind: Kind) -> Option<(u64, Unit)> {
        let text = number.text.as_str();
        let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, suffix) = text.split_at(digits_end);
        if suffix.starts_with('.') {
            self.report(
                Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("fractional number `{text}`"),
                    number.span,
                    "only whole numbers are allowed",
                )
                .with_help("use a smaller unit, such as `1500ms` for one and a half seconds"),
            );
            return None;
        }
        let Some(unit) = parse_unit(suffix) else {
            let help = match unit_hint(suffix) {
                Some(unit) => format!("did you mean `{digits}{unit}`?"),
                None => kind.how().to_string(),
            };
            self.report(
                Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("unknown unit `{suffix}` in `{text}`"),
                    number.span,
                    "not a unit",
                )
                .with_help(help),
            );
            return None;
        };
        if unit_kind(unit) != kind {
            let found = match unit {
                Unit::None => format!("the number `{text}`"),
                _ => format!("{} `{text}`", unit_kind(unit).noun()),
            };
            let help = match (kind, unit) {
                (Kind::Duration, Unit::None) => format!("add a unit, such as `{digits}s` or `{digits}ms`"),
                (Kind::Size, Unit::None) => format!("add a unit, such as `{digits}B` or `{digits}KiB`"),
                (Kind::Percent, Unit::None) => format!("write `{digits}%`"),
                (Kind::Rate, Unit::None) => format!("add a period, such as `{digits}/s`"),
                _ => kind.how().to_string(),
            };
            self.report(
                Diagnostic::new(
                    Code::WrongUnit,
                    format!("expected {}, found {found}", kind.noun()),
                    number.span,
                    format!("expected {} here", kind.noun()),
                )
                .with_help(help),
            );
            return None;
        }
        let value = digits.parse::<u64>().ok().and_then(|v| match unit {
            Unit::Duration(scale) | Unit::Size(scale) => v.checked_mul(scale),
            _ => Some(v),
        });
        match value {
            Some(value) => Some((value, unit)),
            None => {
                self.report(Diagnostic::new(
                    Code::OutOfRange,
                    format!("`{text}` is too large"),
                    number.span,
                    "does not fit in 64 bits",
                ));
                None
            }
        }
    }

    /// A whole number within `range`; `what` names it ("port", "weight").
    pub(super) fn integer(&mut self, number: &Number, what: &str, range: RangeInclusive<u64>) -> Option<u64> {
        let (value, _) = self.literal(number, Kind::Integer)?;
        self.in_range(value, &number.text, number, what, range, "")
    }

    fn in_range(
        &mut self,
        value: u64,
        text: &str,
        number: &Number,
        what: &str,
        range: RangeInclusive<u64>,
        unit: &str,
    ) -> Option<u64> {
        if range.contains(&value) {
            return Some(value);
        }
        let expected = if *range.end() == u64::MAX {
            format!("at least {}{unit}", range.start())
        } else {
            format!("from {}{unit} to {}{unit}", range.start(), range.end())
        };
        self.report(Diagnostic::new(
            Code::OutOfRange,
            format!("{what} `{text}` is out of range"),
            number.span,
            format!("expected {expected}"),
        ));
        None
    }

    /// A duration in milliseconds, at least 1ms.
    pub(super) fn duration(&mut self, number: &Number, what: &str) -> Option<u64> {
        let (value, _) = self.literal(number, Kind::Duration)?;
        self.in_range(value, &number.text, number, what, 1..=u64::MAX, "ms")
    }

    /// A size in bytes, at least one byte.
    pub(super) fn size(&mut self, number: &Number, what: &str) -> Option<u64> {
        let (value, _) = self.literal(number, Kind::Size)?;
        self.in_range(value, &number.text, number, what, 1..=u64::MAX, "B")
    }

    /// A limit of `kind` (a count or a size) that the runtime's HTTP parser
    /// can honour only up to `max`: a larger one is an error, not a limit
    /// that silently never applies.
    pub(super) fn parser_bound(&mut self, number: &Number, what: &str, max: u64, kind: Kind) -> Option<u64> {
        let (value, _) = self.literal(number, kind)?;
        let unit = if matches!(kind, Kind::Size) { "B" } else { "" };
        let value = self.in_range(value, &number.text, number, what, 1..=u64::MAX, unit)?;
        if value <= max {
            return Some(value);
        }
        self.report(
            Diagnostic::new(
                Code::OutOfRange,
                format!("{what} `{}` is more than the HTTP parser can honour", number.text),
                number.span,
                format!("at most {max}{unit}"),
            )
            .with_help(format!(
                "the parser stops at {max}{unit} whatever the policy says; write {max}{unit} or less"
            )),
        );
        None
    }

    /// A rate as (requests, period in ms).
    pub(super) fn rate(&mut self, number: &Number) -> Option<(u64, u64)> {
        let (value, unit) = self.literal(number, Kind::Rate)?;
        let value = self.in_range(value, &number.text, number, "rate", 1..=u64::MAX, "")?;
        match unit {
            Unit::Rate(period) => Some((value, period)),
            _ => None,
        }
    }

    /// A percentage from 1% to 100%.
    pub(super) fn percent(&mut self, number: &Number) -> Option<u8> {
        let (value, _) = self.literal(number, Kind::Percent)?;
        self.in_range(value, &number.text, number, "share", 1..=100, "%")
            .map(|v| v as u8)
    }

    /// An HTTP status within `range`; `what` says whose ("respond status").
    pub(super) fn status(&mut self, number: &Number, what: &str, range: RangeInclusive<u64>) -> Option<u16> {
        self.integer(number, what, range).map(|v| v as u16)
    }

    // ------------------------------------------------------------ strings

    /// A listener address: `IP:PORT`, `[IPv6]:PORT`, `*:PORT` or `:PORT`
    /// (`:PORT` binds loopback for `admin`, every address for `listen`).
    pub(super) fn listen_addr(&mut self, addr: &Str, default_ip: &str) -> Option<String> {
        let written = addr.value.as_str();
        let full = if let Some(port) = written.strip_prefix(':') {
            format!("{default_ip}:{port}")
        } else if let Some(port) = written.strip_prefix("*:") {
            format!("0.0.0.0:{port}")
        } else {
            written.to_string()
        };
        match full.parse::<SocketAddr>() {
            Ok(socket) if socket.port() != 0 => Some(socket.to_string()),
            Ok(_) => {
                self.report(Diagnostic::new(
                    Code::InvalidAddress,
                    format!("invalid address `{written}`"),
                    addr.span,
                    "port 0 is not a port to listen on",
                ));
                None
            }
            Err(_) => {
                let port = full
                    .rsplit_once(':')
                    .map(|(host, port)| (host.trim_matches(['[', ']']), port));
                let help = if written.parse::<IpAddr>().is_ok() {
                    format!("add a port, such as `{written}:8080`")
                } else if let Some((_, port)) = port.filter(|(host, port)| {
                    host.parse::<IpAddr>().is_ok() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                }) {
                    format!("the port must be a number from 1 to 65535, not `{port}`")
                } else if written.contains(':') {
                    "listeners take an IP address and a port, such as `127.0.0.1:8080` or `[::1]:8080`".to_string()
                } else {
                    "write an IP address and a port, such as `127.0.0.1:8080`".to_string()
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidAddress,
                        format!("invalid address `{written}`"),
                        addr.span,
                        "not `IP:PORT`",
                    )
                    .with_help(help),
                );
                None
            }
        }
    }

    /// An upstream server: `HOST:PORT`, the host an IP or a DNS name.
    pub(super) fn server_addr(&mut self, addr: &Str) -> Option<String> {
        let written = addr.value.as_str();
        if let Ok(socket) = written.parse::<SocketAddr>() {
            if socket.port() != 0 {
                return Some(socket.to_string());
            }
        }
        let problem = match written.rsplit_once(':') {
            None => Some(format!("add a port, such as `{written}:80`")),
            Some((host, port)) => match port.parse::<u16>() {
                Ok(0) | Err(_) => Some("the port must be a number from 1 to 65535".to_string()),
                Ok(_) if host.parse::<IpAddr>().is_ok() || is_dns_name(host) => None,
                Ok(_) => Some("the host must be an IP address or a DNS name".to_string()),
            },
        };
        match problem {
            None => Some(written.to_ascii_lowercase()),
            Some(help) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidAddress,
                        format!("invalid server address `{written}`"),
                        addr.span,
                        "not `HOST:PORT`",
                    )
                    .with_help(help),
                );
                None
            }
        }
    }

    /// A header name (an RFC 9110 token), returned in lowercase.
    pub(super) fn header_name(&mut self, name: &Str) -> Option<String> {
        let value = name.value.as_str();
        if !value.is_empty() && value.bytes().all(is_tchar) {
            return Some(value.to_ascii_lowercase());
        }
        let help = if value.is_empty() {
            "a header name cannot be empty".to_string()
        } else if value.starts_with(':') {
            "pseudo-headers such as `:authority` cannot be matched or edited; use `host` for the host".to_string()
        } else if value.contains(':') {
            "write the name and the value as two strings: `\"name\" \"value\"`".to_string()
        } else {
            "header names use letters, digits and `!#$%&'*+-.^_`|~`, with no spaces".to_string()
        };
        self.report(
            Diagnostic::new(
                Code::InvalidHeaderName,
                format!("invalid header name `{}`", value.escape_debug()),
                name.span,
                "not a header name",
            )
            .with_help(help),
        );
        None
    }

    /// An HTTP method: an uppercase token.
    pub(super) fn method(&mut self, method: &Ident) -> Option<String> {
        let value = method.node.as_str();
        let upper = value.to_ascii_uppercase();
        // A token (RFC 9110) of capitals: `GET`, `VERSION-CONTROL`, `M2`.
        let method_like = |m: &str| {
            m.starts_with(|c: char| c.is_ascii_uppercase())
                && m.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if value == upper && method_like(value) {
            return Some(upper);
        }
        let help = if method_like(&upper) {
            format!("methods are case-sensitive: write `{upper}`")
        } else {
            "methods are uppercase letters, such as `GET` or `POST`".to_string()
        };
        self.report(
            Diagnostic::new(
                Code::InvalidMethod,
                format!("invalid method `{value}`"),
                method.span,
                "not a method",
            )
            .with_help(help),
        );
        None
    }

    /// A host name for a `host` condition: lowercase, with an optional
    /// leading `*.`; returns the normalized form.
    pub(super) fn host_name(&mut self, host: &Str) -> Option<zbin::model::HostName> {
        let written = host.value.as_str();
        let lower = written.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        let (wildcard, rest) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower),
        };
        let help = if written.contains("://") || written.contains('/') {
            Some("a host is a name only, without scheme or path: `example.com`")
        } else if rest.contains(':') && !rest.starts_with('[') {
            Some("the port is not part of the host: requests are matched without it")
        } else if rest.contains('*') {
            Some("`*` is only allowed as the whole first label: `*.example.com`")
        } else if !(is_dns_name(rest) || rest.parse::<IpAddr>().is_ok() || is_bracketed_ipv6(rest)) {
            Some("host names are labels of letters, digits and `-` separated by dots")
        } else {
            None
        };
        if let Some(help) = help {
            self.report(
                Diagnostic::new(
                    Code::InvalidHost,
                    format!("invalid host name `{written}`"),
                    host.span,
                    "not a host name",
                )
                .with_help(help),
            );
            return None;
        }
        Some(if wildcard {
            zbin::model::HostName::Wildcard(format!(".{rest}"))
        } else {
            zbin::model::HostName::Exact(rest.to_string())
        })
    }

    /// A path for `path "..."` or `path prefix "..."`: it must be in the
    /// normal form that requests are reduced to, or it could never match.
    pub(super) fn policy_path(&mut self, path: &Str) -> Option<String> {
        let written = path.value.as_str();
        if let Some(query) = written.find('?') {
            self.report(
                Diagnostic::new(
                    Code::InvalidPath,
                    format!("path `{written}` contains a query string"),
                    path.span,
                    "paths are matched without the query",
                )
                .with_help(format!(
                    "match the query with a `query` condition, and the path with `{}`",
                    &written[..query]
                )),
            );
            return None;
        }
        let encoded = percent_encode_non_ascii(written);
        match zbin::normalize::normalize_path(&encoded) {
            Ok(normal) if normal == written => Some(normal.into_owned()),
            Ok(normal) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidPath,
                        format!("path `{written}` is not in normal form"),
                        path.span,
                        "requests are normalized before matching, so this can never match",
                    )
                    .with_help(format!("write `{normal}`")),
                );
                None
            }
            Err(error) => {
                let help = match error {
                    zbin::normalize::PathError::NotAbsolute => format!("write `/{written}`"),
                    _ => "requests with such paths are refused with 400 before routing".to_string(),
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidPath,
                        format!("invalid path `{written}`"),
                        path.span,
                        error.to_string(),
                    )
                    .with_help(help),
                );
                None
            }
        }
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Labels of letters, digits, `-` and `_` (not at the ends), 1 to 63
/// bytes each, at most 253 bytes in all.
pub(super) fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_bracketed_ipv6(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Bytes outside ASCII as `%XX`, the way clients send them.
fn percent_encode_non_ascii(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
