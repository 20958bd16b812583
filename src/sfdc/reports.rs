//! Reports: one tabular "All <objects>" report per data object of the
//! fixture, with every field as a column (as orgs accumulate them), run
//! through the Analytics REST API (`analytics/reports`, `…/{id}/describe`,
//! `…/{id}?includeDetails=true`, at most 2,000 detail rows) and exported the
//! way people and scrapers do (`GET /{id}?export=1&enc=UTF-8&xf=csv`, every
//! row). Each run or export is a `Report` telemetry event (ReportEvent,
//! EventLogFile `Report`/`ReportExport`).
//!
//! Owns: report definitions and their output shapes. Must not: decide
//! permissions — rows and columns come from `prepare_query`, i.e. from
//! `query::Access` (sharing, FLS), and export needs Export Reports.

use serde_json::{Value, json};

use super::query::record_json;
use super::telemetry::{EventKind, MAX_RECORD_IDS};
use super::{Event, OrgState, Request, Response};
use crate::model::{Org, SystemPermission};
use crate::seed::Seed;

/// Detail rows the synchronous Analytics API returns at most.
pub const MAX_API_ROWS: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `00O…` (18 characters).
    pub id: String,
    pub name: String,
    pub developer_name: String,
    pub object: String,
    /// Field API names, in fixture order.
    pub columns: Vec<String>,
}

/// The org's reports, one per data object.
pub fn build(org: &Org, seed: Seed) -> Vec<Report> {
    org.objects
        .iter()
        .enumerate()
        .map(|(k, o)| Report {
            id: crate::sfid::record_id(seed.fork("reports"), "00O", k as u64),
            name: format!("All {} (with details)", o.label),
            developer_name: format!("All_{}", o.name.trim_end_matches("__c")),
            object: o.name.clone(),
            columns: o.fields.iter().map(|f| f.name.clone()).collect(),
        })
        .collect()
}

/// A report run as one user: its readable columns (in `rep.columns`), the
/// rows as text, and the rows' record Ids.
struct Ran {
    rep: Report,
    rows: Vec<Vec<String>>,
    ids: Vec<String>,
}

fn not_found() -> Response {
    Response::error(404, "NOT_FOUND", "The requested resource does not exist")
}

impl OrgState {
    /// `GET analytics/reports`: the reports the user may run (object read).
    pub(super) fn report_list(&mut self, user: usize, v: u32) -> Response {
        let eff = self.auth.effective(&self.org, user);
        let list: Vec<Value> = self
            .reports
            .iter()
            .filter(|r| eff.object(&r.object).read)
            .map(|r| {
                let url = format!("/services/data/v{v}.0/analytics/reports/{}", r.id);
                json!({
                    "describeUrl": format!("{url}/describe"),
                    "id": r.id,
                    "instancesUrl": format!("{url}/instances"),
                    "name": r.name,
                    "url": url,
                })
            })
            .collect();
        Response::json(200, &Value::Array(list))
    }

    fn report_by_id(&self, id: &str) -> Option<Report> {
        self.reports
            .iter()
            .find(|r| r.id == id || (id.len() == 15 && r.id.starts_with(id)))
            .cloned()
    }

    /// Runs report `id` as `user`: the SOQL behind it, through the normal
    /// query path (sharing and FLS). Columns the user cannot read are left
    /// out, as Salesforce does.
    fn run_report(
        &mut self,
        now_ms: i64,
        user: usize,
        id: &str,
        ev: &mut Event,
    ) -> Result<Ran, Response> {
        let Some(mut rep) = self.report_by_id(id) else {
            return Err(not_found());
        };
        let eff = self.auth.effective(&self.org, user);
        let Some(obj) = self.org.object(&rep.object) else {
            return Err(not_found());
        };
        if !eff.object(&obj.name).read {
            return Err(Response::error(
                403,
                "FORBIDDEN",
                "You don't have sufficient privileges to perform this operation.",
            ));
        }
        let cols: Vec<String> = obj
            .fields
            .iter()
            .filter(|f| rep.columns.contains(&f.name) && eff.field(obj, f).read)
            .map(|f| f.name.clone())
            .collect();
        rep.columns = cols.clone();
        let mut select = vec!["Id".to_owned()];
        select.extend(cols.iter().filter(|c| c.as_str() != "Id").cloned());
        let soql = format!("SELECT {} FROM {}", select.join(", "), rep.object);
        let (_, ex) = self.prepare_query(now_ms, user, &soql, ev, false)?;
        let t = ex.table;
        let mut ids = Vec::with_capacity(ex.rows.len());
        let rows: Vec<Vec<String>> = ex
            .rows
            .iter()
            .map(|&r| {
                let rec = record_json(&self.store, t, r, &ex.select, 62);
                ids.push(rec["Id"].as_str().unwrap_or_default().to_owned());
                cols.iter()
                    .map(|c| match &rec[c.as_str()] {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        // The report's SOQL is not what the user sent: keep the event about
        // the report, not a query.
        ev.query = None;
        ev.classes = super::query::read_classes(&self.org, &self.store, &ex.select);
        Ok(Ran { rep, rows, ids })
    }

    fn report_event(ev: &mut Event, rep: &Report, op: &str, rows: usize, ids: &[String]) {
        ev.kind = EventKind::Report;
        ev.operation = Some(op.to_owned());
        ev.queried_entities = Some(rep.object.clone());
        ev.rows_processed = rows as u64;
        ev.rows_returned = rows as u64;
        ev.records = ids
            .iter()
            .take(MAX_RECORD_IDS)
            .map(|i| crate::sfid::Id::new(i))
            .collect();
        ev.detail = Some(format!(
            "ReportId={};Name={};ColumnHeaders={}",
            rep.id,
            rep.name,
            rep.columns.join(",")
        ));
    }

    /// `GET analytics/reports/{id}/describe`.
    pub(super) fn report_describe(&mut self, user: usize, id: &str) -> Response {
        let Some(rep) = self.report_by_id(id) else {
            return not_found();
        };
        let eff = self.auth.effective(&self.org, user);
        if !eff.object(&rep.object).read {
            return not_found();
        }
        Response::json(200, &json!({"reportMetadata": metadata(&rep)}))
    }

    /// `GET|POST analytics/reports/{id}[?includeDetails=true]`: a
    /// synchronous run, detail rows capped at 2,000.
    pub(super) fn report_run(
        &mut self,
        now_ms: i64,
        user: usize,
        id: &str,
        req: &Request,
        ev: &mut Event,
    ) -> Response {
        let details = req
            .param("includeDetails")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let Ran { rep, rows, ids } = match self.run_report(now_ms, user, id, ev) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let shown = if details {
            rows.len().min(MAX_API_ROWS)
        } else {
            0
        };
        Self::report_event(ev, &rep, "ReportRunUsingApi", shown, &ids[..shown]);
        let detail_rows: Vec<Value> = rows[..shown]
            .iter()
            .map(|r| {
                json!({"dataCells": r.iter().map(|v| json!({"label": v, "value": v})).collect::<Vec<_>>()})
            })
            .collect();
        Response::json(
            200,
            &json!({
                "allData": rows.len() <= MAX_API_ROWS,
                "attributes": {"reportId": rep.id, "reportName": rep.name, "type": "Report"},
                "factMap": {"T!T": {"aggregates": [{"label": rows.len().to_string(), "value": rows.len()}], "rows": detail_rows}},
                "groupingsAcross": {"groupings": []},
                "groupingsDown": {"groupings": []},
                "hasDetailRows": details,
                "reportMetadata": metadata(&rep),
            }),
        )
    }

    /// `GET /{id}?export=1&enc=UTF-8&xf=csv`: every row as CSV; needs Export
    /// Reports.
    pub(super) fn report_export(
        &mut self,
        now_ms: i64,
        req: &Request,
        ev: &mut Event,
        id: &str,
    ) -> Response {
        let user = match self.authenticate(now_ms, req, ev) {
            Ok(si) => self.auth.sessions[si].user,
            Err(d) => return d.response(),
        };
        if req
            .param("xf")
            .is_some_and(|x| !x.eq_ignore_ascii_case("csv"))
        {
            return Response::error(
                400,
                "INVALID_FORMAT",
                "Only xf=csv is supported by this mock",
            );
        }
        let eff = self.auth.effective(&self.org, user);
        if !eff.has(SystemPermission::ExportReport) {
            return Response::error(
                403,
                "INSUFFICIENT_ACCESS",
                "You don't have permission to export reports.",
            );
        }
        let Ran { rep, rows, ids } = match self.run_report(now_ms, user, id, ev) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let cols = &rep.columns;
        Self::report_event(ev, &rep, "ReportExported", rows.len(), &ids);
        // Header: the columns' labels, every value quoted, as Salesforce's
        // export writes them.
        let labels: Vec<String> = cols
            .iter()
            .map(|c| {
                self.org
                    .object(&rep.object)
                    .and_then(|o| o.field(c))
                    .map_or_else(|| c.clone(), |f| f.label.clone())
            })
            .collect();
        let mut out = Vec::with_capacity(64 + rows.len() * 128);
        crate::generate::write_csv_row(&mut out, labels.iter().map(String::as_bytes));
        for r in &rows {
            crate::generate::write_csv_row(&mut out, r.iter().map(String::as_bytes));
        }
        Response {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/csv; charset=UTF-8".into()),
                (
                    "content-disposition".into(),
                    format!("attachment; filename=\"{}.csv\"", rep.developer_name),
                ),
            ],
            body: out,
        }
    }
}

fn metadata(rep: &Report) -> Value {
    json!({
        "detailColumns": rep.columns.iter().map(|c| format!("{}.{c}", rep.object)).collect::<Vec<_>>(),
        "developerName": rep.developer_name,
        "id": rep.id,
        "name": rep.name,
        "reportFormat": "TABULAR",
        "reportType": {"label": rep.object, "type": rep.object},
    })
}
