//! The containment door: the one way the simulation changes the org as a
//! response. Each scripted action is carried out as a SOAR tool would, with
//! an admin session and Salesforce's own endpoints (revoke, AuthSession,
//! UserLogin, User, PermissionSetAssignment, OauthToken, the app block),
//! with containment faults (failed attempts, latency) applied here. Actions
//! an external detector asks for (protocol `action` lines) come in through
//! [`Door::request`] and are carried out the same way.
//!
//! Owns: when actions run, their retries, and their outcomes.
//! Must not: read ground truth to decide anything (targets come from the
//! script or the detector), or change the org by any path other than
//! requests.

use std::net::Ipv4Addr;

use super::actors::{API, network_ip, query_path, record_ids, request, session_of, soap_login};
use super::attack::Attack;
use super::{ActionOutcome, ActorId, Engine, Line, SimError, Task};
use crate::model::UserKind;
use crate::scenario::{Action, ActionKind, FaultKind, Trigger};
use crate::sfdc::Method;

const UA: &str = "leakdrill-soar/1.0";
/// First retry after a failed attempt; doubles each time.
const RETRY_MS: i64 = 60_000;
const MAX_ATTEMPTS: u32 = 20;
/// How long after a containment action its verification probe runs.
const PROBE_AFTER_MS: i64 = 60_000;

#[derive(Debug, Clone)]
struct State {
    triggered_ms: Option<i64>,
    effective_ms: Option<i64>,
    attempts: u32,
    ok: bool,
}

#[derive(Debug)]
pub struct Door {
    admin: Option<usize>,
    ip: Ipv4Addr,
    token: Option<String>,
    /// The scenario's `response:` actions (by index), then the actions a
    /// detector asked for, in the order it asked.
    specs: Vec<Action>,
    actions: Vec<State>,
    /// A run limit hit while acting: ends the run after the attempt.
    fatal: Option<SimError>,
}

impl Door {
    pub fn new(e: &Engine) -> Door {
        let org = &e.sc.org;
        let admin = org
            .users
            .iter()
            .position(|u| u.kind == UserKind::Admin && u.active);
        let net = admin.map_or(0, |a| super::actors::user_network(&e.sc, a));
        Door {
            admin,
            ip: network_ip(&e.sc, net, 9),
            token: None,
            fatal: None,
            specs: e.sc.response.clone(),
            actions: vec![
                State {
                    triggered_ms: None,
                    effective_ms: None,
                    attempts: 0,
                    ok: false
                };
                e.sc.response.len()
            ],
        }
    }

    /// Schedules action `k`, triggered at `at_ms` (absolute).
    pub fn trigger(&mut self, e: &mut Engine, k: usize, at_ms: i64) -> Result<(), SimError> {
        if self.actions[k].triggered_ms.is_some() {
            return Ok(());
        }
        self.actions[k].triggered_ms = Some(at_ms - e.sc.start_ms);
        let a = &self.specs[k];
        let latency: i64 =
            e.sc.chaos
                .iter()
                .filter(|f| {
                    f.kind == FaultKind::ContainmentLatency
                        && a.kind != ActionKind::Notify
                        && f.action.is_none_or(|x| x == a.kind)
                })
                .map(|f| f.delay_ms)
                .sum();
        e.schedule(at_ms + a.after_ms + latency, Task::Action(k, 0))
    }

    /// An action the detector under test asked for at `at_ms` (absolute):
    /// added after the scenario's own and triggered now, with the same
    /// containment faults, retries, log lines and verification probes.
    pub fn request(&mut self, e: &mut Engine, a: Action, at_ms: i64) -> Result<(), SimError> {
        self.specs.push(a);
        self.actions.push(State {
            triggered_ms: None,
            effective_ms: None,
            attempts: 0,
            ok: false,
        });
        self.trigger(e, self.specs.len() - 1, at_ms)
    }

    /// Triggers every action waiting for an alert of this rule (or any).
    pub fn on_alert(
        &mut self,
        e: &mut Engine,
        rule_id: &str,
        title: &str,
        at_ms: i64,
    ) -> Result<(), SimError> {
        for k in 0..e.sc.response.len() {
            if let Trigger::Alert(want) = &self.specs[k].trigger
                && (want == "any" || want == rule_id || want == title)
            {
                self.trigger(e, k, at_ms)?;
            }
        }
        Ok(())
    }

    /// Triggers every action waiting for `step`'s first success.
    pub fn on_first_success(
        &mut self,
        e: &mut Engine,
        step: usize,
        at_ms: i64,
    ) -> Result<(), SimError> {
        for k in 0..e.sc.response.len() {
            if self.specs[k].trigger == Trigger::FirstSuccess(step) {
                self.trigger(e, k, at_ms)?;
            }
        }
        Ok(())
    }

    /// The action's target with the step's user and app filled in.
    fn target_label(&self, e: &Engine, attack: &Attack, k: usize) -> String {
        let a = &self.specs[k];
        if a.kind == ActionKind::Notify {
            return match (&a.target.regime, &a.target.obligation) {
                (Some(r), _) => format!("regime:{r}"),
                (None, Some(o)) => format!("obligation:{o}"),
                (None, None) => String::new(),
            };
        }
        if a.kind == ActionKind::BlockEgress {
            let host = a.target.host.clone().or_else(|| {
                let s = a.target.step?;
                e.flows.iter().find(|f| f.step == s).map(|f| f.host.clone())
            });
            return match (host, a.target.step) {
                (Some(h), _) => format!("host:{h}"),
                (None, Some(s)) => format!("step:{}", e.sc.attack[s].id),
                (None, None) => String::new(),
            };
        }
        let (user, app) = self.resolve(e, attack, k);
        label(
            e,
            a.target.step,
            user,
            app,
            a.target.permission_set.as_deref(),
        )
    }

    fn resolve(&self, e: &Engine, attack: &Attack, k: usize) -> (Option<usize>, Option<usize>) {
        let t = &self.specs[k].target;
        let (su, sa) = t.step.map_or((None, None), |s| attack.principal(e, s));
        (t.user.or(su), t.connected_app.or(sa))
    }

    /// Runs attempt `attempt` of action `k`.
    pub fn execute(
        &mut self,
        e: &mut Engine,
        attack: &Attack,
        k: usize,
        attempt: u32,
    ) -> Result<(), SimError> {
        let a = self.specs[k].clone();
        let target = self.target_label(e, attack, k);
        let t = e.now_ms - e.sc.start_ms;
        self.actions[k].attempts = attempt + 1;
        let failing: u32 =
            e.sc.chaos
                .iter()
                .filter(|f| {
                    f.kind == FaultKind::ContainmentFailure
                        && a.kind != ActionKind::Notify
                        && f.action.is_none_or(|x| x == a.kind)
                })
                .map(|f| f.failing_attempts)
                .sum();
        let outcome: Result<(), String> = if attempt < failing {
            Err("containment_failure fault: the call returned 503".into())
        } else {
            self.carry_out(e, attack, k)
        };
        if let Some(err) = self.fatal.take() {
            return Err(err);
        }
        match outcome {
            Ok(()) => {
                self.actions[k].ok = true;
                self.actions[k].effective_ms = Some(t);
                // Verified at the target: finished steps using the contained
                // credential try it once more a minute later.
                if !matches!(a.kind, ActionKind::Notify | ActionKind::BlockEgress) {
                    let (user, app) = self.resolve(e, attack, k);
                    for s in attack.probe_targets(e, user, app) {
                        e.schedule(e.now_ms + PROBE_AFTER_MS, Task::Probe(s))?;
                    }
                }
                e.line(&Line::Action {
                    t_ms: t,
                    action: a.kind.as_str(),
                    target: &target,
                    attempt,
                    outcome: "ok",
                    detail: None,
                });
            }
            Err(why) => {
                e.line(&Line::Action {
                    t_ms: t,
                    action: a.kind.as_str(),
                    target: &target,
                    attempt,
                    outcome: "failed",
                    detail: Some(&why),
                });
                if attempt + 1 < MAX_ATTEMPTS {
                    let backoff = RETRY_MS << attempt.min(10);
                    e.schedule(e.now_ms + backoff, Task::Action(k, attempt + 1))?;
                }
            }
        }
        Ok(())
    }

    fn call(&mut self, e: &mut Engine, req: crate::sfdc::Request) -> Result<super::Reply, String> {
        e.call(ActorId::Responder, req).map_err(|err| {
            let msg = err.to_string();
            self.fatal.get_or_insert(err);
            msg
        })
    }

    fn session(&mut self, e: &mut Engine) -> Result<String, String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let Some(admin) = self.admin else {
            return Err("the fixture has no active admin user to act as".into());
        };
        let u = &e.org.auth.users[admin];
        let pw = format!("{}{}", u.password, u.security_token);
        let name = e.sc.org.users[admin].username.clone();
        let r = self.call(e, soap_login(&name, &pw, self.ip, UA))?;
        let t = session_of(&r).ok_or_else(|| format!("admin login failed ({})", r.resp.status))?;
        self.token = Some(t.clone());
        Ok(t)
    }

    /// `SELECT Id FROM …` as the admin; the Ids.
    fn ids(&mut self, e: &mut Engine, soql: &str) -> Result<Vec<String>, String> {
        let tok = self.session(e)?;
        let r = self.call(
            e,
            request(Method::Get, &query_path(soql), Some(&tok), self.ip, UA),
        )?;
        if r.resp.status == 401 {
            self.token = None;
        }
        if !r.ok() {
            return Err(format!(
                "{soql}: {}",
                r.resp
                    .error_code()
                    .unwrap_or_else(|| r.resp.status.to_string())
            ));
        }
        Ok(record_ids(&r))
    }

    fn send(
        &mut self,
        e: &mut Engine,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let tok = self.session(e)?;
        let mut req = request(method, path, Some(&tok), self.ip, UA);
        if let Some(b) = body {
            req = req
                .with_header("content-type", "application/json")
                .with_body(b.to_string());
        }
        let r = self.call(e, req)?;
        if r.resp.status == 401 {
            self.token = None;
        }
        if r.ok() {
            Ok(())
        } else {
            Err(format!(
                "{} {path}: {}",
                method.as_str(),
                r.resp
                    .error_code()
                    .unwrap_or_else(|| r.resp.status.to_string())
            ))
        }
    }

    fn user_id(&mut self, e: &mut Engine, user: Option<usize>) -> Result<String, String> {
        let u = user.ok_or("the target names no user")?;
        let name = e.sc.org.users[u].username.replace('\'', "\\'");
        self.ids(e, &format!("SELECT Id FROM User WHERE Username = '{name}'"))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("no user {name}"))
    }

    fn carry_out(&mut self, e: &mut Engine, attack: &Attack, k: usize) -> Result<(), String> {
        let a = self.specs[k].clone();
        let (user, app) = self.resolve(e, attack, k);
        let session = a
            .target
            .step
            .and_then(|s| attack.session_of_step(e, s).cloned());
        match a.kind {
            // Filed with the regulator or the individuals: nothing in the org.
            ActionKind::Notify => Ok(()),
            ActionKind::RevokeAccessToken => {
                let s = session.ok_or("no access token known for the target step")?;
                self.revoke(e, &s.token)
            }
            ActionKind::RevokeRefreshTokens => {
                if let Some(refresh) = session.as_ref().and_then(|s| s.refresh.clone()) {
                    return self.revoke(e, &refresh);
                }
                let app = app.ok_or("the target names no connected app")?;
                let name = e.sc.org.connected_apps[app].name.replace('\'', "\\'");
                let mut soql = format!("SELECT Id FROM OauthToken WHERE AppName = '{name}'");
                if user.is_some() {
                    let uid = self.user_id(e, user)?;
                    soql.push_str(&format!(" AND UserId = '{uid}'"));
                }
                for id in self.ids(e, &soql)? {
                    self.send(
                        e,
                        Method::Delete,
                        &format!("{API}/sobjects/OauthToken/{id}"),
                        None,
                    )?;
                }
                Ok(())
            }
            ActionKind::EndSessions => {
                let uid = self.user_id(e, user)?;
                for id in self.ids(
                    e,
                    &format!("SELECT Id FROM AuthSession WHERE UsersId = '{uid}'"),
                )? {
                    self.send(
                        e,
                        Method::Delete,
                        &format!("{API}/sobjects/AuthSession/{id}"),
                        None,
                    )?;
                }
                Ok(())
            }
            ActionKind::FreezeUser => {
                let uid = self.user_id(e, user)?;
                let ids = self.ids(
                    e,
                    &format!("SELECT Id FROM UserLogin WHERE UserId = '{uid}'"),
                )?;
                let id = ids.first().ok_or("no UserLogin row")?.clone();
                self.send(
                    e,
                    Method::Patch,
                    &format!("{API}/sobjects/UserLogin/{id}"),
                    Some(serde_json::json!({"IsFrozen": true})),
                )
            }
            ActionKind::DeactivateUser => {
                let uid = self.user_id(e, user)?;
                self.send(
                    e,
                    Method::Patch,
                    &format!("{API}/sobjects/User/{uid}"),
                    Some(serde_json::json!({"IsActive": false})),
                )
            }
            ActionKind::BlockConnectedApp => {
                let app = app.ok_or("the target names no connected app")?;
                let name: String = percent_encoding::utf8_percent_encode(
                    &e.sc.org.connected_apps[app].name,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .collect();
                self.send(
                    e,
                    Method::Post,
                    &format!("/services/leakdrill/connected-apps/{name}/block"),
                    None,
                )
            }
            ActionKind::BlockEgress => {
                // Outside Salesforce: a deny rule at the egress proxy.
                let host = a
                    .target
                    .host
                    .clone()
                    .or_else(|| {
                        let s = a.target.step?;
                        e.flows.iter().find(|f| f.step == s).map(|f| f.host.clone())
                    })
                    .ok_or("the target step has not sent data anywhere yet")?;
                e.blocked_hosts.insert(host);
                Ok(())
            }
            ActionKind::RemovePermissionSet => {
                let ps = a
                    .target
                    .permission_set
                    .clone()
                    .ok_or("no permission set")?
                    .replace('\'', "\\'");
                let uid = self.user_id(e, user)?;
                let ps_id = self
                    .ids(
                        e,
                        &format!("SELECT Id FROM PermissionSet WHERE Name = '{ps}'"),
                    )?
                    .into_iter()
                    .next()
                    .ok_or("no such permission set")?;
                for id in self.ids(
                    e,
                    &format!("SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{uid}' AND PermissionSetId = '{ps_id}'"),
                )? {
                    self.send(e, Method::Delete, &format!("{API}/sobjects/PermissionSetAssignment/{id}"), None)?;
                }
                Ok(())
            }
        }
    }

    fn revoke(&mut self, e: &mut Engine, token: &str) -> Result<(), String> {
        let req = request(Method::Post, "/services/oauth2/revoke", None, self.ip, UA)
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(super::actors::form(&[("token", token)]));
        let r = self.call(e, req)?;
        if r.ok() {
            Ok(())
        } else {
            Err(format!("revoke: {}", r.resp.status))
        }
    }

    pub fn outcomes(&self, e: &Engine) -> Vec<ActionOutcome> {
        self.specs
            .iter()
            .zip(&self.actions)
            .map(|(a, s)| ActionOutcome {
                action: a.kind.as_str(),
                target: describe_target(e, a),
                triggered_ms: s.triggered_ms,
                effective_ms: s.effective_ms,
                attempts: s.attempts,
                ok: s.ok,
            })
            .collect()
    }
}

/// The action's target as the script names it.
fn describe_target(e: &Engine, a: &crate::scenario::Action) -> String {
    let t = &a.target;
    let mut out = label(
        e,
        t.step,
        t.user,
        t.connected_app,
        t.permission_set.as_deref(),
    );
    let extra = [
        ("host", &t.host),
        ("regime", &t.regime),
        ("obligation", &t.obligation),
    ];
    for (k, v) in extra {
        if let Some(v) = v {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{k}:{v}"));
        }
    }
    out
}

/// `step:… user:… app:… permission_set:…`, the parts that are known.
fn label(
    e: &Engine,
    step: Option<usize>,
    user: Option<usize>,
    app: Option<usize>,
    permission_set: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    if let Some(s) = step {
        parts.push(format!("step:{}", e.sc.attack[s].id));
    }
    if let Some(u) = user {
        parts.push(format!("user:{}", e.sc.org.users[u].username));
    }
    if let Some(p) = app {
        parts.push(format!("app:{}", e.sc.org.connected_apps[p].name));
    }
    if let Some(ps) = permission_set {
        parts.push(format!("permission_set:{ps}"));
    }
    parts.join(" ")
}
