//! The discrete-event simulation behind `leakdrill run`: one queue ordered
//! by (time, sequence) on a virtual clock, one closed [`Task`] enum handled
//! in one loop. Integrations, humans, the attacker and the responder send
//! the same [`Request`]s to [`OrgState::handle`] that `serve` gets over
//! HTTPS; telemetry is emitted at request time and delivered later (with
//! chaos faults applied); every step is written to the run log.
//!
//! Owns: the clock, the queue, limits, the run log and its digest, the
//! summary, telemetry delivery and the defender-side faults.
//! Must not: read the wall clock, use OS randomness, threads or sockets,
//! or let anything but the containment door ([`door`]) change the org as a
//! response.

pub mod actors;
pub mod attack;
pub mod door;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::io::Write;
use std::sync::Arc;

use rand::RngExt;
use serde::Serialize;

use crate::pii::PlanError;
use crate::scenario::{FaultKind, Scenario, TelemetrySource};
use crate::seed::{Rng, Seed};
use crate::sfdc::telemetry::Event;
use crate::sfdc::{Options, OrgState, Request, Response};

/// Bounds on one run; hitting one is [`SimError::Limit`] naming it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tasks taken off the queue.
    pub max_tasks: u64,
    pub max_api_calls: u64,
    /// Tasks waiting at once.
    pub max_queue_len: usize,
    /// Records returned to all actors together.
    pub max_records_read: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tasks: 50_000_000,
            max_api_calls: 5_000_000,
            max_queue_len: 5_000_000,
            max_records_read: 500_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "run limit `{name}` ({limit}) reached at t_ms={t_ms}\n  = hint: shorten the scenario or lower its traffic; every run is bounded"
    )]
    Limit {
        name: &'static str,
        limit: u64,
        t_ms: i64,
    },
    #[error("cannot build the org: {0}")]
    Org(#[from] PlanError),
    #[error("cannot write the run log: {0}")]
    Io(#[from] std::io::Error),
}

/// Who sent a request (run log `actor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorId {
    Integration(usize),
    Human(usize),
    Attacker(usize),
    /// The person whose session attack step `i` steals, logging in as usual.
    Victim(usize),
    Responder,
}

/// Everything that can happen, on one queue.
#[derive(Debug)]
pub enum Task {
    Integration(usize),
    Human(usize),
    Attack(usize),
    /// Action index and attempt (from 0).
    Action(usize, u32),
    /// Containment verified at the target: a finished attack step tries its
    /// credential once more after a response action took effect.
    Probe(usize),
    Deliver(Box<Delivery>),
    /// An egress proxy log record reaches the detector.
    DeliverProxy(Box<ProxyRecord>),
    /// A virtual-clock tick for a detector that asked for them
    /// ([`crate::detect::Detect::tick_every_ms`]); never scheduled otherwise.
    Tick,
    End,
}

/// One egress proxy log record: an integration's outbound request as a
/// forward proxy with DLP logs it (W3C extended names, see
/// `rules/README.md`), delivered [`PROXY_DELIVERY_MS`] after the send.
#[derive(Debug)]
pub struct ProxyRecord {
    pub request_id: String,
    pub sent_ms: i64,
    pub doc: serde_json::Value,
}

/// Proxy logs are shipped once a minute.
pub const PROXY_DELIVERY_MS: i64 = 60_000;

#[derive(Debug)]
pub struct Delivery {
    pub event: Arc<Event>,
    pub source: &'static str,
    pub emitted_ms: i64,
    pub skew_ms: i64,
    pub duplicate: bool,
}

struct Queued {
    t_ms: i64,
    seq: u64,
    task: Task,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.t_ms, self.seq) == (o.t_ms, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.t_ms, self.seq).cmp(&(o.t_ms, o.seq))
    }
}

/// The run log: NDJSON lines hashed as they are written.
pub struct RunLog {
    out: Box<dyn Write>,
    hash: ring::digest::Context,
    pub lines: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for RunLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLog")
            .field("lines", &self.lines)
            .finish()
    }
}

impl RunLog {
    pub fn new(out: Box<dyn Write>) -> RunLog {
        RunLog {
            out,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
            lines: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    pub fn write<T: Serialize>(&mut self, line: &T) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, line)?;
        self.buf.push(b'\n');
        self.hash.update(&self.buf);
        self.lines += 1;
        self.out.write_all(&self.buf)
    }

    fn finish(mut self) -> std::io::Result<String> {
        self.out.flush()?;
        let d = self.hash.finish();
        let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
    }
}

/// Run log lines. `t_ms` is milliseconds since the scenario start.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line<'a> {
    Start {
        t_ms: i64,
        scenario: &'a str,
        fixture: &'a str,
        seed: u64,
        start: &'a str,
        duration_ms: i64,
        records: u64,
    },
    Request {
        t_ms: i64,
        actor: &'a str,
        method: &'a str,
        path: &'a str,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
        #[serde(skip_serializing_if = "is_zero")]
        rows: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        event_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        fault: Option<&'a str>,
    },
    Emit {
        t_ms: i64,
        event: &'a Event,
    },
    Deliver {
        t_ms: i64,
        source: &'a str,
        event_id: &'a str,
        emitted_ms: i64,
        #[serde(skip_serializing_if = "is_zero_i")]
        skew_ms: i64,
        #[serde(skip_serializing_if = "is_false")]
        duplicate: bool,
    },
    Drop {
        t_ms: i64,
        source: &'a str,
        event_id: &'a str,
        fault: &'a str,
    },
    Injection {
        t_ms: i64,
        id: &'a str,
        kind: &'a str,
        phase: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<&'a str>,
    },
    Action {
        t_ms: i64,
        action: &'a str,
        target: &'a str,
        attempt: u32,
        outcome: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<&'a str>,
    },
    Egress {
        t_ms: i64,
        actor: &'a str,
        to: &'a str,
        country: &'a str,
        records: u64,
        classes: &'a [&'a str],
        /// The attack step that caused this send (tampered flows only).
        #[serde(skip_serializing_if = "Option::is_none")]
        injection: Option<&'a str>,
        /// Refused by the egress proxy (`block_egress`); nothing left.
        #[serde(skip_serializing_if = "is_false")]
        blocked: bool,
    },
    Alert {
        t_ms: i64,
        rule_id: &'a str,
        title: &'a str,
        level: &'a str,
        event_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_key: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        source_ip: Option<&'a str>,
    },
    /// The detector under test crashed, hung or broke the protocol; it is
    /// fed nothing more in this run.
    DetectorFault {
        t_ms: i64,
        fault: &'a str,
        detail: &'a str,
    },
    End {
        t_ms: i64,
        undelivered: u64,
    },
}

/// Why and when (ms since start) the detector under test failed.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorFaultAt {
    pub t_ms: i64,
    #[serde(flatten)]
    pub fault: crate::detect::DetectorFault,
}

/// An alert and when the detector raised it (ms since start).
#[derive(Debug, Clone, Serialize)]
pub struct AlertAt {
    pub t_ms: i64,
    #[serde(flatten)]
    pub alert: crate::detect::Alert,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_zero_i(n: &i64) -> bool {
    *n == 0
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// What a run produced besides the log.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub title: String,
    pub fixture: String,
    pub seed: u64,
    pub version: &'static str,
    pub start: String,
    pub duration_ms: i64,
    pub digest: String,
    pub counts: Counts,
    pub injections: Vec<Injection>,
    pub actions: Vec<ActionOutcome>,
    pub egress: Vec<EgressTotal>,
    /// Alerts of the detector under test (empty without one).
    pub alerts: Vec<AlertAt>,
    /// The detector under test crashed, hung or broke the protocol (it saw
    /// nothing after this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_fault: Option<DetectorFaultAt>,
    /// Telemetry deliveries per simulated hour since the start:
    /// `[real-time, hourly EventLogFile]`. Not in `summary.json` (the
    /// HTML report's timeline draws it).
    #[serde(skip)]
    pub deliveries_per_hour: Vec<[u64; 2]>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub api_calls: u64,
    pub telemetry_events: u64,
    pub telemetry_delivered: u64,
    pub telemetry_dropped: u64,
    pub telemetry_undelivered: u64,
    /// Egress proxy log records (integrations' outbound sends).
    pub proxy_records: u64,
    pub attacker_calls_ok: u64,
    pub attacker_calls_denied: u64,
    pub records_read: u64,
    pub run_log_lines: u64,
}

/// A record an injection exposed: when first, and which classes of its
/// fields (over all the calls that returned it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposed {
    pub first_ms: i64,
    pub classes: crate::model::ClassSet,
}

/// Records exposed by one injection, by Id.
pub type Exposure = std::collections::BTreeMap<crate::sfid::Id, Exposed>;

/// Notes `ids` as exposed at `t_ms` with `classes`.
pub fn note_exposed(
    map: &mut Exposure,
    ids: impl IntoIterator<Item = crate::sfid::Id>,
    t_ms: i64,
    classes: crate::model::ClassSet,
) {
    for id in ids {
        map.entry(id)
            .and_modify(|x| x.classes = x.classes.union(classes))
            .or_insert(Exposed {
                first_ms: t_ms,
                classes,
            });
    }
}

/// Ground truth of one attack step.
#[derive(Debug, Clone, Serialize)]
pub struct Injection {
    pub id: String,
    pub kind: &'static str,
    pub start_ms: i64,
    pub first_success_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    pub first_denied_ms: Option<i64>,
    /// The last denial; the step was stopped if no success came after it
    /// (a re-minted token can succeed again after a first denial).
    #[serde(skip)]
    pub last_denied_ms: Option<i64>,
    pub calls_ok: u64,
    pub calls_denied: u64,
    pub records_read: u64,
    /// Distinct records returned (by Id).
    pub records_exposed: u64,
    /// Usernames, session keys and source IPs of the step's calls (for
    /// scoring alerts; not in `summary.json`).
    #[serde(skip)]
    pub entities: Vec<String>,
    /// The records behind `records_exposed`, for exposure by class and
    /// jurisdiction (not in `summary.json`). Sandbox copies carry no Ids:
    /// `records_exposed` may exceed its length.
    #[serde(skip)]
    pub exposed: Exposure,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    pub action: &'static str,
    pub target: String,
    pub triggered_ms: Option<i64>,
    pub effective_ms: Option<i64>,
    pub attempts: u32,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EgressTotal {
    pub actor: String,
    pub to: String,
    pub country: String,
    pub sends: u64,
    pub records: u64,
    /// Sends the egress proxy refused.
    #[serde(skip_serializing_if = "is_zero")]
    pub blocked: u64,
}

/// An integration's data flow redirected by an attack step, and what
/// reached the endpoint (the step's ground truth).
#[derive(Debug, Clone)]
pub struct Flow {
    pub step: usize,
    /// Index into `org.integrations`.
    pub integration: usize,
    pub url: String,
    pub host: String,
    pub country: String,
    /// Data classes in the payload (of the fields the integration reads).
    pub classes: Vec<&'static str>,
    pub active: bool,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub first_blocked_ms: Option<i64>,
    pub last_blocked_ms: Option<i64>,
    pub sends: u64,
    pub blocked: u64,
    pub records: u64,
    pub exposed: Exposure,
}

/// The simulator's world: the org, the clock, the queue and the log.
pub struct Engine {
    pub org: OrgState,
    pub sc: Arc<Scenario>,
    pub seed: Seed,
    /// Absolute virtual time (ms since the epoch).
    pub now_ms: i64,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    pub log: RunLog,
    pub counts: Counts,
    pub limits: Limits,
    chaos: Rng,
    labels: Vec<String>,
    pub egress: Vec<EgressTotal>,
    /// Alerts raised so far.
    pub alerts: Vec<AlertAt>,
    /// Tampered integration data flows (webhook_exfil, pii_logging,
    /// cross_border_transfer), with their ground truth.
    pub flows: Vec<Flow>,
    /// Hosts the egress proxy refuses (`block_egress`).
    pub blocked_hosts: BTreeSet<String>,
    /// Attack steps whose first success happened outside the attacker's
    /// own wake (a tampered flow's first send), for `on: first_success`.
    pub fired: Vec<(usize, i64)>,
    /// Telemetry deliveries per hour since the start: `[real-time, other]`.
    deliveries_per_hour: Vec<[u64; 2]>,
    /// Proxy records written by [`Engine::egress`], scheduled by the loop.
    proxy_pending: Vec<ProxyRecord>,
    /// First I/O error writing the log (the run stops at the next task).
    io_error: Option<std::io::Error>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("now_ms", &self.now_ms)
            .finish()
    }
}

/// A request's outcome as actors see it.
#[derive(Debug)]
pub struct Reply {
    pub resp: Response,
    /// `None` when a server-side fault answered instead of the org.
    pub event: Option<Arc<Event>>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.resp.status < 400
    }
    pub fn rows(&self) -> u64 {
        self.event.as_ref().map_or(0, |e| e.rows_returned)
    }
}

impl Engine {
    fn t(&self) -> i64 {
        self.now_ms - self.sc.start_ms
    }

    pub fn schedule(&mut self, t_ms: i64, task: Task) -> Result<(), SimError> {
        if self.queue.len() >= self.limits.max_queue_len {
            return Err(SimError::Limit {
                name: "max_queue_len",
                limit: self.limits.max_queue_len as u64,
                t_ms: self.t(),
            });
        }
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            t_ms: t_ms.max(self.now_ms),
            seq: self.seq,
            task,
        }));
        Ok(())
    }

    pub fn line(&mut self, l: &Line<'_>) {
        if let Err(e) = self.log.write(l)
            && self.io_error.is_none()
        {
            self.io_error = Some(e);
        }
    }

    pub fn actor_label(&self, a: ActorId) -> &str {
        match a {
            ActorId::Integration(i) => &self.labels[i],
            ActorId::Human(i) => &self.labels[self.sc.integrations.len() + i],
            ActorId::Attacker(i) => {
                &self.labels[self.sc.integrations.len() + self.humans_len() + i]
            }
            ActorId::Victim(i) => {
                &self.labels
                    [self.sc.integrations.len() + self.humans_len() + self.sc.attack.len() + i]
            }
            ActorId::Responder => "responder",
        }
    }

    fn humans_len(&self) -> usize {
        self.sc.humans.map_or(0, |h| h.users as usize)
    }

    fn fault_active(&self, kind: FaultKind) -> Option<f64> {
        let t = self.t();
        self.sc
            .chaos
            .iter()
            .find(|f| f.kind == kind && f.from_ms <= t && t < f.to_ms)
            .map(|f| f.rate)
    }

    /// Sends `req` to the org as `actor` at the current time.
    pub fn call(&mut self, actor: ActorId, req: Request) -> Result<Reply, SimError> {
        self.counts.api_calls += 1;
        if self.counts.api_calls > self.limits.max_api_calls {
            return Err(SimError::Limit {
                name: "max_api_calls",
                limit: self.limits.max_api_calls,
                t_ms: self.t(),
            });
        }
        // Server-side faults answer before the org (no telemetry).
        let fault = if self.fault_active(FaultKind::RateLimit).is_some() {
            Some((
                "rate_limit",
                Response::error(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                ),
            ))
        } else if let Some(rate) = self.fault_active(FaultKind::ServerErrors)
            && self.chaos.random_range(0.0..1.0) < rate
        {
            Some((
                "server_errors",
                Response::error(
                    503,
                    "SERVER_UNAVAILABLE",
                    "Salesforce is temporarily unavailable",
                ),
            ))
        } else {
            None
        };
        let (resp, event) = match fault {
            Some((name, resp)) => {
                let (t, label) = (self.t(), self.actor_label(actor).to_owned());
                let code = resp.error_code();
                self.line(&Line::Request {
                    t_ms: t,
                    actor: &label,
                    method: req.method.as_str(),
                    path: &req.path,
                    status: resp.status,
                    error: code.as_deref(),
                    rows: 0,
                    event_id: None,
                    fault: Some(name),
                });
                (resp, None)
            }
            None => {
                let (resp, ev) = self.org.handle(self.now_ms, &req);
                let (t, label) = (self.t(), self.actor_label(actor).to_owned());
                self.line(&Line::Request {
                    t_ms: t,
                    actor: &label,
                    method: req.method.as_str(),
                    path: &req.path,
                    status: resp.status,
                    error: ev.error_code.as_deref(),
                    rows: ev.rows_returned,
                    event_id: Some(&ev.event_identifier),
                    fault: None,
                });
                self.emit(ev.clone())?;
                self.counts.records_read += ev.rows_returned;
                if self.counts.records_read > self.limits.max_records_read {
                    return Err(SimError::Limit {
                        name: "max_records_read",
                        limit: self.limits.max_records_read,
                        t_ms: self.t(),
                    });
                }
                (resp, Some(ev))
            }
        };
        Ok(Reply { resp, event })
    }

    /// Records an emitted event and schedules its deliveries: the real-time
    /// stream within seconds, the hourly EventLogFile hours later, both
    /// through the telemetry faults.
    fn emit(&mut self, ev: Arc<Event>) -> Result<(), SimError> {
        self.counts.telemetry_events += 1;
        let t = self.t();
        self.line(&Line::Emit {
            t_ms: t,
            event: &ev,
        });
        let realtime = self.now_ms + 1_000 + self.chaos.random_range(0..4_000);
        self.deliver_via(&ev, "realtime", TelemetrySource::Realtime, realtime)?;
        if let Some(at) = self.org.elf_available_ms(&ev) {
            self.deliver_via(&ev, "event_log_file", TelemetrySource::EventLogFile, at)?;
        }
        Ok(())
    }

    fn deliver_via(
        &mut self,
        ev: &Arc<Event>,
        source: &'static str,
        src: TelemetrySource,
        mut at_ms: i64,
    ) -> Result<(), SimError> {
        let t = self.t();
        let applies = |f: &crate::scenario::Fault| {
            (f.source == src || f.source == TelemetrySource::All) && f.from_ms <= t && t < f.to_ms
        };
        let mut skew_ms = 0;
        let mut duplicate = false;
        let faults: Vec<crate::scenario::Fault> = self
            .sc
            .chaos
            .iter()
            .filter(|f| applies(f))
            .cloned()
            .collect();
        for f in &faults {
            match f.kind {
                FaultKind::TelemetryDelay => at_ms += f.delay_ms,
                FaultKind::TelemetryReorder => {
                    at_ms += self.chaos.random_range(0..f.delay_ms.max(1));
                }
                FaultKind::TelemetryDrop if self.chaos.random_range(0.0..1.0) < f.rate => {
                    self.counts.telemetry_dropped += 1;
                    self.line(&Line::Drop {
                        t_ms: t,
                        source,
                        event_id: &ev.event_identifier,
                        fault: "telemetry_drop",
                    });
                    return Ok(());
                }
                FaultKind::TelemetryDuplicate if self.chaos.random_range(0.0..1.0) < f.rate => {
                    duplicate = true;
                }
                FaultKind::ClockSkew => skew_ms += f.skew_ms,
                _ => {}
            }
        }
        // A SIEM outage holds deliveries until it ends.
        for f in self
            .sc
            .chaos
            .iter()
            .filter(|f| f.kind == FaultKind::SiemOutage)
        {
            let (from, to) = (
                self.sc.start_ms + f.from_ms,
                self.sc.start_ms.saturating_add(f.to_ms),
            );
            if from <= at_ms && at_ms < to {
                at_ms = to;
            }
        }
        let copies = if duplicate { 2 } else { 1 };
        for k in 0..copies {
            let extra = if k == 1 {
                self.chaos.random_range(1_000..60_000)
            } else {
                0
            };
            self.schedule(
                at_ms + extra,
                Task::Deliver(Box::new(Delivery {
                    event: ev.clone(),
                    source,
                    emitted_ms: self.now_ms,
                    skew_ms,
                    duplicate: k == 1,
                })),
            )?;
        }
        Ok(())
    }

    /// One send of `records` records to the endpoint `to` (an integration's
    /// own flow, or a tampered one when `injection` is set). Returns false
    /// when the egress proxy refused it.
    #[allow(clippy::too_many_arguments)]
    pub fn egress(
        &mut self,
        actor: ActorId,
        to: &str,
        country: &str,
        records: u64,
        classes: &[&str],
        injection: Option<usize>,
    ) -> bool {
        let t = self.t();
        let label = self.actor_label(actor).to_owned();
        let blocked =
            crate::fixture::endpoint_host(to).is_ok_and(|h| self.blocked_hosts.contains(&h));
        let step = injection.map(|i| self.sc.attack[i].id.clone());
        self.line(&Line::Egress {
            t_ms: t,
            actor: &label,
            to,
            country,
            records,
            classes,
            injection: step.as_deref(),
            blocked,
        });
        let total = match self
            .egress
            .iter_mut()
            .position(|e| e.actor == label && e.to == to)
        {
            Some(k) => &mut self.egress[k],
            None => {
                self.egress.push(EgressTotal {
                    actor: label,
                    to: to.to_owned(),
                    country: country.to_owned(),
                    sends: 0,
                    records: 0,
                    blocked: 0,
                });
                self.egress.last_mut().expect("just pushed")
            }
        };
        if blocked {
            total.blocked += 1;
        } else {
            total.sends += 1;
            total.records += records;
        }
        if let ActorId::Integration(k) = actor {
            self.proxy_log(k, to, country, records, classes, blocked);
        }
        !blocked
    }

    /// The egress proxy's log record of integration `k`'s send (sandbox
    /// copies stay inside Salesforce and are not proxied).
    fn proxy_log(
        &mut self,
        k: usize,
        to: &str,
        country: &str,
        records: u64,
        classes: &[&str],
        blocked: bool,
    ) {
        self.counts.proxy_records += 1;
        let idx = self.sc.integrations[k];
        let integ = &self.sc.org.integrations[idx];
        let request_id = format!("px-{:012}", self.counts.proxy_records);
        let doc = crate::detect::proxy_document(&crate::detect::ProxySend {
            request_id: &request_id,
            t_ms: self.now_ms,
            client_ip: actors::integration_ip(&self.sc, idx),
            workload: &integ.id,
            url: to,
            country,
            records,
            classes,
            blocked,
        });
        self.proxy_pending.push(ProxyRecord {
            request_id,
            sent_ms: self.now_ms,
            doc,
        });
    }

    /// An `injection` line for attack step `i`, now.
    pub fn injection_line(&mut self, i: usize, phase: &str, detail: Option<&str>) {
        let t = self.t();
        let sc = self.sc.clone();
        self.line(&Line::Injection {
            t_ms: t,
            id: &sc.attack[i].id,
            kind: sc.attack[i].kind_name.as_str(),
            phase,
            detail,
        });
    }

    /// A tampered flow `j` sends what the integration just read.
    pub fn flow_send(
        &mut self,
        actor: ActorId,
        j: usize,
        records: u64,
        ids: &BTreeSet<crate::sfid::Id>,
    ) {
        let f = self.flows[j].clone();
        let classes: Vec<&str> = f.classes.to_vec();
        let sent = self.egress(actor, &f.url, &f.country, records, &classes, Some(f.step));
        let t = self.t();
        let id = self.sc.attack[f.step].id.clone();
        let kind = self.sc.attack[f.step].kind_name.as_str();
        let flow = &mut self.flows[j];
        if sent {
            flow.sends += 1;
            flow.records += records;
            let classes = crate::model::Classification::ALL
                .into_iter()
                .filter(|c| f.classes.contains(&c.as_str()))
                .collect();
            note_exposed(&mut flow.exposed, ids.iter().copied(), t, classes);
            flow.last_ms = Some(t);
            if flow.first_ms.is_none() {
                flow.first_ms = Some(t);
                self.fired.push((f.step, self.now_ms));
                self.line(&Line::Injection {
                    t_ms: t,
                    id: &id,
                    kind,
                    phase: "first_success",
                    detail: None,
                });
            }
        } else {
            flow.blocked += 1;
            flow.last_blocked_ms = Some(t);
            if flow.first_blocked_ms.is_none() {
                flow.first_blocked_ms = Some(t);
                self.line(&Line::Injection {
                    t_ms: t,
                    id: &id,
                    kind,
                    phase: "first_denied",
                    detail: Some("egress blocked"),
                });
            }
        }
    }
}

/// The result of [`run`].
#[derive(Debug)]
pub struct RunOutput {
    pub summary: Summary,
}

/// Runs `sc` with `seed`, writing the run log to `out`.
pub fn run(
    sc: Arc<Scenario>,
    seed: u64,
    limits: Limits,
    out: Box<dyn Write>,
) -> Result<RunOutput, SimError> {
    run_detected(sc, seed, limits, out, None)
}

/// [`run`] with a detector reading the delivered telemetry; its alerts are
/// in the log (`alert` lines) and the summary, and the verdict scores them.
pub fn run_detected(
    sc: Arc<Scenario>,
    seed: u64,
    limits: Limits,
    out: Box<dyn Write>,
    detector: Option<Box<dyn crate::detect::Detect>>,
) -> Result<RunOutput, SimError> {
    let seed = Seed(seed);
    let mut opts = Options::for_org(&sc.org);
    opts.daily_api_requests = opts.daily_api_requests.max(10_000_000);
    let org = OrgState::new(sc.org.clone(), sc.records, seed, opts)?;
    let mut labels: Vec<String> = sc
        .integrations
        .iter()
        .map(|&i| format!("integration:{}", sc.org.integrations[i].id))
        .collect();
    let humans = actors::pick_humans(&sc);
    labels.extend(
        humans
            .iter()
            .map(|&u| format!("human:{}", sc.org.users[u].username)),
    );
    labels.extend(sc.attack.iter().map(|s| format!("attacker:{}", s.id)));
    labels.extend(sc.attack.iter().map(|s| format!("victim:{}", s.id)));
    let mut e = Engine {
        org,
        sc: sc.clone(),
        seed,
        now_ms: sc.start_ms,
        queue: BinaryHeap::new(),
        seq: 0,
        log: RunLog::new(out),
        counts: Counts::default(),
        limits,
        chaos: seed.fork("chaos").rng(),
        labels,
        egress: Vec::new(),
        alerts: Vec::new(),
        flows: Vec::new(),
        blocked_hosts: BTreeSet::new(),
        fired: Vec::new(),
        deliveries_per_hour: Vec::new(),
        proxy_pending: Vec::new(),
        io_error: None,
    };
    let start = crate::sfdc::sf_datetime(sc.start_ms);
    e.line(&Line::Start {
        t_ms: 0,
        scenario: &sc.id,
        fixture: &sc.fixture,
        seed: seed.0,
        start: &start,
        duration_ms: sc.duration_ms,
        records: sc.records,
    });
    let mut world = World {
        detector,
        fault: None,
        integrations: sc
            .integrations
            .iter()
            .map(|&i| actors::Integration::new(&e, i))
            .collect(),
        humans: humans
            .iter()
            .enumerate()
            .map(|(k, &u)| actors::Human::new(&e, k, u))
            .collect(),
        attack: attack::Attack::new(&e),
        door: door::Door::new(&e),
    };
    for (k, i) in world.integrations.iter().enumerate() {
        e.schedule(i.first_run_ms(&e), Task::Integration(k))?;
    }
    for (k, h) in world.humans.iter_mut().enumerate() {
        let t = h.next_shift_ms(e.now_ms);
        e.schedule(t, Task::Human(k))?;
    }
    for (k, s) in sc.attack.iter().enumerate() {
        e.schedule(sc.start_ms + s.at_ms, Task::Attack(k))?;
    }
    for (k, a) in sc.response.iter().enumerate() {
        if let crate::scenario::Trigger::At(t) = a.trigger {
            world.door.trigger(&mut e, k, sc.start_ms + t)?;
        }
    }
    e.schedule(sc.start_ms + sc.duration_ms, Task::End)?;
    world.start(&mut e)?;

    let mut tasks = 0u64;
    while let Some(Reverse(q)) = e.queue.pop() {
        tasks += 1;
        if tasks > e.limits.max_tasks {
            return Err(SimError::Limit {
                name: "max_tasks",
                limit: e.limits.max_tasks,
                t_ms: e.t(),
            });
        }
        if let Some(err) = e.io_error.take() {
            return Err(SimError::Io(err));
        }
        e.now_ms = q.t_ms;
        match q.task {
            Task::End => break,
            Task::Integration(k) => {
                if let Some(next) = world.integrations[k].wake(&mut e)? {
                    e.schedule(next, Task::Integration(k))?;
                }
                for (step, t) in std::mem::take(&mut e.fired) {
                    world.door.on_first_success(&mut e, step, t)?;
                }
            }
            Task::Human(k) => {
                if let Some(next) = world.humans[k].wake(&mut e)? {
                    e.schedule(next, Task::Human(k))?;
                }
            }
            Task::Attack(k) => {
                let fired = world.attack.wake(&mut e, k)?;
                for (step, t) in fired {
                    world.door.on_first_success(&mut e, step, t)?;
                }
            }
            Task::Action(k, attempt) => world.door.execute(&mut e, &world.attack, k, attempt)?,
            Task::Probe(k) => world.attack.probe(&mut e, k)?,
            Task::DeliverProxy(p) => {
                let t = e.t();
                e.line(&Line::Deliver {
                    t_ms: t,
                    source: "proxy",
                    event_id: &p.request_id,
                    emitted_ms: p.sent_ms - e.sc.start_ms,
                    skew_ms: 0,
                    duplicate: false,
                });
                let now = e.now_ms;
                let seen = world.detector.as_mut().map(|det| {
                    det.observe_at(crate::detect::Delivered::Document(&p.doc), p.sent_ms, now)
                });
                world.feed(&mut e, seen)?;
            }
            Task::Tick => world.tick(&mut e)?,
            Task::Deliver(d) => {
                e.counts.telemetry_delivered += 1;
                let t = e.t();
                let hour = usize::try_from(t.max(0) / 3_600_000).unwrap_or(usize::MAX);
                if hour < 24 * 366 {
                    if e.deliveries_per_hour.len() <= hour {
                        e.deliveries_per_hour.resize(hour + 1, [0; 2]);
                    }
                    e.deliveries_per_hour[hour][usize::from(d.source != "realtime")] += 1;
                }
                e.line(&Line::Deliver {
                    t_ms: t,
                    source: d.source,
                    event_id: &d.event.event_identifier,
                    emitted_ms: d.emitted_ms - e.sc.start_ms,
                    skew_ms: d.skew_ms,
                    duplicate: d.duplicate,
                });
                // The detector reads the real-time stream (EventLogFile
                // rows are not mapped to Sigma documents yet), as typed
                // events: a detector that needs the Sigma document builds
                // it.
                if d.source == "realtime" && world.detector.is_some() {
                    let skewed;
                    let ev = if d.skew_ms != 0 {
                        let mut ev = (*d.event).clone();
                        ev.t_ms += d.skew_ms;
                        ev.event_date = crate::sfdc::sf_datetime(ev.t_ms);
                        skewed = ev;
                        &skewed
                    } else {
                        &*d.event
                    };
                    let now = e.now_ms;
                    let seen = world.detector.as_mut().map(|det| {
                        det.observe_at(crate::detect::Delivered::Event(ev), ev.t_ms, now)
                    });
                    world.feed(&mut e, seen)?;
                }
            }
        }
        for p in std::mem::take(&mut e.proxy_pending) {
            e.schedule(
                p.sent_ms + PROXY_DELIVERY_MS,
                Task::DeliverProxy(Box::new(p)),
            )?;
        }
    }
    e.now_ms = e.now_ms.max(sc.start_ms + sc.duration_ms);
    let undelivered = e
        .queue
        .iter()
        .filter(|Reverse(q)| matches!(q.task, Task::Deliver(_)))
        .count() as u64;
    e.counts.telemetry_undelivered = undelivered;
    let t = e.t();
    e.line(&Line::End {
        t_ms: t,
        undelivered,
    });
    if let Some(err) = e.io_error.take() {
        return Err(SimError::Io(err));
    }
    e.counts.run_log_lines = e.log.lines;
    let injections = world.attack.injections(&e);
    let actions = world.door.outcomes(&e);
    let Engine {
        log,
        counts,
        egress,
        alerts,
        deliveries_per_hour,
        ..
    } = e;
    let digest = log.finish()?;
    Ok(RunOutput {
        summary: Summary {
            scenario: sc.id.clone(),
            title: sc.title.clone(),
            fixture: sc.fixture.clone(),
            seed: seed.0,
            version: env!("CARGO_PKG_VERSION"),
            start,
            duration_ms: sc.duration_ms,
            digest,
            counts,
            injections,
            actions,
            egress,
            alerts,
            detector_fault: world.fault,
            deliveries_per_hour,
        },
    })
}

struct World {
    detector: Option<Box<dyn crate::detect::Detect>>,
    /// Set when the detector failed; it is dropped (an external one is
    /// killed) and fed nothing more.
    fault: Option<DetectorFaultAt>,
    integrations: Vec<actors::Integration>,
    humans: Vec<actors::Human>,
    attack: attack::Attack,
    door: door::Door,
}

impl World {
    /// Starts the detector at offset 0 and schedules its first tick if it
    /// wants ticks (a detector without ticks adds no task).
    fn start(&mut self, e: &mut Engine) -> Result<(), SimError> {
        let Some(det) = self.detector.as_mut() else {
            return Ok(());
        };
        let every = det.tick_every_ms();
        let started = det.start(&e.sc.id, e.seed.0, e.sc.start_ms);
        self.feed(e, Some(started.map(|()| Vec::new())))?;
        if let (Some(every), Some(_)) = (every, &self.detector) {
            e.schedule(e.now_ms + every.max(1_000), Task::Tick)?;
        }
        Ok(())
    }

    /// A virtual-clock tick: the detector may alert or act; the next tick
    /// is scheduled while it is healthy.
    fn tick(&mut self, e: &mut Engine) -> Result<(), SimError> {
        let now = e.now_ms;
        let Some(det) = self.detector.as_mut() else {
            return Ok(());
        };
        let every = det.tick_every_ms();
        let seen = det.tick(now);
        self.feed(e, Some(seen))?;
        if let (Some(every), Some(_)) = (every, &self.detector) {
            e.schedule(now + every.max(1_000), Task::Tick)?;
        }
        Ok(())
    }

    /// What the detector under test answered to one delivered document or
    /// tick: its alerts go to the log, the summary and the containment
    /// door, then the actions it asked for go through the door; a fault is
    /// logged and ends its part in the run.
    fn feed(
        &mut self,
        e: &mut Engine,
        seen: Option<Result<Vec<crate::detect::Alert>, crate::detect::DetectorFault>>,
    ) -> Result<(), SimError> {
        let Some(seen) = seen else {
            return Ok(());
        };
        let t = e.t();
        let seen = match seen {
            Ok(seen) => seen,
            Err(fault) => {
                self.fail(e, fault);
                return Ok(());
            }
        };
        for a in seen {
            e.line(&Line::Alert {
                t_ms: t,
                rule_id: &a.rule_id,
                title: &a.title,
                level: &a.level,
                event_id: &a.event_id,
                user: a.user.as_deref(),
                session_key: a.session_key.as_deref(),
                source_ip: a.source_ip.as_deref(),
            });
            let now = e.now_ms;
            self.door.on_alert(e, &a.rule_id, &a.title, now)?;
            e.alerts.push(AlertAt { t_ms: t, alert: a });
        }
        let asked = self
            .detector
            .as_mut()
            .map(|d| d.take_actions())
            .unwrap_or_default();
        for r in asked {
            match crate::scenario::adhoc_action(&e.sc, &r.action, &r.target, r.after_ms, t) {
                Ok(a) => {
                    let now = e.now_ms;
                    self.door.request(e, a, now)?;
                }
                Err(why) => {
                    let fault = crate::detect::DetectorFault::malformed(format!(
                        "action `{}` {}: {why}",
                        r.action, r.target
                    ));
                    self.fail(e, fault);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Records the detector's fault and stops feeding it (dropping it ends
    /// an external process).
    fn fail(&mut self, e: &mut Engine, fault: crate::detect::DetectorFault) {
        let t = e.t();
        e.line(&Line::DetectorFault {
            t_ms: t,
            fault: fault.kind,
            detail: &fault.detail,
        });
        self.detector = None;
        self.fault.get_or_insert(DetectorFaultAt { t_ms: t, fault });
    }
}

/// `+1h 05m 10s` from a run offset in ms; `-` when absent.
pub fn fmt_offset(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("+{h}h{m:02}m{sec:02}s")
    } else {
        format!("+{m}m{sec:02}s")
    }
}
