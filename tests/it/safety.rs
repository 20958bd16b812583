//! PRODUCT §2: every generated person-like value is provably non-real, and
//! every record's watermark leads back to its seed, object and index. Also:
//! the fixture parser never panics, whatever it is fed.

use std::net::Ipv4Addr;

use leakdrill::model::{Generator, TEST_NETS};
use leakdrill::pii::{Plan, TEST_CARD_NUMBERS};
use leakdrill::seed::Seed;
use leakdrill::{sfid, watermark};
use proptest::prelude::*;

use crate::support::*;

fn check_value(g: &Generator, v: &str, domain: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{why}: {v:?}"));
    match g {
        Generator::Email => {
            let (local, d) = v.split_once('@').ok_or("no @")?;
            if d != domain || !leakdrill::fixture::is_reserved_domain(d) {
                return bad("email outside the reserved domain");
            }
            let tag = local.rsplit('+').next().unwrap_or("");
            if watermark::decode(tag).is_none() {
                return bad("email without a watermark tag");
            }
        }
        Generator::Phone => {
            let nanp = v.starts_with("+1 ") && v.len() == 15 && &v[7..13] == "555-01";
            let ofcom = v.starts_with("+44 7700 900") && v.len() == 15;
            if !(nanp || ofcom) {
                return bad("phone outside 555-01xx / 07700 900xxx");
            }
        }
        Generator::Ssn => {
            let p: Vec<&str> = v.split('-').collect();
            let area: u32 = p[0].parse().map_err(|_| "area")?;
            let group: u32 = p[1].parse().map_err(|_| "group")?;
            if p.len() != 3
                || !(900..=999).contains(&area)
                || !(1..=49).contains(&group)
                || p[2].len() != 4
            {
                return bad("SSN outside area 900-999 / group 01-49");
            }
        }
        Generator::TestCardNumber if !TEST_CARD_NUMBERS.contains(&v) => {
            return bad("not a test PAN");
        }
        Generator::TestNetIp => {
            let ip: Ipv4Addr = v.parse().map_err(|_| "ip")?;
            if !TEST_NETS.iter().any(|n| n.contains(ip)) {
                return bad("IP outside TEST-NET");
            }
        }
        Generator::AccountNumber if !(v.starts_with("LD") && v.len() == 12) => {
            return bad("account number format");
        }
        Generator::PaymentToken if !v.starts_with("tok_test_ld") => return bad("payment token"),
        _ => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_value_stays_in_safe_ranges_and_traces_back(seed in any::<u64>(), index in 0u64..5_000, fixture in 0usize..3) {
        let name = builtin_names()[fixture];
        let org = org(name);
        let plan = Plan::new(&org, 5_000, Seed(seed)).unwrap();
        for (oi, o) in org.objects.iter().enumerate() {
            if plan.count(oi) == 0 { continue; }
            let i = index % plan.count(oi);
            let r = plan.record(oi, i);
            prop_assert!(sfid::is_valid(&r.id));
            prop_assert_eq!(sfid::record_index(Seed(seed), &r.id), Some(i));
            let mark = watermark::decode(&r.watermark).expect("watermark decodes");
            prop_assert_eq!((mark.seed, mark.key_prefix.as_str(), u64::from(mark.index)), (seed, o.key_prefix.as_str(), i));
            for (f, v) in o.fields.iter().zip(&r.values) {
                if let Err(e) = check_value(&f.generator, v, &org.email_domain) {
                    prop_assert!(false, "{}.{}.{}: {}", name, o.name, f.name, e);
                }
            }
            if o.is_person() {
                prop_assert!(r.jurisdiction.is_some());
            }
        }
    }

    #[test]
    fn fixture_loader_never_panics_on_garbage(text in "\\PC{0,400}") {
        let _ = leakdrill::fixture::load_str("fuzz.yaml", &text);
    }

    #[test]
    fn fixture_loader_never_panics_on_mutated_fixtures(cut in 0usize..20_000, len in 0usize..40, insert in "[ \\-:{}\\[\\]a-z0-9\n#&*!|>]{0,12}") {
        let base = builtin_text("fintech-wealth");
        let at = cut % base.len();
        let at = (0..=at).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + len).min(base.len());
        let end = (end..=base.len()).find(|i| base.is_char_boundary(*i)).unwrap_or(base.len());
        let mutated = format!("{}{}{}", &base[..at], insert, &base[end..]);
        match leakdrill::fixture::load_str("m.yaml", &mutated) {
            Ok(_) => {}
            Err(d) => {
                prop_assert!(!d.is_empty());
                for e in &d.0 {
                    prop_assert!(e.loc.line >= 1, "diagnostic without a line: {}", e);
                }
            }
        }
    }
}
