//! `leakdrill serve` over real sockets: HTTPS with the generated CA, the
//! egress proxy, telemetry under concurrency, and unmodified real clients.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running `leakdrill serve` child process, stopped on drop.
pub struct Server {
    child: Child,
    pub dir: tempfile::TempDir,
    pub json: Value,
}

impl Server {
    pub fn start(fixture: &str, records: u64) -> Server {
        Server::start_with(fixture, records, &[])
    }

    /// Starts with extra `serve` arguments (e.g. `--plain-http`).
    pub fn start_with(fixture: &str, records: u64, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_leakdrill"))
            .args([
                "serve",
                "--fixture",
                fixture,
                "--records",
                &records.to_string(),
                "--addr",
                "127.0.0.1:0",
                "--state-dir",
            ])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn leakdrill serve");
        let path = dir.path().join("serve.json");
        // From here the child is owned by a `Server` (whose Drop waits on it)
        // or waited on below.
        let mut server = Server {
            child,
            dir,
            json: Value::Null,
        };
        for _ in 0..400 {
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(json) = serde_json::from_str::<Value>(&text)
            {
                server.json = json;
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("serve.json did not appear within 10 s");
    }
    pub fn url(&self) -> &str {
        self.json["instance_url"].as_str().unwrap()
    }
    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.json["ca_cert"].as_str().unwrap())
    }
    pub fn client(&self) -> reqwest::blocking::Client {
        let pem = std::fs::read(self.ca()).unwrap();
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .no_proxy()
            .build()
            .unwrap()
    }
    pub fn user(&self, prefix: &str) -> Value {
        self.json["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"].as_str().unwrap().starts_with(prefix))
            .unwrap()
            .clone()
    }
    /// Stops with SIGTERM and returns the exit status (the state directory
    /// stays until the `Server` is dropped).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("serve did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "simple-salesforce is not installed: run tests/clients/setup.sh (the README's test command does this first)"
    );
    p
}

#[test]
fn https_versions_errors_and_serve_json() {
    let mut s = Server::start("fintech-wealth", 50);
    assert!(s.url().starts_with("https://127.0.0.1:"));
    for key in [
        "login_url",
        "proxy_url",
        "ca_cert",
        "api_versions",
        "users",
        "connected_apps",
        "org_id",
    ] {
        assert!(!s.json[key].is_null(), "serve.json lacks {key}");
    }
    let etl_app = s.json["connected_apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "warehouse-etl")
        .unwrap();
    assert!(
        etl_app["refresh_tokens"]["etl.integration@northwind-wealth.example.com"]
            .as_str()
            .unwrap()
            .starts_with("5Aep861")
    );
    let c = s.client();
    let v: Value = c
        .get(format!("{}/services/data/", s.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v.as_array().unwrap().last().unwrap()["version"], "64.0");
    let r = c
        .get(format!("{}/services/data/v59.0/sobjects", s.url()))
        .bearer_auth("00Dbogus!x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    // A malformed query never panics or returns a bodyless 500.
    let etl = s.user("etl.integration");
    let app = etl_app;
    let tok: Value = c
        .post(format!("{}/services/oauth2/token", s.url()))
        .header("X-Forwarded-For", "203.0.113.70")
        .form(&[
            ("grant_type", "password"),
            ("client_id", app["client_id"].as_str().unwrap()),
            ("client_secret", app["client_secret"].as_str().unwrap()),
            ("username", etl["username"].as_str().unwrap()),
            (
                "password",
                &format!(
                    "{}{}",
                    etl["password"].as_str().unwrap(),
                    etl["security_token"].as_str().unwrap()
                ),
            ),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = tok["access_token"].as_str().unwrap();
    assert_eq!(tok["instance_url"], s.url());
    for q in [
        "SELECT",
        "SELECT Id FROM",
        "SELECT Id FROM Contact WHERE Name = 'unterminated",
        "SELECT Id FROM Contact GROUP BY Id",
        "\u{0}\u{ffff}",
    ] {
        let r = c
            .get(format!("{}/services/data/v59.0/query", s.url()))
            .query(&[("q", q)])
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let b: Value = r.json().unwrap();
        assert_eq!(b[0]["errorCode"], "MALFORMED_QUERY", "{q}: {b}");
    }
    assert!(s.stop().success(), "clean exit on SIGTERM");
}

#[test]
fn egress_proxy_reaches_salesforce_names_and_refuses_everything_else() {
    let s = Server::start("fintech-wealth", 10);
    let pem = std::fs::read(s.ca()).unwrap();
    let proxied = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .proxy(reqwest::Proxy::https(s.json["proxy_url"].as_str().unwrap()).unwrap())
        .build()
        .unwrap();
    let v = proxied
        .get("https://login.salesforce.com/services/data")
        .send()
        .unwrap();
    assert_eq!(v.status(), 200);
    let v = proxied
        .get("https://northwind-wealth.my.salesforce.com/services/data/v59.0/limits")
        .send()
        .unwrap();
    assert_eq!(
        v.status(),
        401,
        "reachable under the instance name; needs a token"
    );
    let refused = proxied.get("https://api.github.com/").send();
    assert!(refused.is_err(), "a non-Salesforce CONNECT must fail");
    let egress = std::fs::read_to_string(s.dir.path().join("egress.ndjson")).unwrap();
    assert!(
        egress.contains("\"destination\":\"api.github.com:443\"") && egress.contains("refused"),
        "{egress}"
    );
}

#[test]
fn third_party_endpoints_are_wiremock_stubs_that_capture_every_payload() {
    let s = Server::start("fintech-wealth", 10);
    let sinks = s.json["sinks"].as_array().expect("sinks in serve.json");
    let hosts: Vec<&str> = sinks.iter().filter_map(|x| x["host"].as_str()).collect();
    for h in [
        "api.portfolio-llm.example",
        "intake.logvendor.example",
        "events.marketing-automation.example",
    ] {
        assert!(hosts.contains(&h), "{h} stubbed: {hosts:?}");
    }
    for x in sinks {
        let stub = x["stub_url"].as_str().expect("stub url");
        assert!(
            stub.starts_with("http://127.0.0.1:"),
            "stubs listen on loopback: {stub}"
        );
    }
    let pem = std::fs::read(s.ca()).unwrap();
    let proxied = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .proxy(reqwest::Proxy::all(s.json["proxy_url"].as_str().unwrap()).unwrap())
        .build()
        .unwrap();
    // HTTPS through CONNECT: an LLM API answers like one.
    let r = proxied
        .post("https://api.portfolio-llm.example/v1/chat/completions")
        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "Summarise client Ada Testperson"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["object"], "chat.completion");
    // A log sink accepts.
    let r = proxied
        .post("https://intake.logvendor.example/v1/logs")
        .body("{\"msg\":\"GET /contacts 200\"}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    // Plaintext http through the proxy (absolute-form request).
    let r = proxied
        .post("http://events.marketing-automation.example/salesforce/hooks")
        .header("content-type", "application/json")
        .body("{\"email\":\"ada@example.com\"}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // A look-alike host is not stubbed: refused and recorded.
    let r = proxied
        .post("http://events.rnarketing-automation.example/salesforce/hooks")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let captured = std::fs::read_to_string(s.json["captured"].as_str().unwrap()).unwrap();
    let lines: Vec<Value> = captured
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{captured}");
    assert_eq!(lines[0]["host"], "api.portfolio-llm.example");
    assert!(
        lines[0]["body"]
            .as_str()
            .unwrap()
            .contains("Ada Testperson")
    );
    assert_eq!(lines[0]["integrations"][0], "eu-desk-portfolio-summaries");
    assert_eq!(lines[1]["host"], "intake.logvendor.example");
    assert_eq!(lines[2]["scheme"], "http");
    assert_eq!(lines[2]["body"], "{\"email\":\"ada@example.com\"}");
    let egress = std::fs::read_to_string(s.dir.path().join("egress.ndjson")).unwrap();
    assert!(
        egress.contains("events.rnarketing-automation.example"),
        "{egress}"
    );
}

#[test]
fn every_call_under_concurrency_yields_exactly_one_telemetry_event() {
    let mut s = Server::start("hr-ccpa", 20);
    let url = s.url().to_owned();
    let client = s.client();
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let c = client.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                for k in 0..5 {
                    let path = if (i + k) % 2 == 0 {
                        "/services/data"
                    } else {
                        "/services/data/v59.0/limits"
                    };
                    c.get(format!("{url}{path}"))
                        .header("X-SFDC-Request-Id", format!("req-{i}-{k}"))
                        .send()
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let telemetry = s.dir.path().join("telemetry.ndjson");
    assert!(s.stop().success());
    let text = std::fs::read_to_string(telemetry).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        320,
        "one event per request, none lost or duplicated"
    );
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|e| e["RequestIdentifier"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 320);
    let mut evs: Vec<&str> = lines
        .iter()
        .map(|e| e["EventIdentifier"].as_str().unwrap())
        .collect();
    evs.sort();
    evs.dedup();
    assert_eq!(evs.len(), 320);
}

#[test]
fn unmodified_simple_salesforce_works_through_the_egress_proxy() {
    let py = venv_python();
    let mut s = Server::start("fintech-wealth", 2_500);
    let out = Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/simple_salesforce_check.py"))
        .arg(s.dir.path())
        .env("HTTPS_PROXY", s.json["proxy_url"].as_str().unwrap())
        .env("REQUESTS_CA_BUNDLE", s.ca())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("simple-salesforce: all checks passed"),
        "{text}"
    );
    // The SOAP login, the OAuth login and the queries all left telemetry
    // (stopping flushes the writer).
    assert!(s.stop().success());
    let telemetry = std::fs::read_to_string(s.dir.path().join("telemetry.ndjson")).unwrap();
    assert!(telemetry.contains("\"LoginType\":\"Partner Product\""));
    assert!(telemetry.contains("\"LoginType\":\"Remote Access 2.0\""));
    assert!(telemetry.contains("\"Operation\":\"QueryMore\""));
}

#[test]
fn unmodified_jsforce_works_against_the_https_mock() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients/node_modules/jsforce/package.json");
    assert!(
        module.exists(),
        "jsforce is not installed: run tests/clients/setup.sh (the README's test command does this first)"
    );
    let mut s = Server::start("fintech-wealth", 2_500);
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/jsforce_check.js"))
        .arg(s.dir.path())
        .env("NODE_EXTRA_CA_CERTS", s.ca())
        .output()
        .expect("node is needed for the jsforce checks");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("jsforce: all checks passed"), "{text}");
    assert!(s.stop().success());
    let telemetry = std::fs::read_to_string(s.dir.path().join("telemetry.ndjson")).unwrap();
    assert!(
        telemetry.contains("\"EventType\":\"BulkResult\""),
        "Bulk 2.0 downloads are BulkApiResultEvents"
    );
    assert!(telemetry.contains("\"EventType\":\"Logout\""));
}

#[test]
fn plain_http_mode_advertises_http_urls_everywhere() {
    let s = Server::start_with("hr-ccpa", 5, &["--plain-http"]);
    let url = s.url().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(s.json["ca_cert"].is_null());
    let u = s.json["users"][0].clone();
    let body = format!(
        "<se:Envelope xmlns:se=\"http://schemas.xmlsoap.org/soap/envelope/\"><se:Body><login xmlns=\"urn:partner.soap.sforce.com\"><username>{}</username><password>{}{}</password></login></se:Body></se:Envelope>",
        u["username"].as_str().unwrap(),
        u["password"].as_str().unwrap(),
        u["security_token"].as_str().unwrap()
    );
    let r = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{url}/services/Soap/u/59.0"))
        .header("X-Forwarded-For", "198.51.100.10")
        .body(body)
        .send()
        .unwrap();
    let text = r.text().unwrap();
    assert!(
        text.contains(&format!("<serverUrl>{url}/services/Soap/u/59.0/")),
        "{text}"
    );
}
