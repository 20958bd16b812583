//! Event Monitoring as a real org exposes it to a SIEM: the one internal
//! event per request fanned out into Real-Time Event Monitoring storage
//! objects (`LoginEvent`, `ApiEvent`, `BulkApiResultEventStore`,
//! `LogoutEvent`, `PermissionSetEventStore`, `ReportEvent`), `LoginHistory`,
//! `SetupAuditTrail`, and hourly `EventLogFile` CSVs (Login, Logout, Report, ReportExport,
//! RestApi, BulkApi2) that appear 3–6 h after their hour ends — all
//! queryable with SOQL through the normal REST API, with the real field
//! names and the real permissions.
//!
//! Owns: the fan-out and ELF rendering. Must not: create events (only
//! `handle` does) or keep more than [`MAX_STORED_EVENTS`] events or
//! [`MAX_STORED_RECORD_IDS`] record Ids.

use serde_json::json;

use super::schema::{TableKind, TableSchema};
use super::telemetry::EventKind;
use super::{Event, OrgState, Response, sf_datetime};
use crate::generate::write_csv_row;
use crate::model::{Effective, FieldType, SystemPermission};
use crate::seed::mix;
use crate::sfid;

/// Events retained for the storage objects and ELF (oldest dropped first).
pub const MAX_STORED_EVENTS: usize = 500_000;
/// Record Ids retained across those events (19 bytes each: ~190 MB), so a
/// server answering 200-record pages for hours stays bounded in memory
/// (500,000 such events would hold ~1.9 GB).
pub const MAX_STORED_RECORD_IDS: usize = 10_000_000;

/// The stored events, oldest first, and how many record Ids they hold.
#[derive(Debug, Default)]
pub struct EventRing {
    events: std::collections::VecDeque<std::sync::Arc<Event>>,
    record_ids: usize,
}

impl EventRing {
    /// Keeps `ev`, dropping the oldest events past either limit.
    fn push(&mut self, ev: std::sync::Arc<Event>) {
        self.record_ids += ev.records.len();
        self.events.push_back(ev);
        while self.events.len() > MAX_STORED_EVENTS
            || (self.record_ids > MAX_STORED_RECORD_IDS && self.events.len() > 1)
        {
            if let Some(old) = self.events.pop_front() {
                self.record_ids -= old.records.len();
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &std::sync::Arc<Event>> {
        self.events.iter()
    }
}
const HOUR_MS: i64 = 3_600_000;

pub fn schemas() -> Vec<TableSchema> {
    use FieldType::*;
    let common: &[(&str, FieldType)] = &[
        ("EventDate", Datetime),
        ("EventIdentifier", String),
        ("UserId", Reference),
        ("Username", String),
        ("SourceIp", String),
        ("LoginKey", String),
        ("SessionKey", String),
        ("CreatedDate", Datetime),
    ];
    let with = |extra: &[(&'static str, FieldType)]| -> Vec<(&'static str, FieldType)> {
        common
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    vec![
        TableSchema::standard(
            TableKind::LoginEvent,
            "LoginEvent",
            "0Lv",
            &with(&[
                ("LoginType", Picklist),
                ("Status", String),
                ("LoginUrl", String),
                ("Application", String),
                ("ApiType", String),
                ("ApiVersion", String),
                ("Browser", String),
                ("Platform", String),
                ("UserType", Picklist),
                ("RequestIdentifier", String),
                ("HttpMethod", String),
                ("CountryIso", String),
            ]),
        ),
        TableSchema::standard(
            TableKind::ApiEvent,
            "ApiEvent",
            "0Lz",
            &with(&[
                ("ApiType", String),
                ("ApiVersion", String),
                ("Client", String),
                ("ConnectedAppId", String),
                ("Application", String),
                ("Operation", String),
                ("Query", Textarea),
                ("QueriedEntities", String),
                ("Records", Textarea),
                ("RowsProcessed", Double),
                ("RowsReturned", Double),
                ("RequestIdentifier", String),
                ("UserAgent", String),
                ("PolicyOutcome", Picklist),
            ]),
        ),
        TableSchema::standard(
            TableKind::BulkApiResultEventStore,
            "BulkApiResultEventStore",
            "0Ly",
            &with(&[
                ("Query", Textarea),
                ("JobId", String),
                ("BatchId", String),
                ("Records", Textarea),
                ("RowsProcessed", Double),
                ("QueriedEntities", String),
                ("RequestIdentifier", String),
            ]),
        ),
        TableSchema::standard(
            TableKind::ReportEvent,
            "ReportEvent",
            "0Ln",
            &with(&[
                ("ColumnHeaders", Textarea),
                ("EventSource", Picklist),
                ("ExportFileFormat", String),
                ("IsScheduled", Boolean),
                ("Name", String),
                ("NumberOfColumns", Int),
                ("Operation", Picklist),
                ("QueriedEntities", String),
                ("Records", Textarea),
                ("ReportId", String),
                ("RowsProcessed", Double),
                ("RequestIdentifier", String),
                ("PolicyOutcome", Picklist),
            ]),
        ),
        TableSchema::standard(
            TableKind::LogoutEvent,
            "LogoutEvent",
            "0Lu",
            &with(&[("SessionLevel", Picklist), ("RequestIdentifier", String)]),
        ),
        TableSchema::standard(
            TableKind::PermissionSetEventStore,
            "PermissionSetEventStore",
            "0Lw",
            &with(&[
                ("Operation", Picklist),
                ("EventSource", Picklist),
                ("PermissionList", String),
                ("ParentNameList", String),
                ("UserIdList", String),
                ("RequestIdentifier", String),
            ]),
        ),
        TableSchema::standard(
            TableKind::LoginHistory,
            "LoginHistory",
            "0Ya",
            &[
                ("UserId", Reference),
                ("LoginTime", Datetime),
                ("LoginType", Picklist),
                ("LoginUrl", String),
                ("SourceIp", String),
                ("Status", String),
                ("Application", String),
                ("Browser", String),
                ("Platform", String),
                ("ApiType", String),
                ("ApiVersion", String),
                ("TlsProtocol", Picklist),
                ("CountryIso", String),
            ],
        ),
        TableSchema::standard(
            TableKind::SetupAuditTrail,
            "SetupAuditTrail",
            "0Ym",
            &[
                ("Action", String),
                ("Section", String),
                ("Display", String),
                ("CreatedDate", Datetime),
                ("CreatedById", Reference),
                ("DelegateUser", String),
                ("CreatedByContext", String),
            ],
        ),
        TableSchema::standard(
            TableKind::EventLogFile,
            "EventLogFile",
            "0AT",
            &[
                ("EventType", Picklist),
                ("LogDate", Datetime),
                ("Interval", Picklist),
                ("Sequence", Int),
                ("LogFile", String),
                ("LogFileLength", Double),
                ("LogFileContentType", String),
                ("LogFileFieldNames", Textarea),
                ("LogFileFieldTypes", Textarea),
                ("ApiVersion", Double),
                ("CreatedDate", Datetime),
                ("LastModifiedDate", Datetime),
                ("SystemModstamp", Datetime),
            ],
        ),
    ]
}

/// Who may read an Event Monitoring or audit object.
pub fn can_read(kind: TableKind, eff: &Effective) -> bool {
    match kind {
        TableKind::LoginHistory => eff.has(SystemPermission::ManageUsers),
        TableKind::SetupAuditTrail => {
            eff.has(SystemPermission::ViewSetup) || eff.has(SystemPermission::ManageUsers)
        }
        TableKind::EventLogFile => {
            eff.has(SystemPermission::ViewEventLogFiles) || eff.has(SystemPermission::ViewAllData)
        }
        _ => eff.has(SystemPermission::ViewRealTimeEventMonitoringData),
    }
}

/// A `Key=value` part of a report event's detail
/// (`ReportId=…;Name=…;ColumnHeaders=…`).
fn report_field(e: &Event, key: &str) -> String {
    e.detail
        .as_deref()
        .unwrap_or("")
        .split(';')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
        .to_owned()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The ELF event type a request is logged under, if any.
/// The EventLogFile type an event is written to, if any.
pub fn elf_type(e: &Event) -> Option<&'static str> {
    match (e.kind, e.api_type) {
        (EventKind::Login, _) => Some("Login"),
        (EventKind::Logout, _) => Some("Logout"),
        (EventKind::Report, _) if e.operation.as_deref() == Some("ReportExported") => {
            Some("ReportExport")
        }
        (EventKind::Report, _) => Some("Report"),
        (_, "REST") => Some("RestApi"),
        (_, "Bulk") => Some("BulkApi2"),
        _ => None,
    }
}

const LOGIN_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "RUN_TIME",
    "CPU_TIME",
    "URI",
    "SESSION_KEY",
    "LOGIN_KEY",
    "USER_TYPE",
    "REQUEST_STATUS",
    "DB_TOTAL_TIME",
    "LOGIN_STATUS",
    "USER_NAME",
    "SOURCE_IP",
    "BROWSER_TYPE",
    "API_TYPE",
    "API_VERSION",
    "CIPHER_SUITE",
    "TLS_PROTOCOL",
    "AUTHENTICATION_METHOD_REFERENCE",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
    "URI_ID_DERIVED",
];
const REST_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "RUN_TIME",
    "CPU_TIME",
    "URI",
    "SESSION_KEY",
    "LOGIN_KEY",
    "USER_TYPE",
    "REQUEST_STATUS",
    "DB_TOTAL_TIME",
    "ENTITY_NAME",
    "METHOD",
    "MEDIA_TYPE",
    "STATUS_CODE",
    "USER_AGENT",
    "ROWS_PROCESSED",
    "NUMBER_FIELDS",
    "DB_BLOCKS",
    "DB_CPU_TIME",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "CONNECTED_APP_ID",
    "CLIENT_NAME",
    "EXCEPTION_MESSAGE",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
    "URI_ID_DERIVED",
];
const BULK2_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "RUN_TIME",
    "CPU_TIME",
    "URI",
    "SESSION_KEY",
    "LOGIN_KEY",
    "JOB_ID",
    "OPERATION_TYPE",
    "ENTITY_TYPE",
    "JOB_STATUS",
    "NUMBER_RECORDS_PROCESSED",
    "NUMBER_RECORDS_FAILED",
    "RESULT_SIZE_MB",
    "ERROR_MESSAGE",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
    "URI_ID_DERIVED",
];
const LOGOUT_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "USER_TYPE",
    "SESSION_KEY",
    "LOGIN_KEY",
    "SESSION_LEVEL",
    "SOURCE_IP",
    "USER_INITIATED_LOGOUT",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
];

/// Expected set (reference §7.4; the ReportExport page was not fetched).
const REPORT_EXPORT_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "SESSION_KEY",
    "LOGIN_KEY",
    "CLIENT_IP",
    "URI",
    "USER_AGENT",
    "REPORT_DESCRIPTION",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "URI_ID_DERIVED",
];
/// `Report` adds row counts and the report's entity [DOC-ELF-REPORT].
const REPORT_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "RUN_TIME",
    "CPU_TIME",
    "URI",
    "SESSION_KEY",
    "LOGIN_KEY",
    "REQUEST_STATUS",
    "ENTITY_NAME",
    "REPORT_ID_DERIVED",
    "ROW_COUNT",
    "NUMBER_COLUMNS",
    "AVERAGE_ROW_SIZE",
    "DISPLAY_TYPE",
    "RENDERING_TYPE",
    "ORIGIN",
    "DB_BLOCKS",
    "DB_CPU_TIME",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
    "URI_ID_DERIVED",
];

fn columns(t: &str) -> &'static [&'static str] {
    match t {
        "Login" => LOGIN_COLUMNS,
        "ReportExport" => REPORT_EXPORT_COLUMNS,
        "Report" => REPORT_COLUMNS,
        "Logout" => LOGOUT_COLUMNS,
        "BulkApi2" => BULK2_COLUMNS,
        _ => REST_COLUMNS,
    }
}

/// `yyyyMMddHHmmss.SSS` (GMT), ELF's TIMESTAMP.
fn elf_timestamp(ms: i64) -> String {
    let s = sf_datetime(ms);
    format!(
        "{}{}{}{}{}{}.{}",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19],
        &s[20..23]
    )
}

fn login_status(status: &str) -> String {
    match status {
        "Success" => "LOGIN_NO_ERROR".into(),
        "Invalid Password" => "LOGIN_ERROR_INVALID_PASSWORD".into(),
        other => {
            let s: String = other
                .trim_start_matches("Failed: ")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("LOGIN_ERROR_{s}")
        }
    }
}

fn elf_row(t: &str, e: &Event) -> Vec<String> {
    let uid18 = opt(&e.user_id);
    let uid15: String = uid18.chars().take(15).collect();
    let ts = elf_timestamp(e.t_ms);
    let derived = format!("{}Z", &sf_datetime(e.t_ms)[..23]);
    let ok = if e.status_code < 400 { "S" } else { "F" };
    let cols = columns(t);
    cols.iter()
        .map(|c| match *c {
            "EVENT_TYPE" => t.to_owned(),
            "TIMESTAMP" => ts.clone(),
            "REQUEST_ID" => e.request_identifier.clone(),
            "ORGANIZATION_ID" => e.organization_id.chars().take(15).collect(),
            "USER_ID" => uid15.clone(),
            "RUN_TIME" | "CPU_TIME" | "DB_TOTAL_TIME" | "DB_BLOCKS" | "DB_CPU_TIME" => "1".into(),
            "URI" => e.uri.clone(),
            "SESSION_KEY" => opt(&e.session_key),
            "LOGIN_KEY" => opt(&e.login_key),
            "USER_TYPE" => "Standard".into(),
            "REQUEST_STATUS" => ok.into(),
            "LOGIN_STATUS" => login_status(e.status.as_deref().unwrap_or("")),
            "USER_NAME" => opt(&e.username),
            "SOURCE_IP" | "CLIENT_IP" => e.source_ip.clone(),
            "BROWSER_TYPE" => e.user_agent.clone().unwrap_or_default(),
            "API_TYPE" => match e.api_type {
                "SOAP Partner" => "P".into(),
                "REST" => "R".into(),
                "Bulk" => "B".into(),
                _ => "N/A".into(),
            },
            "API_VERSION" => opt(&e.api_version),
            "CIPHER_SUITE" => "ECDHE-RSA-AES256-GCM-SHA384".into(),
            "TLS_PROTOCOL" => "TLSv1.3".into(),
            "AUTHENTICATION_METHOD_REFERENCE" => {
                if e.login_type == Some("Remote Access 2.0") {
                    "oauth2".into()
                } else {
                    "pwd".into()
                }
            }
            "TIMESTAMP_DERIVED" => derived.clone(),
            "USER_ID_DERIVED" => uid18.clone(),
            "URI_ID_DERIVED" => e.records.first().map(|i| i.to_string()).unwrap_or_default(),
            "ENTITY_NAME" | "ENTITY_TYPE" => opt(&e.queried_entities),
            "METHOD" => e.http_method.clone(),
            "MEDIA_TYPE" => "application/json".into(),
            "STATUS_CODE" => e.status_code.to_string(),
            "USER_AGENT" => e.user_agent.clone().unwrap_or_default(),
            "ROWS_PROCESSED" | "NUMBER_RECORDS_PROCESSED" => e.rows_processed.to_string(),
            "NUMBER_FIELDS" | "NUMBER_RECORDS_FAILED" | "REQUEST_SIZE" | "RESPONSE_SIZE" => {
                "0".into()
            }
            "CONNECTED_APP_ID" => opt(&e.connected_app_id),
            "CLIENT_NAME" => opt(&e.client),
            "EXCEPTION_MESSAGE" | "ERROR_MESSAGE" => opt(&e.error_code),
            "JOB_ID" => e
                .detail
                .as_deref()
                .and_then(|d| d.strip_prefix("JobId="))
                .unwrap_or("")
                .to_owned(),
            "OPERATION_TYPE" => opt(&e.operation),
            "JOB_STATUS" => {
                if e.status_code < 400 {
                    "JobComplete".into()
                } else {
                    "Failed".into()
                }
            }
            "RESULT_SIZE_MB" => "0".into(),
            "REPORT_DESCRIPTION" => report_field(e, "Name"),
            "REPORT_ID_DERIVED" => report_field(e, "ReportId"),
            "ROW_COUNT" => e.rows_processed.to_string(),
            "NUMBER_COLUMNS" => report_field(e, "ColumnHeaders")
                .split(',')
                .filter(|c| !c.is_empty())
                .count()
                .to_string(),
            "AVERAGE_ROW_SIZE" => "120".into(),
            "DISPLAY_TYPE" => "D".into(),
            "RENDERING_TYPE" => "W".into(),
            "ORIGIN" => "ReportExecutionApi".into(),
            "SESSION_LEVEL" => "STANDARD".into(),
            "USER_INITIATED_LOGOUT" => "1".into(),
            _ => String::new(),
        })
        .collect()
}

/// One hourly ELF file: (event type, hour start).
/// Hourly EventLogFile CSVs kept once built.
pub const MAX_CACHED_FILES: usize = 20_000;

/// Built hourly files by (event type, hour).
pub type ElfCache =
    std::sync::Mutex<std::collections::BTreeMap<(&'static str, i64), std::sync::Arc<Vec<u8>>>>;

#[derive(Debug, Clone)]
struct ElfFile {
    event_type: &'static str,
    hour_ms: i64,
    available_ms: i64,
}

impl OrgState {
    /// Records the event for the storage objects and ELF.
    /// Keeps the event for the Event Monitoring objects and returns the
    /// shared copy the caller hands on (one allocation per event).
    pub(super) fn store_event(&self, ev: Event) -> std::sync::Arc<Event> {
        let ev = std::sync::Arc::new(ev);
        super::lock(&self.events).push(ev.clone());
        ev
    }

    fn event_row_id(&self, prefix: &str, seq: u64) -> String {
        sfid::record_id(self.seed.fork("event-rows").fork(prefix), prefix, seq)
    }

    /// When the hourly EventLogFile holding `e` becomes available, if any.
    pub fn elf_available_ms(&self, e: &Event) -> Option<i64> {
        let t = elf_type(e)?;
        let hour_ms = e.t_ms.div_euclid(HOUR_MS) * HOUR_MS;
        Some(hour_ms + HOUR_MS + self.elf_latency(t, hour_ms))
    }

    /// Latency of the hourly file for (type, hour): 3–6 h after the hour ends.
    fn elf_latency(&self, t: &str, hour_ms: i64) -> i64 {
        let jitter = mix(self.seed.fork("elf").fork(t).0 ^ hour_ms as u64)
            % (self.opts.elf_jitter_ms.max(1) as u64);
        self.opts.elf_latency_ms + jitter as i64
    }

    fn elf_files(&self, now_ms: i64) -> Vec<ElfFile> {
        let mut seen: std::collections::BTreeSet<(&'static str, i64)> =
            std::collections::BTreeSet::new();
        for e in super::lock(&self.events).iter() {
            if let Some(t) = elf_type(e) {
                seen.insert((t, e.t_ms.div_euclid(HOUR_MS) * HOUR_MS));
            }
        }
        seen.into_iter()
            .map(|(t, h)| ElfFile {
                event_type: t,
                hour_ms: h,
                available_ms: h + HOUR_MS + self.elf_latency(t, h),
            })
            .filter(|f| f.available_ms <= now_ms)
            .collect()
    }

    fn elf_id(&self, f: &ElfFile) -> String {
        sfid::record_id(
            self.seed.fork("elf").fork(f.event_type),
            "0AT",
            (f.hour_ms / HOUR_MS) as u64,
        )
    }

    /// The CSV of an available hourly file. Its hour is over, so its content
    /// is final: built once and kept (at most [`MAX_CACHED_FILES`]).
    fn elf_csv(&self, f: &ElfFile) -> std::sync::Arc<Vec<u8>> {
        let key = (f.event_type, f.hour_ms);
        if let Ok(cache) = self.elf_cache.lock()
            && let Some(csv) = cache.get(&key)
        {
            return csv.clone();
        }
        let csv = std::sync::Arc::new(self.build_elf_csv(f));
        if let Ok(mut cache) = self.elf_cache.lock() {
            if cache.len() >= MAX_CACHED_FILES {
                cache.pop_first();
            }
            cache.insert(key, csv.clone());
        }
        csv
    }

    fn build_elf_csv(&self, f: &ElfFile) -> Vec<u8> {
        let mut out = Vec::new();
        write_csv_row(&mut out, columns(f.event_type).iter().map(|c| c.as_bytes()));
        for e in super::lock(&self.events).iter().filter(|e| {
            elf_type(e) == Some(f.event_type) && e.t_ms.div_euclid(HOUR_MS) * HOUR_MS == f.hour_ms
        }) {
            let row = elf_row(f.event_type, e);
            write_csv_row(&mut out, row.iter().map(|v| v.as_bytes()));
        }
        out
    }

    /// `GET /sobjects/EventLogFile/{id}/LogFile`: the CSV body.
    pub(super) fn elf_blob(&self, now_ms: i64, id: &str) -> Response {
        let id15 = id.get(..15).unwrap_or(id);
        match self
            .elf_files(now_ms)
            .into_iter()
            .find(|f| self.elf_id(f).starts_with(id15))
        {
            Some(f) => Response {
                status: 200,
                headers: vec![("content-type".into(), "text/csv".into())],
                body: self.elf_csv(&f).to_vec(),
            },
            None => Response::error(404, "NOT_FOUND", "The requested resource does not exist"),
        }
    }

    /// Rebuilds a generated table (setup objects or telemetry objects).
    pub fn refresh_generated(&mut self, kind: TableKind, now_ms: i64) {
        if kind.is_admin() {
            return self.refresh_admin(kind, now_ms);
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        let events = super::lock(&self.events);
        let of_kind = |want: EventKind| events.iter().filter(move |e| e.kind == want);
        let base = |e: &Event| -> Vec<String> {
            vec![
                sf_datetime(e.t_ms),
                e.event_identifier.clone(),
                opt(&e.user_id),
                opt(&e.username),
                e.source_ip.clone(),
                opt(&e.login_key),
                opt(&e.session_key),
                sf_datetime(e.t_ms),
            ]
        };
        match kind {
            TableKind::LoginEvent => {
                for e in of_kind(EventKind::Login) {
                    let mut r = vec![self.event_row_id("0Lv", e.seq)];
                    r.extend(base(e));
                    r.extend([
                        e.login_type.unwrap_or("").to_owned(),
                        opt(&e.status),
                        e.login_url.clone(),
                        e.connected_app_name.clone().unwrap_or_else(|| "N/A".into()),
                        e.api_type.to_owned(),
                        opt(&e.api_version),
                        e.user_agent.clone().unwrap_or_else(|| "Unknown".into()),
                        "Unknown".into(),
                        "Standard".into(),
                        e.request_identifier.clone(),
                        e.http_method.clone(),
                        opt(&e.country_iso),
                    ]);
                    rows.push(r);
                }
            }
            TableKind::ApiEvent => {
                for e in of_kind(EventKind::Query) {
                    let mut r = vec![self.event_row_id("0Lz", e.seq)];
                    r.extend(base(e));
                    r.extend([
                        e.api_type.to_owned(),
                        opt(&e.api_version),
                        opt(&e.client),
                        opt(&e.connected_app_id),
                        opt(&e.connected_app_name),
                        opt(&e.operation),
                        opt(&e.query),
                        opt(&e.queried_entities),
                        json!({"totalSize": e.records.len(), "records": e.records.iter().map(|id| json!({"Id": id})).collect::<Vec<_>>()}).to_string(),
                        e.rows_processed.to_string(),
                        e.rows_returned.to_string(),
                        e.request_identifier.clone(),
                        opt(&e.user_agent),
                        "NoAction".into(),
                    ]);
                    rows.push(r);
                }
            }
            TableKind::BulkApiResultEventStore => {
                for e in of_kind(EventKind::BulkResult) {
                    let mut r = vec![self.event_row_id("0Ly", e.seq)];
                    r.extend(base(e));
                    r.extend([
                        opt(&e.query),
                        e.detail.as_deref().and_then(|d| d.strip_prefix("JobId=")).unwrap_or("").to_owned(),
                        String::new(),
                        json!({"totalSize": e.records.len(), "records": e.records.iter().map(|id| json!({"Id": id})).collect::<Vec<_>>()}).to_string(),
                        e.rows_processed.to_string(),
                        opt(&e.queried_entities),
                        e.request_identifier.clone(),
                    ]);
                    rows.push(r);
                }
            }
            TableKind::ReportEvent => {
                for e in of_kind(EventKind::Report) {
                    let mut r = vec![self.event_row_id("0Ln", e.seq)];
                    r.extend(base(e));
                    let cols = report_field(e, "ColumnHeaders");
                    let export = e.operation.as_deref() == Some("ReportExported");
                    r.extend([
                        cols.clone(),
                        "API".to_owned(),
                        if export { "Csv".into() } else { String::new() },
                        "false".into(),
                        report_field(e, "Name"),
                        cols.split(',').filter(|c| !c.is_empty()).count().to_string(),
                        opt(&e.operation),
                        opt(&e.queried_entities),
                        json!({"totalSize": e.records.len(), "records": e.records.iter().map(|id| json!({"Id": id})).collect::<Vec<_>>()}).to_string(),
                        report_field(e, "ReportId"),
                        e.rows_processed.to_string(),
                        e.request_identifier.clone(),
                        "NoAction".into(),
                    ]);
                    rows.push(r);
                }
            }
            TableKind::LogoutEvent => {
                for e in of_kind(EventKind::Logout) {
                    let mut r = vec![self.event_row_id("0Lu", e.seq)];
                    r.extend(base(e));
                    r.extend(["STANDARD".to_owned(), e.request_identifier.clone()]);
                    rows.push(r);
                }
            }
            TableKind::PermissionSetEventStore => {
                for e in of_kind(EventKind::Setup).filter(|e| {
                    matches!(
                        e.operation.as_deref(),
                        Some("AssignedToUsers" | "UnassignedFromUsers")
                    )
                }) {
                    let mut r = vec![self.event_row_id("0Lw", e.seq)];
                    r.extend(base(e));
                    let detail = opt(&e.detail);
                    let perms = detail
                        .split('[')
                        .nth(1)
                        .and_then(|x| x.split(']').next())
                        .unwrap_or("")
                        .to_owned();
                    let set = detail
                        .split(": ")
                        .nth(1)
                        .and_then(|x| x.split([' ', '(']).next())
                        .unwrap_or("")
                        .to_owned();
                    r.extend([
                        opt(&e.operation),
                        "API".into(),
                        perms,
                        set,
                        e.records
                            .iter()
                            .map(|i| i.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        e.request_identifier.clone(),
                    ]);
                    rows.push(r);
                }
            }
            TableKind::LoginHistory => {
                for e in of_kind(EventKind::Login).filter(|e| e.user_id.is_some()) {
                    rows.push(vec![
                        self.event_row_id("0Ya", e.seq),
                        opt(&e.user_id),
                        sf_datetime(e.t_ms),
                        e.login_type.unwrap_or("").to_owned(),
                        e.login_url.clone(),
                        e.source_ip.clone(),
                        opt(&e.status),
                        e.connected_app_name.clone().unwrap_or_else(|| "N/A".into()),
                        e.user_agent.clone().unwrap_or_else(|| "Unknown".into()),
                        "Unknown".into(),
                        e.api_type.to_owned(),
                        opt(&e.api_version),
                        "TLS 1.3".into(),
                        opt(&e.country_iso),
                    ]);
                }
            }
            TableKind::SetupAuditTrail => {
                for e in of_kind(EventKind::Setup) {
                    let op = e.operation.as_deref().unwrap_or_default();
                    let section = super::telemetry::audit_section(op);
                    rows.push(vec![
                        self.event_row_id("0Ym", e.seq),
                        op.to_ascii_lowercase(),
                        section.into(),
                        opt(&e.detail),
                        sf_datetime(e.t_ms),
                        opt(&e.user_id),
                        String::new(),
                        opt(&e.connected_app_name),
                    ]);
                }
            }
            TableKind::EventLogFile => {
                // `elf_files` and `elf_csv` lock the ring themselves.
                drop(events);
                for f in self.elf_files(now_ms) {
                    let id = self.elf_id(&f);
                    let len = self.elf_csv(&f).len();
                    rows.push(vec![
                        id.clone(),
                        f.event_type.into(),
                        sf_datetime(f.hour_ms),
                        "Hourly".into(),
                        "0".into(),
                        format!(
                            "/services/data/v{}/sobjects/EventLogFile/{id}/LogFile",
                            super::auth::API_LATEST
                        ),
                        len.to_string(),
                        "CSV".into(),
                        columns(f.event_type).join(","),
                        columns(f.event_type)
                            .iter()
                            .map(|_| "String")
                            .collect::<Vec<_>>()
                            .join(","),
                        super::auth::API_LATEST.into(),
                        sf_datetime(f.available_ms),
                        sf_datetime(f.available_ms),
                        sf_datetime(f.available_ms),
                    ]);
                }
            }
            _ => return,
        }
        let t = self.store.table_of(kind);
        self.store.tables[t].replace_rows(rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfdc::{Method, Request};
    use std::sync::Arc;

    fn event(seq: u64, ids: usize) -> Arc<Event> {
        let req = Request::new(Method::Get, "/services/data/v62.0/query");
        let mut e = Event::new(seq, 0, &req, "00D000000000001AAA", crate::seed::Seed(1));
        e.records = vec![sfid::Id::new("003000000000001AAA"); ids];
        Arc::new(e)
    }

    #[test]
    fn the_ring_is_bounded_by_events_and_by_record_ids() {
        let mut ring = EventRing::default();
        // Pages of 10,000 Ids: the Id budget holds 1,000 of them.
        let per = 10_000;
        let pages = MAX_STORED_RECORD_IDS / per;
        for seq in 0..pages as u64 + 5 {
            ring.push(event(seq, per));
        }
        assert_eq!(ring.iter().count(), pages);
        assert_eq!(ring.record_ids, pages * per);
        assert_eq!(
            ring.iter().next().map(|e| e.seq),
            Some(5),
            "oldest dropped first"
        );
        // One event larger than the whole budget is still kept (alone).
        ring.push(event(u64::MAX, MAX_STORED_RECORD_IDS + 1));
        assert_eq!(ring.iter().count(), 1);
        // Events without Ids are bounded by count.
        let mut ring = EventRing::default();
        for seq in 0..MAX_STORED_EVENTS as u64 + 3 {
            ring.push(event(seq, 0));
        }
        assert_eq!(ring.iter().count(), MAX_STORED_EVENTS);
        assert_eq!(ring.iter().next().map(|e| e.seq), Some(3));
    }
}
