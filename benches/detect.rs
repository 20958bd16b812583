//! Rule evaluation throughput: the built-in Sigma pack (rsigma, with its
//! correlations) over a corpus of telemetry events as the org emits them —
//! logins and failed logins from many addresses, query pages, Bulk API
//! result downloads, REST calls — including the event → Sigma document
//! mapping. Issue 6's goal: ≥ 1,000,000 events/s per core.

use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leakdrill::detect::Rules;
use leakdrill::seed::Seed;
use leakdrill::sfdc::telemetry::{Event, EventKind};
use leakdrill::sfdc::{Method, Request};

const T0: i64 = 1_772_800_000_000;

/// 20,000 events: 60 % queries, 25 % logins (a tenth failed), 10 % bulk
/// results, 5 % other REST calls; 200 users, 50 addresses, 1 s apart.
fn corpus() -> Vec<Event> {
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

fn bench(c: &mut Criterion) {
    let events = corpus();
    let mut g = c.benchmark_group("detect");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("builtin_pack_20k_events", |b| {
        b.iter(|| {
            let mut d = Rules::builtin().detector().expect("pack");
            events.iter().map(|e| d.observe(e).len()).sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
