//! External detectors (`--detector CMD`, docs/detector-protocol.md): the
//! NDJSON protocol round trip in lock-step with the virtual clock, and a
//! detector that crashes, hangs or talks nonsense recorded, scored and
//! never hanging the run. The example in `examples/detectors/` detects and
//! contains its scenario.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leakdrill::external::{External, Options};
use leakdrill::scenario::{self, Scenario};
use leakdrill::sim::{self, Limits, Summary};
use serde_json::Value;

use crate::support::*;

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

/// `tests/data/scenarios/small.yaml` (a refresh token replayed from a VPS
/// and a scrape, 12 h) without its scripted response: what is contained
/// is what the detector asked for.
fn small_unscripted() -> Scenario {
    let text = std::fs::read_to_string(data("scenarios/small.yaml")).expect("small.yaml");
    let head = text.split("response:").next().expect("head");
    let text = format!("{head}expect:\n  detect_within: 1h\n");
    scenario::load_str("small-unscripted.yaml", &text, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `script` (Python) to a temporary file; the command running it.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write script");
    format!("python3 {}", path.display())
}

/// Runs `sc` with the external detector `cmd`: the summary, the run log's
/// lines and its bytes.
fn run_external(sc: &Scenario, cmd: &str, timeout_ms: u64) -> (Summary, Vec<Value>, Vec<u8>) {
    let det = External::spawn(
        cmd,
        &Options {
            timeout: Duration::from_millis(timeout_ms),
            stderr_file: None,
        },
    )
    .expect("spawn");
    let buf = Buf::default();
    let out = sim::run_detected(
        Arc::new(sc.clone()),
        sc.seed,
        Limits::default(),
        Box::new(buf.clone()),
        Some(Box::new(det)),
    )
    .unwrap_or_else(|e| panic!("run failed: {e}"));
    let bytes = buf.0.lock().expect("buf").clone();
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("run log line is JSON"))
        .collect();
    (out.summary, lines, bytes)
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

/// The `n`th (from 1) real-time delivery line.
fn nth_realtime_delivery(lines: &[Value], n: usize) -> &Value {
    lines
        .iter()
        .filter(|l| l["type"] == "deliver" && l["source"] == "realtime")
        .nth(n - 1)
        .expect("enough deliveries")
}

/// The protocol preamble every test script shares: `answer(msg)` returns
/// the lines to send before the ack.
const LOOP: &str = r#"
import json, sys
def main(answer):
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "end":
            return
        for obj in answer(msg):
            sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.write(json.dumps({"type": "ack", "seq": msg["seq"]}) + "\n")
        sys.stdout.flush()
"#;

#[test]
fn external_detector_protocol_round_trip_is_lock_step_and_deterministic() {
    let dir = tempfile::tempdir().expect("tmp");
    // Alerts on the attacker's user agent (the scenario's `from:`), once; and on the tick two
    // virtual hours in; checks the protocol's framing as it goes.
    let body = format!(
        r#"{LOOP}
state = {{"start": None, "seq": 0, "fired": False}}
def answer(msg):
    assert msg["seq"] == state["seq"], msg
    state["seq"] += 1
    if msg["type"] == "hello":
        assert msg["protocol"] == 1 and msg["tick_ms"] == 60000, msg
        state["start"] = msg["start_ms"]
        return []
    if msg["type"] == "tick":
        assert (msg["t_ms"] - state["start"]) % 60000 == 0, msg
        if msg["t_ms"] - state["start"] == 7200000:
            return [{{"type": "alert", "rule_id": "tick-2h", "level": "low"}}]
        return []
    ev = msg["event"]
    assert ev["product"] == "salesforce" and msg["now_ms"] >= msg["t_ms"], msg
    if ev.get("UserAgent") == "python-requests/2.31.0" and not state["fired"]:
        state["fired"] = True
        return [{{"type": "alert", "rule_id": "attacker-ua", "title": "Attacker user agent",
                 "level": "high", "user": ev.get("Username"), "source_ip": ev.get("SourceIp"),
                 "session_key": ev.get("SessionKey")}}]
    return []
main(answer)
"#
    );
    let cmd = script(dir.path(), "ua.py", &body);
    let sc = small_unscripted();
    let (summary, lines, bytes) = run_external(&sc, &cmd, 10_000);
    assert!(
        summary.detector_fault.is_none(),
        "{:?}",
        summary.detector_fault
    );
    let alerts = of_type(&lines, "alert");
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    // The alert lands at the delivery of the event it answers, naming it
    // and the entities the detector gave.
    let ua = alerts
        .iter()
        .find(|a| a["rule_id"] == "attacker-ua")
        .expect("attacker-ua");
    let id = ua["event_id"].as_str().expect("event id");
    let emitted = lines
        .iter()
        .find(|l| l["type"] == "emit" && l["event"]["EventIdentifier"] == id)
        .expect("the alerted event was emitted");
    let delivered = lines
        .iter()
        .find(|l| l["type"] == "deliver" && l["source"] == "realtime" && l["event_id"] == id)
        .expect("and delivered");
    assert_eq!(ua["t_ms"], delivered["t_ms"]);
    assert_eq!(ua["user"], emitted["event"]["Username"]);
    assert_eq!(ua["source_ip"], emitted["event"]["SourceIp"]);
    assert_eq!(ua["level"], "high");
    assert_eq!(emitted["event"]["UserAgent"], "python-requests/2.31.0");
    assert!(
        ua["user"].is_string() && ua["source_ip"].is_string(),
        "{ua}"
    );
    // The tick alert: exactly two virtual hours in, on no event.
    let tick = alerts
        .iter()
        .find(|a| a["rule_id"] == "tick-2h")
        .expect("tick-2h");
    assert_eq!(tick["t_ms"], 7_200_000);
    assert_eq!(tick["event_id"], "");
    // Scored like a Sigma alert: the replayed token is detected.
    let verdict = leakdrill::score::score(&sc, &summary);
    assert!(
        verdict.injections.iter().any(|i| i.detected),
        "{:?}",
        verdict.injections
    );
    assert!(verdict.detector_fault.is_none());
    // Same seed, same detector: the same bytes.
    let (_, _, again) = run_external(&sc, &cmd, 10_000);
    assert!(bytes == again, "two runs differ");
}

#[test]
fn a_detector_that_crashes_mid_run_is_recorded_at_that_virtual_time_and_fails_the_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let body = format!(
        r#"{LOOP}
events = [0]
def answer(msg):
    if msg["type"] == "event":
        events[0] += 1
        if events[0] == 5:
            sys.stderr.write("boom: detector state corrupt\n")
            sys.stderr.flush()
            sys.exit(3)
    return []
main(answer)
"#
    );
    let cmd = script(dir.path(), "crash.py", &body);
    let sc = small_unscripted();
    let (summary, lines, _) = run_external(&sc, &cmd, 10_000);
    let fault = summary.detector_fault.as_ref().expect("a fault");
    assert_eq!(fault.fault.kind, "crashed");
    assert!(
        fault.fault.detail.contains("exited with status 3")
            && fault.fault.detail.contains("boom: detector state corrupt"),
        "{}",
        fault.fault.detail
    );
    // At the fifth delivered event, logged once, right after it.
    let fifth = nth_realtime_delivery(&lines, 5);
    assert_eq!(fault.t_ms, fifth["t_ms"].as_i64().expect("t"));
    let faults = of_type(&lines, "detector_fault");
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0]["fault"], "crashed");
    assert_eq!(faults[0]["t_ms"], fifth["t_ms"]);
    let at = lines
        .iter()
        .position(|l| l == faults[0])
        .expect("fault line");
    assert_eq!(&lines[at - 1], fifth);
    // The run went on to its end without the detector: the attack at 1h
    // is missed, and the verdict says why.
    assert!(lines.last().is_some_and(|l| l["type"] == "end"));
    assert!(of_type(&lines, "alert").is_empty());
    let verdict = leakdrill::score::score(&sc, &summary);
    assert!(!verdict.passed);
    let healthy = verdict
        .expectations
        .iter()
        .find(|e| e.id == "detector_healthy")
        .expect("detector_healthy");
    assert!(!healthy.met);
    assert_eq!(healthy.actual, Some(fault.t_ms));

    // The CLI: exit 10, the fault in the text report, report.json,
    // summary.json, JUnit and Markdown, and stderr kept.
    let out = tempfile::tempdir().expect("tmp");
    let o = leakdrill(&[
        "run",
        "tests/data/scenarios/small.yaml",
        "--out",
        out.path().to_str().expect("utf8"),
        "--detector",
        &cmd,
        "--format",
        "text,json,junit,markdown,html",
    ]);
    assert_eq!(code(&o), 10, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("detector crashed at +"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("MISSED detector_healthy"),
        "{}",
        stdout(&o)
    );
    let read = |f: &str| std::fs::read_to_string(out.path().join(f)).expect(f);
    let report: Value = serde_json::from_str(&read("report.json")).expect("json");
    assert_eq!(report["detector_fault"]["fault"], "crashed");
    assert_eq!(report["passed"], false);
    let summary: Value = serde_json::from_str(&read("summary.json")).expect("json");
    assert_eq!(summary["detector_fault"]["fault"], "crashed");
    assert!(read("report.junit.xml").contains("detector crashed at +"));
    assert!(read("report.md").contains("The detector under test failed (crashed at +"));
    assert!(read("report.html").contains("The detector under test failed (crashed at +"));
    assert!(read("detector.stderr").contains("boom: detector state corrupt"));
}

#[test]
fn a_detector_that_hangs_times_out_and_the_run_still_finishes() {
    let dir = tempfile::tempdir().expect("tmp");
    let body = format!(
        r#"{LOOP}
import time
def answer(msg):
    if msg["type"] == "event":
        time.sleep(120)
    return []
main(answer)
"#
    );
    let cmd = script(dir.path(), "hang.py", &body);
    let sc = small_unscripted();
    let (summary, lines, _) = run_external(&sc, &cmd, 300);
    let fault = summary.detector_fault.as_ref().expect("a fault");
    assert_eq!(fault.fault.kind, "timeout");
    // Its first event, after `hello` (seq 0) and a tick per virtual
    // minute before it.
    let first = nth_realtime_delivery(&lines, 1)["t_ms"]
        .as_i64()
        .expect("t");
    let ticks = first / 60_000;
    assert_eq!(
        fault.fault.detail,
        format!("no ack for seq {} within 300 ms", 1 + ticks)
    );
    assert_eq!(
        fault.t_ms,
        nth_realtime_delivery(&lines, 1)["t_ms"]
            .as_i64()
            .expect("t")
    );
    assert!(lines.last().is_some_and(|l| l["type"] == "end"));
    // Ticks stop with the detector: nothing is sent after the fault.
    assert_eq!(of_type(&lines, "detector_fault").len(), 1);
}

#[test]
fn malformed_lines_and_unknown_actions_are_faults_quoting_the_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let body = format!(
        r#"{LOOP}
events = [0]
def answer(msg):
    if msg["type"] == "event":
        events[0] += 1
        if events[0] == 3:
            sys.stdout.write("this is not json\n")
    return []
main(answer)
"#
    );
    let cmd = script(dir.path(), "garbage.py", &body);
    let sc = small_unscripted();
    let (summary, lines, _) = run_external(&sc, &cmd, 10_000);
    let fault = summary.detector_fault.as_ref().expect("a fault");
    assert_eq!(fault.fault.kind, "malformed");
    assert!(
        fault.fault.detail.starts_with("seq ")
            && fault.fault.detail.contains(": not JSON")
            && fault.fault.detail.ends_with(": this is not json"),
        "{}",
        fault.fault.detail
    );
    assert_eq!(
        fault.t_ms,
        nth_realtime_delivery(&lines, 3)["t_ms"]
            .as_i64()
            .expect("t")
    );

    // An ack out of turn, an unknown action and a target naming nobody
    // the scenario knows.
    for (answer, want) in [
        (
            r#"[{"type": "ack", "seq": 99}]"#,
            "ack for seq 99 while waiting for seq ",
        ),
        (
            r#"[{"type": "action", "action": "explode_user", "target": {"user": "x"}}]"#,
            "unknown action `explode_user`",
        ),
        (
            r#"[{"type": "action", "action": "freeze_user", "target": {"user": "nobody@example.com"}}]"#,
            "unknown user `nobody@example.com`",
        ),
        (r#"[{"type": "verdict"}]"#, "unknown type `verdict`"),
    ] {
        let body = format!(
            r#"{LOOP}
def answer(msg):
    return {answer} if msg["type"] == "event" else []
main(answer)
"#
        );
        let cmd = script(dir.path(), "bad.py", &body);
        let (summary, _, _) = run_external(&sc, &cmd, 10_000);
        let fault = summary.detector_fault.expect("a fault");
        assert_eq!(fault.fault.kind, "malformed", "{answer}");
        assert!(
            fault.fault.detail.contains(want),
            "{answer}: {}",
            fault.fault.detail
        );
        assert!(summary.actions.is_empty(), "{answer}");
    }
}

#[test]
fn the_python_example_detects_the_replayed_token_and_contains_it_through_the_door() {
    let cmd = "python3 examples/detectors/new_ip_detector.py";
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sc = small_unscripted();
    let cmd_abs = format!(
        "python3 {}",
        root.join("examples/detectors/new_ip_detector.py").display()
    );
    let (summary, lines, _) = run_external(&sc, &cmd_abs, 10_000);
    assert!(
        summary.detector_fault.is_none(),
        "{:?}",
        summary.detector_fault
    );
    let verdict = leakdrill::score::score(&sc, &summary);
    let scrape = verdict
        .injections
        .iter()
        .find(|i| i.id == "scrape")
        .expect("scrape");
    assert!(scrape.detected, "{:?}", verdict.injections);
    assert!(scrape.rules.iter().any(|r| r == "new-source-ip"));
    // Its revoke went through the door: logged, effective, and the
    // scrape stopped (verified at the target).
    let revoke = summary
        .actions
        .iter()
        .find(|a| a.action == "revoke_refresh_tokens")
        .expect("the detector's action");
    assert!(revoke.ok, "{revoke:?}");
    assert!(revoke.target.contains("app:warehouse-etl"), "{revoke:?}");
    assert!(
        of_type(&lines, "action")
            .iter()
            .any(|l| l["action"] == "revoke_refresh_tokens" && l["outcome"] == "ok")
    );
    assert!(scrape.contained, "{:?}", verdict.injections);
    assert_eq!(verdict.false_positives.count, 0);

    // The catalogue scenario the example's README runs: detected within
    // the two hours asked; the scenario's own playbook still runs too.
    let out = tempfile::tempdir().expect("tmp");
    let o = leakdrill(&[
        "run",
        "scenarios/fintech/leaked-refresh-token-ci-log.yaml",
        "--out",
        out.path().to_str().expect("utf8"),
        "--detector",
        cmd,
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("report.json")).expect("report"),
    )
    .expect("json");
    let detect = report["expectations"]
        .as_array()
        .expect("expectations")
        .iter()
        .find(|e| e["id"] == "detect_within")
        .expect("detect_within");
    assert_eq!(detect["met"], true, "{detect}");
}

#[test]
fn detector_and_rules_are_exclusive_and_a_timeout_needs_a_detector() {
    let o = leakdrill(&[
        "run",
        "tests/data/scenarios/small.yaml",
        "--rules",
        "rules",
        "--detector",
        "true",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = leakdrill(&[
        "run",
        "tests/data/scenarios/small.yaml",
        "--detector-timeout-ms",
        "5",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
