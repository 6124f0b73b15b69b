//! The admin listener: `/metrics` (Prometheus text), `/health`, `/ready`
//! and `/routes` (what is being served, as JSON).

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

use crate::state::Shared;

pub struct Admin {
    pub shared: Arc<Shared>,
}

fn response(status: u16, content_type: &str, body: Vec<u8>) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .expect("a valid response")
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => response(200, "text/plain; version=0.0.4", self.shared.metrics.render()),
            "/health" => response(200, "text/plain", b"ok\n".to_vec()),
            "/ready" if self.shared.draining() => response(503, "text/plain", b"draining\n".to_vec()),
            "/ready" => response(200, "text/plain", b"ready\n".to_vec()),
            "/routes" => {
                let serving = self.shared.current();
                let loaded = &serving.loaded;
                let policy = loaded.policy();
                let routes: Vec<serde_json::Value> = policy
                    .routes
                    .iter()
                    .map(|r| {
                        let action = match &r.action {
                            zbin::model::Action::Proxy(targets) => serde_json::json!({
                                "proxy": targets.iter().map(|(u, share)| serde_json::json!({
                                    "upstream": policy.upstreams[u.index()].name, "share": share
                                })).collect::<Vec<_>>()
                            }),
                            zbin::model::Action::Static { root, .. } => serde_json::json!({"static": root}),
                            zbin::model::Action::Redirect { status, .. } => serde_json::json!({"redirect": status}),
                            zbin::model::Action::Respond { status, .. } => serde_json::json!({"respond": status}),
                            zbin::model::Action::NotFound => serde_json::Value::Null,
                        };
                        serde_json::json!({"name": r.name, "priority": r.priority, "action": action})
                    })
                    .collect();
                let body = serde_json::json!({
                    "artifact": self.shared.path.display().to_string(),
                    "digest": loaded.digest,
                    "routes": routes,
                });
                response(200, "application/json", body.to_string().into_bytes())
            }
            _ => response(
                404,
                "text/plain",
                b"not found: try /metrics, /health, /ready or /routes\n".to_vec(),
            ),
        }
    }
}
