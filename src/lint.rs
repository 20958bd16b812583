//! Posture audit of a fixture (`leakdrill lint`): the misconfigurations that
//! turn a leaked credential into a breach — over-permissioned integration
//! users, open FLS on sensitive fields, replayable connected-app tokens,
//! plaintext webhooks, PII in third-party logs, unmasked sandboxes,
//! residency violations.
//!
//! Owns: the rule catalogue and its findings. Must not: do I/O, or change the
//! org (it reads the validated model only).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::diag::Loc;
use crate::model::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// One rule of the catalogue: its id, default severity and one-line summary.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub summary: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "integration-view-all-data",
        summary: "an integration user holds View All Data or Modify All Data",
    },
    Rule {
        id: "integration-reads-unused-sensitive-fields",
        summary: "an integration user can read sensitive fields its integration never uses",
    },
    Rule {
        id: "sensitive-field-open-fls",
        summary: "a sensitive custom field is readable by most profiles (FLS never restricted)",
    },
    Rule {
        id: "replayable-refresh-token",
        summary: "a connected app's refresh tokens never expire and work from any IP",
    },
    Rule {
        id: "connected-app-relaxed-ip",
        summary: "a connected app relaxes IP restrictions",
    },
    Rule {
        id: "refresh-token-never-expires",
        summary: "a connected app's refresh tokens are valid until revoked",
    },
    Rule {
        id: "connected-app-full-scope",
        summary: "a connected app requests the `full` scope",
    },
    Rule {
        id: "connected-app-self-authorize",
        summary: "any user may authorise a connected app",
    },
    Rule {
        id: "plaintext-webhook",
        summary: "an integration sends record data over plain HTTP",
    },
    Rule {
        id: "pii-in-third-party-logs",
        summary: "an integration writes personal data to a third-party log sink",
    },
    Rule {
        id: "unmasked-sandbox",
        summary: "a sandbox holds unmasked copies of personal data",
    },
    Rule {
        id: "residency-violation",
        summary: "an integration sends data outside the countries its residency rule allows",
    },
    Rule {
        id: "api-user-without-ip-ranges",
        summary: "an API integration user can log in from any IP",
    },
    Rule {
        id: "integration-user-not-api-only",
        summary: "an integration user can also log in to the UI",
    },
    Rule {
        id: "inactive-user-still-authorized",
        summary: "a deactivated user is still authorised for a connected app",
    },
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// `file:line:col` of the offending definition.
    pub location: String,
    /// What is wrong and why it matters (the breach pattern it enables).
    pub message: String,
    pub fix: String,
}

struct Ctx<'a> {
    org: &'a Org,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    fn add(
        &mut self,
        rule: &'static str,
        severity: Severity,
        loc: Loc,
        message: String,
        fix: String,
    ) {
        debug_assert!(RULES.iter().any(|r| r.id == rule), "unknown rule {rule}");
        self.out.push(Finding {
            rule,
            severity,
            location: format!("{}:{}", self.org.source, loc),
            message,
            fix,
        });
    }
}

/// Every finding for `org`, in file order.
pub fn lint(org: &Org) -> Vec<Finding> {
    let mut cx = Ctx {
        org,
        out: Vec::new(),
    };
    users(&mut cx);
    fields(&mut cx);
    apps(&mut cx);
    integrations(&mut cx);
    sandboxes(&mut cx);
    let mut out = cx.out;
    out.sort_by(|a, b| {
        let key = |f: &Finding| {
            let mut parts = f.location.rsplitn(3, ':');
            let col: u32 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let line: u32 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            (line, col)
        };
        (key(a), a.rule, &a.message).cmp(&(key(b), b.rule, &b.message))
    });
    out
}

/// Which of the user's grants (profile or permission set) gives `p`.
fn granted_by(org: &Org, user: &User, p: SystemPermission) -> Vec<String> {
    let mut v = Vec::new();
    if org
        .profile(&user.profile)
        .is_some_and(|x| x.grants.system.contains(&p))
    {
        v.push(format!("profile `{}`", user.profile));
    }
    for ps in &user.permission_sets {
        if org
            .permission_set(ps)
            .is_some_and(|x| x.grants.system.contains(&p))
        {
            v.push(format!("permission set `{ps}`"));
        }
    }
    v
}

fn users(cx: &mut Ctx<'_>) {
    let org = cx.org;
    for u in org.users.iter().filter(|u| u.kind == UserKind::Integration) {
        let eff = org.effective(u);
        if eff.has(SystemPermission::ViewAllData) {
            let modify = eff.has(SystemPermission::ModifyAllData);
            let perm = if modify {
                SystemPermission::ModifyAllData
            } else {
                SystemPermission::ViewAllData
            };
            let via = granted_by(org, u, perm).join(" and ");
            cx.add(
                "integration-view-all-data",
                if modify { Severity::Critical } else { Severity::High },
                u.loc,
                format!(
                    "integration user {} holds {} via {via}: it reads every record of every object regardless of sharing, so one leaked token or refresh token exposes the whole org (the pattern behind the 2025 OAuth-token thefts from Salesforce integrations)",
                    u.username,
                    if modify { "Modify All Data" } else { "View All Data" },
                ),
                "grant object Read (and View All only on the objects the integration extracts) through a dedicated permission set; remove View All Data".into(),
            );
        }

        if !eff.has(SystemPermission::ApiUserOnly) {
            cx.add(
                "integration-user-not-api-only",
                Severity::Low,
                u.loc,
                format!("integration user {} can also log in to the Salesforce UI (no API Only User permission), so a phished password gives an interactive session", u.username),
                "grant API Only User (or use the Salesforce Integration user licence)".into(),
            );
        }
        // Sensitive fields readable but unused by every integration of this user.
        let integrations: Vec<&Integration> = org
            .integrations
            .iter()
            .filter(|i| i.user == u.username)
            .collect();
        if integrations.is_empty() || integrations.iter().any(|i| i.fields_used.is_none()) {
            continue;
        }
        let used: BTreeSet<(&str, &str)> = integrations
            .iter()
            .flat_map(|i| i.fields_used.iter().flatten())
            .map(|(o, f)| (o.as_str(), f.as_str()))
            .collect();
        for o in &org.objects {
            let unused: Vec<&str> = o
                .fields
                .iter()
                .filter(|f| {
                    f.class.is_sensitive()
                        && eff.field(o, f).read
                        && !used.contains(&(o.name.as_str(), f.name.as_str()))
                        // Classic encrypted fields are masked without View Encrypted Data.
                        && (!f.encrypted || eff.has(SystemPermission::ViewEncryptedData))
                })
                .map(|f| f.name.as_str())
                .collect();
            if unused.is_empty() {
                continue;
            }
            let ids: Vec<&str> = integrations.iter().map(|i| i.id.as_str()).collect();
            cx.add(
                "integration-reads-unused-sensitive-fields",
                Severity::High,
                integrations[0].loc,
                format!(
                    "integration user {} can read sensitive {} field{} {} that {} {} never {}: a stolen token exfiltrates data the integration does not even need",
                    u.username,
                    o.name,
                    if unused.len() == 1 { "" } else { "s" },
                    unused.join(", "),
                    if ids.len() == 1 { "integration" } else { "integrations" },
                    ids.join(", "),
                    if ids.len() == 1 { "uses" } else { "use" },
                ),
                format!("remove Read FLS on {} for this user's profile `{}` and permission sets", unused.join(", "), u.profile),
            );
        }
    }
    // Login IP ranges are a profile setting: one finding per profile, naming
    // the integration users that share it.
    for p in org.profiles.iter().filter(|p| p.login_ip_ranges.is_empty()) {
        let users: Vec<&User> = org
            .users
            .iter()
            .filter(|u| u.kind == UserKind::Integration && u.active && u.profile == p.name)
            .filter(|u| org.effective(u).has(SystemPermission::ApiEnabled))
            .collect();
        if users.is_empty() {
            continue;
        }
        let mut ranges: Vec<String> = users
            .iter()
            .filter_map(|u| {
                u.network
                    .as_deref()
                    .and_then(|n| org.network(n))
                    .map(|n| n.cidr.to_string())
            })
            .collect();
        ranges.sort();
        ranges.dedup();
        let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
        cx.add(
            "api-user-without-ip-ranges",
            Severity::Medium,
            p.loc,
            format!(
                "profile `{}` has no login IP ranges, and {} integration user{} use{} it ({}): their passwords and tokens work from any network, including an attacker's VPS",
                p.name,
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                if names.len() == 1 { "s" } else { "" },
                names.join(", ")
            ),
            if ranges.is_empty() {
                format!("set login IP ranges on profile `{}` to the integrations' egress ranges", p.name)
            } else {
                format!(
                    "give each integration user its own profile (or the Salesforce Integration licence) with login IP ranges of its egress network ({})",
                    ranges.join(", ")
                )
            },
        );
    }
    for u in org.users.iter().filter(|u| !u.active) {
        for app in org
            .connected_apps
            .iter()
            .filter(|a| a.authorized_users.contains(&u.username))
        {
            cx.add(
                "inactive-user-still-authorized",
                Severity::Low,
                app.loc,
                format!(
                    "deactivated user {} is still authorised for connected app `{}`: its OAuth grants should have been revoked at off-boarding",
                    u.username, app.name
                ),
                format!("revoke the user's OAuth tokens for `{}` and remove the authorisation", app.name),
            );
        }
    }
}

fn fields(cx: &mut Ctx<'_>) {
    let org = cx.org;
    // Administrators (Modify All Data) are expected to read everything; the
    // question is how many ordinary profiles can.
    let ordinary: Vec<&Profile> = org
        .profiles
        .iter()
        .filter(|p| !p.grants.system.contains(&SystemPermission::ModifyAllData))
        .collect();
    let n_profiles = ordinary.len();
    for o in &org.objects {
        for f in o
            .fields
            .iter()
            .filter(|f| f.class.is_sensitive() && f.is_custom())
        {
            let readers: Vec<&str> = ordinary
                .iter()
                .filter(|p| {
                    let key = (o.name.clone(), f.name.clone());
                    let op = p
                        .grants
                        .objects
                        .get(&o.name)
                        .copied()
                        .unwrap_or_default()
                        .closed();
                    let fls = p.grants.fields.get(&key).is_some_and(|x| x.read || x.edit);
                    op.read && (fls || op.view_all_fields)
                })
                .map(|p| p.name.as_str())
                .collect();
            if n_profiles >= 3 && readers.len() * 2 > n_profiles {
                cx.add(
                    "sensitive-field-open-fls",
                    Severity::Medium,
                    f.loc,
                    format!(
                        "{} field {}.{} is readable by {} of {} non-admin profiles ({}): FLS was left open when the field was created, so every user and integration on those profiles can export it",
                        f.class,
                        o.name,
                        f.name,
                        readers.len(),
                        n_profiles,
                        readers.join(", ")
                    ),
                    "remove Read on the field from every profile and grant it through a permission set to the roles that need it".into(),
                );
            }
        }
    }
}

fn apps(cx: &mut Ctx<'_>) {
    for app in &cx.org.connected_apps {
        let never_expires = app.issues_refresh_tokens()
            && app.refresh_token_policy == RefreshTokenPolicy::UntilRevoked;
        let relaxed = app.ip_relaxation == IpRelaxation::Relax;
        if never_expires && relaxed {
            cx.add(
                "replayable-refresh-token",
                Severity::High,
                app.loc,
                format!(
                    "connected app `{}` issues refresh tokens that never expire and relaxes IP restrictions: a refresh token leaked from a CI log, repository or vendor breach can be replayed from anywhere, indefinitely",
                    app.name
                ),
                "set the refresh token policy to expire (e.g. after 90 days of inactivity), enable refresh token rotation, and enforce IP restrictions".into(),
            );
        } else if relaxed {
            cx.add(
                "connected-app-relaxed-ip",
                Severity::Medium,
                app.loc,
                format!("connected app `{}` relaxes IP restrictions: its tokens work from networks outside the users' login IP ranges", app.name),
                "set IP Relaxation to \"Enforce IP restrictions\"".into(),
            );
        } else if never_expires {
            cx.add(
                "refresh-token-never-expires",
                Severity::Medium,
                app.loc,
                format!("connected app `{}` issues refresh tokens valid until revoked: a leaked one stays useful until someone notices", app.name),
                "expire refresh tokens after a period of inactivity and enable rotation".into(),
            );
        }
        if app.scopes.contains("full") {
            cx.add(
                "connected-app-full-scope",
                Severity::Medium,
                app.loc,
                format!("connected app `{}` requests the `full` scope: its tokens reach all data the user can access, through every API", app.name),
                "request only `api` (and `refresh_token` if the app needs offline access)".into(),
            );
        }
        if !app.admin_approved_only {
            cx.add(
                "connected-app-self-authorize",
                Severity::Low,
                app.loc,
                format!("any user may self-authorise connected app `{}`: a phished user can grant it a token without an admin", app.name),
                "set Permitted Users to \"Admin approved users are pre-authorized\" and assign it by profile or permission set".into(),
            );
        }
    }
}

/// `EEA + GB` for a list containing every EEA country, else the list.
fn countries(list: &[String], sep: &str) -> String {
    let all_eea = EEA.iter().all(|c| list.iter().any(|x| x == c));
    if !all_eea {
        return list.join(sep);
    }
    let rest: Vec<&str> = list
        .iter()
        .map(String::as_str)
        .filter(|c| !EEA.contains(c))
        .collect();
    std::iter::once("EEA")
        .chain(rest)
        .collect::<Vec<_>>()
        .join(" + ")
}

fn personal(carries: &BTreeSet<Classification>) -> Vec<&'static str> {
    carries
        .iter()
        .filter(|c| c.is_personal())
        .map(|c| c.as_str())
        .collect()
}

fn integrations(cx: &mut Ctx<'_>) {
    for i in &cx.org.integrations {
        if let Some(e) = &i.sends_to {
            let classes = personal(&e.carries);
            if e.is_plaintext() {
                cx.add(
                    "plaintext-webhook",
                    if classes.is_empty() { Severity::Medium } else { Severity::High },
                    e.loc,
                    format!(
                        "integration `{}` sends {} to {} over plain HTTP: anyone on the path (or a look-alike endpoint) reads it",
                        i.id,
                        if classes.is_empty() { "record data".to_owned() } else { classes.join(", ") },
                        e.url
                    ),
                    "use https:// with certificate validation, and sign payloads so a look-alike endpoint is detected".into(),
                );
            }
            if let Some(allowed) = &i.residency
                && !allowed.contains(&e.country)
            {
                cx.add(
                    "residency-violation",
                    Severity::High,
                    e.loc,
                    format!(
                        "integration `{}` sends {} to {} in {} although its residency rule allows only {}: a cross-border transfer without a transfer mechanism",
                        i.id,
                        if classes.is_empty() { "record data".to_owned() } else { classes.join(", ") },
                        e.url,
                        e.country,
                        countries(allowed, ", ")
                    ),
                    format!("route the data to an endpoint in {} or stop sending personal data", countries(allowed, "/")),
                );
            }
        }
        if let Some(l) = &i.log_sink {
            let classes = personal(&l.carries);
            if !classes.is_empty() {
                cx.add(
                    "pii-in-third-party-logs",
                    Severity::High,
                    l.loc,
                    format!(
                        "integration `{}` logs request and response bodies with {} to a third-party sink ({}): the log vendor becomes a second copy of the data, outside Salesforce's access controls",
                        i.id,
                        classes.join(", "),
                        l.url
                    ),
                    "log record Ids and counts, never field values; redact PII before the log shipper".into(),
                );
            }
        }
    }
}

fn sandboxes(cx: &mut Ctx<'_>) {
    let org = cx.org;
    for s in org.sandboxes.iter().filter(|s| !s.masked) {
        let mut classes: BTreeSet<Classification> = BTreeSet::new();
        for o in s.objects.iter().filter_map(|o| org.object(o)) {
            classes.extend(o.fields.iter().map(|f| f.class).filter(|c| c.is_personal()));
        }
        if classes.is_empty() {
            continue;
        }
        let names: Vec<&str> = classes.iter().map(|c| c.as_str()).collect();
        cx.add(
            "unmasked-sandbox",
            if classes.iter().any(|c| c.is_sensitive()) { Severity::High } else { Severity::Medium },
            s.loc,
            format!(
                "{} sandbox `{}` was refreshed without data masking and holds {} copied from production ({}): sandboxes have weaker access controls and more users",
                s.kind,
                s.name,
                names.join(", "),
                s.objects.join(", ")
            ),
            "run Data Mask (or an equivalent masking job) after every refresh, or copy only synthetic data".into(),
        );
    }
}

/// Compiler-style text report.
pub fn render_text(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        let _ = writeln!(s, "{}[{}]: {}", f.severity.as_str(), f.rule, f.message);
        let _ = writeln!(s, "  --> {}", f.location);
        let _ = writeln!(s, "   = fix: {}\n", f.fix);
    }
    let mut counts = Vec::new();
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let n = findings.iter().filter(|f| f.severity == sev).count();
        if n > 0 {
            counts.push(format!("{n} {}", sev.as_str()));
        }
    }
    if findings.is_empty() {
        s.push_str("no findings\n");
    } else {
        let _ = writeln!(
            s,
            "{} finding{}: {}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            counts.join(", ")
        );
    }
    s
}
