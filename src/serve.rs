//! `leakdrill serve`: the mock org over HTTPS (axum/hyper + rustls) with a
//! generated local CA, and an HTTP CONNECT egress proxy on the same port that
//! lets unmodified clients reach the mock under Salesforce's real host names
//! (`login.salesforce.com`, `*.my.salesforce.com`) and refuses everything
//! else. Writes `ca.pem`, `serve.json` and `telemetry.ndjson` to the state
//! directory.
//!
//! Owns: sockets, TLS, the wall clock and files for the server. Must not:
//! implement Salesforce behaviour (that is `sfdc::OrgState`), contact any
//! host, or hold the org lock across I/O.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, Method as HttpMethod, StatusCode};
use axum::response::Response as HttpResponse;
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::model::Org;
use crate::seed::Seed;
use crate::sfdc::{self, MAX_BODY_BYTES, Options, OrgState};

/// Hosts the CONNECT proxy terminates locally; everything else is refused.
pub fn is_salesforce_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    matches!(h.as_str(), "login.salesforce.com" | "test.salesforce.com")
        || (h.ends_with(".my.salesforce.com") && h.len() > ".my.salesforce.com".len())
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0}: not a loopback address\n  = hint: pass --allow-non-loopback to expose the mock on the network (it holds fake PII and well-known test credentials)"
    )]
    NonLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot write {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot create the local CA: {0}")]
    Tls(String),
    #[error("{0}")]
    Plan(#[from] crate::pii::PlanError),
}

/// What `serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub subjects: u64,
    pub seed: u64,
    pub addr: SocketAddr,
    pub state_dir: PathBuf,
    pub plain_http: bool,
    pub allow_non_loopback: bool,
    pub daily_api_requests: Option<u64>,
}

/// Where a running server can be reached (also written to `serve.json`).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub addr: SocketAddr,
    pub instance_url: String,
    pub proxy_url: String,
    pub ca_cert: Option<PathBuf>,
    pub serve_json: PathBuf,
    pub telemetry: PathBuf,
}

struct App {
    /// Exclusive for a request's state changes, shared while its query
    /// page is rendered.
    /// tokio's lock: a request waiting for the org yields its worker to
    /// other connections instead of parking the thread (a parked worker
    /// left half of the 2 cores idle under load).
    org: tokio::sync::RwLock<OrgState>,
    /// Lines for the telemetry writer thread (bounded: back-pressure, not loss).
    telemetry: Arc<TelemetryQueue>,
    egress: Mutex<std::io::BufWriter<std::fs::File>>,
    tls: Option<TlsAcceptor>,
    /// Stubs for the fixture's third-party endpoints.
    sinks: crate::sinks::Sinks,
}

/// Per-connection facts handed to the API handler.
#[derive(Debug, Clone)]
struct Conn {
    peer: SocketAddr,
    /// `https://host` for connections tunnelled through the proxy.
    base_override: Option<String>,
    scheme: &'static str,
    /// A tunnel to a stubbed third-party host: requests go to its stub.
    sink: Option<String>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServeError + '_ {
    move |cause| ServeError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// How long a client may take to send its first byte, finish the TLS
/// handshake, or send a request's headers.
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a request body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn make_tls(
    org: &Org,
    dir: &Path,
    bind: IpAddr,
    extra_names: Vec<String>,
) -> Result<(TlsAcceptor, PathBuf), ServeError> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let tls = |e: rcgen::Error| ServeError::Tls(e.to_string());
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        DnType::CommonName,
        "leakdrill local test CA (fake data only)",
    );
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls)?).map_err(tls)?;
    let mut names = vec![
        "localhost".to_owned(),
        "login.salesforce.com".to_owned(),
        "test.salesforce.com".to_owned(),
        "*.my.salesforce.com".to_owned(),
        format!("{}.my.salesforce.com", org.instance),
    ];
    // The stubbed third-party endpoints (reserved test domains only).
    names.extend(extra_names);
    let mut params = CertificateParams::new(names).map_err(tls)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    if !bind.is_loopback() && !bind.is_unspecified() {
        // So `instance_url` works when listening on a non-loopback address.
        params.subject_alt_names.push(SanType::IpAddress(bind));
    }
    params
        .distinguished_name
        .push(DnType::CommonName, "leakdrill mock Salesforce");
    let key = KeyPair::generate().map_err(tls)?;
    let cert = params.signed_by(&key, &ca).map_err(tls)?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).map_err(io_err(&ca_path))?;
    let chain = vec![cert.der().clone(), ca.der().clone()];
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(cfg)), ca_path))
}

/// Starts the server and returns once it is listening; the future it hands
/// back runs until `shutdown` resolves.
pub async fn start(
    org: Org,
    cfg: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(Endpoints, tokio::task::JoinHandle<()>), ServeError> {
    if !cfg.addr.ip().is_loopback() && !cfg.allow_non_loopback {
        return Err(ServeError::NonLoopback(cfg.addr));
    }
    std::fs::create_dir_all(&cfg.state_dir).map_err(io_err(&cfg.state_dir))?;
    let org = Arc::new(org);
    let mut opts = Options::for_org(&org);
    if let Some(n) = cfg.daily_api_requests {
        opts.daily_api_requests = n;
    }
    let state = OrgState::new(org.clone(), cfg.subjects, Seed(cfg.seed), opts)?;
    let listener = TcpListener::bind(cfg.addr)
        .await
        .map_err(|cause| ServeError::Bind {
            addr: cfg.addr,
            cause,
        })?;
    let addr = listener.local_addr().map_err(|cause| ServeError::Bind {
        addr: cfg.addr,
        cause,
    })?;
    let sinks = crate::sinks::Sinks::start(&org, &cfg.state_dir)
        .await
        .map_err(io_err(&cfg.state_dir))?;
    let (tls, ca_path) = if cfg.plain_http {
        (None, None)
    } else {
        let https_sinks = sinks
            .iter()
            .filter(|s| s.scheme == "https")
            .map(|s| s.host.clone())
            .collect();
        let (t, p) = make_tls(&org, &cfg.state_dir, addr.ip(), https_sinks)?;
        (Some(t), Some(p))
    };
    let scheme = if cfg.plain_http { "http" } else { "https" };
    let instance_url = format!("{scheme}://{addr}");
    let proxy_url = format!("http://{addr}");
    let telemetry_path = cfg.state_dir.join("telemetry.ndjson");
    let egress_path = cfg.state_dir.join("egress.ndjson");
    let create = |p: &Path| std::fs::File::create(p).map_err(io_err(p));
    let jwt_key = cfg.state_dir.join("jwt-private-key.pem");
    std::fs::write(&jwt_key, JWT_TEST_KEY).map_err(io_err(&jwt_key))?;
    let serve_json = cfg.state_dir.join("serve.json");
    let mut doc = serve_json_doc(
        &state,
        &instance_url,
        &proxy_url,
        ca_path.as_deref(),
        &telemetry_path,
        &jwt_key,
    );
    doc["sinks"] = sinks.describe();
    doc["captured"] = json!(sinks.capture_path.display().to_string());
    doc["egress_log"] = json!(egress_path.display().to_string());
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    std::fs::write(&serve_json, text).map_err(io_err(&serve_json))?;
    let app = Arc::new(App {
        org: tokio::sync::RwLock::new(state),
        telemetry: spawn_telemetry_writer(create(&telemetry_path)?),
        egress: Mutex::new(std::io::BufWriter::new(create(&egress_path)?)),
        tls,
        sinks,
    });
    let endpoints = Endpoints {
        addr,
        instance_url,
        proxy_url,
        ca_cert: ca_path,
        serve_json,
        telemetry: telemetry_path,
    };
    let handle = tokio::spawn(accept_loop(listener, app, shutdown));
    Ok((endpoints, handle))
}

/// The well-known key every mock connected app trusts for JWT bearer
/// (see `mocks/jwt/README.md`).
const JWT_TEST_KEY: &str = include_str!("../mocks/jwt/leakdrill-test-jwt-key.pem");

fn serve_json_doc(
    s: &OrgState,
    instance_url: &str,
    proxy_url: &str,
    ca: Option<&Path>,
    telemetry: &Path,
    jwt_key: &Path,
) -> serde_json::Value {
    let org = &s.org;
    let users: Vec<_> = org
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({
                "username": u.username,
                "password": s.auth.users[i].password,
                "security_token": s.auth.users[i].security_token,
                "user_id": s.store.user_ids[i],
                "kind": crate::model::yaml_name(&u.kind),
                "profile": u.profile,
                "permission_sets": u.permission_sets,
                "active": u.active,
                "network": u.network.as_deref().and_then(|n| org.network(n)).map(|n| json!({"id": n.id, "cidr": n.cidr.to_string()})),
            })
        })
        .collect();
    let apps: Vec<_> = org
        .connected_apps
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let refresh: serde_json::Map<String, serde_json::Value> = s
                .auth
                .refresh_tokens(i)
                .into_iter()
                .map(|(u, t)| (org.users[u].username.clone(), json!(t)))
                .collect();
            json!({
                "name": a.name,
                "client_id": s.auth.apps[i].client_id,
                "client_secret": s.auth.apps[i].client_secret,
                "scopes": a.scopes,
                                "refresh_tokens": refresh,
                "jwt_private_key_file": jwt_key.display().to_string(),
            })
        })
        .collect();
    json!({
        "leakdrill_version": env!("CARGO_PKG_VERSION"),
        "fixture": org.fixture,
        "org_id": s.org_id,
        "instance_url": instance_url,
        "login_url": instance_url,
        "proxy_url": proxy_url,
        "proxied_instance_url": format!("https://{}.my.salesforce.com", org.instance),
        "ca_cert": ca.map(|p| p.display().to_string()),
        "telemetry": telemetry.display().to_string(),
        "api_versions": sfdc::API_VERSIONS.map(|v| format!("{v}.0")).collect::<Vec<_>>(),
        "users": users,
        "connected_apps": apps,
    })
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let app = app.clone();
                tokio::spawn(async move { connection(app, stream, peer).await });
            }
        }
    }
    // Every event of every answered request is in the file before we return.
    let q = app.telemetry.clone();
    let _ = tokio::task::spawn_blocking(move || q.flush()).await;
}

/// Queued telemetry bytes before senders wait for the writer.
const TELEMETRY_QUEUE_BYTES: usize = 16 << 20;
/// How long a line may sit in memory before the writer takes it.
const TELEMETRY_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Telemetry lines on their way to `telemetry.ndjson`. A request handler
/// serialises its event itself, while the event is still in its core's
/// cache (measured: serialising on the writer thread, which reads every
/// event cold from the other core, cost ~0.08 of the query page's
/// throughput), then appends the line under a short lock and never wakes
/// the writer (no futex per request). The writer takes the whole buffer
/// every [`TELEMETRY_TICK`], or at once when it is full (back-pressure, not
/// loss) or a flush is asked for, and writes it with one write(2).
#[derive(Default)]
struct TelemetryQueue {
    state: std::sync::Mutex<QueueState>,
    /// The writer waits here.
    wake: std::sync::Condvar,
    /// Senders of a full queue, and flushers, wait here.
    drained: std::sync::Condvar,
}

#[derive(Default)]
struct QueueState {
    /// NDJSON lines, in the order their requests were answered.
    bytes: Vec<u8>,
    /// Flushes asked for and flushes done (a flush waits for its number).
    flush_asked: u64,
    flush_done: u64,
}

thread_local! {
    /// Each handler thread's scratch line (kept, so no allocation per event).
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl TelemetryQueue {
    fn push(&self, event: &sfdc::Event) {
        LINE.with_borrow_mut(|line| {
            line.clear();
            event.write_json(line);
            line.push(b'\n');
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            while st.bytes.len() >= TELEMETRY_QUEUE_BYTES {
                self.wake.notify_one();
                st = match self.drained.wait(st) {
                    Ok(st) => st,
                    Err(_) => return,
                };
            }
            st.bytes.extend_from_slice(line);
        });
    }

    /// Blocks until every line pushed before the call is on disk.
    fn flush(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.flush_asked += 1;
        let mine = st.flush_asked;
        self.wake.notify_one();
        while st.flush_done < mine {
            st = match self.drained.wait(st) {
                Ok(st) => st,
                Err(_) => return,
            };
        }
    }
}

fn spawn_telemetry_writer(mut out: std::fs::File) -> Arc<TelemetryQueue> {
    let q = Arc::new(TelemetryQueue::default());
    let queue = q.clone();
    std::thread::spawn(move || {
        let mut batch = Vec::new();
        loop {
            let asked = {
                let Ok(st) = queue.state.lock() else { return };
                let Ok((mut st, _)) = queue.wake.wait_timeout_while(st, TELEMETRY_TICK, |st| {
                    st.bytes.len() < TELEMETRY_QUEUE_BYTES && st.flush_asked == st.flush_done
                }) else {
                    return;
                };
                // The server is gone and nothing is left: stop.
                if st.bytes.is_empty() && Arc::strong_count(&queue) == 1 {
                    return;
                }
                // The two buffers swap, so neither is reallocated.
                std::mem::swap(&mut batch, &mut st.bytes);
                queue.drained.notify_all();
                st.flush_asked
            };
            let _ = out.write_all(&batch);
            batch.clear();
            if let Ok(mut st) = queue.state.lock()
                && st.flush_done < asked
            {
                st.flush_done = asked;
                queue.drained.notify_all();
            }
        }
    });
    q
}

async fn connection(app: Arc<App>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    // Every wait on the client is bounded: a silent or slow socket is closed.
    let peeked = tokio::time::timeout(CLIENT_TIMEOUT, stream.peek(&mut first)).await;
    let is_tls = matches!(peeked, Ok(Ok(1)) if first[0] == 0x16);
    if !matches!(peeked, Ok(Ok(1))) {
        return;
    }
    match (&app.tls, is_tls) {
        (Some(acceptor), true) => {
            let Ok(Ok(tls)) = tokio::time::timeout(CLIENT_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            serve_http(
                app.clone(),
                TokioIo::new(tls),
                Conn {
                    peer,
                    base_override: None,
                    scheme: "https",
                    sink: None,
                },
            )
            .await;
        }
        _ => {
            let scheme = if app.tls.is_some() {
                "http-proxy"
            } else {
                "http"
            };
            serve_http(
                app.clone(),
                TokioIo::new(stream),
                Conn {
                    peer,
                    base_override: None,
                    scheme,
                    sink: None,
                },
            )
            .await;
        }
    }
}

/// Serves HTTP/1.1 on one connection. Boxed because a CONNECT tunnel serves
/// HTTP again inside itself (the recursion needs a named, `Send` future).
fn serve_http<I>(
    app: Arc<App>,
    io: I,
    conn: Conn,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    Box::pin(serve_http_inner(app, io, conn))
}

async fn serve_http_inner<I>(app: Arc<App>, io: I, conn: Conn)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let router = axum::Router::new()
        .fallback(api)
        .with_state(app.clone())
        .layer(Extension(conn.clone()));
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        let conn = conn.clone();
        let router = router.clone();
        async move {
            if req.method() == HttpMethod::CONNECT {
                return Ok::<_, std::convert::Infallible>(proxy_connect(app, conn, req).await);
            }
            if let Some(host) = &conn.sink {
                return Ok(app.sinks.forward(host, conn.peer, wall_ms(), req).await);
            }
            // Absolute-form (`POST http://host/path`): a plain-http request
            // sent through the proxy.
            if let Some(auth) = req.uri().authority().cloned() {
                let host = auth.host().to_ascii_lowercase();
                let port = auth.port_u16().unwrap_or(80);
                let stubbed = app
                    .sinks
                    .get(&host)
                    .is_some_and(|s| s.scheme == "http" && s.port == port);
                if stubbed {
                    return Ok(app.sinks.forward(&host, conn.peer, wall_ms(), req).await);
                }
                record_egress(&app, &conn, auth.as_ref());
                return Ok(plain(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "leakdrill egress proxy: refusing http://{auth}: not one of the fixture's stubbed endpoints (see `sinks` in serve.json); this attempt was recorded\n"
                    ),
                ));
            }
            use tower::ServiceExt;
            Ok(router
                .oneshot(req.map(Body::new))
                .await
                .unwrap_or_else(|e| match e {}))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT);
    let _ = builder
        .http1_only()
        .serve_connection_with_upgrades(io, svc)
        .await;
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut r = HttpResponse::new(Body::from(text.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// HTTP CONNECT: terminate Salesforce hosts locally (TLS with our CA),
/// refuse and record everything else.
async fn proxy_connect(
    app: Arc<App>,
    conn: Conn,
    req: hyper::Request<hyper::body::Incoming>,
) -> HttpResponse {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (host, port) = authority
        .rsplit_once(':')
        .unwrap_or((authority.as_str(), "443"));
    let sink = app
        .sinks
        .get(host)
        .filter(|s| s.scheme == "https" && port.parse() == Ok(s.port))
        .map(|s| s.host.clone());
    let allowed = (is_salesforce_host(host) && port == "443") || sink.is_some();
    let Some(acceptor) = app.tls.clone().filter(|_| allowed) else {
        record_egress(&app, &conn, &authority);
        return plain(
            StatusCode::FORBIDDEN,
            &format!(
                "leakdrill egress proxy: refusing CONNECT to {authority}: only the mock's Salesforce hosts (login.salesforce.com, test.salesforce.com, *.my.salesforce.com on port 443) are reachable; this attempt was recorded\n"
            ),
        );
    };
    let base = format!("https://{host}");
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let Ok(tls) = acceptor.accept(TokioIo::new(upgraded)).await else {
            return;
        };
        let inner = Conn {
            peer: conn.peer,
            base_override: Some(base),
            scheme: "https",
            sink,
        };
        serve_http(app, TokioIo::new(tls), inner).await;
    });
    plain(StatusCode::OK, "")
}

/// Wall-clock ms for the server's own logs (the edge may read the clock).
fn wall_ms() -> i64 {
    #[allow(clippy::disallowed_methods)] // edge: wall-clock timestamp for the egress log
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A refused destination, as a finding: who tried to reach what.
fn record_egress(app: &App, conn: &Conn, destination: &str) {
    if let Ok(mut e) = app.egress.lock() {
        let line = json!({"t_ms": wall_ms(), "source_ip": conn.peer.ip().to_string(), "destination": destination, "action": "refused"});
        let _ = writeln!(e, "{line}");
        let _ = e.flush();
    }
}

/// The API edge: HTTP request → `sfdc::Request` → `OrgState::handle` →
/// HTTP response, plus one telemetry line.
async fn api(
    State(app): State<Arc<App>>,
    Extension(conn): Extension<Conn>,
    req: axum::extract::Request,
) -> HttpResponse {
    if conn.scheme == "http-proxy" {
        return plain(
            StatusCode::BAD_REQUEST,
            "leakdrill serve speaks HTTPS on this port (plain HTTP is only for CONNECT proxying); use https://, or start it with --plain-http\n",
        );
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => {
            return to_http(sfdc::Response::error(
                413,
                "REQUEST_LIMIT_EXCEEDED",
                "Request body exceeds the 50 MB limit",
            ));
        }
        Err(_) => {
            return to_http(sfdc::Response::error(
                408,
                "REQUEST_TIMEOUT",
                "The request body was not received in time",
            ));
        }
    };
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (k, v) in &parts.headers {
        headers.push((
            k.as_str().to_owned(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        ));
    }
    // X-Forwarded-For is trusted only from loopback (simulated clients).
    let mut source = match conn.peer.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
    };
    if conn.peer.ip().is_loopback()
        && let Some(xff) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        && let Some(ip) = xff
            .split(',')
            .next()
            .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
    {
        source = ip;
    }
    let host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let base_url = conn
        .base_override
        .clone()
        .unwrap_or_else(|| format!("{}://{host}", conn.scheme));
    let request = sfdc::Request {
        method: sfdc::Method::parse(parts.method.as_str()),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: bytes.to_vec(),
        source_ip: source,
        base_url,
    };
    #[allow(clippy::disallowed_methods)] // edge: the live server runs on wall-clock time
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    // Queries run with shared access, in parallel; anything else (or a
    // query `handle_shared` declines) takes the org exclusively.
    let shared = if OrgState::may_share(&request) {
        app.org.read().await.handle_shared(now_ms, &request)
    } else {
        None
    };
    let (resp, event) = match shared {
        Some(done) => done,
        None => app.org.write().await.handle_exclusive(now_ms, &request),
    };
    app.telemetry.push(&event);
    to_http(resp)
}

fn to_http(r: sfdc::Response) -> HttpResponse {
    let mut out = HttpResponse::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            HeaderValue::from_str(&v),
        ) {
            out.headers_mut().append(name, val);
        }
    }
    out
}
