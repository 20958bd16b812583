//! `org generate`: deterministic per seed, independent sub-streams per
//! object, identical whatever the thread count, and a manifest that adds up.

use std::path::Path;

use leakdrill::fixture::load_str;
use leakdrill::generate::generate;
use leakdrill::pii::Plan;
use leakdrill::seed::Seed;

use crate::support::*;

fn gen_into(org: &leakdrill::model::Org, subjects: u64, seed: u64, threads: usize, dir: &Path) {
    let plan = Plan::new(org, subjects, Seed(seed)).expect("plan");
    generate(&plan, dir, threads, &|_, _| {}).expect("generate");
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn same_seed_gives_byte_identical_files_whatever_the_thread_count() {
    let org = org("hr-ccpa");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    gen_into(&org, 20_000, 9, 1, a.path());
    gen_into(&org, 20_000, 9, 3, b.path());
    for o in &org.objects {
        let f = format!("{}.csv", o.name);
        assert!(read(a.path(), &f) == read(b.path(), &f), "{f} differs");
    }
    assert_eq!(
        read(a.path(), "manifest.json"),
        read(b.path(), "manifest.json")
    );
}

#[test]
fn different_seeds_give_different_data_but_the_same_counts() {
    let org = org("fintech-wealth");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    gen_into(&org, 500, 1, 2, a.path());
    gen_into(&org, 500, 2, 2, b.path());
    let (ca, cb) = (read(a.path(), "Contact.csv"), read(b.path(), "Contact.csv"));
    assert_ne!(ca, cb);
    assert_eq!(
        ca.iter().filter(|b| **b == b'\n').count(),
        cb.iter().filter(|b| **b == b'\n').count()
    );
}

#[test]
fn adding_an_object_leaves_every_other_objects_data_unchanged() {
    let text = builtin_text("fintech-wealth");
    let extra = "  - name: Household__c\n    key_prefix: a0H\n    volume: { per_parent: { parent: Contact, ratio: 0.5 } }\n    fields:\n      - { name: Primary__c, type: reference, class: internal, gen: parent_id }\n      - { name: Household_Name__c, type: string, class: pii.direct, gen: last_name }\n";
    // Insert right after Contact, so every later object moves position.
    let at = text.find("  - name: FinancialAccount__c").expect("anchor");
    let changed = format!("{}{}{}", &text[..at], extra, &text[at..]);
    let base = org("fintech-wealth");
    let more = load_str("changed.yaml", &changed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(more.objects.len(), base.objects.len() + 1);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    gen_into(&base, 3_000, 5, 2, a.path());
    gen_into(&more, 3_000, 5, 2, b.path());
    for o in &base.objects {
        let f = format!("{}.csv", o.name);
        assert!(
            read(a.path(), &f) == read(b.path(), &f),
            "{f} changed when an unrelated object was added"
        );
    }
    assert!(b.path().join("Household__c.csv").exists());
}

#[test]
fn csv_has_salesforce_ids_and_header_and_manifest_adds_up() {
    let org = org("global-ecommerce");
    let dir = tempfile::tempdir().unwrap();
    gen_into(&org, 1_000, 3, 2, dir.path());
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(dir.path(), "manifest.json")).unwrap();
    assert_eq!(manifest["subjects"], 1000);
    assert_eq!(manifest["fixture"], "global-ecommerce");
    let mut total = 0;
    for o in manifest["objects"].as_array().unwrap() {
        let file = o["file"].as_str().unwrap();
        let text = String::from_utf8(read(dir.path(), file)).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with("\"Id\",\"Watermark__c\",\"Jurisdiction__c\""),
            "{header}"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len() as u64, o["records"].as_u64().unwrap(), "{file}");
        total += rows.len() as u64;
        let prefix = o["key_prefix"].as_str().unwrap();
        for row in rows.iter().take(50) {
            let id = &row[1..19];
            assert!(
                id.starts_with(prefix) && leakdrill::sfid::is_valid(id),
                "{file}: bad Id {id}"
            );
        }
    }
    assert_eq!(manifest["total_records"].as_u64().unwrap(), total);
    let by_juris: u64 = manifest["subjects_by_jurisdiction"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        by_juris, 1000,
        "every data subject has exactly one jurisdiction"
    );
    // Order has 2.5 orders per customer.
    assert_eq!(manifest["objects"][1]["name"], "Order");
    assert_eq!(manifest["objects"][1]["records"], 2500);
}

#[test]
fn limits_are_typed_errors_naming_the_limit() {
    let org = org("fintech-wealth");
    let e = Plan::new(&org, 2_000_000_000, Seed(1))
        .map(|_| ())
        .unwrap_err();
    assert!(
        e.to_string().contains("above the limit of 1000000000"),
        "{e}"
    );
    let text = std::fs::read_to_string(data("minimal.yaml")).unwrap().replace(
        "profiles:",
        "  - name: Event__c\n    key_prefix: a0E\n    volume: { per_parent: { parent: Contact, ratio: 5 } }\n    fields:\n      - { name: Contact__c, type: reference, class: internal, gen: parent_id }\nprofiles:",
    );
    let busy = load_str("busy.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let e = Plan::new(&busy, 1_000_000_000, Seed(1))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "object Event__c would get 5000000000 records, above the limit of 4294967295 per object"
    );
}
