//! `leakdrill run`: a multi-day breach replayed on a virtual clock,
//! identically for a seed; whole-run invariants under random seeds and
//! chaos; every scenario in `scenarios/` validates and its summary is
//! pinned; broken scenario files get every error at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use leakdrill::scenario::{self, Scenario};
use leakdrill::sim::{self, Limits, SimError, Summary};
use proptest::prelude::*;
use serde_json::Value;

use crate::support::*;

/// A `Write` the test can read back after the run.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buf").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn load(path: &Path) -> Scenario {
    scenario::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn small() -> Scenario {
    load(&data("scenarios/small.yaml"))
}

/// Runs `sc`; the summary and the run log's lines as JSON.
fn run(sc: Scenario, seed: u64) -> (Summary, Vec<Value>, Vec<u8>) {
    run_with(sc, seed, None)
}

/// [`run`] with a detector (alert-driven playbooks need one).
fn run_with(
    sc: Scenario,
    seed: u64,
    detector: Option<leakdrill::detect::Detector>,
) -> (Summary, Vec<Value>, Vec<u8>) {
    let buf = Buf::default();
    let out = sim::run_detected(
        Arc::new(sc),
        seed,
        Limits::default(),
        Box::new(buf.clone()),
        detector.map(|d| Box::new(d) as Box<dyn leakdrill::detect::Detect>),
    )
    .unwrap_or_else(|e| panic!("run failed: {e}\n  reproduce: seed {seed}"));
    let bytes = buf.0.lock().expect("buf").clone();
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("run log line is JSON"))
        .collect();
    (out.summary, lines, bytes)
}

fn scenario_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("scenarios dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
        &mut v,
    );
    v
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let (a, _, bytes_a) = run(small(), 7);
    let (b, _, bytes_b) = run(small(), 7);
    assert_eq!(bytes_a, bytes_b, "run log differs for one seed");
    assert_eq!(a.digest, b.digest);
    let (c, _, _) = run(small(), 8);
    assert_ne!(a.digest, c.digest, "seeds 7 and 8 gave the same run");
}

#[test]
fn two_processes_write_identical_run_logs() {
    let dirs = [
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    ];
    let file = data("scenarios/small.yaml");
    for d in &dirs {
        let o = leakdrill(&[
            "run",
            file.to_str().expect("utf8"),
            "--seed",
            "5",
            "--out",
            d.path().to_str().expect("utf8"),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stdout(&o).contains("reproduce: leakdrill run ") && stdout(&o).contains("--seed 5"),
            "prints the reproduce command: {}",
            stdout(&o)
        );
    }
    let read = |d: &tempfile::TempDir, f: &str| std::fs::read(d.path().join(f)).expect("output");
    assert_eq!(
        read(&dirs[0], "runlog.ndjson"),
        read(&dirs[1], "runlog.ndjson")
    );
    assert_eq!(read(&dirs[0], "report.json"), read(&dirs[1], "report.json"));
    // Detection is part of what must replay identically.
    let log = String::from_utf8(read(&dirs[0], "runlog.ndjson")).expect("utf8");
    assert!(
        log.contains("\"type\":\"alert\""),
        "the built-in pack alerts on this leak"
    );
    let s: Value = serde_json::from_slice(&read(&dirs[0], "summary.json")).expect("json");
    for key in [
        "scenario",
        "seed",
        "version",
        "digest",
        "counts",
        "injections",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}");
    }
    for key in [
        "api_calls",
        "telemetry_events",
        "attacker_calls_ok",
        "attacker_calls_denied",
    ] {
        assert!(s["counts"][key].is_u64(), "counts.{key}");
    }
    assert_eq!(s["seed"], 5);
}

#[test]
fn an_unrelated_integration_does_not_move_the_attack() {
    let base = small();
    let mut more = base.clone();
    let extra = base
        .org
        .integrations
        .iter()
        .position(|i| i.id == "marketing-automation")
        .expect("integration");
    more.integrations.push(extra);
    let attacker = |lines: &[Value]| -> Vec<(i64, String, u64)> {
        lines
            .iter()
            .filter(|l| {
                l["type"] == "request"
                    && l["actor"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("attacker:"))
            })
            .map(|l| {
                (
                    l["t_ms"].as_i64().expect("t"),
                    l["path"].as_str().expect("path").to_owned(),
                    l["status"].as_u64().expect("status"),
                )
            })
            .collect()
    };
    let (a, la, _) = run(base, 3);
    let (b, lb, _) = run(more, 3);
    assert!(
        b.counts.api_calls > a.counts.api_calls,
        "the extra integration ran"
    );
    assert_eq!(attacker(&la), attacker(&lb));
    let inj = |s: &Summary| {
        s.injections
            .iter()
            .map(|i| {
                (
                    i.first_success_ms,
                    i.last_success_ms,
                    i.first_denied_ms,
                    i.records_exposed,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(inj(&a), inj(&b));
}

#[test]
fn containment_stops_the_attacker_and_the_log_records_both_ends() {
    let (s, lines, _) = run(small(), 42);
    let scrape = s
        .injections
        .iter()
        .find(|i| i.id == "scrape")
        .expect("scrape");
    let first = scrape.first_success_ms.expect("the scrape succeeded");
    let revoke = s
        .actions
        .iter()
        .find(|a| a.action == "revoke_refresh_tokens")
        .expect("action");
    let effective = revoke.effective_ms.expect("revoke took effect");
    assert_eq!(revoke.triggered_ms, Some(first));
    assert_eq!(effective, first + 30 * 60_000, "after: 30m");
    let denied = scrape.first_denied_ms.expect("the attacker was denied");
    let last = scrape.last_success_ms.expect("last success");
    assert!(
        last <= effective && effective <= denied,
        "{last} ≤ {effective} ≤ {denied}"
    );
    assert!(scrape.records_exposed > 0 && scrape.records_exposed <= scrape.records_read);
    let phases: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "injection" && l["id"] == "scrape")
        .filter_map(|l| l["phase"].as_str())
        .collect();
    assert_eq!(phases, ["start", "first_success", "first_denied", "end"]);
}

#[test]
fn run_limits_are_typed_errors_naming_the_limit() {
    let limits = Limits {
        max_api_calls: 10,
        ..Limits::default()
    };
    let err = sim::run(Arc::new(small()), 1, limits, Box::new(std::io::sink())).expect_err("limit");
    match err {
        SimError::Limit { name, limit, .. } => assert_eq!((name, limit), ("max_api_calls", 10)),
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn every_scenario_validates_and_its_summary_is_pinned() {
    let files = scenario_files();
    assert!(
        files.len() >= 12,
        "at least 12 scenarios, found {}",
        files.len()
    );
    let mut ids = std::collections::BTreeSet::new();
    for f in files {
        let sc = load(&f);
        assert!(ids.insert(sc.id.clone()), "duplicate scenario id {}", sc.id);
        let sc = Arc::new(sc);
        let (summary, verdict) = crate::support::run_scored(&sc, None);
        // Whole-run scoring invariants.
        for i in &verdict.injections {
            if let (Some(d), Some(c)) = (i.ttd_ms, i.ttc_ms) {
                assert!(d >= 0 && c >= 0, "{}: {i:?}", f.display());
            }
            assert_eq!(i.detected, i.detected_ms.is_some());
            assert!(!i.detected || i.detectable);
            exposure_adds_up(&i.records_exposed)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", f.display(), i.id));
        }
        exposure_adds_up(&verdict.exposure).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if sc.expect.no_alerts {
            assert!(
                verdict.passed,
                "{}: a baseline raises no alert",
                f.display()
            );
        }
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "summary": summary,
            "verdict": verdict,
        }))
        .expect("json");
        insta::assert_snapshot!(format!("summary-{}", summary.scenario), json);
    }
}

#[test]
fn broken_scenarios_get_every_error_with_positions_and_hints() {
    let o = leakdrill(&[
        "validate",
        data("scenarios/broken.yaml").to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 3);
    let err = stderr(&o).replace(env!("CARGO_MANIFEST_DIR"), "");
    insta::assert_snapshot!(err);
}

#[test]
fn broken_data_flow_hijack_and_sandbox_steps_are_all_reported() {
    let o = leakdrill(&[
        "validate",
        data("scenarios/broken-flows.yaml").to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 3);
    let err = stderr(&o).replace(env!("CARGO_MANIFEST_DIR"), "");
    insta::assert_snapshot!(err);
}

/// The scenario file `scenarios/<rel>`, run with its own seed.
fn run_catalogue(rel: &str) -> (Summary, Vec<Value>) {
    let sc = load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(rel),
    );
    let seed = sc.seed;
    // Catalogue scenarios run with the built-in pack, as `leakdrill run` does.
    let pack = leakdrill::detect::Rules::builtin()
        .detector()
        .expect("pack");
    let (s, lines, _) = run_with(sc, seed, Some(pack));
    (s, lines)
}

#[test]
fn benign_baselines_have_no_failing_requests_but_session_expiry() {
    for f in scenario_files()
        .iter()
        .filter(|p| p.ends_with("baseline-7d.yaml"))
    {
        let sc = load(f);
        let seed = sc.seed;
        let (_, lines, _) = run(sc, seed);
        let bad: Vec<&Value> = lines
            .iter()
            .filter(|l| l["type"] == "request")
            .filter(|l| l["status"].as_u64().is_some_and(|s| s >= 400 && s != 401))
            .collect();
        assert!(
            bad.is_empty(),
            "{}: {} failing requests, first {}",
            f.display(),
            bad.len(),
            bad[0]
        );
        let edits = lines
            .iter()
            .filter(|l| l["type"] == "request" && l["method"] == "PATCH")
            .count();
        assert!(
            edits > 0,
            "{}: people and syncs change records",
            f.display()
        );
    }
}

#[test]
fn a_lookalike_webhook_sends_until_the_egress_block_and_never_after() {
    let (s, lines) = run_catalogue("fintech/webhook-exfil-lookalike.yaml");
    let exfil = s
        .injections
        .iter()
        .find(|i| i.id == "exfil")
        .expect("exfil");
    let block = s
        .actions
        .iter()
        .find(|a| a.action == "block_egress")
        .expect("block");
    let effective = block.effective_ms.expect("the block took effect");
    let sends: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "egress" && l["injection"] == "exfil")
        .collect();
    assert!(!sends.is_empty());
    for l in &sends {
        let to = l["to"].as_str().expect("to");
        assert!(
            to.starts_with("http://events.rnarketing-automation.example/"),
            "{to}"
        );
        let t = l["t_ms"].as_i64().expect("t");
        assert_eq!(l["blocked"] == true, t >= effective, "{l}");
    }
    let last = exfil.last_success_ms.expect("sent before the block");
    let denied = exfil.first_denied_ms.expect("a send was refused");
    assert!(
        exfil.first_success_ms.expect("first") <= last && last < effective && effective <= denied
    );
    assert!(exfil.records_exposed > 0 && exfil.records_exposed <= exfil.records_read);
    // The integration's own endpoint keeps receiving its data.
    assert!(lines.iter().any(|l| l["type"] == "egress"
        && l["to"] == "http://events.marketing-automation.example/salesforce/hooks"
        && l["t_ms"].as_i64() > Some(effective)));
}

#[test]
fn a_hijacked_session_is_used_from_another_network_under_the_same_session_key() {
    let (s, lines) = run_catalogue("fintech/session-hijack-advisor.yaml");
    let emits: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "emit")
        .map(|l| &l["event"])
        .collect();
    let victim_login = lines
        .iter()
        .position(|l| l["type"] == "request" && l["actor"] == "victim:hijack")
        .expect("the victim logged in");
    let login_event = lines[victim_login + 1]["event"].clone();
    assert_eq!(login_event["EventType"], "Login");
    let key = login_event["SessionKey"].as_str().expect("session key");
    let ips: std::collections::BTreeSet<&str> = emits
        .iter()
        .filter(|e| e["SessionKey"] == key)
        .filter_map(|e| e["SourceIp"].as_str())
        .collect();
    assert!(ips.len() >= 2, "one session, two source IPs: {ips:?}");
    let scrape = s
        .injections
        .iter()
        .find(|i| i.id == "scrape")
        .expect("scrape");
    let end = s
        .actions
        .iter()
        .find(|a| a.action == "end_sessions")
        .expect("end");
    assert!(
        scrape.last_success_ms < end.effective_ms && end.effective_ms <= scrape.first_denied_ms
    );
}

#[test]
fn an_unmasked_sandbox_refresh_exposes_its_objects_and_a_masked_one_nothing() {
    let (s, lines) = run_catalogue("ecommerce/sandbox-refresh-unmasked.yaml");
    let r = &s.injections[0];
    assert_eq!(r.kind, "sandbox_refresh");
    assert!(r.records_exposed > 0 && r.records_exposed == r.records_read);
    let copy = lines
        .iter()
        .find(|l| l["type"] == "egress" && l["injection"] == "refresh")
        .expect("copy");
    assert_eq!(copy["records"].as_u64(), Some(r.records_exposed));
    assert!(
        copy["classes"]
            .as_array()
            .expect("classes")
            .iter()
            .any(|c| c == "credential")
    );

    // fintech's dev1 sandbox is masked after refresh: a copy, no exposure.
    let text = "id: masked\nfixture: fintech-wealth\nstart: 2026-03-09T08:00:00Z\nduration: 2h\nattack:\n  - { id: refresh, kind: sandbox_refresh, sandbox: dev1, at: 1h }\n";
    let sc = scenario::load_str("masked.yaml", text, None).expect("scenario");
    let (s, lines, _) = run(sc, 1);
    let r = &s.injections[0];
    assert!(r.records_read > 0);
    assert_eq!((r.records_exposed, r.first_success_ms), (0, None));
    let copy = lines.iter().find(|l| l["type"] == "egress").expect("copy");
    assert_eq!(copy["records"], 0);
    assert_eq!(copy["classes"].as_array().map(Vec::len), Some(0));
}

#[test]
fn the_scenario_schema_is_json_schema_of_the_format() {
    let o = leakdrill(&["scenario", "schema"]);
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    for key in [
        "fixture", "start", "duration", "attack", "chaos", "response", "expect",
    ] {
        assert!(v["properties"].get(key).is_some(), "schema lacks {key}");
    }
}

/// Scenario text with a random fault list, for the property test.
/// The exposure breakdown's parts add up to its totals.
fn exposure_adds_up(x: &leakdrill::score::RecordsExposed) -> Result<(), String> {
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what}: {x:?}"))
        }
    };
    check(
        x.before_detection + x.after_detection == x.total,
        "before + after = total",
    )?;
    check(
        x.by_jurisdiction.values().sum::<u64>() + x.unattributed == x.total,
        "by jurisdiction + unattributed = total",
    )?;
    check(
        x.by_class.values().all(|&n| n <= x.total),
        "no class above the total",
    )?;
    check(
        x.subjects_by_jurisdiction.values().sum::<u64>() == x.subjects,
        "subjects by jurisdiction = subjects",
    )?;
    check(
        x.subjects_by_jurisdiction
            .iter()
            .all(|(j, &n)| n >= 1 && n <= x.by_jurisdiction.get(j).copied().unwrap_or(0)),
        "every subject has an exposed record in its jurisdiction",
    )?;
    check(x.subjects <= x.total, "subjects <= records")
}

fn with_chaos(faults: &[&str], seed_latency_m: u32) -> Scenario {
    let text = std::fs::read_to_string(data("scenarios/small.yaml")).expect("read");
    let text = text.replace("after: 30m", &format!("after: {seed_latency_m}m"));
    let chaos = if faults.is_empty() {
        String::new()
    } else {
        format!(
            "chaos:\n{}\n",
            faults
                .iter()
                .map(|f| format!("  - {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    let text = text.replace("response:\n", &format!("{chaos}response:\n"));
    scenario::load_str("small+chaos.yaml", &text, None).unwrap_or_else(|e| panic!("{e}"))
}

const FAULTS: &[&str] = &[
    "{ kind: telemetry_delay, source: event_log_file, delay: 6h }",
    "{ kind: telemetry_drop, source: realtime, rate: 0.3 }",
    "{ kind: telemetry_duplicate, rate: 0.2 }",
    "{ kind: telemetry_reorder, source: realtime, delay: 10m }",
    "{ kind: siem_outage, at: 1h, for: 2h }",
    "{ kind: containment_failure, action: revoke_refresh_tokens, failing_attempts: 2 }",
    "{ kind: containment_latency, delay: 15m }",
    "{ kind: server_errors, rate: 0.2, at: 30m, for: 1h }",
    "{ kind: clock_skew, source: event_log_file, skew: -90s }",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the seed and the faults: no action before its trigger, no
    /// telemetry delivered before it was emitted, one event per API call
    /// the org answered, no attacker success after the refresh token was
    /// revoked, no new grant for a frozen user, and the run ends.
    #[test]
    fn whole_run_invariants(seed in any::<u64>(), picks in proptest::collection::vec(0..FAULTS.len(), 0..4), latency_m in 1u32..90) {
        let faults: Vec<&str> = picks.iter().map(|&i| FAULTS[i]).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let sc = with_chaos(&faults, latency_m);
        let verdict_of = sc.clone();
        let (s, lines, _) = run(sc, seed);
        let reproduce = format!("seed {seed}, faults {faults:?}, latency {latency_m}m");
        // Exposure totals add up, per injection and overall.
        let verdict = leakdrill::score::score(&verdict_of, &s);
        for i in &verdict.injections {
            prop_assert!(exposure_adds_up(&i.records_exposed).is_ok(), "{:?} ({reproduce})", exposure_adds_up(&i.records_exposed));
        }
        prop_assert!(exposure_adds_up(&verdict.exposure).is_ok(), "{:?} ({reproduce})", exposure_adds_up(&verdict.exposure));

        // No action before its trigger (plus its latency).
        for a in &s.actions {
            if let (Some(t), Some(e)) = (a.triggered_ms, a.effective_ms) {
                prop_assert!(e >= t, "action {} effective {e} before trigger {t} ({reproduce})", a.action);
            }
        }
        // No telemetry delivered before it was emitted.
        for l in lines.iter().filter(|l| l["type"] == "deliver") {
            prop_assert!(l["t_ms"].as_i64() >= l["emitted_ms"].as_i64(), "{l} ({reproduce})");
        }
        // One event per request the org answered; faults answer without one.
        let answered = lines.iter().filter(|l| l["type"] == "request" && l.get("fault").is_none()).count();
        let emitted = lines.iter().filter(|l| l["type"] == "emit").count();
        prop_assert_eq!(answered, emitted, "{}", reproduce);
        prop_assert_eq!(s.counts.telemetry_events as usize, emitted);
        // Once the refresh token is revoked (which kills the access tokens
        // minted from it), the attacker never succeeds again.
        let attacker_ok_after = |t: i64, path: Option<&str>| {
            lines.iter().filter(|l| {
                l["type"] == "request"
                    && l["actor"].as_str().is_some_and(|a| a.starts_with("attacker:"))
                    && l["t_ms"].as_i64().is_some_and(|x| x > t)
                    && l["status"].as_u64().is_some_and(|c| c < 400)
                    && path.is_none_or(|p| l["path"] == p)
            }).count()
        };
        let effective = |name: &str| s.actions.iter().find(|a| a.action == name).and_then(|a| a.effective_ms);
        if let Some(t) = effective("revoke_refresh_tokens") {
            prop_assert_eq!(attacker_ok_after(t, None), 0, "attacker succeeded after the revoke at {} ({})", t, reproduce);
        }
        // A freeze refuses every new login or grant; tokens already issued
        // keep working (Salesforce leaves this undocumented; the mock's
        // default, see the reference §11), so only grants are checked.
        if let Some(t) = effective("freeze_user") {
            prop_assert_eq!(attacker_ok_after(t, Some("/services/oauth2/token")), 0, "grant after the freeze at {} ({})", t, reproduce);
        }
        // The run ends at its duration with an end line.
        let last = lines.last().expect("lines");
        prop_assert_eq!(&last["type"], "end");
        prop_assert!(lines.iter().all(|l| l["t_ms"].as_i64().is_some_and(|t| t <= 12 * 3_600_000)));
    }
}

/// The server runs queries through `handle_shared` (under a shared lock)
/// and everything it declines through `handle_exclusive`, the one path for
/// every request. Over first pages, locators (and a retried one), queryAll,
/// errors, counts, generated tables, a bad locator, a bad session and an
/// exhausted allowance, both give the same responses, events and counters;
/// `handle_shared` takes exactly the successful data-table queries and,
/// declining, changes nothing.
#[test]
fn the_shared_query_path_and_the_exclusive_path_give_the_same_bytes() {
    use leakdrill::sfdc::{Method, Request};
    let ip = "203.0.113.70".parse().expect("ip");
    for allowance in [u64::MAX, 8] {
        let (mut a, mut b) = (crate::api::fintech(300), crate::api::fintech(300));
        a.opts.daily_api_requests = allowance;
        b.opts.daily_api_requests = allowance;
        let ta = crate::api::password_login(&mut a, "etl.", "warehouse-etl", ip).expect("login");
        let tb = crate::api::password_login(&mut b, "etl.", "warehouse-etl", ip).expect("login");
        assert_eq!(ta, tb);
        let get = |path: &str, token: &str| {
            Request::new(Method::Get, path)
                .with_header("authorization", &format!("Bearer {token}"))
                .with_header("sforce-query-options", "batchSize=200")
                .from_ip(ip)
        };
        let q = |kind: &str, soql: &str| {
            let mut r = get(&format!("/services/data/v62.0/{kind}"), &ta);
            r.query = format!(
                "q={}",
                form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
            );
            r
        };
        let first = q("query", "SELECT Id, FirstName, Email FROM Contact");
        let mut steps: Vec<(Request, bool)> = vec![
            (first.clone(), true),
            (
                q(
                    "queryAll",
                    "SELECT Id, Email FROM Contact ORDER BY LastName DESC LIMIT 5",
                ),
                true,
            ),
            (
                q(
                    "query",
                    "SELECT Id, Name FROM FinancialAccount__c ORDER BY Name DESC LIMIT 5",
                ),
                false,
            ),
            (q("query", "SELECT Id FROM EventLogFile"), false),
            (q("query", "SELECT Id, Username FROM LoginEvent"), false),
            (q("query", "SELECT Nope FROM Contact"), false),
            (q("query", "SELECT COUNT() FROM Contact"), false),
            (q("query", "SELECT Id FROM Nope__c"), false),
            (get("/services/data/v62.0/query/01gNOPE-200", &ta), false),
        ];
        let mut next_page = None;
        let mut k = 0;
        while k < steps.len() {
            let (req, want_shared) = steps[k].clone();
            let now = crate::api::NOW + k as i64 * 1000;
            let (ra, ea) = a.handle_exclusive(now, &req);
            let (rb, eb, shared) = match b.handle_shared(now, &req) {
                Some((r, e)) => (r, e, true),
                None => {
                    let (r, e) = b.handle_exclusive(now, &req);
                    (r, e, false)
                }
            };
            assert_eq!(ra, rb, "request {k}");
            assert_eq!(ea.seq, eb.seq, "request {k}");
            assert_eq!(
                serde_json::to_string(&ea).ok(),
                serde_json::to_string(&eb).ok(),
                "request {k}"
            );
            assert_eq!(a.api_requests_used(), b.api_requests_used(), "request {k}");
            let over = ra.error_code().as_deref() == Some("REQUEST_LIMIT_EXCEEDED");
            assert_eq!(
                shared,
                want_shared && !over,
                "request {k} taken shared: {} {}",
                ra.status,
                String::from_utf8_lossy(&ra.body[..ra.body.len().min(200)])
            );
            if shared {
                assert_eq!(ra.status, 200, "request {k}");
            }
            if k == 0 {
                next_page = ra.body_json()["nextRecordsUrl"].as_str().map(str::to_owned);
                let next = next_page.clone().expect("300 contacts: a second page");
                // The locator, a retry of it, and it with a bad session.
                steps.push((get(&next, &ta), true));
                steps.push((get(&next, &ta), true));
                steps.push((get(&next, "00Dnot!a-session"), false));
                steps.push((first.clone(), true));
            }
            k += 1;
        }
        assert!(next_page.is_some());
        if allowance == 8 {
            assert_eq!(
                a.api_requests_used(),
                12,
                "every call counted, refused ones too"
            );
        }
        // Same sessions (last use included) and the same stored telemetry.
        assert_eq!(a.auth.sessions, b.auth.sessions);
        let later = crate::api::NOW + 3_600_000;
        let siem = crate::api::soap_login_at(&mut a, "siem.connector", crate::api::SIEM_NET, later);
        let siem_b =
            crate::api::soap_login_at(&mut b, "siem.connector", crate::api::SIEM_NET, later);
        assert_eq!(siem, siem_b);
        let mut api_events = get("/services/data/v62.0/query", &siem);
        api_events.source_ip = crate::api::SIEM_NET;
        api_events.query = format!(
            "q={}",
            form_urlencoded::byte_serialize(
                b"SELECT Id, EventIdentifier, Records, RowsProcessed FROM ApiEvent"
            )
            .collect::<String>()
        );
        let (ra, rb) = (
            a.handle_exclusive(later, &api_events).0,
            b.handle_exclusive(later, &api_events).0,
        );
        assert_eq!(ra, rb);
        if allowance == u64::MAX {
            // Every query call but the one with a bad session (refused
            // before it is a query) is an ApiEvent.
            assert_eq!(ra.body_json()["totalSize"], 12);
        }
    }
}
