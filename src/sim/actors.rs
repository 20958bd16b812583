//! Benign traffic: the fixture's integrations on their schedules and human
//! users in office hours of their time zone, plus the request builders every
//! simulated client uses (so all of them speak the same wire format as the
//! real clients `serve` is tested with).
//!
//! Owns: integration and human behaviour (one request per wake, think time
//! between requests). Must not: change the org except through requests.

use std::net::Ipv4Addr;

use rand::RngExt;
use serde_json::Value;

use super::{ActorId, Engine, Reply, SimError};
use crate::model::{Classification, FieldType, IntegrationKind, Schedule, UserKind};
use crate::scenario::Scenario;
use crate::seed::Rng;
use crate::sfdc::{Method, Request};

pub const API: &str = "/services/data/v62.0";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// An address inside fixture network `net` (stable per `k`).
pub fn network_ip(sc: &Scenario, net: usize, k: u64) -> Ipv4Addr {
    let c = sc.org.networks[net].cidr;
    let size = c.size().max(4);
    let host = 10 + k % (size - 12).max(1);
    Ipv4Addr::from((u32::from(c.addr) & c.mask()).wrapping_add(host as u32))
}

/// Where fixture integration `idx` calls from: one egress address per
/// (user, network), so two flows of one iPaaS account leave from the same
/// address.
pub fn integration_ip(sc: &Scenario, idx: usize) -> Ipv4Addr {
    let i = &sc.org.integrations[idx];
    let user = sc
        .org
        .users
        .iter()
        .position(|u| u.username == i.user)
        .unwrap_or(0);
    let net = sc
        .org
        .networks
        .iter()
        .position(|n| n.id == i.network)
        .unwrap_or(0);
    network_ip(sc, net, user as u64)
}

/// The fixture network user `u` works from (the first when unset).
pub fn user_network(sc: &Scenario, u: usize) -> usize {
    sc.org.users[u]
        .network
        .as_ref()
        .and_then(|n| sc.org.networks.iter().position(|x| &x.id == n))
        .unwrap_or(0)
}

/// A request from `ip` with `ua`, with a bearer token if given.
pub fn request(method: Method, path: &str, token: Option<&str>, ip: Ipv4Addr, ua: &str) -> Request {
    let mut r = Request::new(method, path)
        .from_ip(ip)
        .with_header("user-agent", ua);
    if let Some(t) = token {
        r = r.with_header("authorization", &format!("Bearer {t}"));
    }
    r
}

pub fn query_path(soql: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(soql.as_bytes()).collect();
    format!("{API}/query?q={q}")
}

pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// SOAP partner login with password + security token.
pub fn soap_login(username: &str, password: &str, ip: Ipv4Addr, ua: &str) -> Request {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><env:Envelope xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\"><env:Body><n1:login xmlns:n1=\"urn:partner.soap.sforce.com\"><n1:username>{}</n1:username><n1:password>{}</n1:password></n1:login></env:Body></env:Envelope>",
        esc(username),
        esc(password)
    );
    request(Method::Post, "/services/Soap/u/62.0", None, ip, ua)
        .with_header("content-type", "text/xml; charset=UTF-8")
        .with_header("soapaction", "login")
        .with_body(body)
}

/// OAuth refresh_token grant.
pub fn refresh_grant(
    client_id: &str,
    secret: &str,
    refresh: &str,
    ip: Ipv4Addr,
    ua: &str,
) -> Request {
    request(Method::Post, "/services/oauth2/token", None, ip, ua)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("refresh_token", refresh),
        ]))
}

/// The session a login response carries (OAuth JSON or SOAP XML).
pub fn session_of(r: &Reply) -> Option<String> {
    if !r.ok() {
        return None;
    }
    if r.resp
        .header("content-type")
        .is_some_and(|c| c.contains("xml"))
    {
        let body = String::from_utf8_lossy(&r.resp.body);
        return crate::sfdc::auth::xml_text(&body, "sessionId");
    }
    r.resp.body_json()["access_token"]
        .as_str()
        .map(str::to_owned)
}

/// `nextRecordsUrl` of a query page, read from the envelope's head (the
/// mock writes it before the records) without parsing the page.
pub fn next_records_url(r: &Reply) -> Option<String> {
    const KEY: &[u8] = b"\"nextRecordsUrl\":\"";
    let head = &r.resp.body[..r.resp.body.len().min(256)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let end = head[at..].iter().position(|&b| b == b'"')? + at;
    String::from_utf8(head[at..end].to_vec()).ok()
}

/// `records[*].Id` of a query response.
pub fn record_ids(r: &Reply) -> Vec<String> {
    r.resp.body_json()["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["Id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Milliseconds of think time between two calls of one client.
fn think(rng: &mut Rng) -> i64 {
    rng.random_range(300..1_500)
}

/// Local (weekday 1=Mon…7, minutes since midnight) at `t_ms` in `tz`.
fn local(tz: &jiff::tz::TimeZone, t_ms: i64) -> (i8, i32) {
    match jiff::Timestamp::from_millisecond(t_ms) {
        Ok(ts) => {
            let dt = tz.to_datetime(ts);
            (
                dt.weekday().to_monday_one_offset(),
                i32::from(dt.hour()) * 60 + i32::from(dt.minute()),
            )
        }
        Err(_) => (1, 0),
    }
}

fn time_zone(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// Whether `t_ms` falls in office hours (Mon–Fri 09:00–17:30) in `tz`.
pub fn in_office_hours(tz: &jiff::tz::TimeZone, t_ms: i64) -> bool {
    let (wd, min) = local(tz, t_ms);
    wd <= 5 && (9 * 60..17 * 60 + 30).contains(&min)
}

/// The next start of office hours at or after `t_ms` (+ up to `jitter_ms`).
fn next_office_start(tz: &jiff::tz::TimeZone, t_ms: i64) -> i64 {
    // Step in 15-minute increments; at most 4 days ahead.
    let mut t = t_ms;
    for _ in 0..(4 * 96) {
        if in_office_hours(tz, t) {
            return t;
        }
        t += 15 * 60_000;
        t -= t.rem_euclid(15 * 60_000);
    }
    t
}

// ------------------------------------------------------------ integrations

#[derive(Debug)]
enum Phase {
    Idle,
    /// Object index, next page URL (None = first page).
    Query(usize, Option<String>),
    BulkCreate(usize),
    BulkPoll(usize, String),
    BulkResults(usize, String, Option<String>),
    /// Event log files to download.
    LogFiles(Vec<String>),
    /// A sync writes one change back before reading (order status from
    /// the commerce platform, payroll status, …).
    Write,
}

/// One fixture integration, run on its schedule.
#[derive(Debug)]
pub struct Integration {
    k: usize,
    idx: usize,
    user: usize,
    app: Option<usize>,
    ip: Ipv4Addr,
    ua: &'static str,
    rng: Rng,
    token: Option<String>,
    /// Its stored refresh token (connected-app integrations).
    refresh: Option<String>,
    phase: Phase,
    /// SystemModstamp / LogDate watermark of the last completed run.
    watermark_ms: i64,
    run_rows: u64,
    /// Ids read this run, kept only while a tampered flow uses this
    /// integration (the records that flow exposes).
    run_ids: std::collections::BTreeSet<crate::sfid::Id>,
    seen_files: std::collections::BTreeSet<String>,
    tz: jiff::tz::TimeZone,
    /// For syncs: an object, a non-sensitive field the integration user may
    /// edit, and the values it takes.
    write: Option<(String, String, Vec<Value>)>,
}

impl Integration {
    pub fn new(e: &Engine, idx: usize) -> Integration {
        let sc = &e.sc;
        let i = &sc.org.integrations[idx];
        let k = sc.integrations.iter().position(|&x| x == idx).unwrap_or(0);
        let user = sc
            .org
            .users
            .iter()
            .position(|u| u.username == i.user)
            .unwrap_or(0);
        let app = i
            .connected_app
            .as_ref()
            .and_then(|a| sc.org.connected_apps.iter().position(|c| &c.name == a));
        let ua = match i.kind {
            IntegrationKind::BulkExtract => "Fivetran/1.0 (Salesforce connector) Java/17",
            IntegrationKind::Middleware => "MuleSoft-Salesforce-Connector/10.20",
            IntegrationKind::ListPull => "MarketingCloudConnect/2.0",
            IntegrationKind::Lookup => "kyc-vendor-client/3.4 okhttp/4.12",
            IntegrationKind::Llm => "python-requests/2.32.3",
            IntegrationKind::Webhook => "node-fetch/3.3 jsforce/3.10",
            IntegrationKind::Sync => "simple-salesforce/1.12.6 python-requests/2.32.3",
        };
        Integration {
            k,
            idx,
            user,
            app,
            ip: integration_ip(sc, idx),
            ua,
            rng: e.seed.fork("integration").fork(&i.id).rng(),
            token: None,
            refresh: None,
            phase: Phase::Idle,
            watermark_ms: sc.start_ms - DAY_MS,
            run_rows: 0,
            run_ids: Default::default(),
            seen_files: Default::default(),
            tz: time_zone(&sc.org.time_zone),
            write: (i.kind == IntegrationKind::Sync)
                .then(|| write_target(sc, i, user))
                .flatten(),
        }
    }

    fn spec<'e>(&self, e: &'e Engine) -> &'e crate::model::Integration {
        &e.sc.org.integrations[self.idx]
    }

    /// When the first run happens.
    pub fn first_run_ms(&self, e: &Engine) -> i64 {
        let mut rng = e
            .seed
            .fork("integration-start")
            .fork(&self.spec(e).id)
            .rng();
        self.next_run_ms(e, e.now_ms, &mut rng)
    }

    fn next_run_ms(&self, e: &Engine, after_ms: i64, rng: &mut Rng) -> i64 {
        match self.spec(e).schedule {
            Schedule::EveryMinutes(m) => {
                let p = i64::from(m.max(1)) * 60_000;
                after_ms - after_ms.rem_euclid(p) + p + rng.random_range(0..30_000)
            }
            Schedule::DailyAt { hour, minute } => {
                // Daily at HH:MM in the org's time zone.
                let mut t = after_ms - after_ms.rem_euclid(60_000) + 60_000;
                for _ in 0..(26 * 60) {
                    let (_, min) = local(&self.tz, t);
                    if min == i32::from(hour) * 60 + i32::from(minute) {
                        return t + rng.random_range(0..60_000);
                    }
                    t += 60_000;
                }
                t
            }
            Schedule::OnDemand => {
                let t = after_ms + rng.random_range(5 * 60_000..30 * 60_000);
                next_office_start(&self.tz, t)
            }
        }
    }

    fn object_fields(&self, e: &Engine, obj: &str) -> Vec<String> {
        let mut f = vec!["Id".to_owned()];
        if let Some(used) = &self.spec(e).fields_used {
            for (o, name) in used {
                if o == obj && !f.contains(name) {
                    f.push(name.clone());
                }
            }
        }
        f
    }

    fn login(&mut self, e: &mut Engine) -> Result<bool, SimError> {
        let who = ActorId::Integration(self.k);
        let req = match self.app {
            Some(a) => {
                // The integration's own copy of its refresh token, taken
                // from the org once: a revoke or someone else's rotation
                // makes it stale (invalid_grant), it never falls back to a
                // password.
                if self.refresh.is_none() {
                    self.refresh = e
                        .org
                        .auth
                        .refresh_tokens(a)
                        .into_iter()
                        .find(|(u, _)| *u == self.user)
                        .map(|(_, t)| t.to_owned());
                }
                match self.refresh.clone() {
                    Some(r) => {
                        let app = &e.org.auth.apps[a];
                        refresh_grant(
                            &app.client_id.clone(),
                            &app.client_secret.clone(),
                            &r,
                            self.ip,
                            self.ua,
                        )
                    }
                    None => self.password_login(e),
                }
            }
            None => self.password_login(e),
        };
        let r = e.call(who, req)?;
        self.token = session_of(&r);
        if let Some(rotated) = json_str(&r.resp.body_json(), "refresh_token") {
            self.refresh = Some(rotated);
        }
        Ok(self.token.is_some())
    }

    fn password_login(&self, e: &Engine) -> Request {
        let u = &e.org.auth.users[self.user];
        let pw = format!("{}{}", u.password, u.security_token);
        soap_login(&e.sc.org.users[self.user].username, &pw, self.ip, self.ua)
    }

    /// One request; returns when to wake next.
    pub fn wake(&mut self, e: &mut Engine) -> Result<Option<i64>, SimError> {
        let who = ActorId::Integration(self.k);
        if matches!(self.phase, Phase::Idle) {
            let spec = self.spec(e);
            if spec.schedule == Schedule::OnDemand && !in_office_hours(&self.tz, e.now_ms) {
                let next = next_office_start(&self.tz, e.now_ms);
                return Ok(Some(next));
            }
            self.run_rows = 0;
            self.run_ids.clear();
            let writes = self.write.is_some();
            self.phase = match spec.kind {
                _ if spec.objects.is_empty() => Phase::LogFiles(Vec::new()),
                IntegrationKind::Sync if writes => Phase::Write,
                IntegrationKind::BulkExtract => Phase::BulkCreate(0),
                _ => Phase::Query(0, None),
            };
        }
        if self.token.is_none() {
            if !self.login(e)? {
                // Credentials refused: try again next run.
                return Ok(Some(self.finish(e)));
            }
            return Ok(Some(e.now_ms + think(&mut self.rng)));
        }
        let token = self.token.clone();
        let tok = token.as_deref();
        let spec = self.spec(e).clone();
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        let (reply, next) = match phase {
            Phase::Idle => return Ok(Some(self.finish(e))),
            Phase::Write => {
                let (obj, field, values) = self.write.clone().unwrap_or_default();
                let id = self.pick_id(e, &obj);
                let value = match values.len() {
                    0 => Value::Null,
                    n => values[self.rng.random_range(0..n)].clone(),
                };
                let body = serde_json::json!({ field: value });
                let r = e.call(
                    who,
                    request(
                        Method::Patch,
                        &format!("{API}/sobjects/{obj}/{id}"),
                        tok,
                        self.ip,
                        self.ua,
                    )
                    .with_header("content-type", "application/json")
                    .with_body(body.to_string()),
                )?;
                (r, Phase::Query(0, None))
            }
            Phase::LogFiles(mut pending) => {
                if let Some(id) = pending.pop() {
                    let r = e.call(
                        who,
                        request(
                            Method::Get,
                            &format!("{API}/sobjects/EventLogFile/{id}/LogFile"),
                            tok,
                            self.ip,
                            self.ua,
                        ),
                    )?;
                    (r, Phase::LogFiles(pending))
                } else if self.run_rows == 0 {
                    let since = crate::sfdc::sf_datetime(self.watermark_ms - 2 * DAY_MS);
                    let soql = format!(
                        "SELECT Id, EventType, LogDate, LogFileLength FROM EventLogFile WHERE LogDate > {since} ORDER BY LogDate"
                    );
                    let r = e.call(
                        who,
                        request(Method::Get, &query_path(&soql), tok, self.ip, self.ua),
                    )?;
                    let new: Vec<String> = record_ids(&r)
                        .into_iter()
                        .filter(|id| self.seen_files.insert(id.clone()))
                        .take(5)
                        .collect();
                    self.run_rows = 1;
                    if new.is_empty() {
                        (r, Phase::Idle)
                    } else {
                        (r, Phase::LogFiles(new))
                    }
                } else {
                    return Ok(Some(self.finish(e)));
                }
            }
            Phase::Query(oi, next_url) => {
                let obj = spec.objects[oi].clone();
                let path = match next_url {
                    Some(u) => u,
                    None => {
                        let fields = self.object_fields(e, &obj).join(", ");
                        let soql = match spec.kind {
                            IntegrationKind::Sync | IntegrationKind::Webhook => format!(
                                "SELECT {fields} FROM {obj} WHERE SystemModstamp > {} ORDER BY SystemModstamp LIMIT 2000",
                                crate::sfdc::sf_datetime(self.watermark_ms)
                            ),
                            IntegrationKind::Middleware => {
                                format!(
                                    "SELECT {fields} FROM {obj} ORDER BY LastModifiedDate DESC LIMIT 50"
                                )
                            }
                            IntegrationKind::Llm => format!("SELECT {fields} FROM {obj} LIMIT 20"),
                            IntegrationKind::Lookup => {
                                let id = self.pick_id(e, &obj);
                                format!("SELECT {fields} FROM {obj} WHERE Id = '{id}'")
                            }
                            _ => format!("SELECT {fields} FROM {obj}"),
                        };
                        query_path(&soql)
                    }
                };
                let r = e.call(who, request(Method::Get, &path, tok, self.ip, self.ua))?;
                let more = super::actors::next_records_url(&r);
                let next = match more {
                    Some(u) if r.ok() => Phase::Query(oi, Some(u)),
                    _ if oi + 1 < spec.objects.len() => Phase::Query(oi + 1, None),
                    _ => Phase::Idle,
                };
                (r, next)
            }
            Phase::BulkCreate(oi) => {
                let obj = spec.objects[oi].clone();
                let fields = self.object_fields(e, &obj).join(", ");
                let body = serde_json::json!({"operation": "query", "query": format!("SELECT {fields} FROM {obj}")});
                let r = e.call(
                    who,
                    request(
                        Method::Post,
                        &format!("{API}/jobs/query"),
                        tok,
                        self.ip,
                        self.ua,
                    )
                    .with_header("content-type", "application/json")
                    .with_body(body.to_string()),
                )?;
                let id = r.resp.body_json()["id"].as_str().map(str::to_owned);
                let next = match id {
                    Some(id) => Phase::BulkPoll(oi, id),
                    None if oi + 1 < spec.objects.len() => Phase::BulkCreate(oi + 1),
                    None => Phase::Idle,
                };
                (r, next)
            }
            Phase::BulkPoll(oi, id) => {
                let r = e.call(
                    who,
                    request(
                        Method::Get,
                        &format!("{API}/jobs/query/{id}"),
                        tok,
                        self.ip,
                        self.ua,
                    ),
                )?;
                let state = r.resp.body_json()["state"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let next = match state.as_str() {
                    "JobComplete" => Phase::BulkResults(oi, id, None),
                    "UploadComplete" | "InProgress" => Phase::BulkPoll(oi, id),
                    _ if oi + 1 < spec.objects.len() => Phase::BulkCreate(oi + 1),
                    _ => Phase::Idle,
                };
                (r, next)
            }
            Phase::BulkResults(oi, id, locator) => {
                let mut path = format!("{API}/jobs/query/{id}/results");
                if let Some(l) = &locator {
                    path.push_str(&format!("?locator={l}"));
                }
                let r = e.call(who, request(Method::Get, &path, tok, self.ip, self.ua))?;
                let loc = r.resp.header("sforce-locator").map(str::to_owned);
                let next = match loc {
                    Some(l) if r.ok() && l != "null" => Phase::BulkResults(oi, id, Some(l)),
                    _ if oi + 1 < spec.objects.len() => Phase::BulkCreate(oi + 1),
                    _ => Phase::Idle,
                };
                (r, next)
            }
        };
        self.run_rows += reply.rows();
        if let Some(ev) = &reply.event
            && e.flows
                .iter()
                .any(|f| f.active && f.integration == self.idx)
        {
            self.run_ids.extend(ev.records.iter().cloned());
        }
        if reply.resp.status == 401 {
            // Session expired or revoked: log in again, redo this run later.
            self.token = None;
            self.phase = Phase::Idle;
            return Ok(Some(self.finish(e)));
        }
        self.phase = next;
        if matches!(self.phase, Phase::Idle) {
            return Ok(Some(self.finish(e)));
        }
        Ok(Some(e.now_ms + think(&mut self.rng)))
    }

    fn pick_id(&mut self, e: &Engine, obj: &str) -> String {
        let Some(t) = e.org.store.table(obj) else {
            return String::new();
        };
        let rows = &e.org.store.tables[t].rows;
        if rows.is_empty() {
            return String::new();
        }
        rows[self.rng.random_range(0..rows.len())].values[0].clone()
    }

    /// Ends a run: sends what was read on to its endpoints, moves the
    /// watermark, and returns the next run's time.
    fn finish(&mut self, e: &mut Engine) -> i64 {
        self.phase = Phase::Idle;
        let spec = self.spec(e).clone();
        let who = ActorId::Integration(self.k);
        let flows: Vec<usize> = (0..e.flows.len())
            .filter(|&j| e.flows[j].active && e.flows[j].integration == self.idx)
            .collect();
        if self.run_rows > 0 {
            for ep in [&spec.sends_to, &spec.log_sink].into_iter().flatten() {
                // A tampered flow to the same URL replaces the usual send.
                if flows.iter().any(|&j| e.flows[j].url == ep.url) {
                    continue;
                }
                let classes: Vec<&str> = ep.carries.iter().map(|c| c.as_str()).collect();
                e.egress(who, &ep.url, &ep.country, self.run_rows, &classes, None);
            }
            for j in flows {
                e.flow_send(who, j, self.run_rows, &self.run_ids);
            }
        }
        self.watermark_ms = e.now_ms;
        let mut rng = std::mem::replace(&mut self.rng, e.seed.rng());
        let next = self.next_run_ms(e, e.now_ms, &mut rng);
        self.rng = rng;
        next
    }
}

/// What a sync writes back: the first of its objects with a picklist or
/// boolean field of class public/internal that its user may edit (from
/// `fields_used` when declared).
fn write_target(
    sc: &Scenario,
    i: &crate::model::Integration,
    user: usize,
) -> Option<(String, String, Vec<Value>)> {
    let eff = sc.org.effective(&sc.org.users[user]);
    for name in &i.objects {
        let Some(o) = sc.org.object(name) else {
            continue;
        };
        if !eff.object(name).edit {
            continue;
        }
        for f in &o.fields {
            let declared = i
                .fields_used
                .as_ref()
                .is_none_or(|l| l.iter().any(|(ob, fi)| ob == name && fi == &f.name));
            if !declared
                || !eff.field(o, f).edit
                || !matches!(f.class, Classification::Public | Classification::Internal)
            {
                continue;
            }
            let values = match (&f.ftype, &f.generator) {
                (FieldType::Picklist, crate::model::Generator::Choice(v)) if !v.is_empty() => {
                    v.iter().map(|x| Value::String(x.clone())).collect()
                }
                (FieldType::Boolean, _) => vec![Value::Bool(true), Value::Bool(false)],
                _ => continue,
            };
            return Some((name.clone(), f.name.clone(), values));
        }
    }
    None
}

// ------------------------------------------------------------------ humans

/// The human users who work during the run: the first `users` of kind
/// Human, in fixture order.
pub fn pick_humans(sc: &Scenario) -> Vec<usize> {
    let Some(h) = sc.humans else {
        return Vec::new();
    };
    sc.org
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| u.kind == UserKind::Human && u.active)
        .map(|(i, _)| i)
        .take(h.users as usize)
        .collect()
}

/// An object a person works on: the fields their list views show, and a
/// non-sensitive field they may edit.
type Work = (String, Vec<String>, Option<(String, FieldType)>);

/// A person who logs in in the morning, runs reports and list views during
/// the day and logs out in the evening.
#[derive(Debug)]
pub struct Human {
    k: usize,
    user: usize,
    ip: Ipv4Addr,
    rng: Rng,
    token: Option<String>,
    tz: jiff::tz::TimeZone,
    office_hours: bool,
    /// Objects the person may read, with up to five readable fields, and
    /// a non-sensitive field they may edit there (if any).
    work: Vec<Work>,
    shift_end_ms: i64,
    /// A record from the last list view to update next (object, Id, field).
    pending_edit: Option<(String, String, String, FieldType)>,
}

impl Human {
    pub fn new(e: &Engine, k: usize, user: usize) -> Human {
        let sc = &e.sc;
        let u = &sc.org.users[user];
        let net = u
            .network
            .as_ref()
            .and_then(|n| sc.org.networks.iter().position(|x| &x.id == n))
            .unwrap_or(0);
        let eff = sc.org.effective(u);
        let work = sc
            .org
            .objects
            .iter()
            .filter(|o| eff.object(&o.name).read)
            .map(|o| {
                let mut f = vec!["Id".to_owned()];
                f.extend(
                    o.fields
                        .iter()
                        .filter(|fl| eff.field(o, fl).read)
                        .take(5)
                        .map(|fl| fl.name.clone()),
                );
                let edit = o
                    .fields
                    .iter()
                    .find(|fl| {
                        eff.object(&o.name).edit
                            && eff.field(o, fl).edit
                            && matches!(fl.class, Classification::Public | Classification::Internal)
                            && matches!(
                                fl.ftype,
                                FieldType::String | FieldType::Textarea | FieldType::Boolean
                            )
                    })
                    .map(|fl| (fl.name.clone(), fl.ftype));
                (o.name.clone(), f, edit)
            })
            .collect();
        Human {
            k,
            user,
            ip: network_ip(sc, net, 100 + user as u64),
            rng: e.seed.fork("human").fork(&u.username).rng(),
            token: None,
            tz: time_zone(&u.time_zone),
            office_hours: sc.humans.is_some_and(|h| h.office_hours),
            work,
            shift_end_ms: 0,
            pending_edit: None,
        }
    }

    /// When the next working session starts.
    pub fn next_shift_ms(&mut self, after_ms: i64) -> i64 {
        if !self.office_hours {
            return after_ms + self.rng.random_range(30 * 60_000..4 * HOUR_MS);
        }
        let start = next_office_start(&self.tz, after_ms);
        start + self.rng.random_range(0..45 * 60_000)
    }

    pub fn wake(&mut self, e: &mut Engine) -> Result<Option<i64>, SimError> {
        let who = ActorId::Human(self.k);
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
        if self.token.is_none() {
            let u = &e.org.auth.users[self.user];
            let pw = format!("{}{}", u.password, u.security_token);
            let name = e.sc.org.users[self.user].username.clone();
            let r = e.call(who, soap_login(&name, &pw, self.ip, ua))?;
            self.token = session_of(&r);
            self.shift_end_ms = if self.office_hours {
                e.now_ms + self.rng.random_range(7 * HOUR_MS..9 * HOUR_MS)
            } else {
                e.now_ms + self.rng.random_range(HOUR_MS..3 * HOUR_MS)
            };
            if self.token.is_none() {
                let next = self.next_shift_ms(e.now_ms + 12 * HOUR_MS);
                return Ok(Some(next));
            }
            return Ok(Some(e.now_ms + self.rng.random_range(60_000..10 * 60_000)));
        }
        if e.now_ms >= self.shift_end_ms || self.work.is_empty() {
            let tok = self.token.take();
            let r = request(Method::Post, "/services/Soap/u/62.0", None, self.ip, ua)
                .with_header("content-type", "text/xml; charset=UTF-8")
                .with_header("soapaction", "logout")
                .with_body(format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><env:Envelope xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\"><env:Header><SessionHeader xmlns=\"urn:partner.soap.sforce.com\"><sessionId>{}</sessionId></SessionHeader></env:Header><env:Body><logout xmlns=\"urn:partner.soap.sforce.com\"/></env:Body></env:Envelope>",
                    tok.unwrap_or_default()
                ));
            e.call(who, r)?;
            let next = self.next_shift_ms(e.now_ms + 12 * HOUR_MS);
            return Ok(Some(next));
        }
        if let Some((obj, id, field, ty)) = self.pending_edit.take() {
            // Work on a record: the change every sync and webhook picks up.
            let value = match ty {
                FieldType::Boolean => Value::Bool(self.rng.random_range(0..2) == 1),
                _ => Value::String(format!(
                    "Reviewed {}",
                    &crate::sfdc::sf_datetime(e.now_ms)[..10]
                )),
            };
            let body = serde_json::json!({ field: value });
            let r = e.call(
                who,
                request(
                    Method::Patch,
                    &format!("{API}/sobjects/{obj}/{id}"),
                    self.token.as_deref(),
                    self.ip,
                    ua,
                )
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
            )?;
            if r.resp.status == 401 {
                self.token = None;
            }
            return Ok(Some(
                e.now_ms + self.rng.random_range(5 * 60_000..30 * 60_000),
            ));
        }
        // A report or list view: up to 200 rows of one object.
        let (obj, fields, edit) = self.work[self.rng.random_range(0..self.work.len())].clone();
        let soql = format!(
            "SELECT {} FROM {obj} ORDER BY LastModifiedDate DESC LIMIT 200",
            fields.join(", ")
        );
        let r = e.call(
            who,
            request(
                Method::Get,
                &query_path(&soql),
                self.token.as_deref(),
                self.ip,
                ua,
            ),
        )?;
        if r.resp.status == 401 {
            self.token = None;
        }
        // Every third list view leads to an edit of one of its records.
        if let Some((field, ty)) = edit
            && self.rng.random_range(0..3) == 0
        {
            let ids = record_ids(&r);
            if !ids.is_empty() {
                let id = ids[self.rng.random_range(0..ids.len())].clone();
                self.pending_edit = Some((obj, id, field, ty));
                return Ok(Some(e.now_ms + self.rng.random_range(60_000..5 * 60_000)));
            }
        }
        Ok(Some(
            e.now_ms + self.rng.random_range(10 * 60_000..60 * 60_000),
        ))
    }
}

/// Parses a JSON body field as a string (helper for the attacker and door).
pub fn json_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}
