//! The compiled rule backend against rsigma, the oracle: every catalogue
//! scenario runs identically on both (alerts, summary, report), random
//! event streams raise identical alerts over the built-in pack plus rules
//! exercising every supported modifier, and a pack the compiler cannot
//! evaluate falls back to rsigma and still alerts.

use leakdrill::detect::{Alert, Backend, Delivered, Detector, Rules};
use leakdrill::seed::Seed;
use leakdrill::sfdc::telemetry::{Event, EventKind};
use leakdrill::sfdc::{Method, Request};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::Value;

use crate::support::run_scored;

fn report(
    sc: &leakdrill::scenario::Scenario,
    s: &leakdrill::sim::Summary,
    v: &leakdrill::score::Verdict,
) -> Value {
    leakdrill::report::json(&leakdrill::report::Input {
        scenario_id: &sc.id,
        title: &s.title,
        scenario_path: "scenario.yaml",
        seed: s.seed,
        version: s.version,
        digest: &s.digest,
        summary: s,
        verdict: v,
        start_ms: sc.start_ms,
        duration_ms: sc.duration_ms,
    })
}

#[test]
fn every_catalogue_scenario_runs_identically_on_both_backends() {
    // The catalogue as the binary embeds it (`suite` tests hold it equal
    // to `scenarios/`), in path order.
    let cases = leakdrill::suite::plan_builtin(1).expect("catalogue").cases;
    assert!(cases.len() >= 20, "the catalogue is there");
    let mut alerts = 0;
    for case in cases {
        let sc = case.scenario;
        let compiled = Rules::builtin().detector().expect("pack");
        assert_eq!(compiled.backend(), Backend::Compiled, "{compiled:?}");
        let oracle = Rules::builtin()
            .detector_with(Backend::Rsigma)
            .expect("pack");
        assert_eq!(oracle.backend(), Backend::Rsigma);
        let (s1, v1) = run_scored(&sc, Some(compiled));
        let (s2, v2) = run_scored(&sc, Some(oracle));
        let name = &case.path;
        assert_eq!(
            serde_json::to_value(&s1.alerts).expect("json"),
            serde_json::to_value(&s2.alerts).expect("json"),
            "{name}: alerts"
        );
        assert_eq!(s1.digest, s2.digest, "{name}: run log");
        assert_eq!(
            serde_json::to_value(&s1).expect("json"),
            serde_json::to_value(&s2).expect("json"),
            "{name}: summary"
        );
        assert_eq!(
            report(&sc, &s1, &v1),
            report(&sc, &s2, &v2),
            "{name}: report"
        );
        alerts += s1.alerts.len();
    }
    assert!(alerts > 50, "the catalogue raises alerts ({alerts})");
}

/// Rules exercising the modifiers and condition forms the compiled backend
/// supports, and correlations over fields that are sometimes missing.
const EXTRA: &str = r#"
title: Query from corp user or internal network, not curl
id: test-modifiers-1
logsource:
  product: salesforce
  service: apievent
detection:
  selection_user:
    Username|endswith: '@CORP.example.com'
    Query|contains|all:
      - select
      - FROM contact
  selection_net:
    SourceIp|cidr:
      - 10.0.0.0/8
      - 192.168.1.0/24
  filter:
    UserAgent|re: '^curl/[0-9.]+$'
  condition: 1 of selection_* and not filter
level: low
---
title: All of, nested not, null and exists
id: test-modifiers-2
logsource:
  product: salesforce
detection:
  selection_user:
    Username|exists: true
  selection_app:
    Application|exists: false
    ConnectedAppName: null
  noisy:
    Status|startswith:
      - fail
      - INVALID
  quiet:
    UserAgent|contains:
      - Mozilla
      - Dataloader
      - python
      - Go-http
      - okhttp
      - sfdx
  condition: all of selection_* and not (noisy and not quiet)
level: medium
---
title: Mid-size Bulk API download
id: test-modifiers-3
logsource:
  product: salesforce
  service: bulkapiresultevent
detection:
  sel:
    RowsProcessed|gte: 100
    RowsProcessed|lt: 5000
  other:
    Username|re: '(?i)^ANA'
  condition: sel or other
level: informational
---
title: Three mid-size downloads by one user in ten minutes
id: test-corr-1
correlation:
  type: event_count
  rules:
    - test-modifiers-3
  group-by:
    - Username
  timespan: 10m
  condition:
    gte: 3
level: high
---
title: Few events per session in a minute
id: test-corr-2
correlation:
  type: event_count
  rules:
    - test-modifiers-2
  group-by:
    - SessionKey
    - Application
  timespan: 1m
  condition:
    lt: 2
level: low
custom_attributes:
  rsigma.suppress: 2m
---
title: Corp query and a user-only login in 30 minutes
id: test-corr-3
correlation:
  type: temporal
  rules:
    - test-modifiers-1
    - test-modifiers-2
  group-by:
    - Username
  timespan: 30m
level: medium
---
title: Distinct (country, agent) pairs per user
id: test-corr-4
correlation:
  type: value_count
  rules:
    - test-modifiers-2
  group-by:
    - UserId
  timespan: 1h
  condition:
    field:
      - CountryIso
      - UserAgent
    gte: 3
    lte: 4
level: medium
---
title: Rows per address
id: test-corr-5
correlation:
  type: value_sum
  rules:
    - test-modifiers-3
  group-by:
    - SourceIp
  timespan: 1h
  condition:
    field: RowsProcessed
    gt: 6000
level: high
---
title: Ordered download then query
id: test-corr-6
correlation:
  type: temporal_ordered
  rules:
    - test-modifiers-3
    - test-modifiers-1
  group-by:
    - Username
  timespan: 20m
level: high
"#;

fn pack(backend: Backend) -> Detector {
    let mut rules = Rules::builtin();
    rules
        .files
        .push(("tests/extra.yml".to_owned(), EXTRA.to_owned()));
    let d = rules.detector_with(backend).expect("pack with test rules");
    assert_eq!(d.backend(), backend, "{d:?}");
    d
}

const T0: i64 = 1_772_800_000_000;
const USERS: [&str; 4] = [
    "ana@corp.example.com",
    "bo@Corp.Example.com",
    "cy@vendor.example",
    "dee@corp.example.com",
];
const IPS: [&str; 4] = ["10.1.2.3", "192.168.1.7", "198.51.100.9", "203.0.113.4"];
const AGENTS: [Option<&str>; 5] = [
    None,
    Some("curl/8.4.0"),
    Some("Mozilla/5.0 (X11)"),
    Some("Dataloader/62.0"),
    Some("Go-http-client/1.1"),
];
const STATUS: [Option<&str>; 4] = [
    Some("Success"),
    Some("Invalid Password"),
    Some("Failed: locked"),
    None,
];
const QUERIES: [&str; 3] = [
    "SELECT Id, Email FROM Contact",
    "select Name from Account",
    "SELECT Id FROM contact WHERE x = 'É'",
];
/// Time steps (ms): repeats, sub-second, exact window lengths (1 m, 10 m,
/// 1 h, 12 h, 24 h), and steps back (late, skewed deliveries).
const STEPS_MS: [i64; 12] = [
    0, 400, 1_000, 59_000, 60_000, 600_000, 3_600_000, 43_200_000, 86_400_000, -1_000, -600_000,
    -3_600_000,
];

#[derive(Debug, Clone)]
struct Spec {
    kind: u8,
    user: Option<u8>,
    ip: u8,
    agent: u8,
    status: u8,
    rows: u64,
    step: u8,
    app: Option<u8>,
    session: Option<u8>,
    country: Option<u8>,
    query: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            0u8..9,
            prop::option::weighted(0.9, 0u8..4),
            0u8..4,
            0u8..5,
            0u8..4,
        ),
        (
            prop_oneof![Just(0u64), 50u64..200, 900u64..3000, Just(6000u64)],
            0u8..12,
            prop::option::of(0u8..2),
            prop::option::weighted(0.8, 0u8..3),
            prop::option::of(0u8..3),
            0u8..3,
        ),
    )
        .prop_map(
            |((kind, user, ip, agent, status), (rows, step, app, session, country, query))| Spec {
                kind,
                user,
                ip,
                agent,
                status,
                rows,
                step,
                app,
                session,
                country,
                query,
            },
        )
}

/// The record a spec describes at `t_ms`: a typed event, or (kind 8) an
/// egress proxy document.
fn record(k: usize, s: &Spec, t_ms: i64) -> Result<Event, Value> {
    if s.kind == 8 {
        let id = format!("px-{k}");
        let workload = format!("int-{}", s.ip % 2);
        let url = ["https://a.example/hook", "https://b.example/x"][usize::from(s.agent % 2)];
        let classes: &[&str] = if s.status.is_multiple_of(2) {
            &["pii.direct", "pii.sensitive"]
        } else {
            &["financial"]
        };
        return Err(leakdrill::detect::proxy_document(
            &leakdrill::detect::ProxySend {
                request_id: &id,
                t_ms,
                client_ip: std::net::Ipv4Addr::new(203, 0, 113, s.ip),
                workload: &workload,
                url,
                country: ["US", "DE", "IE"][usize::from(s.query)],
                records: s.rows,
                classes,
                blocked: s.step.is_multiple_of(5),
            },
        ));
    }
    let req = Request::new(Method::Get, "/services/data/v62.0/query");
    let mut e = Event::new(k as u64, t_ms, &req, "00D000000000001AAA", Seed(3));
    e.kind = [
        EventKind::Login,
        EventKind::Login,
        EventKind::Query,
        EventKind::Query,
        EventKind::BulkResult,
        EventKind::Report,
        EventKind::Setup,
        EventKind::Rest,
    ][usize::from(s.kind)];
    e.username = s.user.map(|u| USERS[usize::from(u)].to_owned());
    e.user_id = s.user.map(|u| format!("005{u:015}"));
    e.source_ip = IPS[usize::from(s.ip)].to_owned();
    e.user_agent = AGENTS[usize::from(s.agent)].map(str::to_owned);
    e.status = STATUS[usize::from(s.status)].map(str::to_owned);
    e.rows_processed = s.rows;
    e.connected_app_name = s
        .app
        .map(|a| ["Data Loader", "Support Sync"][usize::from(a)].to_owned());
    e.session_key = s.session.map(|x| format!("sess-{x}"));
    e.country_iso = s
        .country
        .map(|c| ["US", "DE", "FR"][usize::from(c)].to_owned());
    e.query = Some(QUERIES[usize::from(s.query)].to_owned());
    e.login_type = Some(if s.rows.is_multiple_of(2) {
        "Partner Product"
    } else {
        "Remote Access 2.0"
    });
    e.operation = match e.kind {
        EventKind::Report => Some("ReportExported".into()),
        EventKind::Setup if s.status.is_multiple_of(2) => Some("AssignedToUsers".into()),
        EventKind::Setup => Some("sandboxRefresh".into()),
        _ => None,
    };
    e.detail = match e.kind {
        EventKind::Report => Some("ReportId=00O1;Name=Leads;ColumnHeaders=Email,Phone".into()),
        EventKind::Setup if s.status.is_multiple_of(2) => {
            Some("Permission set [ViewAllData] to u".into())
        }
        EventKind::Setup => Some("Sandbox dev (FULL) post-copy class: none".into()),
        _ => None,
    };
    Ok(e)
}

/// Alerts per record on both backends.
fn both(specs: &[Spec]) -> (Vec<Vec<Alert>>, Vec<Vec<Alert>>) {
    let mut fast = pack(Backend::Compiled);
    let mut oracle = pack(Backend::Rsigma);
    let mut t_ms = T0;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (k, s) in specs.iter().enumerate() {
        t_ms += STEPS_MS[usize::from(s.step)];
        match record(k, s, t_ms) {
            Ok(ev) => {
                a.push(fast.observe_delivered(Delivered::Event(&ev), t_ms));
                b.push(oracle.observe_document(&leakdrill::detect::document(&ev), t_ms));
            }
            Err(doc) => {
                a.push(fast.observe_document(&doc, t_ms));
                b.push(oracle.observe_document(&doc, t_ms));
            }
        }
    }
    (a, b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_alert_identically_on_both_backends(specs in prop::collection::vec(spec(), 1..150)) {
        let (fast, oracle) = both(&specs);
        prop_assert_eq!(fast, oracle);
    }
}

/// The generator reaches what the property is about: correlations of
/// every type fire, and so do the test rules.
#[test]
fn random_streams_fire_every_correlation_type() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let specs = prop::collection::vec(spec(), 150)
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let (fast, oracle) = both(&specs);
        assert_eq!(fast, oracle);
        seen.extend(fast.into_iter().flatten().map(|a| a.rule_id));
    }
    for id in [
        "test-modifiers-1",
        "test-modifiers-2",
        "test-corr-1",
        "test-corr-2",
        "test-corr-3",
        "test-corr-4",
        "test-corr-5",
        "test-corr-6",
    ] {
        assert!(seen.contains(id), "{id} never fired: {seen:?}");
    }
}

#[test]
fn a_rule_the_compiler_cannot_evaluate_falls_back_to_rsigma_and_alerts() {
    let keywords = r#"
title: Any field mentions mimikatz
id: test-keywords
logsource:
  product: salesforce
detection:
  keywords:
    - mimikatz
  condition: keywords
level: high
"#;
    let mut rules = Rules::builtin();
    rules
        .files
        .push(("tests/keywords.yml".to_owned(), keywords.to_owned()));
    let mut d = rules.detector().expect("valid pack");
    assert_eq!(d.backend(), Backend::Rsigma);
    let why = d.fallback_reason().expect("a reason").to_string();
    assert!(why.contains("keyword"), "{why}");
    assert!(format!("{d:?}").contains("rsigma"), "{d:?}");
    let req = Request::new(Method::Get, "/services/data/v62.0/query");
    let mut e = Event::new(1, T0, &req, "00D000000000001AAA", Seed(3));
    e.kind = EventKind::Query;
    e.user_agent = Some("Mimikatz/2.2".into());
    let alerts = d.observe(&e);
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.rule_id.as_str())
            .collect::<Vec<_>>(),
        ["test-keywords"]
    );
    // The built-in pack alone compiles.
    let d = Rules::builtin().detector().expect("pack");
    assert_eq!(d.backend(), Backend::Compiled);
    assert!(d.fallback_reason().is_none());
    assert!(format!("{d:?}").contains("compiled"), "{d:?}");
}
