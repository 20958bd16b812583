//! The mock org as a pure state machine: logins, permissions, queries,
//! paging, revocation — the behaviour `serve` exposes over HTTPS.

use std::net::Ipv4Addr;
use std::sync::Arc;

use leakdrill::seed::Seed;
use leakdrill::sfdc::{Method, Options, OrgState, Request, Response};

use crate::support::*;

pub const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

pub fn fintech(subjects: u64) -> OrgState {
    let org = Arc::new(org("fintech-wealth"));
    let opts = Options::for_org(&org);
    OrgState::new(org, subjects, Seed(42), opts).expect("org state")
}

fn user_idx(s: &OrgState, name: &str) -> usize {
    s.org
        .users
        .iter()
        .position(|u| u.username.starts_with(name))
        .expect("user")
}

fn app_idx(s: &OrgState, name: &str) -> usize {
    s.org
        .connected_apps
        .iter()
        .position(|a| a.name == name)
        .expect("app")
}

fn call(s: &mut OrgState, req: Request) -> Response {
    s.handle(NOW, &req).0
}

/// OAuth password grant; returns the access token.
/// The OAuth password grant's form for `user` through `app`.
pub fn password_form(s: &OrgState, user: &str, app: &str) -> Vec<u8> {
    let (u, a) = (user_idx(s, user), app_idx(s, app));
    form(&[
        ("grant_type", "password"),
        ("client_id", &s.auth.apps[a].client_id),
        ("client_secret", &s.auth.apps[a].client_secret),
        ("username", &s.org.users[u].username),
        (
            "password",
            &format!(
                "{}{}",
                s.auth.users[u].password, s.auth.users[u].security_token
            ),
        ),
    ])
}

pub fn password_login(
    s: &mut OrgState,
    user: &str,
    app: &str,
    ip: Ipv4Addr,
) -> Result<String, Response> {
    let body = password_form(s, user, app);
    let r = call(
        s,
        Request::new(Method::Post, "/services/oauth2/token")
            .with_body(body)
            .from_ip(ip),
    );
    if r.status == 200 {
        Ok(r.body_json()["access_token"].as_str().unwrap().to_owned())
    } else {
        Err(r)
    }
}

/// SOAP partner login with password + security token from `ip` at `at`;
/// returns the session id.
pub fn soap_login_at(s: &mut OrgState, user: &str, ip: Ipv4Addr, at: i64) -> String {
    let u = user_idx(s, user);
    let body = format!(
        "<se:Envelope xmlns:se=\"http://schemas.xmlsoap.org/soap/envelope/\"><se:Body><login xmlns=\"urn:partner.soap.sforce.com\"><username>{}</username><password>{}{}</password></login></se:Body></se:Envelope>",
        s.org.users[u].username, s.auth.users[u].password, s.auth.users[u].security_token
    );
    let (r, _) = s.handle(
        at,
        &Request::new(Method::Post, "/services/Soap/u/59.0")
            .with_body(body)
            .from_ip(ip),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    leakdrill::sfdc::auth::xml_text(&String::from_utf8_lossy(&r.body), "sessionId")
        .expect("sessionId")
}

pub const SIEM_NET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);

pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn get(s: &mut OrgState, token: &str, path: &str) -> Response {
    call(
        s,
        Request::new(Method::Get, path).with_header("Authorization", &format!("Bearer {token}")),
    )
}

fn q(soql: &str) -> String {
    format!(
        "/services/data/v59.0/query?q={}",
        form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
    )
}

const ETL_NET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 70);
const MKT_NET: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 40);

#[test]
fn field_level_security_separates_over_permissive_and_least_privilege_users() {
    let mut s = fintech(300);
    let etl =
        password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).expect("etl login");
    let mkt = password_login(&mut s, "marketing.sync", "marketing-cloud-connect", MKT_NET)
        .expect("marketing login");
    let soql = "SELECT Id, Email, SSN__c FROM Contact";
    let ok = get(&mut s, &etl, &q(soql));
    assert_eq!(ok.status, 200);
    let body = ok.body_json();
    assert_eq!(body["totalSize"], 300);
    // Classic encrypted: masked (last four clear) without View Encrypted Data.
    let ssn = body["records"][0]["SSN__c"].as_str().unwrap().to_owned();
    assert!(
        ssn.starts_with("***-**-")
            && ssn.len() == 11
            && ssn[7..].chars().all(|c| c.is_ascii_digit()),
        "{ssn}"
    );
    let tin = get(&mut s, &etl, &q("SELECT Tax_Id__c FROM Contact LIMIT 1")).body_json()["records"]
        [0]["Tax_Id__c"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tin.starts_with('9'), "unencrypted fields are clear: {tin}");
    let filt = get(
        &mut s,
        &etl,
        &q("SELECT Id FROM Contact WHERE SSN__c = '900-01-0001'"),
    );
    assert_eq!(filt.error_code().as_deref(), Some("INVALID_FIELD"));
    let denied = get(&mut s, &mkt, &q(soql));
    assert_eq!(denied.status, 400);
    assert_eq!(denied.error_code().as_deref(), Some("INVALID_FIELD"));
    let msg = denied.body_json()[0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        msg.lines().take(4).collect::<Vec<_>>(),
        vec!["", soql, "                  ^", "ERROR at Row:1:Column:19"],
    );
    // Hidden from describe too.
    let d = get(
        &mut s,
        &mkt,
        "/services/data/v59.0/sobjects/Contact/describe",
    )
    .body_json();
    let names: Vec<&str> = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Email") && !names.contains(&"SSN__c"),
        "{names:?}"
    );
    // No object access: INVALID_TYPE, and absent from describeGlobal.
    let t = get(&mut s, &mkt, &q("SELECT Id FROM KYC_Document__c"));
    assert_eq!(t.error_code().as_deref(), Some("INVALID_TYPE"));
    let g = get(&mut s, &mkt, "/services/data/v59.0/sobjects").body_json();
    assert!(
        g["sobjects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["name"] != "KYC_Document__c")
    );
}

#[test]
fn query_pages_through_query_more_and_counts_api_usage() {
    let mut s = fintech(2_500);
    let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
    let first = get(
        &mut s,
        &etl,
        &q(
            "SELECT Id, Contact__r.Email FROM FinancialAccount__c WHERE Balance__c > 1000000 ORDER BY Balance__c DESC",
        ),
    );
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("sforce-limit-info"),
        Some("api-usage=1/250000")
    );
    let body = first.body_json();
    let total = body["totalSize"].as_u64().unwrap();
    assert!(total > 2000, "{total}");
    assert_eq!(body["records"].as_array().unwrap().len(), 2000);
    assert_eq!(body["done"], false);
    let rec = &body["records"][0];
    assert!(
        rec["Contact__r"]["Email"]
            .as_str()
            .unwrap()
            .ends_with("@northwind-wealth.example.com")
    );
    assert_eq!(rec["Contact__r"]["attributes"]["type"], "Contact");
    let next = body["nextRecordsUrl"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with("/services/data/v59.0/query/01g") && next.ends_with("-2000"),
        "{next}"
    );
    let more = get(&mut s, &etl, &next).body_json();
    assert_eq!(
        more["records"].as_array().unwrap().len() as u64,
        total - 2000
    );
    assert_eq!(more["done"], true);
    assert!(more.get("nextRecordsUrl").is_none());
    // A page can be read again (clients retry after network errors).
    let again = get(&mut s, &etl, &next).body_json();
    assert_eq!(again["records"], more["records"]);
    let bogus = get(&mut s, &etl, "/services/data/v59.0/query/01gNOPE-2000");
    assert_eq!(bogus.error_code().as_deref(), Some("INVALID_QUERY_LOCATOR"));
}

#[test]
fn revoked_tokens_fail_on_the_very_next_call() {
    let mut s = fintech(50);
    let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
    assert_eq!(get(&mut s, &etl, "/services/data/v59.0/limits").status, 200);
    let r = call(
        &mut s,
        Request::new(Method::Post, "/services/oauth2/revoke").with_body(form(&[("token", &etl)])),
    );
    assert_eq!(r.status, 200);
    let after = get(&mut s, &etl, "/services/data/v59.0/limits");
    assert_eq!(after.status, 401);
    assert_eq!(after.error_code().as_deref(), Some("INVALID_SESSION_ID"));
    // Refresh tokens: revoking the grant kills tokens minted from it.
    let a = app_idx(&s, "warehouse-etl");
    let (_, refresh) = s.auth.refresh_tokens(a)[0];
    let refresh = refresh.to_owned();
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", &s.auth.apps[a].client_id.clone()),
        ("client_secret", &s.auth.apps[a].client_secret.clone()),
        ("refresh_token", &refresh),
    ]);
    let minted = call(
        &mut s,
        Request::new(Method::Post, "/services/oauth2/token")
            .with_body(body.clone())
            .from_ip(Ipv4Addr::new(192, 0, 2, 140)),
    );
    assert_eq!(
        minted.status, 200,
        "relaxed IP: the leaked refresh token works from anywhere"
    );
    let tok = minted.body_json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tok.starts_with("00D") && tok.contains('!'));
    call(
        &mut s,
        Request::new(Method::Post, "/services/oauth2/revoke")
            .with_body(form(&[("token", &refresh)])),
    );
    assert_eq!(get(&mut s, &tok, "/services/data/v59.0/limits").status, 401);
    let again = call(
        &mut s,
        Request::new(Method::Post, "/services/oauth2/token").with_body(body),
    );
    assert_eq!(again.body_json()["error"], "invalid_grant");
    assert_eq!(
        again.body_json()["error_description"],
        "expired access/refresh token"
    );
}

/// Token bodies are written by hand; they must be exactly what
/// `serde_json` writes for the same object (keys in Salesforce's order,
/// strings escaped the same), with and without a refresh token.
#[test]
fn token_bodies_are_byte_for_byte_serde_json() {
    let mut s = fintech(5);
    let password = password_form(&s, "etl.integration", "warehouse-etl");
    // kyc-vendor-app rotates refresh tokens: its grant returns a new one.
    let k = app_idx(&s, "kyc-vendor-app");
    let refresh = s.auth.refresh_tokens(k)[0].1.to_owned();
    let refresh = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", &s.auth.apps[k].client_id.clone()),
        ("client_secret", &s.auth.apps[k].client_secret.clone()),
        ("refresh_token", &refresh),
    ]);
    let kyc_net = Ipv4Addr::new(203, 0, 113, 5);
    let mut with_refresh = 0;
    for (body, login_url, ip) in [
        (password, "https://login.salesforce.com", ETL_NET),
        (refresh, "https://127.0.0.1:8443", kyc_net),
    ] {
        let mut req = Request::new(Method::Post, "/services/oauth2/token")
            .with_body(body)
            .from_ip(ip);
        req.base_url = login_url.to_owned();
        let r = call(&mut s, req);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&v).unwrap()).unwrap(),
            String::from_utf8(r.body.clone()).unwrap()
        );
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(keys.starts_with(&["access_token", "id", "instance_url", "issued_at"]));
        assert!(keys.ends_with(&["scope", "signature", "token_type"]));
        assert_eq!(v["token_type"], "Bearer");
        assert!(
            v["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{login_url}/id/00D"))
        );
        assert_eq!(v["signature"].as_str().unwrap().len(), 12);
        with_refresh += usize::from(v.get("refresh_token").is_some());
    }
    assert!(
        with_refresh > 0,
        "one of the bodies carries a refresh token"
    );
}

#[test]
fn login_failures_are_salesforce_shaped() {
    let mut s = fintech(10);
    // Marketing's profile only allows its SaaS range.
    let e = password_login(
        &mut s,
        "marketing.sync",
        "marketing-cloud-connect",
        Ipv4Addr::new(192, 0, 2, 130),
    )
    .unwrap_err();
    assert_eq!(
        e.body_json(),
        serde_json::json!({"error": "invalid_grant", "error_description": "ip restricted"})
    );
    // The ETL user is not pre-approved for the marketing app.
    let e = password_login(
        &mut s,
        "etl.integration",
        "marketing-cloud-connect",
        ETL_NET,
    )
    .unwrap_err();
    assert_eq!(
        e.body_json()["error_description"],
        "user hasn't approved this consumer"
    );
    // SOAP login with a wrong password: a 500 fault with sf:exceptionCode.
    let soap = "<se:Envelope xmlns:se=\"http://schemas.xmlsoap.org/soap/envelope/\"><se:Body><login xmlns=\"urn:partner.soap.sforce.com\"><username>etl.integration@northwind-wealth.example.com</username><password>nope</password></login></se:Body></se:Envelope>";
    let r = call(
        &mut s,
        Request::new(Method::Post, "/services/Soap/u/59.0").with_body(soap),
    );
    assert_eq!(r.status, 500);
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>")
            && text.contains("<faultstring>INVALID_LOGIN: ")
    );
    // Every request, failed or not, produced one event.
    let (_, ev) = s.handle(NOW, &Request::new(Method::Get, "/services/data"));
    assert_eq!(ev.http_method, "GET");
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn soql_ish() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            Just("SELECT"),
            Just("FROM"),
            Just("WHERE"),
            Just("AND"),
            Just("OR"),
            Just("NOT"),
            Just("IN"),
            Just("LIKE"),
            Just("ORDER BY"),
            Just("LIMIT"),
            Just("OFFSET"),
            Just("Id"),
            Just("Email"),
            Just("Contact"),
            Just("Contact__r.Email"),
            Just("FinancialAccount__c"),
            Just("Balance__c"),
            Just("CreatedDate"),
            Just("COUNT()"),
            Just("FIELDS(ALL)"),
            Just("="),
            Just("!="),
            Just("<"),
            Just(">="),
            Just(","),
            Just("("),
            Just(")"),
            Just("'a%'"),
            Just("'x\\'y'"),
            Just("42"),
            Just("-1.5"),
            Just("null"),
            Just("true"),
            Just("2024-01-01"),
            Just("2024-01-01T00:00:00Z"),
            Just("LAST_N_DAYS:7"),
            Just("TODAY"),
            Just("DESC"),
            Just("NULLS LAST"),
            Just("é"),
            Just("\u{0}"),
        ];
        prop::collection::vec(word, 0..14).prop_map(|w| w.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Random SOQL — grammar-shaped or arbitrary — never panics and
        /// always gets a 200 or a Salesforce-shaped 400.
        #[test]
        fn random_soql_gets_a_salesforce_shaped_answer(q in prop_oneof![soql_ish(), "\\PC{0,60}"]) {
            let mut s = fintech(30);
            let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
            let r = get(&mut s, &etl, &format!("/services/data/v59.0/query?q={}", form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()));
            prop_assert!(r.status == 200 || r.status == 400, "{} for {q:?}", r.status);
            if r.status == 400 {
                let code = r.error_code();
                prop_assert!(code.is_some(), "no errorCode for {q:?}: {:?}", String::from_utf8_lossy(&r.body));
            }
        }

        /// Random requests (method, path, headers, body) never panic; every
        /// error has a body.
        #[test]
        fn random_requests_never_panic(
            method in prop_oneof![Just(Method::Get), Just(Method::Post), Just(Method::Patch), Just(Method::Delete), Just(Method::Put)],
            path in prop_oneof![
                Just("/services/oauth2/token".to_owned()),
                Just("/services/Soap/u/59.0".to_owned()),
                Just("/services/oauth2/revoke".to_owned()),
                Just("/services/data/v59.0/sobjects/Contact".to_owned()),
                Just("/services/data/v59.0/sobjects/Contact/0035e0000000000AAA".to_owned()),
                Just("/services/data/v59.0/query/01gXYZ-2000".to_owned()),
                "/[a-zA-Z0-9/._%-]{0,40}",
            ],
            body in prop::collection::vec(any::<u8>(), 0..200),
            auth in any::<bool>(),
        ) {
            let mut s = fintech(5);
            let tok = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
            let mut req = Request::new(method, &path).with_body(body);
            if auth {
                req = req.with_header("Authorization", &format!("Bearer {tok}"));
            }
            let (r, ev) = s.handle(NOW, &req);
            prop_assert!((200..600).contains(&r.status));
            prop_assert_eq!(ev.status_code, r.status);
            if r.status >= 400 {
                prop_assert!(!r.body.is_empty(), "{} without a body for {method:?} {path}", r.status);
            }
        }
    }
}

mod containment {
    use super::*;

    const CORP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    fn send(
        s: &mut OrgState,
        tok: &str,
        m: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Response {
        call(
            s,
            Request::new(m, path)
                .with_header("Authorization", &format!("Bearer {tok}"))
                .with_body(body.to_string()),
        )
    }

    fn first_id(s: &mut OrgState, tok: &str, soql: &str) -> String {
        let r = get(s, tok, &q(soql));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.body_json()["records"][0]["Id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn freeze_deactivate_end_session_and_permission_sets_act_on_the_next_call() {
        let mut s = fintech(20);
        let admin = soap_login_at(&mut s, "dana.whitfield", CORP, NOW);
        let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
        let etl_id = s.store.user_ids[user_idx(&s, "etl.integration")].clone();

        // Freeze: new logins fail; the existing token keeps working (Salesforce's observed default).
        let login_id = first_id(
            &mut s,
            &admin,
            &format!("SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '{etl_id}'"),
        );
        let r = send(
            &mut s,
            &admin,
            Method::Patch,
            &format!("/services/data/v59.0/sobjects/UserLogin/{login_id}"),
            serde_json::json!({"IsFrozen": true}),
        );
        assert_eq!(r.status, 204);
        let (_, ev) = s.handle(NOW, &Request::new(Method::Get, "/services/data"));
        assert!(ev.seq > 0);
        assert!(
            password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET)
                .unwrap_err()
                .body_json()["error_description"]
                == "authentication failure"
        );
        assert_eq!(get(&mut s, &etl, "/services/data/v59.0/limits").status, 200);

        // End the session: the very next call fails.
        let sid = first_id(
            &mut s,
            &admin,
            &format!(
                "SELECT Id FROM AuthSession WHERE UsersId = '{etl_id}' AND SourceIp = '203.0.113.70'"
            ),
        );
        assert_eq!(
            send(
                &mut s,
                &admin,
                Method::Delete,
                &format!("/services/data/v59.0/sobjects/AuthSession/{sid}"),
                serde_json::json!(null)
            )
            .status,
            204
        );
        assert_eq!(
            get(&mut s, &etl, "/services/data/v59.0/limits")
                .error_code()
                .as_deref(),
            Some("INVALID_SESSION_ID")
        );

        // Escalation and its reversal through PermissionSetAssignment.
        let mkt =
            password_login(&mut s, "marketing.sync", "marketing-cloud-connect", MKT_NET).unwrap();
        let mkt_id = s.store.user_ids[user_idx(&s, "marketing.sync")].clone();
        assert_eq!(
            get(&mut s, &mkt, &q("SELECT SSN__c FROM Contact"))
                .error_code()
                .as_deref(),
            Some("INVALID_FIELD")
        );
        let ps = first_id(
            &mut s,
            &admin,
            "SELECT Id FROM PermissionSet WHERE Name = 'Warehouse_Full_Extract'",
        );
        let r = send(
            &mut s,
            &admin,
            Method::Post,
            "/services/data/v59.0/sobjects/PermissionSetAssignment",
            serde_json::json!({"AssigneeId": mkt_id, "PermissionSetId": ps}),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let (resp, ev) = s.handle(
            NOW,
            &Request::new(Method::Get, &q("SELECT SSN__c FROM Contact"))
                .with_header("Authorization", &format!("Bearer {mkt}")),
        );
        assert_eq!(resp.status, 200, "escalated: View All Data + FLS on SSN__c");
        assert_eq!(ev.queried_entities.as_deref(), Some("Contact"));
        let psa = r.body_json()["id"].as_str().unwrap().to_owned();
        assert_eq!(
            send(
                &mut s,
                &admin,
                Method::Delete,
                &format!("/services/data/v59.0/sobjects/PermissionSetAssignment/{psa}"),
                serde_json::json!(null)
            )
            .status,
            204
        );
        assert_eq!(
            get(&mut s, &mkt, &q("SELECT SSN__c FROM Contact"))
                .error_code()
                .as_deref(),
            Some("INVALID_FIELD")
        );

        // Deactivate: every session ends and logins fail.
        let r = send(
            &mut s,
            &admin,
            Method::Patch,
            &format!("/services/data/v59.0/sobjects/User/{mkt_id}"),
            serde_json::json!({"IsActive": false}),
        );
        assert_eq!(r.status, 204);
        assert_eq!(get(&mut s, &mkt, "/services/data/v59.0/limits").status, 401);
        assert_eq!(
            password_login(&mut s, "marketing.sync", "marketing-cloud-connect", MKT_NET)
                .unwrap_err()
                .body_json()["error_description"],
            "inactive user"
        );
    }

    #[test]
    fn only_user_managers_see_and_touch_setup_objects() {
        let mut s = fintech(5);
        let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
        assert_eq!(
            get(&mut s, &etl, &q("SELECT Id FROM UserLogin"))
                .error_code()
                .as_deref(),
            Some("INVALID_TYPE")
        );
        let uid = s.store.user_ids[0].clone();
        let r = send(
            &mut s,
            &etl,
            Method::Patch,
            &format!("/services/data/v59.0/sobjects/User/{uid}"),
            serde_json::json!({"IsActive": false}),
        );
        assert_eq!(
            r.error_code().as_deref(),
            Some("INSUFFICIENT_ACCESS_OR_READONLY")
        );
        assert!(s.auth.users[0].active);
    }
}

mod siem {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn get_at(s: &mut OrgState, at: i64, tok: &str, path: &str) -> Response {
        s.handle(
            at,
            &Request::new(Method::Get, path).with_header("Authorization", &format!("Bearer {tok}")),
        )
        .0
    }

    #[test]
    fn event_monitoring_objects_and_event_log_files_are_queryable_like_a_real_org() {
        let mut s = fintech(20);
        let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
        assert_eq!(
            get(&mut s, &etl, &q("SELECT Id, Email FROM Contact")).status,
            200
        );
        let _ = password_login(
            &mut s,
            "marketing.sync",
            "marketing-cloud-connect",
            Ipv4Addr::new(192, 0, 2, 130),
        );
        let siem = soap_login_at(&mut s, "siem.connector", SIEM_NET, NOW + HOUR);

        // Real-Time Event Monitoring storage objects, polled the way Elastic does.
        let logins = get_at(
            &mut s,
            NOW + HOUR,
            &siem,
            &q(
                "SELECT FIELDS(STANDARD) FROM LoginEvent WHERE EventDate > 2025-12-31T00:00:00.000Z ORDER BY EventDate ASC",
            ),
        );
        assert_eq!(
            logins.status,
            200,
            "{}",
            String::from_utf8_lossy(&logins.body)
        );
        let recs = logins.body_json()["records"].as_array().unwrap().clone();
        let statuses: Vec<(&str, &str, &str)> = recs
            .iter()
            .map(|r| {
                (
                    r["Username"].as_str().unwrap_or(""),
                    r["Status"].as_str().unwrap(),
                    r["SourceIp"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            statuses.contains(&(
                "etl.integration@northwind-wealth.example.com",
                "Success",
                "203.0.113.70"
            )),
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .any(|(u, st, ip)| u.starts_with("marketing.sync")
                    && st.starts_with("Failed")
                    && *ip == "192.0.2.130"),
            "{statuses:?}"
        );
        let api = get_at(
            &mut s,
            NOW + HOUR,
            &siem,
            &q(
                "SELECT Username, Operation, Query, RowsProcessed, QueriedEntities, SessionKey FROM ApiEvent WHERE QueriedEntities = 'Contact'",
            ),
        );
        let a = &api.body_json()["records"][0];
        assert_eq!(
            a["Username"],
            "etl.integration@northwind-wealth.example.com"
        );
        assert_eq!(a["Operation"], "Query");
        assert_eq!(a["RowsProcessed"], 20.0);
        assert_eq!(a["Query"], "SELECT Id, Email FROM Contact");

        // EventLogFile: nothing until 3–6 h after the hour ends, then CSV.
        let soql = q(
            "SELECT Id, EventType, LogDate, Interval, LogFile, LogFileLength FROM EventLogFile WHERE EventType = 'Login' AND LogDate < 2026-01-01T01:00:00Z",
        );
        assert_eq!(
            get_at(&mut s, NOW + HOUR, &siem, &soql).body_json()["totalSize"],
            0
        );
        // (The SIEM's session idled out after 2 h, as Salesforce's do.)
        assert_eq!(
            get_at(&mut s, NOW + 8 * HOUR, &siem, &soql)
                .error_code()
                .as_deref(),
            Some("INVALID_SESSION_ID")
        );
        let siem = soap_login_at(&mut s, "siem.connector", SIEM_NET, NOW + 8 * HOUR);
        let later = get_at(&mut s, NOW + 8 * HOUR, &siem, &soql).body_json();
        assert_eq!(later["totalSize"], 1, "{later}");
        let file = later["records"][0]["LogFile"].as_str().unwrap().to_owned();
        assert!(
            file.starts_with("/services/data/v64.0/sobjects/EventLogFile/0AT")
                && file.ends_with("/LogFile")
        );
        let csv = get_at(&mut s, NOW + 8 * HOUR, &siem, &file);
        assert_eq!(csv.header("content-type"), Some("text/csv"));
        let text = String::from_utf8(csv.body).unwrap();
        assert!(
            text.starts_with("\"EVENT_TYPE\",\"TIMESTAMP\",\"REQUEST_ID\""),
            "{text}"
        );
        assert!(text.contains("\"LOGIN_NO_ERROR\",\"etl.integration@northwind-wealth.example.com\",\"203.0.113.70\""), "{text}");
        assert!(
            text.contains("LOGIN_ERROR_"),
            "failed logins are logged too"
        );

        // Only users with the Event Monitoring permissions see any of it.
        let mkt =
            password_login(&mut s, "marketing.sync", "marketing-cloud-connect", MKT_NET).unwrap();
        for obj in ["LoginEvent", "ApiEvent", "EventLogFile", "LoginHistory"] {
            assert_eq!(
                get(&mut s, &mkt, &q(&format!("SELECT Id FROM {obj}")))
                    .error_code()
                    .as_deref(),
                Some("INVALID_TYPE"),
                "{obj}"
            );
        }
    }
}

mod limits_and_api_access {
    use super::*;

    #[test]
    fn daily_allowance_is_enforced_and_reported() {
        let org = Arc::new(org("fintech-wealth"));
        let mut opts = Options::for_org(&org);
        opts.daily_api_requests = 3;
        let mut s = OrgState::new(org, 5, Seed(1), opts).unwrap();
        let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
        for n in 1..=3 {
            let r = get(&mut s, &etl, "/services/data/v59.0/limits");
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("sforce-limit-info"),
                Some(format!("api-usage={n}/3").as_str())
            );
        }
        let r = get(&mut s, &etl, "/services/data/v59.0/limits");
        assert_eq!(r.status, 403);
        assert_eq!(r.error_code().as_deref(), Some("REQUEST_LIMIT_EXCEEDED"));
    }

    #[test]
    fn users_without_api_enabled_get_api_disabled_for_org() {
        let text = std::fs::read_to_string(data("minimal.yaml"))
            .unwrap()
            .replace("system: [ApiEnabled, ApiUserOnly]", "system: []");
        let org = Arc::new(leakdrill::fixture::load_str("no-api.yaml", &text).unwrap());
        let opts = Options::for_org(&org);
        let mut s = OrgState::new(org, 3, Seed(1), opts).unwrap();
        let u = 0;
        let soap = format!(
            "<se:Envelope xmlns:se=\"http://schemas.xmlsoap.org/soap/envelope/\"><se:Body><login xmlns=\"urn:partner.soap.sforce.com\"><username>{}</username><password>{}{}</password></login></se:Body></se:Envelope>",
            s.org.users[u].username, s.auth.users[u].password, s.auth.users[u].security_token
        );
        let r = call(
            &mut s,
            Request::new(Method::Post, "/services/Soap/u/59.0").with_body(soap),
        );
        assert_eq!(r.status, 500);
        assert!(
            String::from_utf8_lossy(&r.body)
                .contains("<sf:exceptionCode>API_DISABLED_FOR_ORG</sf:exceptionCode>")
        );
    }
}

mod app_grants {
    use super::*;

    #[test]
    fn revoking_an_oauth_token_and_blocking_an_app_cut_off_the_integration() {
        let mut s = fintech(5);
        let admin = soap_login_at(
            &mut s,
            "dana.whitfield",
            Ipv4Addr::new(198, 51, 100, 10),
            NOW,
        );
        let a = app_idx(&s, "warehouse-etl");
        let refresh = s.auth.refresh_tokens(a)[0].1.to_owned();
        let (cid, secret) = (
            s.auth.apps[a].client_id.clone(),
            s.auth.apps[a].client_secret.clone(),
        );
        let grant = |s: &mut OrgState| {
            call(
                s,
                Request::new(Method::Post, "/services/oauth2/token").with_body(form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", &cid),
                    ("client_secret", &secret),
                    ("refresh_token", &refresh),
                ])),
            )
        };
        let tok = grant(&mut s).body_json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // The grant is visible as an OauthToken row, with its DeleteToken.
        let r = get(
            &mut s,
            &admin,
            &q(
                "SELECT Id, AppName, UserId, UseCount, DeleteToken FROM OauthToken WHERE AppName = 'warehouse-etl'",
            ),
        );
        let row = r.body_json()["records"][0].clone();
        assert_eq!(row["DeleteToken"], refresh.as_str());
        assert_eq!(row["UseCount"], 1);
        // Block the app (the Setup action): its sessions end, new tokens are refused.
        let b = call(
            &mut s,
            Request::new(
                Method::Post,
                "/services/leakdrill/connected-apps/warehouse-etl/block",
            )
            .with_header("Authorization", &format!("Bearer {admin}")),
        );
        assert_eq!(b.status, 200);
        assert_eq!(get(&mut s, &tok, "/services/data/v59.0/limits").status, 401);
        assert_eq!(grant(&mut s).body_json()["error"], "invalid_client");
        // Only admins can block.
        let etl = password_login(
            &mut s,
            "kyc.vendor",
            "kyc-vendor-app",
            Ipv4Addr::new(203, 0, 113, 5),
        )
        .unwrap();
        let denied = call(
            &mut s,
            Request::new(
                Method::Post,
                "/services/leakdrill/connected-apps/kyc-vendor-app/block",
            )
            .with_header("Authorization", &format!("Bearer {etl}")),
        );
        assert_eq!(denied.status, 403);
        // Unblock, then revoke the grant itself through OauthToken.
        call(
            &mut s,
            Request::new(
                Method::Post,
                "/services/leakdrill/connected-apps/warehouse-etl/unblock",
            )
            .with_header("Authorization", &format!("Bearer {admin}")),
        );
        let tok2 = grant(&mut s).body_json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = row["Id"].as_str().unwrap();
        let d = call(
            &mut s,
            Request::new(
                Method::Delete,
                &format!("/services/data/v59.0/sobjects/OauthToken/{id}"),
            )
            .with_header("Authorization", &format!("Bearer {admin}")),
        );
        assert_eq!(d.status, 204);
        assert_eq!(
            get(&mut s, &tok2, "/services/data/v59.0/limits").status,
            401
        );
        assert_eq!(
            grant(&mut s).body_json()["error_description"],
            "expired access/refresh token"
        );
    }
}

mod standing_grants {
    use super::*;

    #[test]
    fn every_refresh_token_in_serve_json_works_at_startup_and_expires_after_disuse() {
        let mut s = fintech(3);
        for a in 0..s.org.connected_apps.len() {
            let (cid, secret) = (
                s.auth.apps[a].client_id.clone(),
                s.auth.apps[a].client_secret.clone(),
            );
            let tokens: Vec<String> = s
                .auth
                .refresh_tokens(a)
                .iter()
                .map(|(_, t)| t.to_string())
                .collect();
            for t in tokens {
                let body = form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", &cid),
                    ("client_secret", &secret),
                    ("refresh_token", &t),
                ]);
                // From the user's own network (apps that enforce IP restrictions).
                let u = s
                    .auth
                    .grants
                    .iter()
                    .find(|g| g.refresh_token == t)
                    .unwrap()
                    .user;
                let ip = s.org.users[u]
                    .network
                    .as_deref()
                    .and_then(|n| s.org.network(n))
                    .map(|n| n.cidr.nth(5))
                    .unwrap_or(ETL_NET);
                let r = call(
                    &mut s,
                    Request::new(Method::Post, "/services/oauth2/token")
                        .with_body(body)
                        .from_ip(ip),
                );
                if s.org.users[u].active {
                    assert_eq!(
                        r.status,
                        200,
                        "{}: {}",
                        s.org.connected_apps[a].name,
                        String::from_utf8_lossy(&r.body)
                    );
                } else {
                    assert_eq!(r.body_json()["error_description"], "inactive user");
                }
            }
        }
        // kyc-vendor-app expires refresh tokens unused for 90 days.
        let a = app_idx(&s, "kyc-vendor-app");
        let t = s.auth.refresh_tokens(a)[0].1.to_owned();
        let (cid, secret) = (
            s.auth.apps[a].client_id.clone(),
            s.auth.apps[a].client_secret.clone(),
        );
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("refresh_token", &t),
        ]);
        let late = s
            .handle(
                NOW + 91 * 86_400_000,
                &Request::new(Method::Post, "/services/oauth2/token")
                    .with_body(body)
                    .from_ip(Ipv4Addr::new(203, 0, 113, 5)),
            )
            .0;
        assert_eq!(
            late.body_json()["error_description"],
            "expired access/refresh token"
        );
    }
}

mod write_validation {
    use super::*;

    #[test]
    fn writes_are_checked_like_salesforce_checks_them() {
        let mut s = fintech(3);
        let cb = password_login(
            &mut s,
            "corebanking.sync",
            "core-banking-connector",
            Ipv4Addr::new(198, 51, 100, 130),
        )
        .unwrap();
        let post = |s: &mut OrgState, body: serde_json::Value| {
            call(
                s,
                Request::new(
                    Method::Post,
                    "/services/data/v59.0/sobjects/FinancialAccount__c",
                )
                .with_header("Authorization", &format!("Bearer {cb}"))
                .with_body(body.to_string()),
            )
        };
        for (body, code) in [
            (
                serde_json::json!({"Balance__c": "notanumber"}),
                "JSON_PARSER_ERROR",
            ),
            (
                serde_json::json!({"Opened_Date__c": "yesterday"}),
                "JSON_PARSER_ERROR",
            ),
            (
                serde_json::json!({"Account_Number__c": "x".repeat(300)}),
                "STRING_TOO_LONG",
            ),
            (
                serde_json::json!({"Contact__c": "not-an-id"}),
                "INVALID_FIELD_FOR_INSERT_UPDATE",
            ),
        ] {
            let r = post(&mut s, body.clone());
            assert_eq!(
                r.error_code().as_deref(),
                Some(code),
                "{body}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
        let ok = post(
            &mut s,
            serde_json::json!({"Balance__c": 12.5, "Opened_Date__c": "2025-06-01", "Account_Type__c": "Trust"}),
        );
        assert_eq!(ok.status, 201, "{}", String::from_utf8_lossy(&ok.body));
    }
}

mod sharing {
    use super::*;

    fn count(s: &mut OrgState, tok: &str) -> u64 {
        get(s, tok, &q("SELECT COUNT() FROM KYC_Document__c")).body_json()["totalSize"]
            .as_u64()
            .unwrap()
    }

    #[test]
    fn view_all_data_sees_private_records_that_owners_only_see_their_own_of() {
        let mut s = fintech(200);
        let total = 160; // 0.8 documents per client
        let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
        assert_eq!(count(&mut s, &etl), total, "View All Data bypasses sharing");
        let priya = soap_login_at(&mut s, "priya.raman", Ipv4Addr::new(198, 51, 100, 20), NOW);
        assert_eq!(
            count(&mut s, &priya),
            total,
            "object View All bypasses sharing"
        );
        let marcus = soap_login_at(&mut s, "marcus.bell", Ipv4Addr::new(198, 51, 100, 70), NOW);
        let mine = s.store.user_ids[user_idx(&s, "marcus.bell")].clone();
        let t = s.store.table("KYC_Document__c").unwrap();
        let owned = s.store.tables[t]
            .rows
            .iter()
            .filter(|r| r.values[2] == mine)
            .count() as u64;
        assert!(owned > 0 && owned < total, "{owned}");
        assert_eq!(
            count(&mut s, &marcus),
            owned,
            "a private object shows its owner only their records"
        );
        // Someone else's document does not exist for him.
        let other = s.store.tables[t]
            .rows
            .iter()
            .find(|r| r.values[2] != mine)
            .unwrap()
            .values[0]
            .clone();
        assert_eq!(
            get(
                &mut s,
                &marcus,
                &format!("/services/data/v59.0/sobjects/KYC_Document__c/{other}")
            )
            .status,
            404
        );
        // The KYC vendor sees exactly what it creates.
        let kyc = password_login(
            &mut s,
            "kyc.vendor",
            "kyc-vendor-app",
            Ipv4Addr::new(203, 0, 113, 5),
        )
        .unwrap();
        assert_eq!(count(&mut s, &kyc), 0);
        let r = call(
            &mut s,
            Request::new(
                Method::Post,
                "/services/data/v59.0/sobjects/KYC_Document__c",
            )
            .with_header("Authorization", &format!("Bearer {kyc}"))
            .with_body(serde_json::json!({"Document_Type__c": "Passport"}).to_string()),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(count(&mut s, &kyc), 1);
    }
}

#[test]
fn reports_run_and_export_with_the_users_columns_and_leave_report_events() {
    let mut s = fintech(300);
    let vpn = Ipv4Addr::new(198, 51, 100, 70);
    let advisor = soap_login_at(&mut s, "marcus.bell", vpn, NOW);
    let list = get(&mut s, &advisor, "/services/data/v62.0/analytics/reports");
    assert_eq!(list.status, 200);
    let list = list.body_json();
    let contact = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().contains("Contact"))
        .expect("a Contact report")
        .clone();
    let id = contact["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("00O") && id.len() == 18, "{id}");
    // Columns: exactly the Contact fields the advisor may read.
    let u = user_idx(&s, "marcus.bell");
    let eff = s.org.effective(&s.org.users[u]);
    let org = s.org.clone();
    let obj = org.object("Contact").unwrap();
    let readable: Vec<String> = obj
        .fields
        .iter()
        .filter(|f| eff.field(obj, f).read)
        .map(|f| f.name.clone())
        .collect();
    assert!(readable.len() < obj.fields.len(), "FLS hides some fields");
    let d = get(&mut s, &advisor, contact["describeUrl"].as_str().unwrap()).body_json();
    assert_eq!(d["reportMetadata"]["reportFormat"], "TABULAR");
    let run = get(
        &mut s,
        &advisor,
        &format!("{}?includeDetails=true", contact["url"].as_str().unwrap()),
    );
    assert_eq!(run.status, 200);
    let run = run.body_json();
    let rows = run["factMap"]["T!T"]["rows"].as_array().unwrap();
    let visible = get(&mut s, &advisor, &q("SELECT COUNT() FROM Contact")).body_json()["totalSize"]
        .as_u64()
        .unwrap();
    assert_eq!(rows.len() as u64, visible.min(2000));
    assert_eq!(
        rows[0]["dataCells"].as_array().unwrap().len(),
        readable.len()
    );
    // Export: every visible row as CSV, the readable columns as header.
    let csv = get(
        &mut s,
        &advisor,
        &format!("/{id}?export=1&enc=UTF-8&xf=csv"),
    );
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = String::from_utf8(csv.body.clone()).unwrap();
    let mut lines = text.lines();
    let labels: Vec<String> = readable
        .iter()
        .map(|f| format!("\"{}\"", obj.field(f).unwrap().label))
        .collect();
    assert_eq!(lines.next().unwrap(), labels.join(","));
    assert_eq!(lines.count() as u64, visible);
    // No Export Reports: refused.
    let mkt = password_login(&mut s, "marketing.sync", "marketing-cloud-connect", MKT_NET)
        .expect("marketing login");
    let denied = get(&mut s, &mkt, &format!("/{id}?export=1&xf=csv"));
    assert_eq!(denied.status, 403);
    assert_eq!(denied.error_code().as_deref(), Some("INSUFFICIENT_ACCESS"));
    // The SIEM sees both, as ReportEvent rows.
    let siem =
        password_login(&mut s, "siem.connector", "siem-connector", SIEM_NET).expect("siem login");
    let ev = get(
        &mut s,
        &siem,
        &q(
            "SELECT Operation, RowsProcessed, ReportId, ColumnHeaders FROM ReportEvent ORDER BY EventDate",
        ),
    );
    assert_eq!(ev.status, 200, "{}", String::from_utf8_lossy(&ev.body));
    let recs = ev.body_json()["records"].as_array().unwrap().clone();
    let ops: Vec<&str> = recs
        .iter()
        .map(|r| r["Operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["ReportRunUsingApi", "ReportExported"]);
    assert_eq!(recs[1]["RowsProcessed"].as_f64(), Some(visible as f64));
    assert_eq!(recs[1]["ReportId"], id.as_str());
    assert_eq!(recs[1]["ColumnHeaders"], readable.join(",").as_str());
}

#[test]
fn a_sandbox_refresh_through_the_tooling_api_is_validated_and_audited() {
    let mut s = fintech(20);
    let corp = Ipv4Addr::new(198, 51, 100, 10);
    let admin = soap_login_at(&mut s, "dana.whitfield", corp, NOW);
    let etl = password_login(&mut s, "etl.integration", "warehouse-etl", ETL_NET).unwrap();
    let id = leakdrill::sfdc::admin::sandbox_info_id(0);
    assert!(leakdrill::sfid::is_valid(&id), "{id}");
    let patch = |s: &mut OrgState, tok: &str, id: &str, body: &str| {
        call(
            s,
            Request::new(
                Method::Patch,
                &format!("/services/data/v62.0/tooling/sobjects/SandboxInfo/{id}"),
            )
            .with_header("Authorization", &format!("Bearer {tok}"))
            .with_header("content-type", "application/json")
            .with_body(body.to_owned()),
        )
    };
    let code = |r: &Response| r.body_json()[0]["errorCode"].as_str().map(str::to_owned);
    let r = patch(&mut s, &admin, &id, r#"{"AutoActivate": true}"#);
    assert_eq!(
        (r.status, code(&r).as_deref()),
        (400, Some("REQUIRED_FIELD_MISSING"))
    );
    let r = patch(&mut s, &admin, &id, r#"{"LicenseType": "HUGE"}"#);
    assert_eq!(
        (r.status, code(&r).as_deref()),
        (400, Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"))
    );
    let r = patch(
        &mut s,
        &admin,
        &id,
        r#"{"LicenseType": "FULL", "ApexClassId": "005000000000001"}"#,
    );
    assert_eq!(
        (r.status, code(&r).as_deref()),
        (400, Some("FIELD_INTEGRITY_EXCEPTION"))
    );
    let r = patch(&mut s, &admin, &id, "{not json");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let other = leakdrill::sfdc::admin::sandbox_info_id(7);
    assert_eq!(
        patch(&mut s, &admin, &other, r#"{"LicenseType": "FULL"}"#).status,
        404
    );
    let r = patch(&mut s, &etl, &id, r#"{"LicenseType": "FULL"}"#);
    assert_eq!(
        r.status, 403,
        "an integration user may not refresh sandboxes"
    );

    let r = patch(
        &mut s,
        &admin,
        &id,
        r#"{"LicenseType": "FULL", "AutoActivate": true}"#,
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let trail = get(
        &mut s,
        &admin,
        &q("SELECT Action, Section, Display FROM SetupAuditTrail WHERE Section = 'Sandboxes'"),
    );
    assert_eq!(
        trail.status,
        200,
        "{}",
        String::from_utf8_lossy(&trail.body)
    );
    let rows = trail.body_json()["records"].as_array().cloned().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Action"], "sandboxrefresh");
    let display = rows[0]["Display"].as_str().unwrap();
    assert!(
        display.contains("(FULL)") && display.ends_with("post-copy class: none"),
        "{display}"
    );
}

/// Query pages come from the render cache on repeat and follow every
/// change: an update, a parent's update and a delete show on the next page,
/// byte for byte what a fresh org (empty cache) renders.
#[test]
fn repeated_query_pages_follow_updates_deletes_and_parent_changes() {
    let mut s = fintech(20);
    let corp = Ipv4Addr::new(198, 51, 100, 10);
    let admin = soap_login_at(&mut s, "dana.whitfield", corp, NOW);
    let soql = q(
        "SELECT Id, Account_Type__c, Contact__c, Contact__r.LastName FROM FinancialAccount__c ORDER BY Id LIMIT 20",
    );
    let page = |s: &mut OrgState| {
        let r = get(s, &admin, &soql);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.body
    };
    let fresh = |s: &OrgState| {
        // A cloned store starts with an empty cache: render its page.
        let mut f = fintech(20);
        f.store = s.store.clone();
        let admin = soap_login_at(&mut f, "dana.whitfield", corp, NOW);
        let r = get(&mut f, &admin, &soql);
        (r.status, r.body)
    };
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    let first = page(&mut s);
    assert_eq!(page(&mut s), first, "a repeated page is identical");
    let v = json(&first);
    let rec = &v["records"][3];
    let (fa, contact) = (
        rec["Id"].as_str().unwrap().to_owned(),
        rec["Contact__c"].as_str().unwrap().to_owned(),
    );
    let send = |s: &mut OrgState, m: Method, path: &str, body: serde_json::Value| {
        let r = call(
            s,
            Request::new(m, path)
                .with_header("Authorization", &format!("Bearer {admin}"))
                .with_header("content-type", "application/json")
                .with_body(if body.is_null() {
                    String::new()
                } else {
                    body.to_string()
                }),
        );
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    };
    let new_type = if rec["Account_Type__c"] == "Trust" {
        "Brokerage"
    } else {
        "Trust"
    };
    send(
        &mut s,
        Method::Patch,
        &format!("/services/data/v59.0/sobjects/FinancialAccount__c/{fa}"),
        serde_json::json!({ "Account_Type__c": new_type }),
    );
    let after = page(&mut s);
    assert_eq!(json(&after)["records"][3]["Account_Type__c"], new_type);
    assert_eq!((200, after), fresh(&s));

    send(
        &mut s,
        Method::Patch,
        &format!("/services/data/v59.0/sobjects/Contact/{contact}"),
        serde_json::json!({ "LastName": "Renamed-Parent" }),
    );
    let after = page(&mut s);
    assert_eq!(
        json(&after)["records"][3]["Contact__r"]["LastName"],
        "Renamed-Parent"
    );
    assert_eq!((200, after), fresh(&s));

    send(
        &mut s,
        Method::Delete,
        &format!("/services/data/v59.0/sobjects/FinancialAccount__c/{fa}"),
        serde_json::Value::Null,
    );
    let gone = page(&mut s);
    assert!(!String::from_utf8_lossy(&gone).contains(&fa));
    assert_eq!((200, gone), fresh(&s));
}
