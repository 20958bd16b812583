//! Bulk API 2.0 query jobs (`/services/data/vNN.0/jobs/query`): create (the
//! query runs at once, as the caller, with the same permission checks as
//! REST), job info (complete on the first poll so clients do not sleep),
//! CSV results paged with `Sforce-Locator` (the literal `null` on the last
//! page) and `Sforce-NumberOfRecords`, abort and delete. Each result
//! download is a BulkApiResultEvent.
//!
//! Owns: query jobs and their result pages. Must not: bypass `query::execute`
//! for permissions or keep more than [`MAX_JOBS`] jobs.

use base64::Engine;
use serde_json::{Value, json};

use super::query;
use super::telemetry::{EventKind, MAX_RECORD_IDS};
use super::{Event, Method, OrgState, Request, Response, sf_datetime, soql};
use crate::generate::write_csv_row;

/// Jobs kept per org (oldest dropped first).
pub const MAX_JOBS: usize = 1000;
/// Rows per result page when the client does not set `maxRecords`.
pub const DEFAULT_PAGE_ROWS: usize = 50_000;

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub user: usize,
    pub operation: String,
    pub object: String,
    pub query: String,
    pub created_ms: i64,
    pub state: &'static str,
    pub version: u32,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    ids: Vec<String>,
    classes: crate::model::ClassSet,
}

impl OrgState {
    pub(super) fn bulk2(
        &mut self,
        now_ms: i64,
        user: usize,
        v: u32,
        req: &Request,
        ev: &mut Event,
        rest: &[&str],
    ) -> Response {
        ev.api_type = "Bulk";
        match (req.method, rest) {
            (Method::Post, []) => self.create_job(now_ms, user, v, req, ev),
            (Method::Get, []) => {
                let records: Vec<Value> = self
                    .jobs
                    .iter()
                    .filter(|j| j.user == user)
                    .map(|j| self.job_info(j))
                    .collect();
                Response::json(
                    200,
                    &json!({"done": true, "records": records, "nextRecordsUrl": null}),
                )
            }
            (Method::Get, [id]) => match self.job_index(id, user) {
                Some(j) => {
                    if self.jobs[j].state == "UploadComplete" {
                        self.jobs[j].state = "JobComplete";
                    }
                    Response::json(200, &self.job_info(&self.jobs[j]))
                }
                None => job_not_found(),
            },
            (Method::Patch, [id]) => match self.job_index(id, user) {
                Some(j) => {
                    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                    if body.get("state").and_then(Value::as_str) != Some("Aborted") {
                        return Response::error(
                            400,
                            "INVALIDJOBSTATE",
                            "Only the Aborted state can be set on a query job",
                        );
                    }
                    if self.jobs[j].state == "JobComplete" {
                        return Response::error(400, "INVALIDJOBSTATE", "Job is already complete");
                    }
                    self.jobs[j].state = "Aborted";
                    Response::json(200, &self.job_info(&self.jobs[j]))
                }
                None => job_not_found(),
            },
            (Method::Delete, [id]) => match self.job_index(id, user) {
                Some(j) => {
                    self.jobs.remove(j);
                    Response::empty(204)
                }
                None => job_not_found(),
            },
            (Method::Get, [id, "results"]) => self.job_results(user, id, req, ev),
            _ => Response::error(404, "NOT_FOUND", "The requested resource does not exist"),
        }
    }

    fn job_index(&self, id: &str, user: usize) -> Option<usize> {
        let id15 = id.get(..15)?;
        self.jobs
            .iter()
            .position(|j| j.id.starts_with(id15) && j.user == user)
    }

    fn job_info(&self, j: &Job) -> Value {
        json!({
            "id": j.id,
            "operation": j.operation,
            "object": j.object,
            "createdById": self.store.user_ids[j.user],
            "createdDate": sf_datetime(j.created_ms),
            "systemModstamp": sf_datetime(j.created_ms),
            "state": j.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": f64::from(j.version),
            "jobType": "V2Query",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "numberRecordsProcessed": if j.state == "JobComplete" { j.rows.len() } else { 0 },
            "retries": 0,
            "totalProcessingTime": 0,
            "isPkChunkingSupported": true,
        })
    }

    fn create_job(
        &mut self,
        now_ms: i64,
        user: usize,
        v: u32,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        ev.kind = EventKind::Query;
        let body = match req.json_body() {
            Ok(b) => b,
            Err(r) => return r,
        };
        let operation = body.get("operation").and_then(Value::as_str).unwrap_or("");
        if !matches!(operation, "query" | "queryAll") {
            return Response::error(
                400,
                "INVALIDJOB",
                "InvalidJob : Invalid operation: operation must be query or queryAll",
            );
        }
        for (k, allowed) in [
            ("columnDelimiter", "COMMA"),
            ("lineEnding", "LF"),
            ("contentType", "CSV"),
        ] {
            if let Some(x) = body.get(k).and_then(Value::as_str)
                && x != allowed
            {
                return Response::error(
                    400,
                    "INVALIDJOB",
                    &format!("leakdrill mock: only {k} {allowed} is supported"),
                );
            }
        }
        let Some(text) = body.get("query").and_then(Value::as_str).map(str::to_owned) else {
            return Response::error(400, "INVALIDJOB", "InvalidJob : Query is required");
        };
        ev.operation = Some(
            if operation == "query" {
                "Query"
            } else {
                "QueryAll"
            }
            .into(),
        );
        let (parsed, ex) =
            match self.prepare_query(now_ms, user, &text, ev, operation == "queryAll") {
                Ok(x) => x,
                Err(r) => return r,
            };
        if parsed.count_only || parsed.offset.is_some() {
            return Response::error(
                400,
                "INVALIDJOB",
                "InvalidJob : Aggregate queries and OFFSET are not supported by the Bulk API",
            );
        }
        if parsed
            .select
            .iter()
            .any(|s| matches!(s, soql::SelectItem::Fields(..)))
        {
            return Response::error(
                400,
                "INVALIDJOB",
                "InvalidJob : FIELDS() is not supported by the Bulk API",
            );
        }
        let header: Vec<String> = ex.select.iter().map(|p| p.names.join(".")).collect();
        let table = &self.store.tables[ex.table];
        let mut rows = Vec::with_capacity(ex.rows.len());
        let mut ids = Vec::with_capacity(ex.rows.len());
        for r in &ex.rows {
            let rec = query::record_json(&self.store, ex.table, *r, &ex.select, v);
            rows.push(
                ex.select
                    .iter()
                    .map(|p| flat_value(&rec, &p.names))
                    .collect(),
            );
            ids.push(table.rows[*r].values[0].clone());
        }
        self.job_seq += 1;
        let id = crate::sfid::record_id(self.seed.fork("bulk2"), "750", self.job_seq);
        let job = Job {
            id,
            user,
            operation: operation.to_owned(),
            object: ex.entity,
            query: text,
            created_ms: now_ms,
            state: "UploadComplete",
            version: v,
            header,
            rows,
            ids,
            classes: query::read_classes(&self.org, &self.store, &ex.select),
        };
        let info = self.job_info(&job);
        self.jobs.push(job);
        if self.jobs.len() > MAX_JOBS {
            self.jobs.remove(0);
        }
        Response::json(200, &info)
    }

    fn job_results(&mut self, user: usize, id: &str, req: &Request, ev: &mut Event) -> Response {
        let Some(j) = self.job_index(id, user) else {
            return job_not_found();
        };
        if self.jobs[j].state == "Aborted" {
            return Response::error(
                400,
                "INVALIDJOBSTATE",
                "can only download query results of successfully completed bulk job with status: JOB_COMPLETE. Current status: ABORTED",
            );
        }
        self.jobs[j].state = "JobComplete";
        let job = &self.jobs[j];
        let start = match req
            .param("locator")
            .filter(|l| !l.is_empty() && l != "null")
        {
            None => 0,
            Some(l) => match base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(l.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|n| *n <= job.rows.len())
            {
                Some(n) => n,
                None => return Response::error(400, "INVALIDLOCATOR", "Invalid locator"),
            },
        };
        let page = match req.param("maxRecords") {
            None => DEFAULT_PAGE_ROWS,
            Some(m) => match m.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Response::error(
                        400,
                        "INVALIDMAXRECORDS",
                        "maxRecords must be a positive integer",
                    );
                }
            },
        };
        let end = (start + page).min(job.rows.len());
        let mut out = Vec::with_capacity((end - start + 1) * 64);
        write_csv_row(&mut out, job.header.iter().map(|h| h.as_bytes()));
        for row in &job.rows[start..end] {
            write_csv_row(&mut out, row.iter().map(|v| v.as_bytes()));
        }
        let locator = if end < job.rows.len() {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(end.to_string())
        } else {
            "null".to_owned()
        };
        ev.kind = EventKind::BulkResult;
        ev.operation = Some("BulkResult".into());
        ev.query = Some(super::clip(&job.query, 10_000));
        ev.queried_entities = Some(job.object.clone());
        ev.rows_processed = (end - start) as u64;
        ev.rows_returned = ev.rows_processed;
        ev.classes = job.classes;
        ev.records = job.ids[start..end]
            .iter()
            .take(MAX_RECORD_IDS)
            .map(|i| crate::sfid::Id::new(i))
            .collect();
        ev.detail = Some(format!("JobId={}", job.id));
        Response {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/csv".into()),
                ("sforce-numberofrecords".into(), (end - start).to_string()),
                ("sforce-locator".into(), locator),
            ],
            body: out,
        }
    }
}

/// A CSV cell for a (possibly nested) field of a record as JSON.
fn flat_value(rec: &Value, path: &[String]) -> String {
    let mut v = rec;
    for p in path {
        match v.get(p) {
            Some(x) => v = x,
            None => return String::new(),
        }
    }
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn job_not_found() -> Response {
    Response::error(404, "NOT_FOUND", "The requested resource does not exist")
}
