//! Reports: a run's verdict rendered into the formats `leakdrill run
//! --format` writes — the terminal summary (≤ 80 columns, optional colour),
//! `report.json` (versioned schema), `report.junit.xml` (one test case per
//! expectation), `report.md` (tickets and drill minutes) and `report.html`
//! (one self-contained file with an SVG timeline).
//!
//! Owns: every report layout, escaping of user text (scenario and rule
//! titles) for Markdown, HTML and XML, and the timeline's geometry.
//! Must not: run simulations, read files or the wall clock, or carry
//! anything machine-specific (argv, absolute paths, host names, wall times)
//! into a file: the same run gives the same bytes on every machine. The
//! terminal summary is the one place a wall time appears, and only when the
//! caller passes it in.

use std::fmt::Write as _;
use std::time::Duration;

use crate::clocks::{ClockStatus, Verification};
use crate::score::{ExpectationResult, Verdict, thousands};
use crate::sim::{Summary, fmt_offset};

/// Alerts listed in full in the terminal summary; Markdown and HTML list
/// [`ALERTS_LISTED`].
pub const ALERTS_IN_TERMINAL: usize = 5;
/// Alerts listed in Markdown and HTML (the timeline shows all of them).
pub const ALERTS_LISTED: usize = 20;

/// A report format of `leakdrill run --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Format {
    /// The terminal summary (always printed to standard output).
    Text,
    /// `report.json`.
    Json,
    /// `report.junit.xml`.
    Junit,
    /// `report.md`.
    Markdown,
    /// `report.html`.
    Html,
}

impl Format {
    /// The file the format is written to under `--out`; `None` for text,
    /// which goes to standard output.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Format::Text => None,
            Format::Json => Some("report.json"),
            Format::Junit => Some("report.junit.xml"),
            Format::Markdown => Some("report.md"),
            Format::Html => Some("report.html"),
        }
    }
}

/// Everything a report is made of: what the CLI knows about the run.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub scenario_id: &'a str,
    pub title: &'a str,
    /// The scenario file as the reproduce command names it: relative (to
    /// the working directory), never absolute.
    pub scenario_path: &'a str,
    pub seed: u64,
    pub version: &'a str,
    /// The run log's digest (`sha256:…`).
    pub digest: &'a str,
    pub summary: &'a Summary,
    pub verdict: &'a Verdict,
    /// The scenario's start (ms since the Unix epoch, UTC).
    pub start_ms: i64,
    pub duration_ms: i64,
}

impl Input<'_> {
    /// `leakdrill run scenarios/… --seed S`.
    pub fn reproduce(&self) -> String {
        format!(
            "leakdrill run {} --seed {}",
            shell_word(self.scenario_path),
            self.seed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot render JUnit XML: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    #[error("cannot render JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The file body of `format` (for [`Format::Text`]: the terminal summary
/// without colour or wall time).
pub fn render(format: Format, i: &Input<'_>) -> Result<String, ReportError> {
    Ok(match format {
        Format::Text => render_text(i, &TextOptions::default()),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&json(i))?),
        Format::Junit => junit(i)?,
        Format::Markdown => markdown(i),
        Format::Html => html(i),
    })
}

/// `report.json`: the verdict with the run's identity. Schema versioned by
/// `schema_version`; nothing machine-specific.
pub fn json(i: &Input<'_>) -> serde_json::Value {
    let v = i.verdict;
    let mut doc = serde_json::json!({
        "schema_version": v.schema_version,
        "scenario": i.scenario_id,
        "seed": i.seed,
        "version": i.version,
        "digest": i.digest,
        "passed": v.passed,
        "injections": v.injections,
        "exposure": v.exposure,
        "expectations": v.expectations,
        "false_positives": v.false_positives,
        "regimes": v.notification.regimes,
        "clocks": v.notification.clocks,
        "trigger_at": v.notification.trigger_at,
        "money_estimate": v.notification.money,
        "alerts": i.summary.alerts,
        "reproduce": i.reproduce(),
    });
    // Only when the detector under test failed: reports of healthy runs
    // keep their bytes.
    if let (Some(f), Some(m)) = (&v.detector_fault, doc.as_object_mut()) {
        m.insert("detector_fault".into(), serde_json::json!(f));
    }
    doc
}

/// `crashed at +2h05m00s: exited with status 3 …` for a failed detector.
fn fault_text(f: &crate::sim::DetectorFaultAt) -> String {
    format!(
        "{} at {}: {}",
        f.fault.kind,
        fmt_offset(Some(f.t_ms)),
        f.fault.detail
    )
}

// ---------------------------------------------------------------- shared

/// A duration with its sign: `1h05m00s`, `-15m00s`.
fn dur(ms: i64) -> String {
    let t = fmt_offset(Some(ms.unsigned_abs().min(i64::MAX as u64) as i64));
    let t = t.trim_start_matches('+');
    if ms < 0 {
        format!("-{t}")
    } else {
        t.to_owned()
    }
}

fn dur_opt(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), dur)
}

/// Expectations whose limit and actual are counts, not durations.
fn is_count(id: &str) -> bool {
    matches!(
        id,
        "max_records_exposed" | "no_alerts" | "regimes_apply" | "notify_in_time"
    )
}

/// `(limit, actual, margin)` as text.
fn expectation_values(e: &ExpectationResult) -> (String, String, String) {
    if is_count(e.id) {
        let n = |x: i64| {
            if x < 0 {
                format!("-{}", thousands(x.unsigned_abs()))
            } else {
                thousands(x.unsigned_abs())
            }
        };
        (
            e.limit.map_or("-".into(), n),
            e.actual.map_or("never".into(), n),
            e.margin.map_or("-".into(), n),
        )
    } else {
        (
            dur_opt(e.limit),
            e.actual.map_or("never".into(), dur),
            dur_opt(e.margin),
        )
    }
}

fn status_text(s: ClockStatus) -> &'static str {
    match s {
        ClockStatus::NotStarted => "not started",
        ClockStatus::Pending => "not yet notified",
        ClockStatus::Overdue => "OVERDUE",
        ClockStatus::NotifiedInTime => "notified in time",
        ClockStatus::NotifiedLate => "NOTIFIED LATE",
        ClockStatus::NoStatutoryMaximum => "no statutory max",
        ClockStatus::OnRequestOnly => "on request only",
        ClockStatus::NotAClock => "not a clock",
        ClockStatus::Invalid => "invalid",
    }
}

fn status_tone(s: ClockStatus) -> Tone {
    match s {
        ClockStatus::Overdue | ClockStatus::NotifiedLate | ClockStatus::Invalid => Tone::Bad,
        ClockStatus::NotifiedInTime => Tone::Good,
        ClockStatus::Pending | ClockStatus::NoStatutoryMaximum => Tone::Pending,
        ClockStatus::NotStarted | ClockStatus::OnRequestOnly | ClockStatus::NotAClock => {
            Tone::Plain
        }
    }
}

fn mark(v: Verification) -> &'static str {
    match v {
        Verification::Verified => "[V]",
        Verification::Secondary => "[S]",
        Verification::Unverified => "[U]",
    }
}

/// Clocks worth a row: not the non-clocks (litigation exposure, on request).
fn shown_clock(s: ClockStatus) -> bool {
    !matches!(s, ClockStatus::NotAClock | ClockStatus::OnRequestOnly)
}

fn verdict_text(v: &Verdict) -> &'static str {
    if v.passed {
        "all expectations met"
    } else {
        "expectations missed (exit 10)"
    }
}

/// `scenarios/a b.yaml` → `'scenarios/a b.yaml'`; plain words unchanged.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Truncates to `w` characters, ending in `…` when cut.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_owned()
    } else {
        let mut o: String = s.chars().take(w.saturating_sub(1)).collect();
        o.push('…');
        o
    }
}

/// RFC 3339 of a run offset.
fn instant(start_ms: i64, offset_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(start_ms.saturating_add(offset_ms))
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Run offset (ms) of an RFC 3339 instant.
fn offset_of(start_ms: i64, rfc3339: &str) -> Option<i64> {
    let t: jiff::Timestamp = rfc3339.parse().ok()?;
    Some(t.as_millisecond() - start_ms)
}

fn hours(ms: i64) -> String {
    let h = ms as f64 / 3_600_000.0;
    if (h - h.round()).abs() < 1e-9 {
        format!("{h:.0}")
    } else {
        format!("{h:.1}")
    }
}

// ------------------------------------------------------------- terminal

/// How the terminal summary is printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Wall time the run took (the caller measured it; never in a file).
    pub wall_s: Option<f64>,
    /// ANSI colour: green met, red missed, yellow pending.
    pub colour: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Good,
    Bad,
    Pending,
}

impl Tone {
    fn css(self) -> &'static str {
        match self {
            Tone::Plain => "",
            Tone::Good => "good",
            Tone::Bad => "bad",
            Tone::Pending => "pending",
        }
    }
}

/// `s` (already padded) in the tone's colour when `on`.
fn paint(s: &str, tone: Tone, on: bool) -> String {
    let code = match tone {
        Tone::Good => "32",
        Tone::Bad => "31",
        Tone::Pending => "33",
        Tone::Plain => return s.to_owned(),
    };
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

/// `    label: a 1 · b 2 · …` wrapped at 80 columns.
fn wrap_items(o: &mut String, label: &str, items: &[(&str, u64)]) {
    let mut line = format!("    {label}:");
    for (k, n) in items {
        let item = format!(" {} {}", fit(k, 60), thousands(*n));
        if line.chars().count() + item.chars().count() + 2 > 80 {
            let _ = writeln!(o, "{line}");
            line = " ".repeat(label.len() + 5);
        } else if !line.ends_with(':') {
            line.push_str(" ·");
        }
        line.push_str(&item);
    }
    let _ = writeln!(o, "{line}");
}

/// `items` joined by ` · ` on lines of at most `width` columns, each
/// starting with `indent` (an item longer than a line gets its own).
pub fn wrap_list(indent: &str, items: &[&str], width: usize) -> String {
    let mut o = String::new();
    let mut line = String::from(indent);
    for item in items {
        let sep = if line.len() > indent.len() {
            " · "
        } else {
            ""
        };
        if line.len() > indent.len()
            && line.chars().count() + sep.chars().count() + item.chars().count() > width
        {
            let _ = writeln!(o, "{line}");
            line = format!("{indent}{item}");
        } else {
            line.push_str(sep);
            line.push_str(item);
        }
    }
    let _ = writeln!(o, "{line}");
    o
}

fn sorted_desc<'k>(m: impl Iterator<Item = (&'k str, u64)>) -> Vec<(&'k str, u64)> {
    let mut v: Vec<(&str, u64)> = m.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

/// The terminal summary `run` prints: every line at most 80 columns (the
/// reproduce command excepted when the scenario path is longer).
pub fn render_text(i: &Input<'_>, opt: &TextOptions) -> String {
    let (s, v, c) = (i.summary, i.verdict, opt.colour);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}",
        fit(&format!("leakdrill {} · {}", i.version, i.scenario_id), 80)
    );
    let _ = writeln!(o, "  {}", fit(i.title, 78));
    let mut line = format!("  seed {} · {}h simulated", i.seed, hours(i.duration_ms));
    if let Some(w) = opt.wall_s {
        let _ = write!(line, " in {w:.2} s");
    }
    let _ = writeln!(o, "{}", fit(&line, 80));
    let k = &s.counts;
    let _ = writeln!(
        o,
        "  {} API calls · {} telemetry events ({} delivered, {} dropped)",
        thousands(k.api_calls),
        thousands(k.telemetry_events),
        thousands(k.telemetry_delivered),
        thousands(k.telemetry_dropped)
    );
    let _ = writeln!(
        o,
        "  attacker {} ok / {} denied · {} records read",
        thousands(k.attacker_calls_ok),
        thousands(k.attacker_calls_denied),
        thousands(k.records_read)
    );
    if !v.injections.is_empty() {
        let _ = writeln!(
            o,
            "\n  {:<18} {:<19} {:>3} {:>10} {:>10} {:>10}",
            "injection", "kind", "det", "ttd", "ttc", "exposed"
        );
        for (inj, run) in v.injections.iter().zip(&s.injections) {
            let det = match (inj.detectable, inj.detected) {
                (false, _) => paint("n/a", Tone::Plain, c),
                (true, true) => paint("yes", Tone::Good, c),
                (true, false) => paint(" NO", Tone::Bad, c),
            };
            let _ = writeln!(
                o,
                "  {:<18} {:<19} {det} {:>10} {:>10} {:>10}",
                fit(&inj.id, 18),
                fit(inj.kind, 19),
                dur_opt(inj.ttd_ms),
                dur_opt(inj.ttc_ms),
                thousands(inj.records_exposed.total)
            );
            if run.first_success_ms.is_some() || run.first_denied_ms.is_some() {
                let mut l = format!(
                    "      ok {} → {}",
                    fmt_offset(run.first_success_ms),
                    fmt_offset(run.last_success_ms)
                );
                if run.first_denied_ms.is_some() {
                    let _ = write!(l, " · denied {}", fmt_offset(run.first_denied_ms));
                }
                if !inj.rules.is_empty() {
                    let _ = write!(l, " · {} rule(s)", inj.rules.len());
                }
                let _ = writeln!(o, "{}", fit(&l, 80));
            }
        }
    }
    let x = &v.exposure;
    if x.total > 0 {
        let _ = writeln!(
            o,
            "  exposed: {} records of {} subjects",
            thousands(x.total),
            thousands(x.subjects)
        );
        let _ = writeln!(
            o,
            "    {} before detection · {} after",
            thousands(x.before_detection),
            thousands(x.after_detection)
        );
        let classes = sorted_desc(x.by_class.iter().map(|(k, n)| (*k, *n)));
        wrap_items(&mut o, "by class", &classes);
        let juris = sorted_desc(x.by_jurisdiction.iter().map(|(k, n)| (k.as_str(), *n)));
        wrap_items(&mut o, "by jurisdiction", &juris);
    }
    if !s.actions.is_empty() {
        let _ = writeln!(
            o,
            "\n  {:<24} {:>11} {:>11} {:>8}",
            "action", "triggered", "effective", "attempts"
        );
        for a in &s.actions {
            let eff = a
                .effective_ms
                .map_or("never".to_owned(), |t| fmt_offset(Some(t)));
            let ok = if a.ok {
                paint("ok", Tone::Good, c)
            } else {
                paint("FAILED", Tone::Bad, c)
            };
            let _ = writeln!(
                o,
                "  {:<24} {:>11} {:>11} {:>8}  {ok}",
                fit(a.action, 24),
                fmt_offset(a.triggered_ms),
                eff,
                a.attempts
            );
            let _ = writeln!(o, "{}", fit(&format!("      target {}", a.target), 80));
        }
    }
    if s.alerts.is_empty() {
        let _ = writeln!(o, "\n  alerts: none");
    } else {
        let shown = s.alerts.len().min(ALERTS_IN_TERMINAL);
        let _ = writeln!(
            o,
            "\n  alerts: {} (first {shown})",
            thousands(s.alerts.len() as u64)
        );
        for a in s.alerts.iter().take(shown) {
            let l = format!(
                "    {:>11} {:<8} {}",
                fmt_offset(Some(a.t_ms)),
                fit(&a.alert.level, 8),
                a.alert.title
            );
            let _ = writeln!(o, "{}", fit(&l, 80));
        }
    }
    let n = &v.notification;
    if !n.clocks.is_empty() {
        let trigger = n.trigger_at.as_deref().map_or("never".to_owned(), |t| {
            format!("{} UTC", t.replace('T', " ").get(..16).unwrap_or(t))
        });
        let _ = writeln!(
            o,
            "\n  regulatory clocks (trigger: first true-positive alert,"
        );
        let _ = writeln!(o, "    {trigger})");
        let mut waiting = 0;
        for k in &n.clocks {
            if !shown_clock(k.status) || k.status == ClockStatus::NotStarted {
                waiting += usize::from(k.status == ClockStatus::NotStarted);
                continue;
            }
            let status = paint(
                &format!("{:>20}", status_text(k.status)),
                status_tone(k.status),
                c,
            );
            let _ = writeln!(
                o,
                "  {:<50} {status} {}",
                fit(&k.obligation, 50),
                mark(k.verification)
            );
            let due = k.due_local.as_deref().unwrap_or(k.deadline.as_str());
            let l = format!("      {} · due {due}", k.recipient.replace('_', " "));
            let _ = writeln!(o, "{}", fit(&l, 80));
        }
        if waiting > 0 {
            let _ = writeln!(
                o,
                "  {waiting} more not started (chained filings, or events"
            );
            let _ = writeln!(o, "    that did not happen)");
        }
        if let Some(m) = n.money.first() {
            let _ = writeln!(
                o,
                "{}",
                fit(&format!("  money at stake ({}):", m.label), 80)
            );
        }
        for m in &n.money {
            let l = format!(
                "    {:<24} {} {} – {}",
                fit(&m.regime_id, 24),
                m.currency,
                thousands(m.low.max(0.0) as u64),
                thousands(m.high.max(0.0) as u64),
            );
            let _ = writeln!(o, "{}", fit(&l, 80));
        }
    }
    let _ = writeln!(
        o,
        "\n  false positives: {} ({} per hour)",
        v.false_positives.count, v.false_positives.per_benign_hour
    );
    if let Some(f) = &v.detector_fault {
        let first = fault_text(f);
        let first = first.lines().next().unwrap_or("");
        let l = format!("  detector {first}");
        let _ = writeln!(o, "{}", paint(&fit(&l, 80), Tone::Bad, c));
    }
    if !v.expectations.is_empty() {
        let _ = writeln!(
            o,
            "  {:<6} {:<20} {:>12} {:>12} {:>12}",
            "result", "expectation", "limit", "actual", "margin"
        );
    }
    for e in &v.expectations {
        let (limit, actual, margin) = expectation_values(e);
        let res = if e.met {
            paint("met   ", Tone::Good, c)
        } else {
            paint("MISSED", Tone::Bad, c)
        };
        let _ = writeln!(
            o,
            "  {res} {:<20} {:>12} {:>12} {:>12}",
            fit(e.id, 20),
            fit(&limit, 12),
            fit(&actual, 12),
            fit(&margin, 12)
        );
    }
    let tone = if v.passed { Tone::Good } else { Tone::Bad };
    let _ = writeln!(o, "  verdict: {}", paint(verdict_text(v), tone, c));
    let _ = writeln!(o, "  digest {}", fit(i.digest, 71));
    let one = format!("  reproduce: {}", i.reproduce());
    if one.chars().count() <= 80 {
        let _ = writeln!(o, "{one}");
    } else {
        // A shell line continuation keeps it one command to copy.
        let _ = writeln!(
            o,
            "  reproduce: leakdrill run \\\n    {} --seed {}",
            shell_word(i.scenario_path),
            i.seed
        );
    }
    o
}

// ------------------------------------------------------------ documents

/// A table cell: text plus the tone HTML colours it with.
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    tone: Tone,
    /// Right-aligned (numbers, durations).
    num: bool,
}

fn t(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        tone: Tone::Plain,
        num: false,
    }
}

fn n(s: impl Into<String>) -> Cell {
    Cell {
        text: s.into(),
        tone: Tone::Plain,
        num: true,
    }
}

fn toned(s: impl Into<String>, tone: Tone) -> Cell {
    Cell {
        text: s.into(),
        tone,
        num: false,
    }
}

/// The content Markdown and HTML share, in order.
#[derive(Debug, Clone)]
enum Block {
    H2(&'static str),
    Para(String),
    /// A short label: value list.
    Facts(Vec<(&'static str, String)>),
    Table {
        head: Vec<&'static str>,
        rows: Vec<Vec<Cell>>,
    },
    Code(String),
}

fn table(head: &[&'static str], rows: Vec<Vec<Cell>>) -> Block {
    Block::Table {
        head: head.to_vec(),
        rows,
    }
}

/// Everything after the title and verdict, shared by Markdown and HTML.
fn blocks(i: &Input<'_>) -> Vec<Block> {
    let (s, v) = (i.summary, i.verdict);
    let mut b = Vec::new();
    b.push(Block::H2("Injections"));
    let rows = v
        .injections
        .iter()
        .zip(&s.injections)
        .map(|(inj, run)| {
            let det = match (inj.detectable, inj.detected) {
                (false, _) => t("n/a"),
                (true, true) => toned("yes", Tone::Good),
                (true, false) => toned("NO", Tone::Bad),
            };
            vec![
                t(&inj.id),
                t(inj.kind),
                det,
                n(dur_opt(inj.ttd_ms)),
                n(dur_opt(inj.ttc_ms)),
                n(thousands(inj.records_exposed.total)),
                n(fmt_offset(run.first_success_ms)),
                n(fmt_offset(run.last_success_ms)),
                n(fmt_offset(run.first_denied_ms)),
            ]
        })
        .collect();
    b.push(table(
        &[
            "injection",
            "kind",
            "detected",
            "TTD",
            "TTC",
            "exposed",
            "first success",
            "last success",
            "first denied",
        ],
        rows,
    ));
    b.push(Block::Para(
        "TTD: first success → first true-positive alert. TTC: first success → last success, when the attacker was stopped.".into(),
    ));

    let x = &v.exposure;
    b.push(Block::H2("Records exposed"));
    b.push(Block::Para(format!(
        "{} records of {} data subjects: {} before detection, {} after detection{}.",
        thousands(x.total),
        thousands(x.subjects),
        thousands(x.before_detection),
        thousands(x.after_detection),
        if x.unattributed > 0 {
            format!(" ({} without a record trail)", thousands(x.unattributed))
        } else {
            String::new()
        }
    )));
    if !x.by_class.is_empty() {
        let rows = sorted_desc(x.by_class.iter().map(|(k, c)| (*k, *c)))
            .into_iter()
            .map(|(k, c)| vec![t(k), n(thousands(c))])
            .collect();
        b.push(table(&["data class", "records"], rows));
    }
    if !x.by_jurisdiction.is_empty() {
        let rows = sorted_desc(x.by_jurisdiction.iter().map(|(k, c)| (k.as_str(), *c)))
            .into_iter()
            .map(|(k, c)| {
                let subj = x.subjects_by_jurisdiction.get(k).copied().unwrap_or(0);
                vec![t(k), n(thousands(c)), n(thousands(subj))]
            })
            .collect();
        b.push(table(&["jurisdiction", "records", "subjects"], rows));
    }

    b.push(Block::H2("Expectations"));
    if v.expectations.is_empty() {
        b.push(Block::Para("The scenario sets no expectations.".into()));
    } else {
        let rows = v
            .expectations
            .iter()
            .map(|e| {
                let (limit, actual, margin) = expectation_values(e);
                vec![
                    t(e.id),
                    if e.met {
                        toned("met", Tone::Good)
                    } else {
                        toned("MISSED", Tone::Bad)
                    },
                    n(limit),
                    n(actual),
                    n(margin),
                ]
            })
            .collect();
        b.push(table(
            &["expectation", "result", "limit", "actual", "margin"],
            rows,
        ));
    }
    if let Some(f) = &v.detector_fault {
        b.push(Block::Para(format!(
            "The detector under test failed ({}); it was fed nothing after that, so later activity went unseen.",
            fault_text(f)
        )));
    }

    let nt = &v.notification;
    b.push(Block::H2("Regulatory clocks"));
    b.push(Block::Para(format!(
        "Trigger (awareness, discovery, determination): the first true-positive alert, {}. Due times are in each regime's time zone; the margin is due − filed, or due − end of run when nothing was filed (negative = late).",
        nt.trigger_at
            .as_deref()
            .and_then(|a| offset_of(i.start_ms, a))
            .map_or_else(
                || "never (no clock started)".to_owned(),
                |off| format!("{} ({})", instant(i.start_ms, off), fmt_offset(Some(off)))
            )
    )));
    let clocks: Vec<_> = nt.clocks.iter().filter(|k| shown_clock(k.status)).collect();
    if clocks.is_empty() {
        b.push(Block::Para(
            "No breach-notification regime applies to what was exposed.".into(),
        ));
    } else {
        let rows = clocks
            .iter()
            .map(|k| {
                vec![
                    t(&k.obligation),
                    t(k.recipient.replace('_', " ")),
                    t(k.due_local.clone().unwrap_or_else(|| k.deadline.clone())),
                    toned(status_text(k.status), status_tone(k.status)),
                    n(dur_opt(k.margin_ms)),
                    t(mark(k.verification)),
                ]
            })
            .collect();
        b.push(table(
            &[
                "obligation",
                "recipient",
                "due (local)",
                "status",
                "margin",
                "verification",
            ],
            rows,
        ));
        b.push(Block::Para(
            "[V] verified against the primary source · [S] secondary source · [U] unverified."
                .into(),
        ));
    }
    if !nt.money.is_empty() {
        b.push(Block::H2("Money at stake (estimate)"));
        b.push(Block::Para(format!(
            "Label: {}. Ranges per regime from the regulatory-clock catalogue, for the exposure above.",
            nt.money[0].label
        )));
        let rows = nt
            .money
            .iter()
            .map(|m| {
                vec![
                    t(&m.regime_id),
                    t(&m.currency),
                    n(thousands(m.low.max(0.0) as u64)),
                    n(thousands(m.high.max(0.0) as u64)),
                    n(m.upper_tier_high
                        .map_or("-".into(), |h| thousands(h.max(0.0) as u64))),
                    t(mark(m.verification)),
                ]
            })
            .collect();
        b.push(table(
            &[
                "regime",
                "currency",
                "low",
                "high",
                "upper tier",
                "verification",
            ],
            rows,
        ));
    }

    b.push(Block::H2("Actions taken"));
    if s.actions.is_empty() {
        b.push(Block::Para("No response action was scripted.".into()));
    } else {
        let rows = s
            .actions
            .iter()
            .map(|a| {
                vec![
                    t(a.action),
                    t(&a.target),
                    n(fmt_offset(a.triggered_ms)),
                    n(a.effective_ms
                        .map_or("never".into(), |e| fmt_offset(Some(e)))),
                    n(a.attempts.to_string()),
                    if a.ok {
                        toned("ok", Tone::Good)
                    } else if a.triggered_ms.is_none() {
                        t("not triggered")
                    } else {
                        toned("FAILED", Tone::Bad)
                    },
                ]
            })
            .collect();
        b.push(table(
            &[
                "action",
                "target",
                "triggered",
                "effective",
                "attempts",
                "outcome",
            ],
            rows,
        ));
    }

    b.push(Block::H2("Alerts"));
    if s.alerts.is_empty() {
        b.push(Block::Para("No alert was raised.".into()));
    } else {
        let shown = s.alerts.len().min(ALERTS_LISTED);
        b.push(Block::Para(format!(
            "{} alerts; the first {shown} (false positives: {}, {} per benign hour).",
            thousands(s.alerts.len() as u64),
            v.false_positives.count,
            v.false_positives.per_benign_hour
        )));
        let rows = s
            .alerts
            .iter()
            .take(shown)
            .map(|a| {
                vec![
                    n(fmt_offset(Some(a.t_ms))),
                    t(&a.alert.level),
                    t(&a.alert.title),
                    t(&a.alert.rule_id),
                    t(a.alert.user.clone().unwrap_or_default()),
                    t(a.alert.source_ip.clone().unwrap_or_default()),
                ]
            })
            .collect();
        b.push(table(
            &["at", "level", "title", "rule", "user", "source IP"],
            rows,
        ));
    }

    b.push(Block::H2("Reproduce"));
    b.push(Block::Code(i.reproduce()));
    b.push(Block::Facts(vec![
        ("run-log digest", i.digest.to_owned()),
        ("leakdrill", i.version.to_owned()),
    ]));
    b
}

fn facts(i: &Input<'_>) -> Vec<(&'static str, String)> {
    vec![
        ("scenario", i.scenario_id.to_owned()),
        ("seed", i.seed.to_string()),
        ("fixture", i.summary.fixture.clone()),
        (
            "simulated",
            format!("{} h from {}", hours(i.duration_ms), instant(i.start_ms, 0)),
        ),
    ]
}

// ------------------------------------------------------------- markdown

/// Escapes text for a Markdown paragraph or table cell.
fn md(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (k, &ch) in chars.iter().enumerate() {
        // An underscore inside a word never starts emphasis (CommonMark):
        // `us_ca_1798_82` stays readable.
        let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
        if ch == '_' && k > 0 && word(chars.get(k - 1)) && word(chars.get(k + 1)) {
            o.push(ch);
            continue;
        }
        match ch {
            // A closing bracket only makes a link before `(`, `[` or `:`;
            // elsewhere `[V]` stays as written.
            ']' if !matches!(chars.get(k + 1), Some('(' | '[' | ':')) => o.push(ch),
            '\\' | '`' | '*' | '_' | ']' | '<' | '>' | '|' | '#' | '!' | '~' => {
                o.push('\\');
                o.push(ch);
            }
            '&' => o.push_str("&amp;"),
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// `report.md`: for tickets and drill minutes.
pub fn markdown(i: &Input<'_>) -> String {
    let v = i.verdict;
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", md(i.title));
    for (k, val) in facts(i) {
        let _ = writeln!(o, "- **{k}:** {}", md(&val));
    }
    let _ = writeln!(o, "\n**Verdict: {}**", verdict_text(v));
    for b in blocks(i) {
        match b {
            Block::H2(h) => {
                let _ = writeln!(o, "\n## {h}");
            }
            Block::Para(p) => {
                let _ = writeln!(o, "\n{}", md(&p));
            }
            Block::Facts(f) => {
                o.push('\n');
                for (k, val) in f {
                    let _ = writeln!(o, "- **{k}:** {}", md(&val));
                }
            }
            Block::Code(c) => {
                let _ = writeln!(o, "\n```sh\n{c}\n```");
            }
            Block::Table { head, rows } => {
                let _ = writeln!(o, "\n| {} |", head.join(" | "));
                let align: Vec<&str> = head
                    .iter()
                    .enumerate()
                    .map(|(k, _)| {
                        if rows
                            .first()
                            .is_some_and(|r| r.get(k).is_some_and(|c| c.num))
                        {
                            "---:"
                        } else {
                            "---"
                        }
                    })
                    .collect();
                let _ = writeln!(o, "| {} |", align.join(" | "));
                for r in rows {
                    let cells: Vec<String> = r.iter().map(|c| md(&c.text)).collect();
                    let _ = writeln!(o, "| {} |", cells.join(" | "));
                }
            }
        }
    }
    o
}

// ----------------------------------------------------------------- junit

/// `report.junit.xml`: one test suite named after the scenario, one test
/// case per expectation. Times are zero: nothing wall-clock, and a 48 h
/// simulated duration would read as a 48 h test.
pub fn junit(i: &Input<'_>) -> Result<String, ReportError> {
    use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(i.scenario_id);
    suite.set_time(Duration::ZERO);
    suite.add_properties([
        Property::new("title", i.title),
        Property::new("seed", i.seed.to_string()),
        Property::new("leakdrill", i.version),
        Property::new("digest", i.digest),
        Property::new("reproduce", i.reproduce()),
        Property::new("simulated_ms", i.duration_ms.to_string()),
    ]);
    for e in &i.verdict.expectations {
        let (limit, actual, margin) = expectation_values(e);
        let status = if e.met {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("expectation_missed");
            match &i.verdict.detector_fault {
                Some(f) if e.id == "detector_healthy" => {
                    s.set_message(format!("detector {}", fault_text(f)));
                }
                _ => {
                    s.set_message(format!(
                        "{} missed: limit {limit}, actual {actual}, margin {margin}",
                        e.id
                    ));
                }
            }
            s.set_description(format!(
                "scenario {} (seed {})\nreproduce: {}",
                i.scenario_id,
                i.seed,
                i.reproduce()
            ));
            s
        };
        let mut case = TestCase::new(e.id, status);
        case.set_classname(i.scenario_id);
        case.set_time(Duration::ZERO);
        suite.add_test_case(case);
    }
    let mut report = Report::new("leakdrill");
    report.set_time(Duration::ZERO);
    report.add_test_suite(suite);
    let mut xml = report.to_string()?;
    if !xml.ends_with('\n') {
        xml.push('\n');
    }
    Ok(xml)
}

// ------------------------------------------------------------------ html

/// Escapes text for HTML/SVG text and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1080px;padding:0 1em;color:#1d2330;background:#fff}
h1{font-size:1.5em;margin-bottom:.3em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #d6dae3;padding-bottom:.2em}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}dl.facts dt{font-weight:600;color:#505a6e}dl.facts dd{margin:0}
.verdict{font-size:1.1em;font-weight:700;padding:.5em .8em;border-radius:4px;display:inline-block}
.verdict.pass{background:#e3f4e6;color:#17632a}.verdict.fail{background:#fbe4e4;color:#9b1c1c}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}th,td{border:1px solid #d6dae3;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.good{color:#17632a;font-weight:600}td.bad{color:#9b1c1c;font-weight:700}td.pending{color:#8a5a00;font-weight:600}
pre{background:#f2f4f8;padding:.6em .8em;border-radius:4px;overflow-x:auto}
figure{margin:1em 0}figcaption{color:#505a6e;font-size:12px}
svg.timeline{width:100%;height:auto;border:1px solid #d6dae3;border-radius:4px;background:#fcfcfd}
svg .lane-label{font:600 12px sans-serif;fill:#1d2330}svg .row-label{font:11px sans-serif;fill:#505a6e}
svg .axis{font:10px sans-serif;fill:#505a6e}svg .grid{stroke:#e6e9ef;stroke-width:1}
svg .attack{fill:#c0392b}svg .attack-idle{fill:none;stroke:#c0392b}svg .denied{stroke:#1d2330;stroke-width:2}
svg .alert{stroke:#d68910;stroke-width:2}svg .action{fill:#2471a3}svg .action-pending{fill:#aed6f1}
svg .realtime{fill:#7f8c8d}svg .logfile{fill:#bdc3c7}svg .deadline{fill:#8e44ad}svg .deadline.bad{fill:#c0392b}svg .deadline.good{fill:#229954}
svg .end{stroke:#1d2330;stroke-dasharray:4 3}svg .detected{stroke:#d68910;stroke-dasharray:2 2}svg .sep{stroke:#d6dae3}
";

/// `report.html`: one self-contained file (inline CSS, inline SVG, no
/// script, no external resource) with the Markdown report's content and a
/// timeline.
pub fn html(i: &Input<'_>) -> String {
    let v = i.verdict;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} — leakdrill report</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        esc(i.title)
    );
    let _ = writeln!(o, "<h1>{}</h1>", esc(i.title));
    o.push_str("<dl class=\"facts\">\n");
    for (k, val) in facts(i) {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{}</dd>", esc(&val));
    }
    o.push_str("</dl>\n");
    let _ = writeln!(
        o,
        "<p class=\"verdict {}\">Verdict: {}</p>",
        if v.passed { "pass" } else { "fail" },
        verdict_text(v)
    );
    o.push_str("<h2>Timeline</h2>\n<figure>\n");
    o.push_str(&timeline_svg(i));
    o.push_str("<figcaption>Attack steps (first → last success; a black tick marks the first denied call), alerts (hover for the rule), response actions (triggered → effective), telemetry deliveries per simulated hour (dark: real-time, light: hourly EventLogFile), and regulatory deadlines (▸ at the right edge: due later). The dashed line is the end of the run.</figcaption>\n</figure>\n");
    for b in blocks(i) {
        match b {
            Block::H2(h) => {
                let _ = writeln!(o, "<h2>{h}</h2>");
            }
            Block::Para(p) => {
                let _ = writeln!(o, "<p>{}</p>", esc(&p));
            }
            Block::Facts(f) => {
                o.push_str("<dl class=\"facts\">\n");
                for (k, val) in f {
                    let _ = writeln!(o, "<dt>{k}</dt><dd>{}</dd>", esc(&val));
                }
                o.push_str("</dl>\n");
            }
            Block::Code(c) => {
                let _ = writeln!(o, "<pre><code>{}</code></pre>", esc(&c));
            }
            Block::Table { head, rows } => {
                o.push_str("<table>\n<thead><tr>");
                for h in head {
                    let _ = write!(o, "<th>{h}</th>");
                }
                o.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    o.push_str("<tr>");
                    for c in r {
                        let mut class = Vec::new();
                        if c.num {
                            class.push("num");
                        }
                        if c.tone != Tone::Plain {
                            class.push(c.tone.css());
                        }
                        if class.is_empty() {
                            let _ = write!(o, "<td>{}</td>", esc(&c.text));
                        } else {
                            let _ = write!(
                                o,
                                "<td class=\"{}\">{}</td>",
                                class.join(" "),
                                esc(&c.text)
                            );
                        }
                    }
                    o.push_str("</tr>\n");
                }
                o.push_str("</tbody>\n</table>\n");
            }
        }
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// Geometry of the timeline: x in px from a run offset in ms.
struct Axis {
    left: f64,
    width: f64,
    end_ms: i64,
}

impl Axis {
    fn x(&self, ms: i64) -> f64 {
        let f = ms.clamp(0, self.end_ms) as f64 / self.end_ms.max(1) as f64;
        self.left + f * self.width
    }
}

/// Coordinates with one decimal: stable text, small files.
fn px(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

const SVG_W: f64 = 1000.0;
const GUTTER: f64 = 170.0;
const ROW: f64 = 18.0;
const LANE_GAP: f64 = 10.0;
const HIST_H: f64 = 40.0;

/// The SVG timeline over the run (extended to show deadlines due up to
/// half a run length after its end). One `<g class="lane">` per lane:
/// attack, alerts, actions, telemetry, deadlines.
fn timeline_svg(i: &Input<'_>) -> String {
    let (s, v) = (i.summary, i.verdict);
    let dur = i.duration_ms.max(1);
    let dues: Vec<(i64, &crate::score::ClockReport)> = v
        .notification
        .clocks
        .iter()
        .filter(|k| shown_clock(k.status))
        .filter_map(|k| Some((offset_of(i.start_ms, k.due_at.as_deref()?)?, k)))
        .collect();
    let horizon = dur.saturating_add(dur / 2);
    let end_ms = dues
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| *d <= horizon)
        .fold(dur, i64::max);
    let ax = Axis {
        left: GUTTER,
        width: SVG_W - GUTTER - 20.0,
        end_ms,
    };
    let mut body = String::new();
    let mut y = 28.0_f64;

    // Lane: attack steps, one row each.
    let _ = writeln!(body, "<g class=\"lane\" data-lane=\"attack\">");
    let _ = writeln!(
        body,
        "<text class=\"lane-label\" x=\"8\" y=\"{}\">attack steps</text>",
        px(y + 12.0)
    );
    y += ROW;
    for run in &s.injections {
        let cy = y + ROW / 2.0;
        let _ = writeln!(
            body,
            "<text class=\"row-label\" x=\"16\" y=\"{}\">{}</text>",
            px(cy + 4.0),
            esc(&fit(&run.id, 24))
        );
        let tip = format!(
            "{} ({}): started {}, first success {}, last success {}, first denied {}, {} ok / {} denied calls, {} records exposed",
            run.id,
            run.kind,
            fmt_offset(Some(run.start_ms)),
            fmt_offset(run.first_success_ms),
            fmt_offset(run.last_success_ms),
            fmt_offset(run.first_denied_ms),
            run.calls_ok,
            run.calls_denied,
            run.records_exposed
        );
        match (run.first_success_ms, run.last_success_ms) {
            (Some(f), Some(l)) => {
                let x0 = ax.x(f);
                let w = (ax.x(l) - x0).max(2.0);
                let _ = writeln!(
                    body,
                    "<rect class=\"attack\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                    px(x0),
                    px(y + 4.0),
                    px(w),
                    px(ROW - 8.0),
                    esc(&tip)
                );
            }
            _ => {
                let _ = writeln!(
                    body,
                    "<circle class=\"attack-idle\" cx=\"{}\" cy=\"{}\" r=\"4\"><title>{}</title></circle>",
                    px(ax.x(run.start_ms)),
                    px(cy),
                    esc(&tip)
                );
            }
        }
        if let Some(d) = run.first_denied_ms {
            let x = ax.x(d);
            let _ = writeln!(
                body,
                "<line class=\"denied\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"><title>{3}: first denied call {4}</title></line>",
                px(x),
                px(y + 1.0),
                px(y + ROW - 1.0),
                esc(&run.id),
                fmt_offset(Some(d))
            );
        }
        y += ROW;
    }
    body.push_str("</g>\n");
    y += LANE_GAP;

    // Lane: alerts, one row of ticks.
    let _ = writeln!(body, "<g class=\"lane\" data-lane=\"alerts\">");
    let _ = writeln!(
        body,
        "<text class=\"lane-label\" x=\"8\" y=\"{}\">alerts ({})</text>",
        px(y + 13.0),
        s.alerts.len()
    );
    for a in &s.alerts {
        let x = ax.x(a.t_ms);
        let _ = writeln!(
            body,
            "<line class=\"alert\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"><title>{3} — {4} ({5}) at {6}</title></line>",
            px(x),
            px(y + 2.0),
            px(y + ROW - 2.0),
            esc(&a.alert.rule_id),
            esc(&a.alert.title),
            esc(&a.alert.level),
            fmt_offset(Some(a.t_ms))
        );
    }
    y += ROW;
    body.push_str("</g>\n");
    y += LANE_GAP;

    // Lane: response actions, one row each.
    let _ = writeln!(body, "<g class=\"lane\" data-lane=\"actions\">");
    let _ = writeln!(
        body,
        "<text class=\"lane-label\" x=\"8\" y=\"{}\">response actions</text>",
        px(y + 12.0)
    );
    y += ROW;
    for a in &s.actions {
        let cy = y + ROW / 2.0;
        let _ = writeln!(
            body,
            "<text class=\"row-label\" x=\"16\" y=\"{}\">{}</text>",
            px(cy + 4.0),
            esc(&fit(a.action, 24))
        );
        if let Some(t0) = a.triggered_ms {
            let (t1, class) = match a.effective_ms {
                Some(e) => (e, "action"),
                None => (dur, "action-pending"),
            };
            let x0 = ax.x(t0);
            let _ = writeln!(
                body,
                "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{} on {}: triggered {}, effective {}, {} attempt(s)</title></rect>",
                px(x0),
                px(y + 4.0),
                px((ax.x(t1) - x0).max(2.0)),
                px(ROW - 8.0),
                esc(a.action),
                esc(&a.target),
                fmt_offset(Some(t0)),
                a.effective_ms
                    .map_or("never".into(), |e| fmt_offset(Some(e))),
                a.attempts
            );
        }
        y += ROW;
    }
    body.push_str("</g>\n");
    y += LANE_GAP;

    // Lane: telemetry deliveries per simulated hour (stacked).
    let _ = writeln!(body, "<g class=\"lane\" data-lane=\"telemetry\">");
    let _ = writeln!(
        body,
        "<text class=\"lane-label\" x=\"8\" y=\"{}\">telemetry</text><text class=\"row-label\" x=\"16\" y=\"{}\">deliveries / hour</text>",
        px(y + 14.0),
        px(y + 28.0)
    );
    let peak = s
        .deliveries_per_hour
        .iter()
        .map(|[r, f]| r + f)
        .max()
        .unwrap_or(0)
        .max(1);
    let base = y + HIST_H;
    for (h, [rt, lf]) in s.deliveries_per_hour.iter().enumerate() {
        let t0 = h as i64 * 3_600_000;
        if rt + lf == 0 || t0 >= end_ms {
            continue;
        }
        let x0 = ax.x(t0);
        let w = (ax.x(t0 + 3_600_000) - x0 - 0.5).max(0.5);
        let hr = *rt as f64 / peak as f64 * (HIST_H - 4.0);
        let hl = *lf as f64 / peak as f64 * (HIST_H - 4.0);
        let tip = format!("hour {h}: {rt} real-time, {lf} EventLogFile deliveries");
        let _ = write!(body, "<g><title>{}</title>", esc(&tip));
        if *rt > 0 {
            let _ = write!(
                body,
                "<rect class=\"realtime\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                px(x0),
                px(base - hr),
                px(w),
                px(hr.max(0.5))
            );
        }
        if *lf > 0 {
            let _ = write!(
                body,
                "<rect class=\"logfile\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                px(x0),
                px(base - hr - hl),
                px(w),
                px(hl.max(0.5))
            );
        }
        body.push_str("</g>\n");
    }
    y += HIST_H;
    body.push_str("</g>\n");
    y += LANE_GAP;

    // Lane: regulatory deadlines as markers.
    let _ = writeln!(body, "<g class=\"lane\" data-lane=\"deadlines\">");
    let _ = writeln!(
        body,
        "<text class=\"lane-label\" x=\"8\" y=\"{}\">deadlines ({})</text>",
        px(y + 13.0),
        dues.len()
    );
    let cy = y + ROW / 2.0;
    for (d, k) in &dues {
        let tone = status_tone(k.status).css();
        let class = if tone.is_empty() {
            "deadline".to_owned()
        } else {
            format!("deadline {tone}")
        };
        let tip = format!(
            "{} — {} — due {} — {}",
            k.obligation,
            k.recipient.replace('_', " "),
            k.due_local.as_deref().unwrap_or_default(),
            status_text(k.status)
        );
        if *d <= end_ms {
            let x = ax.x(*d);
            let _ = writeln!(
                body,
                "<path class=\"{class}\" d=\"M{} {}l5 5l-5 5l-5 -5z\"><title>{}</title></path>",
                px(x),
                px(cy - 5.0),
                esc(&tip)
            );
        } else {
            let x = ax.left + ax.width;
            let _ = writeln!(
                body,
                "<path class=\"{class}\" d=\"M{} {}l8 5l-8 5z\"><title>due later: {}</title></path>",
                px(x + 2.0),
                px(cy - 5.0),
                esc(&tip)
            );
        }
    }
    y += ROW;
    body.push_str("</g>\n");

    // Axis, grid, end of run and first detection, behind the lanes.
    let height = y + 8.0;
    let mut axis = String::new();
    let step_h = [1_i64, 2, 3, 6, 12, 24, 48, 168, 336, 720]
        .into_iter()
        .find(|h| end_ms / (h * 3_600_000) <= 12)
        .unwrap_or(720);
    let mut t = 0;
    while t <= end_ms {
        let x = ax.x(t);
        let _ = writeln!(
            axis,
            "<line class=\"grid\" x1=\"{0}\" x2=\"{0}\" y1=\"18\" y2=\"{1}\"/><text class=\"axis\" x=\"{0}\" y=\"12\" text-anchor=\"middle\">+{2}h</text>",
            px(x),
            px(height - 4.0),
            t / 3_600_000
        );
        t += step_h * 3_600_000;
    }
    let xe = ax.x(dur);
    let _ = writeln!(
        axis,
        "<line class=\"end\" x1=\"{0}\" x2=\"{0}\" y1=\"18\" y2=\"{1}\"><title>end of run {2}</title></line>",
        px(xe),
        px(height - 4.0),
        fmt_offset(Some(dur))
    );
    if let Some(d) = v.injections.iter().filter_map(|x| x.detected_ms).min() {
        let _ = writeln!(
            axis,
            "<line class=\"detected\" x1=\"{0}\" x2=\"{0}\" y1=\"18\" y2=\"{1}\"><title>first true-positive alert {2}</title></line>",
            px(ax.x(d)),
            px(height - 4.0),
            fmt_offset(Some(d))
        );
    }
    format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"Timeline of the run\">\n<title>Timeline of {}</title>\n{axis}{body}</svg>\n",
        px(SVG_W),
        px(height),
        esc(i.scenario_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_in_user_text() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(md("a|b *c* <d>\nx"), r"a\|b \*c\* \<d\> x");
        assert_eq!(md("us_ca_1798_82 _em_"), r"us_ca_1798_82 \_em\_");
        assert_eq!(md("[V] [x](javascript:y)"), r"[V] [x\](javascript:y)");
    }

    #[test]
    fn durations_keep_their_sign_and_counts_their_commas() {
        assert_eq!(dur(-15 * 60_000), "-15m00s");
        assert_eq!(dur(3_600_000 + 5 * 60_000), "1h05m00s");
        let e = ExpectationResult {
            id: "max_records_exposed",
            met: false,
            limit: Some(2000),
            actual: Some(12_345),
            margin: Some(-10_345),
        };
        assert_eq!(
            expectation_values(&e),
            ("2,000".into(), "12,345".into(), "-10,345".into())
        );
    }

    #[test]
    fn reproduce_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("scenarios/hr/x.yaml"), "scenarios/hr/x.yaml");
        assert_eq!(shell_word("my dir/it's.yaml"), r"'my dir/it'\''s.yaml'");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }

    #[test]
    fn lists_wrap_at_the_width() {
        assert_eq!(
            wrap_list("  ", &["aaaa", "bbbb", "cccc"], 13),
            "  aaaa · bbbb\n  cccc\n"
        );
    }

    #[test]
    fn formats_name_their_files() {
        assert_eq!(Format::Text.file_name(), None);
        assert_eq!(Format::Junit.file_name(), Some("report.junit.xml"));
        assert_eq!(Format::Html.file_name(), Some("report.html"));
    }
}
