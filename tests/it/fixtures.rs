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
fn unknown_fixture_names_suggest_the_closest_builtin() {
    let e = leakdrill::fixture::resolve("fintech-welth")
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `fintech-wealth`?"), "{e}");
}
