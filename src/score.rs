//! Scoring a run: which alerts were true positives for which injection,
//! time to detect and to contain per injection, false positives per benign
//! hour, and the scenario's expectations evaluated into met/missed with
//! margins. Pure: a function of the scenario and the run summary.
//!
//! Owns: the true-positive rule and the expectation semantics. Must not:
//! run anything or read files.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::pii::Plan;
use crate::scenario::{Scenario, StepKind};
use crate::seed::Seed;
use crate::sim::{Exposure, Summary};

/// How long after an injection's last success an alert still counts for it.
pub const GRACE_MS: i64 = 24 * 3_600_000;

/// Version of the verdict's JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub schema_version: u32,
    pub injections: Vec<InjectionScore>,
    /// All injections together (a record exposed twice counts once; before
    /// detection = before the first true-positive alert of any injection).
    pub exposure: RecordsExposed,
    pub expectations: Vec<ExpectationResult>,
    pub false_positives: FalsePositives,
    /// Breach-notification regimes that apply to what was exposed, their
    /// clocks, and the money estimate.
    pub notification: Notification,
    /// The detector under test crashed, hung or broke its protocol: it saw
    /// nothing after `t_ms`, and the run fails (`detector_healthy` missed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_fault: Option<crate::sim::DetectorFaultAt>,
    /// Every expectation met.
    pub passed: bool,
}

/// Regulatory clocks of a run. The trigger of every clock (awareness,
/// discovery, determination, …) is the first true-positive alert: the
/// moment the organisation knew. Chained clocks follow the filings.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// RFC 3339 (UTC) of the first true-positive alert; `None`: never known.
    pub trigger_at: Option<String>,
    pub regimes: Vec<RegimeApplies>,
    pub clocks: Vec<ClockReport>,
    /// Statutory-maximum ranges per regime: an estimate, not legal advice.
    pub money: Vec<crate::clocks::MoneyEstimate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegimeApplies {
    pub id: String,
    pub name: String,
    pub jurisdiction: String,
    pub reason: String,
    pub verification: crate::clocks::Verification,
}

/// One clock as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ClockReport {
    pub regime: String,
    pub obligation: String,
    pub citation: String,
    pub recipient: String,
    pub trigger: String,
    /// RFC 3339, UTC.
    pub trigger_at: Option<String>,
    pub due_at: Option<String>,
    /// The due instant in the regime's zone (`Mon 2026-03-09 17:42 EDT`).
    pub due_local: Option<String>,
    pub deadline: String,
    pub status: crate::clocks::ClockStatus,
    /// Due − filed (or due − end of run when unfiled); negative = late.
    pub margin_ms: Option<i64>,
    pub verification: crate::clocks::Verification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_string())
}

fn local(ms: i64, zone: Option<&str>) -> Option<String> {
    let t = jiff::Timestamp::from_millisecond(ms).ok()?;
    let tz = jiff::tz::TimeZone::get(zone.unwrap_or("UTC")).ok()?;
    Some(
        t.to_zoned_datetime(tz)
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
    )
}

/// Clocks for the run's exposure: regimes by the subjects' jurisdictions,
/// the data categories exposed and the fixture's entity kinds; filings are
/// the `notify` actions that took effect.
fn notification(
    sc: &Scenario,
    s: &Summary,
    x: &RecordsExposed,
    first_detection: Option<i64>,
) -> Notification {
    use crate::clocks;
    let empty = Notification {
        trigger_at: None,
        regimes: Vec::new(),
        clocks: Vec::new(),
        money: Vec::new(),
    };
    let Ok(cat) = clocks::catalogue() else {
        return empty;
    };
    let exp = clocks::Exposure {
        subjects_by_jurisdiction: x.subjects_by_jurisdiction.clone(),
        data_categories: x.data_categories.iter().map(|c| (*c).to_owned()).collect(),
        entity_kinds: sc.org.regulated_as.iter().cloned().collect(),
        subjects_total: x.subjects,
    };
    let opts = clocks::Options {
        as_of_ms: Some(sc.start_ms + s.duration_ms),
        ..clocks::Options::default()
    };
    let known = first_detection.map(|d| sc.start_ms + d);
    let mut triggers = clocks::Triggers::new();
    if let Some(t) = known {
        for k in cat.vocab.triggers.keys() {
            // Facts a run does not have: no ransom is paid, and year ends,
            // chained filings and sent notices come from their own events.
            if !matches!(
                k.as_str(),
                "extortion_payment" | "calendar_year_end" | "submitted" | "individual_notice_sent"
            ) {
                triggers.set(k, t);
            }
        }
    }
    let apps = clocks::applicable(cat, &exp, &opts);
    let mut notified: BTreeMap<String, i64> = BTreeMap::new();
    for (a, out) in sc.response.iter().zip(&s.actions) {
        let (crate::scenario::ActionKind::Notify, Some(t)) = (a.kind, out.effective_ms) else {
            continue;
        };
        let at = sc.start_ms + t;
        let ids: Vec<&str> = match (&a.target.regime, &a.target.obligation) {
            (Some(r), _) => cat
                .regimes
                .iter()
                .filter(|x| &x.id == r)
                .flat_map(|x| x.obligations.iter().map(|o| o.id.as_str()))
                .collect(),
            (None, Some(o)) => vec![o.as_str()],
            (None, None) => Vec::new(),
        };
        for id in ids {
            notified.entry(id.to_owned()).or_insert(at);
        }
    }
    let mut regimes = Vec::new();
    let mut out = Vec::new();
    let mut money = Vec::new();
    for app in &apps {
        regimes.push(RegimeApplies {
            id: app.regime.id.clone(),
            name: app.regime.name.clone(),
            jurisdiction: app.regime.jurisdiction.clone(),
            reason: app.reason.clone(),
            verification: app.regime.verification,
        });
        for c in clocks::compute(app, &triggers, &notified, &opts) {
            out.push(ClockReport {
                regime: c.regime_id,
                obligation: c.obligation_id,
                citation: c.citation,
                recipient: c.recipient,
                trigger: c.trigger,
                trigger_at: c.trigger_at_ms.and_then(rfc3339),
                due_at: c.due_at_ms.and_then(rfc3339),
                due_local: c.due_at_ms.and_then(|d| local(d, c.timezone.as_deref())),
                deadline: c.deadline_text,
                status: c.status,
                margin_ms: c.margin_ms,
                verification: c.verification,
                note: c.note,
            });
        }
        money.extend(clocks::money_estimate(app, &exp, None));
    }
    Notification {
        trigger_at: known.and_then(rfc3339),
        regimes,
        clocks: out,
        money,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InjectionScore {
    pub id: String,
    pub kind: &'static str,
    /// Something a detector could see: its calls reach Salesforce telemetry,
    /// its sends pass the egress proxy, or its refresh is in the Setup Audit
    /// Trail (a secret leaking on its own is not).
    pub detectable: bool,
    pub detected: bool,
    /// First true-positive alert (ms since start).
    pub detected_ms: Option<i64>,
    /// First success → first true-positive alert.
    pub ttd_ms: Option<i64>,
    /// First success → last success, when the attacker was stopped.
    pub ttc_ms: Option<i64>,
    pub contained: bool,
    pub records_exposed: RecordsExposed,
    /// Rule ids of its true-positive alerts.
    pub rules: Vec<String>,
}

/// Distinct records exposed, split by when (relative to detection) and by
/// what: data class of the fields returned, and the data subject's
/// jurisdiction (from the record's generator: a child record belongs to its
/// parent person). After containment nothing succeeds, so "after detection"
/// is the window between detection and containment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordsExposed {
    pub total: u64,
    pub before_detection: u64,
    pub after_detection: u64,
    /// Records carrying each class (a record counts once per class).
    pub by_class: BTreeMap<&'static str, u64>,
    pub by_jurisdiction: BTreeMap<String, u64>,
    /// Distinct data subjects (people) whose records were exposed.
    pub subjects: u64,
    pub subjects_by_jurisdiction: BTreeMap<String, u64>,
    /// Exposed without a record trail (unmasked sandbox copies) or not
    /// generated records (made during the run): in `total` only.
    pub unattributed: u64,
    /// Data categories of the regulatory-clock catalogue the exposed fields
    /// fall in (`ssn`, `date_of_birth`, `cardholder_data`, …).
    pub data_categories: BTreeSet<&'static str>,
}

/// Catalogue data categories a field's values fall in (from what the
/// generator makes, else from its class).
fn field_categories(f: &crate::model::Field) -> &'static [&'static str] {
    use crate::model::{Classification as C, Generator as G};
    match (&f.generator, f.class) {
        (G::Ssn, _) => &["any_personal_data", "ssn"],
        (G::DateOfBirth, _) => &["any_personal_data", "date_of_birth"],
        (G::AccountNumber, _) => &[
            "any_personal_data",
            "financial_account_without_code",
            "customer_information",
        ],
        (G::TestCardNumber, _) => &[
            "any_personal_data",
            "cardholder_data",
            "financial_account_without_code",
        ],
        (G::Secret, _) => &["any_personal_data", "credentials_username_password"],
        (_, C::Health) => &["any_personal_data", "health_phi", "medical_info"],
        (_, C::Financial) => &["any_personal_data", "customer_information"],
        (_, C::PiiDirect | C::PiiSensitive | C::Credential) => &["any_personal_data"],
        (_, C::Public | C::Internal) => &[],
    }
}

impl RecordsExposed {
    /// Breaks `exposed` down; `extra` records have no Ids; `detected_ms`
    /// splits before/after (never detected: all before).
    fn build(
        plan: Option<&Plan<'_>>,
        exposed: &Exposure,
        extra: u64,
        detected_ms: Option<i64>,
    ) -> Self {
        let mut r = RecordsExposed {
            total: exposed.len() as u64 + extra,
            ..Default::default()
        };
        let mut subjects: BTreeMap<String, BTreeSet<(usize, u64)>> = BTreeMap::new();
        let mut seen: BTreeSet<(usize, crate::model::ClassSet)> = BTreeSet::new();
        for (id, x) in exposed {
            if detected_ms.is_some_and(|d| x.first_ms >= d) {
                r.after_detection += 1;
            } else {
                r.before_detection += 1;
            }
            for c in x.classes.iter() {
                *r.by_class.entry(c.as_str()).or_default() += 1;
            }
            let located = plan.and_then(|p| {
                let (o, i) = p.locate(id)?;
                if seen.insert((o, x.classes)) {
                    for f in &p.org.objects[o].fields {
                        if x.classes.contains(f.class) {
                            r.data_categories.extend(field_categories(f));
                        }
                    }
                }
                let (po, pi) = p.subject_of(o, i)?;
                Some((p.subject_jurisdiction(po, pi).code(), (po, pi)))
            });
            match located {
                Some((j, subject)) => {
                    *r.by_jurisdiction.entry(j.clone()).or_default() += 1;
                    subjects.entry(j).or_default().insert(subject);
                }
                None => r.unattributed += 1,
            }
        }
        r.before_detection += extra;
        r.unattributed += extra;
        r.subjects_by_jurisdiction = subjects
            .iter()
            .map(|(j, s)| (j.clone(), s.len() as u64))
            .collect();
        r.subjects = r.subjects_by_jurisdiction.values().sum();
        r
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpectationResult {
    /// `detect_within`, `contain_within`, `max_records_exposed`, `no_alerts`,
    /// `regimes_apply`, `notify_in_time`; `detector_healthy` (added, missed,
    /// only when the detector under test failed: `actual` is when, `limit`
    /// and `margin` are `None`).
    pub id: &'static str,
    pub met: bool,
    /// What was asked (ms or records).
    pub limit: Option<i64>,
    /// What happened (ms or records); `None` = never.
    pub actual: Option<i64>,
    /// `limit − actual` when both exist (negative = missed by that much).
    pub margin: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FalsePositives {
    pub count: u64,
    pub per_benign_hour: f64,
}

/// Scores `s`, the summary of a run of `sc`.
pub fn score(sc: &Scenario, s: &Summary) -> Verdict {
    // The generator that made the org's records: maps exposed Ids to
    // subjects and jurisdictions.
    let plan = Plan::new(&sc.org, sc.records, Seed(s.seed)).ok();
    let mut tp = vec![false; s.alerts.len()];
    let mut injections = Vec::new();
    for (k, inj) in s.injections.iter().enumerate() {
        let step = &sc.attack[k];
        let detectable = !matches!(step.kind, StepKind::CredentialLeak { .. })
            && (inj.calls_ok + inj.calls_denied > 0
                || matches!(step.kind, StepKind::SandboxRefresh { .. }));
        let mut detected_ms = None;
        let mut rules: Vec<String> = Vec::new();
        if detectable {
            let from = inj.start_ms;
            // Until its last attempt: an alert on calls refused after
            // containment still names the attack.
            let last = inj.last_success_ms.max(inj.last_denied_ms);
            let to = last.unwrap_or(s.duration_ms) + GRACE_MS;
            for (a, hit) in s.alerts.iter().zip(tp.iter_mut()) {
                let names = [&a.alert.user, &a.alert.session_key, &a.alert.source_ip];
                let about = names
                    .into_iter()
                    .flatten()
                    .any(|n| inj.entities.iter().any(|x| x == n));
                if about && a.t_ms >= from && a.t_ms <= to {
                    *hit = true;
                    detected_ms.get_or_insert(a.t_ms);
                    if !rules.contains(&a.alert.rule_id) {
                        rules.push(a.alert.rule_id.clone());
                    }
                }
            }
        }
        // Stopped: denied after its last success (a first denial followed
        // by a re-minted token's success is not containment).
        let contained = inj
            .last_denied_ms
            .is_some_and(|d| inj.last_success_ms.is_none_or(|l| l <= d));
        // A login's one success is its first and last: it is contained
        // when its session is verified dead (the denial).
        let end = if is_login(&step.kind) {
            inj.last_denied_ms
        } else {
            inj.last_success_ms
        };
        let ttc_ms = match (contained, inj.first_success_ms, end) {
            (true, Some(f), Some(l)) => Some(l - f),
            _ => None,
        };
        injections.push(InjectionScore {
            id: inj.id.clone(),
            kind: inj.kind,
            detectable,
            detected: detected_ms.is_some(),
            detected_ms,
            // From the first success; a step that never succeeded (a
            // refused spray) from its start.
            ttd_ms: detected_ms.map(|d| (d - inj.first_success_ms.unwrap_or(inj.start_ms)).max(0)),
            ttc_ms,
            contained,
            records_exposed: RecordsExposed::build(
                plan.as_ref(),
                &inj.exposed,
                inj.records_exposed.saturating_sub(inj.exposed.len() as u64),
                detected_ms,
            ),
            rules,
        });
    }
    let first_detection = injections.iter().filter_map(|i| i.detected_ms).min();
    let mut all = Exposure::new();
    for inj in &s.injections {
        for (id, x) in &inj.exposed {
            all.entry(*id)
                .and_modify(|y| {
                    y.first_ms = y.first_ms.min(x.first_ms);
                    y.classes = y.classes.union(x.classes);
                })
                .or_insert(*x);
        }
    }
    let extra = s
        .injections
        .iter()
        .map(|i| i.records_exposed.saturating_sub(i.exposed.len() as u64))
        .sum();
    let exposure = RecordsExposed::build(plan.as_ref(), &all, extra, first_detection);
    let notification = notification(sc, s, &exposure, first_detection);
    let fp = tp.iter().filter(|x| !**x).count() as u64;
    let hours = (s.duration_ms as f64 / 3_600_000.0).max(1.0 / 60.0);
    let false_positives = FalsePositives {
        count: fp,
        per_benign_hour: (fp as f64 / hours * 1000.0).round() / 1000.0,
    };
    let expectations = expectations(sc, s, &injections, &notification);
    let passed = expectations.iter().all(|e| e.met);
    Verdict {
        schema_version: SCHEMA_VERSION,
        injections,
        exposure,
        expectations,
        false_positives,
        notification,
        detector_fault: s.detector_fault.clone(),
        passed,
    }
}

/// Steps whose one success is a session for later steps.
fn is_login(k: &StepKind) -> bool {
    matches!(
        k,
        StepKind::OauthRefresh { .. }
            | StepKind::PasswordLogin { .. }
            | StepKind::SessionHijack { .. }
            | StepKind::CredentialStuffing { .. }
    )
}

fn result(id: &'static str, limit: i64, actual: Option<i64>) -> ExpectationResult {
    let met = actual.is_some_and(|a| a <= limit);
    ExpectationResult {
        id,
        met,
        limit: Some(limit),
        actual,
        margin: actual.map(|a| limit - a),
    }
}

fn expectations(
    sc: &Scenario,
    s: &Summary,
    inj: &[InjectionScore],
    n: &Notification,
) -> Vec<ExpectationResult> {
    let x = &sc.expect;
    let mut out = Vec::new();
    // The attack as a whole: from its first successful call.
    let first_ok = s
        .injections
        .iter()
        .zip(inj)
        .filter(|(_, i)| i.detectable)
        .filter_map(|(r, _)| r.first_success_ms)
        .min();
    // The response stopped the attack before any call succeeded (a spray
    // contained before its hit): detected in time, contained at once.
    let prevented = first_ok.is_none() && inj.iter().any(|i| i.detected);
    if let Some(limit) = x.detect_within_ms {
        let first_alert = inj.iter().filter_map(|i| i.detected_ms).min();
        let actual = if prevented {
            Some(0)
        } else {
            first_ok.zip(first_alert).map(|(f, d)| (d - f).max(0))
        };
        out.push(result("detect_within", limit, actual));
    }
    if let Some(limit) = x.contain_within_ms {
        // Every step that made calls must have been stopped.
        // Logins hand their session on; the steps that use it are what
        // must stop.
        let api: Vec<(&crate::sim::Injection, &InjectionScore)> = s
            .injections
            .iter()
            .zip(inj)
            .zip(&sc.attack)
            .filter(|((r, _), st)| {
                r.calls_ok > 0
                    && !is_login(&st.kind)
                    && !matches!(
                        st.kind,
                        StepKind::CredentialLeak { .. } | StepKind::SandboxRefresh { .. }
                    )
            })
            .map(|(x, _)| x)
            .collect();
        let all_contained = !api.is_empty() && api.iter().all(|(_, i)| i.contained);
        let first_ok = api
            .iter()
            .filter_map(|(r, _)| r.first_success_ms)
            .min()
            .or(first_ok);
        let last_ok = api.iter().filter_map(|(r, _)| r.last_success_ms).max();
        let actual = match (all_contained, first_ok, last_ok) {
            (true, Some(f), Some(l)) => Some(l - f),
            // No step beyond a login ever succeeded: nothing to stop.
            _ if api.is_empty() => Some(0),
            _ => None,
        };
        out.push(result("contain_within", limit, actual));
    }
    if let Some(limit) = x.max_records_exposed {
        let total: u64 = s.injections.iter().map(|i| i.records_exposed).sum();
        out.push(result(
            "max_records_exposed",
            limit as i64,
            Some(total as i64),
        ));
    }
    let nothing_exposed = s.injections.iter().all(|i| i.records_exposed == 0);
    if !x.regimes.is_empty() && !nothing_exposed {
        // Each regime the author expects applies to what was exposed (an
        // attack stopped before it exposed anything starts no clock).
        let missing = x
            .regimes
            .iter()
            .filter(|r| !n.regimes.iter().any(|a| &a.id == *r))
            .count() as i64;
        out.push(result("regimes_apply", 0, Some(missing)));
    }
    if x.notify_in_time {
        use crate::clocks::ClockStatus as S;
        let late = n
            .clocks
            .iter()
            .filter(|c| matches!(c.status, S::Overdue | S::NotifiedLate))
            .count() as i64;
        out.push(result("notify_in_time", 0, Some(late)));
    }
    if x.no_alerts {
        out.push(result("no_alerts", 0, Some(s.alerts.len() as i64)));
    }
    // A detector that crashed, hung or broke the protocol fails the run
    // whatever else it caught: it would have missed everything after.
    if let Some(f) = &s.detector_fault {
        out.push(ExpectationResult {
            id: "detector_healthy",
            met: false,
            limit: None,
            actual: Some(f.t_ms),
            margin: None,
        });
    }
    out
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
