//! The built-in Sigma pack, rule by rule: each rule fires on the pattern it
//! names and stays quiet on its near miss. Events are built the way the
//! org builds them, then given the fields that matter.

use leakdrill::detect::{Detector, Rules};
use leakdrill::seed::Seed;
use leakdrill::sfdc::telemetry::{Event, EventKind};
use leakdrill::sfdc::{Method, Request};

const T0: i64 = 1_772_800_000_000;
const MIN: i64 = 60_000;

fn pack() -> Detector {
    Rules::builtin()
        .detector()
        .expect("the built-in pack compiles")
}

fn ev(seq: u64, t_ms: i64, kind: EventKind, user: &str, ip: &str) -> Event {
    let req = Request::new(Method::Get, "/services/data/v62.0/query");
    let mut e = Event::new(seq, t_ms, &req, "00D000000000001AAA", Seed(1));
    e.kind = kind;
    e.username = Some(user.to_owned());
    e.user_id = Some(format!("005{seq:015}"));
    e.source_ip = ip.to_owned();
    e.session_key = Some("sess-1".into());
    e.event_date = leakdrill::sfdc::sf_datetime(t_ms);
    e
}

fn login(seq: u64, t_ms: i64, user: &str, ip: &str, ok: bool) -> Event {
    let mut e = ev(seq, t_ms, EventKind::Login, user, ip);
    e.status = Some(if ok { "Success" } else { "Invalid Password" }.into());
    e.session_key = None;
    e
}

/// Titles of the alerts the events raise, in order.
fn alerts(events: &[Event]) -> Vec<String> {
    let mut d = pack();
    events
        .iter()
        .flat_map(|e| d.observe(e))
        .map(|a| a.title)
        .collect()
}

#[test]
fn every_builtin_rule_file_compiles_and_has_a_title_and_level() {
    let d = pack();
    let documents: usize = leakdrill::detect::BUILTIN
        .iter()
        .map(|(_, t)| t.matches("\ntitle:").count() + usize::from(t.starts_with("title:")))
        .sum();
    assert_eq!(
        d.rule_count(),
        documents,
        "every YAML document is a rule or correlation"
    );
    for (name, text) in leakdrill::detect::BUILTIN {
        assert!(text.contains("title:") && text.contains("level:"), "{name}");
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("rules")
                .join(name)
                .exists()
        );
    }
}

#[test]
fn a_user_logging_in_from_a_second_address_within_a_day() {
    let a = "etl@x.example.com";
    let hit = alerts(&[
        login(1, T0, a, "203.0.113.70", true),
        login(2, T0 + 5 * 60 * MIN, a, "192.0.2.130", true),
    ]);
    assert_eq!(
        hit,
        ["Successful logins for one user from two source IPs in 24h"]
    );
    // Same address again, a day and more apart, or a failed attempt: quiet.
    assert!(
        alerts(&[
            login(1, T0, a, "203.0.113.70", true),
            login(2, T0 + MIN, a, "203.0.113.70", true)
        ])
        .is_empty()
    );
    assert!(
        alerts(&[
            login(1, T0, a, "203.0.113.70", true),
            login(2, T0 + 25 * 60 * MIN, a, "192.0.2.130", true)
        ])
        .is_empty()
    );
    assert!(
        alerts(&[
            login(1, T0, a, "203.0.113.70", true),
            login(2, T0 + MIN, a, "192.0.2.130", false)
        ])
        .is_empty()
    );
}

#[test]
fn one_session_used_from_two_addresses() {
    let q = |seq, t, ip: &str| ev(seq, t, EventKind::Query, "advisor@x.example.com", ip);
    assert_eq!(
        alerts(&[
            q(1, T0, "198.51.100.70"),
            q(2, T0 + 30 * MIN, "192.0.2.200")
        ]),
        ["One Salesforce session used from two source IPs"]
    );
    assert!(
        alerts(&[
            q(1, T0, "198.51.100.70"),
            q(2, T0 + 30 * MIN, "198.51.100.70")
        ])
        .is_empty()
    );
}

#[test]
fn report_exports_with_personal_data_columns() {
    let export = |seq, op: &str, cols: &str| {
        let mut e = ev(
            seq,
            T0,
            EventKind::Report,
            "analyst@x.example.com",
            "198.51.100.5",
        );
        e.operation = Some(op.into());
        e.detail = Some(format!(
            "ReportId=00O000000000001AAA;Name=All Contacts;ColumnHeaders={cols}"
        ));
        e
    };
    assert_eq!(
        alerts(&[export(
            1,
            "ReportExported",
            "FirstName,LastName,Email,Phone"
        )]),
        ["Salesforce report exported with personal data columns"]
    );
    assert!(alerts(&[export(1, "ReportRunUsingApi", "FirstName,Email")]).is_empty());
    assert!(
        alerts(&[export(
            1,
            "ReportExported",
            "Name,ProductCode,List_Price__c"
        )])
        .is_empty()
    );
}

#[test]
fn view_all_data_assigned_but_not_other_permission_sets() {
    let assign = |perms: &str| {
        let mut e = ev(
            1,
            T0,
            EventKind::Setup,
            "admin@x.example.com",
            "198.51.100.5",
        );
        e.operation = Some("AssignedToUsers".into());
        e.detail = Some(format!(
            "PermissionSetAssignment Warehouse_Full_Extract [{perms}]"
        ));
        e
    };
    assert_eq!(
        alerts(&[assign("ViewAllData")]),
        ["Permission set granting View All Data or Modify All Data assigned"]
    );
    assert!(alerts(&[assign("ApiEnabled")]).is_empty());
}

#[test]
fn failed_logins_sprayed_across_users_from_one_address() {
    let ip = "192.0.2.66";
    let spray: Vec<Event> = ["a@x.example.com", "b@x.example.com", "c@x.example.com"]
        .iter()
        .enumerate()
        .map(|(k, u)| login(k as u64, T0 + k as i64 * MIN, u, ip, false))
        .collect();
    assert_eq!(
        alerts(&spray),
        ["Failed logins across several users from one source IP"]
    );
    assert!(
        alerts(&spray[..2]).is_empty(),
        "two users is a typo, not a spray"
    );
}

#[test]
fn query_rows_over_5000_an_hour_for_one_user() {
    let rows = |seq, t, n| {
        let mut e = ev(seq, t, EventKind::Query, "etl@x.example.com", "192.0.2.130");
        e.rows_processed = n;
        e
    };
    let burst: Vec<Event> = (0..3)
        .map(|k| rows(k, T0 + k as i64 * 2 * MIN, 2000))
        .collect();
    assert_eq!(
        alerts(&burst),
        ["More than 5,000 query rows to one user in an hour"]
    );
    let spread: Vec<Event> = (0..3)
        .map(|k| rows(k, T0 + k as i64 * 40 * MIN, 2000))
        .collect();
    assert!(alerts(&spread).is_empty(), "the same rows over two hours");
}

#[test]
fn a_bulk_export_right_after_a_password_login() {
    let u = "payroll@x.example.com";
    let with = |login_type: &str| {
        let mut l = login(1, T0, u, "203.0.113.20", true);
        l.login_type = Some(match login_type {
            "soap" => "Partner Product",
            _ => "Remote Access 2.0",
        });
        let mut b = ev(2, T0 + 10 * MIN, EventKind::BulkResult, u, "203.0.113.20");
        b.rows_processed = 5000;
        vec![l, b]
    };
    assert_eq!(
        alerts(&with("soap")),
        ["Bulk API export within an hour of a password login"]
    );
    assert!(
        alerts(&with("oauth")).is_empty(),
        "a connected app's grant, then its extract"
    );
}
