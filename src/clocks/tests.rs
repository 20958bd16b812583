//! Expected instants are computed by hand in the comments.

use super::calendar::{self, BusinessCalendar};
use super::*;
use jiff::civil::Date;

fn ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>()
        .expect("test instant")
        .as_millisecond()
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .expect("in range")
        .to_string()
}

fn cat() -> &'static Catalogue {
    catalogue().expect("embedded catalogue parses")
}

fn regime(id: &str) -> &'static Regime {
    cat()
        .regimes
        .iter()
        .find(|r| r.id == id)
        .expect("regime exists")
}

/// All obligations of a regime, as if all applied.
fn all_of(id: &str) -> Applicable<'static> {
    let regime = regime(id);
    Applicable {
        regime,
        obligations: regime
            .obligations
            .iter()
            .map(|o| ApplicableObligation {
                obligation: o,
                reason: "test".to_owned(),
            })
            .collect(),
        reason: "test".to_owned(),
        subjects: 1,
    }
}

fn clocks(id: &str, t: &Triggers, notified: &[(&str, &str)], opts: &Options) -> Vec<Clock> {
    let n: BTreeMap<String, i64> = notified
        .iter()
        .map(|(k, v)| ((*k).to_owned(), ms(v)))
        .collect();
    compute(&all_of(id), t, &n, opts)
}

fn find<'a>(cs: &'a [Clock], id: &str) -> &'a Clock {
    cs.iter()
        .find(|c| c.obligation_id == id)
        .expect("clock exists")
}

fn due(cs: &[Clock], id: &str) -> String {
    iso(find(cs, id).due_at_ms.expect("has a due time"))
}

fn date(y: i16, m: i8, d: i8) -> Date {
    Date::new(y, m, d).expect("valid date")
}

fn exposure(subjects: &[(&str, u64)], cats: &[&str], kinds: &[&str]) -> Exposure {
    Exposure {
        subjects_by_jurisdiction: subjects
            .iter()
            .map(|(j, n)| ((*j).to_owned(), *n))
            .collect(),
        data_categories: cats.iter().map(|c| (*c).to_owned()).collect(),
        entity_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        subjects_total: subjects.iter().map(|(_, n)| n).sum(),
    }
}

fn ids(apps: &[Applicable]) -> Vec<String> {
    apps.iter().map(|a| a.regime.id.clone()).collect()
}

fn obligation_ids(app: &Applicable) -> Vec<String> {
    app.obligations
        .iter()
        .map(|o| o.obligation.id.clone())
        .collect()
}

// ------------------------------------------------------------ catalogue

#[test]
fn embedded_catalogue_is_the_reference_and_parses() {
    let c = cat();
    assert_eq!(c.meta.schema_version, 1);
    assert_eq!(c.regimes.len(), 26);
    assert_eq!(
        c.regimes.iter().map(|r| r.obligations.len()).sum::<usize>(),
        69
    );
    assert_eq!(c.unverified.len(), 12);
    // Defaults in the data and Options::default() agree.
    assert_eq!(Options::from_defaults(&c.defaults), Ok(Options::default()));
}

#[test]
fn unknown_fields_are_rejected() {
    let typo = CATALOGUE_TOML.replacen("deadline_value = 72", "deadline_valeu = 72", 1);
    assert!(matches!(parse(&typo), Err(ClockError::Parse(_))));
    let bad_mark =
        CATALOGUE_TOML.replacen("verification = \"verified\"", "verification = \"sure\"", 1);
    assert!(parse(&bad_mark).is_err());
}

#[test]
fn every_coded_value_is_in_its_vocabulary() {
    let c = cat();
    let v = &c.vocab;
    for k in DeadlineKind::ALL {
        assert!(v.deadline_kinds.contains_key(k.as_str()), "{k:?}");
    }
    assert_eq!(v.deadline_kinds.len(), DeadlineKind::ALL.len());
    let mut seen = BTreeSet::new();
    for r in &c.regimes {
        assert!(seen.insert(r.id.clone()), "duplicate regime {}", r.id);
        for cat in r
            .data_categories
            .iter()
            .chain(r.name_combination_exceptions.iter().flatten())
        {
            assert!(v.data_categories.contains_key(cat), "{}: {cat}", r.id);
        }
        for m in [
            Some(r.verification),
            Some(r.penalties.verification),
            r.penalties.statutory_damages_min_indexed_2025_verification,
        ]
        .into_iter()
        .flatten()
        {
            assert!(["verified", "secondary", "unverified"].contains(&m.as_str()));
        }
        for o in &r.obligations {
            assert!(seen.insert(o.id.clone()), "duplicate obligation {}", o.id);
            assert!(
                v.triggers.contains_key(&o.trigger),
                "{}: {}",
                o.id,
                o.trigger
            );
            assert!(
                v.recipients.contains_key(&o.recipient),
                "{}: {}",
                o.id,
                o.recipient
            );
            assert!(["verified", "secondary", "unverified"].contains(&o.verification.as_str()));
            if let Some(b) = &o.business_calendar {
                assert!(v.business_calendars.contains_key(b), "{}: {b}", o.id);
            }
            if let Some(ct) = &o.cap_trigger {
                assert!(v.triggers.contains_key(ct));
            }
            if let Some(a) = &o.anchor_obligation {
                assert!(r.obligation(a).is_some(), "{}: anchor {a}", o.id);
            }
            if o.trigger == "submitted" {
                assert!(o.anchor_obligation.is_some(), "{}", o.id);
            }
            if o.threshold_count > 0 {
                assert!(o.threshold_comparator.is_some(), "{}", o.id);
            }
            if let Some(z) = &o.timezone_hint
                && !z.starts_with("n/a")
            {
                assert!(jiff::tz::TimeZone::get(z).is_ok(), "{z}");
            }
        }
    }
}

#[test]
fn every_regime_has_a_rule_and_every_rule_a_regime() {
    let c = cat();
    for r in &c.regimes {
        assert!(regime_rule(&r.id).is_some(), "no rule for {}", r.id);
    }
    let kinds: BTreeSet<&str> = ENTITY_KINDS.iter().map(|(k, _)| *k).collect();
    for rule in REGIME_RULES {
        assert!(
            c.regimes.iter().any(|r| r.id == rule.id),
            "stale rule {}",
            rule.id
        );
        if let Scope::Entity(ks) | Scope::ResidentsAndEntity(_, ks) = rule.scope {
            assert!(ks.iter().all(|k| kinds.contains(k)));
        }
        if let Zone::Iana(z) = rule.zone {
            assert!(jiff::tz::TimeZone::get(z).is_ok(), "{z}");
        }
    }
    for (ob, kind) in OBLIGATION_ROLES {
        assert!(kinds.contains(kind));
        assert!(c.regimes.iter().any(|r| r.obligation(ob).is_some()), "{ob}");
    }
}

// ------------------------------------------------------------- calendars

#[test]
fn us_federal_holidays_2026_with_observance() {
    let h: Vec<Date> = calendar::us_federal_holidays(2026)
        .expect("computable")
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    // 2026: Jan 1 Thu; MLK 3rd Mon Jan = 19; Presidents 3rd Mon Feb = 16;
    // Memorial last Mon May = 25; Juneteenth Fri 19; July 4 is a Saturday →
    // observed Fri July 3; Labor 1st Mon Sep = 7; Columbus 2nd Mon Oct = 12;
    // Veterans Wed Nov 11; Thanksgiving 4th Thu Nov = 26; Christmas Fri 25.
    assert_eq!(
        h,
        vec![
            date(2026, 1, 1),
            date(2026, 1, 19),
            date(2026, 2, 16),
            date(2026, 5, 25),
            date(2026, 6, 19),
            date(2026, 7, 3),
            date(2026, 9, 7),
            date(2026, 10, 12),
            date(2026, 11, 11),
            date(2026, 11, 26),
            date(2026, 12, 25),
        ]
    );
    let us = BusinessCalendar::UsFederal;
    assert_eq!(us.is_business_day(date(2026, 7, 3)), Ok(false));
    assert_eq!(us.is_business_day(date(2026, 7, 2)), Ok(true));
    // Sunday → Monday: July 4 2027 is a Sunday → Mon July 5 2027.
    assert_eq!(us.is_business_day(date(2027, 7, 5)), Ok(false));
    // New Year 2028 is a Saturday → observed Fri 31 Dec 2027.
    assert_eq!(us.is_business_day(date(2027, 12, 31)), Ok(false));
    // Christmas 2027 is a Saturday → observed Fri 24 Dec 2027.
    assert_eq!(us.is_business_day(date(2027, 12, 24)), Ok(false));
}

#[test]
fn easter_and_brazilian_holidays() {
    assert_eq!(calendar::easter_sunday(2026), Ok(date(2026, 4, 5)));
    assert_eq!(calendar::easter_sunday(2025), Ok(date(2025, 4, 20)));
    assert_eq!(calendar::easter_sunday(2027), Ok(date(2027, 3, 28)));
    let br = BusinessCalendar::BrNational {
        optional_points: false,
    };
    // Good Friday 2026 = Easter − 2 = Apr 3; Tiradentes Tue Apr 21;
    // Consciência Negra Fri Nov 20 2026. Carnival Tue Feb 17 is not a
    // national holiday by default.
    assert_eq!(br.is_business_day(date(2026, 4, 3)), Ok(false));
    assert_eq!(br.is_business_day(date(2026, 4, 21)), Ok(false));
    assert_eq!(br.is_business_day(date(2026, 11, 20)), Ok(false));
    assert_eq!(br.is_business_day(date(2026, 2, 17)), Ok(true));
    let br_opt = BusinessCalendar::BrNational {
        optional_points: true,
    };
    // Carnival Mon/Tue = Easter − 48/47 = Feb 16/17; Corpus Christi = +60 = Jun 4.
    assert_eq!(br_opt.is_business_day(date(2026, 2, 16)), Ok(false));
    assert_eq!(br_opt.is_business_day(date(2026, 2, 17)), Ok(false));
    assert_eq!(br_opt.is_business_day(date(2026, 6, 4)), Ok(false));
}

#[test]
fn month_end_and_leap_years() {
    assert_eq!(
        calendar::add_months(date(2026, 1, 31), 1),
        Ok(date(2026, 2, 28))
    );
    assert_eq!(
        calendar::add_months(date(2028, 1, 31), 1),
        Ok(date(2028, 2, 29))
    );
    assert_eq!(
        calendar::add_months(date(2026, 3, 31), 1),
        Ok(date(2026, 4, 30))
    );
    assert_eq!(
        calendar::add_months(date(2026, 12, 15), 1),
        Ok(date(2027, 1, 15))
    );
}

// ---------------------------------------------------------------- hours

#[test]
fn gdpr_72_hours_across_a_weekend() {
    // Fri 2026-03-06 22:42 UTC + 72 h = Mon 2026-03-09 22:42 UTC (weekend counts).
    let t = Triggers::new().with("awareness", ms("2026-03-06T22:42:00Z"));
    let opts = Options::default();
    let cs = clocks("eu_gdpr", &t, &[], &opts);
    let c = find(&cs, "eu_gdpr_art33_sa");
    assert_eq!(due(&cs, "eu_gdpr_art33_sa"), "2026-03-09T22:42:00Z");
    assert_eq!(c.timezone, None);
    assert_eq!(c.status, ClockStatus::Pending);
    assert_eq!(c.verification, Verification::Verified);

    // Filed Mon 20:00 UTC: in time by 2 h 42 min.
    let cs = clocks(
        "eu_gdpr",
        &t,
        &[("eu_gdpr_art33_sa", "2026-03-09T20:00:00Z")],
        &opts,
    );
    let c = find(&cs, "eu_gdpr_art33_sa");
    assert_eq!(c.status, ClockStatus::NotifiedInTime);
    assert_eq!(c.margin_ms, Some((2 * 60 + 42) * 60_000));

    // Not filed, as of Tue 00:00 UTC: overdue by 1 h 18 min.
    let late = Options {
        as_of_ms: Some(ms("2026-03-10T00:00:00Z")),
        ..Options::default()
    };
    let c = find(&clocks("eu_gdpr", &t, &[], &late), "eu_gdpr_art33_sa").clone();
    assert_eq!(c.status, ClockStatus::Overdue);
    assert_eq!(c.margin_ms, Some(-78 * 60_000));

    // Lenient EU rounding: the 22:xx hour is skipped, start 23:00 → due 23:00.
    let lenient = Options {
        hours_rounding: HoursRounding::EuNextFullHour,
        ..Options::default()
    };
    assert_eq!(
        due(&clocks("eu_gdpr", &t, &[], &lenient), "eu_gdpr_art33_sa"),
        "2026-03-09T23:00:00Z"
    );
    // ...and never applied to non-EU regimes (UK GDPR stays exact).
    assert_eq!(
        due(&clocks("uk_gdpr", &t, &[], &lenient), "uk_gdpr_art33_ico"),
        "2026-03-09T22:42:00Z"
    );
}

#[test]
fn qualitative_deadlines_report_no_statutory_maximum() {
    // Art. 34 "without undue delay": SLA 24 h → 2026-03-07T22:42Z, not a pass/fail.
    let t = Triggers::new().with("awareness", ms("2026-03-06T22:42:00Z"));
    let opts = Options {
        as_of_ms: Some(ms("2026-03-20T00:00:00Z")),
        ..Options::default()
    };
    let cs = clocks("eu_gdpr", &t, &[], &opts);
    let c = find(&cs, "eu_gdpr_art34_subjects");
    assert_eq!(c.status, ClockStatus::NoStatutoryMaximum);
    assert_eq!(due(&cs, "eu_gdpr_art34_subjects"), "2026-03-07T22:42:00Z");
    assert!(c.margin_ms.is_some_and(|m| m < 0));
    // processor_awareness never happened → not started.
    assert_eq!(
        find(&cs, "eu_gdpr_art33_processor").status,
        ClockStatus::NotStarted
    );
}

#[test]
fn nis2_chain_filed_and_not_filed() {
    // Awareness Fri 2026-03-06 22:42Z: early warning +24 h = Sat 03-07 22:42Z;
    // notification +72 h = Mon 03-09 22:42Z.
    let t = Triggers::new().with("awareness", ms("2026-03-06T22:42:00Z"));
    let opts = Options {
        as_of_ms: Some(ms("2026-03-12T00:00:00Z")),
        ..Options::default()
    };

    // Filed at Sun 2026-03-08 12:00Z = 13:00 CET, local day Mar 8 →
    // one month: Apr 8, end of day Brussels (CEST, UTC+2 after Mar 29) =
    // 2026-04-08T21:59:59.999Z.
    let cs = clocks(
        "eu_nis2",
        &t,
        &[("eu_nis2_incident_notification", "2026-03-08T12:00:00Z")],
        &opts,
    );
    assert_eq!(due(&cs, "eu_nis2_early_warning"), "2026-03-07T22:42:00Z");
    assert_eq!(
        find(&cs, "eu_nis2_early_warning").status,
        ClockStatus::Overdue
    );
    assert_eq!(
        due(&cs, "eu_nis2_incident_notification"),
        "2026-03-09T22:42:00Z"
    );
    assert_eq!(
        find(&cs, "eu_nis2_incident_notification").status,
        ClockStatus::NotifiedInTime
    );
    let f = find(&cs, "eu_nis2_final");
    assert_eq!(f.trigger, "submitted:eu_nis2_incident_notification");
    assert_eq!(f.trigger_at_ms, Some(ms("2026-03-08T12:00:00Z")));
    assert!(!f.trigger_projected);
    assert_eq!(due(&cs, "eu_nis2_final"), "2026-04-08T21:59:59.999Z");
    assert_eq!(f.timezone.as_deref(), Some("Europe/Brussels"));
    assert_eq!(f.status, ClockStatus::Pending);
    assert_eq!(
        find(&cs, "eu_nis2_intermediate").status,
        ClockStatus::OnRequestOnly
    );

    // Not filed: the final report's anchor is projected from the
    // notification's due time, Mon 03-09 22:42Z = 23:42 CET, local Mar 9 →
    // Apr 9 end of day CEST = 2026-04-09T21:59:59.999Z; NotStarted, since the
    // notification (itself overdue) was never submitted.
    let cs = clocks("eu_nis2", &t, &[], &opts);
    assert_eq!(
        find(&cs, "eu_nis2_incident_notification").status,
        ClockStatus::Overdue
    );
    let f = find(&cs, "eu_nis2_final");
    assert!(f.trigger_projected);
    assert_eq!(f.trigger_at_ms, Some(ms("2026-03-09T22:42:00Z")));
    assert_eq!(due(&cs, "eu_nis2_final"), "2026-04-09T21:59:59.999Z");
    assert_eq!(f.status, ClockStatus::NotStarted);

    // Trust service providers: 24 h notification.
    let tsp = Options {
        nis2_trust_service_provider: true,
        ..Options::default()
    };
    assert_eq!(
        due(
            &clocks("eu_nis2", &t, &[], &tsp),
            "eu_nis2_incident_notification"
        ),
        "2026-03-07T22:42:00Z"
    );
}

#[test]
fn nis2_final_month_end_clamps() {
    // Notification filed 2026-01-31 12:00Z (13:00 CET, Jan 31) → Feb 31 does
    // not exist → Feb 28, end of day CET (UTC+1) = 2026-02-28T22:59:59.999Z.
    let t = Triggers::new().with("awareness", ms("2026-01-30T12:00:00Z"));
    let cs = clocks(
        "eu_nis2",
        &t,
        &[("eu_nis2_incident_notification", "2026-01-31T12:00:00Z")],
        &Options::default(),
    );
    assert_eq!(due(&cs, "eu_nis2_final"), "2026-02-28T22:59:59.999Z");
}

#[test]
fn dora_initial_intermediate_final() {
    // Awareness 08:00Z, classified major 10:00Z: min(10:00+4 h, 08:00+24 h) = 14:00Z.
    let aware = ms("2026-03-06T08:00:00Z");
    let t = Triggers::new()
        .with("awareness", aware)
        .with("major_classification", ms("2026-03-06T10:00:00Z"));
    // Initial filed 12:30Z → intermediate +72 h = 2026-03-09T12:30Z.
    // Intermediate filed 2026-03-09 09:00Z (10:00 CET, Mar 9) → final one
    // month = Apr 9, end of day CEST = 2026-04-09T21:59:59.999Z.
    let cs = clocks(
        "eu_dora",
        &t,
        &[
            ("eu_dora_initial", "2026-03-06T12:30:00Z"),
            ("eu_dora_intermediate", "2026-03-09T09:00:00Z"),
        ],
        &Options::default(),
    );
    assert_eq!(due(&cs, "eu_dora_initial"), "2026-03-06T14:00:00Z");
    assert_eq!(
        find(&cs, "eu_dora_initial").status,
        ClockStatus::NotifiedInTime
    );
    assert_eq!(due(&cs, "eu_dora_intermediate"), "2026-03-09T12:30:00Z");
    assert_eq!(
        find(&cs, "eu_dora_intermediate").trigger,
        "submitted:eu_dora_initial"
    );
    assert_eq!(
        find(&cs, "eu_dora_intermediate").status,
        ClockStatus::NotifiedInTime
    );
    assert_eq!(due(&cs, "eu_dora_final"), "2026-04-09T21:59:59.999Z");

    // Classified 2026-03-07 06:00Z: 4 h → 10:00Z, but the 24 h cap from
    // awareness is 2026-03-07T08:00Z, which wins.
    let t2 = Triggers::new()
        .with("awareness", aware)
        .with("major_classification", ms("2026-03-07T06:00:00Z"));
    let cs = clocks("eu_dora", &t2, &[], &Options::default());
    assert_eq!(due(&cs, "eu_dora_initial"), "2026-03-07T08:00:00Z");
    // Classified after the cap (09:00Z): 4 h from classification = 13:00Z.
    let t3 = Triggers::new()
        .with("awareness", aware)
        .with("major_classification", ms("2026-03-07T09:00:00Z"));
    let cs = clocks("eu_dora", &t3, &[], &Options::default());
    assert_eq!(due(&cs, "eu_dora_initial"), "2026-03-07T13:00:00Z");
    // Nothing filed: intermediate projected from the initial due (13:00Z + 72 h).
    let i = find(&cs, "eu_dora_intermediate");
    assert!(i.trigger_projected);
    assert_eq!(due(&cs, "eu_dora_intermediate"), "2026-03-10T13:00:00Z");
}

// -------------------------------------------------------- business days

#[test]
fn sec_8k_over_thanksgiving() {
    // Determination Wed 2026-11-25 15:00 EST (20:00Z) = day 0. Thu 26
    // Thanksgiving excluded; BD1 Fri 27, BD2 Mon 30, BD3 Tue Dec 1, BD4 Wed
    // Dec 2 → 17:30 EST = 22:30Z.
    let t = Triggers::new().with("materiality_determination", ms("2026-11-25T20:00:00Z"));
    let cs = clocks("us_sec_8k_105", &t, &[], &Options::default());
    assert_eq!(due(&cs, "us_sec_8k_105_initial"), "2026-12-02T22:30:00Z");
    assert_eq!(
        find(&cs, "us_sec_8k_105_initial").timezone.as_deref(),
        Some("America/New_York")
    );
    // 21:00 EST on Wed Nov 25 is already Thu 02:00Z: the local day (Nov 25)
    // is day 0, so the due time is unchanged.
    let t = Triggers::new().with("materiality_determination", ms("2026-11-26T02:00:00Z"));
    let cs = clocks(
        "us_sec_8k_105",
        &t,
        &[("us_sec_8k_105_initial", "2026-12-02T22:30:00Z")],
        &Options::default(),
    );
    assert_eq!(due(&cs, "us_sec_8k_105_initial"), "2026-12-02T22:30:00Z");
    // Filing begun exactly at 17:30 is in time (only *after* 17:30 is late).
    assert_eq!(
        find(&cs, "us_sec_8k_105_initial").status,
        ClockStatus::NotifiedInTime
    );
    assert_eq!(find(&cs, "us_sec_8k_105_initial").margin_ms, Some(0));
}

#[test]
fn sec_8k_over_a_weekend_and_dst() {
    // Thu 2026-03-05 10:00 EST (15:00Z) = day 0; BD1 Fri 6, (Sat, Sun 8 =
    // DST starts), BD2 Mon 9, BD3 Tue 10, BD4 Wed 11 → 17:30 EDT = 21:30Z.
    let t = Triggers::new().with("materiality_determination", ms("2026-03-05T15:00:00Z"));
    let cs = clocks("us_sec_8k_105", &t, &[], &Options::default());
    assert_eq!(due(&cs, "us_sec_8k_105_initial"), "2026-03-11T21:30:00Z");
    // Observed Independence Day: Wed 2026-07-01 → Thu 2 BD1, Fri 3 holiday
    // (July 4 on Saturday), Mon 6 BD2, Tue 7 BD3, Wed 8 BD4 → 17:30 EDT = 21:30Z.
    let t = Triggers::new().with("materiality_determination", ms("2026-07-01T14:00:00Z"));
    let cs = clocks("us_sec_8k_105", &t, &[], &Options::default());
    assert_eq!(due(&cs, "us_sec_8k_105_initial"), "2026-07-08T21:30:00Z");
}

#[test]
fn brazil_three_business_days_over_carnival() {
    // The md does not make Carnival a national holiday: by default it counts.
    // Knowledge Fri 2026-02-13 14:00 BRT (17:00Z) = day 0; BD1 Mon 16, BD2
    // Tue 17, BD3 Wed 18 → end of day BRT (UTC−3) = 2026-02-19T02:59:59.999Z.
    let t = Triggers::new().with(
        "knowledge_of_personal_data_impact",
        ms("2026-02-13T17:00:00Z"),
    );
    let cs = clocks("br_lgpd", &t, &[], &Options::default());
    assert_eq!(due(&cs, "br_lgpd_anpd"), "2026-02-19T02:59:59.999Z");
    assert_eq!(due(&cs, "br_lgpd_subjects"), "2026-02-19T02:59:59.999Z");
    // With Carnival as non-working: Mon 16 and Tue 17 skipped; BD1 Wed 18,
    // BD2 Thu 19, BD3 Fri 20 → 2026-02-21T02:59:59.999Z.
    let opt = Options {
        br_optional_holidays: true,
        ..Options::default()
    };
    assert_eq!(
        due(&clocks("br_lgpd", &t, &[], &opt), "br_lgpd_anpd"),
        "2026-02-21T02:59:59.999Z"
    );
    // Small agents: 6 business days: Mon 16 .. Mon 23 → 2026-02-24T02:59:59.999Z.
    let small = Options {
        small_processing_agent: true,
        ..Options::default()
    };
    assert_eq!(
        due(&clocks("br_lgpd", &t, &[], &small), "br_lgpd_anpd"),
        "2026-02-24T02:59:59.999Z"
    );
    // Good Friday: Thu 2026-04-02 → Fri 3 holiday; Mon 6, Tue 7, Wed 8.
    let t = Triggers::new().with(
        "knowledge_of_personal_data_impact",
        ms("2026-04-02T15:00:00Z"),
    );
    assert_eq!(
        due(
            &clocks("br_lgpd", &t, &[], &Options::default()),
            "br_lgpd_anpd"
        ),
        "2026-04-09T02:59:59.999Z"
    );
}

// --------------------------------------------------------- calendar days

#[test]
fn california_30_days_from_an_evening_discovery() {
    // Discovery Tue 2026-03-10 20:30 PDT = 2026-03-11T03:30Z. The anchor day
    // is the local Mar 10 (not the UTC Mar 11): Mar 10 + 30 = Apr 9, end of
    // day PDT (UTC−7) = 2026-04-10T06:59:59.999Z.
    let t = Triggers::new().with("discovery", ms("2026-03-11T03:30:00Z"));
    let cs = clocks(
        "us_ca_1798_82",
        &t,
        &[("us_ca_1798_82_residents", "2026-04-01T18:00:00Z")],
        &Options::default(),
    );
    assert_eq!(
        due(&cs, "us_ca_1798_82_residents"),
        "2026-04-10T06:59:59.999Z"
    );
    assert_eq!(
        find(&cs, "us_ca_1798_82_residents").timezone.as_deref(),
        Some("America/Los_Angeles")
    );
    // AG: 15 days from the consumer notice filed Wed 2026-04-01 11:00 PDT →
    // Apr 16 end of day PDT = 2026-04-17T06:59:59.999Z.
    let ag = find(&cs, "us_ca_1798_82_ag");
    assert_eq!(ag.trigger, "individual_notice_sent");
    assert_eq!(ag.trigger_at_ms, Some(ms("2026-04-01T18:00:00Z")));
    assert_eq!(due(&cs, "us_ca_1798_82_ag"), "2026-04-17T06:59:59.999Z");
}

#[test]
fn dst_change_inside_a_calendar_day_deadline() {
    // NY SHIELD: discovery Tue 2026-10-20 12:00 EDT (16:00Z); +30 days = Thu
    // Nov 19; DST ended Sun Nov 1, so the end of day is in EST (UTC−5):
    // 2026-11-20T04:59:59.999Z — 30 days + 12 h + 1 h − 1 ms of elapsed time.
    let trig = ms("2026-10-20T16:00:00Z");
    let t = Triggers::new().with("discovery", trig);
    let cs = clocks("us_ny_gbl_899_aa", &t, &[], &Options::default());
    assert_eq!(due(&cs, "us_ny_residents"), "2026-11-20T04:59:59.999Z");
    let d = find(&cs, "us_ny_residents").due_at_ms.expect("due");
    assert_eq!(d - trig, (30 * 24 + 13) * HOUR_MS - 1);
}

#[test]
fn singapore_counts_from_the_day_after_the_assessment() {
    // Assessment Tue 2026-03-10 23:30 SGT (15:30Z): "3 calendar days after
    // the day" → Mar 11, 12, 13 → end of Mar 13 SGT = 2026-03-13T15:59:59.999Z.
    let t = Triggers::new().with("notifiable_assessment", ms("2026-03-10T15:30:00Z"));
    let cs = clocks("sg_pdpa", &t, &[], &Options::default());
    assert_eq!(due(&cs, "sg_pdpa_pdpc"), "2026-03-13T15:59:59.999Z");
}

#[test]
fn hipaa_annual_and_contemporaneous() {
    // Discovery 2026-05-01 → year end Dec 31 2026; +60 days = Mar 1 2027
    // (Jan 31 = +31, Feb 28 = +59) → end of day EST = 2027-03-02T04:59:59.999Z.
    let t = Triggers::new().with("discovery", ms("2026-05-01T15:00:00Z"));
    let cs = clocks(
        "us_hipaa_bnr",
        &t,
        &[("us_hipaa_individuals", "2026-05-20T18:00:00Z")],
        &Options::default(),
    );
    assert_eq!(due(&cs, "us_hipaa_hhs_small"), "2027-03-02T04:59:59.999Z");
    // Individuals: May 1 + 60 = Jun 30, end of day EDT = 2026-07-01T03:59:59.999Z.
    assert_eq!(due(&cs, "us_hipaa_individuals"), "2026-07-01T03:59:59.999Z");
    // HHS (>= 500): with the individual notice filed May 20 14:00 EDT → end
    // of that day EDT = 2026-05-21T03:59:59.999Z.
    assert_eq!(due(&cs, "us_hipaa_hhs_large"), "2026-05-21T03:59:59.999Z");
    // Not filed: due with the individuals' due time.
    let cs = clocks("us_hipaa_bnr", &t, &[], &Options::default());
    assert_eq!(due(&cs, "us_hipaa_hhs_large"), "2026-07-01T03:59:59.999Z");
}

#[test]
fn optional_rollover_moves_weekend_deadlines() {
    // TX individuals, 60 days: determination Wed 2026-01-07 12:00 CST →
    // Jan 31 = +24, Feb 28 = +52, Sun Mar 8 = +60.
    // Default: Sun Mar 8 end of day CDT (DST from Mar 8 02:00) = 2026-03-09T04:59:59.999Z.
    // Rolled forward: Mon Mar 9 end of day CDT = 2026-03-10T04:59:59.999Z.
    let t = Triggers::new().with("determination_of_breach", ms("2026-01-07T18:00:00Z"));
    let cs = clocks("us_tx_521_053", &t, &[], &Options::default());
    assert_eq!(due(&cs, "us_tx_individuals"), "2026-03-09T04:59:59.999Z");
    let roll = Options {
        weekend_holiday_rollover: true,
        ..Options::default()
    };
    let cs = clocks("us_tx_521_053", &t, &[], &roll);
    assert_eq!(due(&cs, "us_tx_individuals"), "2026-03-10T04:59:59.999Z");
    assert!(
        find(&cs, "us_tx_individuals")
            .note
            .as_deref()
            .is_some_and(|n| n.contains("rolled forward"))
    );
}

#[test]
fn every_obligation_computes_with_all_triggers() {
    let c = cat();
    let at = ms("2026-03-06T22:42:00Z");
    let mut t = Triggers::new();
    for k in c.vocab.triggers.keys() {
        t.set(k, at);
    }
    let opts = Options {
        as_of_ms: Some(ms("2026-06-01T00:00:00Z")),
        ..Options::default()
    };
    let mut n = 0;
    for r in &c.regimes {
        let all_filed: Vec<(&str, &str)> = r
            .obligations
            .iter()
            .map(|o| (o.id.as_str(), "2026-03-07T00:00:00Z"))
            .collect();
        for filed in [&[][..], &all_filed[..]] {
            let cs = clocks(&r.id, &t, filed, &opts);
            assert_eq!(cs.len(), r.obligations.len());
            for cl in &cs {
                n += 1;
                assert_ne!(
                    cl.status,
                    ClockStatus::Invalid,
                    "{}: {:?}",
                    cl.obligation_id,
                    cl.note
                );
                let timed = !matches!(cl.kind, DeadlineKind::OnRequest | DeadlineKind::None);
                assert_eq!(cl.due_at_ms.is_some(), timed, "{}", cl.obligation_id);
                if let Some(d) = cl.due_at_ms {
                    assert!(
                        d >= at || cl.trigger_at_ms.is_some_and(|t| d >= t),
                        "{}",
                        cl.obligation_id
                    );
                }
                assert_eq!(
                    cl.timezone.is_some(),
                    timed && cl.kind.is_calendar_based(),
                    "{}",
                    cl.obligation_id
                );
            }
        }
    }
    assert_eq!(n, 2 * 69);
    // Status serialises as a snake_case string.
    assert_eq!(
        serde_json::to_string(&ClockStatus::NotifiedInTime)
            .ok()
            .as_deref(),
        Some("\"notified_in_time\"")
    );
}

// --------------------------------------------------------- applicability

#[test]
fn california_ssn_applies_gdpr_does_not() {
    let opts = Options::default();
    let exp = exposure(&[("US-CA", 1200)], &["any_personal_data", "ssn"], &[]);
    let apps = applicable(cat(), &exp, &opts);
    assert_eq!(ids(&apps), vec!["us_ca_1798_82", "us_ca_ccpa_1798_150"]);
    let ca = &apps[0];
    // Maintainer notice only for processors; AG since 1200 > 500.
    assert_eq!(
        obligation_ids(ca),
        vec!["us_ca_1798_82_residents", "us_ca_1798_82_ag"]
    );
    assert_eq!(ca.subjects, 1200);
    assert!(
        ca.reason.contains("US-CA:1200") && ca.reason.contains("ssn"),
        "{}",
        ca.reason
    );
    assert_eq!(ca.obligations[1].reason, "1200 subjects > 500");

    // Exactly 500: AG notice is for "more than 500".
    let exp = exposure(&[("US-CA", 500)], &["any_personal_data", "ssn"], &[]);
    let apps = applicable(cat(), &exp, &opts);
    assert_eq!(obligation_ids(&apps[0]), vec!["us_ca_1798_82_residents"]);

    // SSN without names: the name combination is not met...
    let exp = exposure(&[("US-CA", 10)], &["ssn"], &[]);
    assert!(applicable(cat(), &exp, &opts).is_empty());
    // ...but credentials are a standalone element.
    let exp = exposure(&[("US-CA", 10)], &["credentials_username_password"], &[]);
    assert_eq!(
        ids(&applicable(cat(), &exp, &opts)),
        vec!["us_ca_1798_82", "us_ca_ccpa_1798_150"]
    );
}

#[test]
fn a_german_subject_brings_gdpr_not_the_proposal() {
    let exp = exposure(&[("DE", 1)], &["any_personal_data"], &[]);
    let apps = applicable(cat(), &exp, &Options::default());
    assert_eq!(ids(&apps), vec!["eu_gdpr"]);
    assert_eq!(
        obligation_ids(&apps[0]),
        vec!["eu_gdpr_art33_sa", "eu_gdpr_art34_subjects"]
    );
    let with = Options {
        include_proposed: true,
        ..Options::default()
    };
    assert_eq!(
        ids(&applicable(cat(), &exp, &with)),
        vec!["eu_gdpr", "eu_gdpr_omnibus_proposal"]
    );
    // A processor also owes Art. 33(2).
    let exp = exposure(&[("DE", 1)], &["any_personal_data"], &["processor"]);
    let apps = applicable(cat(), &exp, &Options::default());
    assert_eq!(
        obligation_ids(&apps[0]),
        vec![
            "eu_gdpr_art33_sa",
            "eu_gdpr_art33_processor",
            "eu_gdpr_art34_subjects"
        ]
    );
}

#[test]
fn thresholds_and_entity_kinds() {
    let opts = Options::default();
    // Texas AG >= 250; CRAs > 10,000.
    let exp = exposure(&[("US-TX", 249)], &["any_personal_data", "ssn"], &[]);
    assert_eq!(
        obligation_ids(&applicable(cat(), &exp, &opts)[0]),
        vec!["us_tx_individuals"]
    );
    let exp = exposure(&[("US-TX", 250)], &["any_personal_data", "ssn"], &[]);
    assert_eq!(
        obligation_ids(&applicable(cat(), &exp, &opts)[0]),
        vec!["us_tx_individuals", "us_tx_ag"]
    );
    // Singapore PDPC: significant scale >= 500 (the harm limb is not modelled).
    let exp = exposure(&[("SG", 499)], &["any_personal_data"], &[]);
    assert_eq!(
        obligation_ids(&applicable(cat(), &exp, &opts)[0]),
        vec!["sg_pdpa_assessment", "sg_pdpa_individuals"]
    );
    // HIPAA: media > 500 residents of one state; HHS >= 500 vs < 500 in total.
    let exp = exposure(
        &[("US-CA", 400), ("US-NY", 300)],
        &["health_phi"],
        &["hipaa_covered_entity"],
    );
    let apps = applicable(cat(), &exp, &opts);
    assert_eq!(ids(&apps), vec!["us_hipaa_bnr"]);
    assert_eq!(
        obligation_ids(&apps[0]),
        vec!["us_hipaa_individuals", "us_hipaa_hhs_large"]
    );
    // Incident regimes by entity kind, no residents needed; sorted by id.
    let exp = exposure(
        &[],
        &["incident_any"],
        &["sec_registrant", "nis2_entity", "dora_financial_entity"],
    );
    assert_eq!(
        ids(&applicable(cat(), &exp, &opts)),
        vec!["eu_dora", "eu_nis2", "us_sec_8k_105"]
    );
    // PECR needs UK residents and a telecom provider.
    let exp = exposure(&[("GB", 5)], &["any_personal_data"], &[]);
    assert_eq!(ids(&applicable(cat(), &exp, &opts)), vec!["uk_gdpr"]);
    let exp = exposure(&[("GB", 5)], &["any_personal_data"], &["telecom_provider"]);
    assert_eq!(
        ids(&applicable(cat(), &exp, &opts)),
        vec!["uk_gdpr", "uk_pecr"]
    );
    // India DPDP is notified but not in force: off by default.
    let exp = exposure(&[("IN", 5)], &["any_personal_data"], &[]);
    assert!(applicable(cat(), &exp, &opts).is_empty());
    let later = Options {
        include_not_yet_in_force: true,
        ..Options::default()
    };
    assert_eq!(ids(&applicable(cat(), &exp, &later)), vec!["in_dpdp"]);
}

// ---------------------------------------------------------------- money

#[test]
fn money_from_statutory_maxima_only() {
    let opts = Options::default();
    let exp = exposure(
        &[("DE", 10), ("US-CA", 1000)],
        &["any_personal_data", "ssn"],
        &[],
    );
    let apps = applicable(cat(), &exp, &opts);
    let get = |id: &str| apps.iter().find(|a| a.regime.id == id).expect("applies");
    // GDPR: max(EUR 10M, 2% of 1e9 = 20M) = 20M; upper tier max(20M, 4% = 40M).
    let m = money_estimate(get("eu_gdpr"), &exp, Some(1e9)).expect("estimate");
    assert_eq!(
        (m.currency.as_str(), m.low, m.high, m.upper_tier_high),
        ("EUR", 0.0, 20e6, Some(40e6))
    );
    assert_eq!(m.label, "estimate from statutory maxima; not legal advice");
    assert_eq!(m.verification, Verification::Verified);
    // Without turnover: the fixed maxima.
    let m = money_estimate(get("eu_gdpr"), &exp, None).expect("estimate");
    assert_eq!((m.high, m.upper_tier_high), (10e6, Some(20e6)));
    // CCPA: USD 100..799 per consumer x 1000.
    let m = money_estimate(get("us_ca_ccpa_1798_150"), &exp, None).expect("estimate");
    assert_eq!((m.low, m.high), (100_000.0, 799_000.0));
    // California 1798.82 fixes no amount: no estimate.
    assert!(money_estimate(get("us_ca_1798_82"), &exp, None).is_none());
    // LGPD: 2% capped at BRL 50M: turnover 1e10 → min(200M, 50M) = 50M; 1e9 → 20M.
    let exp = exposure(&[("BR", 10)], &["any_personal_data"], &[]);
    let apps = applicable(cat(), &exp, &opts);
    assert_eq!(
        money_estimate(&apps[0], &exp, Some(1e10)).map(|m| m.high),
        Some(50e6)
    );
    assert_eq!(
        money_estimate(&apps[0], &exp, Some(1e9)).map(|m| m.high),
        Some(20e6)
    );
    assert_eq!(
        money_estimate(&apps[0], &exp, None).map(|m| m.verification),
        Some(Verification::Unverified)
    );
}

#[test]
fn explicit_anchor_trigger_and_future_triggers() {
    // 8-K amendment: new information determined Mon 2026-12-07 10:00 EST
    // (15:00Z) overrides the first filing as the anchor: BD1 Tue 8, BD2 Wed 9,
    // BD3 Thu 10, BD4 Fri 11 → 17:30 EST = 22:30Z.
    let t = Triggers::new()
        .with("materiality_determination", ms("2026-11-25T20:00:00Z"))
        .with(
            "submitted:us_sec_8k_105_initial",
            ms("2026-12-07T15:00:00Z"),
        );
    let cs = clocks(
        "us_sec_8k_105",
        &t,
        &[("us_sec_8k_105_initial", "2026-12-01T15:00:00Z")],
        &Options::default(),
    );
    assert_eq!(due(&cs, "us_sec_8k_105_amendment"), "2026-12-11T22:30:00Z");
    // Without it, from the filing Tue Dec 1: Wed 2, Thu 3, Fri 4, Mon 7 → 22:30Z.
    let t = Triggers::new().with("materiality_determination", ms("2026-11-25T20:00:00Z"));
    let cs = clocks(
        "us_sec_8k_105",
        &t,
        &[("us_sec_8k_105_initial", "2026-12-01T15:00:00Z")],
        &Options::default(),
    );
    assert_eq!(due(&cs, "us_sec_8k_105_amendment"), "2026-12-07T22:30:00Z");
    // A trigger after as_of has not happened yet.
    let early = Options {
        as_of_ms: Some(ms("2026-11-20T00:00:00Z")),
        ..Options::default()
    };
    let cs = clocks("us_sec_8k_105", &t, &[], &early);
    assert_eq!(
        find(&cs, "us_sec_8k_105_initial").status,
        ClockStatus::NotStarted
    );
}

#[test]
fn earliest_due_is_the_operational_deadline() {
    // GDPR SA due Mon 22:42Z; NIS2 early warning due Sat 22:42Z (earliest);
    // qualitative SLAs (Sat 22:42Z too) are excluded.
    let t = Triggers::new().with("awareness", ms("2026-03-06T22:42:00Z"));
    let opts = Options::default();
    let mut all = clocks("eu_gdpr", &t, &[], &opts);
    all.extend(clocks("eu_nis2", &t, &[], &opts));
    let e = earliest_due(&all).expect("some clock pending");
    assert_eq!(e.obligation_id, "eu_nis2_early_warning");
    assert_eq!(e.due_at_ms, Some(ms("2026-03-07T22:42:00Z")));
}
