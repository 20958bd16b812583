//! The mock Salesforce org as a pure state machine:
//! [`OrgState::handle`]`(now_ms, &Request) -> (Response, Event)`. No HTTP
//! types, no clock, no I/O: the HTTPS server (`serve`) and the simulator feed
//! it the same requests and get the same responses and telemetry.
//!
//! Owns: org runtime state (records, credentials, sessions, limits, cursors)
//! and Salesforce's wire behaviour. Must not: read the clock, do I/O, spawn,
//! or decide anything about detection or scoring.

pub mod admin;
pub mod auth;
pub mod bulk;
pub mod eventlog;
pub mod query;
pub mod reports;
pub mod rest;
pub mod schema;
pub mod soql;
pub mod store;
pub mod telemetry;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::model::Org;
use crate::pii::{Plan, PlanError};
use crate::seed::Seed;
pub use telemetry::Event;

/// API versions served, oldest first (`/services/data`).
pub const API_VERSIONS: std::ops::RangeInclusive<u32> = 31..=64;
/// Query page size when the client does not ask for less.
pub const DEFAULT_BATCH_SIZE: usize = 2000;
/// Open query cursors kept per org (oldest evicted first).
pub const MAX_CURSORS: usize = 256;
/// Request bodies larger than this are refused (Salesforce's REST limit is 50 MB).
pub const MAX_BODY_BYTES: usize = 50 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            _ => Method::Other,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Other => "OTHER",
        }
    }
}

/// One API request, as the org sees it: no transport details beyond the
/// caller's address and the base URL it used to reach us.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path without the query string, percent-encoded as received.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The caller's address (after trusted `X-Forwarded-For`).
    pub source_ip: Ipv4Addr,
    /// `scheme://host[:port]` the client used; login responses point back here.
    pub base_url: String,
}

impl Request {
    pub fn new(method: Method, path: &str) -> Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            source_ip: Ipv4Addr::new(198, 51, 100, 10),
            base_url: "https://northwind.my.salesforce.com".into(),
        }
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Request {
        self.headers.push((k.to_ascii_lowercase(), v.to_owned()));
        self
    }
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
    pub fn from_ip(mut self, ip: Ipv4Addr) -> Request {
        self.source_ip = ip;
        self
    }
    /// Decoded query-string parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        form_value(self.query.as_bytes(), name)
    }
    /// The body as JSON, or Salesforce's `JSON_PARSER_ERROR`.
    pub fn json_body(&self) -> Result<serde_json::Value, Response> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Response::error(
                400,
                "JSON_PARSER_ERROR",
                &format!("Unexpected character in the request body: {e}"),
            )
        })
    }

    /// Decoded form-body parameter (`application/x-www-form-urlencoded`).
    pub fn form(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(&self.body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, v: &Value) -> Response {
        Response {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }
    /// Pre-serialised JSON.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body,
        }
    }

    pub fn xml(status: u16, body: String) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
            body: body.into_bytes(),
        }
    }
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    /// Salesforce's REST error envelope: `[{"message","errorCode"}]`.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(status, &json!([{ "message": message, "errorCode": code }]))
    }
    pub fn error_fields(status: u16, code: &str, message: &str, fields: &[&str]) -> Response {
        Response::json(
            status,
            &json!([{ "message": message, "errorCode": code, "fields": fields }]),
        )
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The first `errorCode` of an error envelope, if any.
    pub fn error_code(&self) -> Option<String> {
        self.body_json()
            .get(0)
            .and_then(|e| e.get("errorCode"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// Knobs of a running org.
#[derive(Debug, Clone)]
pub struct Options {
    /// Daily API request allowance (`DailyApiRequests.Max`).
    pub daily_api_requests: u64,
    /// Whether freezing a user also ends its existing sessions (Salesforce
    /// leaves this undocumented; default: tokens keep working, as observed).
    pub freeze_ends_sessions: bool,
    /// Session timeout (`sessionSecondsValid`).
    pub session_seconds_valid: u64,
    /// Hourly EventLogFiles appear this long after their hour ends…
    pub elf_latency_ms: i64,
    /// …plus a deterministic jitter below this (Salesforce: 3–6 h in all).
    pub elf_jitter_ms: i64,
}

impl Options {
    pub fn for_org(org: &Org) -> Options {
        Options {
            daily_api_requests: org.daily_api_requests,
            freeze_ends_sessions: false,
            session_seconds_valid: 7200,
            elf_latency_ms: 3 * 3_600_000,
            elf_jitter_ms: 3 * 3_600_000,
        }
    }
}

/// The running org.
#[derive(Debug)]
pub struct OrgState {
    pub org: Arc<Org>,
    pub seed: Seed,
    pub opts: Options,
    pub org_id: String,
    pub store: store::Store,
    pub auth: auth::Auth,
    // What every request updates sits behind its own small lock or in an
    // atomic, so queries run with shared access ([`OrgState::handle_shared`]).
    cursors: Mutex<BTreeMap<String, query::Cursor>>,
    cursor_seq: AtomicU64,
    api_requests_used: AtomicU64,
    event_seq: AtomicU64,
    /// Time of the request being handled (for setup-object rows).
    now_ms: i64,
    jobs: Vec<bulk::Job>,
    job_seq: u64,
    /// Telemetry kept for the Event Monitoring objects and EventLogFile.
    events: Mutex<eventlog::EventRing>,
    /// Parsed SOQL by query text (see `rest::parse_query`).
    soql_cache: Mutex<BTreeMap<String, Arc<rest::ParsedQuery>>>,
    elf_cache: eventlog::ElfCache,
    /// One tabular report per data object (see `reports`).
    pub reports: Vec<reports::Report>,
}

impl OrgState {
    /// Builds the org with `subjects` data subjects' records from `seed`.
    pub fn new(
        org: Arc<Org>,
        subjects: u64,
        seed: Seed,
        opts: Options,
    ) -> Result<OrgState, PlanError> {
        let plan = Plan::new(&org, subjects, seed)?;
        let store = store::Store::build(&plan);
        let org_id = crate::sfid::org_id(&org.fixture);
        let mut auth = auth::Auth::new(&org, seed, &org_id);
        // Computed up front (and again after a permission change, on the
        // next exclusive call) so queries find them with shared access.
        for user in 0..org.users.len() {
            auth.effective(&org, user);
        }
        Ok(OrgState {
            org: org.clone(),
            seed,
            opts,
            org_id,
            store,
            auth,
            cursors: Mutex::new(BTreeMap::new()),
            cursor_seq: AtomicU64::new(0),
            api_requests_used: AtomicU64::new(0),
            event_seq: AtomicU64::new(0),
            now_ms: 0,
            jobs: Vec::new(),
            job_seq: 0,
            events: Mutex::new(eventlog::EventRing::default()),
            soql_cache: Mutex::new(BTreeMap::new()),
            elf_cache: Default::default(),
            reports: reports::build(&org, seed),
        })
    }

    /// Handles one request at virtual time `now_ms` (ms since the Unix epoch).
    /// Every request yields exactly one telemetry event. Queries go through
    /// [`OrgState::handle_shared`], everything else (and any query it
    /// declines) through [`OrgState::handle_exclusive`]; both give the same
    /// bytes (a test holds them equal).
    pub fn handle(&mut self, now_ms: i64, req: &Request) -> (Response, Arc<Event>) {
        match self.handle_shared(now_ms, req) {
            Some(done) => done,
            None => self.handle_exclusive(now_ms, req),
        }
    }

    /// Handles any request with exclusive access to the org.
    pub fn handle_exclusive(&mut self, now_ms: i64, req: &Request) -> (Response, Arc<Event>) {
        let seq = self.next_event_seq();
        self.now_ms = now_ms;
        let mut ev = Event::new(seq, now_ms, req, &self.org_id, self.seed);
        let resp = if req.body.len() > MAX_BODY_BYTES {
            Response::error(
                413,
                "REQUEST_LIMIT_EXCEEDED",
                "Request body exceeds the 50 MB limit",
            )
        } else {
            self.route(now_ms, req, &mut ev)
        };
        self.finish(req, resp, ev)
    }

    /// Handles a query (`GET …/query` or `…/queryAll`, a first page or a
    /// locator) with shared access, so a concurrent server runs queries in
    /// parallel: the counters, cursors and event ring it updates are atomics
    /// or sit behind their own small locks. Returns `None`, having changed
    /// nothing, for any other request and for any query it would answer
    /// with an error, a count, or rows of a generated table (setup and
    /// telemetry objects, rebuilt on read): those need
    /// [`OrgState::handle_exclusive`].
    pub fn handle_shared(&self, now_ms: i64, req: &Request) -> Option<(Response, Arc<Event>)> {
        if !Self::may_share(req) {
            return None;
        }
        let path = req.path.trim_end_matches('/');
        let mut segs = path.split('/').filter(|s| !s.is_empty());
        let (Some("services"), Some("data"), Some(v), Some(kind)) =
            (segs.next(), segs.next(), segs.next(), segs.next())
        else {
            return None;
        };
        let version = parse_version(v)?;
        let all = match kind {
            "query" => false,
            "queryAll" => true,
            _ => return None,
        };
        let locator = segs.next().map(pct_decode);
        if segs.next().is_some() {
            return None;
        }
        self.query_shared(now_ms, req, version, all, locator.as_deref())
    }

    /// Whether [`OrgState::handle_shared`] could take `req` at all (a GET
    /// within the body limit): the server skips the shared lock otherwise.
    pub fn may_share(req: &Request) -> bool {
        req.method == Method::Get && req.body.len() <= MAX_BODY_BYTES
    }

    /// Status, country, error code and request id of a finished request;
    /// keeps the event.
    fn finish(&self, req: &Request, mut resp: Response, mut ev: Event) -> (Response, Arc<Event>) {
        ev.status_code = resp.status;
        ev.country_iso = self
            .org
            .networks
            .iter()
            .find(|n| n.cidr.contains(req.source_ip))
            .map(|n| n.country.clone());
        if resp.status >= 400 && ev.error_code.is_none() {
            ev.error_code = resp.error_code();
        }
        resp.headers
            .push(("sforce-request-id".into(), ev.request_identifier.clone()));
        (resp, self.store_event(ev))
    }

    fn next_event_seq(&self) -> u64 {
        self.event_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// API calls counted today.
    pub fn api_requests_used(&self) -> u64 {
        self.api_requests_used.load(Ordering::Relaxed)
    }

    fn route(&mut self, now_ms: i64, req: &Request, ev: &mut Event) -> Response {
        let path = req.path.trim_end_matches('/');
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segs.as_slice() {
            ["services", "oauth2", "token"] => self.oauth_token(now_ms, req, ev),
            ["services", "oauth2", "revoke"] => self.revoke(now_ms, req, ev),
            ["services", "oauth2", "userinfo"] => self.userinfo(now_ms, req, ev),
            [
                "services",
                "leakdrill",
                "connected-apps",
                name,
                action @ ("block" | "unblock"),
            ] if req.method == Method::Post => {
                let (name, block) = (pct_decode(name), *action == "block");
                self.block_app(now_ms, req, ev, &name, block)
            }
            ["id", org, user] => {
                let (org, user) = (org.to_string(), user.to_string());
                self.identity(now_ms, req, ev, &org, &user)
            }
            ["services", "Soap", "u", v, ..] => {
                let v = v.to_string();
                self.soap(now_ms, req, ev, &v)
            }
            ["services", "data"] => {
                ev.api_type = "REST";
                self.versions(req)
            }
            ["services", "data", v, rest @ ..] => {
                let Some(version) = parse_version(v) else {
                    return Response::error(
                        404,
                        "NOT_FOUND",
                        "The requested resource does not exist",
                    );
                };
                ev.api_type = "REST";
                ev.api_version = Some(format!("{version}.0"));
                let rest: Vec<String> = rest.iter().map(|s| pct_decode(s)).collect();
                self.rest(now_ms, req, ev, version, &rest)
            }
            [id] if id.starts_with("00O")
                && req.method == Method::Get
                && req.param("export").is_some() =>
            {
                let id = id.to_string();
                self.report_export(now_ms, req, ev, &id)
            }
            _ => Response::error(404, "NOT_FOUND", "The requested resource does not exist"),
        }
    }

    fn versions(&self, req: &Request) -> Response {
        let _ = req;
        let v: Vec<Value> = API_VERSIONS
            .map(|n| {
                json!({
                    "label": release_label(n),
                    "url": format!("/services/data/v{n}.0"),
                    "version": format!("{n}.0"),
                })
            })
            .collect();
        Response::json(200, &Value::Array(v))
    }

    /// Counts a call against the daily allowance and stamps `Sforce-Limit-Info`.
    /// Under concurrency the check before a call and this count are not one
    /// step, so a few calls may pass the allowance (Salesforce's own limit
    /// is soft too); a serial run counts exactly.
    fn count_api_call(&self, resp: &mut Response) {
        let used = self.api_requests_used.fetch_add(1, Ordering::Relaxed) + 1;
        let mut v = String::with_capacity(40);
        v.push_str("api-usage=");
        v.push_str(itoa::Buffer::new().format(used));
        v.push('/');
        v.push_str(itoa::Buffer::new().format(self.opts.daily_api_requests));
        resp.headers.push(("sforce-limit-info".into(), v));
    }

    /// A new query's cursor number. Every query draws one, paged or not;
    /// its locator text is only written when a next page exists.
    fn next_cursor_seq(&self) -> u64 {
        self.cursor_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The locator id of cursor number `seq` (`01g…`).
    fn cursor_name(&self, seq: u64) -> String {
        crate::sfid::record_id(self.seed.fork("cursor"), "01g", seq)
    }
}

/// Locks `m`, taking the data of a poisoned lock as it is (every update
/// under these locks is a single push, insert or remove).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `v59.0` → 59, for the versions served.
pub fn parse_version(seg: &str) -> Option<u32> {
    let n = seg
        .strip_prefix('v')?
        .strip_suffix(".0")?
        .parse::<u32>()
        .ok()?;
    API_VERSIONS.contains(&n).then_some(n)
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Salesforce release names by API version (three releases a year).
pub fn release_label(v: u32) -> String {
    // v31 = Summer '14; each version is the next release in Spring, Summer, Winter order.
    let k = v as i64 - 31;
    let idx = (k + 1).rem_euclid(3); // 0 Spring, 1 Summer, 2 Winter
    let year = 14 + (k + 1).div_euclid(3) + if idx == 2 { 1 } else { 0 };
    let season = ["Spring", "Summer", "Winter"][idx as usize];
    format!("{season} '{year:02}")
}

/// `application/x-www-form-urlencoded` decoding of one name or value, as
/// `form_urlencoded` does it (`+` is a space, `%XX` a byte, a stray `%`
/// stays, invalid UTF-8 is replaced), in one allocation.
fn form_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The value of the first pair named `name` in a query string or form
/// body, as `form_urlencoded::parse(..).find(..)` gives it, but only that
/// pair's value is decoded (a token grant looks up five names in a body of
/// five pairs; a query call one in its query string).
pub fn form_value(form: &[u8], name: &str) -> Option<String> {
    // ASCII without escapes reads as itself; anything else is decoded
    // (invalid UTF-8 becomes U+FFFD, as `form_urlencoded` has it).
    let plain = |s: &[u8]| s.is_ascii() && !s.iter().any(|b| matches!(b, b'%' | b'+'));
    form.split(|b| *b == b'&').find_map(|pair| {
        if pair.is_empty() {
            return None;
        }
        let eq = pair.iter().position(|b| *b == b'=');
        let (k, v) = eq.map_or((pair, &[][..]), |i| (&pair[..i], &pair[i + 1..]));
        let matches = if plain(k) {
            k == name.as_bytes()
        } else {
            form_decode(k) == name
        };
        matches.then(|| form_decode(v))
    })
}

/// The first `max_chars` characters of `s`, in one allocation.
pub fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

/// ISO timestamp as Salesforce's REST API renders it: `2024-01-15T10:20:30.000+0000`.
pub fn sf_datetime(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = crate::pii::civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000,
    );
    // Written by hand, in one allocation: one per event.
    let mut out = String::with_capacity(28);
    let pad = |out: &mut String, n: i64, width: usize| {
        let mut b = itoa::Buffer::new();
        let digits = b.format(n.unsigned_abs());
        if n < 0 {
            out.push('-');
        }
        // As `{:0width$}`: the sign counts towards the width.
        for _ in digits.len() + usize::from(n < 0)..width {
            out.push('0');
        }
        out.push_str(digits);
    };
    pad(&mut out, y, 4);
    out.push('-');
    pad(&mut out, m as i64, 2);
    out.push('-');
    pad(&mut out, d as i64, 2);
    out.push('T');
    pad(&mut out, h, 2);
    out.push(':');
    pad(&mut out, mi, 2);
    out.push(':');
    pad(&mut out, s, 2);
    out.push('.');
    pad(&mut out, milli, 3);
    out.push_str("+0000");
    out
}

/// Parses a SOQL/REST date or date-time into ms since the epoch (UTC).
pub fn parse_datetime_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if let Some(ms) = parse_canonical_ms(b) {
        return Some(ms);
    }
    if b.len() < 10 {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let mo: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    let days = days_from_civil(y, mo, d);
    let mut ms = days * 86_400_000;
    if b.len() >= 19 && b[10] == b'T' {
        let h: i64 = s.get(11..13)?.parse().ok()?;
        let mi: i64 = s.get(14..16)?.parse().ok()?;
        let se: i64 = s.get(17..19)?.parse().ok()?;
        ms += ((h * 60 + mi) * 60 + se) * 1000;
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let frac = &s[start..i];
            let mut v: i64 = 0;
            for (k, c) in frac.bytes().take(3).enumerate() {
                v += i64::from(c - b'0') * [100, 10, 1][k];
            }
            ms += v;
        }
        let tz = &s[i..];
        let off_min = match tz {
            "" | "Z" => 0,
            t if t.len() >= 5 => {
                let sign = if t.starts_with('-') { -1 } else { 1 };
                let mut digits = t[1..]
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .map(|c| i64::from(c - b'0'));
                let mut two = || Some(digits.next()? * 10 + digits.next()?);
                let (hh, mm) = (two()?, two()?);
                sign * (hh * 60 + mm)
            }
            _ => return None,
        };
        ms -= off_min * 60_000;
    }
    Some(ms)
}

/// (year, month, day) → days since 1970-01-01.
/// The stored form `YYYY-MM-DDTHH:MM:SS.sss+hhmm`, by byte arithmetic
/// (the hot path of date filters and ORDER BY); `None` for anything else.
fn parse_canonical_ms(b: &[u8]) -> Option<i64> {
    if b.len() != 28
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || !(b[23] == b'+' || b[23] == b'-')
    {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        b[from..from + len].iter().try_fold(0i64, |acc, &c| {
            let d = c.wrapping_sub(b'0');
            (d < 10).then_some(acc * 10 + i64::from(d))
        })
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, se, frac) = (num(11, 2)?, num(14, 2)?, num(17, 2)?, num(20, 3)?);
    let off_min = (num(24, 2)? * 60 + num(26, 2)?) * if b[23] == b'-' { -1 } else { 1 };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(days * 86_400_000 + ((h * 60 + mi) * 60 + se) * 1000 + frac - off_min * 60_000)
}

pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hand-written date-time is `format!`'s, byte for byte.
        #[test]
        fn sf_datetime_is_the_formatted_one(ms in -70_000_000_000_000i64..70_000_000_000_000) {
            let days = ms.div_euclid(86_400_000);
            let rem = ms.rem_euclid(86_400_000);
            let (y, m, d) = crate::pii::civil_from_days(days);
            let (h, mi, s, milli) = (rem / 3_600_000, (rem / 60_000) % 60, (rem / 1000) % 60, rem % 1000);
            prop_assert_eq!(
                sf_datetime(ms),
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}+0000")
            );
        }

        /// `param` decodes only the pair asked for, and finds what
        /// `form_urlencoded` finds.
        #[test]
        fn param_is_form_urlencoded(
            query in "([a-zq%+=&é]|%2[0-9]|%7[aA]|%[c-fC-F][0-9a-fA-F]){0,40}",
            name in "[qa+%]{1,2}",
        ) {
            let mut r = Request::new(Method::Get, "/services/data/v59.0/query");
            r.query = query.clone();
            let expected = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.into_owned());
            prop_assert_eq!(r.param(&name), expected);
        }

        /// A form body's value is what `form_urlencoded` finds, bytes that
        /// are not UTF-8 included.
        #[test]
        fn form_value_is_form_urlencoded(
            body in proptest::collection::vec(
                prop_oneof![Just(b'%'), Just(b'+'), Just(b'='), Just(b'&'), Just(b'a'), Just(b'2'), Just(b'F'), Just(0xc3), Just(0xff), any::<u8>()],
                0..40,
            ),
            name in "[a2+% \u{FFFD}]{0,2}",
        ) {
            let expected = form_urlencoded::parse(&body)
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.into_owned());
            prop_assert_eq!(form_value(&body, &name), expected);
        }
    }

    #[test]
    fn labels_and_dates() {
        assert_eq!(release_label(59), "Winter '24");
        assert_eq!(release_label(60), "Spring '24");
        assert_eq!(release_label(61), "Summer '24");
        assert_eq!(release_label(31), "Summer '14");
        assert_eq!(sf_datetime(0), "1970-01-01T00:00:00.000+0000");
        // The byte-arithmetic path agrees with the general one.
        for (fast, general) in [
            (
                "2024-01-15T10:20:30.250-0530",
                "2024-01-15T10:20:30.250-05:30",
            ),
            (
                "1999-12-31T23:59:59.999+0100",
                "1999-12-31T23:59:59.999+01:00",
            ),
            ("2024-02-29T00:00:00.000+0000", "2024-02-29T00:00:00.000Z"),
        ] {
            assert!(parse_canonical_ms(fast.as_bytes()).is_some(), "{fast}");
            assert_eq!(
                parse_datetime_ms(fast),
                parse_datetime_ms(general),
                "{fast}"
            );
        }
        assert_eq!(parse_canonical_ms(b"2024-01-15T10:20:30.2x0+0000"), None);
        let t = parse_datetime_ms("2024-01-15T10:20:30.250+0000").unwrap();
        assert_eq!(sf_datetime(t), "2024-01-15T10:20:30.250+0000");
        assert_eq!(
            parse_datetime_ms("2024-01-15T12:20:30+02:00"),
            parse_datetime_ms("2024-01-15T10:20:30Z")
        );
        assert_eq!(
            parse_datetime_ms("2024-01-15"),
            parse_datetime_ms("2024-01-15T00:00:00Z")
        );
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
        assert_eq!(parse_version("v59.0"), Some(59));
        assert_eq!(parse_version("v30.0"), None);
    }
}
