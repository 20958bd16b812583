//! The CLI contract: documented exit codes, errors on stderr with file:line
//! and hints, machine-readable output that parses.

use crate::support::*;

#[test]
fn help_and_version_exit_zero_and_document_exit_codes() {
    let o = leakdrill(&["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("Exit codes:") && stdout(&o).contains("10  expectations missed"));
    let o = leakdrill(&["--version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("leakdrill "));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(code(&leakdrill(&["lint"])), 2, "missing --fixture");
    assert_eq!(code(&leakdrill(&["frobnicate"])), 2);
    let o = leakdrill(&["lint", "--fixture", "fintech-welth"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("did you mean `fintech-wealth`?"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        code(&leakdrill(&[
            "lint",
            "--fixture",
            "hr-ccpa",
            "--fail-on",
            "severe"
        ])),
        2
    );
}

#[test]
fn invalid_fixture_files_exit_3_listing_every_error() {
    let path = data("broken/references.yaml");
    let o = leakdrill(&["lint", "--fixture", path.to_str().unwrap()]);
    assert_eq!(code(&o), 3);
    let err = stderr(&o);
    assert!(
        err.contains("references.yaml:19:13: error: unknown parent object `Contact`"),
        "{err}"
    );
    assert!(
        err.lines().filter(|l| l.contains(": error: ")).count() >= 15,
        "{err}"
    );
}

#[test]
fn lint_exit_code_follows_fail_on() {
    assert_eq!(
        code(&leakdrill(&["lint", "--fixture", "fintech-wealth"])),
        10,
        "high findings fail by default"
    );
    assert_eq!(
        code(&leakdrill(&[
            "lint",
            "--fixture",
            "fintech-wealth",
            "--fail-on",
            "critical"
        ])),
        0
    );
    assert_eq!(
        code(&leakdrill(&[
            "lint",
            "--fixture",
            "global-ecommerce",
            "--fail-on",
            "critical"
        ])),
        10
    );
    let o = leakdrill(&[
        "lint",
        "--fixture",
        data("minimal.yaml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let findings: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("lint JSON");
    let max = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        !max.iter().any(|s| s == "high" || s == "critical"),
        "{max:?}"
    );
    assert_eq!(code(&o), 0);
    for f in findings.as_array().unwrap() {
        for key in ["rule", "severity", "location", "message", "fix"] {
            assert!(f[key].is_string(), "finding lacks {key}: {f}");
        }
    }
}

#[test]
fn org_show_and_generate_work_end_to_end() {
    let o = leakdrill(&["org", "show", "--fixture", "hr-ccpa", "--records", "200"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.contains("Employee__c") && out.contains("people.analytics@sierra-ridge.example.com"),
        "{out}"
    );
    let o = leakdrill(&["org", "show", "--fixture", "hr-ccpa", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("show JSON");
    assert_eq!(v["fixture"], "hr-ccpa");
    assert_eq!(v["subjects"], 1000);

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("org");
    let o = leakdrill(&[
        "org",
        "generate",
        "--fixture",
        "fintech-wealth",
        "--records",
        "300",
        "--seed",
        "11",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("for 300 data subjects (seed 11)"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 11);
    assert_eq!(manifest["objects"][0]["records"], 300);
}

#[test]
fn special_files_are_refused_without_reading_them() {
    for path in ["/dev/zero", "/tmp"] {
        let o = leakdrill(&["lint", "--fixture", path]);
        assert_eq!(code(&o), 2, "{path}: {}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
}

#[test]
fn generate_refuses_to_mix_orgs_in_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("org");
    let out_s = out.to_str().unwrap();
    let ok = leakdrill(&[
        "org",
        "generate",
        "--fixture",
        "fintech-wealth",
        "--records",
        "20",
        "--seed",
        "1",
        "--out",
        out_s,
        "-q",
    ]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    // Same fixture again: overwrites its own files.
    assert_eq!(
        code(&leakdrill(&[
            "org",
            "generate",
            "--fixture",
            "fintech-wealth",
            "--records",
            "30",
            "--seed",
            "1",
            "--out",
            out_s,
            "-q"
        ])),
        0
    );
    // Another fixture into the same directory: refused, nothing written.
    let o = leakdrill(&[
        "org",
        "generate",
        "--fixture",
        "hr-ccpa",
        "--records",
        "20",
        "--seed",
        "1",
        "--out",
        out_s,
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("already holds `Branch__c.csv`"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("Employee__c.csv").exists());
    // A file as --out.
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "x").unwrap();
    let o = leakdrill(&[
        "org",
        "generate",
        "--fixture",
        "hr-ccpa",
        "--records",
        "1",
        "--seed",
        "1",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is not a directory"), "{}", stderr(&o));
    assert_eq!(
        code(&leakdrill(&[
            "org",
            "generate",
            "--fixture",
            "hr-ccpa",
            "--records",
            "1",
            "--seed",
            "1",
            "--out",
            out_s,
            "--threads",
            "0"
        ])),
        2
    );
}

#[test]
fn run_scores_the_rules_under_test_and_exits_10_when_an_expectation_is_missed() {
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/hr/over-permissive-bulk-export.yaml");
    let scenario = scenario.to_str().expect("utf8");
    let out = tempfile::tempdir().expect("tmp");
    let dir = out.path().to_str().expect("utf8");
    // The built-in pack detects it in time.
    let o = leakdrill(&["run", scenario, "--out", dir]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("verdict: all expectations met"),
        "{}",
        stdout(&o)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["passed"], true);
    assert!(report["alerts"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(
        report["injections"]
            .as_array()
            .expect("injections")
            .iter()
            .any(|i| i["detected"] == true)
    );
    // The bulk export's records, by class and by the subjects' jurisdiction
    // (the HR fixture's people are mostly Californians).
    let export = report["injections"]
        .as_array()
        .expect("injections")
        .iter()
        .find(|i| i["id"] == "export")
        .expect("export step");
    let x = &export["records_exposed"];
    let total = x["total"].as_u64().expect("total");
    assert!(total > 0, "{x}");
    let by_j: u64 = x["by_jurisdiction"]
        .as_object()
        .expect("by_jurisdiction")
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    assert_eq!(by_j, total, "{x}");
    let top = x["by_jurisdiction"]
        .as_object()
        .expect("by_jurisdiction")
        .iter()
        .max_by_key(|(_, n)| n.as_u64())
        .map(|(j, _)| j.clone());
    assert_eq!(top.as_deref(), Some("US-CA"), "{x}");
    assert!(
        x["by_class"]["pii.direct"].as_u64().is_some_and(|n| n > 0),
        "{x}"
    );
    let subjects = report["exposure"]["subjects"].as_u64().expect("subjects");
    assert!(subjects > 0 && subjects <= total, "{}", report["exposure"]);
    assert!(
        stdout(&o).contains("by jurisdiction: US-CA"),
        "{}",
        stdout(&o)
    );
    // No rules: nothing is detected, detect_within is missed, exit 10.
    let empty = tempfile::tempdir().expect("tmp");
    let o = leakdrill(&[
        "run",
        scenario,
        "--out",
        dir,
        "--rules",
        empty.path().to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 10, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("MISSED detect_within"),
        "{}",
        stdout(&o)
    );
    // A broken rule file: exit 3, naming the file.
    std::fs::write(
        empty.path().join("bad.yml"),
        "title: x\ndetection:\n  sel: {a: 1}\n  condition: nope and\n",
    )
    .expect("write");
    let o = leakdrill(&[
        "run",
        scenario,
        "--out",
        dir,
        "--rules",
        empty.path().to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.yml"), "{}", stderr(&o));
}

#[test]
fn a_playbook_contains_on_the_alert_and_removing_its_rule_makes_the_drill_fail() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = root.join("scenarios/fintech/soar-playbook-token-replay.yaml");
    let scenario = scenario.to_str().expect("utf8");
    let out = tempfile::tempdir().expect("tmp");
    let dir = out.path().to_str().expect("utf8");
    let o = leakdrill(&["run", scenario, "--out", dir]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join(name)).expect("file"))
            .expect("json")
    };
    let (summary, report) = (read("summary.json"), read("report.json"));
    let first_alert = summary["alerts"][0]["t_ms"].as_i64().expect("an alert");
    for a in summary["actions"].as_array().expect("actions") {
        assert_eq!(
            a["triggered_ms"].as_i64(),
            Some(first_alert),
            "the playbook fires on the alert: {a}"
        );
    }
    for i in report["injections"].as_array().expect("injections") {
        if let (Some(d), Some(c)) = (i["ttd_ms"].as_i64(), i["ttc_ms"].as_i64()) {
            assert!(d <= c, "contained because detected: {i}");
        }
    }
    // The same pack without the volume rule: no alert, no revoke, exit 10.
    let pack = tempfile::tempdir().expect("tmp");
    for entry in std::fs::read_dir(root.join("rules")).expect("rules") {
        let p = entry.expect("entry").path();
        let name = p
            .file_name()
            .expect("name")
            .to_str()
            .expect("utf8")
            .to_owned();
        if name.ends_with(".yml") && name != "sf_api_query_volume_per_user.yml" {
            std::fs::copy(&p, pack.path().join(&name)).expect("copy");
        }
    }
    let o = leakdrill(&[
        "run",
        scenario,
        "--out",
        dir,
        "--rules",
        pack.path().to_str().expect("utf8"),
    ]);
    assert_eq!(code(&o), 10, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("MISSED contain_within"),
        "{}",
        stdout(&o)
    );
}
