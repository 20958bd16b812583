//! The compiled backend: rules parsed and compiled by rsigma (its parser,
//! its detection compiler and matchers, so needles are pre-lowered and
//! numbers pre-parsed exactly as rsigma does), re-planned for speed —
//! field names resolved once to typed fields, rules bucketed by the
//! event's `service`, ASCII case-insensitive comparisons without
//! allocation — and correlations kept in incremental per-group windows
//! (per-value counts, running sums) instead of rsigma's rebuild-per-event.
//! Alerts are identical to rsigma's (`Backend::Rsigma`, the oracle in the
//! differential tests): same rule order, same closed windows
//! `[t − timespan, t]` in whole seconds over arrival order, same
//! suppression, same group keys.
//!
//! Owns: compiling a parsed pack into predicates, correlation state.
//! Must not: accept a rule it cannot evaluate exactly like rsigma — every
//! such feature is an [`Unsupported`] error, and the caller falls back to
//! rsigma for the whole pack; never iterate a hash map into output.

use std::borrow::Cow;
// Hash maps here are looked up and pruned, never iterated into output:
// the only walk that picks entries (the hard cap in `evict_all`) sorts
// them by a total order first.
#[allow(clippy::disallowed_types)]
use std::collections::HashMap;
use std::collections::VecDeque;
use std::hash::BuildHasherDefault;

use rsigma_eval::correlation::{CompiledCondition, GroupByField, compile_correlation};
use rsigma_eval::event::EventValue;
use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{CompiledDetection, CompiledMatcher, CompiledRule};
use rsigma_parser::{
    ConditionExpr, CorrelationType, LogSource, Quantifier, SigmaCollection, WindowMode,
};

use super::Alert;
use super::view::{FieldRef, SERVICES_LOWER, View};

#[allow(clippy::disallowed_types)]
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<rustc_hash::FxHasher>>;

/// rsigma's `CorrelationConfig::max_state_entries` default: at this many
/// live (correlation, group) windows, expired entries are evicted.
pub const MAX_STATE_ENTRIES: usize = 100_000;

/// Distinct document logsources whose candidate rules are cached.
const MAX_LOGSOURCES: usize = 64;

/// A group key: the interned group-by values (`None`: absent), inline for
/// up to two fields (`u32::MAX` marks an absent value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GKey {
    Small(u64),
    Big(Box<[Option<u32>]>),
}

impl GKey {
    fn of(parts: &[Option<u32>]) -> GKey {
        let p = |k: usize| u64::from(parts.get(k).copied().flatten().unwrap_or(u32::MAX));
        if parts.len() <= 2 {
            GKey::Small(p(0) << 32 | p(1))
        } else {
            GKey::Big(parts.into())
        }
    }
}

/// Why a pack cannot be compiled (the detector then uses rsigma).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {what} is not supported by the compiled backend")]
pub struct Unsupported {
    pub rule: String,
    pub what: String,
}

fn unsupported(rule: &str, what: impl Into<String>) -> Unsupported {
    Unsupported {
        rule: rule.to_owned(),
        what: what.into(),
    }
}

// ---------------------------------------------------------------- matchers

#[derive(Debug, Clone, Copy)]
enum StrOp {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

impl StrOp {
    #[inline]
    fn test(self, hay: &str, needle: &str) -> bool {
        match self {
            StrOp::Exact => hay == needle,
            StrOp::Contains => hay.contains(needle),
            StrOp::StartsWith => hay.starts_with(needle),
            StrOp::EndsWith => hay.ends_with(needle),
        }
    }
}

/// A matcher over an ASCII string, equivalent to rsigma's
/// `CompiledMatcher::matches` on `EventValue::Str` of that string. Case
/// folding of an ASCII string is ASCII folding, done once per item into a
/// scratch buffer instead of once per alternative.
#[derive(Debug, Clone)]
enum Fast {
    Str {
        op: StrOp,
        needle: Box<str>,
        ci: bool,
    },
    /// Aho-Corasick set, case-insensitive: run on the lowered string.
    AcLower(CompiledMatcher),
    /// Any other rsigma matcher that reads only the value (regex, CIDR,
    /// numbers, exists, null, booleans, timestamp parts, case-sensitive
    /// Aho-Corasick): run as is.
    Plain(CompiledMatcher),
    Not(Box<Fast>),
    Any(Vec<Fast>),
    All(Vec<Fast>),
    /// rsigma's `CaseInsensitiveGroup`: children see the lowered string.
    Group(Vec<Pre>, GroupMode),
}

/// rsigma's `matches_pre_lowered`, over the lowered string.
#[derive(Debug, Clone)]
enum Pre {
    Str(StrOp, Box<str>),
    /// Regexes, regex sets, case-insensitive Aho-Corasick: the rsigma
    /// matcher on the lowered string.
    Plain(CompiledMatcher),
    /// Not pre-lowerable (rsigma answers `false`).
    Never,
    Not(Box<Pre>),
    Any(Vec<Pre>),
    All(Vec<Pre>),
}

/// Whether a matcher references other fields of the event (unsupported:
/// the typed accessor answers top-level keys only).
fn reads_event(m: &CompiledMatcher) -> bool {
    match m {
        CompiledMatcher::FieldRef { .. } | CompiledMatcher::Expand { .. } => true,
        CompiledMatcher::Not(i) => reads_event(i),
        CompiledMatcher::TimestampPart { inner, .. } => reads_event(inner),
        CompiledMatcher::AnyOf(v)
        | CompiledMatcher::AllOf(v)
        | CompiledMatcher::CaseInsensitiveGroup { children: v, .. } => v.iter().any(reads_event),
        _ => false,
    }
}

fn fast(m: &CompiledMatcher) -> Fast {
    match m {
        CompiledMatcher::Exact {
            value,
            case_insensitive,
        } => Fast::Str {
            op: StrOp::Exact,
            needle: value.as_str().into(),
            ci: *case_insensitive,
        },
        CompiledMatcher::Contains {
            value,
            case_insensitive,
        } => Fast::Str {
            op: StrOp::Contains,
            needle: value.as_str().into(),
            ci: *case_insensitive,
        },
        CompiledMatcher::StartsWith {
            value,
            case_insensitive,
        } => Fast::Str {
            op: StrOp::StartsWith,
            needle: value.as_str().into(),
            ci: *case_insensitive,
        },
        CompiledMatcher::EndsWith {
            value,
            case_insensitive,
        } => Fast::Str {
            op: StrOp::EndsWith,
            needle: value.as_str().into(),
            ci: *case_insensitive,
        },
        CompiledMatcher::AhoCorasickSet {
            case_insensitive: true,
            ..
        } => Fast::AcLower(m.clone()),
        CompiledMatcher::Not(i) => Fast::Not(Box::new(fast(i))),
        CompiledMatcher::AnyOf(v) => Fast::Any(v.iter().map(fast).collect()),
        CompiledMatcher::AllOf(v) => Fast::All(v.iter().map(fast).collect()),
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => {
            Fast::Group(children.iter().map(pre).collect(), *mode)
        }
        other => Fast::Plain(other.clone()),
    }
}

fn pre(m: &CompiledMatcher) -> Pre {
    let s = |op, v: &String| Pre::Str(op, v.as_str().into());
    match m {
        CompiledMatcher::Exact {
            value,
            case_insensitive: true,
        } => s(StrOp::Exact, value),
        CompiledMatcher::Contains {
            value,
            case_insensitive: true,
        } => s(StrOp::Contains, value),
        CompiledMatcher::StartsWith {
            value,
            case_insensitive: true,
        } => s(StrOp::StartsWith, value),
        CompiledMatcher::EndsWith {
            value,
            case_insensitive: true,
        } => s(StrOp::EndsWith, value),
        CompiledMatcher::Regex(_)
        | CompiledMatcher::RegexSetMatch { .. }
        | CompiledMatcher::AhoCorasickSet {
            case_insensitive: true,
            ..
        } => Pre::Plain(m.clone()),
        CompiledMatcher::Not(i) => Pre::Not(Box::new(pre(i))),
        CompiledMatcher::AnyOf(v) => Pre::Any(v.iter().map(pre).collect()),
        CompiledMatcher::AllOf(v) => Pre::All(v.iter().map(pre).collect()),
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => {
            let c = children.iter().map(pre).collect();
            match mode {
                GroupMode::Any => Pre::Any(c),
                GroupMode::All => Pre::All(c),
            }
        }
        _ => Pre::Never,
    }
}

fn needs_lower(f: &Fast) -> bool {
    match f {
        Fast::Str { ci, .. } => *ci,
        Fast::AcLower(_) | Fast::Group(..) => true,
        Fast::Plain(_) => false,
        Fast::Not(i) => needs_lower(i),
        Fast::Any(v) | Fast::All(v) => v.iter().any(needs_lower),
    }
}

fn str_value(s: &str) -> EventValue<'_> {
    EventValue::Str(Cow::Borrowed(s))
}

impl Fast {
    /// `s` is ASCII; `low` is `s` lowered (or `s` when nothing needs it).
    fn eval(&self, s: &str, low: &str, view: &View<'_>) -> bool {
        match self {
            Fast::Str { op, needle, ci } => op.test(if *ci { low } else { s }, needle),
            Fast::AcLower(m) => m.matches(&str_value(low), view),
            Fast::Plain(m) => m.matches(&str_value(s), view),
            Fast::Not(i) => !i.eval(s, low, view),
            Fast::Any(v) => v.iter().any(|f| f.eval(s, low, view)),
            Fast::All(v) => v.iter().all(|f| f.eval(s, low, view)),
            Fast::Group(v, GroupMode::Any) => v.iter().any(|p| p.eval(low, view)),
            Fast::Group(v, GroupMode::All) => v.iter().all(|p| p.eval(low, view)),
        }
    }
}

impl Pre {
    fn eval(&self, low: &str, view: &View<'_>) -> bool {
        match self {
            Pre::Str(op, needle) => op.test(low, needle),
            Pre::Plain(m) => m.matches(&str_value(low), view),
            Pre::Never => false,
            Pre::Not(i) => !i.eval(low, view),
            Pre::Any(v) => v.iter().any(|p| p.eval(low, view)),
            Pre::All(v) => v.iter().all(|p| p.eval(low, view)),
        }
    }
}

/// One field test of a detection (`Field|modifiers: values`).
#[derive(Debug, Clone)]
struct Item {
    field: FieldRef,
    exists: Option<bool>,
    /// rsigma's matcher: non-string and non-ASCII values.
    matcher: CompiledMatcher,
    /// The same matcher over ASCII strings.
    fast: Fast,
    lower: bool,
}

impl Item {
    fn eval(&self, view: &View<'_>, scratch: &mut String) -> bool {
        let value = view.field(&self.field);
        if let Some(expect) = self.exists {
            return value.is_some_and(|v| !v.is_null()) == expect;
        }
        let Some(value) = value else {
            return matches!(self.matcher, CompiledMatcher::Null);
        };
        match &value {
            EventValue::Str(s) if s.is_ascii() => {
                let s: &str = s;
                let low = if self.lower && s.bytes().any(|b| b.is_ascii_uppercase()) {
                    scratch.clear();
                    scratch.push_str(s);
                    scratch.make_ascii_lowercase();
                    scratch.as_str()
                } else {
                    s
                };
                self.fast.eval(s, low, view)
            }
            _ => self.matcher.matches(&value, view),
        }
    }
}

#[derive(Debug, Clone)]
enum Det {
    AllOf(Vec<Item>),
    AnyOf(Vec<Det>),
}

impl Det {
    fn eval(&self, view: &View<'_>, scratch: &mut String) -> bool {
        match self {
            Det::AllOf(items) => items.iter().all(|i| i.eval(view, scratch)),
            Det::AnyOf(dets) => dets.iter().any(|d| d.eval(view, scratch)),
        }
    }
}

#[derive(Debug, Clone)]
enum Cond {
    Det(usize),
    /// A name that is no detection (rsigma: false).
    False,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Of(Quantifier, Vec<usize>),
}

impl Cond {
    fn eval(&self, dets: &[Det], view: &View<'_>, scratch: &mut String) -> bool {
        match self {
            Cond::Det(i) => dets[*i].eval(view, scratch),
            Cond::False => false,
            Cond::And(v) => v.iter().all(|c| c.eval(dets, view, scratch)),
            Cond::Or(v) => v.iter().any(|c| c.eval(dets, view, scratch)),
            Cond::Not(c) => !c.eval(dets, view, scratch),
            Cond::Of(Quantifier::Any, v) => v.iter().any(|i| dets[*i].eval(view, scratch)),
            Cond::Of(Quantifier::All, v) => v.iter().all(|i| dets[*i].eval(view, scratch)),
            Cond::Of(Quantifier::Count(n), v) => {
                *n == 0 || v.iter().filter(|i| dets[**i].eval(view, scratch)).count() as u64 >= *n
            }
        }
    }
}

/// The document keys a pack reads, each with a slot (see
/// [`View::with_slots`]); `product`, `service`, `category` are 0, 1, 2.
#[derive(Debug)]
struct Slots {
    index: FxMap<Box<str>, usize>,
}

const LOGSOURCE_KEYS: [&str; 3] = ["product", "service", "category"];

impl Slots {
    fn new() -> Slots {
        let mut s = Slots {
            index: FxMap::default(),
        };
        for k in LOGSOURCE_KEYS {
            s.slot(k);
        }
        s
    }
    fn slot(&mut self, name: &str) -> usize {
        let n = self.index.len();
        *self.index.entry(name.into()).or_insert(n)
    }
    /// The field `name` of `rule`, with its slot.
    fn field(&mut self, rule: &str, name: &str) -> Result<FieldRef, Unsupported> {
        let mut f = FieldRef::new(name)
            .ok_or_else(|| unsupported(rule, format!("the field path `{name}`")))?;
        f.slot = self.slot(name);
        Ok(f)
    }
}

fn compile_det(rule: &str, d: &CompiledDetection, slots: &mut Slots) -> Result<Det, Unsupported> {
    match d {
        CompiledDetection::AllOf(items) => items
            .iter()
            .map(|it| {
                let Some(name) = &it.field else {
                    return Err(unsupported(rule, "a keyword item"));
                };
                let field = slots.field(rule, name)?;
                if reads_event(&it.matcher) {
                    return Err(unsupported(rule, "`|fieldref` / `|expand`"));
                }
                let f = fast(&it.matcher);
                Ok(Item {
                    field,
                    exists: it.exists,
                    matcher: it.matcher.clone(),
                    lower: needs_lower(&f),
                    fast: f,
                })
            })
            .collect::<Result<_, _>>()
            .map(Det::AllOf),
        CompiledDetection::AnyOf(v) => v
            .iter()
            .map(|x| compile_det(rule, x, slots))
            .collect::<Result<_, _>>()
            .map(Det::AnyOf),
        CompiledDetection::Keywords(_) => Err(unsupported(rule, "keyword detection")),
        CompiledDetection::ArrayMatch { .. }
        | CompiledDetection::And(_)
        | CompiledDetection::Conditional { .. } => {
            Err(unsupported(rule, "array object-scope detection"))
        }
    }
}

fn compile_cond(expr: &ConditionExpr, names: &[String]) -> Cond {
    match expr {
        ConditionExpr::Identifier(n) => match names.iter().position(|x| x == n) {
            Some(i) => Cond::Det(i),
            None => Cond::False,
        },
        ConditionExpr::And(v) => Cond::And(v.iter().map(|e| compile_cond(e, names)).collect()),
        ConditionExpr::Or(v) => Cond::Or(v.iter().map(|e| compile_cond(e, names)).collect()),
        ConditionExpr::Not(e) => Cond::Not(Box::new(compile_cond(e, names))),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => Cond::Of(
            quantifier.clone(),
            names
                .iter()
                .enumerate()
                .filter(|(_, n)| pattern.matches_detection_name(n))
                .map(|(i, _)| i)
                .collect(),
        ),
    }
}

// ------------------------------------------------------------------ rules

#[derive(Debug)]
struct Rule {
    title: String,
    /// `id`, or the title for a rule without one.
    alert_id: String,
    /// `None`: informational (feeds correlations, never alerts).
    level: Option<&'static str>,
    logsource: LogSource,
    dets: Vec<Det>,
    conds: Vec<Cond>,
    /// Correlations this rule feeds (ascending), with the index of the
    /// reference that names it in the correlation's distinct refs.
    feeds: Vec<(usize, usize)>,
}

/// rsigma's `logsource_compatible` for an event logsource without custom
/// dimensions (the extractor reads `product`, `service`, `category` only).
fn compatible(
    rule: &LogSource,
    product: Option<&str>,
    service: Option<&str>,
    category: Option<&str>,
) -> bool {
    let conflicts = |r: &Option<String>, e: Option<&str>| match (r, e) {
        (Some(r), Some(e)) => !r.eq_ignore_ascii_case(e),
        _ => false,
    };
    !(conflicts(&rule.product, product)
        || conflicts(&rule.service, service)
        || conflicts(&rule.category, category))
}

fn level_of(l: Option<rsigma_parser::Level>) -> Option<&'static str> {
    match l.map_or("medium", |l| l.as_str()) {
        "informational" => None,
        other => Some(other),
    }
}

// ----------------------------------------------------------- correlations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    EventCount,
    ValueCount,
    ValueSum,
    Temporal,
    TemporalOrdered,
}

/// Interned strings (group-key parts and counted values), ids in
/// first-seen order.
#[derive(Debug, Default)]
struct Interner {
    ids: FxMap<Box<str>, u32>,
    strs: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        // Four billion distinct strings exhaust memory long before the
        // ids run out; `u32::MAX` stays the absent marker of `GKey`.
        let i = u32::try_from(self.strs.len()).unwrap_or(u32::MAX - 1);
        self.ids.insert(s.into(), i);
        self.strs.push(s.into());
        i
    }
    fn get(&self, i: u32) -> &str {
        self.strs.get(i as usize).map_or("", |s| s)
    }
}

/// The window of one group.
#[derive(Debug)]
enum Window {
    Count(VecDeque<i64>),
    Values {
        entries: VecDeque<(i64, u32)>,
        counts: FxMap<u32, u32>,
    },
    Sum {
        entries: VecDeque<(i64, f64)>,
        /// Sum of the integral entries; exact while `inexact == 0` and
        /// `abs < 2^53` (then every partial sum, in any order, is an
        /// exactly representable integer, so it equals rsigma's f64 sum).
        int: i128,
        abs: u128,
        inexact: usize,
    },
    /// Hits per distinct reference, in arrival order.
    Temporal(Vec<VecDeque<i64>>),
}

const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

fn integral(v: f64) -> Option<i128> {
    (v.fract() == 0.0 && v.abs() <= EXACT).then_some(v as i128)
}

impl Window {
    fn new(kind: Kind, refs: usize) -> Window {
        match kind {
            Kind::EventCount => Window::Count(VecDeque::new()),
            Kind::ValueCount => Window::Values {
                entries: VecDeque::new(),
                counts: FxMap::default(),
            },
            Kind::ValueSum => Window::Sum {
                entries: VecDeque::new(),
                int: 0,
                abs: 0,
                inexact: 0,
            },
            Kind::Temporal | Kind::TemporalOrdered => Window::Temporal(vec![VecDeque::new(); refs]),
        }
    }

    /// Drops entries older than `cutoff_s` from the front (arrival order:
    /// an old entry behind a newer one stays, as in rsigma).
    fn evict(&mut self, cutoff_s: i64) {
        match self {
            Window::Count(q) => {
                while q.front().is_some_and(|&t| t < cutoff_s) {
                    q.pop_front();
                }
            }
            Window::Values { entries, counts } => {
                while let Some(&(t, v)) = entries.front() {
                    if t >= cutoff_s {
                        break;
                    }
                    entries.pop_front();
                    if let Some(c) = counts.get_mut(&v) {
                        *c -= 1;
                        if *c == 0 {
                            counts.remove(&v);
                        }
                    }
                }
            }
            Window::Sum {
                entries,
                int,
                abs,
                inexact,
            } => {
                while let Some(&(t, v)) = entries.front() {
                    if t >= cutoff_s {
                        break;
                    }
                    entries.pop_front();
                    match integral(v) {
                        Some(i) => {
                            *int -= i;
                            *abs -= i.unsigned_abs();
                        }
                        None => *inexact -= 1,
                    }
                }
            }
            Window::Temporal(hits) => {
                for q in hits {
                    while q.front().is_some_and(|&t| t < cutoff_s) {
                        q.pop_front();
                    }
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Window::Count(q) => q.is_empty(),
            Window::Values { entries, .. } => entries.is_empty(),
            Window::Sum { entries, .. } => entries.is_empty(),
            Window::Temporal(hits) => hits.iter().all(VecDeque::is_empty),
        }
    }

    fn latest(&self) -> Option<i64> {
        match self {
            Window::Count(q) => q.back().copied(),
            Window::Values { entries, .. } => entries.back().map(|e| e.0),
            Window::Sum { entries, .. } => entries.back().map(|e| e.0),
            Window::Temporal(hits) => hits.iter().filter_map(|q| q.back().copied()).max(),
        }
    }

    fn sum(&self) -> f64 {
        match self {
            Window::Sum {
                entries,
                int,
                abs,
                inexact,
            } => {
                if *inexact == 0 && *abs < EXACT as u128 {
                    *int as f64
                } else {
                    entries.iter().map(|(_, v)| v).sum()
                }
            }
            _ => 0.0,
        }
    }
}

#[derive(Debug)]
struct Group {
    window: Window,
    /// Creation order (the deterministic tie-break of the hard cap).
    seq: u64,
}

#[derive(Debug)]
struct Corr {
    title: String,
    alert_id: String,
    level: Option<&'static str>,
    kind: Kind,
    group_by: Vec<FieldRef>,
    group_names: Vec<String>,
    span_s: i64,
    condition: CompiledCondition,
    /// value_count: the fields counted; value_sum: the first one.
    value_fields: Vec<FieldRef>,
    /// `rules:` in order, as indices into the distinct references.
    refs: Vec<usize>,
    distinct_refs: usize,
    suppress_s: i64,
    groups: FxMap<GKey, Group>,
    last_alert: FxMap<GKey, i64>,
}

/// The compiled pack and its correlation state.
#[derive(Debug)]
pub struct Compiled {
    rules: Vec<Rule>,
    /// Candidate rules per typed event service (logsource-compatible).
    by_service: Vec<Vec<usize>>,
    corrs: Vec<Corr>,
    interner: Interner,
    live_groups: usize,
    next_seq: u64,
    scratch: String,
    key: Vec<Option<u32>>,
    matched: Vec<usize>,
    /// Candidate rules per document logsource (product, service,
    /// category), most recent last.
    by_logsource: Vec<([Option<String>; 3], Vec<usize>)>,
    slots: Slots,
}

impl Compiled {
    /// Compiles parsed (and by rsigma already validated) collections, in
    /// load order.
    pub fn new(colls: &[SigmaCollection]) -> Result<Compiled, Unsupported> {
        let mut rules = Vec::new();
        let mut slots = Slots::new();
        let mut idents: Vec<(Option<String>, Option<String>)> = Vec::new();
        let mut corr_rules = Vec::new();
        for coll in colls {
            if let Some(f) = coll.filters.first() {
                return Err(unsupported(&f.title, "a filter rule"));
            }
            for r in &coll.rules {
                if r.custom_attributes.contains_key("rsigma.action") {
                    return Err(unsupported(&r.title, "`rsigma.action`"));
                }
                let c: CompiledRule = rsigma_eval::compile_rule(r)
                    .map_err(|e| unsupported(&r.title, format!("a rule rsigma rejects ({e})")))?;
                let mut names: Vec<String> = c.detections.keys().cloned().collect();
                names.sort();
                let dets = names
                    .iter()
                    .map(|n| compile_det(&r.title, &c.detections[n], &mut slots))
                    .collect::<Result<Vec<_>, _>>()?;
                let conds = c
                    .conditions
                    .iter()
                    .map(|e| compile_cond(e, &names))
                    .collect();
                idents.push((r.id.clone(), r.name.clone()));
                rules.push(Rule {
                    alert_id: c.id.clone().unwrap_or_else(|| c.title.clone()),
                    title: c.title.clone(),
                    level: level_of(c.level),
                    logsource: c.logsource.clone(),
                    dets,
                    conds,
                    feeds: Vec::new(),
                });
            }
            corr_rules.extend(coll.correlations.iter());
        }

        let mut corrs = Vec::new();
        let corr_names: Vec<&str> = corr_rules
            .iter()
            .flat_map(|c| c.id.iter().chain(c.name.iter()).map(String::as_str))
            .collect();
        for cr in &corr_rules {
            let t = &cr.title;
            if cr.custom_attributes.contains_key("rsigma.action") {
                return Err(unsupported(t, "`rsigma.action`"));
            }
            if cr
                .custom_attributes
                .contains_key("rsigma.max_group_entries")
            {
                return Err(unsupported(t, "`rsigma.max_group_entries`"));
            }
            if cr.rules.iter().any(|r| corr_names.contains(&r.as_str())) {
                return Err(unsupported(t, "a correlation of correlations"));
            }
            let c = compile_correlation(cr)
                .map_err(|e| unsupported(t, format!("a correlation rsigma rejects ({e})")))?;
            if c.window_mode != WindowMode::Sliding {
                return Err(unsupported(t, "a tumbling or session window"));
            }
            if c.extended_expr.is_some() {
                return Err(unsupported(t, "an extended temporal condition"));
            }
            if c.max_group_entries.is_some() {
                return Err(unsupported(t, "`rsigma.max_group_entries`"));
            }
            let kind = match c.correlation_type {
                CorrelationType::EventCount => Kind::EventCount,
                CorrelationType::ValueCount => Kind::ValueCount,
                CorrelationType::ValueSum => Kind::ValueSum,
                CorrelationType::Temporal => Kind::Temporal,
                CorrelationType::TemporalOrdered => Kind::TemporalOrdered,
                other => {
                    return Err(unsupported(t, format!("correlation type {other:?}")));
                }
            };
            let mut group_by = Vec::new();
            let mut group_names = Vec::new();
            for g in &c.group_by {
                let GroupByField::Direct(name) = g else {
                    return Err(unsupported(t, "group-by aliases"));
                };
                group_by.push(slots.field(t, name)?);
                group_names.push(name.clone());
            }
            let fields = c.condition.field.clone().unwrap_or_default();
            let fields: Vec<String> = if kind == Kind::ValueSum {
                fields.into_iter().take(1).collect()
            } else if kind == Kind::ValueCount {
                fields
            } else {
                Vec::new()
            };
            let value_fields = fields
                .iter()
                .map(|n| slots.field(t, n))
                .collect::<Result<_, _>>()?;
            let mut distinct: Vec<&String> = Vec::new();
            let refs = c
                .rule_refs
                .iter()
                .map(|r| match distinct.iter().position(|d| *d == r) {
                    Some(i) => i,
                    None => {
                        distinct.push(r);
                        distinct.len() - 1
                    }
                })
                .collect();
            let span_s = i64::try_from(c.timespan_secs)
                .map_err(|_| unsupported(t, "a timespan this long"))?;
            let suppress_s = i64::try_from(c.suppress_secs.unwrap_or(0))
                .map_err(|_| unsupported(t, "a suppression this long"))?;
            corrs.push(Corr {
                alert_id: c.id.clone().unwrap_or_else(|| c.title.clone()),
                title: c.title.clone(),
                level: level_of(c.level),
                kind,
                group_by,
                group_names,
                span_s,
                condition: c.condition.clone(),
                value_fields,
                distinct_refs: distinct.len(),
                refs,
                suppress_s,
                groups: FxMap::default(),
                last_alert: FxMap::default(),
            });
        }

        // rsigma: a detection match's identity is (id, name) of the first
        // loaded rule with its id (a rule without an id feeds nothing);
        // the correlations fed are those naming the id or the name.
        for (k, rule) in rules.iter_mut().enumerate() {
            let Some(id) = &idents[k].0 else { continue };
            let Some((id, name)) = idents.iter().find(|(i, _)| i.as_ref() == Some(id)) else {
                continue;
            };
            let mut ref_strs: Vec<&str> = Vec::new();
            ref_strs.extend(id.as_deref());
            ref_strs.extend(name.as_deref());
            for (ci, cr) in corr_rules.iter().enumerate() {
                let Some(r) = ref_strs.iter().find(|s| cr.rules.iter().any(|x| x == *s)) else {
                    continue;
                };
                let Some(first) = cr.rules.iter().position(|x| x == r) else {
                    continue;
                };
                rule.feeds.push((ci, corrs[ci].refs[first]));
            }
        }

        let by_service = SERVICES_LOWER
            .iter()
            .map(|svc| {
                (0..rules.len())
                    .filter(|&i| {
                        compatible(&rules[i].logsource, Some("salesforce"), Some(svc), None)
                    })
                    .collect()
            })
            .collect();
        Ok(Compiled {
            rules,
            by_service,
            corrs,
            interner: Interner::default(),
            live_groups: 0,
            next_seq: 0,
            scratch: String::new(),
            key: Vec::new(),
            matched: Vec::new(),
            by_logsource: Vec::new(),
            slots,
        })
    }

    /// Feeds one record at `t_ms`; returns its alerts, detections first
    /// (rule order), then correlations.
    pub fn observe(&mut self, d: super::Delivered<'_>, t_ms: i64) -> Vec<Alert> {
        let slots = &self.slots;
        let view = &View::with_slots(d, slots.index.len(), |k| slots.index.get(k).copied());
        let ts = t_ms.div_euclid(1000).clamp(0, i64::MAX / 2);
        if self.live_groups >= MAX_STATE_ENTRIES {
            self.evict_all(ts);
        }
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        let scratch = &mut self.scratch;
        let rules = &self.rules;
        let test = |i: usize, scratch: &mut String| {
            rules[i]
                .conds
                .iter()
                .any(|c| c.eval(&rules[i].dets, view, scratch))
        };
        match view {
            View::Event(_, svc) => {
                for &i in &self.by_service[*svc] {
                    if test(i, scratch) {
                        matched.push(i);
                    }
                }
            }
            View::Document(_, _, values) => {
                // rsigma's LogSourceExtractor: each of `product`,
                // `service`, `category` as a string, trimmed; blank is
                // unset. Candidates are cached per distinct triple.
                let dim = |k: usize| -> Option<Cow<'_, str>> {
                    let v = (*values.get(k)?)?;
                    let s = match v {
                        serde_json::Value::String(s) => Cow::Borrowed(s.trim()),
                        other => Cow::Owned(EventValue::from(other).as_str()?.trim().to_owned()),
                    };
                    (!s.is_empty()).then_some(s)
                };
                let ls = [dim(0), dim(1), dim(2)];
                let cached = self.by_logsource.iter().position(|(k, _)| {
                    k.iter().zip(&ls).all(|(a, b)| a.as_deref() == b.as_deref())
                });
                let k = match cached {
                    Some(k) => k,
                    None => {
                        let c = (0..rules.len())
                            .filter(|&i| {
                                compatible(
                                    &rules[i].logsource,
                                    ls[0].as_deref(),
                                    ls[1].as_deref(),
                                    ls[2].as_deref(),
                                )
                            })
                            .collect();
                        if self.by_logsource.len() >= MAX_LOGSOURCES {
                            self.by_logsource.remove(0);
                        }
                        self.by_logsource
                            .push((ls.map(|x| x.map(Cow::into_owned)), c));
                        self.by_logsource.len() - 1
                    }
                };
                for &i in &self.by_logsource[k].1 {
                    if test(i, scratch) {
                        matched.push(i);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for &i in &matched {
            let r = &self.rules[i];
            if let Some(level) = r.level {
                out.push(alert(&r.alert_id, &r.title, level, Vec::new(), view));
            }
        }
        for &i in &matched {
            for k in 0..self.rules[i].feeds.len() {
                let (ci, ref_idx) = self.rules[i].feeds[k];
                self.update(ci, ref_idx, view, ts, &mut out);
            }
        }
        self.matched = matched;
        out
    }

    fn update(
        &mut self,
        ci: usize,
        ref_idx: usize,
        view: &View<'_>,
        ts: i64,
        out: &mut Vec<Alert>,
    ) {
        let corr = &mut self.corrs[ci];
        let key = &mut self.key;
        key.clear();
        for f in &corr.group_by {
            key.push(match view.field(f) {
                Some(EventValue::Str(s)) => Some(self.interner.id(&s)),
                Some(EventValue::Int(n)) => Some(self.interner.id(&n.to_string())),
                Some(EventValue::Float(x)) => Some(self.interner.id(&x.to_string())),
                Some(EventValue::Bool(b)) => {
                    Some(self.interner.id(if b { "true" } else { "false" }))
                }
                _ => None,
            });
        }
        // The counted value (value_count), looked up before the group so
        // the interner is free.
        let counted = if corr.kind == Kind::ValueCount && !corr.value_fields.is_empty() {
            count_key(&corr.value_fields, view).map(|s| self.interner.id(&s))
        } else {
            None
        };
        let summed = if corr.kind == Kind::ValueSum {
            corr.value_fields
                .first()
                .and_then(|f| view.field(f))
                .and_then(|v| v.as_f64())
        } else {
            None
        };
        let gkey = GKey::of(key);
        let group = match corr.groups.get_mut(&gkey) {
            Some(g) => g,
            None => {
                self.live_groups += 1;
                self.next_seq += 1;
                corr.groups.entry(gkey.clone()).or_insert(Group {
                    window: Window::new(corr.kind, corr.distinct_refs),
                    seq: self.next_seq,
                })
            }
        };
        let w = &mut group.window;
        w.evict(ts - corr.span_s);
        match w {
            Window::Count(q) => q.push_back(ts),
            Window::Values { entries, counts } => {
                if let Some(v) = counted {
                    entries.push_back((ts, v));
                    *counts.entry(v).or_insert(0) += 1;
                }
            }
            Window::Sum {
                entries,
                int,
                abs,
                inexact,
            } => {
                if let Some(v) = summed {
                    entries.push_back((ts, v));
                    match integral(v) {
                        Some(i) => {
                            *int += i;
                            *abs += i.unsigned_abs();
                        }
                        None => *inexact += 1,
                    }
                }
            }
            Window::Temporal(hits) => {
                if let Some(q) = hits.get_mut(ref_idx) {
                    q.push_back(ts);
                }
            }
        }
        let value = match w {
            Window::Count(q) => q.len() as f64,
            Window::Values { counts, .. } => counts.len() as f64,
            Window::Sum { .. } => w.sum(),
            Window::Temporal(hits) => match corr.kind {
                Kind::TemporalOrdered => {
                    if ordered(&corr.refs, hits) {
                        corr.refs.len() as f64
                    } else {
                        0.0
                    }
                }
                _ => corr
                    .refs
                    .iter()
                    .filter(|&&r| hits.get(r).is_some_and(|q| !q.is_empty()))
                    .count() as f64,
            },
        };
        if !corr.condition.check(value) {
            return;
        }
        if let Some(&last) = corr.last_alert.get(&gkey)
            && ts - last < corr.suppress_s
        {
            return;
        }
        corr.last_alert.insert(gkey, ts);
        if let Some(level) = corr.level {
            let group = corr
                .group_names
                .iter()
                .zip(key.iter())
                .filter_map(|(n, v)| v.map(|v| (n.clone(), self.interner.get(v).to_owned())))
                .collect();
            out.push(alert(&corr.alert_id, &corr.title, level, group, view));
        }
    }

    /// rsigma's `evict_all` at `max_state_entries` live windows: expire
    /// every window at `now_s`, then drop the stalest windows down to 90 %
    /// (ties in creation order; rsigma's order there is a hash map's),
    /// then forget alert times older than their suppression.
    fn evict_all(&mut self, now_s: i64) {
        let mut live = 0;
        for c in &mut self.corrs {
            let cutoff = now_s - c.span_s;
            c.groups.retain(|_, g| {
                g.window.evict(cutoff);
                !g.window.is_empty()
            });
            live += c.groups.len();
        }
        self.live_groups = live;
        if live >= MAX_STATE_ENTRIES {
            let target = MAX_STATE_ENTRIES * 9 / 10;
            type Stale = (i64, u64, usize, GKey);
            let mut all: Vec<Stale> = Vec::with_capacity(live);
            for (ci, c) in self.corrs.iter().enumerate() {
                for (k, g) in &c.groups {
                    all.push((g.window.latest().unwrap_or(i64::MIN), g.seq, ci, k.clone()));
                }
            }
            all.sort_unstable_by_key(|e| (e.0, e.1));
            for (_, _, ci, k) in all.into_iter().take(live - target) {
                self.corrs[ci].groups.remove(&k);
                self.corrs[ci].last_alert.remove(&k);
            }
            self.live_groups = target;
        }
        for c in &mut self.corrs {
            let s = c.suppress_s;
            c.last_alert.retain(|_, t| now_s - *t < s);
        }
    }
}

/// rsigma's `check_temporal_ordered`: one hit per reference, in `rules:`
/// order, with non-decreasing times (the earliest feasible hit each step
/// is optimal, so a greedy pass decides it).
fn ordered(refs: &[usize], hits: &[VecDeque<i64>]) -> bool {
    let mut min = i64::MIN;
    for &r in refs {
        let Some(q) = hits.get(r) else { return false };
        match q.iter().copied().filter(|&t| t >= min).min() {
            Some(t) => min = t,
            None => return false,
        }
    }
    true
}

/// rsigma's value_count key: each field rendered (null as `null`), joined
/// by U+001F; `None` when a field is absent or not a scalar.
fn count_key(fields: &[FieldRef], view: &View<'_>) -> Option<String> {
    let render = |v: EventValue<'_>| -> Option<String> {
        Some(match v {
            EventValue::Str(s) => s.into_owned(),
            EventValue::Int(n) => n.to_string(),
            EventValue::Float(f) => f.to_string(),
            EventValue::Bool(b) => b.to_string(),
            EventValue::Null => "null".to_owned(),
            _ => return None,
        })
    };
    if let [f] = fields {
        return render(view.field(f)?);
    }
    let mut parts = Vec::with_capacity(fields.len());
    for f in fields {
        parts.push(render(view.field(f)?)?);
    }
    Some(parts.join("\u{1f}"))
}

/// An alert naming the record's entities ([`Alert::naming`]).
fn alert(
    rule_id: &str,
    title: &str,
    level: &str,
    group: Vec<(String, String)>,
    view: &View<'_>,
) -> Alert {
    Alert::naming(rule_id, title, level, group, |f| view.str_field(f))
}
