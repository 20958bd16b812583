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

#[test]
fn a_login_made_with_a_command_line_http_client() {
    let u = "etl@x.example.com";
    let with = |ua: &str, ok: bool| {
        let mut l = login(1, T0, u, "203.0.113.20", ok);
        l.user_agent = Some(ua.to_owned());
        alerts(&[l])
    };
    assert_eq!(
        with("curl/8.5.0", true),
        ["Salesforce login from a command-line HTTP client"]
    );
    assert!(
        with("curl/8.5.0", false).is_empty(),
        "a failed try is spray's business"
    );
    assert!(with("simple-salesforce/1.12.6 python-requests/2.32.3", true).is_empty());
    assert!(
        with(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0",
            true
        )
        .is_empty()
    );
}

/// A Setup Audit Trail event as the org records a sandbox refresh.
fn refresh(seq: u64, detail: &str) -> Event {
    let mut e = ev(
        seq,
        T0,
        EventKind::Setup,
        "admin@x.example.com",
        "198.51.100.30",
    );
    e.operation = Some("sandboxRefresh".into());
    e.detail = Some(detail.into());
    e
}

#[test]
fn a_copy_sandbox_refreshed_without_a_masking_class() {
    let title = "Sandbox refreshed from production without a post-copy masking class";
    assert_eq!(
        alerts(&[refresh(
            1,
            "Refreshed sandbox staging (FULL); post-copy class: none"
        )]),
        [title]
    );
    assert_eq!(
        alerts(&[refresh(
            1,
            "Refreshed sandbox hr (PARTIAL); post-copy class: none"
        )]),
        [title]
    );
    assert!(
        alerts(&[refresh(
            1,
            "Refreshed sandbox staging (FULL); post-copy class: 01p000000000001AAA"
        )])
        .is_empty(),
        "masked after the copy"
    );
    assert!(
        alerts(&[refresh(
            1,
            "Refreshed sandbox dev (DEVELOPER); post-copy class: none"
        )])
        .is_empty(),
        "a developer sandbox copies metadata, not records"
    );
}

/// One send: workload, time, URL, destination country, DLP classes, refused.
type Send<'a> = (&'a str, i64, &'a str, &'a str, &'a [&'a str], bool);

/// Proxy log documents of the sends, in order, and the alerts they raise.
fn proxy_alerts(sends: &[Send<'_>]) -> Vec<String> {
    let mut d = pack();
    sends
        .iter()
        .enumerate()
        .flat_map(|(k, &(workload, t_ms, url, country, classes, blocked))| {
            let id = format!("px-{k}");
            let doc = leakdrill::detect::proxy_document(&leakdrill::detect::ProxySend {
                request_id: &id,
                t_ms,
                client_ip: std::net::Ipv4Addr::new(203, 0, 113, 49),
                workload,
                url,
                country,
                records: 10,
                classes,
                blocked,
            });
            d.observe_document(&doc, t_ms)
        })
        .map(|a| {
            assert_eq!(a.user.as_deref(), Some("mkt"), "the workload is named");
            assert_eq!(a.source_ip.as_deref(), Some("203.0.113.49"));
            a.title
        })
        .collect()
}

const HOOK: &str = "http://events.mkt.example/hooks";
const LOOKALIKE: &str = "http://events.rnkt.example/hooks";
const DIRECT: &[&str] = &["pii.direct"];

#[test]
fn an_integration_sending_to_a_second_host() {
    let title = "Integration sends data to a second destination host";
    let hour = 60 * MIN;
    let quiet = proxy_alerts(&[
        ("mkt", T0, HOOK, "US", DIRECT, false),
        ("mkt", T0 + hour, HOOK, "US", DIRECT, false),
        ("other", T0 + 2 * hour, LOOKALIKE, "US", DIRECT, false),
    ]);
    assert!(quiet.is_empty(), "one host per workload: {quiet:?}");
    let hit = proxy_alerts(&[
        ("mkt", T0, HOOK, "US", DIRECT, false),
        ("mkt", T0 + hour, LOOKALIKE, "US", DIRECT, false),
        ("mkt", T0 + hour + MIN, LOOKALIKE, "US", DIRECT, false),
    ]);
    assert_eq!(hit, [title], "once, then suppressed for an hour");
    let refused = proxy_alerts(&[
        ("mkt", T0, HOOK, "US", DIRECT, false),
        ("mkt", T0 + hour, LOOKALIKE, "US", DIRECT, true),
    ]);
    assert!(refused.is_empty(), "a refused send moved no data");
    let days_apart = proxy_alerts(&[
        ("mkt", T0, HOOK, "US", DIRECT, false),
        ("mkt", T0 + 25 * hour, LOOKALIKE, "US", DIRECT, false),
    ]);
    assert!(days_apart.is_empty(), "the window is a day");
}

#[test]
fn a_destination_served_from_a_second_country() {
    let url = "https://api.llm.example/v1/chat/completions";
    let hit = proxy_alerts(&[
        ("mkt", T0, url, "IE", DIRECT, false),
        ("mkt", T0 + 60 * MIN, url, "US", DIRECT, false),
    ]);
    assert_eq!(
        hit,
        ["Personal data destination served from a second country"]
    );
    let steady = proxy_alerts(&[
        ("mkt", T0, url, "US", DIRECT, false),
        ("mkt", T0 + 60 * MIN, url, "US", DIRECT, false),
    ]);
    assert!(
        steady.is_empty(),
        "a standing transfer is the lint's finding, not an alert"
    );
}

#[test]
fn sensitive_identifiers_leaving_through_the_proxy() {
    let sink = "https://intake.logs.example/v1";
    let title = "Sensitive identifiers in an outbound request";
    assert_eq!(
        proxy_alerts(&[(
            "mkt",
            T0,
            sink,
            "US",
            &["pii.direct", "pii.sensitive"],
            false
        )]),
        [title]
    );
    assert!(
        proxy_alerts(&[("mkt", T0, sink, "US", &["pii.direct", "financial"], false)]).is_empty()
    );
    assert!(
        proxy_alerts(&[("mkt", T0, sink, "US", &["pii.sensitive"], true)]).is_empty(),
        "blocked at the proxy"
    );
}

#[test]
fn one_correlations_suppression_window_leaves_the_others_alone() {
    // The proxy rules suppress re-alerts for an hour; the bulk-export
    // correlation has no window and alerts on every download.
    let u = "payroll@x.example.com";
    let mut l = login(1, T0, u, "203.0.113.20", true);
    l.login_type = Some("Partner Product");
    let mut b1 = ev(2, T0 + 10 * MIN, EventKind::BulkResult, u, "203.0.113.20");
    b1.rows_processed = 5000;
    let mut b2 = ev(3, T0 + 11 * MIN, EventKind::BulkResult, u, "203.0.113.20");
    b2.rows_processed = 5000;
    assert_eq!(alerts(&[l, b1, b2]).len(), 2);
}
