//! `leakdrill suite` and `merge`: exit codes (0 met, 10 missed, 11
//! regression), output independent of `--jobs` and partitioning, the
//! baseline comparison, JUnit that parses, and the built-in catalogue
//! compiled in complete.

use std::path::Path;

use crate::support::*;

/// Three short catalogue scenarios (16–24 h simulated).
const SMALL: [&str; 3] = [
    "scenarios/ecommerce/token-replay-revoke-access-token.yaml",
    "scenarios/ecommerce/sandbox-refresh-unmasked.yaml",
    "scenarios/fintech/soar-playbook-token-replay.yaml",
];

/// `suite SMALL… EXTRA…`; the JSON written to `json` is returned.
fn suite(json: &Path, extra: &[&str]) -> (std::process::Output, String) {
    let mut args = vec!["suite", "--quiet", "--json", json.to_str().expect("utf-8")];
    args.extend(SMALL);
    args.extend(extra);
    let o = leakdrill(&args);
    let text = std::fs::read_to_string(json).unwrap_or_default();
    (o, text)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn all_met_exits_0_and_the_output_does_not_depend_on_jobs() {
    let dir = tempfile::tempdir().expect("tmp");
    let junit = dir.path().join("suite.xml");
    let (one, json_one) = suite(
        &dir.path().join("one.json"),
        &["--jobs", "1", "--junit", junit.to_str().expect("utf-8")],
    );
    assert_eq!(code(&one), 0, "{}{}", stdout(&one), stderr(&one));
    let (two, json_two) = suite(&dir.path().join("two.json"), &["--jobs", "2"]);
    assert_eq!(code(&two), 0);
    assert_eq!(json_one, json_two, "--jobs changes nothing");
    assert_eq!(stdout(&one), stdout(&two), "nor the scorecard");

    let v: serde_json::Value = serde_json::from_str(&json_one).expect("json");
    assert_eq!(v["totals"]["cases"], 3);
    assert_eq!(v["totals"]["passed"], 3);
    let first = &v["cases"][0];
    assert_eq!(first["path"], SMALL[1], "sorted by path");
    assert_eq!(
        first["reproduce"],
        format!("leakdrill run {} --seed 42", SMALL[1])
    );
    assert!(!json_one.contains("/tmp") && !json_one.contains(env!("CARGO_MANIFEST_DIR")));
    let card = stdout(&one);
    assert!(card.starts_with("scenario "), "{card}");
    assert!(
        card.contains("3 cases: 3 met, 0 missed, 0 errors"),
        "{card}"
    );
    assert!(card.lines().all(|l| l.chars().count() <= 80), "{card}");

    // JUnit: one test case per expectation, all passing.
    let report = quick_junit::Report::deserialize_from_str(&read(&junit)).expect("valid JUnit");
    let expectations: usize = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["expectations"].as_array().expect("list").len())
        .sum();
    assert_eq!(report.tests, expectations);
    assert_eq!(report.failures, 0);
    assert_eq!(report.test_suites.len(), 3, "one suite per scenario file");
}

#[test]
fn missed_expectations_exit_10_and_a_regression_against_the_baseline_exits_11() {
    let dir = tempfile::tempdir().expect("tmp");
    let baseline = dir.path().join("baseline.json");
    let (o, _) = suite(
        &dir.path().join("base.json"),
        &[
            "--baseline",
            baseline.to_str().expect("utf-8"),
            "--update-baseline",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("baseline written to"));

    // The same rules: no change, exit 0.
    let (same, _) = suite(
        &dir.path().join("same.json"),
        &["--baseline", baseline.to_str().expect("utf-8")],
    );
    assert_eq!(code(&same), 0);
    assert!(stdout(&same).contains("no change against the baseline"));

    // No rules at all: every leak is missed (10) ...
    let empty = dir.path().join("no-rules");
    std::fs::create_dir(&empty).expect("mkdir");
    let junit = dir.path().join("missed.xml");
    let (missed, _) = suite(
        &dir.path().join("missed.json"),
        &[
            "--rules",
            empty.to_str().expect("utf-8"),
            "--junit",
            junit.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&missed), 10, "{}", stdout(&missed));
    let card = stdout(&missed);
    assert!(card.contains("MISSED ecommerce-sandbox-refresh-unmasked @42: detect_within"));
    assert!(card.contains(
        "reproduce: leakdrill run scenarios/ecommerce/sandbox-refresh-unmasked.yaml --seed 42"
    ));
    let report = quick_junit::Report::deserialize_from_str(&read(&junit)).expect("valid JUnit");
    assert!(report.failures >= 3, "{}", report.failures);

    // ... and against the baseline it is a regression (11 over 10).
    let (regressed, _) = suite(
        &dir.path().join("regressed.json"),
        &[
            "--rules",
            empty.to_str().expect("utf-8"),
            "--baseline",
            baseline.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&regressed), 11);
    let out = stdout(&regressed);
    let cmp = &out[out.find("against the baseline").expect("comparison")..];
    let cmp = cmp.split_once('\n').expect("lines").1;
    insta::assert_snapshot!("suite-regressions-without-rules", cmp);

    // Compared the other way round, the same differences are improvements.
    let (improved, _) = suite(
        &dir.path().join("improved.json"),
        &[
            "--baseline",
            dir.path().join("missed.json").to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&improved), 0);
    assert!(stdout(&improved).contains("improvements ("));
    assert!(!stdout(&improved).contains("regressions ("));
}

#[test]
fn partitions_merge_into_the_unpartitioned_result() {
    let dir = tempfile::tempdir().expect("tmp");
    let (whole, whole_json) = suite(&dir.path().join("whole.json"), &[]);
    assert_eq!(code(&whole), 0);
    let mut parts = Vec::new();
    for k in 1..=2 {
        let p = dir.path().join(format!("part{k}.json"));
        let (o, text) = suite(&p, &["--partition", &format!("{k}/2")]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(text.contains("\"partition\""));
        assert!(stdout(&o).contains(&format!("(partition {k}/2 of 3 cases)")));
        parts.push(p);
    }
    let merged = dir.path().join("merged.json");
    let o = leakdrill(&[
        "merge",
        parts[1].to_str().expect("utf-8"),
        parts[0].to_str().expect("utf-8"),
        "--json",
        merged.to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(read(&merged), whole_json, "merge = one unpartitioned run");
    assert_eq!(stdout(&o), stdout(&whole), "and the same scorecard");
    // Without --json the merged JSON goes to stdout.
    let o = leakdrill(&[
        "merge",
        parts[0].to_str().expect("utf-8"),
        parts[1].to_str().expect("utf-8"),
    ]);
    assert_eq!(stdout(&o), whole_json);

    // A missing partition is a usage error that says which.
    let o = leakdrill(&["merge", parts[0].to_str().expect("utf-8")]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("partition 2/2 is missing"),
        "{}",
        stderr(&o)
    );
    let o = leakdrill(&[
        "merge",
        parts[0].to_str().expect("utf-8"),
        parts[0].to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("given twice"));
}

#[test]
fn bad_suite_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "id: x\ntitle: t\nfixture: nope\n").expect("write");
    let o = leakdrill(&["suite", "--quiet", bad.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.yaml"), "{}", stderr(&o));
    let o = leakdrill(&["suite", "--partition", "3/2"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("1 ≤ K ≤ N"), "{}", stderr(&o));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = leakdrill(&["suite", empty.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no scenario files"));
    let o = leakdrill(&["merge", bad.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not the JSON of `leakdrill suite --json`"));
}

#[test]
fn the_builtin_catalogue_is_every_file_in_scenarios() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = Vec::new();
    for dir in ["ecommerce", "fintech", "hr"] {
        for e in std::fs::read_dir(root.join("scenarios").join(dir)).expect("dir") {
            let name = e.expect("entry").file_name().into_string().expect("utf-8");
            on_disk.push(format!("scenarios/{dir}/{name}"));
        }
    }
    on_disk.sort();
    let built_in: Vec<String> = leakdrill::suite::BUILTIN
        .iter()
        .map(|(p, text)| {
            assert_eq!(
                &read(&root.join(p)),
                text,
                "{p} is compiled in as it is on disk"
            );
            (*p).to_owned()
        })
        .collect();
    assert_eq!(built_in, on_disk);
    let plan = leakdrill::suite::plan_builtin(2).expect("valid catalogue");
    assert_eq!(plan.cases.len(), 2 * on_disk.len());
}

#[test]
fn the_ci_examples_use_flags_the_cli_has() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["docs/ci/github-actions.yml", "docs/ci/gitlab-ci.yml"] {
        // Shell continuation lines joined: one command per line.
        let text = read(&root.join(file)).replace("\\\n", " ");
        let mut checked = 0;
        for cmd in ["suite", "merge"] {
            let help = stdout(&leakdrill(&[cmd, "--help"]));
            for line in text
                .lines()
                .filter(|l| l.contains(&format!("leakdrill {cmd} ")))
            {
                for flag in line.split_whitespace().filter(|w| w.starts_with("--")) {
                    assert!(
                        help.contains(flag),
                        "{file}: `{flag}` is not a `{cmd}` flag"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 6, "{file}: {checked} flags");
        assert!(text.contains("--partition") && text.contains("leakdrill merge"));
    }
}

#[test]
fn an_external_detector_runs_once_per_case_and_a_crash_fails_the_case() {
    let dir = tempfile::tempdir().expect("tmp");
    let json = dir.path().join("crash.json");
    let o = leakdrill(&[
        "suite",
        "--quiet",
        "--detector",
        "exit 3",
        "--json",
        json.to_str().expect("utf-8"),
        SMALL[1],
    ]);
    assert_eq!(code(&o), 10, "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&read(&json)).expect("json");
    let case = &v["cases"][0];
    assert_eq!(case["passed"], false);
    assert!(
        case["expectations"]
            .as_array()
            .expect("list")
            .iter()
            .any(|x| x["id"] == "detector_healthy" && x["met"] == false),
        "{case}"
    );
    assert!(stdout(&o).contains("detector_healthy"), "{}", stdout(&o));
}
