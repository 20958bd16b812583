//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use leakdrill::model::Org;

/// Built-in fixture names.
pub fn builtin_names() -> Vec<&'static str> {
    leakdrill::fixture::BUILTIN
        .iter()
        .map(|(n, _, _)| *n)
        .collect()
}

/// Loads a built-in fixture, failing the test with its diagnostics.
pub fn org(name: &str) -> Org {
    leakdrill::fixture::resolve(name).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The YAML text of a built-in fixture.
pub fn builtin_text(name: &str) -> &'static str {
    leakdrill::fixture::BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, t)| *t)
        .unwrap_or_else(|| panic!("no built-in fixture {name}"))
}

/// A path under `tests/data`.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Runs the `leakdrill` binary with `args` from the repository root.
pub fn leakdrill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakdrill"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("run leakdrill")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code, failing the test if the process was killed by a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// Runs `sc` at its own seed with `detector` (the built-in pack when
/// `None`), discarding the run log, and scores it.
pub fn run_scored(
    sc: &std::sync::Arc<leakdrill::scenario::Scenario>,
    detector: Option<leakdrill::detect::Detector>,
) -> (leakdrill::sim::Summary, leakdrill::score::Verdict) {
    let det = detector.unwrap_or_else(|| {
        leakdrill::detect::Rules::builtin()
            .detector()
            .expect("built-in pack")
    });
    let out = leakdrill::sim::run_detected(
        sc.clone(),
        sc.seed,
        leakdrill::sim::Limits::default(),
        Box::new(std::io::sink()),
        Some(Box::new(det)),
    )
    .unwrap_or_else(|e| panic!("{}: {e}\n  reproduce: seed {}", sc.id, sc.seed));
    let verdict = leakdrill::score::score(sc, &out.summary);
    (out.summary, verdict)
}
