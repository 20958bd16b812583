//! Regulatory clocks: the breach-notification catalogue (`catalogue.toml`, a
//! byte-for-byte copy of the researched reference, embedded) as typed data,
//! which regimes apply to an exposure and why, the exact deadline of every
//! obligation from its trigger instants, its status against notices filed,
//! and statutory-maxima money estimates.
//!
//! This module owns: the catalogue types and their validation, the
//! regime → applicability/time-zone table ([`REGIME_RULES`]), the entity-kind
//! vocabulary ([`ENTITY_KINDS`]), holiday calendars and deadline arithmetic
//! (with jiff's bundled tzdb).
//!
//! It must not: read the wall clock (every instant, including "as of", is an
//! argument in milliseconds since the Unix epoch, UTC), do I/O, use
//! randomness, or know about scenarios, fixtures or the simulator. Callers
//! turn their events into [`Triggers`] and filed notices; this module only
//! computes. It never invents a deadline or an amount: every number comes
//! from the catalogue, and every [`Clock`] carries the obligation's
//! verification mark.
//!
//! Decisions where the companion md is silent or unverified:
//! * Chained anchors (`submitted:<obligation>`, `individual_notice_sent`):
//!   an explicit trigger of that key if the caller set one (e.g. the 8-K
//!   amendment runs from when new information became available, not from
//!   the first filing), else the instant the anchor notice was actually
//!   filed (`notified`), else it is *projected* from the anchor's due
//!   instant. A projected clock reports its due time but stays
//!   [`ClockStatus::NotStarted`] (the submission never happened) unless the
//!   chained notice itself was filed, so a missed anchor is counted once, on
//!   the anchor's own clock.
//! * `contemporaneous` (HIPAA HHS ≥ 500): due at the end of the local day the
//!   anchor notice was filed, but never later than the anchor's own due time.
//! * `calendar_year_end` is taken from the trigger if given, else derived as
//!   31 December (local) of the `discovery` year.
//! * DORA initial: 4 h from classification capped at awareness + 24 h; if
//!   the classification itself comes after the cap, 4 h from classification
//!   (the late-classification rule, secondary).
//! * Holidays: US federal per 5 U.S.C. 6103 with observance (the md marks the
//!   observance rule unresearched); Brazil from background knowledge
//!   (unverified, see [`calendar::br_national_holidays`]); EU Member State and
//!   acquirer calendars: weekends only (no holiday data held).
//! * Time zones follow the md's list; where it names none, the earliest
//!   expiring candidate (US federal → America/New_York); card brands have no
//!   zone in the sources, so [`Options::acquirer_timezone`] (UTC by default).

pub mod calendar;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

pub use calendar::BusinessCalendar;

/// The catalogue, exactly as researched (`regulatory-clocks.toml`).
pub const CATALOGUE_TOML: &str = include_str!("catalogue.toml");

/// What can go wrong in this module (never a panic).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    #[error("catalogue does not parse: {0}")]
    Parse(String),
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("time arithmetic out of range: {0}")]
    Time(String),
    #[error("obligation {0:?}: {1}")]
    Obligation(String, String),
}

impl From<jiff::Error> for ClockError {
    fn from(e: jiff::Error) -> Self {
        ClockError::Time(e.to_string())
    }
}

// ------------------------------------------------------------------ data

/// The parsed catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub meta: Meta,
    pub defaults: Defaults,
    pub vocab: Vocab,
    #[serde(rename = "regime")]
    pub regimes: Vec<Regime>,
    pub unverified: Vec<UnverifiedItem>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub title: String,
    pub schema_version: u32,
    pub researched_on: String,
    pub companion: String,
    pub disclaimer: String,
}

/// The computation defaults the research recommends (see [`Options`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub hours_rounding: String,
    pub calendar_day_count: String,
    pub weekend_holiday_rollover: bool,
    pub month_rule: String,
    pub end_of_day: String,
    pub store_instants_in: String,
    pub multi_jurisdiction: String,
    pub qualitative_deadline_scoring: String,
}

/// Key → meaning tables every coded value must come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocab {
    pub triggers: BTreeMap<String, String>,
    pub deadline_kinds: BTreeMap<String, String>,
    pub recipients: BTreeMap<String, String>,
    pub business_calendars: BTreeMap<String, String>,
    pub data_categories: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnverifiedItem {
    pub item: String,
}

/// How well a fact was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    Verified,
    Secondary,
    Unverified,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Verified => "verified",
            Verification::Secondary => "secondary",
            Verification::Unverified => "unverified",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegimeStatus {
    InForce,
    Proposed,
    NotifiedNotYetInForce,
}

/// `deadline_kind` (keys of `[vocab.deadline_kinds]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    Hours,
    CalendarDays,
    BusinessDays,
    Months,
    Qualitative,
    Contemporaneous,
    Annual,
    OnRequest,
    None,
}

impl DeadlineKind {
    pub const ALL: [DeadlineKind; 9] = [
        DeadlineKind::Hours,
        DeadlineKind::CalendarDays,
        DeadlineKind::BusinessDays,
        DeadlineKind::Months,
        DeadlineKind::Qualitative,
        DeadlineKind::Contemporaneous,
        DeadlineKind::Annual,
        DeadlineKind::OnRequest,
        DeadlineKind::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::Hours => "hours",
            DeadlineKind::CalendarDays => "calendar_days",
            DeadlineKind::BusinessDays => "business_days",
            DeadlineKind::Months => "months",
            DeadlineKind::Qualitative => "qualitative",
            DeadlineKind::Contemporaneous => "contemporaneous",
            DeadlineKind::Annual => "annual",
            DeadlineKind::OnRequest => "on_request",
            DeadlineKind::None => "none",
        }
    }

    /// Whether the due instant depends on a local calendar (and so a zone).
    pub fn is_calendar_based(self) -> bool {
        matches!(
            self,
            DeadlineKind::CalendarDays
                | DeadlineKind::BusinessDays
                | DeadlineKind::Months
                | DeadlineKind::Annual
                | DeadlineKind::Contemporaneous
        )
    }
}

/// `threshold_comparator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparator {
    Ge,
    Gt,
    Lt,
}

impl Comparator {
    pub fn holds(self, count: u64, threshold: u64) -> bool {
        match self {
            Comparator::Ge => count >= threshold,
            Comparator::Gt => count > threshold,
            Comparator::Lt => count < threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Ge => ">=",
            Comparator::Gt => ">",
            Comparator::Lt => "<",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regime {
    pub id: String,
    pub name: String,
    pub jurisdiction: String,
    pub citation: String,
    /// ISO date, or empty for a proposal.
    pub in_force: String,
    pub status: RegimeStatus,
    pub verification: Verification,
    pub data_categories: Vec<String>,
    pub requires_name_combination: bool,
    pub name_combination_exceptions: Option<Vec<String>>,
    pub exemptions: Vec<String>,
    pub sources: Vec<String>,
    pub notes: String,
    pub penalties: Penalties,
    #[serde(rename = "obligation")]
    pub obligations: Vec<Obligation>,
}

impl Regime {
    pub fn obligation(&self, id: &str) -> Option<&Obligation> {
        self.obligations.iter().find(|o| o.id == id)
    }
}

/// Penalty facts; amounts are in `currency`, absent where none is fixed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Penalties {
    pub summary: String,
    pub currency: Option<String>,
    pub max_fixed_amount: Option<u64>,
    pub max_turnover_pct: Option<f64>,
    pub upper_tier_fixed_amount: Option<u64>,
    pub upper_tier_turnover_pct: Option<f64>,
    pub verification: Verification,
    pub statutory_damages_min_per_consumer: Option<u64>,
    pub statutory_damages_max_per_consumer: Option<u64>,
    pub statutory_damages_max_indexed_2025: Option<u64>,
    pub statutory_damages_min_indexed_2025_verification: Option<Verification>,
    pub admin_fine_per_violation: Option<u64>,
    pub admin_fine_intentional_or_minor: Option<u64>,
    pub admin_fine_per_violation_indexed_2025: Option<u64>,
    pub admin_fine_intentional_indexed_2025: Option<u64>,
    pub important_entity_fixed_amount: Option<u64>,
    pub important_entity_turnover_pct: Option<f64>,
    pub ctpp_periodic_penalty_daily_turnover_pct: Option<f64>,
    pub calendar_year_cap_recent: Option<u64>,
    pub credit_monitoring_months: Option<u32>,
    pub notification_failure_max: Option<u64>,
}

/// One clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obligation {
    pub id: String,
    pub citation: String,
    pub recipient: String,
    pub recipient_detail: Option<String>,
    pub trigger: String,
    pub trigger_text: Option<String>,
    pub anchor_obligation: Option<String>,
    pub anchor_note: Option<String>,
    pub deadline_kind: DeadlineKind,
    pub deadline_value: Option<u32>,
    pub deadline_value_small_agents: Option<u32>,
    pub deadline_value_trust_service_providers: Option<u32>,
    pub deadline_text: String,
    pub business_calendar: Option<String>,
    pub daily_cutoff_local: Option<String>,
    pub cap_trigger: Option<String>,
    pub cap_hours: Option<u32>,
    pub late_classification_rule: Option<String>,
    pub extension_days: Option<u32>,
    pub extension_condition: Option<String>,
    pub late_allowed: Option<String>,
    pub condition: Option<String>,
    pub threshold_count: u64,
    pub threshold_comparator: Option<Comparator>,
    pub threshold_population: Option<String>,
    pub timezone_hint: Option<String>,
    pub stage: Option<String>,
    pub stage_order: Option<u32>,
    pub verification: Verification,
}

static CATALOGUE: OnceLock<Result<Catalogue, ClockError>> = OnceLock::new();

/// The embedded catalogue, parsed once.
pub fn catalogue() -> Result<&'static Catalogue, ClockError> {
    CATALOGUE
        .get_or_init(|| parse(CATALOGUE_TOML))
        .as_ref()
        .map_err(Clone::clone)
}

/// Parse a catalogue text (the embedded one, or a variant in tests).
pub fn parse(text: &str) -> Result<Catalogue, ClockError> {
    toml::from_str(text).map_err(|e| ClockError::Parse(e.to_string()))
}

// ------------------------------------------------------- applicability

/// Kinds of entity for regimes that apply by what the entity is rather than
/// where its data subjects live: (key, meaning).
pub const ENTITY_KINDS: &[(&str, &str)] = &[
    (
        "sec_registrant",
        "SEC registrant filing Exchange Act reports (Form 8-K Item 1.05)",
    ),
    (
        "sec_reg_sp_covered",
        "broker, dealer, investment company, registered adviser or transfer agent (SEC Regulation S-P)",
    ),
    (
        "nydfs_covered",
        "covered entity licensed by NY DFS (23 NYCRR 500)",
    ),
    (
        "hipaa_covered_entity",
        "HIPAA covered entity (health plan, clearinghouse, provider)",
    ),
    (
        "hipaa_business_associate",
        "HIPAA business associate of a covered entity",
    ),
    (
        "glba_ftc_financial_institution",
        "non-bank financial institution under FTC jurisdiction (GLBA Safeguards Rule)",
    ),
    (
        "nis2_entity",
        "essential entity under a national NIS2 transposition",
    ),
    (
        "nis2_important_entity",
        "important (not essential) entity under NIS2: lower fine maxima",
    ),
    (
        "dora_financial_entity",
        "financial entity within DORA Art. 2",
    ),
    (
        "pci_merchant",
        "merchant or service provider handling payment card data (PCI DSS, card brands)",
    ),
    (
        "telecom_provider",
        "provider of a public electronic communications service in the UK (PECR)",
    ),
    (
        "india_certin",
        "service provider, intermediary, data centre or body corporate under the CERT-In Directions",
    ),
    (
        "processor",
        "processes or maintains the data for another owner (processor, service provider, \
         maintainer, third-party agent): enables the vendor-to-owner obligations",
    ),
];

/// EU member states and the EEA EFTA states (ISO 3166-1 alpha-2; Greece is GR).
pub const EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

/// What makes a regime apply.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Subjects resident in any of these jurisdictions.
    Residents(&'static [&'static str]),
    /// The entity is any of these kinds (see [`ENTITY_KINDS`]).
    Entity(&'static [&'static str]),
    /// Both: residents of these jurisdictions and one of these kinds.
    ResidentsAndEntity(&'static [&'static str], &'static [&'static str]),
}

/// The local civil time a regime's day-based deadlines are counted in.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Iana(&'static str),
    /// [`Options::eu_timezone`] (the lead authority's Member State).
    EuAuthority,
    /// [`Options::acquirer_timezone`].
    Acquirer,
}

/// How each catalogue regime is matched and which calendar it counts in.
#[derive(Debug, Clone, Copy)]
pub struct RegimeRule {
    pub id: &'static str,
    pub scope: Scope,
    pub zone: Zone,
    /// Calendar for the optional weekend/holiday roll-forward of day-based
    /// deadlines (obligations naming a `business_calendar` use that).
    pub calendar: &'static str,
}

const fn rule(id: &'static str, scope: Scope, zone: Zone, calendar: &'static str) -> RegimeRule {
    RegimeRule {
        id,
        scope,
        zone,
        calendar,
    }
}

const NY: Zone = Zone::Iana("America/New_York");
const US: &str = "US_federal";
const EU: &str = "EU_member_state";
const WEEKENDS: &str = "weekends_only";

/// One entry per catalogue regime (a test checks both directions).
pub const REGIME_RULES: &[RegimeRule] = &[
    rule("eu_gdpr", Scope::Residents(EEA), Zone::EuAuthority, EU),
    rule(
        "eu_gdpr_omnibus_proposal",
        Scope::Residents(EEA),
        Zone::EuAuthority,
        EU,
    ),
    rule(
        "uk_gdpr",
        Scope::Residents(&["GB"]),
        Zone::Iana("Europe/London"),
        WEEKENDS,
    ),
    rule(
        "us_ca_1798_82",
        Scope::Residents(&["US-CA"]),
        Zone::Iana("America/Los_Angeles"),
        US,
    ),
    rule(
        "us_ca_ccpa_1798_150",
        Scope::Residents(&["US-CA"]),
        Zone::Iana("America/Los_Angeles"),
        US,
    ),
    rule(
        "eu_nis2",
        Scope::Entity(&["nis2_entity", "nis2_important_entity"]),
        Zone::EuAuthority,
        EU,
    ),
    rule(
        "eu_dora",
        Scope::Entity(&["dora_financial_entity"]),
        Zone::EuAuthority,
        EU,
    ),
    rule("us_sec_8k_105", Scope::Entity(&["sec_registrant"]), NY, US),
    rule(
        "us_ny_dfs_500_17",
        Scope::Entity(&["nydfs_covered"]),
        NY,
        US,
    ),
    rule(
        "us_hipaa_bnr",
        Scope::Entity(&["hipaa_covered_entity", "hipaa_business_associate"]),
        NY,
        US,
    ),
    rule(
        "us_glba_ftc_safeguards",
        Scope::Entity(&["glba_ftc_financial_institution"]),
        NY,
        US,
    ),
    rule(
        "pci_dss_card_brands",
        Scope::Entity(&["pci_merchant"]),
        Zone::Acquirer,
        WEEKENDS,
    ),
    rule(
        "us_co_6_1_716",
        Scope::Residents(&["US-CO"]),
        Zone::Iana("America/Denver"),
        US,
    ),
    rule("us_fl_501_171", Scope::Residents(&["US-FL"]), NY, US),
    rule(
        "us_wa_19_255",
        Scope::Residents(&["US-WA"]),
        Zone::Iana("America/Los_Angeles"),
        US,
    ),
    rule(
        "us_tx_521_053",
        Scope::Residents(&["US-TX"]),
        Zone::Iana("America/Chicago"),
        US,
    ),
    rule("us_ny_gbl_899_aa", Scope::Residents(&["US-NY"]), NY, US),
    rule("us_ma_93h", Scope::Residents(&["US-MA"]), NY, US),
    rule(
        "ca_pipeda",
        Scope::Residents(&["CA"]),
        Zone::Iana("America/Toronto"),
        WEEKENDS,
    ),
    rule(
        "au_ndb",
        Scope::Residents(&["AU"]),
        Zone::Iana("Australia/Sydney"),
        WEEKENDS,
    ),
    rule(
        "br_lgpd",
        Scope::Residents(&["BR"]),
        Zone::Iana("America/Sao_Paulo"),
        "BR_national",
    ),
    rule(
        "sg_pdpa",
        Scope::Residents(&["SG"]),
        Zone::Iana("Asia/Singapore"),
        WEEKENDS,
    ),
    rule(
        "in_dpdp",
        Scope::Residents(&["IN"]),
        Zone::Iana("Asia/Kolkata"),
        WEEKENDS,
    ),
    rule(
        "in_certin_2022",
        Scope::Entity(&["india_certin"]),
        Zone::Iana("Asia/Kolkata"),
        WEEKENDS,
    ),
    rule(
        "us_sec_reg_sp",
        Scope::Entity(&["sec_reg_sp_covered"]),
        NY,
        US,
    ),
    rule(
        "uk_pecr",
        Scope::ResidentsAndEntity(&["GB"], &["telecom_provider"]),
        Zone::Iana("Europe/London"),
        WEEKENDS,
    ),
];

/// Obligations that bind only an entity of a given kind within an
/// applicable regime (vendor → owner notices; HIPAA roles).
pub const OBLIGATION_ROLES: &[(&str, &str)] = &[
    ("eu_gdpr_art33_processor", "processor"),
    ("us_ca_1798_82_maintainer", "processor"),
    ("us_fl_third_party_agent", "processor"),
    ("us_sec_reg_sp_service_provider", "processor"),
    ("us_hipaa_business_associate", "hipaa_business_associate"),
    ("us_hipaa_individuals", "hipaa_covered_entity"),
    ("us_hipaa_media", "hipaa_covered_entity"),
    ("us_hipaa_hhs_large", "hipaa_covered_entity"),
    ("us_hipaa_hhs_small", "hipaa_covered_entity"),
];

/// Obligations whose threshold counts the residents of the single most
/// affected US state rather than the regime's whole population.
const SINGLE_STATE_THRESHOLDS: &[&str] = &["us_hipaa_media"];

/// Regimes whose turnover percentage is capped by the fixed amount
/// (LGPD Art. 52: "2% of revenue, capped at BRL 50M"); elsewhere the
/// higher of the two applies ("whichever is higher" / "greater of").
const TURNOVER_CAPPED_BY_FIXED: &[&str] = &["br_lgpd"];

pub fn regime_rule(id: &str) -> Option<&'static RegimeRule> {
    REGIME_RULES.iter().find(|r| r.id == id)
}

/// What leaked, about whom, and what the entity is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// ISO 3166-1 alpha-2 (`DE`, `GB`) or `US-XX` → affected subjects.
    pub subjects_by_jurisdiction: BTreeMap<String, u64>,
    /// Keys of `[vocab.data_categories]`. Names are taken to be present
    /// (for `requires_name_combination`) iff `any_personal_data` is here.
    pub data_categories: BTreeSet<String>,
    /// Keys of [`ENTITY_KINDS`].
    pub entity_kinds: BTreeSet<String>,
    pub subjects_total: u64,
}

/// `[defaults].hours_rounding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoursRounding {
    /// anchor + N hours exactly (the conservative default).
    None,
    /// EU regimes only: start at the next full hour (Reg. 1182/71 Art.
    /// 3(1)-(2)(a) reading, unverified): a what-if switch.
    EuNextFullHour,
}

/// Computation switches. `Default` equals the catalogue's `[defaults]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// "Now" for pending/overdue; `None` → unfiled clocks are `Pending`.
    pub as_of_ms: Option<i64>,
    pub include_proposed: bool,
    /// Include `notified_not_yet_in_force` regimes (India DPDP).
    pub include_not_yet_in_force: bool,
    pub hours_rounding: HoursRounding,
    /// Roll a day-based deadline that lands on a weekend/holiday forward.
    pub weekend_holiday_rollover: bool,
    /// Internal SLA for qualitative deadlines, in hours.
    pub internal_sla_hours: u32,
    /// IANA zone of the EU lead authority.
    pub eu_timezone: String,
    /// IANA zone of the acquirer (card-brand working days).
    pub acquirer_timezone: String,
    /// Brazil: also skip Carnival Mon/Tue and Corpus Christi.
    pub br_optional_holidays: bool,
    /// Brazil: small processing agent (doubled deadlines).
    pub small_processing_agent: bool,
    /// NIS2: trust service provider (24 h notification).
    pub nis2_trust_service_provider: bool,
    /// Florida: good cause given in writing (+15 days for the Department).
    pub fl_good_cause_extension: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            as_of_ms: None,
            include_proposed: false,
            include_not_yet_in_force: false,
            hours_rounding: HoursRounding::None,
            weekend_holiday_rollover: false,
            internal_sla_hours: 24,
            eu_timezone: "Europe/Brussels".to_owned(),
            acquirer_timezone: "UTC".to_owned(),
            br_optional_holidays: false,
            small_processing_agent: false,
            nis2_trust_service_provider: false,
            fl_good_cause_extension: false,
        }
    }
}

impl Options {
    /// The defaults named by a catalogue's `[defaults]` table.
    pub fn from_defaults(d: &Defaults) -> Result<Options, ClockError> {
        let hours_rounding = match d.hours_rounding.as_str() {
            "none" => HoursRounding::None,
            "eu_next_full_hour" => HoursRounding::EuNextFullHour,
            other => {
                return Err(ClockError::Parse(format!(
                    "unknown hours_rounding {other:?}"
                )));
            }
        };
        Ok(Options {
            hours_rounding,
            weekend_holiday_rollover: d.weekend_holiday_rollover,
            ..Options::default()
        })
    }
}

/// One obligation that applies, and why.
#[derive(Debug, Clone)]
pub struct ApplicableObligation<'a> {
    pub obligation: &'a Obligation,
    pub reason: String,
}

/// A regime that applies to an exposure.
#[derive(Debug, Clone)]
pub struct Applicable<'a> {
    pub regime: &'a Regime,
    /// In catalogue order.
    pub obligations: Vec<ApplicableObligation<'a>>,
    /// Why the regime applies (jurisdiction/entity kind, categories, count).
    pub reason: String,
    /// The population its thresholds were compared against.
    pub subjects: u64,
}

fn matched_categories(regime: &Regime, exp: &Exposure) -> Vec<String> {
    if regime.data_categories.iter().any(|c| c == "incident_any") {
        return vec!["incident_any".to_owned()];
    }
    let names = exp.data_categories.contains("any_personal_data");
    let exceptions = regime.name_combination_exceptions.as_deref().unwrap_or(&[]);
    regime
        .data_categories
        .iter()
        .filter(|c| {
            if c.as_str() == "any_personal_data" {
                // Every element in the vocabulary is personal data.
                exp.data_categories.iter().any(|d| d != "incident_any")
            } else {
                exp.data_categories.contains(c.as_str())
                    && (!regime.requires_name_combination || names || exceptions.contains(c))
            }
        })
        .cloned()
        .collect()
}

/// Regimes that apply to `exp`, sorted by regime id, each with its
/// obligations in catalogue order.
pub fn applicable<'a>(cat: &'a Catalogue, exp: &Exposure, opts: &Options) -> Vec<Applicable<'a>> {
    let mut out = Vec::new();
    for regime in &cat.regimes {
        let status_ok = match regime.status {
            RegimeStatus::InForce => true,
            RegimeStatus::Proposed => opts.include_proposed,
            RegimeStatus::NotifiedNotYetInForce => opts.include_not_yet_in_force,
        };
        let Some(rule) = regime_rule(&regime.id) else {
            continue;
        };
        if !status_ok {
            continue;
        }
        let kinds_hit = |kinds: &[&str]| -> Option<String> {
            let hit: Vec<&str> = kinds
                .iter()
                .copied()
                .filter(|k| exp.entity_kinds.contains(*k))
                .collect();
            (!hit.is_empty()).then(|| hit.join("+"))
        };
        let residents = |js: &[&str]| -> (u64, String) {
            let mut n = 0u64;
            let mut named = Vec::new();
            for (j, c) in &exp.subjects_by_jurisdiction {
                if *c > 0 && js.contains(&j.as_str()) {
                    n = n.saturating_add(*c);
                    named.push(format!("{j}:{c}"));
                }
            }
            (n, named.join(","))
        };
        let (subjects, who) = match rule.scope {
            Scope::Residents(js) => {
                let (n, named) = residents(js);
                if n == 0 {
                    continue;
                }
                (n, format!("residents {named}"))
            }
            Scope::Entity(kinds) => {
                let Some(k) = kinds_hit(kinds) else { continue };
                (
                    exp.subjects_total,
                    format!("entity kind {k}, {} subjects in total", exp.subjects_total),
                )
            }
            Scope::ResidentsAndEntity(js, kinds) => {
                let Some(k) = kinds_hit(kinds) else { continue };
                let (n, named) = residents(js);
                if n == 0 {
                    continue;
                }
                (n, format!("entity kind {k}, residents {named}"))
            }
        };
        let cats = matched_categories(regime, exp);
        if cats.is_empty() {
            continue;
        }
        let max_state = exp
            .subjects_by_jurisdiction
            .iter()
            .filter(|(j, _)| j.starts_with("US-"))
            .map(|(_, c)| *c)
            .max()
            .unwrap_or(0);
        let mut obligations = Vec::new();
        for ob in &regime.obligations {
            if let Some((_, role)) = OBLIGATION_ROLES.iter().find(|(id, _)| *id == ob.id)
                && !exp.entity_kinds.contains(*role)
            {
                continue;
            }
            let reason = if ob.threshold_count == 0 {
                "no numeric threshold".to_owned()
            } else {
                let cmp = ob.threshold_comparator.unwrap_or(Comparator::Ge);
                let (count, what) = if SINGLE_STATE_THRESHOLDS.contains(&ob.id.as_str()) {
                    (max_state, "residents of the most affected US state")
                } else {
                    (subjects, "subjects")
                };
                if !cmp.holds(count, ob.threshold_count) {
                    continue;
                }
                format!("{count} {what} {} {}", cmp.symbol(), ob.threshold_count)
            };
            obligations.push(ApplicableObligation {
                obligation: ob,
                reason,
            });
        }
        if obligations.is_empty() {
            continue;
        }
        out.push(Applicable {
            regime,
            obligations,
            reason: format!("{who}; data categories {}", cats.join("+")),
            subjects,
        });
    }
    out.sort_by(|a, b| a.regime.id.cmp(&b.regime.id));
    out
}

// ------------------------------------------------------------- clocks

/// Trigger instants by `[vocab.triggers]` key (ms since the epoch, UTC).
/// A `submitted:<obligation>` key may be set to state a chained anchor
/// instant explicitly; it takes precedence over the filed notice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triggers {
    by_kind: BTreeMap<String, i64>,
}

impl Triggers {
    pub fn new() -> Triggers {
        Triggers::default()
    }

    /// Builder: `kind` happened at `at_ms`.
    pub fn with(mut self, kind: &str, at_ms: i64) -> Triggers {
        self.set(kind, at_ms);
        self
    }

    pub fn set(&mut self, kind: &str, at_ms: i64) {
        self.by_kind.insert(kind.to_owned(), at_ms);
    }

    pub fn get(&self, kind: &str) -> Option<i64> {
        self.by_kind.get(kind).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.by_kind.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    /// The trigger has not happened (or only a projected anchor exists).
    NotStarted,
    /// Started, nothing filed, due at or after `as_of` (or no `as_of`).
    Pending,
    /// Nothing filed and the due instant is before `as_of`.
    Overdue,
    NotifiedInTime,
    NotifiedLate,
    /// Qualitative deadline: margin against the internal SLA only.
    NoStatutoryMaximum,
    /// `on_request`: only if the authority asks.
    OnRequestOnly,
    /// `none`: not a notice clock (e.g. litigation exposure).
    NotAClock,
    /// The deadline could not be computed; see `note`.
    Invalid,
}

/// One computed clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clock {
    pub regime_id: String,
    pub obligation_id: String,
    pub citation: String,
    pub recipient: String,
    /// The trigger key; chained ones are `submitted:<obligation>`.
    pub trigger: String,
    pub trigger_at_ms: Option<i64>,
    pub due_at_ms: Option<i64>,
    pub deadline_text: String,
    pub kind: DeadlineKind,
    pub status: ClockStatus,
    /// due − filed (filed), or due − as_of (unfiled); negative = late.
    pub margin_ms: Option<i64>,
    pub verification: Verification,
    /// IANA zone of day-based deadlines; `None` for elapsed-hour ones.
    pub timezone: Option<String>,
    /// The trigger instant was projected from an unfiled anchor's due time.
    pub trigger_projected: bool,
    /// Rules applied (cap, roll-forward, SLA, projection) or the error.
    pub note: Option<String>,
}

const HOUR_MS: i64 = 3_600_000;

struct Resolved {
    trigger: String,
    trigger_at: Option<i64>,
    projected: bool,
    due: Option<i64>,
    zone: Option<String>,
    notes: Vec<String>,
}

struct Ctx<'a> {
    regime: &'a Regime,
    rule: &'a RegimeRule,
    triggers: &'a Triggers,
    notified: &'a BTreeMap<String, i64>,
    opts: &'a Options,
}

impl Ctx<'_> {
    fn zone_name(&self, ob: &Obligation) -> String {
        if let Some(h) = &ob.timezone_hint
            && TimeZone::get(h).is_ok()
        {
            return h.clone();
        }
        if ob.business_calendar.as_deref() == Some("acquirer_local") {
            return self.opts.acquirer_timezone.clone();
        }
        match self.rule.zone {
            Zone::Iana(z) => z.to_owned(),
            Zone::EuAuthority => self.opts.eu_timezone.clone(),
            Zone::Acquirer => self.opts.acquirer_timezone.clone(),
        }
    }

    fn value(&self, ob: &Obligation) -> Result<u32, ClockError> {
        let base = ob.deadline_value.ok_or_else(|| {
            ClockError::Obligation(ob.id.clone(), "deadline_value missing".to_owned())
        })?;
        if self.opts.small_processing_agent
            && let Some(v) = ob.deadline_value_small_agents
        {
            return Ok(v);
        }
        if self.opts.nis2_trust_service_provider
            && let Some(v) = ob.deadline_value_trust_service_providers
        {
            return Ok(v);
        }
        if self.opts.fl_good_cause_extension
            && let Some(x) = ob.extension_days
        {
            return Ok(base.saturating_add(x));
        }
        Ok(base)
    }

    fn rollover(
        &self,
        d: jiff::civil::Date,
        notes: &mut Vec<String>,
    ) -> Result<jiff::civil::Date, ClockError> {
        if !self.opts.weekend_holiday_rollover {
            return Ok(d);
        }
        let cal = BusinessCalendar::from_key(self.rule.calendar, self.opts.br_optional_holidays);
        let r = cal.roll_forward(d)?;
        if r != d {
            notes.push(format!("rolled forward from {d} to {r}"));
        }
        Ok(r)
    }

    fn resolve(&self, ob: &Obligation, depth: u8) -> Result<Resolved, ClockError> {
        if depth > 8 {
            return Err(ClockError::Obligation(
                ob.id.clone(),
                "anchor chain too deep".to_owned(),
            ));
        }
        let zone = self.zone_name(ob);
        let tz = TimeZone::get(&zone).map_err(|_| ClockError::TimeZone(zone.clone()))?;
        let mut notes = Vec::new();
        let anchor = |id: &str| -> Result<&Obligation, ClockError> {
            self.regime.obligation(id).ok_or_else(|| {
                ClockError::Obligation(ob.id.clone(), format!("anchor {id:?} not in the regime"))
            })
        };

        // The trigger instant.
        let mut projected = false;
        let (trigger, trigger_at) = match (ob.trigger.as_str(), &ob.anchor_obligation) {
            ("submitted" | "individual_notice_sent", Some(a)) => {
                let key = format!("submitted:{a}");
                let explicit = self
                    .triggers
                    .get(&key)
                    .or_else(|| self.notified.get(a).copied())
                    .or_else(|| {
                        self.triggers
                            .get(&ob.trigger)
                            .filter(|_| ob.trigger != "submitted")
                    });
                let at = match explicit {
                    Some(t) => Some(t),
                    None => {
                        let r = self.resolve(anchor(a)?, depth + 1)?;
                        if r.due.is_some() {
                            projected = true;
                            notes.push(format!(
                                "trigger projected from the due time of unfiled {a}"
                            ));
                        }
                        r.due
                    }
                };
                let label = if ob.trigger == "submitted" {
                    key
                } else {
                    ob.trigger.clone()
                };
                (label, at)
            }
            ("calendar_year_end", _) => {
                let at = match self.triggers.get("calendar_year_end") {
                    Some(t) => Some(t),
                    None => match self.triggers.get("discovery") {
                        Some(d) => {
                            let y = calendar::local_date(d, &tz)?.year();
                            notes.push(format!("calendar year end derived from discovery ({y})"));
                            Some(calendar::end_of_day(
                                jiff::civil::Date::new(y, 12, 31)?,
                                &tz,
                            )?)
                        }
                        None => None,
                    },
                };
                (ob.trigger.clone(), at)
            }
            (t, _) => (t.to_owned(), self.triggers.get(t)),
        };

        let zone_out = ob.deadline_kind.is_calendar_based().then(|| zone.clone());
        let Some(t) = trigger_at else {
            return Ok(Resolved {
                trigger,
                trigger_at: None,
                projected,
                due: None,
                zone: zone_out,
                notes,
            });
        };

        let due = match ob.deadline_kind {
            DeadlineKind::Hours => {
                let mut start = t;
                if self.opts.hours_rounding == HoursRounding::EuNextFullHour
                    && self.regime.id.starts_with("eu_")
                {
                    start = t.div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS;
                    notes.push("EU next-full-hour rounding".to_owned());
                }
                let mut due = start.saturating_add(i64::from(self.value(ob)?) * HOUR_MS);
                if let (Some(ct), Some(ch)) = (&ob.cap_trigger, ob.cap_hours)
                    && let Some(c0) = self.triggers.get(ct)
                {
                    let cap = c0.saturating_add(i64::from(ch) * HOUR_MS);
                    if t > cap {
                        notes.push(format!(
                            "late classification: {ch} h cap from {ct} already passed"
                        ));
                    } else if cap < due {
                        due = cap;
                        notes.push(format!("capped at {ct} + {ch} h"));
                    }
                }
                Some(due)
            }
            DeadlineKind::CalendarDays => {
                let d0 = calendar::local_date(t, &tz)?;
                let d = d0.checked_add(jiff::Span::new().days(i64::from(self.value(ob)?)))?;
                let d = self.rollover(d, &mut notes)?;
                Some(calendar::end_of_day(d, &tz)?)
            }
            DeadlineKind::BusinessDays => {
                let key = ob
                    .business_calendar
                    .as_deref()
                    .unwrap_or(self.rule.calendar);
                let cal = BusinessCalendar::from_key(key, self.opts.br_optional_holidays);
                let d0 = calendar::local_date(t, &tz)?;
                let d = cal.add_business_days(d0, self.value(ob)?)?;
                Some(match &ob.daily_cutoff_local {
                    Some(hhmm) => {
                        let (h, m) = parse_hhmm(hhmm).ok_or_else(|| {
                            ClockError::Obligation(
                                ob.id.clone(),
                                format!("bad daily_cutoff_local {hhmm:?}"),
                            )
                        })?;
                        calendar::at_local(d, h, m, &tz)?
                    }
                    None => calendar::end_of_day(d, &tz)?,
                })
            }
            DeadlineKind::Months => {
                let d0 = calendar::local_date(t, &tz)?;
                let d = calendar::add_months(d0, self.value(ob)?)?;
                let d = self.rollover(d, &mut notes)?;
                Some(calendar::end_of_day(d, &tz)?)
            }
            DeadlineKind::Annual => {
                let d0 = calendar::local_date(t, &tz)?;
                let d = d0.checked_add(jiff::Span::new().days(i64::from(self.value(ob)?)))?;
                let d = self.rollover(d, &mut notes)?;
                Some(calendar::end_of_day(d, &tz)?)
            }
            DeadlineKind::Contemporaneous => {
                let a = ob.anchor_obligation.as_deref().ok_or_else(|| {
                    ClockError::Obligation(
                        ob.id.clone(),
                        "contemporaneous without anchor_obligation".to_owned(),
                    )
                })?;
                let anchor_due = self.resolve(anchor(a)?, depth + 1)?.due;
                match self.notified.get(a) {
                    Some(filed) => {
                        let eod = calendar::end_of_day(calendar::local_date(*filed, &tz)?, &tz)?;
                        notes.push(format!("due with {a} (filed)"));
                        Some(anchor_due.map_or(eod, |ad| ad.min(eod)))
                    }
                    None => {
                        notes.push(format!("due with {a} (not filed: its due time)"));
                        anchor_due
                    }
                }
            }
            DeadlineKind::Qualitative => {
                notes.push(format!(
                    "no statutory maximum; internal SLA {} h",
                    self.opts.internal_sla_hours
                ));
                Some(t.saturating_add(i64::from(self.opts.internal_sla_hours) * HOUR_MS))
            }
            DeadlineKind::OnRequest | DeadlineKind::None => None,
        };
        Ok(Resolved {
            trigger,
            trigger_at: Some(t),
            projected,
            due,
            zone: zone_out,
            notes,
        })
    }
}

fn parse_hhmm(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.split_once(':')?;
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

/// The clocks of an applicable regime, one per applicable obligation in
/// catalogue order. `notified` maps obligation id → instant the notice was
/// filed. Never fails: an obligation that cannot be computed yields
/// [`ClockStatus::Invalid`] with the reason in `note`.
pub fn compute(
    app: &Applicable,
    triggers: &Triggers,
    notified: &BTreeMap<String, i64>,
    opts: &Options,
) -> Vec<Clock> {
    let fallback = RegimeRule {
        id: "",
        scope: Scope::Entity(&[]),
        zone: Zone::Iana("UTC"),
        calendar: WEEKENDS,
    };
    let rule = regime_rule(&app.regime.id).unwrap_or(&fallback);
    let ctx = Ctx {
        regime: app.regime,
        rule,
        triggers,
        notified,
        opts,
    };
    app.obligations
        .iter()
        .map(|a| clock(&ctx, a.obligation))
        .collect()
}

fn clock(ctx: &Ctx, ob: &Obligation) -> Clock {
    let mut c = Clock {
        regime_id: ctx.regime.id.clone(),
        obligation_id: ob.id.clone(),
        citation: ob.citation.clone(),
        recipient: ob.recipient.clone(),
        trigger: ob.trigger.clone(),
        trigger_at_ms: None,
        due_at_ms: None,
        deadline_text: ob.deadline_text.clone(),
        kind: ob.deadline_kind,
        status: ClockStatus::Invalid,
        margin_ms: None,
        verification: ob.verification,
        timezone: None,
        trigger_projected: false,
        note: None,
    };
    match ob.deadline_kind {
        DeadlineKind::None => {
            c.status = ClockStatus::NotAClock;
            return c;
        }
        DeadlineKind::OnRequest => {
            c.status = ClockStatus::OnRequestOnly;
            if let Some(a) = &ob.anchor_obligation {
                c.trigger = format!("submitted:{a}");
            }
            return c;
        }
        _ => {}
    }
    let r = match ctx.resolve(ob, 0) {
        Ok(r) => r,
        Err(e) => {
            c.note = Some(e.to_string());
            return c;
        }
    };
    c.trigger = r.trigger;
    c.trigger_at_ms = r.trigger_at;
    c.due_at_ms = r.due;
    c.timezone = r.zone;
    c.trigger_projected = r.projected;
    if !r.notes.is_empty() {
        c.note = Some(r.notes.join("; "));
    }
    let filed = ctx.notified.get(&ob.id).copied();
    let as_of = ctx.opts.as_of_ms;
    let (Some(t), Some(due)) = (r.trigger_at, r.due) else {
        c.status = ClockStatus::NotStarted;
        return c;
    };
    let started = as_of.is_none_or(|now| t <= now);
    if filed.is_none() && (r.projected || !started) {
        c.status = ClockStatus::NotStarted;
        return c;
    }
    let qualitative = ob.deadline_kind == DeadlineKind::Qualitative;
    (c.status, c.margin_ms) = match (filed, as_of) {
        (Some(f), _) => (
            if qualitative {
                ClockStatus::NoStatutoryMaximum
            } else if f <= due {
                ClockStatus::NotifiedInTime
            } else {
                ClockStatus::NotifiedLate
            },
            Some(due.saturating_sub(f)),
        ),
        (None, Some(now)) => (
            if qualitative {
                ClockStatus::NoStatutoryMaximum
            } else if now <= due {
                ClockStatus::Pending
            } else {
                ClockStatus::Overdue
            },
            Some(due.saturating_sub(now)),
        ),
        (None, None) => (
            if qualitative {
                ClockStatus::NoStatutoryMaximum
            } else {
                ClockStatus::Pending
            },
            None,
        ),
    };
    c
}

/// The operational deadline across clocks (`[defaults].multi_jurisdiction`:
/// each clock is reported, the binding one is the earliest): the earliest
/// due instant among started, unfiled statutory clocks (pending or overdue;
/// qualitative SLAs and projected anchors excluded).
pub fn earliest_due(clocks: &[Clock]) -> Option<&Clock> {
    clocks
        .iter()
        .filter(|c| matches!(c.status, ClockStatus::Pending | ClockStatus::Overdue))
        .filter_map(|c| c.due_at_ms.map(|d| (d, c)))
        .min_by(|(a, x), (b, y)| {
            a.cmp(b)
                .then_with(|| x.regime_id.cmp(&y.regime_id))
                .then_with(|| x.obligation_id.cmp(&y.obligation_id))
        })
        .map(|(_, c)| c)
}

// --------------------------------------------------------------- money

/// A penalty range from the catalogue's statutory maxima.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoneyEstimate {
    pub regime_id: String,
    pub currency: String,
    pub low: f64,
    pub high: f64,
    /// A higher tier the same facts may also attract (e.g. GDPR Art. 83(5)).
    pub upper_tier_high: Option<f64>,
    /// How each figure was obtained, naming the catalogue fields.
    pub basis: Vec<String>,
    pub label: &'static str,
    pub verification: Verification,
}

pub const MONEY_LABEL: &str = "estimate from statutory maxima; not legal advice";

fn tier(fixed: Option<u64>, pct: Option<f64>, turnover: Option<f64>, capped: bool) -> Option<f64> {
    let fixed = fixed.map(|f| f as f64);
    let share = match (pct, turnover) {
        (Some(p), Some(t)) if t.is_finite() && t >= 0.0 => Some(p / 100.0 * t),
        _ => None,
    };
    match (fixed, share) {
        (Some(f), Some(s)) => Some(if capped { s.min(f) } else { s.max(f) }),
        (Some(f), None) => Some(f),
        (None, Some(s)) => Some(s),
        (None, None) => None,
    }
}

/// A money range for an applicable regime from its penalty fields only
/// (no figure is invented; `None` where the catalogue fixes none).
/// `annual_turnover` is taken to be in the penalty's currency.
pub fn money_estimate(
    app: &Applicable,
    exp: &Exposure,
    annual_turnover: Option<f64>,
) -> Option<MoneyEstimate> {
    let p = &app.regime.penalties;
    let currency = p.currency.clone()?;
    let id = app.regime.id.as_str();
    let mut basis = Vec::new();
    let n = app.subjects as f64;
    let (low, high, upper) = if let Some(max_pc) = p
        .statutory_damages_max_indexed_2025
        .or(p.statutory_damages_max_per_consumer)
    {
        let min_pc = p.statutory_damages_min_per_consumer.unwrap_or(0);
        basis.push(format!(
            "statutory damages {min_pc}..{max_pc} {currency} per consumer x {} consumers",
            app.subjects
        ));
        (min_pc as f64 * n, max_pc as f64 * n, None)
    } else {
        let important = id == "eu_nis2"
            && exp.entity_kinds.contains("nis2_important_entity")
            && !exp.entity_kinds.contains("nis2_entity");
        let (fixed, pct, what) = if important {
            (
                p.important_entity_fixed_amount,
                p.important_entity_turnover_pct,
                "important-entity maxima",
            )
        } else if p.notification_failure_max.is_some() {
            (p.notification_failure_max, None, "notification_failure_max")
        } else if p.max_fixed_amount.is_some() || p.max_turnover_pct.is_some() {
            (
                p.max_fixed_amount,
                p.max_turnover_pct,
                "max_fixed_amount / max_turnover_pct",
            )
        } else {
            (p.calendar_year_cap_recent, None, "calendar_year_cap_recent")
        };
        let capped = TURNOVER_CAPPED_BY_FIXED.contains(&id);
        let high = tier(fixed, pct, annual_turnover, capped)?;
        let fixed_s = fixed.map_or("none".to_owned(), |f| format!("{f} {currency}"));
        let pct_s = pct.map_or("none".to_owned(), |p| format!("{p}% of annual turnover"));
        basis.push(format!(
            "{what}: fixed {fixed_s}, turnover {pct_s}, {}",
            if capped {
                "percentage capped by the fixed amount"
            } else {
                "whichever is higher"
            }
        ));
        let upper = if p.notification_failure_max.is_some() {
            p.max_fixed_amount.map(|f| f as f64)
        } else {
            tier(
                p.upper_tier_fixed_amount,
                p.upper_tier_turnover_pct,
                annual_turnover,
                false,
            )
        };
        if upper.is_some() {
            basis.push("upper tier from upper_tier_* / max_fixed_amount".to_owned());
        }
        (0.0, high, upper)
    };
    Some(MoneyEstimate {
        regime_id: id.to_owned(),
        currency,
        low,
        high,
        upper_tier_high: upper,
        basis,
        label: MONEY_LABEL,
        verification: p.verification,
    })
}
