//! Reports of `leakdrill run --format … --out DIR`: which files a run
//! writes, JUnit with one test case per expectation, Markdown for tickets,
//! one self-contained HTML file with an SVG timeline that a real browser
//! renders, and the same bytes on every run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{code, leakdrill, stderr, stdout};

const SCENARIO: &str = "scenarios/hr/over-permissive-bulk-export.yaml";
const TITLE: &str = "Payroll vendor's integration password leaked in a CI log";

/// Runs the HR scenario (relative path, as a user would) into a fresh
/// directory with `extra` arguments.
fn run_into(extra: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut args = vec!["run", SCENARIO, "--out", dir.path().to_str().expect("utf8")];
    args.extend_from_slice(extra);
    let o = leakdrill(&args);
    (dir, o)
}

/// One run with every format (a comma list and a repeat), shared by the
/// tests that only read its files.
fn passed_run() -> &'static (tempfile::TempDir, Output) {
    static RUN: OnceLock<(tempfile::TempDir, Output)> = OnceLock::new();
    RUN.get_or_init(|| {
        let r = run_into(&["--format", "junit,markdown,html", "--format", "json"]);
        assert_eq!(code(&r.1), 0, "{}{}", stdout(&r.1), stderr(&r.1));
        r
    })
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn junit(dir: &Path) -> quick_junit::Report {
    quick_junit::Report::deserialize_from_str(&read(dir, "report.junit.xml")).expect("valid JUnit")
}

#[test]
fn run_writes_summary_log_and_one_file_per_format() {
    let (dir, o) = passed_run();
    for f in [
        "runlog.ndjson",
        "summary.json",
        "report.json",
        "report.junit.xml",
        "report.md",
        "report.html",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing: {}", stdout(o));
    }
    let wrote = stdout(o);
    let wrote = wrote.split("wrote to ").nth(1).expect("the files written");
    for f in [
        "report.json",
        "report.junit.xml",
        "report.md",
        "report.html",
    ] {
        assert!(wrote.contains(f), "{f} not listed: {wrote}");
    }
    // Text goes to stdout, never to a file.
    assert!(!dir.path().join("report.txt").exists());
    // Only what was asked for: --format replaces the default (text, json).
    let (only, o) = run_into(&["--format", "markdown"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(only.path().join("report.md").is_file());
    assert!(only.path().join("summary.json").is_file());
    assert!(!only.path().join("report.json").exists());
    assert!(!only.path().join("report.html").exists());
    assert!(
        stdout(&o).contains("verdict: all expectations met"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let (_dir, o) = run_into(&["--format", "junit,pdf"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("pdf"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("markdown"),
        "lists the formats: {}",
        stderr(&o)
    );
}

#[test]
fn report_json_names_the_run_without_anything_machine_specific() {
    let (dir, _) = passed_run();
    let json: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["scenario"], "hr-over-permissive-bulk-export");
    assert_eq!(
        json["reproduce"],
        format!("leakdrill run {SCENARIO} --seed 42")
    );
    let text = read(dir.path(), "report.json");
    let tmp = dir.path().to_str().expect("utf8");
    assert!(!text.contains(tmp), "no output path in report.json");
    assert!(
        !text.contains(env!("CARGO_MANIFEST_DIR")),
        "no absolute path"
    );
}

#[test]
fn junit_has_one_test_case_per_expectation_and_fails_only_the_missed() {
    let (dir, _) = passed_run();
    let json: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "report.json")).expect("json");
    let expected: Vec<&str> = json["expectations"]
        .as_array()
        .expect("expectations")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(expected.len(), 4, "{expected:?}");
    let report = junit(dir.path());
    assert_eq!(report.test_suites.len(), 1);
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "hr-over-permissive-bulk-export");
    assert_eq!((report.tests, report.failures, report.errors), (4, 0, 0));
    let names: Vec<&str> = suite.test_cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, expected);
    for c in &suite.test_cases {
        assert_eq!(
            c.classname.as_ref().map(|x| x.as_str()),
            Some("hr-over-permissive-bulk-export")
        );
        assert_eq!(c.time, Some(Duration::ZERO), "no wall time");
        assert!(matches!(
            c.status,
            quick_junit::TestCaseStatus::Success { .. }
        ));
    }
    assert!(report.timestamp.is_none() && suite.timestamp.is_none());

    // No rules: nothing is detected or contained in time, exit 10, and the
    // missed expectations are failures carrying limit, actual and margin.
    let empty = tempfile::tempdir().expect("tmp");
    let (dir, o) = run_into(&[
        "--format",
        "junit",
        "--rules",
        empty.path().to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 10, "{}", stdout(&o));
    let report = junit(dir.path());
    let suite = &report.test_suites[0];
    assert_eq!(suite.test_cases.len(), 4);
    let failed: Vec<(&str, String)> = suite
        .test_cases
        .iter()
        .filter_map(|c| match &c.status {
            quick_junit::TestCaseStatus::NonSuccess {
                kind: quick_junit::NonSuccessKind::Failure,
                message,
                ..
            } => Some((
                c.name.as_str(),
                message
                    .as_ref()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(report.failures, failed.len());
    let detect = failed
        .iter()
        .find(|(n, _)| *n == "detect_within")
        .expect("detect_within failed");
    assert_eq!(
        detect.1,
        "detect_within missed: limit 30m00s, actual never, margin -"
    );
    for (_, m) in &failed {
        assert!(
            m.contains("limit ") && m.contains("actual ") && m.contains("margin "),
            "{m}"
        );
    }
    // The verdict agrees with the test cases.
    assert!(
        stdout(&o).contains("MISSED detect_within"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn markdown_has_the_verdict_the_tables_and_the_reproduce_command() {
    let (dir, _) = passed_run();
    let md = read(dir.path(), "report.md");
    assert!(md.starts_with("# Payroll vendor's integration"), "{md}");
    assert!(md.contains("**Verdict: all expectations met**"), "{md}");
    for table in [
        "| injection | kind | detected | TTD | TTC | exposed |",
        "| data class | records |",
        "| jurisdiction | records | subjects |",
        "| expectation | result | limit | actual | margin |",
        "| obligation | recipient | due (local) | status | margin | verification |",
        "| action | target | triggered | effective | attempts | outcome |",
    ] {
        assert!(md.contains(table), "{table} missing:\n{md}");
    }
    assert!(md.contains("## Money at stake (estimate)"), "{md}");
    assert!(
        md.contains("| us_ca_1798_82"),
        "the CCPA/California clock: {md}"
    );
    assert!(
        md.contains(&format!("leakdrill run {SCENARIO} --seed 42")),
        "{md}"
    );
    insta::assert_snapshot!("report-hr-over-permissive-bulk-export-md", md);
}

/// `src`/`href` attribute values of an HTML document (a small scan, enough
/// for the report's own markup).
fn resource_refs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=", "href=", "xlink:href="] {
        let mut rest = html;
        while let Some(k) = rest.find(attr) {
            rest = &rest[k + attr.len()..];
            let q = rest.chars().next().unwrap_or(' ');
            let v: String = if q == '"' || q == '\'' {
                rest[1..].chars().take_while(|c| *c != q).collect()
            } else {
                rest.chars()
                    .take_while(|c| !c.is_whitespace() && *c != '>')
                    .collect()
            };
            out.push(v);
        }
    }
    out
}

#[test]
fn html_is_one_self_contained_file_with_an_svg_timeline() {
    let (dir, _) = passed_run();
    let html = read(dir.path(), "report.html");
    for r in resource_refs(&html) {
        assert!(
            !r.starts_with("http://") && !r.starts_with("https://") && !r.starts_with("//"),
            "external resource {r}"
        );
    }
    assert!(!html.contains("<script"), "no script");
    assert!(
        !html.contains("url(http") && !html.contains("@import"),
        "no external CSS"
    );
    assert!(!html.contains("<link"), "no linked stylesheet");
    assert_eq!(html.matches("<svg").count(), 1, "one SVG");
    assert_eq!(html.matches("<g class=\"lane\"").count(), 5, "five lanes");
    for lane in ["attack", "alerts", "actions", "telemetry", "deadlines"] {
        assert!(
            html.contains(&format!("data-lane=\"{lane}\"")),
            "{lane} lane"
        );
    }
    // User text is escaped: the title's apostrophe, and no raw markup.
    assert!(
        html.contains("Payroll vendor&#39;s integration"),
        "escaped title"
    );
    assert!(html.contains("<rect class=\"attack\""), "an attack bar");
    assert!(html.contains("<line class=\"alert\""), "alert ticks");
    assert!(html.contains("class=\"realtime\""), "delivery histogram");
    assert!(html.contains("<path class=\"deadline"), "deadline markers");
    assert!(html.contains("<td class=\"good\">met</td>"));
}

/// `/usr/bin/chromium`, or why not. Under `CI=true` a missing browser fails.
fn chromium() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/chromium");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and /usr/bin/chromium is missing: run tests/clients/setup.sh (apt-get install -y chromium)"
    );
    eprintln!("skipping: /usr/bin/chromium is missing (apt-get install -y chromium)");
    None
}

/// `chromium --headless --dump-dom file://…`, killed after 60 s.
// A watchdog on a real browser process: wall time is the point here.
#[allow(clippy::disallowed_methods)]
fn dump_dom(browser: &Path, file: &Path) -> String {
    let profile = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("wait") {
            Some(status) => {
                assert!(status.success(), "chromium failed: {status}");
                break;
            }
            None if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 60 s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    reader.join().expect("reader")
}

#[test]
fn html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let (dir, _) = passed_run();
    let dom = dump_dom(&browser, &dir.path().join("report.html"));
    assert!(dom.contains(TITLE), "title rendered: {dom}");
    assert!(dom.contains("<svg"), "{dom}");
    assert_eq!(dom.matches("<g class=\"lane\"").count(), 5, "{dom}");
    assert!(dom.contains("<rect class=\"attack\""), "{dom}");
    assert!(dom.contains("Verdict: all expectations met"), "{dom}");
}

#[test]
fn two_runs_write_identical_reports() {
    let (a, _) = passed_run();
    let (b, o) = run_into(&["--format", "json,junit,markdown,html"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in [
        "report.json",
        "report.junit.xml",
        "report.md",
        "report.html",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(f)).expect("a"),
            std::fs::read(b.path().join(f)).expect("b"),
            "{f} differs between runs"
        );
    }
}

#[test]
fn the_terminal_summary_fits_80_columns_and_has_no_colour_in_a_pipe() {
    let (_, o) = passed_run();
    let out = stdout(o);
    assert!(!out.contains('\x1b'), "no colour when stdout is not a TTY");
    for line in out.lines() {
        // The output directory is the caller's path and may be long.
        if line.starts_with("  wrote to ") {
            continue;
        }
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(out.contains("verdict: all expectations met"), "{out}");
    // Too long for one line: a shell line continuation, still one command.
    assert!(
        out.contains(&format!(
            "reproduce: leakdrill run \\\n    {SCENARIO} --seed 42"
        )),
        "{out}"
    );
}
