//! Authentication: deterministic credentials for every fixture user and
//! connected app, sessions and OAuth grants, the OAuth 2.0 token endpoint
//! (password, refresh_token, client_credentials), SOAP partner login,
//! revocation, userinfo/identity, and the bearer check every API call makes.
//!
//! Owns: credentials, sessions, grants and user/app runtime state (active,
//! frozen, blocked, permission sets). Must not: read the clock or do I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use base64::Engine;
use serde_json::{Value, json};

use super::telemetry::{EventKind, base62};
use super::{Event, OrgState, Request, Response};
use crate::model::{
    Cidr, Effective, IpRelaxation, Org, RefreshTokenPolicy, SystemPermission, User,
};
use crate::seed::{Seed, mix};

/// Open sessions kept per org; the oldest idle ones are evicted beyond this.
pub const MAX_SESSIONS: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct UserAuth {
    pub password: String,
    pub security_token: String,
    pub active: bool,
    pub frozen: bool,
    pub permission_sets: Vec<String>,
    pub last_login_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppAuth {
    pub client_id: String,
    pub client_secret: String,
    /// `0H4…` Id (ConnectedAppId in telemetry).
    pub id: String,
    pub blocked: bool,
    /// The app's OAuth scopes, shared by every session it issues (a login
    /// does not copy the set).
    pub scopes: std::sync::Arc<BTreeSet<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    SoapPartner,
    OAuthPassword,
    OAuthRefresh,
    OAuthClientCredentials,
    OAuthJwtBearer,
}

impl LoginKind {
    /// `LoginType` as Salesforce reports it.
    pub fn login_type(self) -> &'static str {
        match self {
            LoginKind::SoapPartner => "Partner Product",
            _ => "Remote Access 2.0",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token: String,
    /// `0Ak…` AuthSession Id.
    pub id: String,
    pub user: usize,
    pub app: Option<usize>,
    pub scopes: std::sync::Arc<BTreeSet<String>>,
    pub kind: LoginKind,
    pub created_ms: i64,
    pub last_used_ms: LastUse,
    pub source_ip: Ipv4Addr,
    pub session_key: String,
    pub login_key: String,
    pub grant: Option<usize>,
    pub ended: bool,
}

/// A session's last use in ms: advanced by queries that run with shared
/// access to the org ([`OrgState::handle_shared`]).
#[derive(Debug, Default)]
pub struct LastUse(std::sync::atomic::AtomicI64);

impl LastUse {
    pub fn new(ms: i64) -> LastUse {
        LastUse(std::sync::atomic::AtomicI64::new(ms))
    }
    pub fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clone for LastUse {
    fn clone(&self) -> LastUse {
        LastUse::new(self.get())
    }
}

impl PartialEq for LastUse {
    fn eq(&self, other: &LastUse) -> bool {
        self.get() == other.get()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub refresh_token: String,
    pub user: usize,
    pub app: usize,
    pub created_ms: i64,
    /// Last use; expiry ("if not used for N days") counts from here. `None`
    /// for the standing grants `serve.json` hands out, until first used.
    pub last_used_ms: Option<i64>,
    pub revoked: bool,
}

/// When the standing grants in `serve.json` were consented to (2025-01-01):
/// before any run, so they count as fresh until first used.
const STANDING_GRANT_MS: i64 = 1_735_689_600_000;

/// See `Auth::by_token`. A `BTreeMap` here cost O(log n) comparisons of
/// 110-character tokens sharing their first 20 per login and per call.
#[allow(clippy::disallowed_types)]
type TokenIndex = std::collections::HashMap<
    String,
    usize,
    std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
>;

#[derive(Debug, Clone)]
pub struct Auth {
    pub users: Vec<UserAuth>,
    pub apps: Vec<AppAuth>,
    pub sessions: Vec<Session>,
    /// Access token → session: only looked up, never iterated (so no order
    /// reaches output), with fixed hash keys (no OS entropy).
    by_token: TokenIndex,
    /// Sessions before this index are ended, and evicted ones forgotten
    /// (token no longer indexed), so memory stays bounded however many
    /// logins a long-running server sees.
    evicted_upto: usize,
    pub grants: Vec<Grant>,
    by_refresh: BTreeMap<String, usize>,
    /// IP ranges blocked by a response action.
    pub blocked_ranges: Vec<Cidr>,
    seed: Seed,
    org_id15: String,
    token_seq: u64,
    eff_cache: Vec<Option<std::sync::Arc<Effective>>>,
}

fn secret(seed: Seed, label: &str, n: usize) -> String {
    base62(seed.fork(label).0, n)
}

impl Auth {
    pub fn new(org: &Org, seed: Seed, org_id: &str) -> Auth {
        let s = seed.fork("credentials");
        let users = org
            .users
            .iter()
            .map(|u| UserAuth {
                password: format!("Ld-{}", secret(s.fork(&u.username), "password", 14)),
                security_token: secret(s.fork(&u.username), "security-token", 24),
                active: u.active,
                frozen: u.frozen,
                permission_sets: u.permission_sets.clone(),
                last_login_ms: None,
            })
            .collect();
        let apps = org
            .connected_apps
            .iter()
            .enumerate()
            .map(|(i, a)| AppAuth {
                client_id: format!("3MVG9{}", secret(s.fork(&a.name), "client-id", 80)),
                client_secret: hex_upper(s.fork(&a.name).fork("client-secret")),
                id: crate::sfid::record_id(seed.fork("apps"), "0H4", i as u64),
                blocked: false,
                scopes: std::sync::Arc::new(a.scopes.clone()),
            })
            .collect();
        let mut auth = Auth {
            users,
            apps,
            sessions: Vec::new(),
            by_token: TokenIndex::default(),
            evicted_upto: 0,
            grants: Vec::new(),
            by_refresh: BTreeMap::new(),
            blocked_ranges: Vec::new(),
            seed,
            org_id15: org_id[..15].to_owned(),
            token_seq: 0,
            eff_cache: vec![None; org.users.len()],
        };
        // One standing grant per (app, authorised user), as after consent: these
        // are the refresh tokens ETL tools are configured with.
        for (ai, a) in org.connected_apps.iter().enumerate() {
            let issues = a.scopes.contains("refresh_token")
                || a.scopes.contains("offline_access")
                || a.scopes.contains("full");
            if !issues {
                continue;
            }
            for u in &a.authorized_users {
                if let Some(ui) = org.users.iter().position(|x| &x.username == u) {
                    auth.new_grant(ui, ai, STANDING_GRANT_MS);
                }
            }
        }
        auth
    }

    fn new_grant(&mut self, user: usize, app: usize, now_ms: i64) -> String {
        self.token_seq += 1;
        let token = format!(
            "5Aep861{}",
            base62(mix(self.seed.fork("refresh").0 ^ self.token_seq), 80)
        );
        self.by_refresh.insert(token.clone(), self.grants.len());
        self.grants.push(Grant {
            refresh_token: token.clone(),
            user,
            app,
            created_ms: now_ms,
            last_used_ms: (now_ms != STANDING_GRANT_MS).then_some(now_ms),
            revoked: false,
        });
        token
    }

    /// Refresh tokens of one app, by user index.
    pub fn refresh_tokens(&self, app: usize) -> Vec<(usize, &str)> {
        self.grants
            .iter()
            .filter(|g| g.app == app && !g.revoked)
            .map(|g| (g.user, g.refresh_token.as_str()))
            .collect()
    }

    #[allow(clippy::too_many_arguments)] // one call site per login kind; a struct adds nothing
    fn new_session(
        &mut self,
        user: usize,
        app: Option<usize>,
        scopes: std::sync::Arc<BTreeSet<String>>,
        kind: LoginKind,
        now_ms: i64,
        ip: Ipv4Addr,
        grant: Option<usize>,
    ) -> usize {
        self.token_seq += 1;
        let h = mix(self.seed.fork("access").0 ^ self.token_seq);
        let mut token = String::with_capacity(self.org_id15.len() + 3 + 94);
        token.push_str(&self.org_id15);
        token.push_str("!AQ");
        super::telemetry::push_base62(&mut token, h, 94);
        let login_key = grant
            .and_then(|g| {
                self.sessions
                    .iter()
                    .rev()
                    .find(|s| s.grant == Some(g))
                    .map(|s| s.login_key.clone())
            })
            .unwrap_or_else(|| base62(mix(h ^ 1), 16));
        let idx = self.sessions.len();
        self.by_token.insert(token.clone(), idx);
        self.sessions.push(Session {
            token,
            id: crate::sfid::record_id(self.seed.fork("sessions"), "0Ak", self.token_seq),
            user,
            app,
            scopes,
            kind,
            created_ms: now_ms,
            last_used_ms: LastUse::new(now_ms),
            source_ip: ip,
            session_key: base62(mix(h ^ 2), 16),
            login_key,
            grant,
            ended: false,
        });
        // Eviction is checked every 1,024 logins, so logging in stays O(1)
        // amortised. The oldest sessions past the limit end and are
        // forgotten: their tokens fail as any unknown token does.
        // Past the limit, eviction goes down to `EVICT_TO`, so the next
        // checks need not count until that slack is used up.
        const EVICT_TO: usize = MAX_SESSIONS - 16 * 1024;
        let from = self.evicted_upto;
        if self.sessions.len().is_multiple_of(1024) && self.sessions.len() - from > MAX_SESSIONS {
            let mut live = self.sessions[from..].iter().filter(|s| !s.ended).count();
            let mut upto = from;
            let target = if live > MAX_SESSIONS { EVICT_TO } else { live };
            // Ended sessions at the front are forgotten too.
            while upto < self.sessions.len() && (live > target || self.sessions[upto].ended) {
                let s = &mut self.sessions[upto];
                if !s.ended {
                    s.ended = true;
                    live -= 1;
                }
                self.by_token.remove(&s.token);
                s.token = String::new();
                s.scopes = Default::default();
                upto += 1;
            }
            self.evicted_upto = upto;
        }
        self.users[user].last_login_ms = Some(now_ms);
        idx
    }

    pub fn session_by_token(&self, token: &str) -> Option<usize> {
        self.by_token.get(token).copied()
    }

    /// Ends every session of a grant and revokes it.
    pub fn revoke_grant(&mut self, g: usize) {
        self.grants[g].revoked = true;
        for s in self.sessions.iter_mut().filter(|s| s.grant == Some(g)) {
            s.ended = true;
        }
    }

    /// Ends every session of a user.
    pub fn end_user_sessions(&mut self, user: usize) {
        for s in self.sessions.iter_mut().filter(|s| s.user == user) {
            s.ended = true;
        }
    }

    pub fn invalidate_permissions(&mut self, user: usize) {
        if let Some(slot) = self.eff_cache.get_mut(user) {
            *slot = None;
        }
    }

    /// The user's effective permissions with their *current* permission sets.
    /// Cached; the `Arc` makes handing it out free.
    pub fn effective(&mut self, org: &Org, user: usize) -> std::sync::Arc<Effective> {
        if let Some(Some(e)) = self.eff_cache.get(user) {
            return e.clone();
        }
        let mut u: User = org.users[user].clone();
        u.permission_sets = self.users[user].permission_sets.clone();
        let e = std::sync::Arc::new(org.effective(&u));
        self.eff_cache[user] = Some(e.clone());
        e
    }

    /// The user's effective permissions if already computed.
    pub fn cached_effective(&self, user: usize) -> Option<std::sync::Arc<Effective>> {
        self.eff_cache.get(user)?.clone()
    }
}

fn hex_upper(s: Seed) -> String {
    let mut out = String::with_capacity(64);
    for i in 0..4 {
        out.push_str(&format!("{:016X}", mix(s.0 ^ i)));
    }
    out
}

fn oauth_error(error: &str, description: &str) -> Response {
    Response::json(
        400,
        &json!({ "error": error, "error_description": description }),
    )
}

/// Text of the first element named `local` (any namespace prefix), unescaped.
pub fn xml_text(body: &str, local: &str) -> Option<String> {
    let mut from = 0;
    while let Some(off) = body[from..].find('<') {
        let start = from + off + 1;
        let rest = &body[start..];
        let name_end = rest.find(|c: char| c == '>' || c == '/' || c.is_whitespace())?;
        let name = &rest[..name_end];
        let local_name = name.rsplit(':').next().unwrap_or(name);
        if local_name == local && !name.starts_with('/') {
            let open_end = start + rest.find('>')? + 1;
            if body[..open_end].ends_with("/>") {
                return Some(String::new());
            }
            let close = body[open_end..].find("</")?;
            return Some(xml_unescape(&body[open_end..open_end + close]));
        }
        from = start;
    }
    None
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn soap_fault(code: &str, message: &str) -> Response {
    Response::xml(
        500,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:sf=\"urn:fault.partner.soap.sforce.com\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {msg}</faultstring><detail><sf:LoginFault xsi:type=\"sf:LoginFault\"><sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{msg}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>",
            msg = xml_escape(message)
        ),
    )
}

/// Why an authenticated call was refused.
pub enum Denied {
    Session(&'static str),
    ApiDisabled,
}

impl Denied {
    pub fn response(&self) -> Response {
        match self {
            Denied::Session(m) => Response::error(401, "INVALID_SESSION_ID", m),
            Denied::ApiDisabled => Response::error(
                403,
                "API_DISABLED_FOR_ORG",
                "The REST API is not enabled for this Organization.",
            ),
        }
    }
}

const SESSION_INVALID: &str = "Session expired or invalid";
const SESSION_WRONG_TYPE: &str = "This session is not valid for use with the REST API";

impl OrgState {
    /// The login host a client reached maps to the org's My Domain instance.
    pub fn instance_url(&self, req: &Request) -> String {
        let base = req.base_url.trim_end_matches('/');
        let host = base.split("://").nth(1).unwrap_or(base);
        let host_only = host.split(':').next().unwrap_or(host);
        if matches!(host_only, "login.salesforce.com" | "test.salesforce.com") {
            let scheme = base.split("://").next().unwrap_or("https");
            let port = host
                .split_once(':')
                .map(|(_, p)| format!(":{p}"))
                .unwrap_or_default();
            format!("{scheme}://{}.my.salesforce.com{port}", self.org.instance)
        } else {
            base.to_owned()
        }
    }

    fn user_id(&self, user: usize) -> &str {
        &self.store.user_ids[user]
    }

    fn fill_identity(&self, ev: &mut Event, session: usize) {
        let s = &self.auth.sessions[session];
        ev.user_id = Some(self.user_id(s.user).to_owned());
        ev.username = Some(self.org.users[s.user].username.clone());
        ev.session_key = Some(s.session_key.clone());
        ev.login_key = Some(s.login_key.clone());
        if let Some(a) = s.app {
            ev.connected_app_id = Some(self.auth.apps[a].id[..15].to_owned());
            ev.connected_app_name = Some(self.org.connected_apps[a].name.clone());
        }
    }

    /// Checks the bearer token of an API call. On success the event carries
    /// the caller's identity and the session counts as used now.
    pub fn authenticate(
        &mut self,
        now_ms: i64,
        req: &Request,
        ev: &mut Event,
    ) -> Result<usize, Denied> {
        let si = self.check_session(now_ms, req, ev)?;
        self.auth.sessions[si].last_used_ms.set(now_ms);
        let eff = self.auth.effective(&self.org, self.auth.sessions[si].user);
        if !eff.has(SystemPermission::ApiEnabled) {
            return Err(Denied::ApiDisabled);
        }
        Ok(si)
    }

    /// [`OrgState::authenticate`] with shared access: the session and the
    /// user's permissions (already computed) when the call may proceed,
    /// `None` when it is refused or the permissions are not computed yet.
    /// Changes nothing: the caller marks the session used once it commits.
    pub(super) fn authenticate_shared(
        &self,
        now_ms: i64,
        req: &Request,
        ev: &mut Event,
    ) -> Option<(usize, std::sync::Arc<Effective>)> {
        let si = self.check_session(now_ms, req, ev).ok()?;
        let eff = self.auth.cached_effective(self.auth.sessions[si].user)?;
        eff.has(SystemPermission::ApiEnabled).then_some((si, eff))
    }

    /// The session a call's bearer token names, if it is live, allowed and
    /// scoped for the API.
    fn check_session(&self, now_ms: i64, req: &Request, ev: &mut Event) -> Result<usize, Denied> {
        let token = req
            .header("authorization")
            .and_then(|h| {
                let (scheme, t) = h.split_once(' ')?;
                (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
                    .then(|| t.trim())
            })
            .or_else(|| req.header("x-sfdc-session").map(str::trim))
            .map(str::to_owned)
            .or_else(|| req.param("access_token"));
        let Some(token) = token else {
            return Err(Denied::Session(SESSION_INVALID));
        };
        let Some(si) = self.auth.session_by_token(&token) else {
            return Err(Denied::Session(SESSION_INVALID));
        };
        self.fill_identity(ev, si);
        let s = &self.auth.sessions[si];
        let user = s.user;
        let expired =
            now_ms - s.last_used_ms.get() > (self.opts.session_seconds_valid as i64) * 1000;
        let ua = &self.auth.users[user];
        let app_blocked = s.app.is_some_and(|a| self.auth.apps[a].blocked);
        let ip_blocked = self
            .auth
            .blocked_ranges
            .iter()
            .any(|c| c.contains(req.source_ip));
        if s.ended
            || expired
            || !ua.active
            || (ua.frozen && self.opts.freeze_ends_sessions)
            || app_blocked
            || ip_blocked
        {
            return Err(Denied::Session(SESSION_INVALID));
        }
        let api_scope = s.kind == LoginKind::SoapPartner
            || s.scopes.contains("api")
            || s.scopes.contains("full");
        if !api_scope {
            return Err(Denied::Session(SESSION_WRONG_TYPE));
        }
        Ok(si)
    }

    fn find_user(&self, username: &str) -> Option<usize> {
        self.org
            .users
            .iter()
            .position(|u| u.username.eq_ignore_ascii_case(username))
    }

    fn login_ip_allowed(&self, user: usize, ip: Ipv4Addr) -> bool {
        let ranges = self
            .org
            .profile(&self.org.users[user].profile)
            .map(|p| p.login_ip_ranges.as_slice())
            .unwrap_or(&[]);
        ranges.is_empty() || ranges.iter().any(|c| c.contains(ip))
    }

    fn login_event(&self, ev: &mut Event, kind: LoginKind, user: Option<usize>, status: &str) {
        ev.kind = EventKind::Login;
        ev.login_type = Some(kind.login_type());
        ev.status = Some(status.to_owned());
        if let Some(u) = user {
            ev.user_id = Some(self.user_id(u).to_owned());
            ev.username = Some(self.org.users[u].username.clone());
        }
    }

    fn token_response(
        &self,
        req: &Request,
        si: usize,
        refresh: Option<&str>,
        now_ms: i64,
    ) -> Response {
        let s = &self.auth.sessions[si];
        let instance = self.instance_url(req);
        let login_base = req.base_url.trim_end_matches('/');
        // Keys in the order Salesforce (and serde_json's map) writes them,
        // written directly: one buffer, strings escaped as serde_json does
        // (a unit test holds the two equal).
        let text = super::query::write_json_str;
        let mut body = Vec::with_capacity(512);
        body.extend_from_slice(b"{\"access_token\":");
        text(&mut body, &s.token);
        body.extend_from_slice(b",\"id\":");
        let mut id = String::with_capacity(login_base.len() + 44);
        id.push_str(login_base);
        id.push_str("/id/");
        id.push_str(&self.org_id);
        id.push('/');
        id.push_str(self.user_id(s.user));
        text(&mut body, &id);
        body.extend_from_slice(b",\"instance_url\":");
        text(&mut body, &instance);
        body.extend_from_slice(b",\"issued_at\":\"");
        body.extend_from_slice(itoa::Buffer::new().format(now_ms).as_bytes());
        body.push(b'"');
        if let Some(r) = refresh {
            body.extend_from_slice(b",\"refresh_token\":");
            text(&mut body, r);
        }
        body.extend_from_slice(b",\"scope\":");
        let mut scope = String::new();
        for (i, sc) in s.scopes.iter().enumerate() {
            if i > 0 {
                scope.push(' ');
            }
            scope.push_str(sc);
        }
        text(&mut body, &scope);
        body.extend_from_slice(b",\"signature\":\"");
        let mut sig = [0u8; 12];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(mix(s.created_ms as u64 ^ 0x5167).to_be_bytes(), &mut sig)
            .unwrap_or(0);
        body.extend_from_slice(&sig[..n]);
        body.extend_from_slice(b"\",\"token_type\":\"Bearer\"}");
        Response::json_bytes(200, body)
    }

    /// `POST /services/oauth2/token`.
    pub fn oauth_token(&mut self, now_ms: i64, req: &Request, ev: &mut Event) -> Response {
        // The form body, decoded once (the first occurrence of a name wins).
        let form = |name: &str| super::form_value(&req.body, name);
        let grant = form("grant_type").unwrap_or_default();
        let kind = match grant.as_str() {
            "password" => LoginKind::OAuthPassword,
            "refresh_token" => LoginKind::OAuthRefresh,
            "client_credentials" => LoginKind::OAuthClientCredentials,
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
                return self.jwt_bearer(now_ms, req, ev);
            }
            _ => {
                self.login_event(
                    ev,
                    LoginKind::OAuthPassword,
                    None,
                    "Failed: Unsupported Grant Type",
                );
                return oauth_error("unsupported_grant_type", "grant type not supported");
            }
        };
        // Client authentication: body parameters or HTTP Basic.
        let (mut cid, mut csecret) = (form("client_id"), form("client_secret"));
        if let Some(basic) = req.header("authorization").and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        }) && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
            && let Ok(text) = String::from_utf8(raw)
            && let Some((k, s)) = text.split_once(':')
        {
            cid = Some(k.to_owned());
            csecret = Some(s.to_owned());
        }
        let Some(app) = cid
            .as_deref()
            .and_then(|c| self.auth.apps.iter().position(|a| a.client_id == c))
        else {
            self.login_event(ev, kind, None, "Failed: Missing Consumer Key Parameter");
            return oauth_error("invalid_client_id", "client identifier invalid");
        };
        ev.connected_app_id = Some(self.auth.apps[app].id[..15].to_owned());
        ev.connected_app_name = Some(self.org.connected_apps[app].name.clone());
        if csecret.as_deref() != Some(self.auth.apps[app].client_secret.as_str()) {
            self.login_event(ev, kind, None, "Failed: Invalid Client Credentials");
            return oauth_error("invalid_client", "invalid client credentials");
        }
        if self.auth.apps[app].blocked {
            self.login_event(ev, kind, None, "Failed: App Blocked");
            return oauth_error("invalid_client", "app is blocked");
        }
        let scopes = self.auth.apps[app].scopes.clone();
        match kind {
            LoginKind::OAuthPassword => {
                let username = form("username").unwrap_or_default();
                let password = form("password").unwrap_or_default();
                let Some(u) = self.find_user(&username) else {
                    self.login_event(ev, kind, None, "Invalid Password");
                    return oauth_error("invalid_grant", "authentication failure");
                };
                if let Err((status, desc)) =
                    self.check_login(u, &password, req.source_ip, Some(app), true)
                {
                    self.login_event(ev, kind, Some(u), status);
                    return oauth_error("invalid_grant", desc);
                }
                let si =
                    self.auth
                        .new_session(u, Some(app), scopes, kind, now_ms, req.source_ip, None);
                self.login_event(ev, kind, Some(u), "Success");
                self.fill_identity(ev, si);
                self.token_response(req, si, None, now_ms)
            }
            LoginKind::OAuthRefresh => {
                let token = form("refresh_token").unwrap_or_default();
                let Some(g) = self
                    .auth
                    .by_refresh
                    .get(&token)
                    .copied()
                    .filter(|g| self.auth.grants[*g].app == app)
                else {
                    self.login_event(ev, kind, None, "Failed: Invalid Refresh Token");
                    return oauth_error("invalid_grant", "expired access/refresh token");
                };
                let grant = self.auth.grants[g].clone();
                let expired = match self.org.connected_apps[app].refresh_token_policy {
                    RefreshTokenPolicy::UntilRevoked => false,
                    RefreshTokenPolicy::Immediately => true,
                    RefreshTokenPolicy::ExpireAfterDays(d) => grant
                        .last_used_ms
                        .is_some_and(|t| now_ms - t > i64::from(d) * 86_400_000),
                };
                if grant.revoked || expired {
                    self.login_event(ev, kind, Some(grant.user), "Failed: Refresh Token Expired");
                    return oauth_error("invalid_grant", "expired access/refresh token");
                }
                let ua = &self.auth.users[grant.user];
                if !ua.active {
                    self.login_event(ev, kind, Some(grant.user), "Failed: Inactive User");
                    return oauth_error("invalid_grant", "inactive user");
                }
                if ua.frozen {
                    self.login_event(ev, kind, Some(grant.user), "Failed: User Frozen");
                    return oauth_error("invalid_grant", "authentication failure");
                }
                if self.org.connected_apps[app].ip_relaxation == IpRelaxation::Enforce
                    && !self.login_ip_allowed(grant.user, req.source_ip)
                {
                    self.login_event(ev, kind, Some(grant.user), "Failed: Restricted IP");
                    return oauth_error("invalid_grant", "ip restricted");
                }
                self.auth.grants[g].last_used_ms = Some(now_ms);
                let new_refresh = if self.org.connected_apps[app].rotate_refresh_tokens {
                    self.auth.grants[g].revoked = true;
                    Some(self.auth.new_grant(grant.user, app, now_ms))
                } else {
                    None
                };
                let g_now = new_refresh
                    .as_ref()
                    .and_then(|t| self.auth.by_refresh.get(t).copied())
                    .unwrap_or(g);
                let si = self.auth.new_session(
                    grant.user,
                    Some(app),
                    scopes,
                    kind,
                    now_ms,
                    req.source_ip,
                    Some(g_now),
                );
                self.login_event(ev, kind, Some(grant.user), "Success");
                self.fill_identity(ev, si);
                self.token_response(req, si, new_refresh.as_deref(), now_ms)
            }
            LoginKind::OAuthClientCredentials => {
                // The run-as user is the app's first authorised user.
                let Some(u) = self.org.connected_apps[app]
                    .authorized_users
                    .first()
                    .and_then(|n| self.find_user(n))
                else {
                    self.login_event(ev, kind, None, "Failed: No Execution User");
                    return oauth_error("invalid_grant", "no client credentials user enabled");
                };
                if !self.auth.users[u].active || self.auth.users[u].frozen {
                    self.login_event(ev, kind, Some(u), "Failed: Inactive User");
                    return oauth_error("invalid_grant", "inactive user");
                }
                let si =
                    self.auth
                        .new_session(u, Some(app), scopes, kind, now_ms, req.source_ip, None);
                self.login_event(ev, kind, Some(u), "Success");
                self.fill_identity(ev, si);
                self.token_response(req, si, None, now_ms)
            }
            LoginKind::SoapPartner | LoginKind::OAuthJwtBearer => {
                oauth_error("unsupported_grant_type", "grant type not supported")
            }
        }
    }

    /// OAuth 2.0 JWT bearer (`urn:ietf:params:oauth:grant-type:jwt-bearer`):
    /// an RS256 assertion signed with the key whose certificate every mock
    /// connected app trusts (`mocks/jwt/`); `iss` = consumer key, `sub` =
    /// username, `aud` = the login host, `exp` in the future; the user must
    /// be pre-authorised for the app.
    fn jwt_bearer(&mut self, now_ms: i64, req: &Request, ev: &mut Event) -> Response {
        let kind = LoginKind::OAuthJwtBearer;
        let assertion = req.form("assertion").unwrap_or_default();
        let Some(claims) = verify_jwt(&assertion) else {
            self.login_event(ev, kind, None, "Failed: Invalid Assertion");
            return oauth_error("invalid_grant", "invalid assertion");
        };
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (iss, sub, aud) = (text("iss"), text("sub"), text("aud"));
        let exp = match claims.get("exp") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) => s.parse::<f64>().unwrap_or(0.0),
            _ => 0.0,
        };
        let Some(app) = self.auth.apps.iter().position(|a| a.client_id == iss) else {
            self.login_event(ev, kind, None, "Failed: Missing Consumer Key Parameter");
            return oauth_error("invalid_client_id", "client identifier invalid");
        };
        ev.connected_app_id = Some(self.auth.apps[app].id[..15].to_owned());
        ev.connected_app_name = Some(self.org.connected_apps[app].name.clone());
        let base = req.base_url.trim_end_matches('/');
        let aud = aud.trim_end_matches('/');
        let aud_ok = matches!(
            aud,
            "https://login.salesforce.com" | "https://test.salesforce.com"
        ) || aud == base
            || aud == self.instance_url(req);
        if !aud_ok {
            self.login_event(ev, kind, None, "Failed: Invalid Audience");
            return oauth_error("invalid_grant", "audience is invalid");
        }
        if exp * 1000.0 <= now_ms as f64 {
            self.login_event(ev, kind, None, "Failed: Assertion Expired");
            return oauth_error("invalid_grant", "invalid assertion");
        }
        let Some(u) = self.find_user(&sub) else {
            self.login_event(ev, kind, None, "Failed: Invalid Subject");
            return oauth_error("invalid_grant", "invalid assertion");
        };
        if self.auth.apps[app].blocked {
            self.login_event(ev, kind, Some(u), "Failed: App Blocked");
            return oauth_error("invalid_client", "app is blocked");
        }
        let cfg = &self.org.connected_apps[app];
        if !cfg.authorized_users.contains(&self.org.users[u].username) {
            self.login_event(ev, kind, Some(u), "Failed: User Not Approved");
            return oauth_error("invalid_grant", "user hasn't approved this consumer");
        }
        let ua = &self.auth.users[u];
        if !ua.active || ua.frozen {
            let desc = if ua.active {
                "authentication failure"
            } else {
                "inactive user"
            };
            self.login_event(ev, kind, Some(u), "Failed: Inactive User");
            return oauth_error("invalid_grant", desc);
        }
        if cfg.ip_relaxation == IpRelaxation::Enforce && !self.login_ip_allowed(u, req.source_ip) {
            self.login_event(ev, kind, Some(u), "Failed: Restricted IP");
            return oauth_error("invalid_grant", "ip restricted");
        }
        let scopes = self.auth.apps[app].scopes.clone();
        let si = self
            .auth
            .new_session(u, Some(app), scopes, kind, now_ms, req.source_ip, None);
        self.login_event(ev, kind, Some(u), "Success");
        self.fill_identity(ev, si);
        self.token_response(req, si, None, now_ms)
    }

    /// Password (+ security token unless from a login IP range), active,
    /// frozen, login IP ranges, app pre-authorisation.
    fn check_login(
        &self,
        u: usize,
        password: &str,
        ip: Ipv4Addr,
        app: Option<usize>,
        oauth: bool,
    ) -> Result<(), (&'static str, &'static str)> {
        let ua = &self.auth.users[u];
        let trusted = self
            .org
            .profile(&self.org.users[u].profile)
            .is_some_and(|p| {
                !p.login_ip_ranges.is_empty() && p.login_ip_ranges.iter().any(|c| c.contains(ip))
            });
        let with_token = format!("{}{}", ua.password, ua.security_token);
        let ok = password == with_token || (trusted && password == ua.password);
        if !ok {
            if password == ua.password && !oauth {
                return Err((
                    "Failed: Security Token Required",
                    "LOGIN_MUST_USE_SECURITY_TOKEN",
                ));
            }
            return Err(("Invalid Password", "authentication failure"));
        }
        if !ua.active {
            return Err(("Failed: Inactive User", "inactive user"));
        }
        if ua.frozen {
            return Err(("Failed: User Frozen", "authentication failure"));
        }
        if !self.login_ip_allowed(u, ip) {
            return Err(("Failed: Restricted IP", "ip restricted"));
        }
        if let Some(a) = app {
            let cfg = &self.org.connected_apps[a];
            if cfg.admin_approved_only
                && !cfg.authorized_users.contains(&self.org.users[u].username)
            {
                return Err((
                    "Failed: User Not Approved",
                    "user hasn't approved this consumer",
                ));
            }
        }
        Ok(())
    }

    /// `POST /services/Soap/u/{v}`: partner login.
    pub fn soap(&mut self, now_ms: i64, req: &Request, ev: &mut Event, v: &str) -> Response {
        ev.api_type = "SOAP Partner";
        ev.api_version = Some(v.to_owned());
        let body = String::from_utf8_lossy(&req.body);
        if xml_text(&body, "logout").is_some() {
            ev.kind = EventKind::Logout;
            let token = xml_text(&body, "sessionId").unwrap_or_default();
            return match self
                .auth
                .session_by_token(&token)
                .filter(|s| !self.auth.sessions[*s].ended)
            {
                Some(si) => {
                    self.fill_identity(ev, si);
                    self.auth.sessions[si].ended = true;
                    ev.detail = Some("SOAP logout".into());
                    Response::xml(200, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"urn:partner.soap.sforce.com\"><soapenv:Body><logoutResponse/></soapenv:Body></soapenv:Envelope>".into())
                }
                None => soap_fault(
                    "INVALID_SESSION_ID",
                    "Invalid Session ID found in SessionHeader: Illegal Session",
                ),
            };
        }
        if xml_text(&body, "login").is_none() {
            return soap_fault(
                "UNKNOWN_EXCEPTION",
                "leakdrill mock: only the login() call is supported on the SOAP API",
            );
        }
        let username = xml_text(&body, "username").unwrap_or_default();
        let password = xml_text(&body, "password").unwrap_or_default();
        let kind = LoginKind::SoapPartner;
        if let Some(client) = xml_text(&body, "client") {
            ev.client = Some(client);
        }
        let invalid = "Invalid username, password, security token; or user locked out.";
        let Some(u) = self.find_user(&username) else {
            self.login_event(ev, kind, None, "Invalid Password");
            return soap_fault("INVALID_LOGIN", invalid);
        };
        if let Err((status, code)) = self.check_login(u, &password, req.source_ip, None, false) {
            self.login_event(ev, kind, Some(u), status);
            return if code == "LOGIN_MUST_USE_SECURITY_TOKEN" {
                soap_fault(
                    code,
                    "Invalid username, password, security token; or user locked out. Are you at a new location? When accessing Salesforce--either via a desktop client or the API--from outside of your company's trusted networks, you must add a security token to your password to log in.",
                )
            } else {
                soap_fault("INVALID_LOGIN", invalid)
            };
        }
        if !self
            .auth
            .effective(&self.org, u)
            .has(SystemPermission::ApiEnabled)
        {
            self.login_event(ev, kind, Some(u), "Failed: API Disabled");
            return soap_fault(
                "API_DISABLED_FOR_ORG",
                "API is not enabled for this Organization or Partner",
            );
        }
        let si = self.auth.new_session(
            u,
            None,
            Default::default(),
            kind,
            now_ms,
            req.source_ip,
            None,
        );
        self.login_event(ev, kind, Some(u), "Success");
        self.fill_identity(ev, si);
        let inst = self.instance_url(req);
        let user = &self.org.users[u];
        let uid = self.user_id(u);
        let profile = super::store::profile_id(&self.org, &user.profile, self.seed);
        Response::xml(
            200,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"urn:partner.soap.sforce.com\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><loginResponse><result><metadataServerUrl>{inst}/services/Soap/m/{v}/{org}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox><serverUrl>{inst}/services/Soap/u/{v}/{org}</serverUrl><sessionId>{sid}</sessionId><userId>{uid}</userId><userInfo><accessibilityMode>false</accessibilityMode><chatterExternal>false</chatterExternal><currencySymbol>$</currencySymbol><orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit><orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts><organizationId>{org}</organizationId><organizationMultiCurrency>false</organizationMultiCurrency><organizationName>{oname}</organizationName><profileId>{profile}</profileId><roleId xsi:nil=\"true\"/><sessionSecondsValid>{secs}</sessionSecondsValid><userDefaultCurrencyIsoCode xsi:nil=\"true\"/><userEmail>{email}</userEmail><userFullName>{full}</userFullName><userId>{uid}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale><userName>{email}</userName><userTimeZone>{tz}</userTimeZone><userType>Standard</userType><userUiSkin>Theme3</userUiSkin></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>",
                org = self.org_id,
                sid = self.auth.sessions[si].token,
                oname = xml_escape(&self.org.org_name),
                email = xml_escape(&user.username),
                full = xml_escape(format!("{} {}", user.first_name, user.last_name).trim()),
                tz = xml_escape(&user.time_zone),
                secs = self.opts.session_seconds_valid,
            ),
        )
    }

    /// `POST /services/oauth2/revoke` (also GET with `?token=`).
    pub fn revoke(&mut self, now_ms: i64, req: &Request, ev: &mut Event) -> Response {
        let _ = now_ms;
        let token = req
            .form("token")
            .or_else(|| req.param("token"))
            .unwrap_or_default();
        if let Some(&g) = self.auth.by_refresh.get(&token) {
            let user = self.auth.grants[g].user;
            ev.user_id = Some(self.user_id(user).to_owned());
            ev.username = Some(self.org.users[user].username.clone());
            ev.kind = EventKind::Logout;
            ev.detail = Some("refresh token revoked with all its access tokens".into());
            self.auth.revoke_grant(g);
            return Response::empty(200);
        }
        if let Some(si) = self.auth.session_by_token(&token) {
            self.fill_identity(ev, si);
            ev.kind = EventKind::Logout;
            ev.detail = Some("access token revoked".into());
            self.auth.sessions[si].ended = true;
            return Response::empty(200);
        }
        oauth_error("invalid_token", "invalid token")
    }

    fn identity_body(&self, req: &Request, si: usize, id_url: bool) -> Value {
        let s = &self.auth.sessions[si];
        let u = &self.org.users[s.user];
        let uid = self.user_id(s.user);
        let inst = self.instance_url(req);
        let login_base = req.base_url.trim_end_matches('/');
        let v = API_LATEST;
        let mut body = json!({
            "sub": format!("{login_base}/id/{}/{uid}", self.org_id),
            "user_id": uid,
            "organization_id": self.org_id,
            "preferred_username": u.username,
            "nickname": u.username.split('@').next().unwrap_or(""),
            "name": format!("{} {}", u.first_name, u.last_name).trim(),
            "email": u.username,
            "email_verified": true,
            "given_name": u.first_name,
            "family_name": u.last_name,
            "zoneinfo": u.time_zone,
            "photos": {"picture": format!("{inst}/profilephoto/005/F"), "thumbnail": format!("{inst}/profilephoto/005/T")},
            "urls": {
                "enterprise": format!("{inst}/services/Soap/c/{v}/{}", self.org_id),
                "partner": format!("{inst}/services/Soap/u/{v}/{}", self.org_id),
                "rest": format!("{inst}/services/data/v{v}/"),
                "sobjects": format!("{inst}/services/data/v{v}/sobjects/"),
                "query": format!("{inst}/services/data/v{v}/query/"),
                "profile": format!("{inst}/{uid}"),
            },
            "active": self.auth.users[s.user].active,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "updated_at": "2025-01-01T00:00:00Z",
            "is_app_installed": s.app.is_some(),
        });
        if id_url {
            body["id"] = json!(format!("{login_base}/id/{}/{uid}", self.org_id));
            body["username"] = json!(u.username);
            body["display_name"] = body["name"].clone();
        }
        body
    }

    /// `GET /services/oauth2/userinfo`.
    pub fn userinfo(&mut self, now_ms: i64, req: &Request, ev: &mut Event) -> Response {
        match self.authenticate(now_ms, req, ev) {
            Ok(si) => Response::json(200, &self.identity_body(req, si, false)),
            Err(d) => d.response(),
        }
    }

    /// `GET /id/{org}/{user}`.
    pub fn identity(
        &mut self,
        now_ms: i64,
        req: &Request,
        ev: &mut Event,
        org: &str,
        user: &str,
    ) -> Response {
        match self.authenticate(now_ms, req, ev) {
            Ok(si) => {
                let uid = self.user_id(self.auth.sessions[si].user);
                if !org.starts_with(&self.org_id[..15])
                    || !uid.starts_with(user.get(..15).unwrap_or(user))
                {
                    return Response::json(
                        403,
                        &json!({"error": "Bad_Id", "error_description": "Bad id"}),
                    );
                }
                Response::json(200, &self.identity_body(req, si, true))
            }
            Err(d) => d.response(),
        }
    }
}

/// The version identity URLs point at.
pub const API_LATEST: &str = "64.0";

/// The PKCS#1 public key every mock connected app trusts for JWT bearer.
const JWT_PUBLIC_KEY: &[u8] = include_bytes!("../../mocks/jwt/leakdrill-test-jwt-pubkey.der");
/// Assertions larger than this are refused before decoding.
const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// Verifies an RS256 JWT against the test key; returns its claims.
pub fn verify_jwt(assertion: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if assertion.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    let mut parts = assertion.split('.');
    let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok()?).ok()?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')).ok()?;
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        JWT_PUBLIC_KEY,
    );
    key.verify(format!("{h}.{p}").as_bytes(), &signature).ok()?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok()?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicted_sessions_end_and_are_forgotten() {
        let org = crate::fixture::resolve("fintech-wealth").expect("fixture");
        let mut auth = Auth::new(&org, Seed(1), "00D000000000001AAA");
        let login = |auth: &mut Auth| {
            auth.new_session(
                0,
                None,
                Default::default(),
                LoginKind::SoapPartner,
                0,
                Ipv4Addr::LOCALHOST,
                None,
            )
        };
        let first = login(&mut auth);
        let first_token = auth.sessions[first].token.clone();
        assert_eq!(auth.session_by_token(&first_token), Some(first));
        for _ in 0..MAX_SESSIONS + 3 * 1024 {
            login(&mut auth);
        }
        let live = auth.sessions.iter().filter(|s| !s.ended).count();
        assert!(live <= MAX_SESSIONS + 1024, "{live} live sessions");
        assert!(auth.sessions[first].ended);
        assert_eq!(
            auth.session_by_token(&first_token),
            None,
            "evicted: forgotten"
        );
        assert!(auth.by_token.len() <= MAX_SESSIONS + 1024, "index bounded");
        let last = auth.sessions.len() - 1;
        let last_token = auth.sessions[last].token.clone();
        assert_eq!(auth.session_by_token(&last_token), Some(last));
        assert!(!auth.sessions[last].ended);
    }

    #[test]
    fn jwt_verification_refuses_forgeries() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B;
        let h = B.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let p = B.encode(
            br#"{"iss":"x","sub":"y","aud":"https://login.salesforce.com","exp":9999999999}"#,
        );
        assert!(
            verify_jwt(&format!("{h}.{p}.{}", B.encode([0u8; 256]))).is_none(),
            "bad signature"
        );
        let none = B.encode(br#"{"alg":"none"}"#);
        assert!(verify_jwt(&format!("{none}.{p}.")).is_none(), "alg none");
        assert!(
            verify_jwt("a.b").is_none()
                && verify_jwt("").is_none()
                && verify_jwt("a.b.c.d").is_none()
        );
        assert!(verify_jwt(&"x".repeat(20_000)).is_none());
    }

    #[test]
    fn xml_text_ignores_prefixes() {
        let b = "<se:Envelope><se:Body><n1:login xmlns:n1=\"urn\"><n1:username>a@b.example.com</n1:username><n1:password>p&amp;w</n1:password></n1:login></se:Body></se:Envelope>";
        assert_eq!(xml_text(b, "username").as_deref(), Some("a@b.example.com"));
        assert_eq!(xml_text(b, "password").as_deref(), Some("p&w"));
        assert!(xml_text(b, "login").is_some());
        assert_eq!(xml_text(b, "missing"), None);
    }
}
