//! External agents on Unix sockets (LANGUAGE.md §6, `docs/agents.md`).
//! A frame is a 4-byte big-endian length and one JSON object; zentinel
//! sends the request's headers (and the first bytes of its body, when the
//! agent asks for them), the agent answers with a decision. One connection
//! per call, all of it within the agent's timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use zbin::model::{Agent, HeaderEdit, HeaderOp};

/// The largest answer an agent may send.
pub const MAX_FRAME: u32 = 1 << 20;

/// What an agent decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        request_headers: Vec<HeaderEdit>,
        response_headers: Vec<HeaderEdit>,
    },
    Refuse(Refusal),
}

/// Why a request does not go on: what the client is answered instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Block {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    Redirect {
        status: u16,
        location: String,
    },
    /// An agent failed and its `on_failure` is `deny`: 503.
    Unavailable,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Block { status, .. } | Refusal::Redirect { status, .. } => *status,
            Refusal::Unavailable => 503,
        }
    }
}

/// What one request looks like to an agent.
pub struct AgentRequest<'r> {
    pub request_id: &'r str,
    pub client_ip: &'r str,
    pub method: &'r str,
    pub host: &'r str,
    pub path: &'r str,
    pub query: Option<&'r str>,
    pub route: &'r str,
    pub headers: &'r [(String, String)],
    /// The first bytes of the body, and whether they are all of it; for
    /// agents that ask for a body only.
    pub body: Option<(&'r [u8], bool)>,
}

/// Calls `agent`; `Err` says why the call failed (timeout, refused,
/// malformed), for `on_failure` to decide.
pub async fn call(agent: &Agent, socket: &std::path::Path, request: &AgentRequest<'_>) -> Result<Decision, String> {
    let mut message = json!({
        "version": 1,
        "agent": agent.name,
        "request_id": request.request_id,
        "client_ip": request.client_ip,
        "method": request.method,
        "host": request.host,
        "path": request.path,
        "query": request.query,
        "route": request.route,
        "headers": request.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
    });
    if let Some((body, complete)) = request.body.filter(|_| agent.body > 0) {
        use base64::Engine as _;
        let sent = &body[..body.len().min(agent.body as usize)];
        message["body"] = json!(base64::engine::general_purpose::STANDARD.encode(sent));
        message["body_complete"] = json!(complete && sent.len() == body.len());
    }
    let exchange = async {
        let mut stream = UnixStream::connect(socket).await.map_err(|e| format!("connect: {e}"))?;
        let payload = message.to_string().into_bytes();
        stream
            .write_all(&(payload.len() as u32).to_be_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        stream.write_all(&payload).await.map_err(|e| format!("write: {e}"))?;
        let mut length = [0u8; 4];
        stream.read_exact(&mut length).await.map_err(|e| format!("read: {e}"))?;
        let length = frame_length(length)?;
        let mut answer = vec![0u8; length];
        stream.read_exact(&mut answer).await.map_err(|e| format!("read: {e}"))?;
        decode_answer(&answer)
    };
    match tokio::time::timeout(Duration::from_millis(agent.timeout), exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", agent.timeout)),
    }
}

/// A header name an agent may send: an RFC 9110 token.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value an agent may send: visible characters, spaces and tabs
/// (RFC 9110 §5.5), no control characters.
fn valid_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn edits(value: Option<&Value>) -> Result<Vec<HeaderEdit>, String> {
    let mut out = Vec::new();
    let Some(value) = value else { return Ok(out) };
    if let Some(set) = value.get("set").and_then(Value::as_object) {
        for (name, v) in set {
            let v = v.as_str().ok_or("header values are strings")?;
            if !valid_name(name) || !valid_value(v) {
                return Err(format!("invalid header `{name}`"));
            }
            out.push(HeaderEdit {
                op: HeaderOp::Set,
                name: name.to_ascii_lowercase(),
                value: v.to_string(),
            });
        }
    }
    if let Some(remove) = value.get("remove").and_then(Value::as_array) {
        for name in remove {
            let name = name.as_str().ok_or("header names are strings")?;
            if !valid_name(name) {
                return Err(format!("invalid header `{name}`"));
            }
            out.push(HeaderEdit {
                op: HeaderOp::Remove,
                name: name.to_ascii_lowercase(),
                value: String::new(),
            });
        }
    }
    Ok(out)
}

/// The length of a frame from its 4-byte big-endian prefix, within
/// `MAX_FRAME`.
pub fn frame_length(prefix: [u8; 4]) -> Result<usize, String> {
    let length = u32::from_be_bytes(prefix);
    if length > MAX_FRAME {
        return Err(format!("answer of {length} bytes is over the {MAX_FRAME}-byte limit"));
    }
    Ok(length as usize)
}

/// Decodes an answer frame's payload (one JSON object).
pub fn decode_answer(payload: &[u8]) -> Result<Decision, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("answer is not JSON: {e}"))?;
    decode(&value)
}

/// Decodes a whole frame as it arrives on the socket: the length prefix,
/// then the payload; anything short, long or malformed is an error.
pub fn decode_frame(frame: &[u8]) -> Result<Decision, String> {
    let (prefix, payload) = frame.split_first_chunk::<4>().ok_or("frame shorter than its length")?;
    let length = frame_length(*prefix)?;
    if payload.len() != length {
        return Err(format!("frame says {length} bytes and has {}", payload.len()));
    }
    decode_answer(payload)
}

/// Reads an answer; anything unexpected is malformed.
pub fn decode(value: &Value) -> Result<Decision, String> {
    let decision = value
        .get("decision")
        .and_then(Value::as_str)
        .ok_or("answer has no `decision`")?;
    let status = value.get("status").and_then(Value::as_u64);
    match decision {
        "allow" => Ok(Decision::Allow {
            request_headers: edits(value.get("request_headers"))?,
            response_headers: edits(value.get("response_headers"))?,
        }),
        "block" => {
            let status = status.unwrap_or(403);
            if !(400..=599).contains(&status) {
                return Err(format!("block status {status} is not 4xx or 5xx"));
            }
            let headers: BTreeMap<String, String> = match value.get("headers") {
                Some(h) => serde_json::from_value(h.clone()).map_err(|_| "block headers are an object of strings")?,
                None => BTreeMap::new(),
            };
            if let Some((name, _)) = headers.iter().find(|(k, v)| !valid_name(k) || !valid_value(v)) {
                return Err(format!("invalid block header `{name}`"));
            }
            Ok(Decision::Refuse(Refusal::Block {
                status: status as u16,
                body: value.get("body").and_then(Value::as_str).unwrap_or("").to_string(),
                headers: headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
            }))
        }
        "redirect" => {
            let status = status.unwrap_or(302);
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Err(format!("redirect status {status} is not a redirect"));
            }
            let location = value
                .get("location")
                .and_then(Value::as_str)
                .ok_or("redirect has no `location`")?;
            if location.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err("redirect location has a line break".to_string());
            }
            Ok(Decision::Refuse(Refusal::Redirect {
                status: status as u16,
                location: location.to_string(),
            }))
        }
        other => Err(format!("unknown decision `{other}`")),
    }
}

/// Header edits the agents asked for, in calling order.
#[derive(Debug, Default)]
pub struct Edits {
    pub request: Vec<HeaderEdit>,
    pub response: Vec<HeaderEdit>,
}

/// Asks `agents` (indices into the policy's), in order, about `request`;
/// stops at the first that blocks or redirects, or fails with `on_failure
/// deny`, with why. Allowing agents' header edits are appended to `edits`.
pub async fn ask(
    agents: &[zbin::ids::AgentId],
    loaded: &crate::artifact::Loaded,
    request: &AgentRequest<'_>,
    metrics: &crate::metrics::Metrics,
    edits: &mut Edits,
) -> Option<Refusal> {
    for &index in agents {
        let agent = &loaded.policy().agents[index.index()];
        let outcome = call(agent, &loaded.resolve(&agent.socket), request).await;
        let label = match &outcome {
            Ok(Decision::Allow { .. }) => "allow",
            Ok(Decision::Refuse(Refusal::Block { .. })) => "block",
            Ok(Decision::Refuse(_)) => "redirect",
            Err(_) => "failure",
        };
        metrics
            .agent_calls
            .with_label_values(&[agent.name.as_str(), label])
            .inc();
        match outcome {
            Ok(Decision::Allow {
                request_headers,
                response_headers,
            }) => {
                edits.request.extend(request_headers);
                edits.response.extend(response_headers);
            }
            Ok(Decision::Refuse(refusal)) => return Some(refusal),
            Err(reason) => match agent.on_failure {
                zbin::model::FailureMode::Allow => {
                    log::warn!("agent `{}` failed ({reason}); allowing the request", agent.name);
                }
                zbin::model::FailureMode::Deny => {
                    log::warn!("agent `{}` failed ({reason}); denying the request", agent.name);
                    return Some(Refusal::Unavailable);
                }
            },
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decode() {
        assert!(matches!(
            decode(&json!({"decision": "allow"})),
            Ok(Decision::Allow { .. })
        ));
        assert_eq!(
            decode(&json!({"decision": "block", "status": 451, "body": "no"})),
            Ok(Decision::Refuse(Refusal::Block {
                status: 451,
                body: "no".into(),
                headers: vec![]
            }))
        );
        assert!(decode(&json!({"decision": "block", "status": 200})).is_err());
        assert!(decode(&json!({"decision": "redirect"})).is_err());
        assert!(decode(&json!({"decision": "maybe"})).is_err());
        assert!(decode(&json!({"decision": "allow", "request_headers": {"set": {"bad name": "x"}}})).is_err());
        assert!(decode(&json!({"decision": "allow", "request_headers": {"remove": ["bad name"]}})).is_err());
        assert!(decode(&json!({"decision": "block", "headers": {"x-a": "1\r\nx-b: 2"}})).is_err());
        assert!(decode(&json!({"decision": "block", "headers": {"bad name": "1"}})).is_err());
    }
}
