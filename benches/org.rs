//! The org state machine without HTTP: `OrgState::handle` for the two hot
//! calls the `serve` bench measures over the wire (a 200-record Contact query
//! page and an OAuth password grant). The difference between this and
//! `serve` is the HTTP edge; this is the mock's own work.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

/// The allocator the `leakdrill` binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use leakdrill::seed::Seed;
use leakdrill::sfdc::{Method, Options, OrgState, Request};

const NOW_MS: i64 = 1_767_225_600_000;
const QUERY: &str =
    "SELECT Id, FirstName, LastName, Email, MailingCity, MailingState FROM Contact LIMIT 200";

fn bench(c: &mut Criterion) {
    let org = Arc::new(leakdrill::fixture::resolve("fintech-wealth").expect("fixture"));
    let mut opts = Options::for_org(&org);
    opts.daily_api_requests = u64::MAX / 2;
    let mut s = OrgState::new(org, 1000, Seed(42), opts).expect("org");
    let u = s
        .org
        .users
        .iter()
        .position(|u| u.username.starts_with("etl."))
        .expect("etl user");
    let a = s
        .org
        .connected_apps
        .iter()
        .position(|a| a.name == "warehouse-etl")
        .expect("app");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "password")
        .append_pair("client_id", &s.auth.apps[a].client_id)
        .append_pair("client_secret", &s.auth.apps[a].client_secret)
        .append_pair("username", &s.org.users[u].username)
        .append_pair(
            "password",
            &format!(
                "{}{}",
                s.auth.users[u].password, s.auth.users[u].security_token
            ),
        )
        .finish();
    let token_req = Request::new(Method::Post, "/services/oauth2/token")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(form)
        .from_ip("198.51.100.10".parse().expect("ip"));
    let (r, _) = s.handle(NOW_MS, &token_req);
    assert_eq!(r.status, 200, "token grant");
    let token = r.body_json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut query_req = Request::new(Method::Get, "/services/data/v59.0/query")
        .with_header("authorization", &format!("Bearer {token}"))
        .from_ip("198.51.100.10".parse().expect("ip"));
    query_req.query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", QUERY)
        .finish();
    let (r, _) = s.handle(NOW_MS, &query_req);
    assert_eq!(r.status, 200, "query");

    let mut g = c.benchmark_group("org_handle");
    let mut now = NOW_MS;
    g.bench_function("query_200", |b| {
        b.iter(|| {
            now += 1;
            s.handle(now, &query_req).0.body.len()
        })
    });
    // What `serve` does per query: the call and its NDJSON telemetry line.
    let mut line = Vec::new();
    g.bench_function("query_200_and_ndjson", |b| {
        b.iter(|| {
            now += 1;
            let (r, ev) = s.handle(now, &query_req);
            line.clear();
            ev.write_json(&mut line);
            r.body.len() + line.len()
        })
    });
    g.bench_function("token", |b| {
        b.iter(|| {
            now += 1;
            s.handle(now, &token_req).0.body.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
