//! `leakdrill trace`: maps a leaked artifact (CSV export, JSON API response,
//! NDJSON log, Bulk API result, webhook capture, text paste — any bytes) back
//! to the watermarked records in it, and from them to the objects, data
//! subjects, jurisdictions and data classes exposed: the data-mapping step of
//! a real incident.
//!
//! Two passes. [`scan_reader`] streams the bytes once, fixture- and
//! seed-agnostic, and keeps only evidence: every valid watermark token
//! ([`watermark::decode`], with [`watermark::scan`]'s word boundaries, also
//! behind `%2B`/`\u002B` escapes), every mock record Id (15/18 characters,
//! pod `5e0`, valid case-safe suffix), and the field names the artifact
//! labels its values with (CSV header cells, JSON keys, `key=`/`key:`).
//! [`trace`] then resolves that evidence against a fixture and seed through
//! [`pii::Plan`] — the generator's own answer for every record's subject and
//! jurisdiction — into a [`Report`].
//!
//! Owns: artifact scanning, record → subject/jurisdiction/class mapping, the
//! trace report and its text rendering. Must not: read the clock, write
//! files, regenerate whole orgs (cost is per record found, not per org), or
//! hold more than one read buffer of the artifact in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::fixture::{self, FixtureError};
use crate::model::{Classification, Generator, Org};
use crate::pii::{Plan, PlanError};
use crate::seed::Seed;
use crate::sfid;
use crate::watermark::{self, Mark, TOKEN_LEN};

/// Version of the JSON report; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// At most this many bytes of an artifact are read (1 GiB); the rest is
/// ignored and the report says `truncated`.
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;
/// Read buffer: lines longer than this are cut at a non-word byte.
const CHUNK: usize = 8 << 20;
/// Distinct field-name candidates kept (a guard against key-heavy junk).
const MAX_KEYS: usize = 4096;
/// Longest field-name candidate kept.
const MAX_KEY_LEN: usize = 80;
/// Unmatched Ids listed in the report (all are counted).
const MAX_UNMATCHED_LISTED: usize = 1000;
/// Pod part of every mock record Id (see `sfid`).
const POD: &[u8; 3] = b"5e0";

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read artifact {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error(
        "cannot read run directory {path}: {message}\n  = hint: give the --out DIR of `leakdrill run` (it holds runlog.ndjson and summary.json)"
    )]
    Run { path: String, message: String },
    #[error("{0}")]
    Fixture(#[from] FixtureError),
    #[error(
        "cannot tell which fixture the artifact comes from: {reason}\n  = hint: pass --fixture NAME|PATH (and --seed S), or --run DIR of the run that leaked it"
    )]
    FixtureUnknown { reason: String },
    #[error("error: {0}")]
    Plan(#[from] PlanError),
}

impl TraceError {
    /// Whether the user caused it (exit 2) rather than an invalid fixture
    /// file (exit 3).
    pub fn is_invalid_fixture(&self) -> bool {
        matches!(self, TraceError::Fixture(FixtureError::Invalid(_)))
    }
}

// ------------------------------------------------------------------ scanning

/// Where in the text a watermark sat, which says which field carried it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarkHit {
    pub occurrences: u64,
    /// Followed by `@`: the plus-tag of an email address.
    pub in_email: bool,
    /// Preceded by `tok_test_`: a payment token.
    pub in_payment_token: bool,
}

/// What one pass over an artifact found, before any fixture is consulted.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub marks: BTreeMap<Mark, MarkHit>,
    /// Mock record Ids (pod `5e0`, valid suffix) and how often each occurs.
    pub ids: BTreeMap<sfid::Id, u64>,
    /// Lower-cased field-name candidates (header cells, keys).
    pub keys: BTreeSet<String>,
    pub bytes: u64,
    pub truncated: bool,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_hex(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_hexdigit)
}

impl Evidence {
    /// Scans one segment of text that starts and ends at word boundaries.
    pub fn scan_segment(&mut self, seg: &[u8]) {
        for line in seg.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.header_cells(line);
            self.keys_in(line);
            self.tokens_in(line);
        }
    }

    fn add_key(&mut self, k: &[u8]) {
        if k.is_empty() || k.len() > MAX_KEY_LEN || self.keys.len() >= MAX_KEYS {
            return;
        }
        if let Ok(s) = std::str::from_utf8(k) {
            self.keys.insert(s.to_ascii_lowercase());
        }
    }

    /// A line of two or more delimiter-separated identifier cells (optionally
    /// quoted) is taken as a header: `Id,Email,"SSN__c"`.
    fn header_cells(&mut self, line: &[u8]) {
        if line.len() > 64 * 1024 {
            return;
        }
        let Some(delim) = [b',', b'\t', b';', b'|']
            .into_iter()
            .max_by_key(|d| line.iter().filter(|b| *b == d).count())
            .filter(|d| line.contains(d))
        else {
            return;
        };
        let cells: Vec<&[u8]> = line
            .split(|b| *b == delim)
            .map(|c| c.trim_ascii())
            .map(|c| {
                c.strip_prefix(b"\"")
                    .and_then(|c| c.strip_suffix(b"\""))
                    .unwrap_or(c)
            })
            .collect();
        let ident = |c: &&[u8]| {
            !c.is_empty()
                && (c[0].is_ascii_alphabetic() || c[0] == b'_')
                && c.iter().all(|b| is_ident(*b) || *b == b'.')
        };
        if cells.len() >= 2 && cells.iter().all(ident) {
            for c in cells {
                // `Contact.Email` (report exports, relationship columns).
                let last = c.rsplit(|b| *b == b'.').next().unwrap_or(c);
                self.add_key(last);
            }
        }
    }

    /// `"Key":`, `\"Key\":`, `key=`, `Key:`.
    fn keys_in(&mut self, line: &[u8]) {
        let mut i = 0;
        while i < line.len() {
            if !(line[i].is_ascii_alphabetic() || line[i] == b'_')
                || (i > 0 && is_ident(line[i - 1]))
            {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && is_ident(line[i]) {
                i += 1;
            }
            let mut j = i;
            if line[j..].starts_with(b"\\\"") {
                j += 2;
            } else if line[j..].starts_with(b"\"") {
                j += 1;
            }
            while j < line.len() && line[j] == b' ' {
                j += 1;
            }
            if j < line.len() && (line[j] == b':' || line[j] == b'=') {
                // Not `https://`.
                if !line[j + 1..].starts_with(b"//") {
                    self.add_key(&line[start..i]);
                }
            }
        }
    }

    fn tokens_in(&mut self, line: &[u8]) {
        let mut i = 0;
        while i < line.len() {
            if !is_word(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && is_word(line[i]) {
                i += 1;
            }
            let run = &line[start..i];
            // A token behind a percent or JSON unicode escape: `%2Bld…`,
            // `\u002Bld…` (form-encoded or escaped webhook bodies).
            let skip = if start >= 1 && line[start - 1] == b'%' && is_hex(&run[..2.min(run.len())])
            {
                2
            } else if start >= 1
                && line[start - 1] == b'\\'
                && run.len() > 5
                && run[0] == b'u'
                && is_hex(&run[1..5])
            {
                5
            } else {
                0
            };
            if run.len() == TOKEN_LEN && self.mark(line, start, run) {
                continue;
            }
            if skip > 0
                && run.len() == skip + TOKEN_LEN
                && self.mark(line, start + skip, &run[skip..])
            {
                continue;
            }
            if (run.len() == 15 || run.len() == 18) && &run[3..6] == POD {
                let id = std::str::from_utf8(run).unwrap_or_default();
                if sfid::is_valid(id) {
                    *self.ids.entry(sfid::Id::new(id)).or_default() += 1;
                }
            }
        }
    }

    fn mark(&mut self, line: &[u8], at: usize, w: &[u8]) -> bool {
        let Some(m) = std::str::from_utf8(w).ok().and_then(watermark::decode) else {
            return false;
        };
        let after = &line[at + w.len()..];
        let in_email =
            after.starts_with(b"@") || after.starts_with(b"%40") || after.starts_with(b"\\u0040");
        let in_payment_token = line[..at].ends_with(b"tok_test_");
        let hit = self.marks.entry(m).or_default();
        hit.occurrences += 1;
        hit.in_email |= in_email;
        hit.in_payment_token |= in_payment_token;
        true
    }
}

/// Streams `r` (at most `limit` bytes) through the scanner. Lines are
/// scanned whole; a line longer than the 8 MiB buffer is cut at its last
/// non-word ASCII byte, so no token or Id is ever split.
pub fn scan_reader(r: impl Read, limit: u64) -> std::io::Result<Evidence> {
    scan_chunked(r, limit, CHUNK)
}

fn scan_chunked(mut r: impl Read, limit: u64, chunk: usize) -> std::io::Result<Evidence> {
    let mut ev = Evidence::default();
    let mut buf: Vec<u8> = Vec::with_capacity(chunk);
    let mut read_total: u64 = 0;
    loop {
        let room = chunk.saturating_sub(buf.len());
        let left = limit - read_total;
        let mut eof = left == 0;
        if !eof && room > 0 {
            let old = buf.len();
            buf.resize(
                old + room.min(usize::try_from(left).unwrap_or(usize::MAX)),
                0,
            );
            let n = loop {
                match r.read(&mut buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            buf.truncate(old + n);
            read_total += n as u64;
            eof = n == 0;
        }
        let cut = if eof {
            buf.len()
        } else if let Some(p) = buf.iter().rposition(|b| *b == b'\n') {
            p + 1
        } else if buf.len() < chunk {
            continue;
        } else {
            // A line longer than the buffer: cut before its last non-word
            // ASCII byte (never inside a token, an Id or a UTF-8 sequence).
            match buf.iter().rposition(|b| b.is_ascii() && !is_ident(*b)) {
                Some(p) if p > 0 => p,
                _ => buf.len(),
            }
        };
        ev.scan_segment(&buf[..cut]);
        buf.drain(..cut);
        if eof {
            break;
        }
    }
    if read_total >= limit {
        // Anything left means the cap cut the artifact.
        let mut probe = [0u8; 1];
        ev.truncated = matches!(r.read(&mut probe), Ok(n) if n > 0);
    }
    ev.bytes = read_total;
    Ok(ev)
}

/// Scans the file at `path` (any bytes; at most [`MAX_ARTIFACT_BYTES`]);
/// `-` is standard input.
pub fn scan_path(path: &Path) -> Result<Evidence, TraceError> {
    let io = |cause| TraceError::Io {
        path: path.display().to_string(),
        cause,
    };
    if path == Path::new("-") {
        return scan_reader(std::io::stdin().lock(), MAX_ARTIFACT_BYTES).map_err(io);
    }
    if std::fs::metadata(path).map_err(io)?.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory",
        )));
    }
    let f = std::fs::File::open(path).map_err(io)?;
    scan_reader(f, MAX_ARTIFACT_BYTES).map_err(io)
}

// ------------------------------------------------------------- run context

/// What a `leakdrill run --out DIR` directory says about the org it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub fixture: String,
    pub seed: u64,
    /// Data subjects of the run's org (from the run log's `start` line).
    pub records: Option<u64>,
}

/// Reads the run log's first (`start`) line, else `summary.json`.
pub fn run_context(dir: &Path) -> Result<RunContext, TraceError> {
    let err = |message: String| TraceError::Run {
        path: dir.display().to_string(),
        message,
    };
    #[derive(serde::Deserialize)]
    struct Start {
        fixture: String,
        seed: u64,
        records: Option<u64>,
    }
    let log = dir.join("runlog.ndjson");
    if let Ok(f) = std::fs::File::open(&log) {
        let mut first = Vec::new();
        let mut r = std::io::BufReader::new(f.take(1 << 20));
        if std::io::BufRead::read_until(&mut r, b'\n', &mut first).is_ok()
            && let Ok(s) = serde_json::from_slice::<Start>(&first)
        {
            return Ok(RunContext {
                fixture: s.fixture,
                seed: s.seed,
                records: s.records,
            });
        }
    }
    let summary = dir.join("summary.json");
    let text = fixture::read_text_file(&summary)
        .map_err(|e| err(format!("{}: {e}", summary.display())))?;
    let s: Start = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "{}: no fixture and seed in it ({e})",
            summary.display()
        ))
    })?;
    Ok(RunContext {
        fixture: s.fixture,
        seed: s.seed,
        records: s.records,
    })
}

/// Resolves a run's fixture: as written in the scenario (a built-in name, or
/// a path that may be relative to the scenario file, which the run does not
/// record).
pub fn run_fixture(ctx: &RunContext) -> Result<Org, TraceError> {
    fixture::resolve(&ctx.fixture).map_err(|e| match e {
        FixtureError::Unknown { .. } => TraceError::FixtureUnknown {
            reason: format!(
                "the run's fixture `{}` does not resolve from here (a path relative to its scenario?)",
                ctx.fixture
            ),
        },
        e => TraceError::Fixture(e),
    })
}

/// The one built-in fixture whose objects' key prefixes cover every
/// watermark in the evidence.
pub fn infer_fixture(ev: &Evidence) -> Result<Org, TraceError> {
    let prefixes: BTreeSet<&str> = ev.marks.keys().map(|m| m.key_prefix.as_str()).collect();
    if prefixes.is_empty() {
        return Err(TraceError::FixtureUnknown {
            reason: "no watermark in it to infer the fixture from".into(),
        });
    }
    let mut fits = Vec::new();
    for (name, _, _) in fixture::BUILTIN {
        let org = fixture::resolve(name)?;
        if prefixes
            .iter()
            .all(|p| org.objects.iter().any(|o| o.key_prefix == *p))
        {
            fits.push(org);
        }
    }
    match fits.len() {
        1 => Ok(fits.remove(0)),
        0 => Err(TraceError::FixtureUnknown {
            reason: format!(
                "no built-in fixture has objects with key prefixes {}",
                prefixes.into_iter().collect::<Vec<_>>().join(", ")
            ),
        }),
        _ => Err(TraceError::FixtureUnknown {
            reason: format!(
                "key prefixes {} fit several built-in fixtures ({})",
                prefixes.into_iter().collect::<Vec<_>>().join(", "),
                fits.iter()
                    .map(|o| o.fixture.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

// ---------------------------------------------------------------- resolving

/// Where the seed used for Ids and records came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedSource {
    Given,
    Run,
    Watermarks,
    None,
}

/// The options of one trace.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the artifact is named in the report (as the user gave it).
    pub artifact: String,
    /// Where the fixture came from: `given`, `run` or `watermarks`.
    pub fixture_source: &'static str,
    pub seed: Option<u64>,
    pub seed_source: SeedSource,
    /// Data subjects the org was generated with: needed to map child records
    /// (an account, an order) to their subject, and to bound indices.
    pub records: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SubjectOut {
    /// The data subject's person record Id under the seed.
    pub id: String,
    pub object: String,
    pub index: u64,
    pub jurisdiction: String,
    /// Records of this subject in the artifact (itself and related records).
    pub records: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ObjectOut {
    pub key_prefix: String,
    pub records: u64,
    pub by_watermark: u64,
    /// Found only by their Id (watermark absent).
    pub by_id_only: u64,
    /// `fields`: the object's fields named in the artifact (or implied by
    /// where a watermark sat); `object-level`: none could be identified, so
    /// every class of the object; `id-only`: the artifact names other
    /// objects' fields but none of this one's (e.g. a lookup column).
    pub classes_basis: &'static str,
    pub fields: Vec<String>,
    pub classes: Vec<Classification>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub records: u64,
    pub subjects: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ForeignOut {
    pub seed: u64,
    pub key_prefix: String,
    /// The fixture's object with that prefix, if any.
    pub object: Option<String>,
    /// Distinct records (by watermark, plus Ids decoding under this seed).
    pub records: u64,
    pub reason: &'static str,
}

/// The trace of one artifact. Serialised as the `--format json` output.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub artifact: String,
    pub bytes_read: u64,
    pub truncated: bool,
    pub fixture: String,
    pub fixture_source: &'static str,
    pub seed: Option<u64>,
    pub seed_source: SeedSource,
    pub org_records: Option<u64>,
    /// Distinct records of the fixture under the seed.
    pub records_found: u64,
    /// Records whose data subject could not be determined (child records
    /// without `--records`).
    pub records_unmapped: u64,
    /// Every data subject exposed, by person record Id.
    pub subjects: Vec<SubjectOut>,
    pub by_object: BTreeMap<String, ObjectOut>,
    /// By the subject's jurisdiction code (`US-CA`, `DE`); `none` for
    /// records about no person, `unknown` for unmapped ones.
    pub by_jurisdiction: BTreeMap<String, Tally>,
    pub by_class: BTreeMap<Classification, Tally>,
    pub foreign_watermarks: Vec<ForeignOut>,
    /// Ids with a fixture object's key prefix that decode under no seed seen.
    pub unmatched_ids: Vec<String>,
    pub unmatched_ids_total: u64,
    pub notes: Vec<String>,
}

/// The seed most of the fixture's watermarks carry (ties: the smallest).
fn majority_seed(ev: &Evidence, org: &Org) -> Option<u64> {
    let mut by_seed: BTreeMap<u64, u64> = BTreeMap::new();
    for m in ev.marks.keys() {
        if org.objects.iter().any(|o| o.key_prefix == m.key_prefix) {
            *by_seed.entry(m.seed).or_default() += 1;
        }
    }
    by_seed
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(s, _)| s)
}

/// Resolves scanned evidence against `org`: cost is per record found.
pub fn trace(ev: &Evidence, org: &Org, opts: &Options) -> Result<Report, TraceError> {
    let (seed, seed_source) = match opts.seed {
        Some(s) => (Some(s), opts.seed_source),
        None => match majority_seed(ev, org) {
            Some(s) => (Some(s), SeedSource::Watermarks),
            None => (None, SeedSource::None),
        },
    };
    let plan = Plan::new(org, opts.records.unwrap_or(0), Seed(seed.unwrap_or(0)))?;
    let by_prefix: BTreeMap<&str, usize> = org
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.key_prefix.as_str(), i))
        .collect();
    let in_range = |obj: usize, index: u64| opts.records.is_none_or(|_| index < plan.count(obj));

    // (object, index) → found by watermark?
    let mut found: BTreeMap<(usize, u64), bool> = BTreeMap::new();
    let mut email_objs = BTreeSet::new();
    let mut token_objs = BTreeSet::new();
    // (seed, prefix) → (reason, distinct indices)
    let mut foreign: BTreeMap<(u64, String), (&'static str, BTreeSet<u64>)> = BTreeMap::new();
    for (m, hit) in &ev.marks {
        let obj = by_prefix.get(m.key_prefix.as_str()).copied();
        let index = u64::from(m.index);
        let reason = match obj {
            None => "key prefix not in the fixture",
            Some(_) if Some(m.seed) != seed => "different seed",
            Some(o) if !in_range(o, index) => "index beyond the org's record count",
            Some(o) => {
                found.insert((o, index), true);
                if hit.in_email {
                    email_objs.insert(o);
                }
                if hit.in_payment_token {
                    token_objs.insert(o);
                }
                continue;
            }
        };
        foreign
            .entry((m.seed, m.key_prefix.clone()))
            .or_insert((reason, BTreeSet::new()))
            .1
            .insert(index);
    }
    let other_seeds: BTreeSet<u64> = foreign.keys().map(|(s, _)| *s).collect();
    let mut unmatched = Vec::new();
    for id in ev.ids.keys() {
        let Some(&obj) = by_prefix.get(&id[..3]) else {
            continue; // users, orgs, setup objects: not data records
        };
        if let Some(s) = seed
            && let Some(i) = sfid::record_index(Seed(s), id)
            && in_range(obj, i)
        {
            found.entry((obj, i)).or_insert(false);
            continue;
        }
        let other = other_seeds
            .iter()
            .find_map(|s| sfid::record_index(Seed(*s), id).map(|i| (*s, i)));
        match other {
            Some((s, i)) => {
                foreign
                    .entry((s, id[..3].to_owned()))
                    .or_insert(("different seed", BTreeSet::new()))
                    .1
                    .insert(i);
            }
            None => unmatched.push(id.to_string()),
        }
    }

    // Fields per object: named in the artifact, or implied by a watermark's place.
    let mut any_fields = false;
    let mut fields_of: Vec<Vec<usize>> = Vec::with_capacity(org.objects.len());
    for (oi, o) in org.objects.iter().enumerate() {
        let f: Vec<usize> = o
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                ev.keys.contains(&f.name.to_ascii_lowercase())
                    || (email_objs.contains(&oi) && f.generator == Generator::Email)
                    || (token_objs.contains(&oi) && f.generator == Generator::PaymentToken)
            })
            .map(|(i, _)| i)
            .collect();
        any_fields |= !f.is_empty();
        fields_of.push(f);
    }

    // Objects with at least one watermarked record: never `id-only`.
    let marked: BTreeSet<usize> = found
        .iter()
        .filter(|(_, by_mark)| **by_mark)
        .map(|((o, _), _)| *o)
        .collect();
    let mut by_object: BTreeMap<String, ObjectOut> = BTreeMap::new();
    let mut subjects: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    let mut by_jurisdiction: BTreeMap<String, (u64, BTreeSet<(usize, u64)>)> = BTreeMap::new();
    let mut by_class: BTreeMap<Classification, (u64, BTreeSet<(usize, u64)>)> = BTreeMap::new();
    let mut unmapped = 0u64;
    for (&(oi, index), &by_mark) in &found {
        let o = &org.objects[oi];
        let out = by_object.entry(o.name.clone()).or_insert_with(|| {
            let f = &fields_of[oi];
            let (basis, classes): (&'static str, BTreeSet<Classification>) = if !f.is_empty() {
                ("fields", f.iter().map(|i| o.fields[*i].class).collect())
            } else if any_fields && !marked.contains(&oi) {
                ("id-only", BTreeSet::new())
            } else {
                ("object-level", o.fields.iter().map(|f| f.class).collect())
            };
            ObjectOut {
                key_prefix: o.key_prefix.clone(),
                records: 0,
                by_watermark: 0,
                by_id_only: 0,
                classes_basis: basis,
                fields: f.iter().map(|i| o.fields[*i].name.clone()).collect(),
                classes: classes.into_iter().collect(),
            }
        });
        out.records += 1;
        if by_mark {
            out.by_watermark += 1;
        } else {
            out.by_id_only += 1;
        }
        let classes = out.classes.clone();
        let subject = if o.is_person() {
            Some((oi, index))
        } else if opts.records.is_some() {
            plan.subject_of(oi, index)
        } else {
            None
        };
        let jurisdiction = match subject {
            Some((p, s)) => {
                *subjects.entry((p, s)).or_default() += 1;
                plan.subject_jurisdiction(p, s).code()
            }
            None if matches!(o.volume, crate::model::Volume::Fixed { .. }) => "none".into(),
            None => {
                unmapped += 1;
                "unknown".into()
            }
        };
        let j = by_jurisdiction.entry(jurisdiction).or_default();
        j.0 += 1;
        j.1.extend(subject);
        for c in classes {
            let t = by_class.entry(c).or_default();
            t.0 += 1;
            t.1.extend(subject);
        }
    }
    let tally = |(records, subj): (u64, BTreeSet<(usize, u64)>)| Tally {
        records,
        subjects: subj.len() as u64,
    };
    let mut notes = Vec::new();
    if by_object
        .values()
        .any(|o| o.classes_basis == "object-level")
    {
        notes.push(
            "classes: object-level (fields not identified) for some objects: every class of the object is counted"
                .to_owned(),
        );
    }
    if unmapped > 0 {
        notes.push(format!(
            "{unmapped} related records not mapped to a data subject: pass --records N (the org's data subjects) or --run DIR"
        ));
    }
    if seed.is_none() && !ev.ids.is_empty() {
        notes.push("no seed given and no watermark of this fixture: record Ids cannot be decoded; pass --seed S".to_owned());
    }
    if ev.truncated {
        notes.push(format!(
            "artifact truncated: only the first {} bytes were read",
            MAX_ARTIFACT_BYTES
        ));
    }
    let unmatched_total = unmatched.len() as u64;
    unmatched.truncate(MAX_UNMATCHED_LISTED);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        artifact: opts.artifact.clone(),
        bytes_read: ev.bytes,
        truncated: ev.truncated,
        fixture: org.fixture.clone(),
        fixture_source: opts.fixture_source,
        seed,
        seed_source,
        org_records: opts.records,
        records_found: found.len() as u64,
        records_unmapped: unmapped,
        subjects: subjects
            .into_iter()
            .map(|((p, s), records)| SubjectOut {
                id: plan.record_id(p, s),
                object: org.objects[p].name.clone(),
                index: s,
                jurisdiction: plan.subject_jurisdiction(p, s).code(),
                records,
            })
            .collect(),
        by_object,
        by_jurisdiction: by_jurisdiction
            .into_iter()
            .map(|(k, v)| (k, tally(v)))
            .collect(),
        by_class: by_class.into_iter().map(|(k, v)| (k, tally(v))).collect(),
        foreign_watermarks: foreign
            .into_iter()
            .map(|((seed, key_prefix), (reason, idx))| ForeignOut {
                seed,
                object: by_prefix
                    .get(key_prefix.as_str())
                    .map(|i| org.objects[*i].name.clone()),
                key_prefix,
                records: idx.len() as u64,
                reason,
            })
            .collect(),
        unmatched_ids: unmatched,
        unmatched_ids_total: unmatched_total,
        notes,
    })
}

// ---------------------------------------------------------------- rendering

/// How many subjects the text report lists.
const SUBJECTS_SHOWN: usize = 10;

/// The report for a terminal, within 80 columns.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    let seed = r.seed.map_or("none".to_owned(), |x| x.to_string());
    let _ = writeln!(
        s,
        "trace {} ({} bytes{})",
        r.artifact,
        r.bytes_read,
        if r.truncated { ", TRUNCATED" } else { "" }
    );
    let fixture_from = if r.fixture_source == "watermarks" {
        " (from watermarks)"
    } else {
        ""
    };
    let seed_from = match r.seed_source {
        SeedSource::Given => "given",
        SeedSource::Run => "from the run",
        SeedSource::Watermarks => "from watermarks",
        SeedSource::None => "unknown",
    };
    let subjects = r
        .org_records
        .map_or(String::new(), |n| format!(" · {n} data subjects"));
    let _ = writeln!(
        s,
        "  fixture {}{fixture_from} · seed {seed} ({seed_from}){subjects}",
        r.fixture
    );
    if r.records_found == 0 {
        let _ = writeln!(
            s,
            "\nno records of this org found in the artifact (0 records, 0 subjects)"
        );
    } else {
        let unmapped = if r.records_unmapped > 0 {
            format!(" ({} not mapped to a subject)", r.records_unmapped)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "\n{} records of {} data subjects found{unmapped}",
            r.records_found,
            r.subjects.len()
        );
        let row = |s: &mut String,
                   a: &str,
                   b: &dyn std::fmt::Display,
                   c: &dyn std::fmt::Display,
                   d: &str| {
            let line = format!("  {a:<30} {b:>12} {c:>12} {d:>12}");
            s.push_str(line.trim_end());
            s.push('\n');
        };
        let _ = writeln!(s);
        row(&mut s, "object", &"records", &"by watermark", "by Id only");
        for (name, o) in &r.by_object {
            row(
                &mut s,
                name,
                &o.records,
                &o.by_watermark,
                &o.by_id_only.to_string(),
            );
            let classes = match o.classes_basis {
                "id-only" => "none (only its Id is in the artifact)".to_owned(),
                b => {
                    let c: Vec<&str> = o.classes.iter().map(|c| c.as_str()).collect();
                    let mut c = c.join(", ");
                    if b == "object-level" {
                        c.push_str(" *");
                    }
                    c
                }
            };
            let _ = writeln!(s, "    classes: {}", wrap(&classes, 67, 13));
            if !o.fields.is_empty() {
                let _ = writeln!(s, "    fields:  {}", wrap(&o.fields.join(", "), 67, 13));
            }
        }
        if r.by_object
            .values()
            .any(|o| o.classes_basis == "object-level")
        {
            let _ = writeln!(s, "  * classes: object-level (fields not identified)");
        }
        let _ = writeln!(s);
        row(&mut s, "jurisdiction", &"records", &"subjects", "");
        for (j, t) in &r.by_jurisdiction {
            row(&mut s, j, &t.records, &t.subjects, "");
        }
        let _ = writeln!(s);
        row(&mut s, "class", &"records", &"subjects", "");
        for (c, t) in &r.by_class {
            row(&mut s, c.as_str(), &t.records, &t.subjects, "");
        }
        if !r.subjects.is_empty() {
            let _ = writeln!(
                s,
                "\n  subjects (first {} of {}):",
                SUBJECTS_SHOWN.min(r.subjects.len()),
                r.subjects.len()
            );
            for p in r.subjects.iter().take(SUBJECTS_SHOWN) {
                let _ = writeln!(
                    s,
                    "  {}  {:<20} #{:<10} {:<8} {:>4} rec",
                    p.id, p.object, p.index, p.jurisdiction, p.records
                );
            }
        }
    }
    if !r.foreign_watermarks.is_empty() {
        let _ = writeln!(s, "\nwatermarks or Ids not of this org and seed:");
        for f in &r.foreign_watermarks {
            let _ = writeln!(
                s,
                "  seed {:<20} {} {:<20} {:>6} rec\n    {}",
                f.seed,
                f.key_prefix,
                f.object.as_deref().unwrap_or("?"),
                f.records,
                f.reason
            );
        }
    }
    if r.unmatched_ids_total > 0 {
        let _ = writeln!(
            s,
            "\n{} Ids with this fixture's key prefixes decode under no known seed,\n  e.g. {}",
            r.unmatched_ids_total,
            r.unmatched_ids.first().map_or("", String::as_str)
        );
    }
    for n in &r.notes {
        let _ = writeln!(s, "\nnote: {}", wrap(n, 72, 6));
    }
    s
}

/// Wraps `text` at spaces to `width`, indenting continuation lines.
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for w in text.split(' ') {
        if col > 0 && col + 1 + w.len() > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(w);
        col += w.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &[u8]) -> Evidence {
        scan_reader(text, MAX_ARTIFACT_BYTES).unwrap()
    }

    #[test]
    fn finds_watermarks_where_watermark_scan_does() {
        let a = watermark::encode(Seed(7), "003", 1).unwrap();
        let b = watermark::encode(Seed(8), "a0F", 2).unwrap();
        let text = format!(
            "x {a},{b} ld{a} {a}x\njo.doe+{}@example.com tok_test_{b}\n",
            a.to_ascii_uppercase()
        );
        let ev = scan(text.as_bytes());
        let mut want: BTreeMap<Mark, u64> = BTreeMap::new();
        for m in watermark::scan(&text) {
            *want.entry(m).or_default() += 1;
        }
        let got: BTreeMap<Mark, u64> = ev
            .marks
            .iter()
            .map(|(m, h)| (m.clone(), h.occurrences))
            .collect();
        assert_eq!(got, want);
        let ma = watermark::decode(&a).unwrap();
        let mb = watermark::decode(&b).unwrap();
        assert!(ev.marks[&ma].in_email && !ev.marks[&ma].in_payment_token);
        assert!(ev.marks[&mb].in_payment_token && !ev.marks[&mb].in_email);
    }

    #[test]
    fn finds_escaped_watermarks_and_ids() {
        let a = watermark::encode(Seed(7), "003", 1).unwrap();
        let id = sfid::record_id(Seed(7), "003", 5);
        let text = format!(
            "email=jo%2B{a}%40example.com&x=1\n{{\"body\":\"{{\\\"Email\\\":\\\"jo\\u002B{a}\\u0040ex.test\\\",\\\"Id\\\":\\\"{id}\\\"}}\"}}\n/x/{}/y\n",
            &id[..15]
        );
        let ev = scan(text.as_bytes());
        let m = watermark::decode(&a).unwrap();
        assert_eq!(ev.marks[&m].occurrences, 2);
        assert!(ev.marks[&m].in_email);
        assert_eq!(ev.ids.len(), 2, "{:?}", ev.ids);
        assert!(
            ev.keys.contains("email") && ev.keys.contains("id"),
            "{:?}",
            ev.keys
        );
        // Not an Id: wrong pod, bad suffix.
        let ev = scan(b"0030000000001AAAAA 0035e0000000001ZZZ");
        assert!(ev.ids.is_empty());
    }

    #[test]
    fn headers_and_keys() {
        let ev = scan(b"\"Id\",Watermark__c,Contact.Email,SSN__c\n1,2,3,4\nAmount: 5 https://x\n");
        let keys: Vec<&str> = ev.keys.iter().map(String::as_str).collect();
        assert_eq!(keys, ["amount", "email", "id", "ssn__c", "watermark__c"]);
    }

    #[test]
    fn tokens_across_buffer_refills_are_found() {
        // A reader returning one byte at a time and a line longer than a chunk
        // exercise the carry logic.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let a = watermark::encode(Seed(1), "003", 9).unwrap();
        let text = format!("{a} {}\n{a}", "y".repeat(100));
        let ev = scan_reader(Trickle(text.as_bytes()), MAX_ARTIFACT_BYTES).unwrap();
        assert_eq!(ev.marks.values().map(|h| h.occurrences).sum::<u64>(), 2);
        // One 60 kB line through a 64-byte buffer: same evidence as whole.
        let ids: Vec<String> = (0..800)
            .map(|i| sfid::record_id(Seed(1), "003", i))
            .collect();
        let marks: Vec<String> = (0..800)
            .map(|i| watermark::encode(Seed(1), "a0F", i).unwrap())
            .collect();
        let line = format!(
            "{{\"Id\":\"{}\",\"w\":\"{}\"}}",
            ids.join("\",\""),
            marks.join(" ")
        );
        let small = scan_chunked(line.as_bytes(), MAX_ARTIFACT_BYTES, 64).unwrap();
        let whole = scan(line.as_bytes());
        assert_eq!((small.ids.len(), small.marks.len()), (800, 800));
        assert_eq!((small.ids, small.marks), (whole.ids, whole.marks));
        let ev = scan_reader(text.as_bytes(), 30).unwrap();
        assert!(ev.truncated);
        assert_eq!(ev.bytes, 30);
        assert_eq!(ev.marks.len(), 1);
    }

    #[test]
    fn class_basis_is_per_object_and_counts_agree() {
        let org = fixture::resolve("fintech-wealth").unwrap();
        let seed = Seed(5);
        // Two Contacts by Id, one by watermark; FinancialAccount fields named.
        let text = format!(
            "Balance__c: 1\n{} {} {}\n",
            sfid::record_id(seed, "003", 0),
            sfid::record_id(seed, "003", 1),
            watermark::encode(seed, "003", 5).unwrap(),
        );
        let opts = Options {
            artifact: "a".into(),
            fixture_source: "given",
            seed: Some(5),
            seed_source: SeedSource::Given,
            records: Some(100),
        };
        let r = trace(&scan(text.as_bytes()), &org, &opts).unwrap();
        let c = &r.by_object["Contact"];
        assert_eq!((c.records, c.by_watermark, c.by_id_only), (3, 1, 2));
        assert_eq!(c.classes_basis, "object-level");
        for class in &c.classes {
            assert_eq!(r.by_class[class].records, 3, "{class}");
        }
        // Only Ids: in an artifact naming other objects' fields, id-only.
        let text = format!("Balance__c: 1\n{}\n", sfid::record_id(seed, "003", 0));
        let r = trace(&scan(text.as_bytes()), &org, &opts).unwrap();
        assert_eq!(r.by_object["Contact"].classes_basis, "id-only");
        assert!(r.by_class.is_empty());
        assert_eq!(r.subjects.len(), 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Random bytes, with or without a real token spliced in, never
        /// panic the scanner, the resolver or the renderer.
        #[test]
        fn random_bytes_never_panic(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            at in 0usize..600,
            splice in proptest::prelude::any::<bool>(),
            records in proptest::option::of(0u64..50),
        ) {
            if splice {
                let a = watermark::encode(Seed(1), "a0F", 9).unwrap();
                let id = sfid::record_id(Seed(1), "003", 3);
                let at = at.min(bytes.len());
                bytes.splice(at..at, format!("{a} {id},").bytes());
            }
            let ev = scan(&bytes);
            let org = fixture::resolve("fintech-wealth").unwrap();
            let opts = Options { artifact: "x".into(), fixture_source: "given", seed: None, seed_source: SeedSource::None, records };
            let r = trace(&ev, &org, &opts).unwrap();
            let _ = render_text(&r);
            let _ = serde_json::to_string(&r).unwrap();
        }
    }
}
