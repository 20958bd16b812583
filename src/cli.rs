//! The command-line edge: clap arguments → a validated plan → library calls →
//! output and a documented exit code. The only module that uses `anyhow`,
//! prints, or draws progress bars.
//!
//! Owns: argument parsing, exit codes, terminal output. Must not: contain
//! domain logic (it calls `fixture`, `pii`, `generate`, `lint`, `show`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use anyhow::Context;

use crate::fixture::{self, FixtureError};
use crate::lint::{self, Severity};
use crate::model::Org;
use crate::pii::Plan;
use crate::scenario::ScenarioError;
use crate::seed::Seed;
use crate::{generate, show};

/// Documented exit codes (PRODUCT §7). When several apply, the highest wins.
pub mod exit {
    /// Everything met / no findings at or above `--fail-on`.
    pub const OK: u8 = 0;
    /// Internal error (I/O failure, bug).
    pub const INTERNAL: u8 = 1;
    /// Usage error: bad arguments, unknown fixture name, unreadable file.
    pub const USAGE: u8 = 2;
    /// Invalid scenario, fixture or rule file.
    pub const INVALID: u8 = 3;
    /// Expectations missed (run/suite) or lint findings at/above `--fail-on`.
    pub const MISSED: u8 = 10;
    /// Regression against a baseline.
    pub const REGRESSION: u8 = 11;
}

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success: all expectations met, no lint finding at or above --fail-on,
      or trace ran (even with no record found)
  1   internal error
  2   usage error (bad arguments, unknown fixture, unreadable file or artifact)
  3   invalid scenario, fixture or rule file (every error is listed)
  10  expectations missed, or lint findings at or above --fail-on
  11  regression against a baseline";

#[derive(Debug, Parser)]
#[command(
    name = "leakdrill",
    version,
    about = "Breach testbed and chaos harness for Salesforce-centred estates: a mock org full of fake, watermarked PII, leak scenarios, detection scoring and regulatory clocks.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect or generate an org fixture.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Posture audit of a fixture: the misconfigurations that turn a leak into a breach.
    #[command(after_help = EXIT_CODES_HELP)]
    Lint(LintArgs),
    /// Serve the mock Salesforce API over HTTPS (plus an egress proxy for clients that hard-code Salesforce hosts).
    Serve(ServeArgs),
    /// Replay a leak scenario on the virtual clock: writes runlog.ndjson, summary.json and the reports chosen with --format.
    #[command(after_help = EXIT_CODES_HELP)]
    Run(RunArgs),
    /// Run every scenario × seed (default: the built-in catalogue with the built-in rule pack) in parallel and print a scorecard; JUnit and JSON for CI; compare with a baseline (exit 11 on regression).
    #[command(after_help = EXIT_CODES_HELP)]
    Suite(SuiteArgs),
    /// Combine the JSON of `suite --partition K/N` jobs into the result of one unpartitioned suite.
    #[command(after_help = EXIT_CODES_HELP)]
    Merge(MergeArgs),
    /// Check scenario files; every error is listed with file:line:column and a hint.
    #[command(after_help = EXIT_CODES_HELP)]
    Validate(ValidateArgs),
    /// Scenario format tools.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Map a leaked file or log back to the watermarked records in it: objects, data subjects, jurisdictions, data classes.
    #[command(after_help = EXIT_CODES_HELP)]
    Trace(TraceArgs),
    /// The breach-notification clock catalogue: regimes, obligations, entity kinds.
    #[command(subcommand)]
    Clocks(ClocksCommand),
}

#[derive(Debug, Subcommand)]
enum ClocksCommand {
    /// Every regime and its obligations (the ids `notify` and `expect.regimes` take), with deadlines and verification marks.
    List,
    /// Entity kinds a fixture's `org.regulated_as` may name.
    EntityKinds,
}

#[derive(Debug, Args)]
struct TraceArgs {
    /// The leaked file: CSV, JSON, NDJSON log, Bulk API result, webhook capture, text — any bytes (at most the first 1 GiB is read); `-` reads standard input.
    artifact: PathBuf,
    /// Fixture of the leaking org (default: the run's, else the one built-in fixture whose key prefixes the watermarks carry).
    #[arg(long, value_name = "NAME|PATH")]
    fixture: Option<String>,
    /// Seed of the leaking org (default: the run's, else the seed most of the fixture's watermarks carry).
    #[arg(long)]
    seed: Option<u64>,
    /// Data subjects of the leaking org (its --records): maps related records (accounts, orders) to their subject.
    #[arg(long)]
    records: Option<u64>,
    /// A `leakdrill run --out` directory: fixture, seed and records come from its run log.
    #[arg(long, value_name = "DIR")]
    run: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario YAML file.
    scenario: PathBuf,
    /// Seed (default: the scenario's `seed`, else 42). The same seed gives a byte-identical run log.
    #[arg(long)]
    seed: Option<u64>,
    /// Output directory: runlog.ndjson and summary.json always, plus one report file per --format.
    #[arg(long, value_name = "DIR", default_value = "leakdrill-run")]
    out: PathBuf,
    /// Reports: text (printed to stdout, always), json (report.json), junit (report.junit.xml), markdown (report.md), html (report.html, self-contained). Repeatable; a comma list is accepted.
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        value_delimiter = ',',
        default_values_t = [crate::report::Format::Text, crate::report::Format::Json]
    )]
    format: Vec<crate::report::Format>,
    /// Sigma rules to test: every *.yml/*.yaml in DIR (default: the built-in pack in rules/).
    #[arg(long, value_name = "DIR", conflicts_with = "detector")]
    rules: Option<PathBuf>,
    /// External detector to test instead of Sigma rules: `sh -c CMD`, speaking the NDJSON protocol of docs/detector-protocol.md on stdin/stdout in lock-step with the virtual clock. Its stderr goes to OUT/detector.stderr. A crash, hang or malformed line is recorded and fails the run (exit 10).
    #[arg(long, value_name = "CMD")]
    detector: Option<String>,
    /// Wall-clock limit for the external detector's answer to each message.
    #[arg(long, value_name = "MS", default_value_t = crate::external::DEFAULT_TIMEOUT_MS, requires = "detector")]
    detector_timeout_ms: u64,
}

#[derive(Debug, Args)]
struct SuiteArgs {
    /// Scenario files or directories (searched recursively for *.yaml, *.yml). Default: the built-in catalogue (scenarios/ of this release).
    paths: Vec<PathBuf>,
    /// Sigma rules to test: every *.yml/*.yaml in DIR (default: the built-in pack).
    #[arg(long, value_name = "DIR", conflicts_with = "detector")]
    rules: Option<PathBuf>,
    /// External detector (`sh -c CMD`, docs/detector-protocol.md), one process per case.
    #[arg(long, value_name = "CMD")]
    detector: Option<String>,
    /// Wall-clock limit for the external detector's answer to each message.
    #[arg(long, value_name = "MS", default_value_t = crate::external::DEFAULT_TIMEOUT_MS, requires = "detector")]
    detector_timeout_ms: u64,
    /// Seeds per scenario: its own `seed`, then seed+1, … (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    seeds: u32,
    /// Compare with this suite JSON: list regressions and improvements; exit 11 on a regression.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write this run's JSON to the --baseline file instead of comparing.
    #[arg(long, requires = "baseline", conflicts_with = "partition")]
    update_baseline: bool,
    /// Run only partition K of N (from 1): cases K, K+N, K+2N, … of the sorted list. Combine the JSON outputs with `leakdrill merge`.
    #[arg(long, value_name = "K/N")]
    partition: Option<crate::suite::Partition>,
    /// Write JUnit XML (one test case per expectation).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the suite JSON (the format of --baseline and merge).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Suite JSON files of every `--partition K/N` job.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Write the merged JSON here (default: standard output).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write JUnit XML of the merged result.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Compare the merged result with this suite JSON; exit 11 on a regression.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Scenario YAML files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// Print the JSON Schema of scenario files (for editor completion).
    Schema,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    fixture: FixtureArg,
    /// Number of data subjects whose records the org holds.
    #[arg(long, default_value_t = 1000)]
    records: u64,
    /// Seed for records and credentials.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: std::net::SocketAddr,
    /// Where ca.pem, serve.json (credentials, URLs) and telemetry.ndjson go.
    #[arg(long, value_name = "DIR", default_value = "leakdrill-serve")]
    state_dir: PathBuf,
    /// Serve plain HTTP instead of HTTPS (every URL in serve.json and login responses is http://).
    #[arg(long)]
    plain_http: bool,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    allow_non_loopback: bool,
    /// Override the fixture's daily API request allowance.
    #[arg(long)]
    daily_api_requests: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Summary of a fixture: objects, record counts by class, users and their effective permissions, apps, integrations.
    Show(ShowArgs),
    /// Write a fixture's synthetic records as one CSV per object plus manifest.json.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
struct FixtureArg {
    /// Built-in fixture name (fintech-wealth, hr-ccpa, global-ecommerce) or path to a fixture YAML file.
    #[arg(long, value_name = "NAME|PATH")]
    fixture: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct ShowArgs {
    #[command(flatten)]
    fixture: FixtureArg,
    /// Number of data subjects to size record counts for.
    #[arg(long, default_value_t = 1000)]
    records: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    fixture: FixtureArg,
    /// Number of data subjects (person records such as Contact, Employee), split as the fixture says; related objects scale with it.
    #[arg(long)]
    records: u64,
    /// Seed: the same seed gives byte-identical files.
    #[arg(long)]
    seed: u64,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// No progress bar or summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct LintArgs {
    #[command(flatten)]
    fixture: FixtureArg,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 10 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Severity::High)]
    fail_on: Severity,
}

/// A failure carrying its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Exit {
    code: u8,
    message: String,
}

fn load(f: &FixtureArg) -> anyhow::Result<Org> {
    fixture::resolve(&f.fixture).map_err(|e| {
        let code = match e {
            FixtureError::Invalid(_) => exit::INVALID,
            FixtureError::Unknown { .. } | FixtureError::Io { .. } => exit::USAGE,
        };
        anyhow::Error::new(Exit {
            code,
            message: e.to_string(),
        })
    })
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // `leakdrill … | head` closing the pipe is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map_or(exit::INTERNAL, |x| x.code);
            if code == exit::INTERNAL {
                eprintln!("error: {e:#}");
            } else {
                eprintln!("{e}");
            }
            ExitCode::from(code)
        }
    }
}

fn load_scenario(path: &std::path::Path) -> anyhow::Result<crate::scenario::Scenario> {
    crate::scenario::load(path).map_err(|e| {
        let code = match e {
            ScenarioError::Invalid(_) => exit::INVALID,
            ScenarioError::Io { .. } => exit::USAGE,
        };
        anyhow::Error::new(Exit {
            code,
            message: e.to_string(),
        })
    })
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Clocks(c) => {
            let cat = crate::clocks::catalogue()?;
            match c {
                ClocksCommand::List => {
                    writeln!(
                        stdout,
                        "{} (researched {}; {})",
                        cat.meta.title, cat.meta.researched_on, cat.meta.disclaimer
                    )?;
                    for r in &cat.regimes {
                        writeln!(
                            stdout,
                            "\n{}  [{:?}, {:?}]\n  {} — {}",
                            r.id, r.status, r.verification, r.name, r.jurisdiction
                        )?;
                        for o in &r.obligations {
                            writeln!(
                                stdout,
                                "  {:<40} {:<24} {}",
                                o.id, o.recipient, o.deadline_text
                            )?;
                        }
                    }
                }
                ClocksCommand::EntityKinds => {
                    for (k, what) in crate::clocks::ENTITY_KINDS {
                        writeln!(stdout, "{k:<32} {what}")?;
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Scenario(ScenarioCommand::Schema) => {
            writeln!(stdout, "{}", crate::scenario::json_schema())?;
            Ok(exit::OK)
        }
        Command::Validate(a) => {
            let mut failed = 0;
            for f in &a.files {
                match crate::scenario::load(f) {
                    Ok(sc) => writeln!(
                        stdout,
                        "ok  {} ({}, {} attack steps, {} faults, {} actions)",
                        f.display(),
                        sc.id,
                        sc.attack.len(),
                        sc.chaos.len(),
                        sc.response.len()
                    )?,
                    Err(ScenarioError::Invalid(d)) => {
                        failed += 1;
                        eprintln!("{d}");
                    }
                    Err(e @ ScenarioError::Io { .. }) => {
                        return Err(anyhow::Error::new(Exit {
                            code: exit::USAGE,
                            message: e.to_string(),
                        }));
                    }
                }
            }
            Ok(if failed > 0 { exit::INVALID } else { exit::OK })
        }
        Command::Run(a) => {
            let sc = std::sync::Arc::new(load_scenario(&a.scenario)?);
            let seed = a.seed.unwrap_or(sc.seed);
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?;
            let log_path = a.out.join("runlog.ndjson");
            let file = std::fs::File::create(&log_path)
                .with_context(|| format!("cannot write {}", log_path.display()))?;
            // Wall time only for the human summary line; never in files.
            #[allow(clippy::disallowed_methods)]
            let started = std::time::Instant::now();
            let detector: Box<dyn crate::detect::Detect> = if let Some(cmd) = &a.detector {
                let opts = crate::external::Options {
                    timeout: std::time::Duration::from_millis(a.detector_timeout_ms.max(1)),
                    stderr_file: Some(a.out.join("detector.stderr")),
                };
                Box::new(crate::external::External::spawn(cmd, &opts).map_err(|e| {
                    anyhow::Error::new(Exit {
                        code: exit::USAGE,
                        message: e.to_string(),
                    })
                })?)
            } else {
                Box::new(load_rules(a.rules.as_deref())?.1)
            };
            let out = crate::sim::run_detected(
                sc.clone(),
                seed,
                crate::sim::Limits::default(),
                Box::new(std::io::BufWriter::with_capacity(1 << 20, file)),
                Some(detector),
            )?;
            let elapsed = started.elapsed();
            let verdict = crate::score::score(&sc, &out.summary);
            let summary_path = a.out.join("summary.json");
            std::fs::write(
                &summary_path,
                format!("{}\n", serde_json::to_string_pretty(&out.summary)?),
            )?;
            let scenario_path = relative(&a.scenario);
            let input = crate::report::Input {
                scenario_id: &sc.id,
                title: &sc.title,
                scenario_path: &scenario_path,
                seed,
                version: out.summary.version,
                digest: &out.summary.digest,
                summary: &out.summary,
                verdict: &verdict,
                start_ms: sc.start_ms,
                duration_ms: sc.duration_ms,
            };
            let mut written = vec!["runlog.ndjson", "summary.json"];
            if a.detector.is_some() {
                written.push("detector.stderr");
            }
            let formats: std::collections::BTreeSet<_> = a.format.iter().copied().collect();
            for f in formats {
                let Some(name) = f.file_name() else { continue };
                let path = a.out.join(name);
                std::fs::write(&path, crate::report::render(f, &input)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written.push(name);
            }
            let colour =
                stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let text = crate::report::TextOptions {
                wall_s: Some(elapsed.as_secs_f64()),
                colour,
            };
            write!(stdout, "{}", crate::report::render_text(&input, &text))?;
            writeln!(stdout, "  wrote to {}:", a.out.display())?;
            write!(stdout, "{}", crate::report::wrap_list("    ", &written, 80))?;
            Ok(if verdict.passed {
                exit::OK
            } else {
                exit::MISSED
            })
        }
        Command::Org(OrgCommand::Show(a)) => {
            let org = load(&a.fixture)?;
            // Record counts do not depend on the seed.
            let plan = plan(&org, a.records, 0)?;
            match a.format {
                Format::Text => write!(stdout, "{}", show::render_text(&plan))?,
                Format::Json => writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string_pretty(&show::render_json(&plan))?
                )?,
            }
            Ok(exit::OK)
        }
        Command::Org(OrgCommand::Generate(a)) => {
            let org = load(&a.fixture)?;
            let plan = plan(&org, a.records, a.seed)?;
            let threads = a
                .threads
                .map(usize::from)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let bar = if a.quiet || !std::io::stderr().is_terminal() {
                indicatif::ProgressBar::hidden()
            } else {
                let b = indicatif::ProgressBar::new(plan.total_records());
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {wide_bar} {human_pos}/{human_len} records · {per_sec} · eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            };
            // Wall time only for the human summary line; never in files.
            #[allow(clippy::disallowed_methods)]
            let started = std::time::Instant::now();
            let manifest =
                generate::generate(&plan, &a.out, threads, &|done, _| bar.set_position(done))
                    .map_err(|e| {
                        bar.finish_and_clear();
                        anyhow::Error::new(Exit {
                            code: if e.is_usage() {
                                exit::USAGE
                            } else {
                                exit::INTERNAL
                            },
                            message: format!("error: {e}"),
                        })
                    })?;
            bar.finish_and_clear();
            if !a.quiet {
                let secs = started.elapsed().as_secs_f64();
                writeln!(
                    stdout,
                    "{}: {} records in {} objects for {} data subjects (seed {}) → {} in {:.2} s ({:.0} records/s)",
                    manifest.fixture,
                    manifest.total_records,
                    manifest.objects.len(),
                    manifest.subjects,
                    manifest.seed,
                    a.out.display(),
                    secs,
                    manifest.total_records as f64 / secs.max(1e-9)
                )?;
                for o in &manifest.objects {
                    writeln!(stdout, "  {:<24} {:>12}  {}", o.name, o.records, o.file)?;
                }
            }
            Ok(exit::OK)
        }
        Command::Serve(a) => serve(a),
        Command::Suite(a) => suite(a, &mut stdout),
        Command::Merge(a) => merge(a, &mut stdout),
        Command::Trace(a) => trace(a, &mut stdout),
        Command::Lint(a) => {
            let org = load(&a.fixture)?;
            let findings = lint::lint(&org);
            match a.format {
                Format::Text => write!(stdout, "{}", lint::render_text(&findings))?,
                Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&findings)?)?,
            }
            let failing = findings.iter().any(|f| f.severity >= a.fail_on);
            Ok(if failing { exit::MISSED } else { exit::OK })
        }
    }
}

/// `path` relative to the working directory (`../` where needed), so the
/// reproduce command in reports is the same on every machine.
fn relative(path: &std::path::Path) -> String {
    use std::path::Component;
    let cwd = match std::env::current_dir() {
        Ok(c) if path.is_absolute() => c,
        _ => return path.display().to_string(),
    };
    let p: Vec<Component<'_>> = path.components().collect();
    let c: Vec<Component<'_>> = cwd.components().collect();
    let common = p.iter().zip(&c).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..c.len() {
        rel.push("..");
    }
    for part in &p[common..] {
        rel.push(part);
    }
    if rel.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        rel.display().to_string()
    }
}

fn trace_exit(e: crate::trace::TraceError) -> anyhow::Error {
    let code = if e.is_invalid_fixture() {
        exit::INVALID
    } else {
        exit::USAGE
    };
    anyhow::Error::new(Exit {
        code,
        message: e.to_string(),
    })
}

/// `leakdrill trace`: resolve where the org comes from, scan, map, render.
fn trace(a: TraceArgs, stdout: &mut impl Write) -> anyhow::Result<u8> {
    use crate::trace::{self, SeedSource};
    let ctx = a
        .run
        .as_deref()
        .map(trace::run_context)
        .transpose()
        .map_err(trace_exit)?;
    // A named fixture or run fails fast, before a large artifact is read.
    let (org, fixture_source) = match (&a.fixture, &ctx) {
        (Some(f), _) => (Some(load(&FixtureArg { fixture: f.clone() })?), "given"),
        (None, Some(c)) => (Some(trace::run_fixture(c).map_err(trace_exit)?), "run"),
        (None, None) => (None, "watermarks"),
    };
    let ev = trace::scan_path(&a.artifact).map_err(trace_exit)?;
    let org = match org {
        Some(o) => o,
        None => trace::infer_fixture(&ev).map_err(trace_exit)?,
    };
    let (seed, seed_source) = match (a.seed, &ctx) {
        (Some(s), _) => (Some(s), SeedSource::Given),
        (None, Some(c)) => (Some(c.seed), SeedSource::Run),
        (None, None) => (None, SeedSource::None),
    };
    let opts = trace::Options {
        artifact: a.artifact.display().to_string(),
        fixture_source,
        seed,
        seed_source,
        records: a.records.or(ctx.and_then(|c| c.records)),
    };
    let report = trace::trace(&ev, &org, &opts).map_err(trace_exit)?;
    match a.format {
        Format::Text => write!(stdout, "{}", trace::render_text(&report))?,
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?,
    }
    Ok(exit::OK)
}

fn plan(org: &Org, records: u64, seed: u64) -> anyhow::Result<Plan<'_>> {
    Plan::new(org, records, Seed(seed)).map_err(|e| {
        anyhow::Error::new(Exit {
            code: exit::USAGE,
            message: format!("error: {e}"),
        })
    })
}

fn serve(a: ServeArgs) -> anyhow::Result<u8> {
    let org = load(&a.fixture)?;
    if !a.addr.ip().is_loopback() && a.allow_non_loopback {
        eprintln!(
            "warning: listening on {}: the mock's fake data and well-known test credentials are reachable from the network",
            a.addr
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fixture = org.fixture.clone();
    let cfg = crate::serve::ServeConfig {
        subjects: a.records,
        seed: a.seed,
        addr: a.addr,
        state_dir: a.state_dir,
        plain_http: a.plain_http,
        allow_non_loopback: a.allow_non_loopback,
        daily_api_requests: a.daily_api_requests,
    };
    runtime.block_on(async move {
        let (ep, handle) = crate::serve::start(org, cfg, shutdown_signal())
            .await
            .map_err(|e| {
                let code = match e {
                    crate::serve::ServeError::NonLoopback(_) | crate::serve::ServeError::Bind { .. } | crate::serve::ServeError::Plan(_) => exit::USAGE,
                    _ => exit::INTERNAL,
                };
                anyhow::Error::new(Exit { code, message: format!("error: {e}") })
            })?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "leakdrill serve · {fixture} · listening on {}", ep.addr)?;
        writeln!(out, "  instance   {}", ep.instance_url)?;
        writeln!(out, "  proxy      {} (HTTPS_PROXY: reach login.salesforce.com and *.my.salesforce.com here; other hosts are refused)", ep.proxy_url)?;
        if let Some(ca) = &ep.ca_cert {
            writeln!(out, "  CA         {} (REQUESTS_CA_BUNDLE / NODE_EXTRA_CA_CERTS)", ca.display())?;
        }
        writeln!(out, "  creds      {}", ep.serve_json.display())?;
        writeln!(out, "  telemetry  {}", ep.telemetry.display())?;
        writeln!(out, "press Ctrl-C to stop")?;
        out.flush()?;
        drop(out);
        handle.await?;
        Ok(exit::OK)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The rules in `dir` (default: the built-in pack), compiled: an unreadable
/// directory is a usage error, a bad rule file an invalid input.
fn load_rules(
    dir: Option<&std::path::Path>,
) -> anyhow::Result<(crate::detect::Rules, crate::detect::Detector)> {
    let rules = match dir {
        Some(dir) => crate::detect::Rules::load_dir(dir),
        None => Ok(crate::detect::Rules::builtin()),
    };
    rules
        .and_then(|r| r.detector().map(|d| (r, d)))
        .map_err(|e| {
            let code = match e {
                crate::detect::RuleError::Io { .. } => exit::USAGE,
                _ => exit::INVALID,
            };
            anyhow::Error::new(Exit {
                code,
                message: e.to_string(),
            })
        })
}

fn suite_err(e: crate::suite::SuiteError) -> anyhow::Error {
    use crate::suite::SuiteError as E;
    let code = match &e {
        E::Invalid(_) | E::Scenario(ScenarioError::Invalid(_)) => exit::INVALID,
        E::Merge(_) | E::BadJson { .. } => exit::USAGE,
        _ => exit::USAGE,
    };
    anyhow::Error::new(Exit {
        code,
        message: e.to_string(),
    })
}

fn write_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Baseline comparison, printed; whether it found a regression.
fn compare_baseline(
    path: &std::path::Path,
    result: &crate::suite::SuiteResult,
    stdout: &mut impl Write,
) -> anyhow::Result<bool> {
    let base = crate::suite::SuiteResult::read(path).map_err(suite_err)?;
    let c = crate::suite::compare(&base, result);
    writeln!(
        stdout,
        "
against the baseline {}:",
        path.display()
    )?;
    write!(stdout, "{}", crate::suite::render_comparison(&c))?;
    Ok(!c.regressions.is_empty())
}

fn suite_exit(result: &crate::suite::SuiteResult, regressed: bool) -> u8 {
    if regressed {
        exit::REGRESSION
    } else if result.passed() {
        exit::OK
    } else {
        exit::MISSED
    }
}

fn suite(a: SuiteArgs, stdout: &mut impl Write) -> anyhow::Result<u8> {
    let mut plan = if a.paths.is_empty() {
        crate::suite::plan_builtin(a.seeds)
    } else {
        let shown: Vec<PathBuf> = a.paths.iter().map(|p| PathBuf::from(relative(p))).collect();
        crate::suite::plan_paths(&shown, a.seeds)
    }
    .map_err(suite_err)?;
    if let Some(p) = a.partition {
        plan = plan.partition(p);
    }
    let spec = match &a.detector {
        Some(cmd) => crate::suite::DetectorSpec::External {
            cmd: cmd.clone(),
            timeout_ms: a.detector_timeout_ms,
        },
        None => {
            // Compiled once up front so a bad rule is exit 3, not N errors.
            crate::suite::DetectorSpec::Rules(load_rules(a.rules.as_deref())?.0)
        }
    };
    let jobs = a
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = if a.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(plan.cases.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {wide_bar} {pos}/{len} cases · {elapsed} · eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let result = crate::suite::run(&plan, &spec, jobs, &|done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    write!(stdout, "{}", crate::suite::render_scorecard(&result))?;
    if let Some(p) = &a.json {
        write_file(p, &result.to_json())?;
    }
    if let Some(p) = &a.junit {
        write_file(p, &crate::suite::render_junit(&result))?;
    }
    let mut regressed = false;
    if let Some(base) = &a.baseline {
        if a.update_baseline {
            write_file(base, &result.to_json())?;
            writeln!(stdout, "baseline written to {}", base.display())?;
        } else {
            regressed = compare_baseline(base, &result, stdout)?;
        }
    }
    Ok(suite_exit(&result, regressed))
}

fn merge(a: MergeArgs, stdout: &mut impl Write) -> anyhow::Result<u8> {
    let parts = a
        .parts
        .iter()
        .map(|p| crate::suite::SuiteResult::read(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(suite_err)?;
    let result = crate::suite::merge(parts).map_err(suite_err)?;
    match &a.json {
        Some(p) => {
            write_file(p, &result.to_json())?;
            write!(stdout, "{}", crate::suite::render_scorecard(&result))?;
        }
        None => write!(stdout, "{}", result.to_json())?,
    }
    if let Some(p) = &a.junit {
        write_file(p, &crate::suite::render_junit(&result))?;
    }
    let regressed = match &a.baseline {
        Some(b) => {
            // The comparison goes to stderr when stdout carries the JSON.
            if a.json.is_some() {
                compare_baseline(b, &result, stdout)?
            } else {
                compare_baseline(b, &result, &mut std::io::stderr())?
            }
        }
        None => false,
    };
    Ok(suite_exit(&result, regressed))
}
