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

impl EventKind {
    /// The variant name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "Login",
            EventKind::Logout => "Logout",
            EventKind::Query => "Query",
            EventKind::BulkResult => "BulkResult",
            EventKind::Rest => "Rest",
            EventKind::Setup => "Setup",
            EventKind::Report => "Report",
        }
    }
}

impl Event {
    /// Appends the event as one JSON object, byte for byte what
    /// `serde_json::to_vec` writes (a unit test holds the two equal), for
    /// `serve`'s telemetry writer: serde's per-byte escaping of 200 record
    /// Ids per query page measured ~10 % of the server's CPU.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use super::query::write_json_str as text;
        fn key(out: &mut Vec<u8>, k: &str) {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
        }
        fn opt(out: &mut Vec<u8>, k: &str, v: Option<&str>) {
            key(out, k);
            match v {
                Some(v) => text(out, v),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn num(out: &mut Vec<u8>, k: &str, n: impl itoa::Integer) {
            key(out, k);
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
        out.extend_from_slice(b"{\"EventType\":");
        text(out, self.kind.as_str());
        num(out, "t_ms", self.t_ms);
        opt(out, "EventDate", Some(&self.event_date));
        opt(out, "EventIdentifier", Some(&self.event_identifier));
        opt(out, "RequestIdentifier", Some(&self.request_identifier));
        opt(out, "OrganizationId", Some(&self.organization_id));
        opt(out, "UserId", self.user_id.as_deref());
        opt(out, "Username", self.username.as_deref());
        opt(out, "SourceIp", Some(&self.source_ip));
        opt(out, "CountryIso", self.country_iso.as_deref());
        opt(out, "LoginUrl", Some(&self.login_url));
        opt(out, "SessionKey", self.session_key.as_deref());
        opt(out, "LoginKey", self.login_key.as_deref());
        opt(out, "ConnectedAppId", self.connected_app_id.as_deref());
        opt(out, "ConnectedAppName", self.connected_app_name.as_deref());
        opt(out, "Client", self.client.as_deref());
        opt(out, "UserAgent", self.user_agent.as_deref());
        opt(out, "HttpMethod", Some(&self.http_method));
        opt(out, "Uri", Some(&self.uri));
        num(out, "StatusCode", self.status_code);
        opt(out, "ApiType", Some(self.api_type));
        opt(out, "ApiVersion", self.api_version.as_deref());
        opt(out, "Operation", self.operation.as_deref());
        opt(out, "Query", self.query.as_deref());
        opt(out, "QueriedEntities", self.queried_entities.as_deref());
        num(out, "RowsProcessed", self.rows_processed);
        num(out, "RowsReturned", self.rows_returned);
        key(out, "Records");
        out.push(b'[');
        out.reserve(self.records.len() * 21);
        for (i, id) in self.records.iter().enumerate() {
            // Well-formed Ids are copied as they are, without escaping,
            // straight into `out` (a copy through a stack buffer stalled on
            // store forwarding, 200 times a page).
            match id.plain18() {
                Some(b) => {
                    out.extend_from_slice(if i == 0 { b"\"" } else { b",\"" });
                    out.extend_from_slice(b);
                    out.push(b'"');
                }
                None => {
                    if i > 0 {
                        out.push(b',');
                    }
                    text(out, id.as_str());
                }
            }
        }
        out.push(b']');
        opt(out, "LoginType", self.login_type);
        opt(out, "Status", self.status.as_deref());
        opt(out, "ErrorCode", self.error_code.as_deref());
        opt(out, "Detail", self.detail.as_deref());
        out.push(b'}');
    }
}

/// Cap on record Ids kept per event (ApiEvent.Records holds 250,000 chars).
pub const MAX_RECORD_IDS: usize = 10_000;

impl Event {
    pub fn new(seq: u64, t_ms: i64, req: &Request, org_id: &str, seed: Seed) -> Event {
        let mut ev = Event::unnumbered(t_ms, req, org_id);
        ev.number(seq, req, seed);
        ev
    }

    /// Gives the event its sequence number and the identifiers derived from
    /// it (a request's own `X-SFDC-Request-Id` is kept).
    pub fn number(&mut self, seq: u64, req: &Request, seed: Seed) {
        let h1 = mix(seed.fork("event").0 ^ seq);
        let h2 = mix(h1 ^ 0x5eed);
        self.seq = seq;
        // A version-4 UUID, `{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}`, written
        // in one allocation (one per event).
        let hex = |out: &mut String, v: u64, digits: u32| {
            for i in (0..digits).rev() {
                out.push(char::from(
                    b"0123456789abcdef"[((v >> (4 * i)) & 0xf) as usize],
                ));
            }
        };
        let mut uuid = String::with_capacity(36);
        hex(&mut uuid, h1 >> 32, 8);
        uuid.push('-');
        hex(&mut uuid, (h1 >> 16) & 0xffff, 4);
        uuid.push_str("-4");
        hex(&mut uuid, h1 & 0xfff, 3);
        uuid.push('-');
        hex(&mut uuid, ((h2 >> 48) & 0x3fff) | 0x8000, 4);
        uuid.push('-');
        hex(&mut uuid, h2 & 0xffff_ffff_ffff, 12);
        self.event_identifier = uuid;
        self.request_identifier = req
            .header("x-sfdc-request-id")
            .map(|s| super::clip(s, 32))
            .unwrap_or_else(|| {
                let mut id = String::with_capacity(22);
                id.push('4');
                push_base62(&mut id, mix(h2 ^ seq), 21);
                id
            });
    }

    /// The event before [`Event::number`]: sequence 0, identifiers empty.
    pub fn unnumbered(t_ms: i64, req: &Request, org_id: &str) -> Event {
        let client = req
            .header("sforce-call-options")
            .and_then(|v| v.split(',').find_map(|p| p.trim().strip_prefix("client=")))
            .map(str::to_owned);
        Event {
            seq: 0,
            kind: EventKind::Rest,
            t_ms,
            event_date: sf_datetime(t_ms),
            event_identifier: String::new(),
            request_identifier: String::new(),
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
            user_agent: req.header("user-agent").map(|s| super::clip(s, 512)),
            http_method: req.method.as_str().to_owned(),
            uri: super::clip(&req.path, 1024),
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
pub fn base62(h: u64, n: usize) -> String {
    let mut s = String::with_capacity(n);
    push_base62(&mut s, h, n);
    s
}

/// Appends [`base62`]`(h, n)` to `s`.
pub fn push_base62(s: &mut String, mut h: u64, n: usize) {
    const A: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // Ten characters per 64-bit mix of (seed, block), so every block is as
    // random as the first (re-mixing the exhausted remainder would not be).
    let seed = h;
    for i in 0..n {
        if i % 10 == 0 {
            h = mix(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        s.push(A[(h % 62) as usize] as char);
        h /= 62;
    }
}

/// The Setup Audit Trail `Section` of a setup change, by its operation.
pub fn audit_section(operation: &str) -> &'static str {
    if operation.starts_with("sandbox") {
        "Sandboxes"
    } else {
        "Manage Users"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfdc::Method;
    use proptest::prelude::*;

    fn event(text: &str, n: u64, some: bool) -> Event {
        let req = Request::new(Method::Get, "/services/data/v62.0/query");
        let mut e = Event::new(n, 1_772_800_000_000, &req, "00D000000000001AAA", Seed(n));
        let o = |s: &str| some.then(|| s.to_owned());
        e.kind = [EventKind::Login, EventKind::Query, EventKind::Setup][n as usize % 3];
        e.user_id = o("005000000000001AAA");
        e.username = o(text);
        e.country_iso = o("DE");
        e.session_key = o(text);
        e.login_key = o("lk");
        e.connected_app_id = o("0H4000000000001AAA");
        e.connected_app_name = o(text);
        e.client = o("dataloader");
        e.user_agent = o(text);
        e.http_method = text.to_owned();
        e.uri = text.to_owned();
        e.status_code = (n % 600) as u16;
        e.api_version = o("62.0");
        e.operation = o(text);
        e.query = o(text);
        e.queried_entities = o("Contact");
        e.rows_processed = n;
        e.rows_returned = n / 2;
        e.records = (0..n % 5)
            .map(|_| crate::sfid::Id::new("003000000000001AAA"))
            .collect();
        e.login_type = some.then_some("Remote Access 2.0");
        e.status = o(text);
        e.error_code = o(text);
        e.detail = o(text);
        e
    }

    proptest! {
        /// Identifiers written by hand are what `format!` wrote before.
        #[test]
        fn identifiers_are_the_formatted_ones(seq in any::<u64>(), seed in any::<u64>()) {
            let req = Request::new(Method::Get, "/services/data/v62.0/query");
            let e = Event::new(seq, 0, &req, "00D000000000001AAA", Seed(seed));
            let h1 = mix(Seed(seed).fork("event").0 ^ seq);
            let h2 = mix(h1 ^ 0x5eed);
            prop_assert_eq!(
                &e.event_identifier,
                &format!(
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    (h1 >> 32) as u32,
                    (h1 >> 16) as u16,
                    (h1 & 0xfff) as u16,
                    ((h2 >> 48) as u16 & 0x3fff) | 0x8000,
                    h2 & 0xffff_ffff_ffff
                )
            );
            prop_assert_eq!(&e.request_identifier, &format!("4{}", base62(mix(h2 ^ seq), 21)));
        }

        /// The direct writer and serde agree byte for byte, whatever the
        /// strings hold (quotes, control characters, non-ASCII).
        #[test]
        fn write_json_is_serde(text in "\\PC{0,40}|[\"\\\\\u{0}-\u{1f}a-z]{0,20}", n in 0u64..1000, some: bool) {
            let e = event(&text, n, some);
            let mut mine = Vec::new();
            e.write_json(&mut mine);
            let serde = serde_json::to_vec(&e).expect("serialise");
            prop_assert_eq!(String::from_utf8_lossy(&mine), String::from_utf8_lossy(&serde));
        }
    }
}
