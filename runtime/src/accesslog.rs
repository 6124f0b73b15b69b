//! The JSON access log: one object per line, built directly into a string
//! (no intermediate tree) and handed to a writer thread, which writes lines
//! in batches, flushes whenever it has nothing left to write, then rests
//! briefly so that lines gather. A request
//! never waits on the disk or on whoever reads standard output: should the
//! writer fall 64Ki lines behind, lines are dropped and counted
//! (`zentinel_access_log_dropped_total`) rather than stall the proxy. At
//! exit every line still queued is written out (`AccessLog::finish`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many lines may wait for the writer.
const QUEUE: usize = 64 * 1024;

enum Message {
    Line(String),
    /// Write everything queued so far, flush, and say so.
    Finish(mpsc::Sender<()>),
}

/// The sending side: cheap to share between worker threads.
pub struct AccessLog {
    sender: SyncSender<Message>,
    dropped: prometheus::IntCounter,
}

impl AccessLog {
    /// Starts the writer thread over `out`; `dropped` counts lines that
    /// could not be queued.
    pub fn start(out: Box<dyn std::io::Write + Send>, dropped: prometheus::IntCounter) -> std::io::Result<AccessLog> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || write_lines(receiver, out))?;
        Ok(AccessLog { sender, dropped })
    }

    /// Queues one line (with its newline).
    pub fn log(&self, line: String) {
        match self.sender.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }

    /// Waits (up to `within`) until every line queued so far is written
    /// and flushed: at exit, so that the requests drained last are logged.
    pub fn finish(&self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        let (done, wait) = mpsc::channel();
        let mut message = Message::Finish(done);
        // Never blocks: a writer stuck on a stalled reader must not keep
        // the process from exiting.
        loop {
            match self.sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
        let _ = wait.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()));
    }
}

/// How long the writer rests after each batch. Under load, lines gather
/// meanwhile and are written a batch per pause, instead of the writer being
/// woken (and a `write` made) for every request; a quiet proxy's line is
/// still written as soon as it is queued.
const PAUSE: Duration = Duration::from_millis(10);

fn write_lines(receiver: Receiver<Message>, out: Box<dyn std::io::Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    // Blocks until there is something to write; then writes all that is
    // queued and flushes, so lines reach the file as soon as it is quiet.
    while let Ok(first) = receiver.recv() {
        let mut finished = Vec::new();
        for message in std::iter::once(first).chain(receiver.try_iter()) {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Message::Finish(done) => finished.push(done),
            }
        }
        let _ = out.flush();
        for done in finished {
            let _ = done.send(());
        }
        std::thread::sleep(PAUSE);
    }
}

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

    /// A writer that a test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn finish_writes_everything_queued() {
        let out = Shared::default();
        let dropped = prometheus::IntCounter::new("dropped", "dropped").unwrap();
        let log = AccessLog::start(Box::new(out.clone()), dropped.clone()).unwrap();
        for i in 0..1000 {
            log.log(format!("{i}\n"));
        }
        log.finish(Duration::from_secs(5));
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 1000);
        assert_eq!(written.lines().last(), Some("999"));
        assert_eq!(dropped.get(), 0);
    }

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
