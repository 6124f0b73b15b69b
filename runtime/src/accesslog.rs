//! The JSON access log: one object per line, built directly into a buffer
//! (no intermediate tree), written through a buffer that a background task
//! flushes every 100 ms and at shutdown.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// One request, as logged.
pub struct Entry<'e> {
    pub request_id: &'e str,
    pub client_ip: &'e str,
    pub method: &'e str,
    pub host: &'e str,
    pub path: &'e str,
    pub status: u16,
    pub bytes: usize,
    pub duration_ms: f64,
    pub route: Option<&'e str>,
    pub upstream: Option<&'e str>,
    pub upstream_addr: Option<&'e str>,
    pub attempts: u32,
}

/// Appends `text` as a JSON string.
fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn optional(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.push_str("null"),
    }
}

/// `2026-11-22T21:45:37.123Z`.
pub fn rfc3339(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The line for one request, with its newline.
pub fn line(entry: &Entry<'_>) -> String {
    let mut out = String::with_capacity(320);
    out.push_str("{\"time\":");
    string(&mut out, &rfc3339(SystemTime::now()));
    out.push_str(",\"request_id\":");
    string(&mut out, entry.request_id);
    out.push_str(",\"client_ip\":");
    string(&mut out, entry.client_ip);
    out.push_str(",\"method\":");
    string(&mut out, entry.method);
    out.push_str(",\"host\":");
    string(&mut out, entry.host);
    out.push_str(",\"path\":");
    string(&mut out, entry.path);
    let _ = write!(
        out,
        ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3},\"route\":",
        entry.status, entry.bytes, entry.duration_ms
    );
    optional(&mut out, entry.route);
    out.push_str(",\"upstream\":");
    optional(&mut out, entry.upstream);
    out.push_str(",\"upstream_addr\":");
    optional(&mut out, entry.upstream_addr);
    let _ = writeln!(out, ",\"attempts\":{}}}", entry.attempts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json() {
        let text = line(&Entry {
            request_id: "r\"1",
            client_ip: "127.0.0.1",
            method: "GET",
            host: "a\u{1}b",
            path: "/x\\y",
            status: 200,
            bytes: 12,
            duration_ms: 1.5,
            route: Some("r"),
            upstream: None,
            upstream_addr: None,
            attempts: 0,
        });
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["request_id"], "r\"1");
        assert_eq!(value["host"], "a\u{1}b");
        assert_eq!(value["upstream"], serde_json::Value::Null);
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn rfc3339_dates() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_795_383_937_123);
        assert_eq!(rfc3339(t), "2026-11-22T21:45:37.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
