//! The REST API under `/services/data/vNN.0/`: resources, describeGlobal,
//! sObject info and describe, query/queryAll/queryMore, record CRUD and
//! limits — each call authenticated, counted against the daily allowance
//! (`Sforce-Limit-Info`) and permission-checked as the fixture says.
//!
//! Owns: REST routing and response shapes. Must not: know transport
//! details or bypass `Access` for permission decisions.

use serde_json::{Map, Value, json};

use super::query::{self, Access, Cursor, QueryError};
use super::schema::TableKind;
use super::telemetry::{EventKind, MAX_RECORD_IDS};
use super::{DEFAULT_BATCH_SIZE, Event, MAX_CURSORS, Method, OrgState, Request, Response, soql};

fn not_found() -> Response {
    Response::error(404, "NOT_FOUND", "The requested resource does not exist")
}

impl OrgState {
    pub(super) fn rest(
        &mut self,
        now_ms: i64,
        req: &Request,
        ev: &mut Event,
        v: u32,
        rest: &[String],
    ) -> Response {
        let si = match self.authenticate(now_ms, req, ev) {
            Ok(si) => si,
            Err(d) => return d.response(),
        };
        if self.api_requests_used() >= self.opts.daily_api_requests {
            let mut r = Response::error(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
            self.count_api_call(&mut r);
            return r;
        }
        let user = self.auth.sessions[si].user;
        let r: Vec<&str> = rest.iter().map(String::as_str).collect();
        let mut resp = match (req.method, r.as_slice()) {
            (Method::Get, []) => self.resources(req, v),
            (Method::Get, ["sobjects"]) => self.describe_global(user, v),
            (Method::Get, ["sobjects", t]) => self.sobject_info(user, v, t),
            (Method::Post, ["sobjects", t]) => self.create(now_ms, user, v, t, req, ev),
            (Method::Get, ["sobjects", t, "describe"]) => self.describe(user, v, t),
            (Method::Get, ["sobjects", t, id]) => self.retrieve(user, v, t, id, req, ev),
            (Method::Get, ["sobjects", t, id, "LogFile"])
                if t.eq_ignore_ascii_case("EventLogFile") =>
            {
                match self.table_for(user, t) {
                    Some(_) => self.elf_blob(now_ms, id),
                    None => not_found(),
                }
            }
            (Method::Patch, ["sobjects", t, id]) => self.update(now_ms, user, t, id, req, ev),
            (Method::Delete, ["sobjects", t, id]) => self.delete(now_ms, user, t, id, ev),
            (Method::Get, ["query" | "queryAll"]) => {
                let all = r[0] == "queryAll";
                self.run_query(now_ms, user, v, req, ev, all)
            }
            (Method::Get, ["query" | "queryAll", locator]) => self.query_more(user, v, locator, ev),
            (Method::Get, ["limits"]) => self.limits(),
            (Method::Patch, ["tooling", "sobjects", t, id])
                if t.eq_ignore_ascii_case("SandboxInfo") =>
            {
                self.sandbox_refresh(user, id, req, ev)
            }
            (Method::Post, ["composite", "sobjects"]) => {
                self.collection_create(now_ms, user, v, req, ev)
            }
            (Method::Patch, ["composite", "sobjects"]) => {
                self.collection_update(now_ms, user, req, ev)
            }
            (Method::Delete, ["composite", "sobjects"]) => {
                self.collection_delete(now_ms, user, req, ev)
            }
            (Method::Post, ["composite", "sobjects", t]) => {
                self.collection_retrieve(user, v, t, req, ev)
            }
            (Method::Get, ["analytics", "reports"]) => self.report_list(user, v),
            (Method::Get, ["analytics", "reports", id, "describe"]) => {
                self.report_describe(user, id)
            }
            (Method::Get | Method::Post, ["analytics", "reports", id]) => {
                self.report_run(now_ms, user, id, req, ev)
            }
            (_, ["jobs", "query", tail @ ..]) => {
                let tail: Vec<&str> = tail.to_vec();
                self.bulk2(now_ms, user, v, req, ev, &tail)
            }
            (_, ["sobjects" | "query" | "queryAll" | "limits", ..]) | (_, []) => Response::error(
                405,
                "METHOD_NOT_ALLOWED",
                &format!(
                    "HTTP Method '{}' not allowed. Allowed are GET",
                    req.method.as_str()
                ),
            ),
            _ => not_found(),
        };
        self.count_api_call(&mut resp);
        resp
    }

    fn access(&mut self, user: usize) -> std::sync::Arc<crate::model::Effective> {
        self.auth.effective(&self.org, user)
    }

    fn resources(&self, req: &Request, v: u32) -> Response {
        let base = format!("/services/data/v{v}.0");
        let mut m = Map::new();
        for r in [
            "sobjects",
            "query",
            "queryAll",
            "limits",
            "composite",
            "jobs",
            "analytics",
            "search",
            "tooling",
            "recent",
            "analytics",
        ] {
            m.insert(r.into(), json!(format!("{base}/{r}")));
        }
        m.insert(
            "identity".into(),
            json!(format!(
                "{}/id/{}",
                req.base_url.trim_end_matches('/'),
                self.org_id
            )),
        );
        Response::json(200, &Value::Object(m))
    }

    fn describe_global(&mut self, user: usize, v: u32) -> Response {
        let eff = self.access(user);
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        let sobjects: Vec<Value> = (0..self.store.tables.len())
            .filter(|t| acc.can_read_table(&self.store, *t))
            .map(|t| {
                let (c, e, d) = acc.object_perms(&self.store, t);
                self.store.tables[t].schema.global_entry(v, c, e, d)
            })
            .collect();
        Response::json(
            200,
            &json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}),
        )
    }

    fn table_for(
        &mut self,
        user: usize,
        name: &str,
    ) -> Option<(usize, std::sync::Arc<crate::model::Effective>)> {
        let eff = self.access(user);
        let t = self.store.table(name)?;
        let kind = self.store.tables[t].schema.kind;
        if kind.is_generated() {
            self.refresh_generated(kind, self.now_ms);
        }
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        acc.can_read_table(&self.store, t).then_some((t, eff))
    }

    fn sobject_info(&mut self, user: usize, v: u32, name: &str) -> Response {
        let Some((t, eff)) = self.table_for(user, name) else {
            return not_found();
        };
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        let (c, e, d) = acc.object_perms(&self.store, t);
        let info = self.store.tables[t].schema.global_entry(v, c, e, d);
        Response::json(200, &json!({"objectDescribe": info, "recentItems": []}))
    }

    fn describe(&mut self, user: usize, v: u32, name: &str) -> Response {
        let Some((t, eff)) = self.table_for(user, name) else {
            return not_found();
        };
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        let perms = acc.object_perms(&self.store, t);
        let store = &self.store;
        let body = store.tables[t]
            .schema
            .describe(v, perms, &|c| acc.column(store, t, c));
        Response::json(200, &body)
    }

    fn run_query(
        &mut self,
        now_ms: i64,
        user: usize,
        v: u32,
        req: &Request,
        ev: &mut Event,
        all: bool,
    ) -> Response {
        ev.kind = EventKind::Query;
        ev.operation = Some(if all { "QueryAll" } else { "Query" }.into());
        let Some(text) = req.param("q").or_else(|| req.param("explain")) else {
            return Response::error(400, "MALFORMED_QUERY", "A query string has to be specified");
        };
        let (_, ex) = match self.prepare_query(now_ms, user, &text, ev, all) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if ex.count_only {
            ev.rows_processed = ex.rows.len() as u64;
            return Response::json(
                200,
                &json!({"totalSize": ex.rows.len(), "done": true, "records": []}),
            );
        }
        let cursor = cursor(ex, user, v, req);
        let id = CursorName::New(self.next_cursor_seq());
        self.page(id, cursor, ev)
    }

    /// The shared-access half of [`OrgState::handle_shared`]: a query's
    /// first page or a locator's next one, when it succeeds on a data
    /// table. Everything that can decline comes before the first change.
    pub(super) fn query_shared(
        &self,
        now_ms: i64,
        req: &Request,
        v: u32,
        all: bool,
        locator: Option<&str>,
    ) -> Option<(Response, std::sync::Arc<Event>)> {
        let mut ev = Event::unnumbered(now_ms, req, &self.org_id);
        ev.api_type = "REST";
        ev.api_version = Some(format!("{v}.0"));
        let (si, eff) = self.authenticate_shared(now_ms, req, &mut ev)?;
        if self.api_requests_used() >= self.opts.daily_api_requests {
            return None;
        }
        let user = self.auth.sessions[si].user;
        ev.kind = EventKind::Query;
        let (id, cursor) = match locator {
            None => {
                ev.operation = Some(if all { "QueryAll" } else { "Query" }.into());
                let text = req.param("q").or_else(|| req.param("explain"))?;
                let parsed = self.parse_query(&text, &mut ev).ok()?;
                let t = self.store.table(&parsed.object)?;
                if self.store.tables[t].schema.kind.is_generated() {
                    return None;
                }
                let ex = self
                    .execute_query(now_ms, user, &eff, &text, &parsed, &mut ev, all)
                    .ok()?;
                if ex.count_only {
                    return None;
                }
                (None, cursor(ex, user, v, req))
            }
            Some(locator) => {
                ev.operation = Some("QueryMore".into());
                let (id, c) = self.cursor_at(user, v, locator).ok()?;
                (Some(id), c)
            }
        };
        // Committed: from here on nothing declines.
        ev.number(self.next_event_seq(), req, self.seed);
        self.auth.sessions[si].last_used_ms.set(now_ms);
        let id = id.map_or_else(|| CursorName::New(self.next_cursor_seq()), CursorName::Kept);
        let mut resp = self.page(id, cursor, &mut ev);
        self.count_api_call(&mut resp);
        Some(self.finish(req, resp, ev))
    }

    /// A page of `c`: the envelope and its records (read-only apart from
    /// keeping the cursor when more pages remain).
    fn page(&self, id: CursorName, mut c: Cursor, ev: &mut Event) -> Response {
        let end = (c.next + c.batch).min(c.rows.len());
        let t = &self.store.tables[c.table];
        ev.rows_processed = (end - c.next) as u64;
        ev.rows_returned = ev.rows_processed;
        ev.classes = query::read_classes(&self.org, &self.store, &c.select);
        ev.records = c.rows[c.next..end]
            .iter()
            .take(MAX_RECORD_IDS)
            .map(|r| t.id(*r))
            .collect();
        ev.queried_entities = Some(t.schema.name.clone());
        let total = c.rows.len();
        // Written directly, in Salesforce's key order, records in SELECT order.
        let mut body = Vec::with_capacity(64 + (end - c.next) * 384);
        body.extend_from_slice(b"{\"totalSize\":");
        body.extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
        body.extend_from_slice(if end >= total {
            b",\"done\":true"
        } else {
            b",\"done\":false"
        });
        let id = (end < total).then(|| match id {
            CursorName::Kept(id) => id,
            CursorName::New(seq) => self.cursor_name(seq),
        });
        if let Some(id) = &id {
            body.extend_from_slice(
                format!(
                    ",\"nextRecordsUrl\":\"/services/data/v{}.0/query/{id}-{end}\"",
                    c.version
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(b",\"records\":[");
        query::Page {
            table: c.table,
            rows: &c.rows[c.next..end],
            select: &c.select,
            version: c.version,
        }
        .render(&self.store, &mut body);
        if let Some(id) = id {
            c.next = end;
            let mut cursors = super::lock(&self.cursors);
            cursors.insert(id, c);
            while cursors.len() > MAX_CURSORS {
                // Locators sort by creation; evict the oldest.
                cursors.pop_first();
            }
        }
        Response::json_bytes(200, body)
    }

    fn query_more(&mut self, user: usize, v: u32, locator: &str, ev: &mut Event) -> Response {
        ev.kind = EventKind::Query;
        ev.operation = Some("QueryMore".into());
        match self.cursor_at(user, v, locator) {
            Ok((id, c)) => self.page(CursorName::Kept(id), c, ev),
            Err(r) => r,
        }
    }

    /// The cursor a `queryMore` locator (`{id}-{offset}`) names, positioned
    /// at its offset. Locators stay readable (a client may retry a page)
    /// until evicted.
    fn cursor_at(&self, user: usize, v: u32, locator: &str) -> Result<(String, Cursor), Response> {
        let invalid = || Response::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
        let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
        let offset = offset.parse::<usize>().map_err(|_| invalid())?;
        let mut c = super::lock(&self.cursors)
            .get(id)
            .cloned()
            .ok_or_else(invalid)?;
        if c.user != user || offset > c.rows.len() {
            return Err(invalid());
        }
        c.next = offset;
        c.version = v;
        Ok((id.to_owned(), c))
    }

    fn limits(&self) -> Response {
        let max = self.opts.daily_api_requests;
        let used = self.api_requests_used() + 1;
        Response::json(
            200,
            &json!({
                "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 5120, "Remaining": 5000},
                "FileStorageMB": {"Max": 5120, "Remaining": 5120},
                "HourlyODataCallout": {"Max": 10000, "Remaining": 10000},
                "SingleEmail": {"Max": 5000, "Remaining": 5000},
            }),
        )
    }

    fn retrieve(
        &mut self,
        user: usize,
        v: u32,
        name: &str,
        id: &str,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let Some((t, eff)) = self.table_for(user, name) else {
            return not_found();
        };
        if !crate::sfid::is_valid(id) {
            return Response::error(
                404,
                "NOT_FOUND",
                &format!("Provided external ID field does not exist or is not accessible: {id}"),
            );
        }
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        let uid = self.store.user_ids[user].as_str();
        let Some(r) = self.store.tables[t].find(id).filter(|r| {
            !self.store.tables[t].rows[*r].deleted
                && query::row_visible(&self.store, &acc, t, *r, uid, false)
        }) else {
            return not_found();
        };
        let schema = &self.store.tables[t].schema;
        let wanted: Option<Vec<String>> = req.param("fields").map(|f| {
            f.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        });
        let mut select = Vec::new();
        for (ci, c) in schema.columns.iter().enumerate() {
            let asked = wanted
                .as_ref()
                .is_none_or(|w| w.iter().any(|x| x.eq_ignore_ascii_case(&c.name)));
            if asked && acc.column(&self.store, t, c).0 {
                select.push(query::ColPath {
                    hops: vec![(t, ci)],
                    names: vec![c.name.clone()],
                    masked: acc.masks(c),
                });
            }
        }
        if let Some(w) = &wanted
            && let Some(bad) = w
                .iter()
                .find(|x| select.iter().all(|p| !p.names[0].eq_ignore_ascii_case(x)))
        {
            return Response::error(
                400,
                "INVALID_FIELD",
                &format!("No such column '{bad}' on sobject of type {}", schema.name),
            );
        }
        ev.kind = EventKind::Rest;
        ev.rows_processed = 1;
        ev.classes = query::read_classes(&self.org, &self.store, &select);
        ev.records = vec![crate::sfid::Id::new(
            &self.store.tables[t].rows[r].values[0],
        )];
        ev.queried_entities = Some(schema.name.clone());
        let mut body = Vec::new();
        query::write_record(&mut body, &self.store, t, r, &select, v);
        Response::json_bytes(200, body)
    }

    /// Parses a JSON record body into column values, checking FLS edit.
    fn body_values(
        &mut self,
        user: usize,
        t: usize,
        req: &Request,
        existing: Option<usize>,
    ) -> Result<Vec<(usize, String)>, Response> {
        let Value::Object(m) = req.json_body()? else {
            return Err(Response::error(
                400,
                "JSON_PARSER_ERROR",
                "The request body must be a JSON object",
            ));
        };
        let eff = self.access(user);
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        let schema = &self.store.tables[t].schema;
        let mut out = Vec::new();
        let mut not_writable = Vec::new();
        for (k, v) in &m {
            if k == "attributes" {
                continue;
            }
            let Some(ci) = schema.column(k) else {
                return Err(Response::error(
                    400,
                    "INVALID_FIELD",
                    &format!("No such column '{k}' on sobject of type {}", schema.name),
                ));
            };
            let c = &schema.columns[ci];
            let (read, edit) = acc.column(&self.store, t, c);
            if !read {
                return Err(Response::error(
                    400,
                    "INVALID_FIELD",
                    &format!("No such column '{k}' on sobject of type {}", schema.name),
                ));
            }
            if !edit || c.system {
                not_writable.push(c.name.clone());
                continue;
            }
            let s = check_value(c, v)?;
            out.push((ci, s));
        }
        if !not_writable.is_empty() {
            let fields: Vec<&str> = not_writable.iter().map(String::as_str).collect();
            return Err(Response::error_fields(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                &format!(
                    "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    fields.join(", ")
                ),
                &fields,
            ));
        }
        if existing.is_none() {
            let missing: Vec<&str> = schema
                .columns
                .iter()
                .enumerate()
                .filter(|(ci, c)| c.required && !out.iter().any(|(x, v)| x == ci && !v.is_empty()))
                .map(|(_, c)| c.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(Response::error_fields(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    &format!("Required fields are missing: [{}]", missing.join(", ")),
                    &missing,
                ));
            }
        }
        Ok(out)
    }

    fn create(
        &mut self,
        now_ms: i64,
        user: usize,
        _v: u32,
        name: &str,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let Some((t, eff)) = self.table_for(user, name) else {
            return not_found();
        };
        let kind = self.store.tables[t].schema.kind;
        if !matches!(kind, TableKind::Data(_)) {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if let Some(r) = self.admin_create(user, kind, &body, ev) {
                return r;
            }
        }
        let acc = Access {
            org: &self.org,
            eff: &eff,
        };
        if !matches!(self.store.tables[t].schema.kind, TableKind::Data(_))
            || !acc.object_perms(&self.store, t).0
        {
            return Response::error(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            );
        }
        let vals = match self.body_values(user, t, req, None) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let mut row = vec![String::new(); self.store.tables[t].schema.columns.len()];
        for (ci, s) in vals {
            row[ci] = s;
        }
        let uid = self.store.user_ids[user].clone();
        let id = self.store.tables[t].insert(row, &uid, now_ms);
        ev.queried_entities = Some(self.store.tables[t].schema.name.clone());
        ev.records = vec![crate::sfid::Id::new(&id)];
        ev.rows_processed = 1;
        Response::json(201, &json!({"id": id, "success": true, "errors": []}))
    }

    fn update(
        &mut self,
        now_ms: i64,
        user: usize,
        name: &str,
        id: &str,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let Some((t, eff)) = self.table_for(user, name) else {
            return not_found();
        };
        let kind = self.store.tables[t].schema.kind;
        if !matches!(kind, TableKind::Data(_)) {
            let body = match req.json_body() {
                Ok(v) => v,
                Err(r) => return r,
            };
            if let Some(r) = self.admin_update(user, kind, id, &body, ev) {
                return r;
            }
        }
        let r = match self.writable_row(user, t, &eff, id, |p| p.1) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let vals = match self.body_values(user, t, req, Some(r)) {
            Ok(v) => v,
            Err(resp) => return resp,
        };
        for (ci, s) in vals {
            self.store.tables[t].set_value(r, ci, s);
        }
        let uid = self.store.user_ids[user].clone();
        self.store.tables[t].touch(r, &uid, now_ms);
        ev.queried_entities = Some(self.store.tables[t].schema.name.clone());
        ev.records = vec![crate::sfid::Id::new(
            &self.store.tables[t].rows[r].values[0],
        )];
        ev.rows_processed = 1;
        Response::empty(204)
    }

    fn delete(
        &mut self,
        now_ms: i64,
        user: usize,
        name: &str,
        id: &str,
        ev: &mut Event,
    ) -> Response {
        let Some((t, eff)) = self.table_for(user, name) else {
            return not_found();
        };
        let kind = self.store.tables[t].schema.kind;
        if !matches!(kind, TableKind::Data(_))
            && let Some(r) = self.admin_delete(user, kind, id, ev)
        {
            return r;
        }
        let r = match self.writable_row(user, t, &eff, id, |p| p.2) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let uid = self.store.user_ids[user].clone();
        self.store.tables[t].soft_delete(r, &uid, now_ms);
        ev.queried_entities = Some(self.store.tables[t].schema.name.clone());
        ev.records = vec![crate::sfid::Id::new(
            &self.store.tables[t].rows[r].values[0],
        )];
        Response::empty(204)
    }
}

impl OrgState {
    /// The live row `id` of table `t`, if the caller's object permission
    /// (`which` picks edit or delete from (create, edit, delete)) allows it.
    fn writable_row(
        &self,
        user: usize,
        t: usize,
        eff: &crate::model::Effective,
        id: &str,
        which: impl Fn((bool, bool, bool)) -> bool,
    ) -> Result<usize, Response> {
        let table = &self.store.tables[t];
        let acc = Access {
            org: &self.org,
            eff,
        };
        let uid = self.store.user_ids[user].as_str();
        // Records the user cannot see do not exist for them.
        let Some(r) = table.find(id).filter(|r| {
            !table.rows[*r].deleted && query::row_visible(&self.store, &acc, t, *r, uid, false)
        }) else {
            return Err(not_found());
        };
        if !which(acc.object_perms(&self.store, t))
            || !query::row_visible(&self.store, &acc, t, r, uid, true)
        {
            return Err(Response::error(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            ));
        }
        Ok(r)
    }

    /// Parses `text`, refreshes generated tables it reads, and runs it as
    /// `user`: the shared front half of REST queries and Bulk API 2.0 jobs.
    pub(super) fn prepare_query(
        &mut self,
        now_ms: i64,
        user: usize,
        text: &str,
        ev: &mut Event,
        include_deleted: bool,
    ) -> Result<(std::sync::Arc<ParsedQuery>, query::Executed), Response> {
        let parsed = self.parse_query(text, ev)?;
        if let Some(t) = self.store.table(&parsed.object) {
            let kind = self.store.tables[t].schema.kind;
            if kind.is_generated() {
                self.refresh_generated(kind, now_ms);
            }
        }
        let eff = self.access(user);
        let ex = self.execute_query(now_ms, user, &eff, text, &parsed, ev, include_deleted)?;
        Ok((parsed, ex))
    }

    /// Parses SOQL for a call, noting the text and object on its event.
    /// Parsed queries are kept per text (a parse depends on nothing else):
    /// integrations and SIEM polls repeat the same few queries.
    fn parse_query(
        &self,
        text: &str,
        ev: &mut Event,
    ) -> Result<std::sync::Arc<ParsedQuery>, Response> {
        ev.query = Some(super::clip(text, 10_000));
        let cached = super::lock(&self.soql_cache).get(text).cloned();
        let parsed = match cached {
            Some(q) => q,
            None => {
                let q = std::sync::Arc::new(ParsedQuery {
                    query: soql::parse(text).map_err(|e| {
                        Response::error(
                            400,
                            "MALFORMED_QUERY",
                            &soql::caret_message(text, e.pos, &e.message),
                        )
                    })?,
                    selected: Default::default(),
                });
                if text.len() <= SOQL_CACHE_TEXT_BYTES {
                    let mut cache = super::lock(&self.soql_cache);
                    if cache.len() >= SOQL_CACHE_ENTRIES {
                        cache.clear();
                    }
                    cache.insert(text.to_owned(), q.clone());
                }
                q
            }
        };
        ev.queried_entities = Some(parsed.object.clone());
        Ok(parsed)
    }

    /// Runs a parsed query as `user` against the store as it is.
    #[allow(clippy::too_many_arguments)]
    fn execute_query(
        &self,
        now_ms: i64,
        user: usize,
        eff: &std::sync::Arc<crate::model::Effective>,
        text: &str,
        parsed: &ParsedQuery,
        ev: &mut Event,
        include_deleted: bool,
    ) -> Result<query::Executed, Response> {
        let acc = Access {
            org: &self.org,
            eff,
        };
        let to_response = |QueryError {
                               status,
                               code,
                               message,
                           }| Response::error(status, code, &message);
        let sel = parsed
            .selected_for(eff, || query::select(&self.store, &acc, text, parsed))
            .map_err(to_response)?;
        let ex = query::execute(
            &self.store,
            &acc,
            text,
            parsed,
            sel,
            now_ms,
            include_deleted,
            &self.store.user_ids[user],
        )
        .map_err(to_response)?;
        ev.queried_entities = Some(ex.entity.clone());
        Ok(ex)
    }
}

/// Most permission sets a parsed query keeps a resolved select list for.
const SELECTED_PER_QUERY: usize = 8;

/// A parsed SOQL query as kept per text, with its object and select list
/// as resolved for the permissions that ran it lately (resolution is a
/// pure function of the schema, the fixture and the permissions; the
/// filter is not kept, as relative dates depend on the time).
#[derive(Debug)]
pub(super) struct ParsedQuery {
    pub query: soql::Query,
    /// Each `Effective` is held, so its address cannot be reused by another
    /// while it keys an entry; a permission change makes a new one.
    selected: std::sync::Mutex<Vec<(std::sync::Arc<crate::model::Effective>, query::Selected)>>,
}

impl std::ops::Deref for ParsedQuery {
    type Target = soql::Query;
    fn deref(&self) -> &soql::Query {
        &self.query
    }
}

impl ParsedQuery {
    /// The select list resolved for `eff`: kept, or resolved now (errors
    /// are not kept).
    fn selected_for(
        &self,
        eff: &std::sync::Arc<crate::model::Effective>,
        resolve: impl FnOnce() -> Result<query::Selected, QueryError>,
    ) -> Result<query::Selected, QueryError> {
        let kept = super::lock(&self.selected)
            .iter()
            .find(|(e, _)| std::sync::Arc::ptr_eq(e, eff))
            .map(|(_, s)| s.clone());
        if let Some(s) = kept {
            return Ok(s);
        }
        let s = resolve()?;
        let mut kept = super::lock(&self.selected);
        if kept.len() >= SELECTED_PER_QUERY {
            kept.remove(0);
        }
        kept.push((eff.clone(), s.clone()));
        Ok(s)
    }
}

/// The locator id of a page's cursor: one already kept (`queryMore`), or
/// the number of a new one, written out only if a next page exists.
enum CursorName {
    Kept(String),
    New(u64),
}

/// A cursor over an executed query, paged at the batch size the call asks
/// for (`Sforce-Query-Options: batchSize=N`, 200–2000).
fn cursor(ex: query::Executed, user: usize, v: u32, req: &Request) -> Cursor {
    let batch = req
        .header("sforce-query-options")
        .and_then(|h| {
            h.split(',')
                .find_map(|p| p.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map_or(DEFAULT_BATCH_SIZE, |n| n.clamp(200, DEFAULT_BATCH_SIZE));
    Cursor {
        table: ex.table,
        rows: ex.rows,
        select: ex.select,
        next: 0,
        user,
        version: v,
        batch,
    }
}

/// Parsed queries kept (past it the cache starts over) and the longest
/// text kept: at most ~1 MiB of SOQL.
const SOQL_CACHE_ENTRIES: usize = 256;
const SOQL_CACHE_TEXT_BYTES: usize = 4096;

/// Maximum records in one sObject collection request.
pub const MAX_COLLECTION: usize = 200;

fn collection_result(r: &Response, id: Option<&str>) -> Value {
    if r.status < 300 {
        let id = r
            .body_json()
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(id.map(str::to_owned));
        return json!({"id": id, "success": true, "errors": []});
    }
    let errs: Vec<Value> = r
        .body_json()
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| json!({"statusCode": e["errorCode"], "message": e["message"], "fields": e.get("fields").cloned().unwrap_or(json!([]))}))
                .collect()
        })
        .unwrap_or_default();
    json!({"id": id, "success": false, "errors": errs})
}

impl OrgState {
    /// allOrNone: when anything failed, restore the snapshot and mark the
    /// records that had succeeded as rolled back.
    fn roll_back_if(
        &mut self,
        snapshot: Option<super::store::Store>,
        failed: bool,
        results: Vec<Value>,
    ) -> Vec<Value> {
        match (snapshot, failed) {
            (Some(store), true) => {
                self.store = store;
                results
                    .into_iter()
                    .map(|r| {
                        if r["success"] == true {
                            rolled_back(r["id"].as_str())
                        } else {
                            r
                        }
                    })
                    .collect()
            }
            _ => results,
        }
    }
}

fn rolled_back(id: Option<&str>) -> Value {
    json!({"id": id, "success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]})
}

impl OrgState {
    fn collection_records(req: &Request) -> Result<(bool, Vec<Value>), Response> {
        let body = req.json_body()?;
        let all_or_none = body
            .get("allOrNone")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(records) = body.get("records").and_then(Value::as_array) else {
            return Err(Response::error(
                400,
                "JSON_PARSER_ERROR",
                "The request body needs a records array",
            ));
        };
        if records.len() > MAX_COLLECTION {
            return Err(Response::error(
                400,
                "EXCEEDED_ID_LIMIT",
                &format!(
                    "record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"
                ),
            ));
        }
        Ok((all_or_none, records.clone()))
    }

    /// `POST /composite/sobjects`: create up to 200 records.
    fn collection_create(
        &mut self,
        now_ms: i64,
        user: usize,
        v: u32,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let (all_or_none, records) = match Self::collection_records(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let mut results = Vec::new();
        let mut created: Vec<(String, String)> = Vec::new();
        let mut failed = false;
        for rec in &records {
            let Some(t) = rec
                .pointer("/attributes/type")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                results.push(json!({"id": null, "success": false, "errors": [{"statusCode": "INVALID_TYPE", "message": "Must specify a type in attributes", "fields": []}]}));
                failed = true;
                continue;
            };
            let mut fields = rec.clone();
            if let Some(m) = fields.as_object_mut() {
                m.remove("attributes");
            }
            let sub = Request {
                body: fields.to_string().into_bytes(),
                ..req.clone()
            };
            let mut sub_ev = ev.clone();
            let r = self.create(now_ms, user, v, &t, &sub, &mut sub_ev);
            let res = collection_result(&r, None);
            if r.status < 300 {
                created.push((t, res["id"].as_str().unwrap_or("").to_owned()));
                ev.records.extend(sub_ev.records);
            } else {
                failed = true;
            }
            results.push(res);
        }
        if all_or_none && failed {
            for (t, id) in &created {
                let mut sub_ev = ev.clone();
                self.delete(now_ms, user, t, id, &mut sub_ev);
            }
            ev.records.clear();
            results = results
                .into_iter()
                .map(|r| {
                    if r["success"] == true {
                        rolled_back(None)
                    } else {
                        r
                    }
                })
                .collect();
        }
        ev.rows_processed = ev.records.len() as u64;
        Response::json(200, &Value::Array(results))
    }

    /// `PATCH /composite/sobjects`: update up to 200 records.
    fn collection_update(
        &mut self,
        now_ms: i64,
        user: usize,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let (all_or_none, records) = match Self::collection_records(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let snapshot = if all_or_none {
            Some(self.store.clone())
        } else {
            None
        };
        let mut results = Vec::new();
        let mut failed = false;
        for rec in &records {
            let t = rec
                .pointer("/attributes/type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let id = rec
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let mut fields = rec.clone();
            if let Some(m) = fields.as_object_mut() {
                m.remove("attributes");
                m.remove("id");
            }
            let sub = Request {
                body: fields.to_string().into_bytes(),
                ..req.clone()
            };
            let mut sub_ev = ev.clone();
            let r = self.update(now_ms, user, &t, &id, &sub, &mut sub_ev);
            failed |= r.status >= 300;
            results.push(collection_result(&r, Some(&id)));
        }
        let results = self.roll_back_if(snapshot, failed, results);
        ev.rows_processed = results.iter().filter(|r| r["success"] == true).count() as u64;
        Response::json(200, &Value::Array(results))
    }

    /// `DELETE /composite/sobjects?ids=…&allOrNone=…`.
    fn collection_delete(
        &mut self,
        now_ms: i64,
        user: usize,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let ids: Vec<String> = req
            .param("ids")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if ids.len() > MAX_COLLECTION {
            return Response::error(
                400,
                "EXCEEDED_ID_LIMIT",
                &format!(
                    "record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"
                ),
            );
        }
        let all_or_none = req.param("allOrNone").is_some_and(|v| v == "true");
        let snapshot = if all_or_none {
            Some(self.store.clone())
        } else {
            None
        };
        let mut results = Vec::new();
        let mut failed = false;
        for id in &ids {
            let name = self
                .store
                .table_for_id(id)
                .map(|t| self.store.tables[t].schema.name.clone())
                .unwrap_or_default();
            let mut sub_ev = ev.clone();
            let r = self.delete(now_ms, user, &name, id, &mut sub_ev);
            failed |= r.status >= 300;
            results.push(collection_result(&r, Some(id)));
        }
        let results = self.roll_back_if(snapshot, failed, results);
        Response::json(200, &Value::Array(results))
    }

    /// `POST /composite/sobjects/{T}` `{ids, fields}`: records or nulls.
    fn collection_retrieve(
        &mut self,
        user: usize,
        v: u32,
        name: &str,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let ids: Vec<String> = body
            .get("ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let fields: Vec<String> = body
            .get("fields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if ids.len() > 2000 {
            return Response::error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 2000 records into this call",
            );
        }
        if fields.is_empty() {
            return Response::error(400, "JSON_PARSER_ERROR", "fields is required");
        }
        let mut out = Vec::new();
        for id in &ids {
            let sub = Request {
                query: format!("fields={}", fields.join(",")),
                ..req.clone()
            };
            let mut sub_ev = ev.clone();
            let r = self.retrieve(user, v, name, id, &sub, &mut sub_ev);
            match r.status {
                200 => {
                    ev.records.extend(sub_ev.records);
                    out.push(r.body_json());
                }
                404 => out.push(Value::Null),
                _ => return r,
            }
        }
        ev.kind = EventKind::Rest;
        ev.rows_processed = ev.records.len() as u64;
        Response::json(200, &Value::Array(out))
    }
}

/// Converts a JSON field value to its stored form, with Salesforce's type,
/// format, length and required-field checks.
fn check_value(c: &super::schema::Column, v: &Value) -> Result<String, Response> {
    use crate::model::FieldType as T;
    let kind = |v: &Value| match v {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_TRUE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    };
    let bad = |ty: &str| {
        Response::error(
            400,
            "JSON_PARSER_ERROR",
            &format!(
                "Cannot deserialize instance of {ty} from {} value {v} or request may be missing a required field",
                kind(v)
            ),
        )
    };
    if v.is_null() {
        if c.required {
            return Err(Response::error_fields(
                400,
                "REQUIRED_FIELD_MISSING",
                &format!("Required fields are missing: [{}]", c.name),
                &[c.name.as_str()],
            ));
        }
        return Ok(String::new());
    }
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad("string")),
    };
    match c.ftype {
        T::Boolean if !v.is_boolean() => return Err(bad("boolean")),
        T::Int if text.parse::<i64>().is_err() => return Err(bad("int")),
        T::Currency | T::Double if !text.parse::<f64>().is_ok_and(f64::is_finite) => {
            return Err(bad("double"));
        }
        T::Date if !(text.len() == 10 && super::soql::valid_datetime(&text)) => {
            return Err(bad("date"));
        }
        T::Datetime if !super::soql::valid_datetime(&text) => return Err(bad("datetime")),
        T::Email
            if !text
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.')) =>
        {
            return Err(Response::error_fields(
                400,
                "INVALID_EMAIL_ADDRESS",
                &format!("{}: invalid email address: {text}", c.label),
                &[c.name.as_str()],
            ));
        }
        T::Reference | T::Id if !text.is_empty() && !crate::sfid::is_valid(&text) => {
            return Err(Response::error_fields(
                400,
                "MALFORMED_ID",
                &format!("{}: id value of incorrect type: {text}", c.label),
                &[c.name.as_str()],
            ));
        }
        _ => {}
    }
    let max = match c.ftype {
        T::Textarea => 32_768,
        T::Id | T::Reference => 18,
        _ => 255,
    };
    if text.chars().count() > max {
        return Err(Response::error_fields(
            400,
            "STRING_TOO_LONG",
            &format!(
                "{}: data value too large: {}… (max length={max})",
                c.label,
                text.chars().take(20).collect::<String>()
            ),
            &[c.name.as_str()],
        ));
    }
    if c.required && text.is_empty() {
        return Err(Response::error_fields(
            400,
            "REQUIRED_FIELD_MISSING",
            &format!("Required fields are missing: [{}]", c.name),
            &[c.name.as_str()],
        ));
    }
    Ok(text)
}
