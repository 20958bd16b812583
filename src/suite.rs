//! Suites for CI: every scenario × seed run and scored, in parallel, into
//! one deterministic result (a scorecard, JSON, JUnit), partitioned across
//! machines and merged back, and compared with a committed baseline.
//!
//! Owns: discovering scenarios (or the built-in catalogue), the case list
//! and its partitions, the worker pool, the suite JSON, merging, baseline
//! comparison and the scorecard. Must not: read the wall clock, put argv,
//! absolute paths, host names or timings in its output, or let the number
//! of jobs or the partitioning change a byte of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::clocks::ClockStatus;
use crate::diag::Diagnostics;
use crate::scenario::{Scenario, ScenarioError};

/// Version of the suite JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Most scenario files one suite reads.
pub const MAX_SCENARIOS: usize = 10_000;
/// Most seeds per scenario.
pub const MAX_SEEDS: u32 = 1_000;

/// A TTD or TTC counts as worse only beyond both of these.
pub const TOLERANCE_PCT: i64 = 10;
pub const TOLERANCE_MIN_MS: i64 = 60_000;

macro_rules! builtin {
    ($rel:literal) => {
        (
            concat!("scenarios/", $rel),
            include_str!(concat!("../scenarios/", $rel)),
        )
    };
}

/// The built-in catalogue, compiled in (the files in `scenarios/`).
pub const BUILTIN: &[(&str, &str)] = &[
    builtin!("ecommerce/baseline-7d.yaml"),
    builtin!("ecommerce/credential-stuffing-support-sync.yaml"),
    builtin!("ecommerce/leaked-refresh-token-vendor-breach.yaml"),
    builtin!("ecommerce/over-permissive-bulk-export.yaml"),
    builtin!("ecommerce/report-export-marketing-analyst.yaml"),
    builtin!("ecommerce/sandbox-refresh-unmasked.yaml"),
    builtin!("ecommerce/slow-scrape-token-replay.yaml"),
    builtin!("ecommerce/token-replay-revoke-access-token.yaml"),
    builtin!("ecommerce/webhook-exfil-fulfilment.yaml"),
    builtin!("fintech/baseline-7d.yaml"),
    builtin!("fintech/bulk-export-etl-password.yaml"),
    builtin!("fintech/escalate-then-bulk-export.yaml"),
    builtin!("fintech/insider-departing-advisor-export.yaml"),
    builtin!("fintech/leaked-refresh-token-ci-log.yaml"),
    builtin!("fintech/llm-cross-border-transfer.yaml"),
    builtin!("fintech/session-hijack-advisor.yaml"),
    builtin!("fintech/slow-scrape-advisor-mobile.yaml"),
    builtin!("fintech/slow-scrape-querymore.yaml"),
    builtin!("fintech/soar-playbook-token-replay.yaml"),
    builtin!("fintech/webhook-exfil-lookalike.yaml"),
    builtin!("hr/admin-infostealer-escalation-payroll-export.yaml"),
    builtin!("hr/baseline-7d.yaml"),
    builtin!("hr/credential-stuffing-slow-scrape.yaml"),
    builtin!("hr/insider-bulk-export.yaml"),
    builtin!("hr/leaked-refresh-token-repo.yaml"),
    builtin!("hr/over-permissive-bulk-export.yaml"),
    builtin!("hr/pii-logging-middleware.yaml"),
    builtin!("hr/slow-scrape-bgcheck-rotating-token.yaml"),
];

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// Every invalid scenario file, all at once.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostics>),
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error(
        "{0}: no scenario files (*.yaml, *.yml) found\n  = hint: point at a scenario file or a directory of them"
    )]
    Empty(String),
    #[error("more than {MAX_SCENARIOS} scenario files")]
    TooMany,
    #[error("{path}: not the JSON of `leakdrill suite --json`: {message}")]
    BadJson { path: String, message: String },
    #[error("{0}")]
    Merge(String),
}

/// One scenario at one seed.
#[derive(Debug, Clone)]
pub struct Case {
    /// As the user named it (relative), or `scenarios/…` for built-ins.
    pub path: String,
    pub scenario: Arc<Scenario>,
    pub seed: u64,
}

/// `K/N`: this machine runs every N-th case starting at the K-th (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not K/N with 1 ≤ K ≤ N (for example 2/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

/// The cases of a suite, in a stable order (path, then seed).
#[derive(Debug, Clone)]
pub struct Plan {
    pub cases: Vec<Case>,
    /// Cases in the whole suite (before partitioning).
    pub total_cases: usize,
    pub partition: Option<Partition>,
}

/// The built-in catalogue with `seeds` seeds each.
pub fn plan_builtin(seeds: u32) -> Result<Plan, SuiteError> {
    let mut loaded = Vec::new();
    let mut bad = Vec::new();
    for (path, text) in BUILTIN {
        match crate::scenario::load_str(path, text, None) {
            Ok(sc) => loaded.push(((*path).to_owned(), sc)),
            Err(d) => bad.push(d),
        }
    }
    finish(loaded, bad, seeds)
}

/// Scenario files and directories (searched recursively for `*.yaml` and
/// `*.yml`, README files aside), named for output as given.
pub fn plan_paths(paths: &[PathBuf], seeds: u32) -> Result<Plan, SuiteError> {
    let mut files = Vec::new();
    for p in paths {
        let before = files.len();
        collect(p, &mut files)?;
        if files.len() == before {
            return Err(SuiteError::Empty(p.display().to_string()));
        }
    }
    files.sort();
    files.dedup();
    let mut loaded = Vec::new();
    let mut bad = Vec::new();
    for f in files {
        match crate::scenario::load(&f) {
            Ok(sc) => loaded.push((f.display().to_string(), sc)),
            Err(ScenarioError::Invalid(d)) => bad.push(d),
            Err(e) => return Err(e.into()),
        }
    }
    finish(loaded, bad, seeds)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), SuiteError> {
    let io = |cause| SuiteError::Io {
        path: p.display().to_string(),
        cause,
    };
    let meta = std::fs::metadata(p).map_err(io)?;
    if meta.is_file() {
        out.push(p.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for e in entries {
        if out.len() > MAX_SCENARIOS {
            return Err(SuiteError::TooMany);
        }
        if e.is_dir() {
            collect(&e, out)?;
        } else if matches!(e.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(e);
        }
    }
    Ok(())
}

fn finish(
    loaded: Vec<(String, Scenario)>,
    bad: Vec<Diagnostics>,
    seeds: u32,
) -> Result<Plan, SuiteError> {
    if !bad.is_empty() {
        return Err(SuiteError::Invalid(bad));
    }
    let seeds = seeds.clamp(1, MAX_SEEDS);
    let mut cases = Vec::new();
    for (path, sc) in loaded {
        let sc = Arc::new(sc);
        for k in 0..u64::from(seeds) {
            cases.push(Case {
                path: path.clone(),
                scenario: sc.clone(),
                seed: sc.seed.wrapping_add(k),
            });
        }
    }
    cases.sort_by(|a, b| (&a.path, a.seed).cmp(&(&b.path, b.seed)));
    let total_cases = cases.len();
    Ok(Plan {
        cases,
        total_cases,
        partition: None,
    })
}

impl Plan {
    /// Keeps this partition's cases: indexes K−1, K−1+N, … of the full list.
    pub fn partition(mut self, p: Partition) -> Plan {
        let (k, n) = (p.k as usize, p.n as usize);
        self.cases = self
            .cases
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, c)| c)
            .collect();
        self.partition = Some(p);
        self
    }
}

/// What each case is tested against.
#[derive(Debug, Clone)]
pub enum DetectorSpec {
    Rules(crate::detect::Rules),
    /// `sh -c CMD` speaking docs/detector-protocol.md, one process per case.
    External {
        cmd: String,
        timeout_ms: u64,
    },
}

impl DetectorSpec {
    fn build(&self) -> Result<Box<dyn crate::detect::Detect>, String> {
        match self {
            DetectorSpec::Rules(r) => Ok(Box::new(r.detector().map_err(|e| e.to_string())?)),
            DetectorSpec::External { cmd, timeout_ms } => {
                let opts = crate::external::Options {
                    timeout: std::time::Duration::from_millis((*timeout_ms).max(1)),
                    stderr_file: None,
                };
                crate::external::External::spawn(cmd, &opts)
                    .map(|d| Box::new(d) as Box<dyn crate::detect::Detect>)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// One case's outcome, as the suite JSON holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub path: String,
    pub scenario: String,
    pub seed: u64,
    pub fixture: String,
    /// Every expectation met (false when the case could not run).
    pub passed: bool,
    /// Why the case could not run (a run limit, a detector that would not start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Detectable injections, and how many a true-positive alert found.
    pub injections: u32,
    pub detected: u32,
    /// Earliest first success → first true-positive alert, over injections.
    pub ttd_ms: Option<i64>,
    /// Longest first → last success of a contained injection.
    pub ttc_ms: Option<i64>,
    pub records_exposed: u64,
    /// Deadline clocks not late (pending or filed in time), of those started.
    pub clocks_met: u32,
    pub clocks: u32,
    pub false_positives: u64,
    pub fp_per_benign_hour: f64,
    pub expectations: Vec<Expectation>,
    /// `sha256:…` of the run log.
    pub digest: String,
    /// Relative: `leakdrill run PATH --seed S`.
    pub reproduce: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub id: String,
    pub met: bool,
    pub limit: Option<i64>,
    pub actual: Option<i64>,
    pub margin: Option<i64>,
}

/// The suite JSON (`--json`, `merge`, `--baseline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteResult {
    pub schema_version: u32,
    pub version: String,
    /// Set on partition outputs only; a merged or whole suite has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// Cases in the whole suite (all partitions).
    pub total_cases: usize,
    pub cases: Vec<CaseResult>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub cases: usize,
    pub passed: usize,
    pub missed: usize,
    pub errors: usize,
}

impl SuiteResult {
    fn new(cases: Vec<CaseResult>, total_cases: usize, partition: Option<Partition>) -> Self {
        let totals = Totals {
            cases: cases.len(),
            passed: cases.iter().filter(|c| c.passed).count(),
            missed: cases
                .iter()
                .filter(|c| !c.passed && c.error.is_none())
                .count(),
            errors: cases.iter().filter(|c| c.error.is_some()).count(),
        };
        SuiteResult {
            schema_version: SCHEMA_VERSION,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            partition,
            total_cases,
            cases,
            totals,
        }
    }

    /// Every case met its expectations.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.passed)
    }

    /// Reads a suite JSON file.
    pub fn read(path: &Path) -> Result<SuiteResult, SuiteError> {
        let text = crate::fixture::read_text_file(path).map_err(|cause| SuiteError::Io {
            path: path.display().to_string(),
            cause,
        })?;
        let r: SuiteResult = serde_json::from_str(&text).map_err(|e| SuiteError::BadJson {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if r.schema_version != SCHEMA_VERSION {
            return Err(SuiteError::BadJson {
                path: path.display().to_string(),
                message: format!(
                    "schema_version {} (this leakdrill reads {SCHEMA_VERSION})",
                    r.schema_version
                ),
            });
        }
        Ok(r)
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Runs one case.
pub fn run_case(case: &Case, spec: &DetectorSpec) -> CaseResult {
    let sc = &case.scenario;
    let mut r = blank(case);
    let det = match spec.build() {
        Ok(d) => d,
        Err(e) => {
            r.error = Some(format!("detector: {e}"));
            return r;
        }
    };
    let out = match crate::sim::run_detected(
        sc.clone(),
        case.seed,
        crate::sim::Limits::default(),
        Box::new(std::io::sink()),
        Some(det),
    ) {
        Ok(o) => o,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    let v = crate::score::score(sc, &out.summary);
    let detectable: Vec<_> = v.injections.iter().filter(|i| i.detectable).collect();
    r.injections = detectable.len() as u32;
    r.detected = detectable.iter().filter(|i| i.detected).count() as u32;
    r.ttd_ms = detectable.iter().filter_map(|i| i.ttd_ms).min();
    r.ttc_ms = detectable.iter().filter_map(|i| i.ttc_ms).max();
    r.records_exposed = v.exposure.total;
    for c in &v.notification.clocks {
        match c.status {
            ClockStatus::Pending | ClockStatus::NotifiedInTime => {
                r.clocks += 1;
                r.clocks_met += 1;
            }
            ClockStatus::Overdue | ClockStatus::NotifiedLate => r.clocks += 1,
            _ => {}
        }
    }
    r.false_positives = v.false_positives.count;
    r.fp_per_benign_hour = v.false_positives.per_benign_hour;
    r.expectations = v
        .expectations
        .iter()
        .map(|x| Expectation {
            id: x.id.to_owned(),
            met: x.met,
            limit: x.limit,
            actual: x.actual,
            margin: x.margin,
        })
        .collect();
    r.digest = out.summary.digest.clone();
    r.passed = v.passed;
    r
}

/// Runs the plan on `jobs` threads; `progress(done, total)` after each case.
/// The result does not depend on `jobs`.
pub fn run(
    plan: &Plan,
    spec: &DetectorSpec,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> SuiteResult {
    let n = plan.cases.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<CaseResult>>> =
        (0..n).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = run_case(&plan.cases[i], spec);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(r);
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, n);
                }
            });
        }
    });
    let cases = slots
        .into_iter()
        .zip(&plan.cases)
        .map(|(m, c)| {
            m.into_inner().ok().flatten().unwrap_or_else(|| {
                // A worker panicked on this case: report it, never drop it.
                let mut r = blank(c);
                r.error = Some("internal error: the case's worker stopped".into());
                r
            })
        })
        .collect();
    SuiteResult::new(cases, plan.total_cases, plan.partition)
}

/// A case's result before (or without) its run: not passed, nothing seen.
fn blank(c: &Case) -> CaseResult {
    CaseResult {
        path: c.path.clone(),
        scenario: c.scenario.id.clone(),
        seed: c.seed,
        fixture: c.scenario.fixture.clone(),
        passed: false,
        error: None,
        injections: 0,
        detected: 0,
        ttd_ms: None,
        ttc_ms: None,
        records_exposed: 0,
        clocks_met: 0,
        clocks: 0,
        false_positives: 0,
        fp_per_benign_hour: 0.0,
        expectations: Vec::new(),
        digest: String::new(),
        reproduce: format!("leakdrill run {} --seed {}", c.path, c.seed),
    }
}

/// Combines partition outputs into the result of one unpartitioned run:
/// every partition K of the same N exactly once, same version.
pub fn merge(parts: Vec<SuiteResult>) -> Result<SuiteResult, SuiteError> {
    let Some(first) = parts.first() else {
        return Err(SuiteError::Merge("nothing to merge".into()));
    };
    let total = first.total_cases;
    let version = first.version.clone();
    let n = first.partition.map_or(1, |p| p.n);
    let mut seen = vec![false; n as usize];
    for p in &parts {
        if p.version != version {
            return Err(SuiteError::Merge(format!(
                "parts come from leakdrill {} and {}",
                version, p.version
            )));
        }
        if p.total_cases != total {
            return Err(SuiteError::Merge(
                "parts come from different suites (total_cases differs)".into(),
            ));
        }
        let part = p.partition.unwrap_or(Partition { k: 1, n: 1 });
        if part.n != n {
            return Err(SuiteError::Merge(format!(
                "parts split the suite {n} ways and {} ways",
                part.n
            )));
        }
        let slot = &mut seen[(part.k - 1) as usize];
        if *slot {
            return Err(SuiteError::Merge(format!(
                "partition {}/{n} given twice",
                part.k
            )));
        }
        *slot = true;
    }
    if let Some(k) = seen.iter().position(|s| !s) {
        return Err(SuiteError::Merge(format!(
            "partition {}/{n} is missing\n  = hint: merge the JSON of every `--partition K/{n}` job",
            k + 1
        )));
    }
    let mut cases: Vec<CaseResult> = parts.into_iter().flat_map(|p| p.cases).collect();
    cases.sort_by(|a, b| (&a.path, a.seed).cmp(&(&b.path, b.seed)));
    if cases.len() != total {
        return Err(SuiteError::Merge(format!(
            "{} cases in the parts, {total} in the suite",
            cases.len()
        )));
    }
    Ok(SuiteResult::new(cases, total, None))
}

/// One difference from the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub scenario: String,
    pub seed: u64,
    pub what: String,
}

/// Regressions and improvements against a baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub regressions: Vec<Change>,
    pub improvements: Vec<Change>,
    /// Cases only in the baseline, or only in this run.
    pub removed: Vec<Change>,
    pub added: Vec<Change>,
}

/// `now` is worse than `base` beyond the tolerance (never is worst).
fn worse(base: Option<i64>, now: Option<i64>) -> bool {
    match (base, now) {
        (Some(b), Some(n)) => n - b > TOLERANCE_MIN_MS && (n - b) * 100 > b * TOLERANCE_PCT,
        (Some(_), None) => true,
        _ => false,
    }
}

fn span(base: Option<i64>, now: Option<i64>) -> String {
    let f = |v: Option<i64>| v.map_or("never".into(), |_| short(v));
    format!("{} → {}", f(base), f(now))
}

/// Compares by (path, seed). Regressions: an expectation met before and
/// missed now, a case that no longer runs, fewer injections detected, TTD
/// or TTC worse by more than 10 % and a minute, more false positives.
/// Improvements are the reverse.
pub fn compare(base: &SuiteResult, now: &SuiteResult) -> Comparison {
    let mut c = Comparison::default();
    let key = |r: &CaseResult| (r.path.clone(), r.seed);
    let base_map: std::collections::BTreeMap<_, _> =
        base.cases.iter().map(|r| (key(r), r)).collect();
    let now_map: std::collections::BTreeMap<_, _> = now.cases.iter().map(|r| (key(r), r)).collect();
    for (k, b) in &base_map {
        let change = |what: String| Change {
            scenario: b.scenario.clone(),
            seed: b.seed,
            what,
        };
        let Some(n) = now_map.get(k) else {
            c.removed
                .push(change(format!("{} no longer in the suite", b.path)));
            continue;
        };
        if n.error.is_some() && b.error.is_none() {
            c.regressions.push(change(format!(
                "no longer runs: {}",
                n.error.as_deref().unwrap_or("")
            )));
            continue;
        }
        for x in &b.expectations {
            match n.expectations.iter().find(|y| y.id == x.id) {
                Some(y) if x.met && !y.met => {
                    c.regressions.push(change(format!("{} newly missed", x.id)))
                }
                Some(y) if !x.met && y.met => {
                    c.improvements.push(change(format!("{} now met", x.id)))
                }
                _ => {}
            }
        }
        if n.detected < b.detected {
            c.regressions.push(change(format!(
                "detected {}/{} injections (was {}/{})",
                n.detected, n.injections, b.detected, b.injections
            )));
        } else if n.detected > b.detected {
            c.improvements.push(change(format!(
                "detected {}/{} injections (was {}/{})",
                n.detected, n.injections, b.detected, b.injections
            )));
        }
        for (name, bv, nv) in [("TTD", b.ttd_ms, n.ttd_ms), ("TTC", b.ttc_ms, n.ttc_ms)] {
            if worse(bv, nv) {
                c.regressions
                    .push(change(format!("{name} worse: {}", span(bv, nv))));
            } else if worse(nv, bv) {
                c.improvements
                    .push(change(format!("{name} better: {}", span(bv, nv))));
            }
        }
        if n.false_positives > b.false_positives {
            c.regressions.push(change(format!(
                "false positives {} → {}",
                b.false_positives, n.false_positives
            )));
        } else if n.false_positives < b.false_positives {
            c.improvements.push(change(format!(
                "false positives {} → {}",
                b.false_positives, n.false_positives
            )));
        }
    }
    for (k, n) in &now_map {
        if !base_map.contains_key(k) {
            c.added.push(Change {
                scenario: n.scenario.clone(),
                seed: n.seed,
                what: format!("{} new in the suite", n.path),
            });
        }
    }
    c
}

/// The comparison for a terminal or a CI log.
pub fn render_comparison(c: &Comparison) -> String {
    let mut out = String::new();
    let list = |out: &mut String, title: &str, xs: &[Change]| {
        if xs.is_empty() {
            return;
        }
        out.push_str(&format!("{title} ({}):\n", xs.len()));
        for x in xs {
            out.push_str(&format!("  {} @{}: {}\n", x.scenario, x.seed, x.what));
        }
    };
    list(&mut out, "regressions", &c.regressions);
    list(&mut out, "improvements", &c.improvements);
    list(&mut out, "removed", &c.removed);
    list(&mut out, "added", &c.added);
    if out.is_empty() {
        out.push_str(&format!(
            "no change against the baseline (tolerance: TTD/TTC {TOLERANCE_PCT} % and {} s)\n",
            TOLERANCE_MIN_MS / 1000
        ));
    }
    out
}

fn short(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) => {
            let s = ms / 1000;
            if s < 60 {
                format!("{s}s")
            } else if s < 3600 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
            }
        }
    }
}

/// The scorecard: one line per case, within 80 columns (ids shortened;
/// the JSON has them whole), then what was missed and how to reproduce it.
pub fn render_scorecard(r: &SuiteResult) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<27} {:>4} {:<6} {:>5} {:>6} {:>6} {:>7} {:>5} {:>5}\n",
        "scenario", "seed", "result", "det", "ttd", "ttc", "exposed", "clocks", "fp/h"
    ));
    for c in &r.cases {
        let name: String = if c.scenario.chars().count() > 27 {
            c.scenario.chars().take(26).chain(['…']).collect()
        } else {
            c.scenario.clone()
        };
        let result = match (&c.error, c.passed) {
            (Some(_), _) => "ERROR",
            (None, true) => "met",
            (None, false) => "MISSED",
        };
        let det = if c.injections == 0 {
            "-".to_owned()
        } else {
            format!("{}/{}", c.detected, c.injections)
        };
        let clocks = if c.clocks == 0 {
            "-".to_owned()
        } else {
            format!("{}/{}", c.clocks_met, c.clocks)
        };
        out.push_str(&format!(
            "{name:<27} {:>4} {result:<6} {det:>5} {:>6} {:>6} {:>7} {clocks:>5} {:>5.2}\n",
            c.seed % 10_000,
            short(c.ttd_ms),
            short(c.ttc_ms),
            compact(c.records_exposed),
            c.fp_per_benign_hour,
        ));
    }
    for c in r.cases.iter().filter(|c| !c.passed) {
        let why: Vec<&str> = c
            .expectations
            .iter()
            .filter(|x| !x.met)
            .map(|x| x.id.as_str())
            .collect();
        match &c.error {
            Some(e) => out.push_str(&format!("\nERROR {} @{}: {e}\n", c.scenario, c.seed)),
            None => out.push_str(&format!(
                "\nMISSED {} @{}: {}\n  reproduce: {}\n",
                c.scenario,
                c.seed,
                why.join(", "),
                c.reproduce
            )),
        }
    }
    let t = &r.totals;
    out.push_str(&format!(
        "\n{} cases: {} met, {} missed, {} errors{}\n",
        t.cases,
        t.passed,
        t.missed,
        t.errors,
        match r.partition {
            Some(p) => format!(" (partition {}/{} of {} cases)", p.k, p.n, r.total_cases),
            None => String::new(),
        }
    ));
    out
}

fn compact(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..10_000_000 => format!("{}k", n / 1000),
        _ => format!("{}M", n / 1_000_000),
    }
}

/// JUnit XML: one test case per expectation of each case (and one for a
/// case that could not run), grouped in one test suite per scenario file.
pub fn render_junit(r: &SuiteResult) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("leakdrill suite");
    let mut suites: Vec<TestSuite> = Vec::new();
    for c in &r.cases {
        if suites.last().is_none_or(|s| s.name.as_str() != c.path) {
            suites.push(TestSuite::new(c.path.clone()));
        }
        let suite = suites.last_mut().expect("just pushed");
        if let Some(e) = &c.error {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_message(e.clone());
            let mut tc = TestCase::new(format!("{} @{}: run", c.scenario, c.seed), st);
            tc.set_classname(c.path.clone());
            suite.add_test_case(tc);
            continue;
        }
        for x in &c.expectations {
            let st = if x.met {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!(
                    "{} missed: limit {}, actual {}, margin {}; reproduce: {}",
                    x.id,
                    x.limit.map_or("-".into(), |v| v.to_string()),
                    x.actual.map_or("never".into(), |v| v.to_string()),
                    x.margin.map_or("-".into(), |v| v.to_string()),
                    c.reproduce
                ));
                st
            };
            let mut tc = TestCase::new(format!("{} @{}: {}", c.scenario, c.seed, x.id), st);
            tc.set_classname(c.path.clone());
            suite.add_test_case(tc);
        }
    }
    report.add_test_suites(suites);
    report.to_string().unwrap_or_default()
}
