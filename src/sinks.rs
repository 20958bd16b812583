//! Third-party endpoints of the fixture's integrations — webhook targets,
//! LLM APIs, warehouses, log sinks — stubbed with wiremock in `serve` mode,
//! so a connector under test can send to its real (reserved-domain) URLs
//! through the egress proxy and every payload it sends is captured to
//! `captured.ndjson` for inspection (and for `trace`).
//!
//! Owns: one wiremock `MockServer` per endpoint host (on loopback), the
//! stub answers, and the capture file. Must not: contact any host but those
//! loopback stubs, or accept hosts outside the reserved test domains.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::model::{IntegrationKind, Org};

/// Largest payload accepted and captured (larger ones get 413).
pub const MAX_CAPTURE_BYTES: usize = 8 * 1024 * 1024;

/// What a stub answers like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// An OpenAI-style chat completions API.
    Llm,
    /// A log intake (answers 202).
    LogSink,
    /// A webhook or bulk load receiver.
    Receiver,
}

/// One stubbed host.
#[derive(Debug)]
pub struct Sink {
    pub host: String,
    /// `http` or `https`, as the fixture's URL says.
    pub scheme: String,
    pub port: u16,
    pub kind: SinkKind,
    pub country: String,
    /// The fixture URLs on this host, and the integrations sending to them.
    pub urls: Vec<String>,
    pub integrations: Vec<String>,
    server: MockServer,
}

impl Sink {
    /// The stub's own address (loopback).
    pub fn stub_uri(&self) -> String {
        self.server.uri()
    }
}

/// All stubs, by lower-case host.
#[derive(Debug)]
pub struct Sinks {
    by_host: BTreeMap<String, Sink>,
    capture: Mutex<std::io::BufWriter<std::fs::File>>,
    pub capture_path: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Sinks {
    /// Starts one stub per endpoint host of `org`'s integrations and opens
    /// `dir/captured.ndjson`.
    pub async fn start(org: &Org, dir: &Path) -> std::io::Result<Sinks> {
        let mut by_host: BTreeMap<String, Sink> = BTreeMap::new();
        for i in &org.integrations {
            let eps = [(&i.sends_to, false), (&i.log_sink, true)];
            for (ep, is_log) in eps {
                let Some(ep) = ep else { continue };
                let Ok(u) = url::Url::parse(&ep.url) else {
                    continue;
                };
                let Some(host) = u.host_str().map(str::to_ascii_lowercase) else {
                    continue;
                };
                // Fixture validation guarantees this; checked again because
                // this is the one place traffic could leave the machine.
                if !crate::fixture::is_reserved_domain(&host) {
                    continue;
                }
                let kind = match (is_log, i.kind) {
                    (true, _) => SinkKind::LogSink,
                    (false, IntegrationKind::Llm) => SinkKind::Llm,
                    _ => SinkKind::Receiver,
                };
                if let Some(s) = by_host.get_mut(&host) {
                    if !s.urls.contains(&ep.url) {
                        s.urls.push(ep.url.clone());
                    }
                    if !s.integrations.contains(&i.id) {
                        s.integrations.push(i.id.clone());
                    }
                    continue;
                }
                let server = MockServer::start().await;
                stub(kind).mount(&server).await;
                by_host.insert(
                    host.clone(),
                    Sink {
                        host,
                        scheme: u.scheme().to_owned(),
                        port: u.port_or_known_default().unwrap_or(443),
                        kind,
                        country: ep.country.clone(),
                        urls: vec![ep.url.clone()],
                        integrations: vec![i.id.clone()],
                        server,
                    },
                );
            }
        }
        let capture_path = dir.join("captured.ndjson");
        let file = std::fs::File::create(&capture_path)?;
        Ok(Sinks {
            by_host,
            capture: Mutex::new(std::io::BufWriter::new(file)),
            capture_path,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    pub fn get(&self, host: &str) -> Option<&Sink> {
        self.by_host.get(&host.to_ascii_lowercase())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Sink> {
        self.by_host.values()
    }

    /// The `sinks` entry of `serve.json`.
    pub fn describe(&self) -> serde_json::Value {
        json!(
            self.iter()
                .map(|s| json!({
                    "host": s.host,
                    "urls": s.urls,
                    "integrations": s.integrations,
                    "kind": s.kind,
                    "country": s.country,
                    "stub_url": s.stub_uri(),
                }))
                .collect::<Vec<_>>()
        )
    }

    /// Captures `req` (sent by `peer` to `host`) and answers it with the
    /// host's stub.
    pub async fn forward(
        &self,
        host: &str,
        peer: SocketAddr,
        t_ms: i64,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> HttpResponse {
        let Some(sink) = self.get(host) else {
            return text(StatusCode::BAD_GATEWAY, "no stub for this host\n");
        };
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_CAPTURE_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "leakdrill sink stub: payload over 8 MiB\n",
                );
            }
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let line = json!({
            "t_ms": t_ms,
            "source_ip": peer.ip().to_string(),
            "host": sink.host,
            "scheme": sink.scheme,
            "country": sink.country,
            "integrations": sink.integrations,
            "method": parts.method.as_str(),
            "path": path,
            "content_type": content_type,
            "user_agent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()),
            "bytes": bytes.len(),
            "body": String::from_utf8_lossy(&bytes),
        });
        if let Ok(mut c) = self.capture.lock() {
            let _ = writeln!(c, "{line}");
            let _ = c.flush();
        }
        let mut out = hyper::Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", sink.stub_uri()));
        for (k, v) in &parts.headers {
            if k != "host" && k != "proxy-connection" && k != "proxy-authorization" {
                out = out.header(k, v);
            }
        }
        let Ok(out) = out.body(Full::new(bytes)) else {
            return text(StatusCode::BAD_REQUEST, "malformed request\n");
        };
        match self.client.request(out).await {
            Ok(resp) => {
                let (p, b) = resp.into_parts();
                let body = b.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                HttpResponse::from_parts(p, Body::from(body))
            }
            Err(e) => text(
                StatusCode::BAD_GATEWAY,
                &format!("leakdrill sink stub unreachable: {e}\n"),
            ),
        }
    }
}

/// The stub's answer for a kind of endpoint.
fn stub(kind: SinkKind) -> Mock {
    let resp = match kind {
        SinkKind::Llm => ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-leakdrill-stub",
            "object": "chat.completion",
            "created": 0,
            "model": "leakdrill-stub",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "[leakdrill stub] summary withheld: this endpoint is a local test double."},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        })),
        SinkKind::LogSink => ResponseTemplate::new(202).set_body_json(json!({"status": "accepted"})),
        SinkKind::Receiver => ResponseTemplate::new(200).set_body_json(json!({"ok": true})),
    };
    Mock::given(any()).respond_with(resp)
}

fn text(status: StatusCode, t: &str) -> HttpResponse {
    let mut r = HttpResponse::new(Body::from(t.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
