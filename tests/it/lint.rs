//! `lint`: each fixture's planted misconfigurations are found, with
//! locations, and the least-privilege examples are not flagged.

use leakdrill::lint::{Severity, lint, render_text};

use crate::support::*;

#[test]
fn lint_findings_per_fixture() {
    for name in builtin_names() {
        insta::assert_snapshot!(format!("lint-{name}"), render_text(&lint(&org(name))));
    }
}

#[test]
fn every_planted_misconfiguration_class_is_found_in_every_fixture() {
    for name in builtin_names() {
        let findings = lint(&org(name));
        for rule in [
            "integration-view-all-data",
            "integration-reads-unused-sensitive-fields",
            "sensitive-field-open-fls",
            "replayable-refresh-token",
            "plaintext-webhook",
            "pii-in-third-party-logs",
            "unmasked-sandbox",
        ] {
            assert!(
                findings.iter().any(|f| f.rule == rule),
                "{name}: no {rule} finding"
            );
        }
        assert!(
            findings
                .iter()
                .all(|f| f.location.starts_with(&format!("mocks/{name}.yaml:")))
        );
    }
    let eu = lint(&org("global-ecommerce"));
    assert!(
        eu.iter()
            .any(|f| f.rule == "residency-violation" && f.severity == Severity::High)
    );
    assert!(
        eu.iter()
            .any(|f| f.rule == "integration-view-all-data" && f.severity == Severity::Critical)
    );
}

#[test]
fn least_privilege_integrations_are_not_flagged() {
    for (name, user) in [
        ("fintech-wealth", "marketing.sync@"),
        ("hr-ccpa", "interview.scheduler@"),
        ("global-ecommerce", "payments.webhook@"),
    ] {
        let hits: Vec<_> = lint(&org(name))
            .into_iter()
            .filter(|f| f.message.contains(user))
            .collect();
        assert!(hits.is_empty(), "{name}: {hits:#?}");
    }
}
