//! Rule evaluation throughput (issue 6's goal: ≥ 1,000,000 events/s per
//! core) of the built-in Sigma pack with its correlations, on the compiled
//! backend and on rsigma.
//!
//! The corpus is all scenarios' telemetry: every catalogue scenario in
//! `scenarios/*/*.yaml` run once through the simulator at its own seed
//! with the built-in pack, recording each document the detector is handed
//! in delivery order (real-time Event Monitoring events after chaos
//! delays, duplicates and skew, plus egress proxy records). The real-time
//! events are rebuilt from their documents (checked: `detect::document`
//! of the rebuilt event is the delivered document) so building documents
//! can be measured too. Measured, per delivered document:
//!
//! * `scenarios/document`: `detect::document` of every real-time event
//!   (the event → Sigma document mapping alone);
//! * `scenarios/compiled_observe`: the compiled backend (the default) as
//!   the simulator drives it — a fresh pack, each real-time event typed
//!   (`Detector::observe`, no JSON), each proxy record as its document;
//! * `scenarios/compiled_observe_document`: the compiled backend over the
//!   prebuilt documents (`Detector::observe_document`);
//! * `scenarios/rsigma_observe_document`: a fresh pack on the rsigma
//!   backend over the prebuilt documents (rsigma plus alert mapping);
//! * `scenarios/rsigma_process`: the same engine driven directly
//!   (`CorrelationEngine::process_event_at`, no alert mapping): rsigma's
//!   own cost, the floor for the two above;
//! * `scenarios/rsigma_evaluate`: rsigma's stateless detection alone
//!   (`CorrelationEngine::evaluate`: logsource pruning, candidate index,
//!   rule matching; no correlation state);
//! * `scenarios/rsigma_observe`: the rsigma backend as the simulator
//!   drives it — document building + evaluation per real-time event,
//!   `observe_document` of each proxy record.
//!
//! Before measuring, the compiled backend's alerts on the corpus are
//! checked equal to rsigma's. Stateful benches build a fresh pack per
//! iteration and hand it back, so neither building nor dropping its
//! correlation state is timed.
//!
//! `synthetic/{compiled,rsigma}_observe` keep the older synthetic corpus (20,000 logins,
//! queries, Bulk API downloads and REST calls, 200 users, 1 s apart).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `leakdrill` binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use leakdrill::detect::{
    Alert, Backend, Delivered as Record, Detect, Detector, DetectorFault, Rules,
};
use leakdrill::seed::Seed;
use leakdrill::sfdc::telemetry::{Event, EventKind};
use leakdrill::sfdc::{Method, Request};
use rsigma_eval::event::JsonEvent;
use serde_json::Value;

const T0: i64 = 1_772_800_000_000;

/// 20,000 events: 60 % queries, 25 % logins (a tenth failed), 10 % bulk
/// results, 5 % other REST calls; 200 users, 50 addresses, 1 s apart.
fn synthetic() -> Vec<Event> {
    let req = Request::new(Method::Get, "/services/data/v62.0/query");
    (0..20_000u64)
        .map(|k| {
            let mut e = Event::new(k, T0 + k as i64 * 1000, &req, "00D000000000001AAA", Seed(7));
            let user = k % 200;
            e.username = Some(format!("user{user:03}@corp.example.com"));
            e.user_id = Some(format!("005{user:015}"));
            e.source_ip = Ipv4Addr::new(198, 51, 100, (user % 50) as u8).to_string();
            e.session_key = Some(format!("sess{user:03}"));
            e.event_date = leakdrill::sfdc::sf_datetime(e.t_ms);
            match k % 20 {
                0..12 => {
                    e.kind = EventKind::Query;
                    e.rows_processed = 200;
                    e.query = Some("SELECT Id, Email FROM Contact".into());
                }
                12..17 => {
                    e.kind = EventKind::Login;
                    e.login_type = Some("Remote Access 2.0");
                    e.status = Some(
                        if k % 10 == 3 {
                            "Invalid Password"
                        } else {
                            "Success"
                        }
                        .into(),
                    );
                }
                17..19 => {
                    e.kind = EventKind::BulkResult;
                    e.rows_processed = 2000;
                }
                _ => e.kind = EventKind::Rest,
            }
            e
        })
        .collect()
}

/// The built-in pack, recording every document it is handed (shared so
/// the documents outlive the run that owns the detector).
struct Recorder {
    inner: Detector,
    docs: Arc<Mutex<Vec<(Value, i64)>>>,
}

impl Detect for Recorder {
    fn observe(&mut self, d: Record<'_>, t_ms: i64) -> Result<Vec<Alert>, DetectorFault> {
        let doc = d.document().into_owned();
        let alerts = self.inner.observe_document(&doc, t_ms);
        self.docs.lock().expect("docs").push((doc, t_ms));
        Ok(alerts)
    }
}

/// One delivered document: a real-time event (kept as the event) or an
/// egress proxy record (kept as its document).
enum Delivered {
    Event(Box<Event>),
    Proxy(Value, i64),
}

/// Every catalogue scenario's delivered documents, scenario by scenario
/// (path order), in delivery order.
fn scenario_corpus() -> Vec<(Value, i64)> {
    // The catalogue as the binary embeds it, in path order.
    let cases = leakdrill::suite::plan_builtin(1).expect("catalogue").cases;
    assert!(!cases.is_empty(), "no catalogue scenarios");
    let mut all = Vec::new();
    for case in cases {
        let sc = case.scenario;
        let docs = Arc::new(Mutex::new(Vec::new()));
        let rec = Recorder {
            inner: rsigma_pack(),
            docs: docs.clone(),
        };
        leakdrill::sim::run_detected(
            sc.clone(),
            sc.seed,
            leakdrill::sim::Limits::default(),
            Box::new(std::io::sink()),
            Some(Box::new(rec)),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", sc.id));
        all.append(&mut docs.lock().expect("docs"));
    }
    all
}

/// Interns the `&'static str` fields of [`Event`].
fn intern(pool: &mut BTreeMap<String, &'static str>, s: &str) -> &'static str {
    if let Some(v) = pool.get(s) {
        return v;
    }
    let v: &'static str = Box::leak(s.to_owned().into_boxed_str());
    pool.insert(s.to_owned(), v);
    v
}

/// The event a real-time document was built from.
fn event_of(doc: &Value, t_ms: i64, pool: &mut BTreeMap<String, &'static str>) -> Event {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| doc.get(k).and_then(Value::as_u64).unwrap_or_default();
    let kind = match doc["EventType"].as_str().unwrap_or_default() {
        "LoginEvent" => EventKind::Login,
        "LogoutEvent" => EventKind::Logout,
        "ApiEvent" => EventKind::Query,
        "BulkApiResultEvent" => EventKind::BulkResult,
        "ReportEvent" => EventKind::Report,
        "PermissionSetEvent" | "SetupAuditTrail" => EventKind::Setup,
        _ => EventKind::Rest,
    };
    Event {
        seq: 0,
        kind,
        t_ms,
        event_date: s("EventDate").unwrap_or_default(),
        event_identifier: s("EventIdentifier").unwrap_or_default(),
        request_identifier: s("RequestIdentifier").unwrap_or_default(),
        organization_id: s("OrganizationId").unwrap_or_default(),
        user_id: s("UserId"),
        username: s("Username"),
        source_ip: s("SourceIp").unwrap_or_default(),
        country_iso: s("CountryIso"),
        login_url: s("LoginUrl").unwrap_or_default(),
        session_key: s("SessionKey"),
        login_key: s("LoginKey"),
        connected_app_id: s("ConnectedAppId"),
        connected_app_name: s("ConnectedAppName"),
        client: s("Client"),
        user_agent: s("UserAgent"),
        http_method: s("HttpMethod").unwrap_or_default(),
        uri: s("Uri").unwrap_or_default(),
        status_code: n("StatusCode") as u16,
        api_type: intern(pool, doc["ApiType"].as_str().unwrap_or_default()),
        api_version: s("ApiVersion"),
        operation: s("Operation"),
        query: s("Query"),
        queried_entities: s("QueriedEntities"),
        rows_processed: n("RowsProcessed"),
        rows_returned: n("RowsReturned"),
        records: doc["Records"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| leakdrill::sfid::Id::new(r.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        classes: Default::default(),
        login_type: doc["LoginType"].as_str().map(|x| intern(pool, x)),
        status: s("Status"),
        error_code: s("ErrorCode"),
        detail: s("Detail"),
    }
}

/// The corpus as the simulator holds it: events, and proxy documents.
fn delivered(docs: &[(Value, i64)]) -> Vec<Delivered> {
    let mut pool = BTreeMap::new();
    docs.iter()
        .map(|(doc, t_ms)| {
            if doc.get("category").and_then(Value::as_str) == Some("proxy") {
                Delivered::Proxy(doc.clone(), *t_ms)
            } else {
                let ev = event_of(doc, *t_ms, &mut pool);
                assert_eq!(
                    leakdrill::detect::document(&ev),
                    *doc,
                    "rebuilt event maps to the delivered document"
                );
                Delivered::Event(Box::new(ev))
            }
        })
        .collect()
}

/// The built-in pack on rsigma (the oracle).
fn rsigma_pack() -> Detector {
    Rules::builtin()
        .detector_with(Backend::Rsigma)
        .expect("pack")
}

/// The built-in pack on the compiled backend.
fn compiled_pack() -> Detector {
    let d = Rules::builtin().detector().expect("pack");
    assert_eq!(d.backend(), Backend::Compiled, "{d:?}");
    d
}

/// The engine [`Rules::detector_with`] builds for rsigma, without
/// leakdrill's wrapper.
fn raw_engine() -> rsigma_eval::CorrelationEngine {
    let mut engine = rsigma_eval::CorrelationEngine::new(rsigma_eval::CorrelationConfig {
        suppress: Some(0),
        ..rsigma_eval::CorrelationConfig::default()
    });
    engine.set_logsource_extractor(Some(rsigma_eval::LogSourceExtractor::new()));
    for (_, text) in &Rules::builtin().files {
        let coll = rsigma_parser::parse_sigma_yaml(text).expect("rule");
        engine.add_collection(&coll).expect("compile");
    }
    engine
}

fn bench(c: &mut Criterion) {
    let docs = scenario_corpus();
    let corpus = delivered(&docs);
    let events: Vec<&Event> = corpus
        .iter()
        .filter_map(|d| match d {
            Delivered::Event(e) => Some(&**e),
            Delivered::Proxy(..) => None,
        })
        .collect();
    let alerts = {
        let mut d = rsigma_pack();
        docs.iter()
            .map(|(doc, t)| d.observe_document(doc, *t))
            .collect::<Vec<_>>()
    };
    let compiled = {
        let mut d = compiled_pack();
        corpus
            .iter()
            .map(|x| match x {
                Delivered::Event(e) => d.observe(e),
                Delivered::Proxy(doc, t) => d.observe_document(doc, *t),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(compiled, alerts, "compiled backend = rsigma on the corpus");
    let alerts = alerts.iter().map(Vec::len).sum::<usize>();
    eprintln!(
        "corpus: {} delivered documents ({} real-time events, {} proxy records), {alerts} alerts",
        docs.len(),
        events.len(),
        docs.len() - events.len()
    );

    let mut g = c.benchmark_group("scenarios");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("document", |b| {
        b.iter(|| {
            events
                .iter()
                .map(|e| match leakdrill::detect::document(e) {
                    Value::Object(m) => m.len(),
                    _ => 0,
                })
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Elements(docs.len() as u64));
    g.bench_function("rsigma_observe_document", |b| {
        b.iter_batched(
            rsigma_pack,
            |mut d| {
                let n = docs
                    .iter()
                    .map(|(doc, t)| d.observe_document(doc, *t).len())
                    .sum::<usize>();
                (n, d)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("rsigma_process", |b| {
        b.iter_batched(
            raw_engine,
            |mut engine| {
                let n = docs
                    .iter()
                    .map(|(doc, t)| {
                        engine
                            .process_event_at(&JsonEvent::borrow(doc), t.div_euclid(1000))
                            .len()
                    })
                    .sum::<usize>();
                (n, engine)
            },
            BatchSize::PerIteration,
        )
    });
    let engine = raw_engine();
    g.bench_function("rsigma_evaluate", |b| {
        b.iter(|| {
            docs.iter()
                .map(|(doc, _)| engine.evaluate(&JsonEvent::borrow(doc)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("rsigma_observe", |b| {
        b.iter_batched(
            rsigma_pack,
            |mut d| {
                let n = corpus
                    .iter()
                    .map(|x| match x {
                        Delivered::Event(e) => d.observe(e).len(),
                        Delivered::Proxy(doc, t) => d.observe_document(doc, *t).len(),
                    })
                    .sum::<usize>();
                (n, d)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("compiled_observe", |b| {
        b.iter_batched(
            compiled_pack,
            |mut d| {
                let n = corpus
                    .iter()
                    .map(|x| match x {
                        Delivered::Event(e) => d.observe(e).len(),
                        Delivered::Proxy(doc, t) => d.observe_document(doc, *t).len(),
                    })
                    .sum::<usize>();
                (n, d)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("compiled_observe_document", |b| {
        b.iter_batched(
            compiled_pack,
            |mut d| {
                let n = docs
                    .iter()
                    .map(|(doc, t)| d.observe_document(doc, *t).len())
                    .sum::<usize>();
                (n, d)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let events = synthetic();
    let mut g = c.benchmark_group("synthetic");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("rsigma_observe", |b| {
        b.iter_batched(
            rsigma_pack,
            |mut d| (events.iter().map(|e| d.observe(e).len()).sum::<usize>(), d),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("compiled_observe", |b| {
        b.iter_batched(
            compiled_pack,
            |mut d| (events.iter().map(|e| d.observe(e).len()).sum::<usize>(), d),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
