//! `leakdrill trace`: a leaked file maps back to exactly the records,
//! subjects, jurisdictions and data classes the generator says it holds.
//! Expected values come from the library (`pii::Plan`), never hard-coded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use leakdrill::model::Org;
use leakdrill::pii::Plan;
use leakdrill::seed::Seed;
use serde_json::Value;

use crate::support::*;

const FIXTURE: &str = "fintech-wealth";
const SUBJECTS: u64 = 200;

/// `org generate` into `dir` with the CLI; returns the CSV text per object.
fn generate(dir: &Path, seed: u64) -> BTreeMap<String, String> {
    let o = leakdrill(&[
        "org",
        "generate",
        "--fixture",
        FIXTURE,
        "--records",
        &SUBJECTS.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    org(FIXTURE)
        .objects
        .iter()
        .map(|ob| {
            let text = std::fs::read_to_string(dir.join(format!("{}.csv", ob.name))).unwrap();
            (ob.name.clone(), text)
        })
        .collect()
}

/// Keeps `rows` data rows and only the `cols` columns (all when empty).
fn cut(csv: &str, rows: std::ops::Range<usize>, cols: &[&str]) -> String {
    let split = |l: &str| -> Vec<String> {
        l.split("\",\"")
            .map(|c| c.trim_matches('"').to_owned())
            .collect()
    };
    let mut lines = csv.lines();
    let header = split(lines.next().unwrap());
    let keep: Vec<usize> = if cols.is_empty() {
        (0..header.len()).collect()
    } else {
        cols.iter()
            .map(|c| header.iter().position(|h| h == c).unwrap())
            .collect()
    };
    let pick = |cells: &[String]| {
        keep.iter()
            .map(|i| format!("\"{}\"", cells[*i]))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = pick(&header) + "\n";
    for l in lines.skip(rows.start).take(rows.len()) {
        out += &pick(&split(l));
        out.push('\n');
    }
    out
}

fn trace_json(args: &[&str]) -> Value {
    let mut a = vec!["trace"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "json"]);
    let o = leakdrill(&a);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

fn obj(org: &Org, name: &str) -> usize {
    org.objects.iter().position(|o| o.name == name).unwrap()
}

/// (subject Id, jurisdiction) of each record index of `object`, by the generator.
fn expected_subjects(
    plan: &Plan<'_>,
    object: usize,
    rows: std::ops::Range<u64>,
) -> BTreeMap<String, String> {
    rows.map(|i| {
        let (p, s) = plan.subject_of(object, i).unwrap();
        (plan.record_id(p, s), plan.subject_jurisdiction(p, s).code())
    })
    .collect()
}

fn subjects_of(v: &Value) -> BTreeMap<String, String> {
    v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["jurisdiction"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn csv_export_maps_to_the_generators_subjects_jurisdictions_and_classes() {
    let dir = tempfile::tempdir().unwrap();
    let csv = generate(dir.path(), 9);
    let org = org(FIXTURE);
    let plan = Plan::new(&org, SUBJECTS, Seed(9)).unwrap();
    let contact = obj(&org, "Contact");

    // Whole rows: every class of Contact's fields, basis `fields`.
    let leak = dir.path().join("leak.csv");
    std::fs::write(&leak, cut(&csv["Contact"], 10..25, &[])).unwrap();
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE]);
    assert_eq!(v["records_found"], 15);
    assert_eq!(v["seed"], 9, "seed inferred from the watermarks");
    assert_eq!(v["seed_source"], "watermarks");
    assert_eq!(subjects_of(&v), expected_subjects(&plan, contact, 10..25));
    let all: BTreeSet<String> = org.objects[contact]
        .fields
        .iter()
        .map(|f| f.class.as_str().to_owned())
        .collect();
    let c = &v["by_object"]["Contact"];
    assert_eq!(c["classes_basis"], "fields");
    assert_eq!(strings(&c["classes"]), all);
    let mut by_j: BTreeMap<String, u64> = BTreeMap::new();
    for j in expected_subjects(&plan, contact, 10..25).values() {
        *by_j.entry(j.clone()).or_default() += 1;
    }
    for (j, n) in &by_j {
        assert_eq!(v["by_jurisdiction"][j]["subjects"], *n, "{j}");
    }

    // Three columns: only those fields' classes (Email via its plus-tag too).
    std::fs::write(
        &leak,
        cut(&csv["Contact"], 0..5, &["Id", "Email", "SSN__c"]),
    )
    .unwrap();
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE, "--seed", "9"]);
    assert_eq!(v["records_found"], 5);
    let want: BTreeSet<String> = ["Email", "SSN__c"]
        .iter()
        .map(|f| {
            org.objects[contact]
                .field(f)
                .unwrap()
                .class
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(strings(&v["by_object"]["Contact"]["classes"]), want);
    assert_eq!(
        strings(&v["by_object"]["Contact"]["fields"]),
        strings(&serde_json::json!(["Email", "SSN__c"]))
    );
    assert_eq!(
        v["by_class"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        want
    );
    assert_eq!(subjects_of(&v), expected_subjects(&plan, contact, 0..5));

    // A bare list of emails (no header, no keys): the plus-tag still traces,
    // and the field is known from where the watermark sits.
    let emails: String = cut(&csv["Contact"], 0..3, &["Email"])
        .lines()
        .skip(1)
        .map(|l| format!("leaked: {}\n", l.trim_matches('"')))
        .collect();
    std::fs::write(&leak, emails).unwrap();
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE]);
    assert_eq!(v["records_found"], 3);
    assert_eq!(
        strings(&v["by_object"]["Contact"]["fields"]),
        strings(&serde_json::json!(["Email"]))
    );
}

#[test]
fn ids_trace_an_export_without_watermarks() {
    let dir = tempfile::tempdir().unwrap();
    let csv = generate(dir.path(), 11);
    let org = org(FIXTURE);
    let plan = Plan::new(&org, SUBJECTS, Seed(11)).unwrap();
    let fa = obj(&org, "FinancialAccount__c");
    let leak = dir.path().join("accounts.csv");
    std::fs::write(
        &leak,
        cut(
            &csv["FinancialAccount__c"],
            0..40,
            &["Id", "Account_Number__c", "Balance__c"],
        ),
    )
    .unwrap();
    let text = std::fs::read_to_string(&leak).unwrap();
    assert!(!text.contains(",\"ld"), "watermarks stripped");
    let v = trace_json(&[
        leak.to_str().unwrap(),
        "--fixture",
        FIXTURE,
        "--seed",
        "11",
        "--records",
        &SUBJECTS.to_string(),
    ]);
    assert_eq!(v["records_found"], 40);
    let o = &v["by_object"]["FinancialAccount__c"];
    assert_eq!(
        (o["by_watermark"].as_u64(), o["by_id_only"].as_u64()),
        (Some(0), Some(40))
    );
    assert_eq!(subjects_of(&v), expected_subjects(&plan, fa, 0..40));
    let want: BTreeSet<String> = ["Account_Number__c", "Balance__c"]
        .iter()
        .map(|f| org.objects[fa].field(f).unwrap().class.as_str().to_owned())
        .collect();
    assert_eq!(strings(&o["classes"]), want);
    assert_eq!(v["records_unmapped"], 0);

    // Without --records the related records are found but not mapped.
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE, "--seed", "11"]);
    assert_eq!(v["records_found"], 40);
    assert_eq!(v["records_unmapped"], 40);
    assert_eq!(v["by_jurisdiction"]["unknown"]["records"], 40);
    // Without a seed (no watermark to infer it from) the Ids cannot be decoded.
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE]);
    assert_eq!(v["records_found"], 0);
    assert_eq!(v["seed_source"], "none");
}

#[test]
fn watermarks_of_another_seed_are_reported_not_dropped() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ca, cb) = (generate(a.path(), 21), generate(b.path(), 22));
    let mixed = cut(&ca["Contact"], 0..6, &[]) + &cut(&cb["Contact"], 0..4, &[]);
    let leak = a.path().join("mixed.csv");
    std::fs::write(&leak, mixed).unwrap();
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE, "--seed", "21"]);
    assert_eq!(v["records_found"], 6);
    let f = v["foreign_watermarks"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["seed"], 22);
    assert_eq!(f[0]["object"], "Contact");
    assert_eq!(f[0]["records"], 4);
    assert_eq!(f[0]["reason"], "different seed");
    // Inferred: the majority seed wins, the other is reported.
    let v = trace_json(&[leak.to_str().unwrap(), "--fixture", FIXTURE]);
    assert_eq!(v["seed"], 21);
    assert_eq!(v["foreign_watermarks"][0]["seed"], 22);
    let o = leakdrill(&[
        "trace",
        leak.to_str().unwrap(),
        "--fixture",
        FIXTURE,
        "--seed",
        "22",
    ]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("seed 21"), "{}", stdout(&o));
}

#[test]
fn an_artifact_without_records_exits_zero_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    // Not UTF-8, an almost-token, an Id-shaped word with a bad suffix.
    std::fs::write(
        &f,
        b"meeting notes \xff\xfe ld0000000000000000000000000 0035e0000000001ZZZ\n",
    )
    .unwrap();
    let o = leakdrill(&["trace", f.to_str().unwrap(), "--fixture", FIXTURE]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("no records of this org found"),
        "{}",
        stdout(&o)
    );
    let v = trace_json(&[f.to_str().unwrap(), "--fixture", FIXTURE, "--seed", "1"]);
    assert_eq!(v["records_found"], 0);
    assert_eq!(v["subjects"].as_array().unwrap().len(), 0);
}

#[test]
fn input_errors_exit_2_with_a_hint() {
    let o = leakdrill(&["trace", "/nonexistent/leak.csv", "--fixture", FIXTURE]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot read artifact /nonexistent/leak.csv"),
        "{}",
        stderr(&o)
    );
    let o = leakdrill(&["trace", "tests", "--fixture", FIXTURE]);
    assert_eq!(code(&o), 2, "a directory");
    let o = leakdrill(&["trace", "Cargo.toml", "--fixture", "fintech-welth"]);
    assert_eq!(code(&o), 2);
    // No fixture given and none to infer from.
    let o = leakdrill(&["trace", "Cargo.toml"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("hint: pass --fixture"),
        "{}",
        stderr(&o)
    );
    let o = leakdrill(&["trace", "Cargo.toml", "--run", "/nonexistent/run"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--out DIR of `leakdrill run`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn json_report_has_the_stable_schema() {
    let dir = tempfile::tempdir().unwrap();
    let csv = generate(dir.path(), 5);
    let leak = dir.path().join("leak.csv");
    std::fs::write(&leak, cut(&csv["KYC_Document__c"], 0..3, &[])).unwrap();
    // No --fixture: the key prefix a0K belongs to one built-in fixture only.
    let v = trace_json(&[leak.to_str().unwrap()]);
    for k in [
        "schema_version",
        "artifact",
        "records_found",
        "subjects",
        "by_object",
        "by_jurisdiction",
        "by_class",
        "foreign_watermarks",
        "unmatched_ids",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["fixture"], FIXTURE);
    assert_eq!(v["fixture_source"], "watermarks");
    // Three documents, and the three Contacts their lookup column names:
    // found by Id only, with no classes of their own.
    assert_eq!(v["by_object"]["KYC_Document__c"]["records"], 3);
    assert_eq!(v["by_object"]["Contact"]["classes_basis"], "id-only");
    assert_eq!(v["by_object"]["Contact"]["classes"], serde_json::json!([]));
    assert_eq!(v["records_found"], 6);
    // Same input, same bytes.
    let again = trace_json(&[leak.to_str().unwrap()]);
    assert_eq!(v, again);
}

#[test]
fn a_run_directory_supplies_fixture_seed_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = leakdrill(&[
        "run",
        "scenarios/fintech/leaked-refresh-token-ci-log.yaml",
        "--seed",
        "7",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(matches!(code(&o), 0 | 10), "{}", stderr(&o));
    let sc = leakdrill::scenario::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/fintech/leaked-refresh-token-ci-log.yaml"
    )))
    .unwrap();
    // The run's org: regenerate a few related records without watermarks.
    let org = &sc.org;
    let plan = Plan::new(org, sc.records, Seed(7)).unwrap();
    let fa = obj(org, "FinancialAccount__c");
    let leak = dir.path().join("ids.txt");
    let ids: String = (0..12)
        .map(|i| format!("{} ", plan.record_id(fa, i * 3)))
        .collect();
    std::fs::write(&leak, ids).unwrap();
    let v = trace_json(&[leak.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_eq!(v["seed"], 7);
    assert_eq!(v["seed_source"], "run");
    assert_eq!(v["org_records"], sc.records);
    assert_eq!(v["records_found"], 12);
    assert_eq!(
        v["by_object"]["FinancialAccount__c"]["classes_basis"],
        "object-level"
    );
    let want: BTreeMap<String, String> = (0..12)
        .map(|i| {
            let (p, s) = plan.subject_of(fa, i * 3).unwrap();
            (plan.record_id(p, s), plan.subject_jurisdiction(p, s).code())
        })
        .collect();
    assert_eq!(subjects_of(&v), want);
    let o = leakdrill(&[
        "trace",
        leak.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
    ]);
    assert!(
        stdout(&o).contains("classes: object-level (fields not identified)"),
        "{}",
        stdout(&o)
    );
    // The run log itself names records read (telemetry): traced too.
    let v = trace_json(&[
        run.join("runlog.ndjson").to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
    ]);
    assert!(v["records_found"].as_u64().unwrap() > 0);
    assert_eq!(v["unmatched_ids_total"], 0);
}

#[test]
fn dash_reads_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mark = leakdrill::watermark::encode(Seed(3), "a0K", 2).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakdrill"))
        .args(["trace", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "GET /doc?id=x&wm={mark} 200").unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["fixture"].as_str(), v["seed"].as_u64()),
        (Some(FIXTURE), Some(3))
    );
    assert_eq!(v["by_object"]["KYC_Document__c"]["records"], 1);
}
