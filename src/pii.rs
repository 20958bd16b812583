//! Synthetic, watermarked records: how many each object gets for N data
//! subjects, which subject and jurisdiction each record belongs to, and the
//! value of every field — all a pure function of (fixture, seed, object,
//! record index), so any record can be regenerated alone (for `trace`) and
//! generation parallelises trivially.
//!
//! Safety (PRODUCT §2): names come from the `fake` crate's locale data; every
//! other person-like value is in a range that cannot belong to anyone:
//! emails on the fixture's reserved domain, phones in 555-01xx (North
//! America) or Ofcom's drama range 07700 900xxx (UK), SSNs with area 900–999
//! and group 01–49 (never issued as SSN, outside the ITIN groups), documented
//! payment test card numbers, IPs in TEST-NET-1/2/3, account numbers in an
//! `LD`-prefixed format no bank uses.
//!
//! Owns: record plans and value generation. Must not: do I/O or read a clock.

use std::fmt::Write as _;

use fake::locales::{DE_DE, Data, EN, FR_FR, IT_IT, JA_JP, NL_NL, PT_BR, PT_PT, ZH_CN};
use rand::RngExt;

use crate::model::{Generator, Jurisdiction, Object, Org, TEST_NETS, Volume};
use crate::seed::{Rng, Seed};
use crate::{sfid, watermark};

/// Upper bound on `--records` (data subjects).
pub const MAX_SUBJECTS: u64 = 1_000_000_000;
/// Upper bound on records of one object: the watermark holds a 32-bit index.
pub const MAX_RECORDS_PER_OBJECT: u64 = u32::MAX as u64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("--records {got} is above the limit of {limit} data subjects")]
    TooManySubjects { got: u64, limit: u64 },
    #[error("object {object} would get {got} records, above the limit of {limit} per object")]
    TooManyRecords {
        object: String,
        got: u64,
        limit: u64,
    },
}

/// Names for generated workforce users, fixed so usernames and names stay
/// the same for every seed.
pub const WORKFORCE_NAMES: &[(&str, &str)] = &[
    ("Avery", "Lindqvist"),
    ("Jordan", "Okafor"),
    ("Riley", "Castellano"),
    ("Morgan", "Haddad"),
    ("Casey", "Nakamura"),
    ("Quinn", "Abernathy"),
    ("Rowan", "Delacroix"),
    ("Skyler", "Petrov"),
    ("Emerson", "Achterberg"),
    ("Finley", "Moreau"),
    ("Harper", "Szymanski"),
    ("Kendall", "Oyelaran"),
    ("Logan", "Fairweather"),
    ("Marlowe", "Ibarra"),
    ("Parker", "Vasquez"),
    ("Reese", "Grünewald"),
    ("Sage", "Thorsen"),
    ("Tatum", "Kowalczyk"),
    ("Devon", "Ashworth"),
    ("Elliot", "Brennan"),
];

/// Documented payment-processor test card numbers (Visa, Mastercard, Amex,
/// Discover, Diners, JCB): they pass Luhn but can never be charged.
pub const TEST_CARD_NUMBERS: [&str; 10] = [
    "4242424242424242",
    "4000056655665556",
    "4111111111111111",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "378282246310005",
    "6011111111111117",
    "3056930009020004",
    "3566002020360505",
];

/// Geographic North American area codes (no toll-free, N11 or unassigned
/// codes); combined with 555-0100..0199, the range reserved for fiction.
pub const AREA_CODES: [&str; 24] = [
    "201", "202", "206", "212", "213", "214", "303", "305", "312", "404", "415", "469", "503",
    "602", "617", "646", "702", "713", "718", "773", "808", "916", "917", "972",
];

/// The per-object facts a plan precomputes.
#[derive(Debug, Clone)]
struct ObjPlan {
    count: u64,
    parent: Option<usize>,
    field_seeds: Vec<Seed>,
    id_base: u64,
    jurisdiction_seed: Seed,
    persona_seed: Seed,
    needs_persona: bool,
}

/// How many records each object gets and how to make any one of them.
#[derive(Debug, Clone)]
pub struct Plan<'o> {
    pub org: &'o Org,
    pub seed: Seed,
    pub subjects: u64,
    objs: Vec<ObjPlan>,
    cum_weights: Vec<u64>,
}

/// The person a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub first: &'static str,
    pub last: &'static str,
}

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub watermark: String,
    pub jurisdiction: Option<Jurisdiction>,
    /// Values of the object's data fields, in field order.
    pub values: Vec<String>,
}

impl<'o> Plan<'o> {
    pub fn new(org: &'o Org, subjects: u64, seed: Seed) -> Result<Self, PlanError> {
        if subjects > MAX_SUBJECTS {
            return Err(PlanError::TooManySubjects {
                got: subjects,
                limit: MAX_SUBJECTS,
            });
        }
        let persons: Vec<usize> = (0..org.objects.len())
            .filter(|i| org.objects[*i].is_person())
            .collect();
        let mut objs: Vec<ObjPlan> = Vec::with_capacity(org.objects.len());
        let mut assigned = 0u64;
        for (idx, o) in org.objects.iter().enumerate() {
            let (count, parent) = match &o.volume {
                Volume::Subjects { percent } => {
                    let c = if persons.last() == Some(&idx) {
                        subjects - assigned
                    } else {
                        subjects * u64::from(*percent) / 100
                    };
                    assigned += c;
                    (c, None)
                }
                Volume::PerParent { parent, ratio } => {
                    let p = org.objects.iter().position(|x| &x.name == parent);
                    let pc = p.map_or(0, |p| objs[p].count);
                    ((pc as f64 * ratio).round() as u64, p)
                }
                Volume::Fixed { count } => (*count, None),
            };
            if count > MAX_RECORDS_PER_OBJECT {
                return Err(PlanError::TooManyRecords {
                    object: o.name.clone(),
                    got: count,
                    limit: MAX_RECORDS_PER_OBJECT,
                });
            }
            let obj_seed = seed.fork("record").fork(&o.name);
            objs.push(ObjPlan {
                count,
                parent,
                field_seeds: o.fields.iter().map(|f| obj_seed.fork(&f.name)).collect(),
                id_base: sfid::base(seed, &o.key_prefix),
                jurisdiction_seed: seed.fork("jurisdiction").fork(&o.name),
                persona_seed: seed.fork("persona").fork(&o.name),
                needs_persona: o.fields.iter().any(|f| {
                    matches!(
                        f.generator,
                        Generator::FirstName
                            | Generator::LastName
                            | Generator::FullName
                            | Generator::Email
                    )
                }),
            });
        }
        let mut acc = 0u64;
        let cum_weights = org
            .population
            .iter()
            .map(|p| {
                acc += u64::from(p.weight);
                acc
            })
            .collect();
        Ok(Plan {
            org,
            seed,
            subjects,
            objs,
            cum_weights,
        })
    }

    pub fn count(&self, object: usize) -> u64 {
        self.objs[object].count
    }

    /// The generated record a record Id names: (object, index), when the
    /// Id is one of this plan's (key prefix of a fixture object, index
    /// under this seed and within the object's count).
    pub fn locate(&self, id: &str) -> Option<(usize, u64)> {
        let prefix = id.get(..3)?;
        let object = self
            .org
            .objects
            .iter()
            .position(|o| o.key_prefix == prefix)?;
        let i = sfid::record_index(self.seed, id)?;
        (i < self.objs[object].count).then_some((object, i))
    }

    pub fn total_records(&self) -> u64 {
        self.objs.iter().map(|o| o.count).sum()
    }

    /// Index of the parent record of record `i` of `object`.
    fn parent_index(&self, object: usize, i: u64) -> Option<(usize, u64)> {
        let p = self.objs[object].parent?;
        let (c, pc) = (self.objs[object].count, self.objs[p].count);
        if c == 0 || pc == 0 {
            return None;
        }
        Some((p, (u128::from(i) * u128::from(pc) / u128::from(c)) as u64))
    }

    /// The person record (object, index) that record `i` of `object` is about.
    pub fn subject_of(&self, object: usize, i: u64) -> Option<(usize, u64)> {
        let (mut o, mut i) = (object, i);
        for _ in 0..=self.objs.len() {
            if self.org.objects[o].is_person() {
                return Some((o, i));
            }
            (o, i) = self.parent_index(o, i)?;
        }
        None
    }

    /// The jurisdiction of a data subject, drawn from the population mix.
    pub fn subject_jurisdiction(&self, person: usize, i: u64) -> &'o Jurisdiction {
        let total = *self.cum_weights.last().unwrap_or(&1);
        let mut rng = self.objs[person].jurisdiction_seed.fork_index(i).rng();
        let r = rng.random_range(0..total.max(1));
        let k = self.cum_weights.partition_point(|w| *w <= r);
        &self.org.population[k.min(self.org.population.len() - 1)].jurisdiction
    }

    pub fn persona(&self, person: usize, i: u64, country: &str) -> Persona {
        let mut rng = self.objs[person].persona_seed.fork_index(i).rng();
        let (firsts, lasts) = name_lists(country);
        Persona {
            first: firsts[rng.random_range(0..firsts.len())],
            last: lasts[rng.random_range(0..lasts.len())],
        }
    }

    pub fn record_id(&self, object: usize, i: u64) -> String {
        let mut s = String::with_capacity(18);
        self.push_record_id(&mut s, object, i);
        s
    }

    fn push_record_id(&self, out: &mut String, object: usize, i: u64) {
        let o = &self.org.objects[object];
        sfid::push_record_id(out, self.objs[object].id_base, &o.key_prefix, i);
    }

    /// Column names of `object`'s export, system fields first.
    pub fn header(&self, object: usize) -> Vec<&'o str> {
        let mut h = vec!["Id", "Watermark__c", "Jurisdiction__c"];
        h.extend(
            self.org.objects[object]
                .fields
                .iter()
                .map(|f| f.name.as_str()),
        );
        h
    }

    /// Writes record `i` of `object` into `row` (one string per header
    /// column), reusing the strings' buffers.
    pub fn fill_row(&self, object: usize, i: u64, row: &mut Vec<String>) {
        let o: &Object = &self.org.objects[object];
        let plan = &self.objs[object];
        row.resize_with(3 + o.fields.len(), String::new);
        for s in row.iter_mut() {
            s.clear();
        }
        self.push_record_id(&mut row[0], object, i);
        let (head, fields) = row.split_at_mut(3);
        watermark::push_token(&mut head[1], self.seed, &o.key_prefix, i as u32);
        let subject = self.subject_of(object, i);
        let juris = subject.map(|(p, s)| self.subject_jurisdiction(p, s));
        if let Some(j) = juris {
            head[2].push_str(&j.country);
            if let Some(r) = &j.region {
                head[2].push('-');
                head[2].push_str(r);
            }
        }
        let persona = match (plan.needs_persona, subject, juris) {
            (true, Some((p, s)), Some(j)) => Some(self.persona(p, s, &j.country)),
            _ => None,
        };
        let ctx = Ctx {
            watermark: &head[1],
            jurisdiction: juris,
            persona: persona.as_ref(),
            email_domain: &self.org.email_domain,
        };
        for ((f, seed), out) in o
            .fields
            .iter()
            .zip(&plan.field_seeds)
            .zip(fields.iter_mut())
        {
            if f.generator == Generator::ParentId {
                if let Some((p, pi)) = self.parent_index(object, i) {
                    self.push_record_id(out, p, pi);
                }
                continue;
            }
            let mut rng = seed.fork_index(i).rng();
            value(&f.generator, &mut rng, &ctx, out);
        }
    }

    /// Record `i` of `object` as a value (tests, `trace`).
    pub fn record(&self, object: usize, i: u64) -> Record {
        let mut row = Vec::new();
        self.fill_row(object, i, &mut row);
        let mut it = row.into_iter();
        let id = it.next().unwrap_or_default();
        let watermark = it.next().unwrap_or_default();
        let _ = it.next();
        Record {
            id,
            watermark,
            jurisdiction: self
                .subject_of(object, i)
                .map(|(p, s)| self.subject_jurisdiction(p, s).clone()),
            values: it.collect(),
        }
    }
}

struct Ctx<'a> {
    watermark: &'a str,
    jurisdiction: Option<&'a Jurisdiction>,
    persona: Option<&'a Persona>,
    email_domain: &'a str,
}

/// Appends `n` in decimal.
fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends `n` zero-padded to `width` digits.
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let digits = b.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

fn name_lists(country: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match country {
        "DE" | "AT" | "CH" => (DE_DE::NAME_FIRST_NAME, DE_DE::NAME_LAST_NAME),
        "FR" | "BE" | "LU" => (FR_FR::NAME_FIRST_NAME, FR_FR::NAME_LAST_NAME),
        "IT" => (IT_IT::NAME_FIRST_NAME, IT_IT::NAME_LAST_NAME),
        "NL" => (NL_NL::NAME_FIRST_NAME, NL_NL::NAME_LAST_NAME),
        "BR" => (PT_BR::NAME_FIRST_NAME, PT_BR::NAME_LAST_NAME),
        "PT" => (PT_PT::NAME_FIRST_NAME, PT_PT::NAME_LAST_NAME),
        "JP" => (JA_JP::NAME_FIRST_NAME, JA_JP::NAME_LAST_NAME),
        "CN" | "TW" => (ZH_CN::NAME_FIRST_NAME, ZH_CN::NAME_LAST_NAME),
        _ => (EN::NAME_FIRST_NAME, EN::NAME_LAST_NAME),
    }
}

fn pick<'a>(rng: &mut Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// Lower-case ASCII letters and digits of `s` (transliterated).
fn ascii_slug(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase()),
        );
        return;
    }
    for c in deunicode::deunicode(s).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// 2026-01-01 as days since the epoch: generated dates are anchored here,
/// never to the wall clock.
const ANCHOR_DAYS: i64 = 20_454;

fn push_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_padded(out, y.unsigned_abs(), 4);
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
}

fn value(g: &Generator, rng: &mut Rng, ctx: &Ctx<'_>, out: &mut String) {
    let country = ctx.jurisdiction.map_or("US", |j| j.country.as_str());
    match g {
        Generator::FirstName => out.push_str(ctx.persona.map_or("", |p| p.first)),
        Generator::LastName => out.push_str(ctx.persona.map_or("", |p| p.last)),
        Generator::FullName => {
            if let Some(p) = ctx.persona {
                out.push_str(p.first);
                out.push(' ');
                out.push_str(p.last);
            }
        }
        Generator::Email => {
            if let Some(p) = ctx.persona {
                ascii_slug(p.first, out);
                out.push('.');
                ascii_slug(p.last, out);
                out.push('+');
            }
            out.push_str(ctx.watermark);
            out.push('@');
            out.push_str(ctx.email_domain);
        }
        Generator::Phone => {
            if country == "GB" {
                out.push_str("+44 7700 900");
                push_padded(out, rng.random_range(0..1000u64), 3);
            } else {
                out.push_str("+1 ");
                out.push_str(pick(rng, &AREA_CODES));
                out.push_str("-555-01");
                push_padded(out, rng.random_range(0..100u64), 2);
            }
        }
        Generator::Ssn => {
            push_int(out, rng.random_range(900..1000u32));
            out.push('-');
            push_padded(out, rng.random_range(1..50u64), 2);
            out.push('-');
            push_padded(out, rng.random_range(1..10_000u64), 4);
        }
        Generator::DateOfBirth => {
            // Born 1940-01-01 .. 2005-12-31.
            push_date(out, rng.random_range(-10_958..13_149i64));
        }
        Generator::Street => {
            push_int(out, rng.random_range(1..9999u32));
            out.push(' ');
            out.push_str(pick(rng, EN::NAME_LAST_NAME));
            out.push(' ');
            out.push_str(pick(rng, EN::ADDRESS_STREET_SUFFIX));
        }
        Generator::City => {
            out.push_str(pick(rng, EN::ADDRESS_CITY_PREFIX));
            out.push(' ');
            out.push_str(pick(rng, EN::NAME_LAST_NAME));
            out.push_str(pick(rng, EN::ADDRESS_CITY_SUFFIX));
        }
        Generator::State => {
            if let Some(r) = ctx.jurisdiction.and_then(|j| j.region.as_deref()) {
                out.push_str(r);
            }
        }
        Generator::PostalCode => match country {
            "GB" => {
                let _ = write!(
                    out,
                    "ZZ{} {}ZZ",
                    rng.random_range(1..99u32),
                    rng.random_range(1..9u32)
                );
            }
            "SG" | "IN" | "CN" => {
                let _ = write!(out, "{:06}", rng.random_range(0..1_000_000u32));
            }
            "NL" => {
                let _ = write!(out, "{:04} ZZ", rng.random_range(1000..10_000u32));
            }
            _ => push_padded(out, rng.random_range(0..100_000u64), 5),
        },
        Generator::Country => out.push_str(country),
        Generator::Company => {
            let _ = write!(
                out,
                "{} {}",
                pick(rng, EN::NAME_LAST_NAME),
                pick(rng, EN::COMPANY_SUFFIX)
            );
        }
        Generator::JobTitle => {
            let _ = write!(
                out,
                "{} {} {}",
                pick(rng, EN::JOB_SENIORITY),
                pick(rng, EN::JOB_FIELD),
                pick(rng, EN::JOB_POSITION)
            );
        }
        Generator::AccountNumber => {
            out.push_str("LD");
            push_padded(out, rng.random_range(0..10_000_000_000u64), 10);
        }
        Generator::TestCardNumber => out.push_str(pick(rng, &TEST_CARD_NUMBERS)),
        Generator::PaymentToken => {
            out.push_str("tok_test_");
            out.push_str(ctx.watermark);
        }
        Generator::TestNetIp => {
            let net = TEST_NETS[rng.random_range(0..3usize)];
            let _ = write!(out, "{}", net.nth(rng.random_range(1..255u64)));
        }
        Generator::Money { min, max } => {
            // Whole cents, formatted as integers (no float formatting).
            let (lo, hi) = ((min * 100.0).round() as i64, (max * 100.0).round() as i64);
            let cents = if hi > lo {
                rng.random_range(lo..hi)
            } else {
                lo
            };
            if cents < 0 {
                out.push('-');
            }
            push_int(out, cents.unsigned_abs() / 100);
            out.push('.');
            push_padded(out, cents.unsigned_abs() % 100, 2);
        }
        Generator::Int { min, max } => {
            push_int(out, rng.random_range(*min..=*max));
        }
        Generator::Choice(values) => {
            if !values.is_empty() {
                out.push_str(&values[rng.random_range(0..values.len())]);
            }
        }
        Generator::RecentDate { days } => {
            push_date(
                out,
                ANCHOR_DAYS - rng.random_range(1..=i64::from(*days).max(1)),
            );
        }
        Generator::Boolean => out.push_str(if rng.random_bool(0.5) {
            "true"
        } else {
            "false"
        }),
        Generator::Sentence => {
            for k in 0..6 {
                if k > 0 {
                    out.push(' ');
                }
                out.push_str(pick(rng, EN::LOREM_WORD));
            }
        }
        Generator::Constant(s) => out.push_str(s),
        // Filled by `fill_row`, which knows the parent record.
        Generator::ParentId => {}
        Generator::Secret => {
            let _ = write!(
                out,
                "$ld${:016x}{:016x}",
                rng.random::<u64>(),
                rng.random::<u64>()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(ANCHOR_DAYS), (2026, 1, 1));
        assert_eq!(civil_from_days(-10_958), (1940, 1, 1));
        assert_eq!(civil_from_days(13_148), (2005, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
