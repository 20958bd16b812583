//! External detectors (`leakdrill run --detector CMD`): any program that
//! speaks the NDJSON protocol of `docs/detector-protocol.md` on its stdin
//! and stdout, driven in lock-step with the virtual clock. Each message (a
//! `hello`, a delivered `event`, a `tick`) waits for the program's `ack`
//! before the simulation moves on, so its alerts and actions land at the
//! same virtual time on every run.
//!
//! Owns: the child process (`sh -c CMD`, its own process group), its pipes
//! and the threads that read and write them, the protocol codec, the
//! per-message wall-clock timeout, and turning a crash, a hang or a bad
//! line into a [`DetectorFault`].
//! Must not: be reached by the simulator except through [`Detect`], touch
//! the org, or let a misbehaving program hang the harness: every wait is
//! bounded (per-message timeout, line length, lines per message) and the
//! process group is killed on a fault or when the run ends.
//!
//! This is an edge: it reads the wall clock (only to bound waits; nothing
//! it measures reaches the run log) and starts processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::detect::{ActionRequest, Alert, Delivered, Detect, DetectorFault};

/// Protocol version sent in `hello`.
pub const PROTOCOL: u32 = 1;
/// Longest line accepted from the detector.
pub const MAX_LINE: usize = 1 << 20;
/// Most lines (alerts and actions) the detector may answer one message with.
pub const MAX_LINES_PER_MESSAGE: usize = 10_000;
/// Default per-message timeout (`--detector-timeout-ms`).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The least time the answer to `hello` may take (interpreters start up,
/// rule packs load), whatever `--detector-timeout-ms` says.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Virtual time between two `tick` messages.
pub const TICK_MS: i64 = 60_000;
/// How much of the detector's stderr is kept for a crash report.
const STDERR_TAIL: usize = 4096;
/// How long a closed detector may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How much of an offending line a fault quotes.
const QUOTE: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("cannot start detector `{cmd}`: {cause}")]
    Spawn { cmd: String, cause: std::io::Error },
    #[error("cannot write detector stderr to {path}: {cause}")]
    Stderr { path: String, cause: std::io::Error },
}

/// How to run the program.
#[derive(Debug, Clone)]
pub struct Options {
    /// Wall-clock limit for the `ack` of each message.
    pub timeout: Duration,
    /// Where the program's stderr goes (also kept in memory, last 4 KiB,
    /// for a crash report); `None`: memory only.
    pub stderr_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            stderr_file: None,
        }
    }
}

enum FromChild {
    Line(Vec<u8>),
    TooLong,
    Eof,
}

/// A running external detector.
pub struct External {
    cmd: String,
    child: Child,
    to_child: Option<Sender<Vec<u8>>>,
    from_child: Receiver<FromChild>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    stderr_done: Receiver<()>,
    timeout: Duration,
    seq: u64,
    actions: Vec<ActionRequest>,
    /// Faulted: killed, never written to again.
    dead: bool,
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("External")
            .field("cmd", &self.cmd)
            .field("seq", &self.seq)
            .finish()
    }
}

impl External {
    /// Starts `sh -c CMD` in the current directory. The `hello` exchange
    /// happens in [`Detect::start`], at the start of the run.
    pub fn spawn(cmd: &str, opts: &Options) -> Result<External, ExternalError> {
        let mut sink = match &opts.stderr_file {
            Some(p) => Some(
                std::fs::File::create(p).map_err(|cause| ExternalError::Stderr {
                    path: p.display().to_string(),
                    cause,
                })?,
            ),
            None => None,
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: a fault kills the shell and whatever it
        // started, so no grandchild keeps a pipe (and a thread) alive.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|cause| ExternalError::Spawn {
            cmd: cmd.to_owned(),
            cause,
        })?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ExternalError::Spawn {
                cmd: cmd.to_owned(),
                cause: std::io::Error::other("no pipes"),
            });
        };

        // Writer: a blocking write to a program that stopped reading must
        // not block the simulation (the ack wait times out instead).
        let (to_child, writes) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdin);
            for msg in writes {
                if w.write_all(&msg).and_then(|()| w.flush()).is_err() {
                    break;
                }
            }
        });

        let (tx, from_child) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 16, stdout);
            loop {
                let mut line = Vec::new();
                let msg = match read_bounded(&mut r, &mut line) {
                    Ok(Some(true)) => FromChild::Line(line),
                    Ok(Some(false)) => FromChild::TooLong,
                    Ok(None) | Err(_) => FromChild::Eof,
                };
                let last = !matches!(msg, FromChild::Line(_));
                if tx.send(msg).is_err() || last {
                    break;
                }
            }
        });

        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = stderr_tail.clone();
        let (done, stderr_done) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Some(f) = sink.as_mut() {
                    let _ = f.write_all(&buf[..n]);
                }
                if let Ok(mut t) = tail.lock() {
                    t.extend_from_slice(&buf[..n]);
                    if t.len() > STDERR_TAIL {
                        let cut = t.len() - STDERR_TAIL;
                        t.drain(..cut);
                    }
                }
            }
            let _ = done.send(());
        });

        Ok(External {
            cmd: cmd.to_owned(),
            child,
            to_child: Some(to_child),
            from_child,
            stderr_tail,
            stderr_done,
            timeout: opts.timeout,
            seq: 0,
            actions: Vec::new(),
            dead: false,
        })
    }

    /// Sends one message (`seq` already in it) and reads the answer up to
    /// its `ack`. Alerts name `event_id`; actions are kept for
    /// [`Detect::take_actions`].
    fn exchange(
        &mut self,
        msg: &impl Serialize,
        event_id: &str,
    ) -> Result<Vec<Alert>, DetectorFault> {
        if self.dead {
            return Err(DetectorFault::crashed("the detector is no longer running"));
        }
        let result = self.exchange_inner(msg, event_id);
        if result.is_err() {
            self.dead = true;
            self.actions.clear();
        }
        result
    }

    #[allow(clippy::disallowed_methods)] // bounds the wait; never logged
    fn exchange_inner(
        &mut self,
        msg: &impl Serialize,
        event_id: &str,
    ) -> Result<Vec<Alert>, DetectorFault> {
        let seq = self.seq;
        let mut bytes = serde_json::to_vec(msg)
            .map_err(|e| DetectorFault::crashed(format!("cannot encode message: {e}")))?;
        bytes.push(b'\n');
        let sent = self
            .to_child
            .as_ref()
            .is_some_and(|w| w.send(bytes).is_ok());
        if !sent {
            return Err(self.crash(seq));
        }
        let limit = if seq == 0 {
            self.timeout.max(HELLO_TIMEOUT)
        } else {
            self.timeout
        };
        let deadline = std::time::Instant::now() + limit;
        let mut alerts = Vec::new();
        let mut lines = 0usize;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = match self.from_child.recv_timeout(left) {
                Ok(FromChild::Line(l)) => l,
                Ok(FromChild::TooLong) => {
                    return Err(DetectorFault::malformed(format!(
                        "seq {seq}: a line longer than {MAX_LINE} bytes"
                    )));
                }
                Ok(FromChild::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.crash(seq));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(DetectorFault::timeout(format!(
                        "no ack for seq {seq} within {} ms",
                        limit.as_millis()
                    )));
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            if lines > MAX_LINES_PER_MESSAGE {
                return Err(DetectorFault::malformed(format!(
                    "seq {seq}: more than {MAX_LINES_PER_MESSAGE} lines before the ack"
                )));
            }
            let text = String::from_utf8_lossy(&line);
            let bad = |why: String| {
                DetectorFault::malformed(format!("seq {seq}: {why}: {}", quote(&text)))
            };
            let v: Value =
                serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
            let Some(obj) = v.as_object() else {
                return Err(bad("not a JSON object".into()));
            };
            match obj.get("type").and_then(Value::as_str) {
                Some("ack") => match obj.get("seq").and_then(Value::as_u64) {
                    Some(s) if s == seq => break,
                    other => {
                        return Err(bad(format!(
                            "ack for seq {} while waiting for seq {seq}",
                            other.map_or_else(|| "(none)".to_owned(), |s| s.to_string())
                        )));
                    }
                },
                Some("alert") => alerts.push(parse_alert(obj, event_id).map_err(bad)?),
                Some("action") => self.actions.push(parse_action(obj).map_err(bad)?),
                Some(other) => return Err(bad(format!("unknown type `{other}`"))),
                None => return Err(bad("no string `type`".into())),
            }
        }
        self.seq += 1;
        Ok(alerts)
    }

    /// The program closed its output: how it ended and the end of its
    /// stderr.
    #[allow(clippy::disallowed_methods)] // bounds the wait; never logged
    fn crash(&mut self, seq: u64) -> DetectorFault {
        let until = std::time::Instant::now()
            + EXIT_GRACE.min(self.timeout.max(Duration::from_millis(100)));
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if std::time::Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break None,
            }
        };
        let how = match status {
            Some(s) => match s.code() {
                Some(c) => format!("exited with status {c}"),
                None => {
                    #[cfg(unix)]
                    let sig = std::os::unix::process::ExitStatusExt::signal(&s);
                    #[cfg(not(unix))]
                    let sig: Option<i32> = None;
                    sig.map_or_else(|| "ended".to_owned(), |n| format!("killed by signal {n}"))
                }
            },
            None => "closed its output".to_owned(),
        };
        // The rest of stderr arrives when the program is gone.
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(1));
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        let last: Vec<&str> = tail.lines().filter(|l| !l.trim().is_empty()).collect();
        let last = &last[last.len().saturating_sub(5)..];
        let mut detail = format!("{how} before acking seq {seq}");
        if !last.is_empty() {
            detail.push_str("; stderr: ");
            detail.push_str(&quote(&last.join(" | ")));
        }
        DetectorFault::crashed(detail)
    }

    /// Kills the process group and reaps the shell.
    fn kill(&mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for External {
    /// A healthy detector gets `end` and its stdin closed, and a moment to
    /// exit; anything still running then (or a faulted detector) is killed.
    #[allow(clippy::disallowed_methods)] // bounds the wait; never logged
    fn drop(&mut self) {
        if !self.dead
            && let Some(w) = self.to_child.take()
        {
            let end = format!("{{\"type\":\"end\",\"seq\":{}}}\n", self.seq);
            let _ = w.send(end.into_bytes());
            drop(w);
            let until = std::time::Instant::now() + EXIT_GRACE.min(self.timeout);
            while std::time::Instant::now() < until {
                match self.child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    _ => break,
                }
            }
        }
        self.to_child = None;
        self.kill();
    }
}

#[derive(Serialize)]
struct Hello<'a> {
    r#type: &'static str,
    seq: u64,
    protocol: u32,
    scenario: &'a str,
    seed: u64,
    start: String,
    start_ms: i64,
    tick_ms: i64,
}

#[derive(Serialize)]
struct EventMsg<'a> {
    r#type: &'static str,
    seq: u64,
    t_ms: i64,
    now_ms: i64,
    event: &'a Value,
}

#[derive(Serialize)]
struct TickMsg {
    r#type: &'static str,
    seq: u64,
    t_ms: i64,
}

impl Detect for External {
    fn start(&mut self, scenario: &str, seed: u64, start_ms: i64) -> Result<(), DetectorFault> {
        let msg = Hello {
            r#type: "hello",
            seq: self.seq,
            protocol: PROTOCOL,
            scenario,
            seed,
            start: crate::sfdc::sf_datetime(start_ms),
            start_ms,
            tick_ms: TICK_MS,
        };
        let alerts = self.exchange(&msg, "")?;
        if alerts.is_empty() {
            Ok(())
        } else {
            self.dead = true;
            Err(DetectorFault::malformed("alerts in answer to `hello`"))
        }
    }

    fn observe(&mut self, d: Delivered<'_>, t_ms: i64) -> Result<Vec<Alert>, DetectorFault> {
        self.observe_at(d, t_ms, t_ms)
    }

    fn observe_at(
        &mut self,
        d: Delivered<'_>,
        t_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<Alert>, DetectorFault> {
        // The protocol carries Sigma documents: build one for a typed event.
        let doc = d.document();
        let doc: &Value = &doc;
        let msg = EventMsg {
            r#type: "event",
            seq: self.seq,
            t_ms,
            now_ms,
            event: doc,
        };
        let id = doc
            .get("EventIdentifier")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        self.exchange(&msg, &id)
    }

    fn tick_every_ms(&self) -> Option<i64> {
        Some(TICK_MS)
    }

    fn tick(&mut self, now_ms: i64) -> Result<Vec<Alert>, DetectorFault> {
        let msg = TickMsg {
            r#type: "tick",
            seq: self.seq,
            t_ms: now_ms,
        };
        self.exchange(&msg, "")
    }

    fn take_actions(&mut self) -> Vec<ActionRequest> {
        std::mem::take(&mut self.actions)
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes (without its newline).
/// `None`: end of input; `Some(false)`: the line was too long.
fn read_bounded(r: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(if line.is_empty() { None } else { Some(true) });
        }
        if let Some(i) = avail.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&avail[..i]);
            r.consume(i + 1);
            return Ok(Some(line.len() <= MAX_LINE));
        }
        let n = avail.len();
        line.extend_from_slice(avail);
        r.consume(n);
        if line.len() > MAX_LINE {
            return Ok(Some(false));
        }
    }
}

/// The first [`QUOTE`] characters of `s`, `…` when cut.
fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(QUOTE).collect();
    if s.chars().nth(QUOTE).is_some() {
        out.push('…');
    }
    out
}

const LEVELS: [&str; 4] = ["low", "medium", "high", "critical"];

fn opt_str(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Ok(None),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn parse_alert(obj: &serde_json::Map<String, Value>, event_id: &str) -> Result<Alert, String> {
    let rule_id = opt_str(obj, "rule_id")?.ok_or("an alert needs a non-empty `rule_id`")?;
    let title = opt_str(obj, "title")?.unwrap_or_else(|| rule_id.clone());
    let level = opt_str(obj, "level")?.unwrap_or_else(|| "medium".into());
    if !LEVELS.contains(&level.as_str()) {
        return Err(format!(
            "`level` `{level}` is not one of {}",
            LEVELS.join(", ")
        ));
    }
    Ok(Alert {
        rule_id,
        title,
        level,
        event_id: event_id.to_owned(),
        user: opt_str(obj, "user")?,
        session_key: opt_str(obj, "session_key")?,
        source_ip: opt_str(obj, "source_ip")?,
        app: opt_str(obj, "app")?,
        group: Vec::new(),
    })
}

fn parse_action(obj: &serde_json::Map<String, Value>) -> Result<ActionRequest, String> {
    let action = opt_str(obj, "action")?.ok_or("an action needs a non-empty `action`")?;
    let target = match obj.get("target") {
        Some(t @ Value::Object(_)) => t.clone(),
        _ => return Err("an action needs a `target` object".into()),
    };
    let after_ms = match obj.get("after_ms") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or("`after_ms` must be a non-negative integer")?,
    };
    Ok(ActionRequest {
        action,
        target,
        after_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let mut r = BufReader::new(&b"{\"a\":1}\npartial"[..]);
        let mut l = Vec::new();
        assert_eq!(read_bounded(&mut r, &mut l).ok(), Some(Some(true)));
        assert_eq!(l, b"{\"a\":1}");
        l.clear();
        assert_eq!(read_bounded(&mut r, &mut l).ok(), Some(Some(true)));
        assert_eq!(l, b"partial");
        l.clear();
        assert_eq!(read_bounded(&mut r, &mut l).ok(), Some(None));
        let big = vec![b'x'; MAX_LINE + 10];
        let mut r = BufReader::new(&big[..]);
        let mut l = Vec::new();
        assert_eq!(read_bounded(&mut r, &mut l).ok(), Some(Some(false)));
    }

    #[test]
    fn alerts_and_actions_parse_strictly() {
        let obj = |s: &str| match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => panic!("{s}"),
        };
        let a = parse_alert(
            &obj(r#"{"type":"alert","rule_id":"r1","user":"u@x.example","level":"high"}"#),
            "ev1",
        )
        .expect("alert");
        assert_eq!(
            (a.title.as_str(), a.event_id.as_str(), a.user.as_deref()),
            ("r1", "ev1", Some("u@x.example"))
        );
        assert!(parse_alert(&obj(r#"{"type":"alert"}"#), "").is_err());
        assert!(parse_alert(&obj(r#"{"rule_id":"r","level":"severe"}"#), "").is_err());
        assert!(parse_alert(&obj(r#"{"rule_id":"r","user":3}"#), "").is_err());
        let x = parse_action(&obj(
            r#"{"action":"freeze_user","target":{"user":"u"},"after_ms":5}"#,
        ))
        .expect("action");
        assert_eq!((x.action.as_str(), x.after_ms), ("freeze_user", 5));
        assert!(parse_action(&obj(r#"{"action":"freeze_user"}"#)).is_err());
        assert!(parse_action(&obj(r#"{"action":"x","target":{},"after_ms":-1}"#)).is_err());
    }
}
