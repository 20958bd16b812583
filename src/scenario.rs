//! Scenario files: the YAML format (raw serde structs), its JSON Schema, and
//! validation into a [`Scenario`] that names fixture objects by index.
//!
//! Owns: parsing durations and instants, every semantic check on a scenario
//! (references between steps, to fixture users/apps/networks/objects,
//! allowed keys per step kind), and reporting all errors at once.
//! Must not: run anything, read the clock, or touch the org's state.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::diag::{Diagnostic, Diagnostics, Loc, suggest};
use crate::model::Org;
use crate::yaml::{self, Checked, Spanned};

/// Limits on one run; exceeding one is a typed error naming it.
pub const MAX_DURATION_MS: i64 = 90 * 24 * 3_600_000;
pub const MAX_STEPS: usize = 256;
pub const DEFAULT_RECORDS: u64 = 1_000;
pub const MAX_RECORDS: u64 = 1_000_000;
pub const DEFAULT_SEED: u64 = 42;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario `{path}`: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
}

// ------------------------------------------------------------- raw format

/// A leak scenario: an org, benign traffic, an attack, faults on the
/// defender's side, a scripted response and what must happen.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Stable id (`fintech-leaked-refresh-token-ci-log`).
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    #[serde(default)]
    pub title: Option<String>,
    /// The weaknesses this scenario models (free text).
    #[serde(default)]
    pub models: Option<String>,
    /// Built-in fixture name or a path relative to the scenario file.
    #[serde(default)]
    pub fixture: Option<Spanned<String>>,
    /// Data subjects to generate (default 1000).
    #[serde(default)]
    pub records: Option<Spanned<u64>>,
    /// Absolute UTC start, `2026-03-06T16:30:00Z`.
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    /// Simulated length, `96h`, `7d`, `1h30m`.
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    /// Default seed; `--seed` overrides it.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub traffic: Option<Spanned<RawTraffic>>,
    #[serde(default)]
    pub attack: Vec<Checked<RawStep>>,
    #[serde(default)]
    pub chaos: Vec<Checked<RawFault>>,
    #[serde(default)]
    pub response: Vec<Checked<RawAction>>,
    #[serde(default)]
    pub expect: Option<Spanned<RawExpect>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    /// `all`, `none`, or a list of fixture integration ids.
    #[serde(default)]
    pub integrations: Option<Spanned<RawSelection>>,
    #[serde(default)]
    pub humans: Option<Spanned<RawHumans>>,
}

#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawSelection {
    Keyword(String),
    List(Vec<Spanned<String>>),
}

// Untagged enums by hand: serde's derive buffers the input, which would
// lose the positions `Spanned` needs.
impl<'de> Deserialize<'de> for RawSelection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawSelection;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a keyword or a list of names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSelection, E> {
                Ok(RawSelection::Keyword(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                a: A,
            ) -> Result<RawSelection, A::Error> {
                Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(a))
                    .map(RawSelection::List)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHumans {
    /// How many of the fixture's human users work during the run.
    pub users: u32,
    /// Only in office hours (09:00–17:30, Monday–Friday) of each user's time zone.
    #[serde(default = "yes")]
    pub office_hours: bool,
}

fn yes() -> bool {
    true
}

/// One attack step. `kind` decides which other keys apply.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Spanned<String>,
    pub kind: Spanned<StepKindName>,
    /// Offset from the scenario start (`5h`); default `0s`.
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// credential_leak: where the credential leaked.
    #[serde(default)]
    pub source: Option<Spanned<LeakSource>>,
    /// credential_leak: what leaked; other kinds: the id of the leak step used.
    #[serde(default)]
    pub credential: Option<Spanned<RawCredential>>,
    /// Steps that act on the API: the id of the login step whose session they use.
    #[serde(default)]
    pub session: Option<Spanned<String>>,
    #[serde(default)]
    pub from: Option<Spanned<RawOrigin>>,
    /// password_login: `soap` (default) or `oauth_password`.
    #[serde(default)]
    pub via: Option<Spanned<LoginVia>>,
    /// scrape, bulk_export: objects to read, in order.
    #[serde(default)]
    pub objects: Option<Spanned<Vec<Spanned<String>>>>,
    /// scrape, bulk_export: `all_visible` or a list of field names.
    #[serde(default)]
    pub fields: Option<Spanned<RawSelection>>,
    /// scrape: records per page (200–2000, Sforce-Query-Options batchSize).
    #[serde(default)]
    pub page_size: Option<Spanned<u32>>,
    /// Time between calls: `{ every: 90s, jitter: 30s }`.
    #[serde(default)]
    pub pace: Option<Spanned<RawPace>>,
    /// `contained` (default: until denied), `exhausted`, or a duration.
    #[serde(default)]
    pub until: Option<Spanned<String>>,
    /// permission_escalation: the permission set to assign.
    #[serde(default)]
    pub permission_set: Option<Spanned<String>>,
    /// permission_escalation: who gets it (default: the session's user).
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// credential_stuffing: usernames tried.
    #[serde(default)]
    pub users: Option<Spanned<Vec<Spanned<String>>>>,
    /// credential_stuffing: failed attempts per user before the last try.
    #[serde(default)]
    pub attempts: Option<Spanned<u32>>,
    /// session_hijack: the user whose browser session is stolen.
    #[serde(default)]
    pub victim: Option<Spanned<String>>,
    /// webhook_exfil, pii_logging, cross_border_transfer: the fixture
    /// integration whose data flow is tampered with.
    #[serde(default)]
    pub integration: Option<Spanned<String>>,
    /// webhook_exfil, pii_logging, cross_border_transfer: where the data
    /// goes instead (defaults: a look-alike of the integration's endpoint;
    /// its log sink).
    #[serde(default)]
    pub endpoint: Option<Spanned<RawEndpoint>>,
    /// sandbox_refresh: the fixture sandbox refreshed from production.
    #[serde(default)]
    pub sandbox: Option<Spanned<String>>,
}

/// A third-party endpoint that receives data.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    /// `http://…` or `https://…`; a `.example`/`.test`/`.invalid` host.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// ISO 3166 alpha-2 country the endpoint processes data in.
    #[serde(default)]
    pub country: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKindName {
    CredentialLeak,
    OauthRefresh,
    PasswordLogin,
    TokenReplay,
    Scrape,
    BulkExport,
    PermissionEscalation,
    CredentialStuffing,
    SessionHijack,
    WebhookExfil,
    PiiLogging,
    CrossBorderTransfer,
    SandboxRefresh,
    ReportExport,
}

impl StepKindName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CredentialLeak => "credential_leak",
            Self::OauthRefresh => "oauth_refresh",
            Self::PasswordLogin => "password_login",
            Self::TokenReplay => "token_replay",
            Self::Scrape => "scrape",
            Self::BulkExport => "bulk_export",
            Self::PermissionEscalation => "permission_escalation",
            Self::CredentialStuffing => "credential_stuffing",
            Self::SessionHijack => "session_hijack",
            Self::WebhookExfil => "webhook_exfil",
            Self::PiiLogging => "pii_logging",
            Self::CrossBorderTransfer => "cross_border_transfer",
            Self::SandboxRefresh => "sandbox_refresh",
            Self::ReportExport => "report_export",
        }
    }

    /// Optional keys each kind accepts (besides `id`, `kind`, `at`).
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Self::CredentialLeak => &["source", "credential"],
            Self::OauthRefresh => &["credential", "from"],
            Self::PasswordLogin => &["credential", "from", "via"],
            Self::TokenReplay => &["session", "from", "pace", "until"],
            Self::Scrape => &["session", "objects", "fields", "page_size", "pace", "until"],
            Self::BulkExport => &["session", "objects", "fields"],
            Self::PermissionEscalation => &["session", "permission_set", "user"],
            Self::CredentialStuffing => &["users", "attempts", "from", "pace", "credential"],
            Self::SessionHijack => &["victim", "from"],
            Self::WebhookExfil | Self::PiiLogging | Self::CrossBorderTransfer => {
                &["integration", "endpoint", "until"]
            }
            Self::SandboxRefresh => &["sandbox"],
            Self::ReportExport => &["session", "objects", "pace"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakSource {
    /// Committed to a source repository.
    Repo,
    /// Printed in a CI job log.
    CiLog,
    /// Stolen in a breach of a vendor holding it.
    VendorBreach,
    /// Phished from a person.
    Phished,
    /// Kept by an insider.
    Insider,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginVia {
    Soap,
    OauthPassword,
}

/// Either the id of a leak step (`credential: leak`) or what leaked.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawCredential {
    Step(String),
    Secret(RawSecret),
}

impl<'de> Deserialize<'de> for RawCredential {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawCredential;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the id of a credential_leak step, or `{ kind, connected_app, user }`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCredential, E> {
                Ok(RawCredential::Step(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<RawCredential, A::Error> {
                Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(a))
                    .map(RawCredential::Secret)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// `refresh_token` (with the app's client id and secret), or `password`
    /// (with the user's security token).
    pub kind: Spanned<SecretKind>,
    #[serde(default)]
    pub connected_app: Option<Spanned<String>>,
    /// Whose token or password; for a refresh token, default: the app's
    /// integration user.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    RefreshToken,
    Password,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOrigin {
    /// A fixture network id (`vps-frankfurt`).
    pub network: Spanned<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPace {
    pub every: Spanned<String>,
    #[serde(default)]
    pub jitter: Option<Spanned<String>>,
}

/// A fault on the defender's side.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: Spanned<FaultKind>,
    /// Telemetry faults: `event_log_file`, `realtime` or `all` (default).
    #[serde(default)]
    pub source: Option<Spanned<TelemetrySource>>,
    /// telemetry_delay, containment_latency: added delay.
    #[serde(default)]
    pub delay: Option<Spanned<String>>,
    /// telemetry_drop, telemetry_duplicate, server_errors: share affected, 0–1.
    #[serde(default)]
    pub rate: Option<Spanned<f64>>,
    /// Window start (offset from the scenario start; default 0s).
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// Window length (default: the whole run).
    #[serde(default, rename = "for")]
    pub for_: Option<Spanned<String>>,
    /// containment_failure, containment_latency: the action affected (default all).
    #[serde(default)]
    pub action: Option<Spanned<ActionKind>>,
    /// containment_failure: attempts that fail before one succeeds.
    #[serde(default)]
    pub failing_attempts: Option<Spanned<u32>>,
    /// clock_skew: offset added to the source's timestamps (`-90s`, `5m`).
    #[serde(default)]
    pub skew: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    TelemetryDelay,
    TelemetryDrop,
    TelemetryDuplicate,
    TelemetryReorder,
    SiemOutage,
    ContainmentFailure,
    ContainmentLatency,
    RateLimit,
    ServerErrors,
    ClockSkew,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TelemetryDelay => "telemetry_delay",
            Self::TelemetryDrop => "telemetry_drop",
            Self::TelemetryDuplicate => "telemetry_duplicate",
            Self::TelemetryReorder => "telemetry_reorder",
            Self::SiemOutage => "siem_outage",
            Self::ContainmentFailure => "containment_failure",
            Self::ContainmentLatency => "containment_latency",
            Self::RateLimit => "rate_limit",
            Self::ServerErrors => "server_errors",
            Self::ClockSkew => "clock_skew",
        }
    }
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Self::TelemetryDelay => &["source", "delay", "at", "for"],
            Self::TelemetryDrop | Self::TelemetryDuplicate => &["source", "rate", "at", "for"],
            Self::TelemetryReorder => &["source", "delay", "at", "for"],
            Self::SiemOutage | Self::RateLimit => &["at", "for"],
            Self::ServerErrors => &["rate", "at", "for"],
            Self::ContainmentFailure => &["action", "failing_attempts"],
            Self::ContainmentLatency => &["action", "delay"],
            Self::ClockSkew => &["source", "skew"],
        }
    }
    fn required(self) -> &'static [&'static str] {
        match self {
            Self::TelemetryDelay | Self::TelemetryReorder | Self::ContainmentLatency => &["delay"],
            Self::TelemetryDrop | Self::TelemetryDuplicate | Self::ServerErrors => &["rate"],
            Self::SiemOutage | Self::RateLimit => &["for"],
            Self::ContainmentFailure => &["failing_attempts"],
            Self::ClockSkew => &["skew"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TelemetrySource {
    EventLogFile,
    Realtime,
    All,
}

/// A scripted response action (a tabletop inject, or what a SOAR would do).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    /// Unconditional: at this offset from the start.
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// Conditional: when an attack step first succeeds.
    #[serde(default)]
    pub on: Option<Spanned<RawTrigger>>,
    #[serde(rename = "do")]
    pub action: Spanned<ActionKind>,
    pub target: Spanned<RawTarget>,
    /// Latency between the trigger and the call (default 0s).
    #[serde(default)]
    pub after: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    /// The id of an attack step; fires at its first successful call.
    #[serde(default)]
    pub first_success: Option<Spanned<String>>,
    /// A rule id or title of the rules under test, or `any`: fires at the
    /// first such alert (a SOAR playbook).
    #[serde(default)]
    pub alert: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    #[serde(default)]
    pub connected_app: Option<Spanned<String>>,
    /// An attack step: its session's user, app and tokens.
    #[serde(default)]
    pub step: Option<Spanned<String>>,
    #[serde(default)]
    pub permission_set: Option<Spanned<String>>,
    /// block_egress: the endpoint host to refuse.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// notify: a regime of the regulatory-clock catalogue (`eu_gdpr`):
    /// files every one of its obligations that applies.
    #[serde(default)]
    pub regime: Option<Spanned<String>>,
    /// notify: one obligation of the catalogue (`eu_gdpr_art33_sa`).
    #[serde(default)]
    pub obligation: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `POST /services/oauth2/revoke` with the refresh token (revokes its grant).
    RevokeRefreshTokens,
    /// `POST /services/oauth2/revoke` with the access token only.
    RevokeAccessToken,
    /// `DELETE AuthSession` rows of the user.
    EndSessions,
    /// `PATCH UserLogin.IsFrozen = true`.
    FreezeUser,
    /// `PATCH User.IsActive = false`.
    DeactivateUser,
    /// Block the connected app (all its tokens stop working).
    BlockConnectedApp,
    /// `DELETE PermissionSetAssignment`.
    RemovePermissionSet,
    /// Refuse an endpoint host at the egress proxy (a deny rule outside
    /// Salesforce): the target's `host`, or a data-flow step's endpoint.
    BlockEgress,
    /// File a breach notification (a regime's or one obligation's): stops
    /// the matching regulatory clocks. Touches nothing in the org.
    Notify,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RevokeRefreshTokens => "revoke_refresh_tokens",
            Self::RevokeAccessToken => "revoke_access_token",
            Self::EndSessions => "end_sessions",
            Self::FreezeUser => "freeze_user",
            Self::DeactivateUser => "deactivate_user",
            Self::BlockConnectedApp => "block_connected_app",
            Self::RemovePermissionSet => "remove_permission_set",
            Self::BlockEgress => "block_egress",
            Self::Notify => "notify",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// From the attacker's first success to the first alert.
    #[serde(default)]
    pub detect_within: Option<Spanned<String>>,
    /// From the attacker's first success to the last successful call.
    #[serde(default)]
    pub contain_within: Option<Spanned<String>>,
    #[serde(default)]
    pub max_records_exposed: Option<u64>,
    /// Regimes that must apply to what was exposed (catalogue regime ids,
    /// `leakdrill clocks list`).
    #[serde(default)]
    pub regimes: Vec<Spanned<String>>,
    /// Every notification clock that started was met: none overdue at the
    /// end of the run, none filed late.
    #[serde(default)]
    pub notify_in_time: Option<bool>,
    /// A benign baseline: no alert may fire.
    #[serde(default)]
    pub no_alerts: Option<bool>,
}

/// The JSON Schema of the scenario format (for editor completion).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawScenario);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

// ------------------------------------------------------ validated scenario

#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    /// As given (`fintech-wealth` or a path).
    pub fixture: String,
    pub org: Arc<Org>,
    pub records: u64,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub seed: u64,
    /// Indices into `org.integrations`.
    pub integrations: Vec<usize>,
    pub humans: Option<Humans>,
    pub attack: Vec<Step>,
    pub chaos: Vec<Fault>,
    pub response: Vec<Action>,
    pub expect: Expect,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Humans {
    pub users: u32,
    pub office_hours: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// Index into `org.networks`.
    pub network: usize,
    pub user_agent: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub every_ms: i64,
    pub jitter_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Until {
    /// Until the attacker's calls are denied.
    Contained,
    /// Until there is nothing left to read.
    Exhausted,
    /// For this long after the step starts (or until denied).
    For(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    /// (app index, user index).
    RefreshToken { app: usize, user: usize },
    /// (user index, app index used for an OAuth password grant).
    Password { user: usize, app: Option<usize> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fields {
    AllVisible,
    Named(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    CredentialLeak {
        source: LeakSource,
        secret: Secret,
    },
    OauthRefresh {
        leak: usize,
    },
    PasswordLogin {
        leak: usize,
        via: LoginVia,
    },
    TokenReplay {
        session: usize,
    },
    Scrape {
        session: usize,
        objects: Vec<String>,
        fields: Fields,
        page_size: u32,
    },
    BulkExport {
        session: usize,
        objects: Vec<String>,
        fields: Fields,
    },
    PermissionEscalation {
        session: usize,
        permission_set: String,
        user: Option<usize>,
    },
    CredentialStuffing {
        users: Vec<usize>,
        attempts: u32,
        /// A leak step whose password the last attempt uses (a hit).
        hit: Option<usize>,
    },
    /// A person's browser session id stolen (infostealer, XSS) and replayed
    /// by the attacker from their own network and user agent.
    SessionHijack {
        victim: usize,
    },
    /// An integration's outbound data flow sent to `url` while the step
    /// lasts (webhook_exfil, pii_logging, cross_border_transfer).
    DataFlow {
        integration: usize,
        url: String,
        country: String,
    },
    /// A sandbox refreshed from production (index into `org.sandboxes`).
    SandboxRefresh {
        sandbox: usize,
    },
    /// Lists the org's reports, describes them, and exports every one on
    /// `objects` (all it can see when empty) as CSV.
    ReportExport {
        session: usize,
        objects: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind_name: StepKindName,
    pub at_ms: i64,
    pub kind: StepKind,
    pub from: Origin,
    pub pace: Pace,
    pub until: Until,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    pub source: TelemetrySource,
    pub delay_ms: i64,
    pub rate: f64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub action: Option<ActionKind>,
    pub failing_attempts: u32,
    pub skew_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    At(i64),
    FirstSuccess(usize),
    /// The first alert whose rule id or title equals this (`any`: any alert).
    Alert(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub user: Option<usize>,
    pub connected_app: Option<usize>,
    pub step: Option<usize>,
    pub permission_set: Option<String>,
    /// block_egress: a host name (lower case).
    pub host: Option<String>,
    /// notify: a catalogue regime id, or one obligation id.
    pub regime: Option<String>,
    pub obligation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub trigger: Trigger,
    pub kind: ActionKind,
    pub target: Target,
    pub after_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub detect_within_ms: Option<i64>,
    pub contain_within_ms: Option<i64>,
    pub max_records_exposed: Option<u64>,
    pub regimes: Vec<String>,
    pub notify_in_time: bool,
    pub no_alerts: bool,
}

// ------------------------------------------------------------ loading

/// Reads and validates a scenario file. A relative `fixture:` path is taken
/// relative to the scenario's directory.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let shown = path.display().to_string();
    let text = crate::fixture::read_text_file(path).map_err(|cause| ScenarioError::Io {
        path: shown.clone(),
        cause,
    })?;
    load_str(&shown, &text, path.parent()).map_err(ScenarioError::Invalid)
}

/// Parses and validates scenario text. `dir` resolves relative fixture paths.
pub fn load_str(file: &str, text: &str, dir: Option<&Path>) -> Result<Scenario, Diagnostics> {
    let node = yaml::parse(file, text)?;
    let (raw, structural) = yaml::from_node_partial::<RawScenario>(file, &node);
    let Some(raw) = raw else {
        return Err(structural);
    };
    let mut v = V {
        file,
        diags: structural,
    };
    let sc = v.build(raw, dir);
    match sc {
        Some(sc) if v.diags.is_empty() => Ok(sc),
        _ => Err(v.diags.sorted()),
    }
}

/// Parses `90s`, `20m`, `5h`, `2d`, `1h30m`, `-90s` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.bytes().next()? {
                b's' => (1_000, 1),
                b'm' => (60_000, 1),
                b'h' => (3_600_000, 1),
                b'd' => (86_400_000, 1),
                _ => return None,
            }
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(if neg { -total } else { total })
}

/// Parses an absolute UTC instant `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_instant_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let ok_shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !ok_shape {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (mo, d, h, mi, se) = (
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(num(0..4)? as i64, mo) {
        return None;
    }
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    crate::sfdc::parse_datetime_ms(s)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

const DURATION_HINT: &str = "durations look like `90s`, `20m`, `5h`, `2d` or `1h30m`";

struct V<'f> {
    file: &'f str,
    diags: Diagnostics,
}

impl V<'_> {
    fn err(&mut self, loc: Loc, msg: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        let mut d = Diagnostic::new(self.file, loc, msg);
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        self.diags.push(d);
    }

    fn duration(&mut self, s: &Spanned<String>, what: &str, allow_negative: bool) -> Option<i64> {
        match parse_duration_ms(&s.value) {
            Some(ms) if ms >= 0 || allow_negative => Some(ms),
            _ => {
                self.err(
                    s.loc,
                    format!("`{}` is not a valid {what}", s.value),
                    DURATION_HINT,
                );
                None
            }
        }
    }

    fn offset(&mut self, s: &Option<Spanned<String>>, duration_ms: i64, what: &str) -> i64 {
        let Some(s) = s else { return 0 };
        let ms = self.duration(s, what, false).unwrap_or(0);
        if ms > duration_ms {
            self.err(
                s.loc,
                format!("{what} `{}` is after the end of the run", s.value),
                "make it smaller than `duration`",
            );
        }
        ms
    }

    fn lookup<'a>(
        &mut self,
        name: &Spanned<String>,
        what: &str,
        candidates: impl Iterator<Item = &'a str> + Clone,
    ) -> Option<usize> {
        if let Some(i) = candidates.clone().position(|c| c == name.value) {
            return Some(i);
        }
        self.err(
            name.loc,
            format!("unknown {what} `{}`", name.value),
            suggest(&name.value, candidates),
        );
        None
    }

    fn build(&mut self, raw: RawScenario, dir: Option<&Path>) -> Option<Scenario> {
        let top = Loc::new(1, 1);
        let missing = |v: &mut Self, present: bool, key: &str, hint: &str| {
            if !present {
                v.err(top, format!("missing required key `{key}`"), hint);
            }
        };
        missing(
            self,
            raw.id.is_some(),
            "id",
            "a stable id such as `fintech-scrape`",
        );
        missing(
            self,
            raw.fixture.is_some(),
            "fixture",
            "a built-in fixture (`fintech-wealth`) or a path",
        );
        missing(
            self,
            raw.start.is_some(),
            "start",
            "an absolute UTC instant such as `2026-03-06T16:30:00Z`",
        );
        missing(self, raw.duration.is_some(), "duration", DURATION_HINT);

        let start_ms = raw.start.as_ref().and_then(|s| {
            let t = parse_instant_ms(&s.value);
            if t.is_none() {
                self.err(
                    s.loc,
                    format!("`{}` is not an absolute UTC instant", s.value),
                    "write it as `2026-03-06T16:30:00Z`",
                );
            }
            t
        });
        let duration_ms = raw.duration.as_ref().and_then(|d| {
            let ms = self.duration(d, "duration", false)?;
            if ms == 0 || ms > MAX_DURATION_MS {
                self.err(
                    d.loc,
                    format!(
                        "duration must be between 1s and {}d",
                        MAX_DURATION_MS / 86_400_000
                    ),
                    "the limit keeps every run bounded",
                );
                return None;
            }
            Some(ms)
        });
        let records = match &raw.records {
            Some(r) if r.value == 0 || r.value > MAX_RECORDS => {
                self.err(
                    r.loc,
                    format!("records must be between 1 and {MAX_RECORDS}"),
                    "",
                );
                DEFAULT_RECORDS
            }
            Some(r) => r.value,
            None => DEFAULT_RECORDS,
        };
        let org = raw.fixture.as_ref().and_then(|f| {
            let name = match dir {
                Some(d) if f.value.contains('/') || f.value.ends_with(".yaml") => {
                    d.join(&f.value).display().to_string()
                }
                _ => f.value.clone(),
            };
            match crate::fixture::resolve(&name) {
                Ok(o) => Some(Arc::new(o)),
                Err(e) => {
                    self.err(
                        f.loc,
                        format!("fixture `{}` does not load", f.value),
                        e.to_string(),
                    );
                    None
                }
            }
        });
        if raw.attack.len() > MAX_STEPS
            || raw.response.len() > MAX_STEPS
            || raw.chaos.len() > MAX_STEPS
        {
            self.err(
                top,
                format!("at most {MAX_STEPS} attack steps, faults and actions each"),
                "",
            );
        }
        let duration = duration_ms.unwrap_or(MAX_DURATION_MS);
        // Without the org, references cannot be checked: report what we have.
        let org = org?;

        let (integrations, humans) = self.traffic(&raw.traffic, &org);
        let attack = self.steps(&raw.attack, &org, duration, &integrations);
        let chaos = self.faults(&raw.chaos, duration);
        let response = self.actions(&raw.response, &org, &raw.attack, duration);
        let expect = raw
            .expect
            .as_ref()
            .map(|e| Expect {
                detect_within_ms: e
                    .detect_within
                    .as_ref()
                    .and_then(|d| self.duration(d, "duration", false)),
                contain_within_ms: e
                    .contain_within
                    .as_ref()
                    .and_then(|d| self.duration(d, "duration", false)),
                max_records_exposed: e.max_records_exposed,
                regimes: e
                    .regimes
                    .iter()
                    .filter_map(|r| {
                        let cat = crate::clocks::catalogue().ok()?;
                        self.lookup(r, "regime", cat.regimes.iter().map(|x| x.id.as_str()))
                            .map(|_| r.value.clone())
                    })
                    .collect(),
                notify_in_time: e.notify_in_time.unwrap_or(false),
                no_alerts: e.no_alerts.unwrap_or(false),
            })
            .unwrap_or_default();
        Some(Scenario {
            id: raw.id.map(|s| s.value).unwrap_or_default(),
            title: raw.title.unwrap_or_default(),
            fixture: raw.fixture.map(|s| s.value).unwrap_or_default(),
            org,
            records,
            start_ms: start_ms.unwrap_or(0),
            duration_ms: duration,
            seed: raw.seed.unwrap_or(DEFAULT_SEED),
            integrations,
            humans,
            attack: attack?,
            chaos,
            response: response?,
            expect,
        })
    }

    fn traffic(
        &mut self,
        t: &Option<Spanned<RawTraffic>>,
        org: &Org,
    ) -> (Vec<usize>, Option<Humans>) {
        let Some(t) = t else {
            return (Vec::new(), None);
        };
        let ids = || org.integrations.iter().map(|i| i.id.as_str());
        let integrations = match &t.integrations {
            None => Vec::new(),
            Some(sel) => match &sel.value {
                RawSelection::Keyword(k) if k == "all" => (0..org.integrations.len()).collect(),
                RawSelection::Keyword(k) if k == "none" => Vec::new(),
                RawSelection::Keyword(k) => {
                    self.err(
                        sel.loc,
                        format!("`{k}` is not `all`, `none` or a list"),
                        "list integration ids, e.g. `[warehouse-etl]`",
                    );
                    Vec::new()
                }
                RawSelection::List(l) => l
                    .iter()
                    .filter_map(|n| self.lookup(n, "integration", ids()))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            },
        };
        let humans = t.humans.as_ref().map(|h| {
            let people = org
                .users
                .iter()
                .filter(|u| u.kind == crate::model::UserKind::Human)
                .count();
            if h.value.users as usize > people {
                self.err(
                    h.loc,
                    format!(
                        "{} human users asked for; the fixture has {people}",
                        h.value.users
                    ),
                    "lower `users` or add a workforce entry to the fixture",
                );
            }
            Humans {
                users: h.value.users.min(people as u32),
                office_hours: h.value.office_hours,
            }
        });
        (integrations, humans)
    }

    fn origin(
        &mut self,
        o: &Option<Spanned<RawOrigin>>,
        org: &Org,
        step_loc: Loc,
        required: bool,
    ) -> Origin {
        match o {
            Some(o) => Origin {
                network: self
                    .lookup(
                        &o.value.network,
                        "network",
                        org.networks.iter().map(|n| n.id.as_str()),
                    )
                    .unwrap_or(0),
                user_agent: o
                    .value
                    .user_agent
                    .clone()
                    .unwrap_or_else(|| "python-requests/2.31.0".into()),
            },
            None => {
                if required {
                    self.err(
                        step_loc,
                        "missing `from`",
                        "where the attacker calls from: `from: { network: vps-frankfurt }`",
                    );
                }
                Origin {
                    network: 0,
                    user_agent: "python-requests/2.31.0".into(),
                }
            }
        }
    }

    fn steps(
        &mut self,
        raw: &[Checked<RawStep>],
        org: &Org,
        duration_ms: i64,
        traffic: &[usize],
    ) -> Option<Vec<Step>> {
        let mut ok = true;
        let ids: Vec<Option<(&str, StepKindName)>> = raw
            .iter()
            .map(|c| {
                c.value
                    .as_ref()
                    .map(|s| (s.id.value.as_str(), s.kind.value))
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, c) in raw.iter().enumerate() {
            let Some(s) = &c.value else {
                ok = false;
                continue;
            };
            if !seen.insert(s.id.value.as_str()) {
                self.err(
                    s.id.loc,
                    format!("duplicate step id `{}`", s.id.value),
                    "step ids must be unique",
                );
            }
            let kind = s.kind.value;
            let present: [(&str, Option<Loc>); 13] = [
                ("source", s.source.as_ref().map(|x| x.loc)),
                ("credential", s.credential.as_ref().map(|x| x.loc)),
                ("session", s.session.as_ref().map(|x| x.loc)),
                ("from", s.from.as_ref().map(|x| x.loc)),
                ("via", s.via.as_ref().map(|x| x.loc)),
                ("objects", s.objects.as_ref().map(|x| x.loc)),
                ("fields", s.fields.as_ref().map(|x| x.loc)),
                ("page_size", s.page_size.as_ref().map(|x| x.loc)),
                ("pace", s.pace.as_ref().map(|x| x.loc)),
                ("until", s.until.as_ref().map(|x| x.loc)),
                ("permission_set", s.permission_set.as_ref().map(|x| x.loc)),
                ("user", s.user.as_ref().map(|x| x.loc)),
                ("users", s.users.as_ref().map(|x| x.loc)),
            ];
            let present = {
                let mut p = present.to_vec();
                p.push(("attempts", s.attempts.as_ref().map(|x| x.loc)));
                p.push(("victim", s.victim.as_ref().map(|x| x.loc)));
                p.push(("integration", s.integration.as_ref().map(|x| x.loc)));
                p.push(("endpoint", s.endpoint.as_ref().map(|x| x.loc)));
                p.push(("sandbox", s.sandbox.as_ref().map(|x| x.loc)));
                p
            };
            for (key, loc) in &present {
                if let Some(loc) = loc
                    && !kind.allowed().contains(key)
                {
                    self.err(
                        *loc,
                        format!("`{key}` does not apply to a `{}` step", kind.as_str()),
                        format!(
                            "a `{}` step takes: {}",
                            kind.as_str(),
                            kind.allowed().join(", ")
                        ),
                    );
                }
            }
            let at_ms = self.offset(&s.at, duration_ms, "`at`");
            // A reference to an earlier step of one of `kinds`.
            let earlier = |v: &mut Self,
                           r: &Spanned<String>,
                           kinds: &[StepKindName],
                           what: &str|
             -> Option<usize> {
                match ids[..i]
                    .iter()
                    .position(|x| x.is_some_and(|(id, _)| id == r.value))
                {
                    Some(j) if kinds.contains(&ids[j].map(|x| x.1).unwrap_or(kind)) => Some(j),
                    Some(_) => {
                        v.err(
                            r.loc,
                            format!("step `{}` is not {what}", r.value),
                            format!(
                                "refer to a step of kind {}",
                                kinds
                                    .iter()
                                    .map(|k| format!("`{}`", k.as_str()))
                                    .collect::<Vec<_>>()
                                    .join(" or ")
                            ),
                        );
                        None
                    }
                    None => {
                        let known = ids[..i].iter().flatten().map(|x| x.0);
                        v.err(
                            r.loc,
                            format!(
                                "unknown step `{}` (steps can only use earlier steps)",
                                r.value
                            ),
                            suggest(&r.value, known),
                        );
                        None
                    }
                }
            };
            let need = |v: &mut Self, key: &str, present: bool| {
                if !present {
                    v.err(
                        s.kind.loc,
                        format!("a `{}` step needs `{key}`", kind.as_str()),
                        "",
                    );
                }
            };
            let session_kinds = [
                StepKindName::OauthRefresh,
                StepKindName::PasswordLogin,
                StepKindName::SessionHijack,
            ];
            let session = |v: &mut Self| -> Option<usize> {
                need(v, "session", s.session.is_some());
                s.session.as_ref().and_then(|r| {
                    earlier(
                        v,
                        r,
                        &session_kinds,
                        "a login (`oauth_refresh`, `password_login` or `session_hijack`)",
                    )
                })
            };
            let leak_ref = |v: &mut Self| -> Option<usize> {
                match s.credential.as_ref() {
                    Some(Spanned {
                        value: RawCredential::Step(id),
                        loc,
                    }) => earlier(
                        v,
                        &Spanned {
                            loc: *loc,
                            value: id.clone(),
                        },
                        &[StepKindName::CredentialLeak],
                        "a `credential_leak`",
                    ),
                    Some(c) => {
                        v.err(
                            c.loc,
                            "give the id of a `credential_leak` step here",
                            "describe the secret on the leak step itself",
                        );
                        None
                    }
                    None => {
                        need(v, "credential", false);
                        None
                    }
                }
            };
            let pace = match &s.pace {
                Some(p) => Pace {
                    every_ms: self
                        .duration(&p.value.every, "pace", false)
                        .unwrap_or(60_000)
                        .max(1),
                    jitter_ms: p
                        .value
                        .jitter
                        .as_ref()
                        .and_then(|j| self.duration(j, "jitter", false))
                        .unwrap_or(0),
                },
                None => Pace {
                    every_ms: 60_000,
                    jitter_ms: 0,
                },
            };
            let until = match &s.until {
                None => Until::Contained,
                Some(u) if u.value == "contained" => Until::Contained,
                Some(u) if u.value == "exhausted" => Until::Exhausted,
                Some(u) => match parse_duration_ms(&u.value) {
                    Some(ms) if ms > 0 => Until::For(ms),
                    _ => {
                        self.err(
                            u.loc,
                            format!(
                                "`{}` is not `contained`, `exhausted` or a duration",
                                u.value
                            ),
                            DURATION_HINT,
                        );
                        Until::Contained
                    }
                },
            };
            let objects = |v: &mut Self| -> Vec<String> {
                need(v, "objects", s.objects.is_some());
                let mut out = Vec::new();
                for o in s.objects.iter().flat_map(|o| o.value.iter()) {
                    if v.lookup(o, "object", org.objects.iter().map(|x| x.name.as_str()))
                        .is_some()
                    {
                        out.push(o.value.clone());
                    }
                }
                out
            };
            let fields = |v: &mut Self| -> Fields {
                match s.fields.as_ref().map(|f| (&f.value, f.loc)) {
                    None => Fields::AllVisible,
                    Some((RawSelection::Keyword(k), _)) if k == "all_visible" => Fields::AllVisible,
                    Some((RawSelection::Keyword(k), loc)) => {
                        v.err(
                            loc,
                            format!("`{k}` is not `all_visible` or a list of fields"),
                            "",
                        );
                        Fields::AllVisible
                    }
                    Some((RawSelection::List(l), _)) => {
                        Fields::Named(l.iter().map(|f| f.value.clone()).collect())
                    }
                }
            };
            let step_kind = match kind {
                StepKindName::CredentialLeak => {
                    need(self, "source", s.source.is_some());
                    let secret = match s.credential.as_ref() {
                        Some(Spanned {
                            value: RawCredential::Secret(sec),
                            loc,
                        }) => self.secret(sec, *loc, org),
                        Some(c) => {
                            self.err(c.loc, "describe what leaked", "e.g. `credential: { kind: refresh_token, connected_app: warehouse-etl }`");
                            None
                        }
                        None => {
                            need(self, "credential", false);
                            None
                        }
                    };
                    secret.map(|secret| StepKind::CredentialLeak {
                        source: s.source.as_ref().map_or(LeakSource::Repo, |x| x.value),
                        secret,
                    })
                }
                StepKindName::OauthRefresh => {
                    let leak = leak_ref(self);
                    if let Some(j) = leak
                        && let Some(Some(Spanned {
                            value: RawCredential::Secret(sec),
                            ..
                        })) = raw[j].value.as_ref().map(|r| r.credential.as_ref())
                        && sec.kind.value != SecretKind::RefreshToken
                    {
                        self.err(
                            s.credential.as_ref().map_or(s.kind.loc, |c| c.loc),
                            "an `oauth_refresh` needs a leaked refresh token",
                            "use `password_login` for a leaked password",
                        );
                    }
                    leak.map(|leak| StepKind::OauthRefresh { leak })
                }
                StepKindName::PasswordLogin => {
                    let leak = leak_ref(self);
                    if let Some(j) = leak
                        && let Some(Some(Spanned {
                            value: RawCredential::Secret(sec),
                            ..
                        })) = raw[j].value.as_ref().map(|r| r.credential.as_ref())
                        && sec.kind.value != SecretKind::Password
                    {
                        self.err(
                            s.credential.as_ref().map_or(s.kind.loc, |c| c.loc),
                            "a `password_login` needs a leaked password",
                            "use `oauth_refresh` for a leaked refresh token",
                        );
                    }
                    leak.map(|leak| StepKind::PasswordLogin {
                        leak,
                        via: s.via.as_ref().map_or(LoginVia::Soap, |x| x.value),
                    })
                }
                StepKindName::TokenReplay => {
                    session(self).map(|session| StepKind::TokenReplay { session })
                }
                StepKindName::Scrape => {
                    let session = session(self);
                    let objects = objects(self);
                    let fields = fields(self);
                    let page_size = match &s.page_size {
                        Some(p) if !(200..=2000).contains(&p.value) => {
                            self.err(
                                p.loc,
                                "page_size must be between 200 and 2000",
                                "Salesforce clamps batchSize to 200–2000",
                            );
                            2000
                        }
                        Some(p) => p.value,
                        None => 2000,
                    };
                    session.map(|session| StepKind::Scrape {
                        session,
                        objects,
                        fields,
                        page_size,
                    })
                }
                StepKindName::BulkExport => {
                    let session = session(self);
                    let objects = objects(self);
                    let fields = fields(self);
                    session.map(|session| StepKind::BulkExport {
                        session,
                        objects,
                        fields,
                    })
                }
                StepKindName::PermissionEscalation => {
                    let session = session(self);
                    need(self, "permission_set", s.permission_set.is_some());
                    let ps = s.permission_set.as_ref().and_then(|p| {
                        self.lookup(
                            p,
                            "permission set",
                            org.permission_sets.iter().map(|x| x.name.as_str()),
                        )
                        .map(|_| p.value.clone())
                    });
                    let user = s.user.as_ref().and_then(|u| {
                        self.lookup(u, "user", org.users.iter().map(|x| x.username.as_str()))
                    });
                    match (session, ps) {
                        (Some(session), Some(permission_set)) => {
                            Some(StepKind::PermissionEscalation {
                                session,
                                permission_set,
                                user,
                            })
                        }
                        _ => None,
                    }
                }
                StepKindName::CredentialStuffing => {
                    need(self, "users", s.users.is_some());
                    let users: Vec<usize> = s
                        .users
                        .iter()
                        .flat_map(|u| u.value.iter())
                        .filter_map(|u| {
                            self.lookup(u, "user", org.users.iter().map(|x| x.username.as_str()))
                        })
                        .collect();
                    let hit = if s.credential.is_some() {
                        leak_ref(self)
                    } else {
                        None
                    };
                    Some(StepKind::CredentialStuffing {
                        users,
                        attempts: s.attempts.as_ref().map_or(5, |a| a.value).clamp(1, 10_000),
                        hit,
                    })
                }
                StepKindName::SessionHijack => {
                    need(self, "victim", s.victim.is_some());
                    s.victim
                        .as_ref()
                        .and_then(|u| {
                            self.lookup(u, "user", org.users.iter().map(|x| x.username.as_str()))
                        })
                        .map(|victim| StepKind::SessionHijack { victim })
                }
                StepKindName::WebhookExfil
                | StepKindName::PiiLogging
                | StepKindName::CrossBorderTransfer => self.data_flow(s, kind, org, traffic),
                StepKindName::ReportExport => {
                    let session = session(self);
                    let objects = if s.objects.is_some() {
                        objects(self)
                    } else {
                        Vec::new()
                    };
                    session.map(|session| StepKind::ReportExport { session, objects })
                }
                StepKindName::SandboxRefresh => {
                    need(self, "sandbox", s.sandbox.is_some());
                    s.sandbox
                        .as_ref()
                        .and_then(|b| {
                            self.lookup(b, "sandbox", org.sandboxes.iter().map(|x| x.name.as_str()))
                        })
                        .map(|sandbox| StepKind::SandboxRefresh { sandbox })
                }
            };
            let needs_from = matches!(
                kind,
                StepKindName::OauthRefresh
                    | StepKindName::PasswordLogin
                    | StepKindName::CredentialStuffing
                    | StepKindName::SessionHijack
            );
            let from = self.origin(&s.from, org, s.kind.loc, needs_from);
            match step_kind {
                Some(k) => out.push(Step {
                    id: s.id.value.clone(),
                    kind_name: kind,
                    at_ms,
                    kind: k,
                    from,
                    pace,
                    until,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// webhook_exfil, pii_logging, cross_border_transfer: the integration
    /// and where its data goes instead.
    fn data_flow(
        &mut self,
        s: &RawStep,
        kind: StepKindName,
        org: &Org,
        traffic: &[usize],
    ) -> Option<StepKind> {
        let Some(name) = &s.integration else {
            self.err(
                s.kind.loc,
                format!("a `{}` step needs `integration`", kind.as_str()),
                "the id of a fixture integration",
            );
            return None;
        };
        let k = self.lookup(
            name,
            "integration",
            org.integrations.iter().map(|x| x.id.as_str()),
        )?;
        let integ = &org.integrations[k];
        if !traffic.contains(&k) {
            self.err(
                name.loc,
                format!("integration `{}` does not run in this scenario", integ.id),
                "add it to `traffic.integrations` (or use `all`): its data flow is what the step tampers with",
            );
        }
        let ep = s.endpoint.as_ref();
        let url_given = ep.and_then(|e| e.value.url.as_ref());
        let country_given = ep.and_then(|e| e.value.country.as_ref());
        let at = ep.map_or(s.kind.loc, |e| e.loc);
        // The integration's own endpoint for this kind of flow.
        let own = match kind {
            StepKindName::PiiLogging => integ.log_sink.as_ref(),
            _ => integ.sends_to.as_ref(),
        };
        let url = match (kind, url_given, own) {
            (_, Some(u), _) => Some(u.value.clone()),
            (StepKindName::WebhookExfil, None, Some(to)) => Some(lookalike(&to.url)),
            (_, None, Some(to)) => Some(to.url.clone()),
            (StepKindName::PiiLogging, None, None) => {
                self.err(
                    at,
                    format!("integration `{}` has no log sink", integ.id),
                    "give `endpoint: { url, country }` for the sink it starts logging to",
                );
                None
            }
            (_, None, None) => {
                self.err(
                    at,
                    format!("integration `{}` sends no data anywhere", integ.id),
                    "give `endpoint: { url, country }`, or pick an integration with `sends_to`",
                );
                None
            }
        };
        let url_loc = url_given.map_or(at, |u| u.loc);
        let url = url.filter(|url| match crate::fixture::endpoint_host(url) {
            Err(why) => {
                self.err(url_loc, format!("`{url}` is not a usable endpoint URL: {why}"), "for example http://hooks.vendor-lookalike.example/ingest");
                false
            }
            Ok(h) if !crate::fixture::is_reserved_domain(&h) => {
                self.err(url_loc, format!("endpoint host `{h}` is not a reserved test domain"), "synthetic endpoints must use .example, .test, example.com/net/org or .invalid names, so no real service can receive data");
                false
            }
            Ok(_) => true,
        });
        let country = match (country_given, own) {
            (Some(c), _) => {
                let ok = c.value.len() == 2 && c.value.bytes().all(|b| b.is_ascii_uppercase());
                if !ok {
                    self.err(
                        c.loc,
                        format!("`{}` is not an ISO 3166 alpha-2 country code", c.value),
                        "for example US, DE, SG",
                    );
                }
                ok.then(|| c.value.clone())
            }
            (None, Some(to)) => Some(to.country.clone()),
            // Without a URL the missing endpoint was reported already.
            (None, None) if url_given.is_none() => None,
            (None, None) => {
                self.err(
                    at,
                    "the endpoint needs a `country`",
                    "the ISO 3166 alpha-2 country it processes data in, e.g. US",
                );
                None
            }
        };
        let (url, country) = (url?, country?);
        if kind == StepKindName::CrossBorderTransfer {
            match &integ.residency {
                None => {
                    self.err(name.loc, format!("integration `{}` has no residency rule, so no transfer is cross-border", integ.id), "pick an integration with `residency`, or use `webhook_exfil`");
                    return None;
                }
                Some(r) if r.contains(&country) => {
                    self.err(
                        country_given.map_or(at, |c| c.loc),
                        format!("{country} is inside integration `{}`'s residency", integ.id),
                        "choose a country outside its `residency` list",
                    );
                    return None;
                }
                Some(_) => {}
            }
        }
        if kind == StepKindName::WebhookExfil
            && integ.sends_to.as_ref().is_some_and(|to| to.url == url)
        {
            self.err(
                url_loc,
                "that is the integration's own endpoint",
                "exfiltration goes somewhere else: leave `url` out for a look-alike host",
            );
            return None;
        }
        Some(StepKind::DataFlow {
            integration: k,
            url,
            country,
        })
    }

    fn secret(&mut self, sec: &RawSecret, loc: Loc, org: &Org) -> Option<Secret> {
        let users = || org.users.iter().map(|u| u.username.as_str());
        let app = sec.connected_app.as_ref().map(|a| {
            self.lookup(
                a,
                "connected app",
                org.connected_apps.iter().map(|x| x.name.as_str()),
            )
        });
        let user = sec.user.as_ref().map(|u| self.lookup(u, "user", users()));
        match sec.kind.value {
            SecretKind::RefreshToken => {
                let Some(app) = app else {
                    self.err(loc, "a leaked refresh token needs `connected_app`", "");
                    return None;
                };
                let app = app?;
                let user = match user {
                    Some(u) => u?,
                    None => {
                        // The integration user the app serves.
                        let name = &org.connected_apps[app].name;
                        let Some(i) = org
                            .integrations
                            .iter()
                            .find(|i| i.connected_app.as_deref() == Some(name.as_str()))
                        else {
                            self.err(loc, format!("connected app `{name}` serves no integration; name the `user` whose token leaked"), "");
                            return None;
                        };
                        org.users.iter().position(|u| u.username == i.user)?
                    }
                };
                Some(Secret::RefreshToken { app, user })
            }
            SecretKind::Password => {
                let Some(user) = user else {
                    self.err(loc, "a leaked password needs `user`", "");
                    return None;
                };
                Some(Secret::Password {
                    user: user?,
                    app: app.flatten(),
                })
            }
        }
    }

    fn faults(&mut self, raw: &[Checked<RawFault>], duration_ms: i64) -> Vec<Fault> {
        let mut out = Vec::new();
        for f in raw.iter().filter_map(|c| c.value.as_ref()) {
            let kind = f.kind.value;
            let present = [
                ("source", f.source.as_ref().map(|x| x.loc)),
                ("delay", f.delay.as_ref().map(|x| x.loc)),
                ("rate", f.rate.as_ref().map(|x| x.loc)),
                ("at", f.at.as_ref().map(|x| x.loc)),
                ("for", f.for_.as_ref().map(|x| x.loc)),
                ("action", f.action.as_ref().map(|x| x.loc)),
                (
                    "failing_attempts",
                    f.failing_attempts.as_ref().map(|x| x.loc),
                ),
                ("skew", f.skew.as_ref().map(|x| x.loc)),
            ];
            for (key, loc) in present {
                match loc {
                    Some(loc) if !kind.allowed().contains(&key) => self.err(
                        loc,
                        format!("`{key}` does not apply to a `{}` fault", kind.as_str()),
                        format!(
                            "a `{}` fault takes: {}",
                            kind.as_str(),
                            kind.allowed().join(", ")
                        ),
                    ),
                    None if kind.required().contains(&key) => self.err(
                        f.kind.loc,
                        format!("a `{}` fault needs `{key}`", kind.as_str()),
                        "",
                    ),
                    _ => {}
                }
            }
            let rate = match &f.rate {
                Some(r) if !(0.0..=1.0).contains(&r.value) => {
                    self.err(
                        r.loc,
                        "rate must be between 0 and 1",
                        "a share of events or calls",
                    );
                    0.0
                }
                Some(r) => r.value,
                None => 0.0,
            };
            let from_ms = self.offset(&f.at, duration_ms, "`at`");
            let to_ms = f
                .for_
                .as_ref()
                .and_then(|d| self.duration(d, "duration", false))
                .map_or(i64::MAX, |d| from_ms.saturating_add(d));
            out.push(Fault {
                kind,
                source: f.source.as_ref().map_or(TelemetrySource::All, |s| s.value),
                delay_ms: f
                    .delay
                    .as_ref()
                    .and_then(|d| self.duration(d, "delay", false))
                    .unwrap_or(0),
                rate,
                from_ms,
                to_ms,
                action: f.action.as_ref().map(|a| a.value),
                failing_attempts: f.failing_attempts.as_ref().map_or(0, |a| a.value).min(100),
                skew_ms: f
                    .skew
                    .as_ref()
                    .and_then(|d| self.duration(d, "skew", true))
                    .unwrap_or(0),
            });
        }
        out
    }

    /// A response action's target, checked for `kind` with every error
    /// recorded: the scenario's `response:` entries and the actions an
    /// external detector asks for at run time ([`adhoc_action`]).
    fn target(
        &mut self,
        kind: ActionKind,
        raw: &Spanned<RawTarget>,
        org: &Org,
        steps: &[(&str, StepKindName)],
    ) -> Target {
        let t = &raw.value;
        let target = Target {
            user: t.user.as_ref().and_then(|u| {
                self.lookup(u, "user", org.users.iter().map(|x| x.username.as_str()))
            }),
            connected_app: t.connected_app.as_ref().and_then(|u| {
                self.lookup(
                    u,
                    "connected app",
                    org.connected_apps.iter().map(|x| x.name.as_str()),
                )
            }),
            step: t
                .step
                .as_ref()
                .and_then(|u| self.lookup(u, "attack step", steps.iter().map(|(id, _)| *id))),
            permission_set: t.permission_set.as_ref().and_then(|p| {
                self.lookup(
                    p,
                    "permission set",
                    org.permission_sets.iter().map(|x| x.name.as_str()),
                )
                .map(|_| p.value.clone())
            }),
            host: t
                .host
                .as_ref()
                .map(|h| h.value.trim_end_matches('.').to_ascii_lowercase()),
            regime: t.regime.as_ref().and_then(|r| {
                let cat = crate::clocks::catalogue().ok()?;
                self.lookup(r, "regime", cat.regimes.iter().map(|x| x.id.as_str()))
                    .map(|_| r.value.clone())
            }),
            obligation: t.obligation.as_ref().and_then(|o| {
                let cat = crate::clocks::catalogue().ok()?;
                self.lookup(
                    o,
                    "obligation",
                    cat.regimes
                        .iter()
                        .flat_map(|x| &x.obligations)
                        .map(|x| x.id.as_str()),
                )
                .map(|_| o.value.clone())
            }),
        };
        let notify = kind == ActionKind::Notify;
        for (given, what) in [(&t.regime, "regime"), (&t.obligation, "obligation")] {
            if let Some(g) = given
                && !notify
            {
                self.err(
                    g.loc,
                    format!("`{what}` does not apply to `{}`", kind.as_str()),
                    "only `notify` takes a regime or an obligation",
                );
            }
        }
        if notify {
            if t.regime.is_some() == t.obligation.is_some() {
                self.err(
                    raw.loc,
                    "`notify` needs exactly one of `regime` or `obligation` in the target",
                    "e.g. `target: { regime: eu_gdpr }` or `target: { obligation: eu_gdpr_art33_sa }` (ids from `leakdrill clocks list`)",
                );
            }
        } else if t.user.is_none()
            && t.connected_app.is_none()
            && t.step.is_none()
            && t.host.is_none()
        {
            self.err(
                raw.loc,
                "the target names nobody",
                "give `user`, `connected_app`, `step` or `host`",
            );
        }
        if let Some(h) = &t.host {
            if kind != ActionKind::BlockEgress {
                self.err(
                    h.loc,
                    format!("`host` does not apply to `{}`", kind.as_str()),
                    "only `block_egress` takes a host",
                );
            } else if h.value.contains(['/', ':', '@']) {
                self.err(
                    h.loc,
                    format!("`{}` is a URL, not a host name", h.value),
                    "give the bare host, e.g. events.example",
                );
            } else if !crate::fixture::is_reserved_domain(&h.value) {
                self.err(
                    h.loc,
                    format!(
                        "`{}` is not a host name under a reserved test domain",
                        h.value
                    ),
                    "a bare host such as hooks.vendor-lookalike.example",
                );
            }
        }
        if kind == ActionKind::BlockEgress && t.host.is_none() {
            let flow_step = target
                .step
                .and_then(|k| steps.get(k))
                .is_some_and(|(_, kind)| {
                    matches!(
                        kind,
                        StepKindName::WebhookExfil
                            | StepKindName::PiiLogging
                            | StepKindName::CrossBorderTransfer
                    )
                });
            if !flow_step {
                self.err(raw.loc, "`block_egress` needs a `host`, or a `step` that sends data to an endpoint", "e.g. `target: { host: events.marketing-autornation.example }` or `target: { step: exfil }` for a webhook_exfil step");
            }
        }
        if kind == ActionKind::RemovePermissionSet && t.permission_set.is_none() {
            self.err(
                raw.loc,
                "`remove_permission_set` needs `permission_set` in the target",
                "",
            );
        }
        target
    }

    fn actions(
        &mut self,
        raw: &[Checked<RawAction>],
        org: &Org,
        steps: &[Checked<RawStep>],
        duration_ms: i64,
    ) -> Option<Vec<Action>> {
        let step_ids = || {
            steps
                .iter()
                .filter_map(|c| c.value.as_ref())
                .map(|s| s.id.value.as_str())
        };
        let mut out = Vec::new();
        let mut ok = true;
        for c in raw {
            let Some(a) = &c.value else {
                ok = false;
                continue;
            };
            let trigger = match (&a.at, &a.on) {
                (Some(_), Some(on)) | (None, Some(on)) if a.at.is_some() => {
                    self.err(on.loc, "give either `at` or `on`, not both", "");
                    None
                }
                (Some(_), None) => Some(Trigger::At(self.offset(&a.at, duration_ms, "`at`"))),
                (None, Some(on)) => match (&on.value.first_success, &on.value.alert) {
                    (Some(step), None) => self
                        .lookup(step, "attack step", step_ids())
                        .map(Trigger::FirstSuccess),
                    (None, Some(rule)) if !rule.value.trim().is_empty() => {
                        Some(Trigger::Alert(rule.value.trim().to_owned()))
                    }
                    _ => {
                        self.err(
                            on.loc,
                            "`on` needs exactly one of `first_success` or `alert`",
                            "e.g. `on: { first_success: scrape }` or `on: { alert: any }`",
                        );
                        None
                    }
                },
                (None, None) => {
                    self.err(
                        a.action.loc,
                        "an action needs `at` or `on`",
                        "e.g. `at: 6h` or `on: { first_success: scrape }`",
                    );
                    None
                }
                (Some(_), Some(_)) => None,
            };
            let kinds: Vec<(&str, StepKindName)> = steps
                .iter()
                .filter_map(|c| c.value.as_ref())
                .map(|s| (s.id.value.as_str(), s.kind.value))
                .collect();
            let target = self.target(a.action.value, &a.target, org, &kinds);
            let after_ms = a
                .after
                .as_ref()
                .and_then(|d| self.duration(d, "latency", false))
                .unwrap_or(0);
            match trigger {
                Some(trigger) => out.push(Action {
                    trigger,
                    kind: a.action.value,
                    target,
                    after_ms,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// Most bytes of a run-time action target ([`adhoc_action`]).
const MAX_ADHOC_TARGET: usize = 64 * 1024;

/// An action a detector under test asks for at run time (`at_ms` after the
/// start), checked against `sc` with the same rules as a `response:` entry
/// (`do:` names, target keys, users, apps, steps, permission sets, hosts,
/// regimes). `Err` says why, in the scenario checker's words.
pub fn adhoc_action(
    sc: &Scenario,
    action: &str,
    target: &serde_json::Value,
    after_ms: i64,
    at_ms: i64,
) -> Result<Action, String> {
    let kind: ActionKind = serde_json::from_value(serde_json::Value::String(action.to_owned()))
        .map_err(|_| {
            let names = [
                ActionKind::RevokeRefreshTokens,
                ActionKind::RevokeAccessToken,
                ActionKind::EndSessions,
                ActionKind::FreezeUser,
                ActionKind::DeactivateUser,
                ActionKind::BlockConnectedApp,
                ActionKind::RemovePermissionSet,
                ActionKind::BlockEgress,
                ActionKind::Notify,
            ]
            .map(ActionKind::as_str);
            format!("unknown action `{action}`; {}", suggest(action, names))
        })?;
    if !target.is_object() {
        return Err("`target` must be an object such as {\"user\": \"…\"}".into());
    }
    if !(0..=sc.duration_ms).contains(&after_ms) {
        return Err(format!(
            "`after_ms` {after_ms} is not in 0..={}",
            sc.duration_ms
        ));
    }
    // JSON is YAML: the target goes through the scenario's own parser, so
    // unknown keys and wrong types read as they do in a scenario file.
    let text = target.to_string();
    if text.len() > MAX_ADHOC_TARGET {
        return Err("`target` is larger than 64 KiB".into());
    }
    let file = "detector action target";
    let raw: Spanned<RawTarget> = Spanned {
        loc: Loc::new(1, 1),
        value: yaml::from_str(file, &text).map_err(|d| d.to_string())?,
    };
    let mut v = V {
        file,
        diags: Diagnostics::default(),
    };
    let steps: Vec<(&str, StepKindName)> = sc
        .attack
        .iter()
        .map(|s| (s.id.as_str(), s.kind_name))
        .collect();
    let target = v.target(kind, &raw, &sc.org, &steps);
    if !v.diags.is_empty() {
        return Err(v.diags.sorted().to_string());
    }
    Ok(Action {
        trigger: Trigger::At(at_ms),
        kind,
        target,
        after_ms,
    })
}

/// A look-alike of `url`'s host, as typosquatters register them: `m` → `rn`
/// in the first label that has one, else `l` → `1`, `o` → `0`, else a
/// `-secure` suffix on the first label; the scheme becomes plaintext
/// `http://` and the path is kept.
pub fn lookalike(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len().saturating_sub(1).max(1);
    let mut out: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    let swapped = [("m", "rn"), ("l", "1"), ("o", "0")]
        .iter()
        .any(|(from, to)| {
            (0..n.min(out.len())).rev().any(|i| {
                if out[i].contains(from) {
                    out[i] = out[i].replacen(from, to, 1);
                    true
                } else {
                    false
                }
            })
        });
    if !swapped && let Some(first) = out.first_mut() {
        first.push_str("-secure");
    }
    format!("http://{}{path}", out.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_are_typosquats_of_the_host_over_plaintext() {
        assert_eq!(
            lookalike("http://events.marketing-automation.example/salesforce/hooks"),
            "http://events.rnarketing-automation.example/salesforce/hooks"
        );
        assert_eq!(
            lookalike("https://orders.fulfilment-partner.example/api/notify"),
            "http://orders.fulfilrnent-partner.example/api/notify"
        );
        assert_eq!(
            lookalike("https://abc.example"),
            "http://abc-secure.example"
        );
        for u in [
            "http://a.example/x",
            "https://hooks.vendor.test/",
            "http://x.y.z.invalid",
        ] {
            let l = lookalike(u);
            assert_ne!(l, u);
            let h = crate::fixture::endpoint_host(&l).expect("a URL");
            assert!(crate::fixture::is_reserved_domain(&h), "{l}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("90s"), Some(90_000));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("2d"), Some(172_800_000));
        assert_eq!(parse_duration_ms("-90s"), Some(-90_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        for bad in ["", "h", "5", "5x", "1h-2m", "99999999999h", "-"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants() {
        assert_eq!(parse_instant_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_instant_ms("2026-03-06T16:30:00Z"),
            Some(1_772_814_600_000)
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-03-06 16:30:00Z",
            "2026-03-06T24:00:00Z",
            "2026-03-06T16:30:00",
        ] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
        }
    }
}
