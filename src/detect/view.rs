//! Field access for rule evaluation: the Sigma document's fields read
//! straight from a typed [`Event`] (no JSON), or from a JSON document
//! (egress proxy records, `observe_document` callers). A typed event's
//! field is resolved once, at rule-compile time, to a [`Field`]; reading it
//! yields exactly the value `JsonEvent::get_field` yields on
//! [`super::document`] of that event (absent, `null`, string, integer or
//! array — tested field by field).
//!
//! Owns: the typed field table, the derived fields (`EventType`,
//! `product`, `service`, `Application`, `PermissionList`, `Action`,
//! `Section`, `Display`, `ReportId`, `Name`, `ColumnHeaders`) and the
//! rsigma `Event` implementation over both inputs. Must not: evaluate
//! rules, keep state or allocate on the common path (only the derived
//! `Action` and `Records` values allocate).

use std::borrow::Cow;

use rsigma_eval::event::{Event as SigmaEvent, EventValue, JsonEvent};
use serde_json::Value;

use crate::sfdc::Event;
use crate::sfdc::telemetry::EventKind;

/// One delivered record as a detector sees it: a typed Salesforce event
/// (the simulator's real-time stream) or a JSON Sigma document (egress
/// proxy records, external callers).
#[derive(Debug, Clone, Copy)]
pub enum Delivered<'a> {
    Event(&'a Event),
    Document(&'a Value),
}

impl<'a> Delivered<'a> {
    /// The Sigma document (built for a typed event, borrowed otherwise).
    pub fn document(&self) -> Cow<'a, Value> {
        match self {
            Delivered::Event(ev) => Cow::Owned(super::document(ev)),
            Delivered::Document(doc) => Cow::Borrowed(doc),
        }
    }
}

/// The Real-Time Event Monitoring objects, in a fixed order (index into
/// per-service tables).
pub const SERVICES: [&str; 8] = [
    "LoginEvent",
    "LogoutEvent",
    "ApiEvent",
    "BulkApiResultEvent",
    "ReportEvent",
    "PermissionSetEvent",
    "SetupAuditTrail",
    "RestApi",
];

/// `service` values (the object names, lower case), same order.
pub const SERVICES_LOWER: [&str; 8] = [
    "loginevent",
    "logoutevent",
    "apievent",
    "bulkapiresultevent",
    "reportevent",
    "permissionsetevent",
    "setupaudittrail",
    "restapi",
];

/// Index of [`super::service`] of `ev` in [`SERVICES`].
pub fn service_index(ev: &Event) -> usize {
    match ev.kind {
        EventKind::Login => 0,
        EventKind::Logout => 1,
        EventKind::Query => 2,
        EventKind::BulkResult => 3,
        EventKind::Report => 4,
        EventKind::Setup
            if matches!(
                ev.operation.as_deref(),
                Some("AssignedToUsers" | "UnassignedFromUsers")
            ) =>
        {
            5
        }
        EventKind::Setup => 6,
        EventKind::Rest => 7,
    }
}

macro_rules! fields {
    ($($v:ident = $n:literal),* $(,)?) => {
        /// A top-level key of a typed event's Sigma document.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Field { $($v),* }

        impl Field {
            /// Every key, in declaration order.
            pub const ALL: &[Field] = &[$(Field::$v),*];

            /// The document key.
            pub fn name(self) -> &'static str {
                match self { $(Field::$v => $n),* }
            }

            /// The field a document key names (exact, case-sensitive, as
            /// JSON object keys are).
            pub fn from_name(name: &str) -> Option<Field> {
                match name { $($n => Some(Field::$v),)* _ => None }
            }
        }
    };
}

fields! {
    EventType = "EventType",
    EventDate = "EventDate",
    EventIdentifier = "EventIdentifier",
    RequestIdentifier = "RequestIdentifier",
    OrganizationId = "OrganizationId",
    UserId = "UserId",
    Username = "Username",
    SourceIp = "SourceIp",
    CountryIso = "CountryIso",
    LoginUrl = "LoginUrl",
    SessionKey = "SessionKey",
    LoginKey = "LoginKey",
    ConnectedAppId = "ConnectedAppId",
    ConnectedAppName = "ConnectedAppName",
    Client = "Client",
    UserAgent = "UserAgent",
    HttpMethod = "HttpMethod",
    Uri = "Uri",
    StatusCode = "StatusCode",
    ApiType = "ApiType",
    ApiVersion = "ApiVersion",
    Operation = "Operation",
    Query = "Query",
    QueriedEntities = "QueriedEntities",
    RowsProcessed = "RowsProcessed",
    RowsReturned = "RowsReturned",
    Records = "Records",
    LoginType = "LoginType",
    Status = "Status",
    ErrorCode = "ErrorCode",
    Detail = "Detail",
    Product = "product",
    Service = "service",
    Application = "Application",
    PermissionList = "PermissionList",
    Action = "Action",
    Section = "Section",
    Display = "Display",
    ReportId = "ReportId",
    Name = "Name",
    ColumnHeaders = "ColumnHeaders",
}

fn opt(v: &Option<String>) -> EventValue<'_> {
    match v {
        Some(s) => EventValue::Str(Cow::Borrowed(s)),
        None => EventValue::Null,
    }
}

fn s(v: &str) -> EventValue<'_> {
    EventValue::Str(Cow::Borrowed(v))
}

/// A JSON number from a `u64`, as `EventValue::from(&Value)` reads it.
fn unsigned<'a>(n: u64) -> EventValue<'a> {
    match i64::try_from(n) {
        Ok(i) => EventValue::Int(i),
        Err(_) => EventValue::Float(n as f64),
    }
}

/// The value of `ReportId`/`Name`/`ColumnHeaders` in a report event's
/// detail (`k=v;k=v`; the last occurrence wins, as in the document).
fn report_part<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    for part in detail.split(';') {
        if let Some((k, v)) = part.split_once('=')
            && k == key
        {
            found = Some(v);
        }
    }
    found
}

/// `field` of the document of `ev` whose service index is `svc`: `None`
/// when the document has no such key.
pub fn get(ev: &Event, svc: usize, field: Field) -> Option<EventValue<'_>> {
    let detail = || ev.detail.as_deref().unwrap_or("");
    Some(match field {
        Field::EventType => s(SERVICES[svc]),
        Field::EventDate => s(&ev.event_date),
        Field::EventIdentifier => s(&ev.event_identifier),
        Field::RequestIdentifier => s(&ev.request_identifier),
        Field::OrganizationId => s(&ev.organization_id),
        Field::UserId => opt(&ev.user_id),
        Field::Username => opt(&ev.username),
        Field::SourceIp => s(&ev.source_ip),
        Field::CountryIso => opt(&ev.country_iso),
        Field::LoginUrl => s(&ev.login_url),
        Field::SessionKey => opt(&ev.session_key),
        Field::LoginKey => opt(&ev.login_key),
        Field::ConnectedAppId => opt(&ev.connected_app_id),
        Field::ConnectedAppName => opt(&ev.connected_app_name),
        Field::Client => opt(&ev.client),
        Field::UserAgent => opt(&ev.user_agent),
        Field::HttpMethod => s(&ev.http_method),
        Field::Uri => s(&ev.uri),
        Field::StatusCode => EventValue::Int(i64::from(ev.status_code)),
        Field::ApiType => s(ev.api_type),
        Field::ApiVersion => opt(&ev.api_version),
        Field::Operation => opt(&ev.operation),
        Field::Query => opt(&ev.query),
        Field::QueriedEntities => opt(&ev.queried_entities),
        Field::RowsProcessed => unsigned(ev.rows_processed),
        Field::RowsReturned => unsigned(ev.rows_returned),
        Field::Records => EventValue::Array(ev.records.iter().map(|r| s(r.as_str())).collect()),
        Field::LoginType => match ev.login_type {
            Some(t) => s(t),
            None => EventValue::Null,
        },
        Field::Status => opt(&ev.status),
        Field::ErrorCode => opt(&ev.error_code),
        Field::Detail => opt(&ev.detail),
        Field::Product => s("salesforce"),
        Field::Service => s(SERVICES_LOWER[svc]),
        Field::Application => s(ev.connected_app_name.as_deref()?),
        Field::PermissionList if svc == 5 => s(detail()
            .split('[')
            .nth(1)
            .and_then(|x| x.split(']').next())
            .unwrap_or("")),
        Field::Action if svc == 6 => EventValue::Str(Cow::Owned(
            ev.operation.as_deref().unwrap_or("").to_ascii_lowercase(),
        )),
        Field::Section if svc == 6 => s(crate::sfdc::telemetry::audit_section(
            ev.operation.as_deref().unwrap_or(""),
        )),
        Field::Display if svc == 6 => s(detail()),
        Field::ReportId | Field::Name | Field::ColumnHeaders if svc == 4 => {
            s(report_part(detail(), field.name())?)
        }
        Field::PermissionList
        | Field::Action
        | Field::Section
        | Field::Display
        | Field::ReportId
        | Field::Name
        | Field::ColumnHeaders => return None,
    })
}

/// A field as a compiled rule names it: the document key, and the typed
/// field it resolves to (`None`: typed events have no such key).
#[derive(Debug, Clone)]
pub struct FieldRef {
    pub name: Box<str>,
    pub typed: Option<Field>,
    /// Index of the name in the pack's document key table
    /// ([`View::with_slots`]); `usize::MAX`: none.
    pub slot: usize,
}

impl FieldRef {
    /// `None` when the name is a path (`a.b`, `a[0]`, escapes) the typed
    /// accessor does not resolve.
    pub fn new(name: &str) -> Option<FieldRef> {
        if name.contains(['.', '[', '\\']) {
            return None;
        }
        Some(FieldRef {
            name: name.into(),
            typed: Field::from_name(name),
            slot: usize::MAX,
        })
    }
}

/// One record under evaluation.
pub enum View<'a> {
    /// A typed event and its service index.
    Event(&'a Event, usize),
    /// A document, rsigma's wrapper of it (for path look-ups), and the
    /// values of the pack's field names, by slot (empty: not resolved).
    Document(&'a Value, JsonEvent<'a>, Vec<Option<&'a Value>>),
}

impl<'a> View<'a> {
    pub fn of(d: Delivered<'a>) -> View<'a> {
        match d {
            Delivered::Event(ev) => View::Event(ev, service_index(ev)),
            Delivered::Document(doc) => View::Document(doc, JsonEvent::borrow(doc), Vec::new()),
        }
    }

    /// [`View::of`], with a document's top-level values looked up once
    /// for every key in `slots` (name → slot index, `n` slots).
    pub fn with_slots(
        d: Delivered<'a>,
        n: usize,
        slot: impl Fn(&str) -> Option<usize>,
    ) -> View<'a> {
        match d {
            Delivered::Document(doc) => {
                let mut values = vec![None; n];
                if let Some(obj) = doc.as_object() {
                    for (k, v) in obj {
                        if let Some(i) = slot(k)
                            && let Some(x) = values.get_mut(i)
                        {
                            *x = Some(v);
                        }
                    }
                }
                View::Document(doc, JsonEvent::borrow(doc), values)
            }
            d => View::of(d),
        }
    }

    /// The value of a compiled field (`None`: absent).
    #[inline]
    pub fn field(&self, f: &FieldRef) -> Option<EventValue<'a>> {
        match self {
            View::Event(ev, svc) => get(ev, *svc, f.typed?),
            // A plain key (no path syntax): JsonEvent's flat look-up.
            View::Document(_, _, slots) if f.slot < slots.len() => {
                slots[f.slot].map(EventValue::from)
            }
            View::Document(doc, _, _) => doc.as_object()?.get(&*f.name).map(EventValue::from),
        }
    }

    /// A top-level string field (non-strings are `None`), as alerts name
    /// users, sessions and addresses.
    pub fn str_field(&self, name: &str) -> Option<String> {
        match *self {
            View::Event(ev, svc) => match get(ev, svc, Field::from_name(name)?)? {
                EventValue::Str(s) => Some(s.into_owned()),
                _ => None,
            },
            View::Document(doc, _, _) => doc.get(name).and_then(Value::as_str).map(str::to_owned),
        }
    }
}

impl SigmaEvent for View<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        match self {
            View::Event(ev, svc) => get(ev, *svc, Field::from_name(path)?),
            View::Document(_, j, _) => j.get_field(path),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let doc = self.json();
        JsonEvent::borrow(&doc).any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let doc = self.json();
        JsonEvent::borrow(&doc)
            .all_string_values()
            .into_iter()
            .map(|c| Cow::Owned(c.into_owned()))
            .collect()
    }

    fn to_json(&self) -> Value {
        self.json()
    }
}

impl View<'_> {
    fn json(&self) -> Value {
        match *self {
            View::Event(ev, _) => super::document(ev),
            View::Document(doc, _, _) => (*doc).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;
    use crate::sfdc::{Method, Request};

    /// Events of every kind, with optional fields set and unset, and the
    /// object-specific details (permission sets, audit trail, reports).
    fn events() -> Vec<Event> {
        let req = Request::new(Method::Get, "/services/data/v62.0/query");
        let mut out = Vec::new();
        let kinds = [
            EventKind::Login,
            EventKind::Logout,
            EventKind::Query,
            EventKind::BulkResult,
            EventKind::Rest,
            EventKind::Setup,
            EventKind::Report,
        ];
        for (k, kind) in kinds.into_iter().enumerate() {
            for full in [false, true] {
                let mut e = Event::new(k as u64, 1_772_800_000_000, &req, "00D1", Seed(9));
                e.kind = kind;
                if full {
                    e.user_id = Some("005x".into());
                    e.username = Some("Ana@Corp.example".into());
                    e.country_iso = Some("DE".into());
                    e.session_key = Some("sk".into());
                    e.login_key = Some("lk".into());
                    e.connected_app_id = Some("0H4".into());
                    e.connected_app_name = Some("Data Loader".into());
                    e.client = Some("cli".into());
                    e.api_version = Some("62.0".into());
                    e.query = Some("SELECT Id FROM Contact".into());
                    e.queried_entities = Some("Contact".into());
                    e.rows_processed = u64::MAX;
                    e.rows_returned = 7;
                    e.records = vec![crate::sfid::Id::new("003000000000001AAA")];
                    e.login_type = Some("Partner Product");
                    e.status = Some("Success".into());
                    e.error_code = Some("E".into());
                    e.status_code = 200;
                }
                match (kind, full) {
                    (EventKind::Setup, true) => {
                        e.operation = Some("AssignedToUsers".into());
                        e.detail = Some("set [ViewAllData, ExportReport] to 005".into());
                    }
                    (EventKind::Setup, false) => {
                        e.operation = Some("sandboxRefresh".into());
                        e.detail = Some("dev (FULL) post-copy class: none".into());
                    }
                    (EventKind::Report, true) => {
                        e.operation = Some("ReportExported".into());
                        e.detail = Some("ReportId=1;Name=a=b;ColumnHeaders=Email;Name=Last".into());
                    }
                    (EventKind::Report, false) => e.detail = Some("ReportId=9".into()),
                    _ => {}
                }
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn typed_fields_read_exactly_what_the_document_holds() {
        for ev in events() {
            let doc = super::super::document(&ev);
            let obj = doc.as_object().expect("object");
            let svc = service_index(&ev);
            assert_eq!(SERVICES[svc], super::super::service(&ev));
            for (key, value) in obj {
                let f = Field::from_name(key)
                    .unwrap_or_else(|| panic!("document key {key} has no typed field"));
                assert_eq!(
                    get(&ev, svc, f),
                    Some(EventValue::from(value)),
                    "{key} of {:?}",
                    ev.kind
                );
            }
            for &f in Field::ALL {
                if !obj.contains_key(f.name()) {
                    assert_eq!(get(&ev, svc, f), None, "{} of {:?}", f.name(), ev.kind);
                }
            }
            let view = View::of(Delivered::Event(&ev));
            let json = View::of(Delivered::Document(&doc));
            for name in [
                "Username",
                "SourceIp",
                "Application",
                "StatusCode",
                "cs-host",
                "Nope",
            ] {
                let r = FieldRef::new(name).expect("plain name");
                assert_eq!(view.field(&r), json.field(&r), "{name}");
                assert_eq!(view.str_field(name), json.str_field(name), "{name}");
                assert_eq!(
                    SigmaEvent::get_field(&view, name),
                    SigmaEvent::get_field(&json, name),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn paths_are_not_plain_field_names() {
        assert!(FieldRef::new("a.b").is_none());
        assert!(FieldRef::new("Records[0]").is_none());
        assert!(FieldRef::new("x\\.y").is_none());
        assert_eq!(
            FieldRef::new("cs-host").map(|f| f.typed),
            Some(None),
            "an unknown key is absent on typed events"
        );
    }
}
