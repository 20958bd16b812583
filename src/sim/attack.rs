//! The attacker: each scenario step is a small state machine that issues
//! real API requests from its own network and user agent, and the ground
//! truth of what it achieved (first/last success, first denial, records).
//!
//! Owns: step behaviour and the injection record. Must not: read telemetry
//! or detection output, or change the org other than through requests.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rand::RngExt;

use super::actors::{
    API, network_ip, query_path, record_ids, refresh_grant, request, session_of, soap_login,
};
use super::{ActorId, Engine, Injection, Reply, SimError, Task};
use crate::scenario::{Fields, LoginVia, Secret, StepKind, Until};
use crate::seed::Rng;
use crate::sfdc::Method;

/// A session the attacker holds (from a login step).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token: String,
    pub user: usize,
    pub app: Option<usize>,
    /// Lets the attacker mint new access tokens (an `oauth_refresh` login).
    pub refresh: Option<String>,
}

#[derive(Debug, Clone)]
enum Phase {
    Start,
    /// Object index, next page URL.
    Scrape(usize, Option<String>),
    BulkCreate(usize),
    BulkPoll(usize, String),
    BulkResults(usize, String, Option<String>),
    /// Escalation: looked-up ids so far.
    Escalate(Option<String>, Option<String>),
    /// Stuffing: attempt number.
    Stuff(u32),
    /// Session hijack: the victim's session is in hand, not yet used.
    Hijack,
    /// Report export: reports still to describe, and to export.
    Reports(Vec<String>, Vec<String>),
    Done,
}

#[derive(Debug)]
struct StepState {
    phase: Phase,
    rng: Rng,
    ip: Ipv4Addr,
    started_ms: Option<i64>,
    session: Option<Session>,
    first_success_ms: Option<i64>,
    last_success_ms: Option<i64>,
    first_denied_ms: Option<i64>,
    last_denied_ms: Option<i64>,
    calls_ok: u64,
    calls_denied: u64,
    records_read: u64,
    exposed: super::Exposure,
    /// The secret is known to the attacker (credential_leak done).
    leaked: bool,
    /// A leaked refresh token as it was at leak time (a later rotation by
    /// its rightful holder makes this copy stale).
    leaked_token: Option<String>,
    /// data-flow steps: index into `Engine::flows`.
    flow: Option<usize>,
    /// What the step's calls looked like in telemetry (usernames, session
    /// keys, source IPs): an alert naming one of them is about this step.
    entities: BTreeSet<String>,
}

/// All attack steps.
#[derive(Debug)]
pub struct Attack {
    steps: Vec<StepState>,
}

/// The Salesforce CLI, as an admin runs `sf org refresh sandbox`.
const SF_CLI_UA: &str = "@salesforce/cli/2.70.7 linux-x64 node-v22.11.0 jsforce/3.6.3";

/// The post-copy class a masked sandbox's refresh names (Data Mask's
/// `SandboxPostCopy` entry point in the fixture's story).
const MASKING_CLASS_ID: &str = "01p000000000001AAA";

/// The victim's browser in session_hijack.
const BROWSER_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// How long a step waits for the session it needs before giving up.
const WAIT_FOR_SESSION_MS: i64 = 60_000;

impl Attack {
    pub fn new(e: &Engine) -> Attack {
        let steps =
            e.sc.attack
                .iter()
                .enumerate()
                .map(|(i, s)| StepState {
                    phase: Phase::Start,
                    rng: e.seed.fork("attack").fork(&s.id).rng(),
                    ip: network_ip(&e.sc, s.from.network, 200 + i as u64),
                    started_ms: None,
                    session: None,
                    first_success_ms: None,
                    last_success_ms: None,
                    first_denied_ms: None,
                    last_denied_ms: None,
                    calls_ok: 0,
                    calls_denied: 0,
                    records_read: 0,
                    exposed: Default::default(),
                    leaked: false,
                    leaked_token: None,
                    flow: None,
                    entities: BTreeSet::new(),
                })
                .collect();
        Attack { steps }
    }

    /// The session of step `i`, or of the login it uses.
    pub fn session_of_step(&self, e: &Engine, i: usize) -> Option<&Session> {
        if let Some(s) = &self.steps[i].session {
            return Some(s);
        }
        match &e.sc.attack[i].kind {
            StepKind::TokenReplay { session }
            | StepKind::Scrape { session, .. }
            | StepKind::BulkExport { session, .. }
            | StepKind::PermissionEscalation { session, .. }
            | StepKind::ReportExport { session, .. } => self.steps[*session].session.as_ref(),
            _ => None,
        }
    }

    /// The user and app a step's credential belongs to (even if never used).
    pub fn principal(&self, e: &Engine, i: usize) -> (Option<usize>, Option<usize>) {
        if let Some(s) = self.session_of_step(e, i) {
            return (Some(s.user), s.app);
        }
        let leak = match &e.sc.attack[i].kind {
            StepKind::CredentialLeak { .. } => Some(i),
            StepKind::OauthRefresh { leak } | StepKind::PasswordLogin { leak, .. } => Some(*leak),
            StepKind::TokenReplay { session }
            | StepKind::Scrape { session, .. }
            | StepKind::BulkExport { session, .. }
            | StepKind::PermissionEscalation { session, .. }
            | StepKind::ReportExport { session, .. } => match &e.sc.attack[*session].kind {
                StepKind::OauthRefresh { leak } | StepKind::PasswordLogin { leak, .. } => {
                    Some(*leak)
                }
                StepKind::SessionHijack { victim } => return (Some(*victim), None),
                _ => None,
            },
            StepKind::CredentialStuffing { hit, .. } => *hit,
            StepKind::SessionHijack { victim } => return (Some(*victim), None),
            StepKind::DataFlow { integration, .. } => {
                let integ = &e.sc.org.integrations[*integration];
                let user = e.sc.org.users.iter().position(|u| u.username == integ.user);
                let app = integ
                    .connected_app
                    .as_ref()
                    .and_then(|a| e.sc.org.connected_apps.iter().position(|c| &c.name == a));
                return (user, app);
            }
            StepKind::SandboxRefresh { .. } => None,
        };
        match leak.map(|l| &e.sc.attack[l].kind) {
            Some(StepKind::CredentialLeak {
                secret: Secret::RefreshToken { app, user },
                ..
            }) => (Some(*user), Some(*app)),
            Some(StepKind::CredentialLeak {
                secret: Secret::Password { user, app },
                ..
            }) => (Some(*user), *app),
            _ => (None, None),
        }
    }

    fn ua(e: &Engine, i: usize) -> String {
        e.sc.attack[i].from.user_agent.clone()
    }

    /// Sandbox refresh: the fixture's admin logs in and updates the
    /// sandbox's `SandboxInfo` through the Tooling API, as `sf org refresh
    /// sandbox` does, naming a post-copy masking class only when the
    /// sandbox is masked. `Err` says why Salesforce refused.
    fn request_refresh(
        &mut self,
        e: &mut Engine,
        i: usize,
        sandbox: usize,
    ) -> Result<Result<(), String>, SimError> {
        let org = &e.sc.org;
        let Some(admin) = org
            .users
            .iter()
            .position(|u| u.kind == crate::model::UserKind::Admin && u.active)
        else {
            return Ok(Err("the fixture has no active admin".into()));
        };
        let net = super::actors::user_network(&e.sc, admin);
        let ip = network_ip(&e.sc, net, 30 + admin as u64);
        let name = org.users[admin].username.clone();
        let sb = &org.sandboxes[sandbox];
        let license = match sb.kind.as_str() {
            "full" => "FULL",
            "partial" => "PARTIAL",
            "developer_pro" => "DEVELOPER_PRO",
            _ => "DEVELOPER",
        };
        let mut body = serde_json::json!({"LicenseType": license, "AutoActivate": true});
        if sb.masked {
            body["ApexClassId"] = serde_json::json!(MASKING_CLASS_ID);
        }
        let u = &e.org.auth.users[admin];
        let pw = format!("{}{}", u.password, u.security_token);
        let who = ActorId::Attacker(i);
        let r = e.call(who, soap_login(&name, &pw, ip, SF_CLI_UA))?;
        self.note_entities(i, &r);
        let Some(tok) = session_of(&r) else {
            return Ok(Err(format!("admin login failed ({})", r.resp.status)));
        };
        let path = format!(
            "{API}/tooling/sobjects/SandboxInfo/{}",
            crate::sfdc::admin::sandbox_info_id(sandbox)
        );
        let r = e.call(
            who,
            request(Method::Patch, &path, Some(&tok), ip, SF_CLI_UA)
                .with_header("content-type", "application/json")
                .with_body(body.to_string()),
        )?;
        self.note_entities(i, &r);
        if r.ok() {
            Ok(Ok(()))
        } else {
            Ok(Err(r
                .resp
                .error_code()
                .unwrap_or_else(|| r.resp.status.to_string())))
        }
    }

    /// Notes the usernames, session keys and source IP a call showed.
    fn note_entities(&mut self, i: usize, r: &Reply) {
        if let Some(ev) = &r.event {
            let st = &mut self.steps[i];
            let ids = [&ev.username, &ev.session_key].into_iter().flatten();
            st.entities.extend(ids.cloned());
            st.entities.insert(ev.source_ip.clone());
        }
    }

    /// Records a call's outcome; returns whether it succeeded.
    fn account(
        &mut self,
        e: &mut Engine,
        i: usize,
        r: &Reply,
        fired: &mut Vec<(usize, i64)>,
    ) -> bool {
        self.note_entities(i, r);
        let st = &mut self.steps[i];
        let t = e.now_ms - e.sc.start_ms;
        if r.ok() {
            st.calls_ok += 1;
            e.counts.attacker_calls_ok += 1;
            st.last_success_ms = Some(t);
            if st.first_success_ms.is_none() {
                st.first_success_ms = Some(t);
                fired.push((i, e.now_ms));
                e.injection_line(i, "first_success", None);
            }
            // Records of the fixture's data objects; look-ups of setup
            // objects (User, PermissionSet) expose no data subject.
            if let Some(ev) = &r.event
                && ev
                    .queried_entities
                    .as_deref()
                    .is_some_and(|o| e.sc.org.object(o).is_some())
            {
                st.records_read += ev.rows_returned;
                super::note_exposed(&mut st.exposed, ev.records.iter().copied(), t, ev.classes);
            }
            true
        } else {
            st.calls_denied += 1;
            e.counts.attacker_calls_denied += 1;
            // Transient server trouble is not a denial of access.
            let transient = r.resp.status >= 500;
            if !transient {
                st.last_denied_ms = Some(t);
            }
            if st.first_denied_ms.is_none() && !transient {
                st.first_denied_ms = Some(t);
                let code = r
                    .resp
                    .error_code()
                    .or_else(|| super::actors::json_str(&r.resp.body_json(), "error"));
                e.injection_line(i, "first_denied", code.as_deref());
            }
            false
        }
    }

    /// Steps a response on (`user`, `app`) should be verified against: API
    /// steps that finished with successes and no denial yet, using that
    /// principal's credential.
    pub fn probe_targets(&self, e: &Engine, user: Option<usize>, app: Option<usize>) -> Vec<usize> {
        (0..self.steps.len())
            .filter(|&i| {
                let st = &self.steps[i];
                matches!(st.phase, Phase::Done)
                    && st.flow.is_none()
                    && st.last_success_ms.is_some()
                    && st.last_denied_ms < st.last_success_ms
                    && self.session_of_step(e, i).is_some_and(|s| {
                        user.is_some_and(|u| u == s.user) || (app.is_some() && app == s.app)
                    })
            })
            .collect()
    }

    /// The verification call after containment: the finished step `i`
    /// tries its session once more (`GET …/limits`, what a token checker
    /// does). Denied: containment verified (first denial); allowed: the
    /// credential still works, and the step's last success moves.
    pub fn probe(&mut self, e: &mut Engine, i: usize) -> Result<(), SimError> {
        let Some(s) = self.session_of_step(e, i).cloned() else {
            return Ok(());
        };
        let st = &self.steps[i];
        if st.last_denied_ms >= st.last_success_ms {
            return Ok(());
        }
        e.injection_line(i, "probe", None);
        let (ip, ua) = (self.steps[i].ip, Self::ua(e, i));
        let r = e.call(
            ActorId::Attacker(i),
            request(
                Method::Get,
                &format!("{API}/limits"),
                Some(&s.token),
                ip,
                &ua,
            ),
        )?;
        let mut fired = Vec::new();
        self.account(e, i, &r, &mut fired);
        Ok(())
    }

    /// Runs one step of attack `i`. Returns the steps whose first success
    /// happened now (for `on: first_success` responses).
    pub fn wake(&mut self, e: &mut Engine, i: usize) -> Result<Vec<(usize, i64)>, SimError> {
        let mut fired = Vec::new();
        let step = e.sc.attack[i].clone();
        let t = e.now_ms - e.sc.start_ms;
        if self.steps[i].started_ms.is_none() {
            self.steps[i].started_ms = Some(t);
            e.injection_line(i, "start", None);
        }
        if let Until::For(ms) = step.until
            && t >= step.at_ms + ms
        {
            self.end(e, i, "until");
            return Ok(fired);
        }
        let who = ActorId::Attacker(i);
        let ua = Self::ua(e, i);
        let ip = self.steps[i].ip;
        let pace = |st: &mut StepState, now: i64| {
            let j = if step.pace.jitter_ms > 0 {
                st.rng
                    .random_range(-step.pace.jitter_ms..=step.pace.jitter_ms)
            } else {
                0
            };
            now + (step.pace.every_ms + j).max(1_000)
        };
        let quick = |st: &mut StepState, now: i64| now + st.rng.random_range(500..2_500);
        let next: Option<i64> = match &step.kind {
            StepKind::CredentialLeak { secret, .. } => {
                if let Secret::RefreshToken { app, user } = secret {
                    self.steps[i].leaked_token = e
                        .org
                        .auth
                        .refresh_tokens(*app)
                        .into_iter()
                        .find(|(u, _)| u == user)
                        .map(|(_, t)| t.to_owned());
                }
                self.steps[i].leaked = true;
                self.steps[i].first_success_ms = Some(t);
                fired.push((i, e.now_ms));
                self.steps[i].phase = Phase::Done;
                None
            }
            StepKind::OauthRefresh { leak } | StepKind::PasswordLogin { leak, .. } => {
                if !self.steps[*leak].leaked {
                    Some(e.now_ms + WAIT_FOR_SESSION_MS)
                } else {
                    let r = self.login(e, i, *leak, &ua)?;
                    let ok = self.account(e, i, &r, &mut fired);
                    if !ok && transient(&r) {
                        // Try again later, as any client library would.
                        Some(pace(&mut self.steps[i], e.now_ms))
                    } else {
                        self.steps[i].phase = Phase::Done;
                        if !ok {
                            self.end(e, i, "login refused");
                        }
                        None
                    }
                }
            }
            StepKind::TokenReplay { session } => {
                let Some(tok) = self.token_for(*session) else {
                    return self.wait_or_end(e, i, *session, fired);
                };
                let r = e.call(
                    who,
                    request(Method::Get, &format!("{API}/sobjects"), Some(&tok), ip, &ua),
                )?;
                if self.account(e, i, &r, &mut fired) || transient(&r) {
                    Some(pace(&mut self.steps[i], e.now_ms))
                } else if r.resp.status == 401 && self.remint(e, i, *session, &ua, &mut fired)? {
                    Some(quick(&mut self.steps[i], e.now_ms))
                } else if step.until == Until::Contained {
                    self.end(e, i, "denied");
                    None
                } else {
                    Some(pace(&mut self.steps[i], e.now_ms))
                }
            }
            StepKind::Scrape {
                session,
                objects,
                fields,
                page_size,
            } => {
                let Some(tok) = self.token_for(*session) else {
                    return self.wait_or_end(e, i, *session, fired);
                };
                let phase = std::mem::replace(&mut self.steps[i].phase, Phase::Done);
                let (oi, url) = match phase {
                    Phase::Scrape(oi, url) => (oi, url),
                    _ => (0, None),
                };
                let Some(obj) = objects.get(oi) else {
                    self.end(e, i, "nothing to read");
                    return Ok(fired);
                };
                let path = url.clone().unwrap_or_else(|| {
                    let f = select_list(e, obj, fields, &self.steps[*session].session);
                    query_path(&format!("SELECT {f} FROM {obj}"))
                });
                let r = e.call(
                    who,
                    request(Method::Get, &path, Some(&tok), ip, &ua)
                        .with_header("sforce-query-options", &format!("batchSize={page_size}")),
                )?;
                if self.account(e, i, &r, &mut fired) {
                    let more = super::actors::next_records_url(&r);
                    self.steps[i].phase = match more {
                        Some(u) => Phase::Scrape(oi, Some(u)),
                        None if oi + 1 < objects.len() => Phase::Scrape(oi + 1, None),
                        None if step.until == Until::Exhausted => {
                            self.end(e, i, "exhausted");
                            return Ok(fired);
                        }
                        // Keep going from the start (fresh data, and the
                        // attacker does not know it was seen).
                        None => Phase::Scrape(0, None),
                    };
                    Some(pace(&mut self.steps[i], e.now_ms))
                } else if transient(&r) {
                    // Transient: try the same page again later.
                    self.steps[i].phase = Phase::Scrape(oi, url);
                    Some(pace(&mut self.steps[i], e.now_ms))
                } else if r.resp.status == 401 && self.remint(e, i, *session, &ua, &mut fired)? {
                    self.steps[i].phase = Phase::Scrape(oi, url);
                    Some(quick(&mut self.steps[i], e.now_ms))
                } else {
                    self.end(e, i, "denied");
                    None
                }
            }
            StepKind::BulkExport {
                session,
                objects,
                fields,
            } => {
                let Some(tok) = self.token_for(*session) else {
                    return self.wait_or_end(e, i, *session, fired);
                };
                let phase = std::mem::replace(&mut self.steps[i].phase, Phase::Done);
                let retry = phase.clone();
                let (r, next) = match phase {
                    Phase::Start | Phase::BulkCreate(_) => {
                        let oi = match phase {
                            Phase::BulkCreate(oi) => oi,
                            _ => 0,
                        };
                        let Some(obj) = objects.get(oi) else {
                            self.end(e, i, "exhausted");
                            return Ok(fired);
                        };
                        let f = select_list(e, obj, fields, &self.steps[*session].session);
                        let body = serde_json::json!({"operation": "query", "query": format!("SELECT {f} FROM {obj}")});
                        let r = e.call(
                            who,
                            request(
                                Method::Post,
                                &format!("{API}/jobs/query"),
                                Some(&tok),
                                ip,
                                &ua,
                            )
                            .with_header("content-type", "application/json")
                            .with_body(body.to_string()),
                        )?;
                        let next = match r.resp.body_json()["id"].as_str() {
                            Some(id) => Phase::BulkPoll(oi, id.to_owned()),
                            None => Phase::BulkCreate(oi + 1),
                        };
                        (r, next)
                    }
                    Phase::BulkPoll(oi, id) => {
                        let r = e.call(
                            who,
                            request(
                                Method::Get,
                                &format!("{API}/jobs/query/{id}"),
                                Some(&tok),
                                ip,
                                &ua,
                            ),
                        )?;
                        let next = match r.resp.body_json()["state"].as_str() {
                            Some("JobComplete") => Phase::BulkResults(oi, id, None),
                            Some("UploadComplete" | "InProgress") => Phase::BulkPoll(oi, id),
                            _ => Phase::BulkCreate(oi + 1),
                        };
                        (r, next)
                    }
                    Phase::BulkResults(oi, id, loc) => {
                        let mut path = format!("{API}/jobs/query/{id}/results");
                        if let Some(l) = &loc {
                            path.push_str(&format!("?locator={l}"));
                        }
                        let r = e.call(who, request(Method::Get, &path, Some(&tok), ip, &ua))?;
                        let next = match r.resp.header("sforce-locator") {
                            Some(l) if l != "null" => {
                                Phase::BulkResults(oi, id, Some(l.to_owned()))
                            }
                            _ => Phase::BulkCreate(oi + 1),
                        };
                        (r, next)
                    }
                    _ => {
                        self.end(e, i, "done");
                        return Ok(fired);
                    }
                };
                let ok = self.account(e, i, &r, &mut fired);
                if !ok && transient(&r) {
                    // The same call again at the next pace.
                    self.steps[i].phase = retry;
                    return {
                        let t = pace(&mut self.steps[i], e.now_ms);
                        e.schedule(t, Task::Attack(i))?;
                        Ok(fired)
                    };
                }
                // An object the user cannot query is skipped, not the end.
                if ok || (r.resp.status == 400 && matches!(next, Phase::BulkCreate(_))) {
                    self.steps[i].phase = next;
                    Some(quick(&mut self.steps[i], e.now_ms))
                } else {
                    self.end(e, i, "denied");
                    None
                }
            }
            StepKind::PermissionEscalation {
                session,
                permission_set,
                user,
            } => {
                let Some(tok) = self.token_for(*session) else {
                    return self.wait_or_end(e, i, *session, fired);
                };
                let phase = std::mem::replace(&mut self.steps[i].phase, Phase::Done);
                let (ps_id, user_id) = match phase {
                    Phase::Escalate(p, u) => (p, u),
                    _ => (None, None),
                };
                let who_gets = user
                    .or(self.steps[*session].session.as_ref().map(|s| s.user))
                    .unwrap_or(0);
                let (r, next) = if ps_id.is_none() {
                    let soql = format!(
                        "SELECT Id FROM PermissionSet WHERE Name = '{}'",
                        soql_escape(permission_set)
                    );
                    let r = e.call(
                        who,
                        request(Method::Get, &query_path(&soql), Some(&tok), ip, &ua),
                    )?;
                    let id = record_ids(&r).into_iter().next();
                    let next = id.map(|p| Phase::Escalate(Some(p), None));
                    (r, next)
                } else if user_id.is_none() {
                    let name = e.sc.org.users[who_gets].username.clone();
                    let soql = format!(
                        "SELECT Id FROM User WHERE Username = '{}'",
                        soql_escape(&name)
                    );
                    let r = e.call(
                        who,
                        request(Method::Get, &query_path(&soql), Some(&tok), ip, &ua),
                    )?;
                    let id = record_ids(&r).into_iter().next();
                    let next = id.map(|u| Phase::Escalate(ps_id.clone(), Some(u)));
                    (r, next)
                } else {
                    let body = serde_json::json!({"AssigneeId": user_id, "PermissionSetId": ps_id});
                    let r = e.call(
                        who,
                        request(
                            Method::Post,
                            &format!("{API}/sobjects/PermissionSetAssignment"),
                            Some(&tok),
                            ip,
                            &ua,
                        )
                        .with_header("content-type", "application/json")
                        .with_body(body.to_string()),
                    )?;
                    (r, None)
                };
                let ok = self.account(e, i, &r, &mut fired);
                match next {
                    Some(p) if ok => {
                        self.steps[i].phase = p;
                        Some(quick(&mut self.steps[i], e.now_ms))
                    }
                    _ => {
                        self.end(e, i, if ok { "assigned" } else { "denied" });
                        None
                    }
                }
            }
            StepKind::CredentialStuffing {
                users,
                attempts,
                hit,
            } => {
                let n = match self.steps[i].phase {
                    Phase::Stuff(n) => n,
                    _ => 0,
                };
                let total = users.len() as u32 * attempts;
                if n >= total {
                    // The last try uses the leaked password, if there is one.
                    if let Some(l) = hit
                        && self.steps[*l].leaked
                    {
                        let r = self.login(e, i, *l, &ua)?;
                        self.account(e, i, &r, &mut fired);
                    }
                    self.end(e, i, "done");
                    None
                } else {
                    let u = users[(n % users.len() as u32) as usize];
                    let name = e.sc.org.users[u].username.clone();
                    let guess = format!("Winter2026!{}", self.steps[i].rng.random_range(0..10_000));
                    let r = e.call(who, soap_login(&name, &guess, ip, &ua))?;
                    self.account(e, i, &r, &mut fired);
                    self.steps[i].phase = Phase::Stuff(n + 1);
                    Some(pace(&mut self.steps[i], e.now_ms))
                }
            }
            StepKind::ReportExport { session, objects } => {
                let Some(tok) = self.token_for(*session) else {
                    return self.wait_or_end(e, i, *session, fired);
                };
                let phase = std::mem::replace(&mut self.steps[i].phase, Phase::Done);
                let (r, next) = match phase {
                    Phase::Reports(mut describe, mut export) => {
                        if let Some(id) = describe.pop() {
                            let r = e.call(
                                who,
                                request(
                                    Method::Get,
                                    &format!("{API}/analytics/reports/{id}/describe"),
                                    Some(&tok),
                                    ip,
                                    &ua,
                                ),
                            )?;
                            let ty = r.resp.body_json()["reportMetadata"]["reportType"]["type"]
                                .as_str()
                                .map(str::to_owned);
                            if ty.is_some_and(|t| objects.is_empty() || objects.contains(&t)) {
                                export.push(id);
                            }
                            (r, Some(Phase::Reports(describe, export)))
                        } else if let Some(id) = export.pop() {
                            let r = e.call(
                                who,
                                request(
                                    Method::Get,
                                    &format!("/{id}?export=1&enc=UTF-8&xf=csv"),
                                    Some(&tok),
                                    ip,
                                    &ua,
                                ),
                            )?;
                            let more = !export.is_empty();
                            (r, more.then_some(Phase::Reports(describe, export)))
                        } else {
                            self.end(e, i, "exhausted");
                            return Ok(fired);
                        }
                    }
                    _ => {
                        let r = e.call(
                            who,
                            request(
                                Method::Get,
                                &format!("{API}/analytics/reports"),
                                Some(&tok),
                                ip,
                                &ua,
                            ),
                        )?;
                        let mut ids: Vec<String> = r
                            .resp
                            .body_json()
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| x["id"].as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        // Describe (and so export) in list order.
                        ids.reverse();
                        (r, Some(Phase::Reports(ids, Vec::new())))
                    }
                };
                let ok = self.account(e, i, &r, &mut fired);
                match next {
                    Some(p) if ok => {
                        self.steps[i].phase = p;
                        Some(pace(&mut self.steps[i], e.now_ms))
                    }
                    None if ok => {
                        self.end(e, i, "exhausted");
                        None
                    }
                    _ => {
                        self.end(e, i, "denied");
                        None
                    }
                }
            }
            StepKind::SessionHijack { victim } => {
                if matches!(self.steps[i].phase, Phase::Start) {
                    // The victim logs in as every morning; the session id is
                    // then stolen from the browser (infostealer, XSS).
                    let r = self.victim_login(e, i, *victim)?;
                    match session_of(&r) {
                        Some(token) => {
                            self.steps[i].session = Some(Session {
                                token,
                                user: *victim,
                                app: None,
                                refresh: None,
                            });
                            self.steps[i].phase = Phase::Hijack;
                            Some(e.now_ms + self.steps[i].rng.random_range(60_000..600_000))
                        }
                        None => {
                            self.end(e, i, "victim login refused");
                            None
                        }
                    }
                } else {
                    // First use from the attacker's fingerprint.
                    let tok = self.token_for(i).unwrap_or_default();
                    let r = e.call(
                        who,
                        request(Method::Get, &format!("{API}/sobjects"), Some(&tok), ip, &ua),
                    )?;
                    let ok = self.account(e, i, &r, &mut fired);
                    self.steps[i].phase = Phase::Done;
                    if !ok {
                        self.end(e, i, "denied");
                    }
                    None
                }
            }
            StepKind::DataFlow {
                integration,
                url,
                country,
            } => {
                let integ = &e.sc.org.integrations[*integration];
                let classes = flow_classes(e, integ);
                let host = crate::fixture::endpoint_host(url).unwrap_or_default();
                e.flows.push(super::Flow {
                    step: i,
                    integration: *integration,
                    url: url.clone(),
                    host,
                    country: country.clone(),
                    classes,
                    active: true,
                    first_ms: None,
                    last_ms: None,
                    first_blocked_ms: None,
                    last_blocked_ms: None,
                    sends: 0,
                    blocked: 0,
                    records: 0,
                    exposed: Default::default(),
                });
                self.steps[i].flow = Some(e.flows.len() - 1);
                self.steps[i].phase = Phase::Done;
                // The flow runs with the integration; wake again only to stop it.
                match step.until {
                    Until::For(ms) => Some(e.sc.start_ms + step.at_ms + ms),
                    _ => None,
                }
            }
            StepKind::SandboxRefresh { sandbox } => {
                let sb = e.sc.org.sandboxes[*sandbox].clone();
                if let Err(why) = self.request_refresh(e, i, *sandbox)? {
                    self.steps[i].calls_denied += 1;
                    e.injection_line(i, "first_denied", Some(&why));
                    self.end(e, i, "refresh refused");
                    return Ok(fired);
                }
                let mut rows = 0u64;
                let mut classes = BTreeSet::new();
                for obj in &sb.objects {
                    if let Some(t) = e.org.store.table(obj) {
                        rows += e.org.store.tables[t].rows.len() as u64;
                    }
                    if let Some(o) = e.sc.org.object(obj) {
                        classes.extend(o.fields.iter().map(|f| f.class.as_str()));
                    }
                }
                let classes: Vec<&str> = if sb.masked {
                    Vec::new()
                } else {
                    classes.into_iter().collect()
                };
                let to = format!(
                    "https://{}--{}.sandbox.my.salesforce.com",
                    e.sc.org.instance, sb.name
                );
                let exposed = if sb.masked { 0 } else { rows };
                e.egress(who, &to, "", exposed, &classes, Some(i));
                let st = &mut self.steps[i];
                st.records_read = rows;
                if !sb.masked {
                    // Every record of the copied objects, with all its fields.
                    for obj in &sb.objects {
                        let (Some(tb), Some(o)) = (e.org.store.table(obj), e.sc.org.object(obj))
                        else {
                            continue;
                        };
                        let all = o.fields.iter().map(|f| f.class).collect();
                        let ids = e.org.store.tables[tb]
                            .rows
                            .iter()
                            .map(|r| crate::sfid::Id::new(&r.values[0]));
                        super::note_exposed(&mut st.exposed, ids, t, all);
                    }
                }
                if exposed > 0 {
                    st.first_success_ms = Some(t);
                    st.last_success_ms = Some(t);
                    fired.push((i, e.now_ms));
                    e.injection_line(i, "first_success", None);
                }
                self.end(
                    e,
                    i,
                    if sb.masked {
                        "masked"
                    } else {
                        "copied unmasked"
                    },
                );
                None
            }
        };
        if let Some(t) = next {
            e.schedule(t, Task::Attack(i))?;
        }
        Ok(fired)
    }

    fn token_for(&self, session: usize) -> Option<String> {
        self.steps[session]
            .session
            .as_ref()
            .map(|s| s.token.clone())
    }

    fn wait_or_end(
        &mut self,
        e: &mut Engine,
        i: usize,
        session: usize,
        fired: Vec<(usize, i64)>,
    ) -> Result<Vec<(usize, i64)>, SimError> {
        if matches!(self.steps[session].phase, Phase::Done) && self.steps[session].session.is_none()
        {
            self.end(e, i, "no session");
        } else {
            e.schedule(e.now_ms + WAIT_FOR_SESSION_MS, Task::Attack(i))?;
        }
        Ok(fired)
    }

    fn end(&mut self, e: &mut Engine, i: usize, why: &str) {
        if matches!(self.steps[i].phase, Phase::Done) && self.steps[i].started_ms.is_none() {
            return;
        }
        self.steps[i].phase = Phase::Done;
        if let Some(j) = self.steps[i].flow {
            e.flows[j].active = false;
        }
        e.injection_line(i, "end", Some(why));
    }

    /// Logs in with leaked credential `leak` as step `i`.
    fn login(
        &mut self,
        e: &mut Engine,
        i: usize,
        leak: usize,
        ua: &str,
    ) -> Result<Reply, SimError> {
        let ip = self.steps[i].ip;
        // Validation guarantees `leak` names a credential_leak step.
        let secret = match &e.sc.attack[leak].kind {
            StepKind::CredentialLeak { secret, .. } => secret.clone(),
            _ => Secret::Password { user: 0, app: None },
        };
        let via = match &e.sc.attack[i].kind {
            StepKind::PasswordLogin { via, .. } => *via,
            _ => LoginVia::Soap,
        };
        let (req, user, app, refresh) = match secret {
            Secret::RefreshToken { app, user } => {
                let refresh = self.steps[leak].leaked_token.clone().unwrap_or_default();
                let a = &e.org.auth.apps[app];
                (
                    refresh_grant(&a.client_id, &a.client_secret, &refresh, ip, ua),
                    user,
                    Some(app),
                    Some(refresh),
                )
            }
            Secret::Password { user, app } => {
                let u = &e.org.auth.users[user];
                let pw = format!("{}{}", u.password, u.security_token);
                let name = &e.sc.org.users[user].username;
                let req = match (via, app) {
                    (LoginVia::OauthPassword, Some(a)) => {
                        let a = &e.org.auth.apps[a];
                        request(Method::Post, "/services/oauth2/token", None, ip, ua)
                            .with_header("content-type", "application/x-www-form-urlencoded")
                            .with_body(super::actors::form(&[
                                ("grant_type", "password"),
                                ("client_id", &a.client_id),
                                ("client_secret", &a.client_secret),
                                ("username", name),
                                ("password", &pw),
                            ]))
                    }
                    _ => soap_login(name, &pw, ip, ua),
                };
                (req, user, app, None)
            }
        };
        let r = e.call(ActorId::Attacker(i), req)?;
        if let Some(token) = session_of(&r) {
            // A rotated refresh token replaces the leaked one.
            let refresh = super::actors::json_str(&r.resp.body_json(), "refresh_token").or(refresh);
            self.steps[i].session = Some(Session {
                token,
                user,
                app,
                refresh,
            });
        }
        Ok(r)
    }

    /// The victim of session_hijack step `i` logs in from their own
    /// network with their browser (SOAP, like the web login).
    fn victim_login(&mut self, e: &mut Engine, i: usize, victim: usize) -> Result<Reply, SimError> {
        let u = &e.sc.org.users[victim];
        let net = u
            .network
            .as_ref()
            .and_then(|n| e.sc.org.networks.iter().position(|x| &x.id == n))
            .unwrap_or(0);
        let ip = network_ip(&e.sc, net, 50 + victim as u64);
        let a = &e.org.auth.users[victim];
        let pw = format!("{}{}", a.password, a.security_token);
        let name = u.username.clone();
        e.call(ActorId::Victim(i), soap_login(&name, &pw, ip, BROWSER_UA))
    }

    /// After a 401, an attacker holding a refresh token mints a new access
    /// token (from the step's own network). Returns whether it worked.
    fn remint(
        &mut self,
        e: &mut Engine,
        i: usize,
        session: usize,
        ua: &str,
        fired: &mut Vec<(usize, i64)>,
    ) -> Result<bool, SimError> {
        let Some(s) = self.steps[session].session.clone() else {
            return Ok(false);
        };
        let (Some(refresh), Some(app)) = (s.refresh.clone(), s.app) else {
            return Ok(false);
        };
        let ip = self.steps[i].ip;
        let a = &e.org.auth.apps[app];
        let req = refresh_grant(&a.client_id, &a.client_secret, &refresh, ip, ua);
        let r = e.call(ActorId::Attacker(i), req)?;
        let ok = self.account(e, i, &r, fired);
        if let (true, Some(token)) = (ok, session_of(&r)) {
            let refresh =
                super::actors::json_str(&r.resp.body_json(), "refresh_token").unwrap_or(refresh);
            self.steps[session].session = Some(Session {
                token,
                refresh: Some(refresh),
                ..s
            });
            return Ok(true);
        }
        Ok(false)
    }

    /// Ground truth per step, for the summary.
    pub fn injections(&self, e: &Engine) -> Vec<Injection> {
        e.sc.attack
            .iter()
            .zip(&self.steps)
            .map(|(s, st)| match st.flow.map(|j| &e.flows[j]) {
                // A tampered flow's truth is what reached the endpoint.
                Some(f) => Injection {
                    id: s.id.clone(),
                    kind: s.kind_name.as_str(),
                    start_ms: s.at_ms,
                    first_success_ms: f.first_ms,
                    last_success_ms: f.last_ms,
                    first_denied_ms: f.first_blocked_ms,
                    last_denied_ms: f.last_blocked_ms,
                    calls_ok: f.sends,
                    calls_denied: f.blocked,
                    records_read: f.records,
                    records_exposed: f.exposed.len() as u64,
                    // The workload the egress proxy names (`cs-username`).
                    entities: vec![e.sc.org.integrations[f.integration].id.clone()],
                    exposed: f.exposed.clone(),
                },
                None => Injection {
                    id: s.id.clone(),
                    kind: s.kind_name.as_str(),
                    start_ms: s.at_ms,
                    first_success_ms: st.first_success_ms,
                    last_success_ms: st.last_success_ms,
                    first_denied_ms: st.first_denied_ms,
                    last_denied_ms: st.last_denied_ms,
                    calls_ok: st.calls_ok,
                    calls_denied: st.calls_denied,
                    records_read: st.records_read,
                    records_exposed: st.exposed.len() as u64,
                    entities: st.entities.iter().cloned().collect(),
                    exposed: st.exposed.clone(),
                },
            })
            .collect()
    }
}

/// Data classes an integration's payload carries: those of the fields it
/// reads (`fields_used`, else every field of its objects).
fn flow_classes(e: &Engine, integ: &crate::model::Integration) -> Vec<&'static str> {
    let mut out = BTreeSet::new();
    for obj in &integ.objects {
        let Some(o) = e.sc.org.object(obj) else {
            continue;
        };
        for f in &o.fields {
            let used = match &integ.fields_used {
                Some(list) => list.iter().any(|(ob, fi)| ob == obj && fi == &f.name),
                None => true,
            };
            if used {
                out.insert(f.class.as_str());
            }
        }
    }
    out.into_iter().collect()
}

/// Server trouble or a rate limit: worth the same call again later.
fn transient(r: &Reply) -> bool {
    r.resp.status >= 500 || r.resp.error_code().as_deref() == Some("REQUEST_LIMIT_EXCEEDED")
}

fn soql_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The SELECT list a step reads: named fields, or every field the
/// session's user can see (as an attacker learns from describe).
fn select_list(e: &Engine, obj: &str, fields: &Fields, s: &Option<Session>) -> String {
    match fields {
        Fields::Named(f) => {
            let mut v = vec!["Id".to_owned()];
            v.extend(f.iter().filter(|x| x.as_str() != "Id").cloned());
            v.join(", ")
        }
        Fields::AllVisible => {
            let mut v = vec!["Id".to_owned()];
            if let (Some(o), Some(s)) = (e.sc.org.object(obj), s) {
                let eff = e.sc.org.effective(&e.sc.org.users[s.user]);
                v.extend(
                    o.fields
                        .iter()
                        .filter(|f| eff.field(o, f).read)
                        .map(|f| f.name.clone()),
                );
            }
            v.join(", ")
        }
    }
}
