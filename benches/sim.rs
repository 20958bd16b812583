//! The simulator on a busy org: 72 simulated hours of fintech-wealth with
//! its integrations plus six more high-frequency ones (13 in all), 40 human
//! users, and a leaked-token scrape, through the whole engine (org, run
//! log with digest, telemetry delivery). PRODUCT's bar: ≥ 10 integrations
//! and ≥ 1,000,000 API calls in ≤ 5 s; the bench prints the call count so
//! calls/s can be read off the time.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `leakdrill` binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use leakdrill::sim::{Limits, run};

const EXTRA: &str = r#"
  - { id: core-banking-sync-2, title: Second core banking feed, kind: sync, user: corebanking.sync@northwind-wealth.example.com, connected_app: core-banking-connector, network: core-banking-dc, schedule: { every: 1m }, objects: [FinancialAccount__c], fields_used: [FinancialAccount__c.Balance__c] }
  - { id: core-banking-sync-3, title: Third core banking feed, kind: sync, user: corebanking.sync@northwind-wealth.example.com, connected_app: core-banking-connector, network: core-banking-dc, schedule: { every: 1m }, objects: [FinancialAccount__c], fields_used: [FinancialAccount__c.Balance__c] }
  - { id: portal-middleware-2, title: Portal flow 2, kind: middleware, user: portal.middleware@northwind-wealth.example.com, connected_app: client-portal, network: ipaas-cloud, schedule: { every: 1m }, objects: [Contact], fields_used: [Contact.FirstName, Contact.LastName] }
  - { id: portal-middleware-3, title: Portal flow 3, kind: middleware, user: portal.middleware@northwind-wealth.example.com, connected_app: client-portal, network: ipaas-cloud, schedule: { every: 1m }, objects: [Contact], fields_used: [Contact.FirstName, Contact.LastName] }
  - { id: portal-middleware-4, title: Portal flow 4, kind: middleware, user: portal.middleware@northwind-wealth.example.com, connected_app: client-portal, network: ipaas-cloud, schedule: { every: 1m }, objects: [Contact], fields_used: [Contact.FirstName, Contact.LastName] }
  - { id: kyc-vendor-2, title: Second KYC vendor, kind: lookup, user: kyc.vendor@northwind-wealth.example.com, connected_app: kyc-vendor-app, network: kyc-vendor, schedule: on_demand, objects: [Contact], fields_used: [Contact.FirstName, Contact.LastName] }
"#;

const SCENARIO: &str = r#"
id: bench-busy-org
fixture: FIXTURE
records: 2000
start: 2026-03-02T00:00:00Z
duration: 72h
traffic:
  integrations: all
  humans: { users: 40, office_hours: true }
attack:
  - { id: leak, kind: credential_leak, source: ci_log, credential: { kind: refresh_token, connected_app: warehouse-etl } }
  - { id: replay, kind: oauth_refresh, credential: leak, at: 5h, from: { network: vps-frankfurt } }
  - { id: scrape, kind: scrape, session: replay, at: 5h, objects: [Contact], page_size: 200, pace: { every: 5m, jitter: 1m } }
"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, _, text) = leakdrill::fixture::BUILTIN
        .iter()
        .find(|(n, _, _)| *n == "fintech-wealth")
        .expect("fixture");
    let fixture = text.replace("\nsandboxes:", &format!("{EXTRA}\nsandboxes:"));
    let fpath = dir.path().join("busy.yaml");
    std::fs::write(&fpath, fixture).expect("write");
    let sc = leakdrill::scenario::load_str(
        "bench.yaml",
        &SCENARIO.replace("FIXTURE", fpath.to_str().expect("utf8")),
        None,
    )
    .expect("scenario");
    assert!(sc.integrations.len() >= 10, "≥ 10 integrations");
    let sc = Arc::new(sc);
    let calls = run(sc.clone(), 1, Limits::default(), Box::new(std::io::sink()))
        .expect("run")
        .summary
        .counts
        .api_calls;
    eprintln!(
        "busy org: {} integrations, {calls} API calls in 72 simulated hours",
        sc.integrations.len()
    );
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.throughput(Throughput::Elements(calls));
    g.bench_function("busy_org_72h", |b| {
        b.iter(|| run(sc.clone(), 1, Limits::default(), Box::new(std::io::sink())).expect("run"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
