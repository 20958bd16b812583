//! Fixture files: every built-in fixture validates; broken ones get every
//! error at once with file:line:col and a hint, never a panic.

use leakdrill::fixture::load_str;

use crate::support::*;

fn errors_of(rel: &str) -> String {
    let path = data(rel);
    let text = std::fs::read_to_string(&path).expect("read test data");
    match load_str(&format!("tests/data/{rel}"), &text) {
        Ok(_) => panic!("{rel} should not validate"),
        Err(d) => d.to_string(),
    }
}

#[test]
fn every_builtin_fixture_validates() {
    for name in builtin_names() {
        let org = org(name);
        assert_eq!(org.fixture, name);
        assert!(
            org.objects.iter().any(|o| o.is_person()),
            "{name} has no person object"
        );
        assert!(
            org.users
                .iter()
                .all(|u| leakdrill::fixture::is_reserved_domain(
                    u.username.split('@').nth(1).unwrap_or("")
                ))
        );
    }
    let minimal = std::fs::read_to_string(data("minimal.yaml")).expect("read");
    load_str("tests/data/minimal.yaml", &minimal).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn structural_errors_are_all_reported_with_positions_and_hints() {
    insta::assert_snapshot!(errors_of("broken/structure.yaml"));
}

#[test]
fn reference_and_range_errors_are_all_reported() {
    insta::assert_snapshot!(errors_of("broken/references.yaml"));
}

#[test]
fn yaml_syntax_errors_point_at_the_line() {
    insta::assert_snapshot!(errors_of("broken/syntax.yaml"));
}

#[test]
fn structural_semantic_and_missing_key_errors_are_reported_together() {
    insta::assert_snapshot!(errors_of("broken/mixed.yaml"));
}

#[test]
fn missing_top_level_keys_are_all_listed() {
    let e = load_str("x.yaml", "fixture: x\ntitle: t\n")
        .unwrap_err()
        .to_string();
    for key in ["org", "population", "objects"] {
        assert!(e.contains(&format!("missing required key `{key}`")), "{e}");
    }
    let e = load_str(
        "x.yaml",
        "fixture: x\ntitle: t\norg: {name: a}\npopulation: []\nobjects: []\n",
    )
    .unwrap_err()
    .to_string();
    for key in [
        "instance",
        "time_zone",
        "daily_api_requests",
        "email_domain",
    ] {
        assert!(e.contains(&format!("missing required key `{key}`")), "{e}");
    }
    assert!(
        e.contains("x.yaml:4:13: error: the population mix is empty"),
        "{e}"
    );
    assert!(
        e.contains("x.yaml:5:10: error: the fixture has no objects"),
        "{e}"
    );
}

#[test]
fn alias_expansion_is_bounded_in_bytes_not_just_nodes() {
    let big = "x".repeat(1 << 20);
    let mut text = format!("fixture: bomb\ntitle: &big \"{big}\"\nobjects:\n");
    for _ in 0..200 {
        text.push_str("  - *big\n");
    }
    let e = load_str("bomb.yaml", &text).unwrap_err().to_string();
    assert!(e.contains("bytes"), "{e}");
}

#[test]
fn endpoint_hosts_that_hide_the_real_destination_are_refused() {
    use leakdrill::fixture::endpoint_host;
    for bad in [
        "https://evil.com#.example",
        "https://localhost#.test",
        "https://EVIL.COM\\@x.example/",
        "https://evil.com%2fx.example",
        "https://x.example.:@evil.com",
        "https://198.51.100.7/hook",
        "ftp://files.example/x",
    ] {
        let host = endpoint_host(bad);
        assert!(
            host.as_ref().is_err()
                || !leakdrill::fixture::is_reserved_domain(host.as_ref().unwrap()),
            "{bad} → {host:?}"
        );
    }
    assert_eq!(
        endpoint_host("https://Hooks.Vendor.example./in").as_deref(),
        Ok("hooks.vendor.example")
    );
}

#[test]
fn unknown_fixture_names_suggest_the_closest_builtin() {
    let e = leakdrill::fixture::resolve("fintech-welth")
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `fintech-wealth`?"), "{e}");
}
