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
    /// Every expectation met.
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct InjectionScore {
    pub id: String,
    pub kind: &'static str,
    /// Its calls reach Salesforce telemetry (not a leak, a data flow outside
    /// Salesforce or a sandbox copy).
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
    /// `detect_within`, `contain_within`, `max_records_exposed`, `no_alerts`.
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
        let detectable = !matches!(
            step.kind,
            StepKind::CredentialLeak { .. }
                | StepKind::DataFlow { .. }
                | StepKind::SandboxRefresh { .. }
        ) && inj.calls_ok + inj.calls_denied > 0;
        let mut detected_ms = None;
        let mut rules: Vec<String> = Vec::new();
        if detectable {
            let from = inj.start_ms;
            let to = inj.last_success_ms.unwrap_or(s.duration_ms) + GRACE_MS;
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
        let contained = inj
            .first_denied_ms
            .is_some_and(|d| inj.last_success_ms.is_none_or(|l| l <= d));
        let ttc_ms = match (contained, inj.first_success_ms, inj.last_success_ms) {
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
    let fp = tp.iter().filter(|x| !**x).count() as u64;
    let hours = (s.duration_ms as f64 / 3_600_000.0).max(1.0 / 60.0);
    let false_positives = FalsePositives {
        count: fp,
        per_benign_hour: (fp as f64 / hours * 1000.0).round() / 1000.0,
    };
    let expectations = expectations(sc, s, &injections);
    let passed = expectations.iter().all(|e| e.met);
    Verdict {
        schema_version: SCHEMA_VERSION,
        injections,
        exposure,
        expectations,
        false_positives,
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

fn expectations(sc: &Scenario, s: &Summary, inj: &[InjectionScore]) -> Vec<ExpectationResult> {
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
    if let Some(limit) = x.detect_within_ms {
        let first_alert = inj.iter().filter_map(|i| i.detected_ms).min();
        let actual = first_ok.zip(first_alert).map(|(f, d)| (d - f).max(0));
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
    if x.no_alerts {
        out.push(result("no_alerts", 0, Some(s.alerts.len() as i64)));
    }
    out
}

/// The verdict for the terminal: detection and containment per injection,
/// then each expectation with its margin.
pub fn render_text(v: &Verdict) -> String {
    use std::fmt::Write;
    let dur = |ms: i64| {
        let t = crate::sim::fmt_offset(Some(ms.abs()));
        let t = t.trim_start_matches('+');
        if ms < 0 {
            format!("-{t}")
        } else {
            t.to_owned()
        }
    };
    let fmt = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), dur);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n  {:<24} {:>9} {:>11} {:>11}  rules",
        "detection", "detected", "ttd", "ttc"
    );
    for i in v.injections.iter().filter(|i| i.detectable) {
        let _ = writeln!(
            o,
            "  {:<24} {:>9} {:>11} {:>11}  {}",
            i.id,
            if i.detected { "yes" } else { "NO" },
            fmt(i.ttd_ms),
            fmt(i.ttc_ms),
            i.rules.len()
        );
    }
    let x = &v.exposure;
    if x.total > 0 {
        let _ = writeln!(
            o,
            "  exposed: {} records of {} subjects ({} before detection, {} after)",
            thousands(x.total),
            thousands(x.subjects),
            thousands(x.before_detection),
            thousands(x.after_detection)
        );
        let mut classes: Vec<(&str, u64)> = x.by_class.iter().map(|(k, n)| (*k, *n)).collect();
        classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        wrap_items(&mut o, "by class", &classes);
        let mut juris: Vec<(&str, u64)> = x
            .by_jurisdiction
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        juris.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        wrap_items(&mut o, "by jurisdiction", &juris);
    }
    let _ = writeln!(
        o,
        "  false positives: {} ({} per hour)",
        v.false_positives.count, v.false_positives.per_benign_hour
    );
    for e in &v.expectations {
        let (limit, actual, margin) = if e.id == "max_records_exposed" || e.id == "no_alerts" {
            (
                e.limit.map_or("-".into(), |x| x.to_string()),
                e.actual.map_or("never".into(), |x| x.to_string()),
                e.margin.map_or("-".into(), |x| x.to_string()),
            )
        } else {
            (
                fmt(e.limit),
                e.actual.map_or("never".into(), dur),
                e.margin.map_or("-".into(), dur),
            )
        };
        let _ = writeln!(
            o,
            "  {:<6} {:<20} limit {:>11}  actual {:>11}  margin {:>11}",
            if e.met { "met" } else { "MISSED" },
            e.id,
            limit,
            actual,
            margin
        );
    }
    let _ = writeln!(
        o,
        "  verdict: {}",
        if v.passed {
            "all expectations met"
        } else {
            "expectations missed (exit 10)"
        }
    );
    o
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `    label: a 1 · b 2 · …` wrapped at 80 columns.
fn wrap_items(o: &mut String, label: &str, items: &[(&str, u64)]) {
    use std::fmt::Write;
    let mut line = format!("    {label}:");
    for (k, n) in items {
        let item = format!(" {k} {}", thousands(*n));
        if line.len() + item.len() + 2 > 80 {
            let _ = writeln!(o, "{line}");
            line = " ".repeat(label.len() + 5);
        } else if !line.ends_with(':') {
            line.push_str(" ·");
        }
        line.push_str(&item);
    }
    let _ = writeln!(o, "{line}");
}
