//! Detection under test: Sigma rules and correlations (the built-in pack in
//! `rules/`, or `--rules DIR`) evaluated over the telemetry as it is
//! *delivered* — after chaos delays, drops and duplicates — with each
//! event's own timestamp for correlation windows. Events are Sigma documents
//! with Salesforce's Real-Time Event Monitoring field names and the
//! logsource `product: salesforce`, `service: <object, lower case>`.
//!
//! rsigma parses and validates every pack. Evaluation has two backends:
//! [`compiled`] (the default: predicates over typed events, incremental
//! windows) and rsigma's `CorrelationEngine` (the fallback for packs using
//! features the compiler does not support, and the oracle the compiled
//! backend is tested against).
//!
//! Owns: rule loading, backend choice, the event → document mapping,
//! alerts. Must not: see ground truth (actors, injections) or change the
//! org.

pub mod compiled;
pub mod view;

use std::path::Path;

use rsigma_eval::event::JsonEvent;
use rsigma_eval::{CorrelationConfig, CorrelationEngine, LogSourceExtractor};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::sfdc::Event;
use crate::sfdc::telemetry::EventKind;

pub use compiled::Unsupported;
pub use view::Delivered;

/// The built-in pack, compiled in (the files in `rules/`).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "proxy_destination_country_change.yml",
        include_str!("../../rules/proxy_destination_country_change.yml"),
    ),
    (
        "proxy_dlp_sensitive_identifiers.yml",
        include_str!("../../rules/proxy_dlp_sensitive_identifiers.yml"),
    ),
    (
        "proxy_integration_second_destination.yml",
        include_str!("../../rules/proxy_integration_second_destination.yml"),
    ),
    (
        "sf_api_query_volume_per_user.yml",
        include_str!("../../rules/sf_api_query_volume_per_user.yml"),
    ),
    (
        "sf_bulk_export_after_password_login.yml",
        include_str!("../../rules/sf_bulk_export_after_password_login.yml"),
    ),
    (
        "sf_failed_login_spray.yml",
        include_str!("../../rules/sf_failed_login_spray.yml"),
    ),
    (
        "sf_login_cli_user_agent.yml",
        include_str!("../../rules/sf_login_cli_user_agent.yml"),
    ),
    (
        "sf_login_new_source_ip_for_user.yml",
        include_str!("../../rules/sf_login_new_source_ip_for_user.yml"),
    ),
    (
        "sf_report_export_pii_columns.yml",
        include_str!("../../rules/sf_report_export_pii_columns.yml"),
    ),
    (
        "sf_sandbox_refresh_without_masking.yml",
        include_str!("../../rules/sf_sandbox_refresh_without_masking.yml"),
    ),
    (
        "sf_session_used_from_second_ip.yml",
        include_str!("../../rules/sf_session_used_from_second_ip.yml"),
    ),
    (
        "sf_view_all_data_assigned.yml",
        include_str!("../../rules/sf_view_all_data_assigned.yml"),
    ),
];

/// Most rule files read from a directory.
pub const MAX_RULE_FILES: usize = 10_000;
/// Largest rule file read.
pub const MAX_RULE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: {message}\n  = hint: {hint}")]
    Invalid {
        file: String,
        message: String,
        hint: &'static str,
    },
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{0}: more than {MAX_RULE_FILES} rule files")]
    TooMany(String),
}

/// Rule files, by name, in name order.
#[derive(Debug, Clone)]
pub struct Rules {
    pub files: Vec<(String, String)>,
}

impl Rules {
    pub fn builtin() -> Rules {
        Rules {
            files: BUILTIN
                .iter()
                .map(|(n, t)| (format!("rules/{n}"), (*t).to_owned()))
                .collect(),
        }
    }

    /// Every `*.yml`/`*.yaml` file directly in `dir`, in name order. An
    /// empty directory is a valid, empty pack (it detects nothing).
    pub fn load_dir(dir: &Path) -> Result<Rules, RuleError> {
        let io = |cause| RuleError::Io {
            path: dir.display().to_string(),
            cause,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        if paths.len() > MAX_RULE_FILES {
            return Err(RuleError::TooMany(dir.display().to_string()));
        }
        paths.sort();
        let mut files = Vec::new();
        for p in paths {
            let name = p.display().to_string();
            let meta = std::fs::metadata(&p).map_err(|cause| RuleError::Io {
                path: name.clone(),
                cause,
            })?;
            if !meta.is_file() || meta.len() > MAX_RULE_BYTES {
                return Err(RuleError::Invalid {
                    file: name,
                    message: "not a regular file of at most 1 MiB".into(),
                    hint: "rule files are small YAML documents",
                });
            }
            let text = std::fs::read_to_string(&p).map_err(|cause| RuleError::Io {
                path: name.clone(),
                cause,
            })?;
            files.push((name, text));
        }
        Ok(Rules { files })
    }

    /// Parses and compiles every file; the first bad file is the error.
    /// Uses the compiled backend unless the pack needs a feature it does
    /// not support (then rsigma; see [`Detector::backend`]).
    pub fn detector(&self) -> Result<Detector, RuleError> {
        self.detector_with(Backend::Compiled)
    }

    /// [`Rules::detector`] with the backend chosen: `Rsigma` forces
    /// rsigma's engine (the differential tests' oracle); `Compiled` is the
    /// default, falling back to rsigma when it cannot compile the pack.
    /// rsigma parses and validates the pack either way, so both accept and
    /// reject the same files with the same errors.
    pub fn detector_with(&self, backend: Backend) -> Result<Detector, RuleError> {
        // rsigma copies the first `rsigma.suppress` custom attribute it
        // meets into the engine-wide default unless one is set: pin the
        // default to "no suppression" so the attribute stays per rule.
        let mut engine = CorrelationEngine::new(CorrelationConfig {
            suppress: Some(0),
            ..CorrelationConfig::default()
        });
        engine.set_logsource_extractor(Some(LogSourceExtractor::new()));
        let mut count = 0;
        let mut colls = Vec::with_capacity(self.files.len());
        for (file, text) in &self.files {
            let coll = rsigma_parser::parse_sigma_yaml(text).map_err(|e| RuleError::Invalid {
                file: file.clone(),
                message: e.to_string(),
                hint: "see rules/README.md for the Sigma subset and the Salesforce field names",
            })?;
            if let Some(e) = coll.errors.first() {
                return Err(RuleError::Invalid {
                    file: file.clone(),
                    message: e.to_string(),
                    hint: "each YAML document must be a Sigma rule or correlation",
                });
            }
            count += coll.rules.len() + coll.correlations.len();
            engine
                .add_collection(&coll)
                .map_err(|e| RuleError::Invalid {
                    file: file.clone(),
                    message: e.to_string(),
                    hint: "check field modifiers, condition names and correlation rule references",
                })?;
            colls.push(coll);
        }
        let (inner, fallback) = match backend {
            Backend::Rsigma => (Inner::Rsigma(Box::new(engine)), None),
            Backend::Compiled => match compiled::Compiled::new(&colls) {
                Ok(c) => (Inner::Compiled(Box::new(c)), None),
                Err(why) => (Inner::Rsigma(Box::new(engine)), Some(why)),
            },
        };
        Ok(Detector {
            inner,
            count,
            fallback,
        })
    }
}

/// How a [`Detector`] evaluates rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Compiled predicates over typed events, incremental windows.
    Compiled,
    /// rsigma's `CorrelationEngine` over JSON documents.
    Rsigma,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Compiled => "compiled",
            Backend::Rsigma => "rsigma",
        }
    }
}

enum Inner {
    Compiled(Box<compiled::Compiled>),
    Rsigma(Box<CorrelationEngine>),
}

/// The loaded pack, with its correlation state.
pub struct Detector {
    inner: Inner,
    count: usize,
    /// Why the compiled backend was not used (when it was asked for).
    fallback: Option<Unsupported>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Detector");
        d.field("rules", &self.count)
            .field("backend", &self.backend().as_str());
        if let Some(why) = &self.fallback {
            d.field("fallback", &why.to_string());
        }
        d.finish()
    }
}

/// One alert: which rule, on which event, naming which entities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub rule_id: String,
    pub title: String,
    pub level: String,
    /// The event that completed the match.
    pub event_id: String,
    pub user: Option<String>,
    pub session_key: Option<String>,
    pub source_ip: Option<String>,
    pub app: Option<String>,
    /// Correlation group (`Username=…`), empty for single-event rules.
    pub group: Vec<(String, String)>,
}

impl Alert {
    /// An alert naming the record's entities: each from the correlation
    /// group first, then from the record (`field`); Salesforce names first,
    /// then the egress proxy's. Both backends build their alerts here.
    pub(crate) fn naming(
        rule_id: &str,
        title: &str,
        level: &str,
        group: Vec<(String, String)>,
        field: impl Fn(&str) -> Option<String>,
    ) -> Alert {
        let pick = |fields: &[&str]| {
            fields.iter().find_map(|f| {
                group
                    .iter()
                    .find(|(k, _)| k == f)
                    .map(|(_, v)| v.clone())
                    .or_else(|| field(f))
            })
        };
        Alert {
            rule_id: rule_id.to_owned(),
            title: title.to_owned(),
            level: level.to_owned(),
            event_id: pick(&["EventIdentifier", "x-request-id"]).unwrap_or_default(),
            user: pick(&["Username", "cs-username"]),
            session_key: pick(&["SessionKey"]),
            source_ip: pick(&["SourceIp", "c-ip"]),
            app: pick(&["Application"]),
            group,
        }
    }
}

impl Detector {
    pub fn rule_count(&self) -> usize {
        self.count
    }

    /// The backend evaluating the rules.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Compiled(_) => Backend::Compiled,
            Inner::Rsigma(_) => Backend::Rsigma,
        }
    }

    /// Why the compiled backend fell back to rsigma (`None`: it did not,
    /// or rsigma was forced).
    pub fn fallback_reason(&self) -> Option<&Unsupported> {
        self.fallback.as_ref()
    }

    /// Feeds one delivered event; returns the alerts it completes. Rules of
    /// level `informational` feed correlations and never alert.
    pub fn observe(&mut self, ev: &Event) -> Vec<Alert> {
        self.observe_delivered(Delivered::Event(ev), ev.t_ms)
    }

    /// Feeds one Sigma document whose event happened at `t_ms` (ms since
    /// the epoch; correlation windows use it).
    pub fn observe_document(&mut self, doc: &Value, t_ms: i64) -> Vec<Alert> {
        self.observe_delivered(Delivered::Document(doc), t_ms)
    }

    /// Feeds one delivered record whose event happened at `t_ms`.
    pub fn observe_delivered(&mut self, d: Delivered<'_>, t_ms: i64) -> Vec<Alert> {
        match &mut self.inner {
            Inner::Compiled(c) => c.observe(d, t_ms),
            Inner::Rsigma(engine) => rsigma_observe(engine, &d.document(), t_ms),
        }
    }
}

/// rsigma's evaluation of one document, mapped to alerts.
fn rsigma_observe(engine: &mut CorrelationEngine, doc: &Value, t_ms: i64) -> Vec<Alert> {
    let event = JsonEvent::borrow(doc);
    let result = engine.process_event_at(&event, t_ms.div_euclid(1000));
    let mut out = Vec::new();
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    for r in result.iter() {
        let level = r.header.level.map_or("medium", |l| l.as_str());
        if level == "informational" {
            continue;
        }
        let group = r
            .as_correlation()
            .map(|c| c.group_key.clone())
            .unwrap_or_default();
        let rule_id = r.header.rule_id.as_deref().unwrap_or(&r.header.rule_title);
        out.push(Alert::naming(
            rule_id,
            &r.header.rule_title,
            level,
            group,
            s,
        ));
    }
    out
}

/// Why a detector under test stopped answering; the run goes on without it
/// and the verdict says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectorFault {
    /// `crashed`, `timeout` or `malformed` (`fault` in JSON, as in the
    /// run log's `detector_fault` line).
    #[serde(rename = "fault")]
    pub kind: &'static str,
    pub detail: String,
}

impl DetectorFault {
    pub fn crashed(detail: impl Into<String>) -> DetectorFault {
        DetectorFault {
            kind: "crashed",
            detail: detail.into(),
        }
    }
    pub fn timeout(detail: impl Into<String>) -> DetectorFault {
        DetectorFault {
            kind: "timeout",
            detail: detail.into(),
        }
    }
    pub fn malformed(detail: impl Into<String>) -> DetectorFault {
        DetectorFault {
            kind: "malformed",
            detail: detail.into(),
        }
    }
}

/// A response action a detector asked for (protocol `action` lines): the
/// scenario's action names and target keys, validated by the simulator
/// against the scenario (`scenario::adhoc_action`) and carried out through
/// the containment door like a playbook action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// `revoke_refresh_tokens`, `freeze_user`, … (scenario `do:` names).
    pub action: String,
    /// The target object as sent (`{"user": …}`, `{"step": …}`, …).
    pub target: Value,
    /// Latency before the call (ms, ≥ 0).
    pub after_ms: i64,
}

/// A detector under test as the simulator drives it: one delivered record
/// (a typed event, or a Sigma document) at a time, in delivery order, in lock-step with the virtual
/// clock. The built-in Sigma [`Detector`] and external programs
/// (`external::External`) implement it. Every method but `observe` has a
/// default that does nothing, so a detector without ticks or actions (the
/// Sigma pack) adds nothing to the run.
pub trait Detect {
    /// Called once before the first event (run offset 0).
    fn start(&mut self, _scenario: &str, _seed: u64, _start_ms: i64) -> Result<(), DetectorFault> {
        Ok(())
    }

    /// Feeds one delivered record (event time `t_ms`, ms since the epoch);
    /// returns the alerts it completes. A detector that needs the Sigma
    /// document builds it ([`Delivered::document`]).
    fn observe(&mut self, d: Delivered<'_>, t_ms: i64) -> Result<Vec<Alert>, DetectorFault>;

    /// [`Detect::observe`] also told the virtual clock `now_ms` (ms since
    /// the epoch) at delivery.
    fn observe_at(
        &mut self,
        d: Delivered<'_>,
        t_ms: i64,
        _now_ms: i64,
    ) -> Result<Vec<Alert>, DetectorFault> {
        self.observe(d, t_ms)
    }

    /// Virtual-clock tick period (ms), `None`: no ticks (no tick tasks are
    /// scheduled, so the run log is unchanged).
    fn tick_every_ms(&self) -> Option<i64> {
        None
    }

    /// The virtual clock reached `now_ms` (ms since the epoch).
    fn tick(&mut self, _now_ms: i64) -> Result<Vec<Alert>, DetectorFault> {
        Ok(Vec::new())
    }

    /// Response actions asked for since the last call (in order).
    fn take_actions(&mut self) -> Vec<ActionRequest> {
        Vec::new()
    }
}

impl Detect for Detector {
    fn observe(&mut self, d: Delivered<'_>, t_ms: i64) -> Result<Vec<Alert>, DetectorFault> {
        Ok(self.observe_delivered(d, t_ms))
    }
}

/// The Real-Time Event Monitoring object an event is stored as.
pub fn service(ev: &Event) -> &'static str {
    match ev.kind {
        EventKind::Login => "LoginEvent",
        EventKind::Logout => "LogoutEvent",
        EventKind::Query => "ApiEvent",
        EventKind::BulkResult => "BulkApiResultEvent",
        EventKind::Report => "ReportEvent",
        EventKind::Setup
            if matches!(
                ev.operation.as_deref(),
                Some("AssignedToUsers" | "UnassignedFromUsers")
            ) =>
        {
            "PermissionSetEvent"
        }
        EventKind::Setup => "SetupAuditTrail",
        EventKind::Rest => "RestApi",
    }
}

/// The Sigma document for an event: its Event Monitoring fields plus
/// `product`/`service` and the object-specific names (`Application`,
/// `PermissionList`, `ColumnHeaders`, `ReportId`).
pub fn document(ev: &Event) -> Value {
    let mut m = match serde_json::to_value(ev) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.remove("t_ms");
    let svc = service(ev);
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("EventType", json!(svc));
    put("product", json!("salesforce"));
    put("service", Value::String(svc.to_ascii_lowercase()));
    if let Some(a) = &ev.connected_app_name {
        put("Application", json!(a));
    }
    let detail = ev.detail.as_deref().unwrap_or("");
    if svc == "PermissionSetEvent" {
        let perms = detail
            .split('[')
            .nth(1)
            .and_then(|x| x.split(']').next())
            .unwrap_or("");
        put("PermissionList", json!(perms));
    }
    if svc == "SetupAuditTrail" {
        // The columns a SIEM polling SetupAuditTrail gets.
        let op = ev.operation.as_deref().unwrap_or("");
        let section = crate::sfdc::telemetry::audit_section(op);
        put("Action", Value::String(op.to_ascii_lowercase()));
        put("Section", json!(section));
        put("Display", json!(detail));
    }
    if svc == "ReportEvent" {
        for part in detail.split(';') {
            if let Some((k, v)) = part.split_once('=')
                && matches!(k, "ReportId" | "Name" | "ColumnHeaders")
            {
                put(k, json!(v));
            }
        }
    }
    Value::Object(m)
}

/// Request body size the egress proxy logs per record sent (one JSON
/// record of an integration payload, roughly).
pub const PROXY_BYTES_PER_RECORD: u64 = 600;

/// One outbound request as the egress proxy saw it.
#[derive(Debug, Clone, Copy)]
pub struct ProxySend<'a> {
    pub request_id: &'a str,
    pub t_ms: i64,
    pub client_ip: std::net::Ipv4Addr,
    /// The workload identity the proxy authenticated (the integration id).
    pub workload: &'a str,
    pub url: &'a str,
    /// Where the destination is served from (the proxy's geo-IP).
    pub country: &'a str,
    /// Records in the body, and the data classes the proxy's DLP found.
    pub records: u64,
    pub classes: &'a [&'a str],
    /// Refused by a deny rule (`block_egress`).
    pub blocked: bool,
}

/// The Sigma document of an egress proxy log record: `category: proxy`,
/// W3C extended log names (`c-ip`, `cs-username`, `cs-host`, `c-uri`,
/// `sc-status`, `s-action`, …) and the proxy's enrichments as `x-` fields
/// (`x-dst-country`, `x-dlp-classes`, `x-dlp-records`).
pub fn proxy_document(p: &ProxySend<'_>) -> Value {
    let host = crate::fixture::endpoint_host(p.url).unwrap_or_default();
    let scheme = p.url.split_once("://").map_or("", |(s, _)| s);
    json!({
        "category": "proxy",
        "product": "egress_proxy",
        "timestamp": crate::sfdc::sf_datetime(p.t_ms),
        "x-request-id": p.request_id,
        "c-ip": p.client_ip.to_string(),
        "cs-username": p.workload,
        "cs-method": "POST",
        "cs-host": host,
        "c-uri": p.url,
        "c-uri-scheme": scheme,
        "cs-bytes": p.records.saturating_mul(PROXY_BYTES_PER_RECORD),
        "sc-status": if p.blocked { 403 } else { 200 },
        "s-action": if p.blocked { "blocked" } else { "allowed" },
        "x-dst-country": p.country,
        "x-dlp-classes": p.classes.join(","),
        "x-dlp-records": p.records,
    })
}
