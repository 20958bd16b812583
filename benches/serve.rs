//! `leakdrill serve` against a minimal axum server returning the same bytes,
//! side by side on loopback, for the two hot calls: a 200-record Contact
//! query page and an OAuth token grant. Both are plain HTTP/1.1 with
//! keep-alive and 32 requests in flight, so the difference is the mock's own
//! work (routing, auth, SOQL, permissions, telemetry). Goal: mock ≥ 0.7×.
//! Each sample is a closed loop (every client sends its next request as soon
//! as it has read the last response), as wrk and oha measure.
//! With `LEAKDRILL_BENCH_WIREMOCK_URL` set (as `benches/peers.sh` does), a
//! WireMock standalone server stubbed with the same bytes runs alongside
//! (goal: mock ≥ 10× WireMock).
//!
//! With `LEAKDRILL_BENCH_INTERLEAVED=ROUNDS` (as `benches/serve-paired.sh`
//! does) criterion is skipped: the mock and the reference instead take
//! turns, slice by slice (about 150 ms each, the order flipped every round),
//! and the median of the per-round ratios is printed. This machine's speed
//! drifts by up to half within a minute, so runs seconds apart are not
//! comparable and interleaved slices are. The state directory is then on
//! tmpfs when `/dev/shm` exists, so the kernel's deferred disk writeback of
//! the mock's telemetry cannot land in the reference's slices (the mock still
//! pays for every write(2) of `telemetry.ndjson`).

use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group};
use leakdrill::serve::{ServeConfig, start};

/// The allocator the `leakdrill` binary uses (src/main.rs), for the mock
/// and the reference alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const IN_FLIGHT: usize = 32;
const QUERY: &str =
    "SELECT Id, FirstName, LastName, Email, MailingCity, MailingState FROM Contact LIMIT 200";

struct Bodies {
    query: Vec<u8>,
    token: Vec<u8>,
}

async fn reference(bodies: Bodies) -> SocketAddr {
    use axum::routing::{get, post};
    let q = bodies.query.clone();
    let t = bodies.token.clone();
    let app = axum::Router::new()
        .route(
            "/services/data/v59.0/query",
            get(move || {
                let q = q.clone();
                async move { ([("content-type", "application/json;charset=UTF-8")], q) }
            }),
        )
        .route(
            "/services/oauth2/token",
            post(move || {
                let t = t.clone();
                async move { ([("content-type", "application/json;charset=UTF-8")], t) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

/// Stubs the two calls on a WireMock server with the mock's own bytes.
async fn stub_wiremock(client: &reqwest::Client, base: &str, query: &[u8], token: &[u8]) {
    for (method, path, body) in [
        ("GET", "/services/data/v59.0/query", query),
        ("POST", "/services/oauth2/token", token),
    ] {
        let mapping = serde_json::json!({
            "request": { "method": method, "urlPath": path },
            "response": {
                "status": 200,
                "headers": { "Content-Type": "application/json;charset=UTF-8" },
                "body": String::from_utf8_lossy(body),
            }
        });
        let r = client
            .post(format!("{base}/__admin/mappings"))
            .json(&mapping)
            .send()
            .await
            .expect("WireMock admin API");
        assert!(r.status().is_success(), "WireMock stub: {}", r.status());
    }
}

/// Both servers up, a token, and the request each call sends.
struct Setup {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    token: String,
    form: Vec<(String, String)>,
    /// (name, base URL): the mock, the reference, and WireMock when named.
    targets: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

fn setup(interleaved: bool) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let shm = std::path::Path::new("/dev/shm");
    let dir = if interleaved && shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let org = leakdrill::fixture::resolve("fintech-wealth").expect("fixture");
    let cfg = ServeConfig {
        subjects: 1000,
        seed: 42,
        addr: "127.0.0.1:0".parse().expect("addr"),
        state_dir: dir.path().to_owned(),
        plain_http: true,
        allow_non_loopback: false,
        daily_api_requests: Some(u64::MAX / 2),
    };
    let (ep, _server) = rt
        .block_on(start(org, cfg, std::future::pending()))
        .expect("start");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ep.serve_json).expect("serve.json")).expect("json");
    let user = json["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"].as_str().unwrap_or("").starts_with("etl."))
        .expect("etl")
        .clone();
    let app = json["connected_apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["name"] == "warehouse-etl")
        .expect("app")
        .clone();
    let form: Vec<(String, String)> = vec![
        ("grant_type".into(), "password".into()),
        (
            "client_id".into(),
            app["client_id"].as_str().unwrap_or("").into(),
        ),
        (
            "client_secret".into(),
            app["client_secret"].as_str().unwrap_or("").into(),
        ),
        (
            "username".into(),
            user["username"].as_str().unwrap_or("").into(),
        ),
        (
            "password".into(),
            format!(
                "{}{}",
                user["password"].as_str().unwrap_or(""),
                user["security_token"].as_str().unwrap_or("")
            ),
        ),
    ];
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let mock = ep.instance_url.clone();
    let (token_bytes, token) = rt.block_on(async {
        let r = client
            .post(format!("{mock}/services/oauth2/token"))
            .form(&form)
            .send()
            .await
            .expect("token");
        let b = r.bytes().await.expect("body").to_vec();
        let v: serde_json::Value = serde_json::from_slice(&b).expect("token json");
        (b, v["access_token"].as_str().unwrap_or("").to_owned())
    });
    let query_bytes = rt.block_on(async {
        client
            .get(format!("{mock}/services/data/v59.0/query"))
            .query(&[("q", QUERY)])
            .bearer_auth(&token)
            .send()
            .await
            .expect("query")
            .bytes()
            .await
            .expect("body")
            .to_vec()
    });
    assert!(query_bytes.len() > 20_000, "a 200-record page");
    let (query_bytes_for_stub, token_bytes_for_stub) = (query_bytes.clone(), token_bytes.clone());
    let reference_url = format!(
        "http://{}",
        rt.block_on(reference(Bodies {
            query: query_bytes,
            token: token_bytes
        }))
    );

    let mut targets = vec![
        ("leakdrill", mock.clone()),
        ("reference", reference_url.clone()),
    ];
    // `benches/peers.sh` starts WireMock standalone (Java) and names it
    // here; the same bytes are stubbed through its admin API.
    if let Ok(wm) = std::env::var("LEAKDRILL_BENCH_WIREMOCK_URL") {
        rt.block_on(stub_wiremock(
            &client,
            &wm,
            &query_bytes_for_stub,
            &token_bytes_for_stub,
        ));
        targets.push(("wiremock", wm));
    }
    Setup {
        rt,
        client,
        token,
        form,
        targets,
        _dir: dir,
    }
}

/// The two calls measured, as named in the results.
const CALLS: [&str; 2] = ["query_200", "token"];

/// A request builder for a client to send again and again.
type MakeRequest = Box<dyn Fn() -> reqwest::RequestBuilder + Send + Sync>;

impl Setup {
    /// `call` (one of [`CALLS`]) against `base`: the 200-record query page
    /// with the token, or the password grant with the form.
    fn request(&self, call: &str, base: &str) -> MakeRequest {
        let c = self.client.clone();
        if call == "token" {
            let (url, f) = (format!("{base}/services/oauth2/token"), self.form.clone());
            Box::new(move || c.post(&url).form(&f))
        } else {
            let url = format!("{base}/services/data/v59.0/query");
            let tok = self.token.clone();
            Box::new(move || c.get(&url).query(&[("q", QUERY)]).bearer_auth(&tok))
        }
    }
}

fn bench(c: &mut Criterion) {
    let s = setup(false);
    let mut g = c.benchmark_group("serve_vs_minimal_axum");
    g.throughput(Throughput::Elements(IN_FLIGHT as u64));
    for (name, base) in &s.targets {
        for call in CALLS {
            g.bench_function(format!("{call}/{name}"), |b| {
                b.iter_custom(|iters| s.rt.block_on(closed_loop(iters, s.request(call, base))));
            });
        }
    }
    g.finish();
}

/// Sends `iters × IN_FLIGHT` requests from `IN_FLIGHT` clients that each
/// send their next request as soon as the last response is read (a closed
/// loop, as wrk and oha measure), and returns the time taken. No barrier
/// between batches, so one slow response does not idle the others.
async fn closed_loop<F>(iters: u64, request: F) -> std::time::Duration
where
    F: Fn() -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    let total = iters * IN_FLIGHT as u64;
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let request = std::sync::Arc::new(request);
    #[allow(clippy::disallowed_methods)] // a benchmark times wall clock
    let start = std::time::Instant::now();
    let clients: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (sent, request) = (sent.clone(), request.clone());
            tokio::spawn(async move {
                while sent.fetch_add(1, Ordering::Relaxed) < total {
                    let r = request().send().await.expect("send");
                    assert!(r.status().is_success(), "{}", r.status());
                    r.bytes().await.expect("body");
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    start.elapsed()
}

/// The mock and the reference take turns, `rounds` slices each per call,
/// and the median ratio of their throughputs is printed.
fn interleaved(rounds: usize) {
    let s = setup(true);
    let (mock, reference) = (&s.targets[0].1, &s.targets[1].1);
    for name in CALLS {
        // Warm up both, then size a slice to about 150 ms of the reference.
        let warm = |base: &str, iters| s.rt.block_on(closed_loop(iters, s.request(name, base)));
        // Wall time and process CPU time of one slice.
        let slice = |base: &str, iters| {
            let cpu = cpu_seconds();
            let wall = warm(base, iters);
            (wall, cpu_seconds() - cpu)
        };
        warm(mock, 20);
        let per_iter = warm(reference, 50) / 50;
        let iters = (std::time::Duration::from_millis(150).as_nanos() / per_iter.as_nanos().max(1))
            .clamp(4, 2000) as u64;
        let mut ratios = Vec::with_capacity(rounds);
        let (mut mock_s, mut ref_s, mut mock_cpu, mut ref_cpu) = (0.0, 0.0, 0.0, 0.0);
        for round in 0..rounds {
            let ((m, mc), (r, rc)) = if round % 2 == 0 {
                let m = slice(mock, iters);
                (m, slice(reference, iters))
            } else {
                let r = slice(reference, iters);
                (slice(mock, iters), r)
            };
            ratios.push(r.as_secs_f64() / m.as_secs_f64());
            mock_s += m.as_secs_f64();
            ref_s += r.as_secs_f64();
            mock_cpu += mc;
            ref_cpu += rc;
        }
        ratios.sort_by(f64::total_cmp);
        let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
        let requests = (rounds as u64 * iters * IN_FLIGHT as u64) as f64;
        println!(
            "{name}: mock/reference median {:.2}x (quartiles {:.2}-{:.2}, {rounds} interleaved rounds of {} requests each); \
             mock {:.1}k req/s, reference {:.1}k req/s over the same rounds; \
             process CPU per request (server and client) mock {:.1} us, reference {:.1} us, \
             cores busy mock {:.2}, reference {:.2}; goal 0.7x",
            q(0.5),
            q(0.25),
            q(0.75),
            iters * IN_FLIGHT as u64,
            requests / mock_s / 1e3,
            requests / ref_s / 1e3,
            mock_cpu / requests * 1e6,
            ref_cpu / requests * 1e6,
            mock_cpu / mock_s,
            ref_cpu / ref_s,
        );
    }
}

/// This process's CPU time so far (all threads, user and system), from
/// `/proc/self/stat`; 0 where that is unreadable.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    ticks / 100.0 // USER_HZ
}

criterion_group!(benches, bench);

fn main() {
    if let Some(rounds) = std::env::var("LEAKDRILL_BENCH_INTERLEAVED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        interleaved(rounds.max(1));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
