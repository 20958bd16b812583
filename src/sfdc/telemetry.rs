//! The internal telemetry event: exactly one per request, carrying the
//! fields Salesforce's Event Monitoring uses (`EventDate`, `EventIdentifier`,
//! `SessionKey`, `LoginKey`, `SourceIp`, `Query`, `RowsProcessed`, …) under
//! their Salesforce names when serialised. Later stages fan it out into
//! Real-Time Event Monitoring objects and EventLogFile rows.
//!
//! Owns: the event type and its identifiers. Must not: deliver, store or
//! evaluate events.

use serde::Serialize;

use super::{Request, sf_datetime};
use crate::seed::{Seed, mix};

/// What a request was, for fan-out into event objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// A login attempt (SOAP login or an OAuth token grant).
    Login,
    /// Token revocation / session end.
    Logout,
    /// A query, queryMore or queryAll (ApiEvent).
    Query,
    /// A Bulk API result download (BulkApiResultEvent).
    BulkResult,
    /// Any other API call (describe, CRUD, limits…): RestApi log only.
    Rest,
    /// A setup change through the API (freeze, permission set assignment…).
    Setup,
    /// A report run or export (ReportEvent; ELF Report / ReportExport).
    Report,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    #[serde(skip)]
    pub seq: u64,
    #[serde(rename = "EventType")]
    pub kind: EventKind,
    /// Virtual time in ms since the epoch.
    #[serde(rename = "t_ms")]
    pub t_ms: i64,
    pub event_date: String,
    pub event_identifier: String,
    pub request_identifier: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub source_ip: String,
    /// Country of the source network, from the fixture's networks.
    pub country_iso: Option<String>,
    /// Host the client addressed (`login.salesforce.com`, `127.0.0.1:8443`).
    pub login_url: String,
    pub session_key: Option<String>,
    pub login_key: Option<String>,
    pub connected_app_id: Option<String>,
    pub connected_app_name: Option<String>,
    pub client: Option<String>,
    pub user_agent: Option<String>,
    pub http_method: String,
    pub uri: String,
    pub status_code: u16,
    pub api_type: &'static str,
    pub api_version: Option<String>,
    pub operation: Option<String>,
    pub query: Option<String>,
    pub queried_entities: Option<String>,
    pub rows_processed: u64,
    pub rows_returned: u64,
    /// Ids of records returned (capped at [`MAX_RECORD_IDS`]).
    pub records: Vec<crate::sfid::Id>,
    /// Classes of the field values the response carried (ground truth for
    /// exposure scoring; not a Salesforce field, never serialised).
    #[serde(skip)]
    pub classes: crate::model::ClassSet,
    pub login_type: Option<&'static str>,
    /// `Success`, `Invalid Password`, … for logins.
    pub status: Option<String>,
    pub error_code: Option<String>,
    /// Free-form detail of setup changes (`UserLogin.IsFrozen=true`, …).
    pub detail: Option<String>,
}

/// Cap on record Ids kept per event (ApiEvent.Records holds 250,000 chars).
pub const MAX_RECORD_IDS: usize = 10_000;

impl Event {
    pub fn new(seq: u64, t_ms: i64, req: &Request, org_id: &str, seed: Seed) -> Event {
        let h1 = mix(seed.fork("event").0 ^ seq);
        let h2 = mix(h1 ^ 0x5eed);
        let event_identifier = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (h1 >> 32) as u32,
            (h1 >> 16) as u16,
            (h1 & 0xfff) as u16,
            ((h2 >> 48) as u16 & 0x3fff) | 0x8000,
            h2 & 0xffff_ffff_ffff
        );
        let request_identifier = req
            .header("x-sfdc-request-id")
            .map(|s| s.chars().take(32).collect())
            .unwrap_or_else(|| format!("4{}", base62(mix(h2 ^ seq), 21)));
        let client = req
            .header("sforce-call-options")
            .and_then(|v| v.split(',').find_map(|p| p.trim().strip_prefix("client=")))
            .map(str::to_owned);
        Event {
            seq,
            kind: EventKind::Rest,
            t_ms,
            event_date: sf_datetime(t_ms),
            event_identifier,
            request_identifier,
            organization_id: org_id.to_owned(),
            user_id: None,
            username: None,
            source_ip: req.source_ip.to_string(),
            country_iso: None,
            login_url: req
                .base_url
                .split("://")
                .nth(1)
                .unwrap_or(&req.base_url)
                .to_owned(),
            session_key: None,
            login_key: None,
            connected_app_id: None,
            connected_app_name: None,
            client,
            user_agent: req
                .header("user-agent")
                .map(|s| s.chars().take(512).collect()),
            http_method: req.method.as_str().to_owned(),
            uri: req.path.chars().take(1024).collect(),
            status_code: 0,
            api_type: "N/A",
            api_version: None,
            operation: None,
            query: None,
            queried_entities: None,
            rows_processed: 0,
            rows_returned: 0,
            records: Vec::new(),
            classes: Default::default(),
            login_type: None,
            status: None,
            error_code: None,
            detail: None,
        }
    }
}

/// `n` base62 characters from a hash (for request ids and keys).
pub fn base62(mut h: u64, n: usize) -> String {
    const A: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // Ten characters per 64-bit mix of (seed, block), so every block is as
    // random as the first (re-mixing the exhausted remainder would not be).
    let seed = h;
    let mut s = String::with_capacity(n);
    for i in 0..n {
        if i % 10 == 0 {
            h = mix(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        s.push(A[(h % 62) as usize] as char);
        h /= 62;
    }
    s
}

/// The Setup Audit Trail `Section` of a setup change, by its operation.
pub fn audit_section(operation: &str) -> &'static str {
    if operation.starts_with("sandbox") {
        "Sandboxes"
    } else {
        "Manage Users"
    }
}
