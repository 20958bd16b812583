//! Scoring a run: exposure by class and jurisdiction, the regulatory clocks
//! the exposed subjects bring, filings through `notify` playbooks, and the
//! expectations built on them.

use std::sync::Arc;

use leakdrill::clocks::ClockStatus;
use leakdrill::scenario::{self, Scenario};
use leakdrill::score::{ClockReport, Verdict};

use crate::support::run_scored;

const CI_LOG: &str = "scenarios/fintech/leaked-refresh-token-ci-log.yaml";

fn text(rel: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .expect("scenario")
}

fn load(name: &str, text: &str) -> Scenario {
    scenario::load_str(name, text, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `sc` with the built-in rule pack and scores it.
fn verdict(sc: Scenario) -> Verdict {
    run_scored(&Arc::new(sc), None).1
}

fn clock<'a>(v: &'a Verdict, obligation: &str) -> &'a ClockReport {
    v.notification
        .clocks
        .iter()
        .find(|c| c.obligation == obligation)
        .unwrap_or_else(|| panic!("no clock {obligation}: {:#?}", v.notification.regimes))
}

fn ms(rfc3339: &Option<String>) -> i64 {
    rfc3339
        .as_deref()
        .expect("instant")
        .parse::<jiff::Timestamp>()
        .expect("RFC 3339")
        .as_millisecond()
}

const HOUR_MS: i64 = 3_600_000;

/// The scenario without its `notify` playbooks.
fn without_notifications(t: &str) -> String {
    let cut = t.find("  # Privacy counsel").expect("notify block");
    let end = t.find("expect:").expect("expect");
    format!("{}{}", &t[..cut], &t[end..])
}

#[test]
fn notices_filed_two_days_after_the_alert_meet_the_72_hour_clocks() {
    let v = verdict(load("ci-log.yaml", &text(CI_LOG)));
    assert!(v.passed, "{:#?}", v.expectations);
    // The org learnt of the breach at the first true-positive alert.
    let trigger = v.notification.trigger_at.clone();
    let gdpr = clock(&v, "eu_gdpr_art33_sa");
    assert_eq!(gdpr.trigger_at, trigger);
    assert_eq!(ms(&gdpr.due_at) - ms(&gdpr.trigger_at), 72 * HOUR_MS);
    assert_eq!(gdpr.status, ClockStatus::NotifiedInTime);
    // Filed 48 h after the alert: 24 h to spare.
    assert_eq!(gdpr.margin_ms, Some(24 * HOUR_MS));
    let dfs = clock(&v, "us_ny_dfs_500_17_incident");
    assert_eq!(dfs.status, ClockStatus::NotifiedInTime);
    assert_eq!(dfs.margin_ms, Some(12 * HOUR_MS));
    // California's 30 days run to the end of the last day, Pacific time,
    // beyond the 96-hour run: not yet notified, not late.
    let ca = clock(&v, "us_ca_1798_82_residents");
    assert_eq!(ca.status, ClockStatus::Pending);
    assert!(
        ca.due_local.as_deref().is_some_and(|d| d.contains("23:59")),
        "{ca:?}"
    );
    let met = |id: &str| v.expectations.iter().find(|e| e.id == id).map(|e| e.met);
    assert_eq!(met("notify_in_time"), Some(true));
    assert_eq!(met("regimes_apply"), Some(true));
}

#[test]
fn without_notices_the_72_hour_clocks_are_overdue_and_the_run_fails() {
    let v = verdict(load("ci-log.yaml", &without_notifications(&text(CI_LOG))));
    let gdpr = clock(&v, "eu_gdpr_art33_sa");
    assert_eq!(gdpr.status, ClockStatus::Overdue);
    assert!(gdpr.margin_ms.is_some_and(|m| m < 0), "{gdpr:?}");
    let e = v
        .expectations
        .iter()
        .find(|e| e.id == "notify_in_time")
        .expect("notify_in_time");
    // GDPR, UK GDPR and NYDFS: three 72-hour clocks ran out.
    assert_eq!((e.met, e.actual), (false, Some(3)));
    assert!(!v.passed);
}

#[test]
fn regimes_follow_the_exposed_subjects_and_the_entity_kinds() {
    let v = verdict(load("ci-log.yaml", &text(CI_LOG)));
    let ids: Vec<&str> = v
        .notification
        .regimes
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    // EU and UK residents were exposed, the fixture is an SEC-registered
    // adviser licensed in New York; it is not a HIPAA covered entity and no
    // Australian or Indian resident is in its book.
    for want in [
        "eu_gdpr",
        "uk_gdpr",
        "us_ny_dfs_500_17",
        "us_sec_reg_sp",
        "us_ca_1798_82",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    for not in ["us_hipaa_bnr", "au_ndb", "in_dpdp", "pci_dss_card_brands"] {
        assert!(!ids.contains(&not), "{not} should not apply: {ids:?}");
    }
    // Exposed SSNs and account numbers are named as catalogue categories.
    let cats = &v.exposure.data_categories;
    assert!(cats.contains("any_personal_data"), "{cats:?}");
    // Every regime says why it applies.
    assert!(v.notification.regimes.iter().all(|r| !r.reason.is_empty()));
    // Money is an estimate from statutory maxima, labelled so.
    assert!(
        v.notification
            .money
            .iter()
            .all(|m| m.label.contains("estimate") && m.low <= m.high)
    );
}

#[test]
fn an_expected_regime_that_does_not_apply_is_a_missed_expectation() {
    let t = text(CI_LOG).replace(
        "regimes: [us_sec_reg_sp,",
        "regimes: [us_hipaa_bnr, us_sec_reg_sp,",
    );
    let v = verdict(load("ci-log.yaml", &t));
    let e = v
        .expectations
        .iter()
        .find(|e| e.id == "regimes_apply")
        .expect("regimes_apply");
    assert_eq!((e.met, e.actual), (false, Some(1)));
}

#[test]
fn unknown_regimes_and_bad_notify_targets_are_errors_with_hints() {
    let t = text(CI_LOG)
        .replace(
            "regimes: [us_sec_reg_sp,",
            "regimes: [eu_gpdr, us_sec_reg_sp,",
        )
        .replace("target: { regime: uk_gdpr }", "target: { step: replay }")
        .replace(
            "target: { obligation: us_ny_dfs_500_17_incident }",
            "target: { obligation: us_ny_dfs_500_17_incidnet }",
        );
    let err = scenario::load_str("ci-log.yaml", &t, None)
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("unknown regime `eu_gpdr`"), "{err}");
    assert!(err.contains("did you mean `eu_gdpr`"), "{err}");
    assert!(
        err.contains("`notify` needs exactly one of `regime` or `obligation`"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `us_ny_dfs_500_17_incident`"),
        "{err}"
    );
}

#[test]
fn a_revoke_that_fails_once_is_retried_and_containment_still_verified() {
    // The scenario's chaos fails the first revoke attempt; the door retries
    // a minute later and the probe or the scrape's next call is denied.
    let sc = Arc::new(load("ci-log.yaml", &text(CI_LOG)));
    let (summary, v) = run_scored(&sc, None);
    let s = &summary;
    let revoke = s
        .actions
        .iter()
        .find(|a| a.action == "revoke_refresh_tokens")
        .expect("revoke");
    assert_eq!(revoke.attempts, 2, "{revoke:?}");
    let (t, eff) = (
        revoke.triggered_ms.expect("triggered"),
        revoke.effective_ms.expect("effective"),
    );
    // 2 h after the trigger, plus the 60 s retry.
    assert_eq!(eff - t, 2 * HOUR_MS + 60_000);
    let scrape = s
        .injections
        .iter()
        .find(|i| i.id == "scrape")
        .expect("scrape");
    assert!(
        scrape.last_success_ms.is_some_and(|l| l < eff),
        "{scrape:?}"
    );
    assert!(
        scrape.first_denied_ms.is_some_and(|d| d >= eff),
        "{scrape:?}"
    );
    let scored = v
        .injections
        .iter()
        .find(|i| i.id == "scrape")
        .expect("scrape");
    assert!(scored.contained);
    assert_eq!(
        scored.ttc_ms,
        scrape
            .last_success_ms
            .zip(scrape.first_success_ms)
            .map(|(l, f)| l - f)
    );
}

#[test]
fn alerts_on_benign_traffic_are_false_positives_per_benign_hour() {
    // A noisy rule (every successful login alerts) on a benign baseline:
    // every alert is a false positive, none is a detection.
    let rules = tempfile::tempdir().expect("tmp");
    std::fs::write(
        rules.path().join("noisy.yml"),
        "title: Any successful login\nid: 11111111-2222-4333-8444-555555555555\nlogsource:\n  product: salesforce\n  service: loginevent\ndetection:\n  sel:\n    Status: Success\n  condition: sel\nlevel: low\n",
    )
    .expect("write");
    let det = leakdrill::detect::Rules::load_dir(rules.path())
        .and_then(|r| r.detector())
        .expect("rules");
    let sc = Arc::new(load(
        "baseline.yaml",
        &text("scenarios/hr/baseline-7d.yaml"),
    ));
    let (summary, v) = run_scored(&sc, Some(det));
    let n = summary.alerts.len() as u64;
    assert!(n > 10, "logins happen every day: {n}");
    assert_eq!(v.false_positives.count, n);
    let hours = summary.duration_ms as f64 / HOUR_MS as f64;
    assert!((v.false_positives.per_benign_hour - n as f64 / hours).abs() < 0.001);
    // A baseline expects no alerts: the noisy rule fails it.
    assert!(!v.passed);
}

#[test]
fn a_masked_sandbox_refresh_exposes_nothing_and_raises_no_alert() {
    let unmasked = load(
        "sandbox.yaml",
        &text("scenarios/ecommerce/sandbox-refresh-unmasked.yaml"),
    );
    let mut masked = unmasked.clone();
    let org = Arc::make_mut(&mut masked.org);
    assert!(!org.sandboxes[0].masked);
    org.sandboxes[0].masked = true;

    let v = verdict(unmasked);
    let refresh = &v.injections[0];
    assert!(
        refresh.detected,
        "the audit trail shows a refresh without masking"
    );
    assert!(refresh.records_exposed.total > 1000);

    let (summary, v) = run_scored(&Arc::new(masked), None);
    assert_eq!(v.injections[0].records_exposed.total, 0);
    assert!(
        !summary
            .alerts
            .iter()
            .any(|a| a.alert.title.contains("Sandbox refreshed")),
        "a refresh that names its masking class is routine"
    );
}
