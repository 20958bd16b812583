//! Setup objects and the response actions that act through them, exactly as
//! a SOAR tool calls Salesforce: `PATCH UserLogin {IsFrozen}` (freeze),
//! `PATCH User {IsActive}` (deactivate), `DELETE AuthSession` (end a
//! session), `POST`/`DELETE PermissionSetAssignment` (grant or remove a
//! permission set). Rows of these objects are rebuilt from runtime state when
//! read, so they always tell the truth. This is the org's one containment
//! door besides `/services/oauth2/revoke`.
//!
//! Owns: setup-object schemas, their rows and writes. Must not: bypass
//! `Manage Users` checks or touch data records.

use serde_json::{Value, json};

use super::schema::{TableKind, TableSchema};
use super::telemetry::EventKind;
use super::{Event, OrgState, Response, sf_datetime};
use crate::model::{FieldType, SystemPermission};
use crate::sfid;

pub fn schemas() -> Vec<TableSchema> {
    use FieldType::*;
    vec![
        TableSchema::standard(
            TableKind::UserLogin,
            "UserLogin",
            "060",
            &[
                ("UserId", Reference),
                ("IsFrozen", Boolean),
                ("IsPasswordLocked", Boolean),
                ("LastModifiedDate", Datetime),
            ],
        ),
        TableSchema::standard(
            TableKind::AuthSession,
            "AuthSession",
            "0Ak",
            &[
                ("UsersId", Reference),
                ("LoginType", Picklist),
                ("SessionType", Picklist),
                ("SessionSecurityLevel", Picklist),
                ("SourceIp", String),
                ("NumSecondsValid", Int),
                ("CreatedDate", Datetime),
                ("LastModifiedDate", Datetime),
                ("IsCurrent", Boolean),
                ("LoginHistoryId", Reference),
            ],
        ),
        TableSchema::standard(
            TableKind::PermissionSet,
            "PermissionSet",
            "0PS",
            &[
                ("Name", String),
                ("Label", String),
                ("IsOwnedByProfile", Boolean),
                ("PermissionsApiEnabled", Boolean),
                ("PermissionsViewAllData", Boolean),
                ("PermissionsModifyAllData", Boolean),
                ("PermissionsExportReport", Boolean),
                ("PermissionsManageUsers", Boolean),
                ("PermissionsViewEventLogFiles", Boolean),
            ],
        ),
        TableSchema::standard(
            TableKind::PermissionSetAssignment,
            "PermissionSetAssignment",
            "0Pa",
            &[
                ("AssigneeId", Reference),
                ("PermissionSetId", Reference),
                ("ExpirationDate", Datetime),
            ],
        ),
        TableSchema::standard(
            TableKind::OauthToken,
            "OauthToken",
            "0CQ",
            &[
                ("AppName", String),
                ("UserId", Reference),
                ("CreatedDate", Datetime),
                ("LastUsedDate", Datetime),
                ("UseCount", Int),
                ("DeleteToken", String),
            ],
        ),
        TableSchema::standard(
            TableKind::ConnectedApplication,
            "ConnectedApplication",
            "0H4",
            &[
                ("Name", String),
                ("OptionsAllowAdminApprovedUsersOnly", Boolean),
                ("OptionsRefreshTokenValidityMetric", Boolean),
                ("RefreshTokenValidityPeriod", Int),
                ("OptionsFullContentPushNotifications", Boolean),
            ],
        ),
    ]
}

/// Id of a user's UserLogin row.
fn user_login_id(s: &OrgState, user: usize) -> String {
    sfid::record_id(s.seed.fork("userlogin"), "060", user as u64)
}

fn permission_set_id(s: &OrgState, ps: usize) -> String {
    sfid::record_id(s.seed.fork("permsets"), "0PS", ps as u64)
}

fn assignment_id(s: &OrgState, user: usize, ps: usize) -> String {
    sfid::record_id(
        s.seed.fork("psa").fork(&s.org.users[user].username),
        "0Pa",
        ps as u64,
    )
}

fn b(v: bool) -> String {
    v.to_string()
}

impl OrgState {
    /// Rebuilds the rows of one setup object from runtime state.
    pub fn refresh_admin(&mut self, kind: TableKind, now_ms: i64) {
        let rows: Vec<Vec<String>> = match kind {
            TableKind::UserLogin => (0..self.org.users.len())
                .map(|u| {
                    vec![
                        user_login_id(self, u),
                        self.store.user_ids[u].clone(),
                        b(self.auth.users[u].frozen),
                        "false".into(),
                        sf_datetime(now_ms),
                    ]
                })
                .collect(),
            TableKind::AuthSession => {
                let timeout = self.opts.session_seconds_valid as i64 * 1000;
                self.auth
                    .sessions
                    .iter()
                    .filter(|s| !s.ended && now_ms - s.last_used_ms.get() <= timeout)
                    .map(|s| {
                        vec![
                            s.id.clone(),
                            self.store.user_ids[s.user].clone(),
                            s.kind.login_type().into(),
                            if s.app.is_some() { "Oauth2" } else { "SoapApi" }.into(),
                            "STANDARD".into(),
                            s.source_ip.to_string(),
                            self.opts.session_seconds_valid.to_string(),
                            sf_datetime(s.created_ms),
                            sf_datetime(s.last_used_ms.get()),
                            "false".into(),
                            String::new(),
                        ]
                    })
                    .collect()
            }
            TableKind::PermissionSet => self
                .org
                .permission_sets
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let has = |x: SystemPermission| b(p.grants.system.contains(&x));
                    vec![
                        permission_set_id(self, i),
                        p.name.clone(),
                        p.label.clone(),
                        "false".into(),
                        has(SystemPermission::ApiEnabled),
                        has(SystemPermission::ViewAllData),
                        has(SystemPermission::ModifyAllData),
                        has(SystemPermission::ExportReport),
                        has(SystemPermission::ManageUsers),
                        has(SystemPermission::ViewEventLogFiles),
                    ]
                })
                .collect(),
            TableKind::PermissionSetAssignment => {
                let mut rows = Vec::new();
                for (u, ua) in self.auth.users.iter().enumerate() {
                    for name in &ua.permission_sets {
                        if let Some(ps) = self
                            .org
                            .permission_sets
                            .iter()
                            .position(|p| &p.name == name)
                        {
                            rows.push(vec![
                                assignment_id(self, u, ps),
                                self.store.user_ids[u].clone(),
                                permission_set_id(self, ps),
                                String::new(),
                            ]);
                        }
                    }
                }
                rows
            }
            TableKind::OauthToken => self
                .auth
                .grants
                .iter()
                .enumerate()
                .filter(|(_, g)| !g.revoked)
                .map(|(gi, g)| {
                    let sessions: Vec<&super::auth::Session> = self
                        .auth
                        .sessions
                        .iter()
                        .filter(|s| s.grant == Some(gi))
                        .collect();
                    vec![
                        sfid::record_id(self.seed.fork("oauthtoken"), "0CQ", gi as u64),
                        self.org.connected_apps[g.app].name.clone(),
                        self.store.user_ids[g.user].clone(),
                        sf_datetime(g.created_ms),
                        sessions
                            .iter()
                            .map(|s| s.last_used_ms.get())
                            .max()
                            .map(sf_datetime)
                            .unwrap_or_default(),
                        sessions.len().to_string(),
                        g.refresh_token.clone(),
                    ]
                })
                .collect(),
            TableKind::ConnectedApplication => self
                .org
                .connected_apps
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let days = match a.refresh_token_policy {
                        crate::model::RefreshTokenPolicy::ExpireAfterDays(d) => d.to_string(),
                        _ => String::new(),
                    };
                    vec![
                        self.auth.apps[i].id.clone(),
                        a.name.clone(),
                        b(a.admin_approved_only),
                        b(!days.is_empty()),
                        days,
                        "false".into(),
                    ]
                })
                .collect(),
            _ => return,
        };
        let t = self.store.table_of(kind);
        self.store.tables[t].replace_rows(rows);
    }

    fn user_by_id(&self, id: &str) -> Option<usize> {
        let id15 = id.get(..15)?;
        self.store.user_ids.iter().position(|u| u.starts_with(id15))
    }

    fn bool_field(body: &Value, name: &str) -> Result<Option<bool>, Response> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::Bool(v)) => Ok(Some(*v)),
            Some(_) => Err(Response::error(
                400,
                "JSON_PARSER_ERROR",
                &format!("Cannot deserialize instance of boolean from {name}"),
            )),
        }
    }

    fn only_fields(body: &Value, allowed: &[&str], object: &str) -> Result<(), Response> {
        let Some(m) = body.as_object() else {
            return Err(Response::error(
                400,
                "JSON_PARSER_ERROR",
                "The request body must be a JSON object",
            ));
        };
        for k in m.keys().filter(|k| k.as_str() != "attributes") {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                return Err(Response::error_fields(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    &format!(
                        "Unable to create/update fields: {k}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
                    ),
                    &[k.as_str()],
                ));
            }
        }
        let _ = object;
        Ok(())
    }

    fn setup_event(&self, ev: &mut Event, target: usize, operation: &str, detail: String) {
        ev.kind = EventKind::Setup;
        ev.operation = Some(operation.to_owned());
        ev.detail = Some(format!("{detail} ({})", self.org.users[target].username));
        ev.records = vec![crate::sfid::Id::new(&self.store.user_ids[target])];
        ev.rows_processed = 1;
    }

    /// `PATCH` on User / UserLogin. `None` when the object is not a setup object.
    pub(super) fn admin_update(
        &mut self,
        caller: usize,
        kind: TableKind,
        id: &str,
        body: &Value,
        ev: &mut Event,
    ) -> Option<Response> {
        let manage = self
            .auth
            .effective(&self.org, caller)
            .has(SystemPermission::ManageUsers);
        let denied = || {
            Response::error(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            )
        };
        Some(match kind {
            TableKind::User => {
                if !manage {
                    return Some(denied());
                }
                let Some(u) = self.user_by_id(id) else {
                    return Some(not_found());
                };
                if let Err(r) = Self::only_fields(body, &["IsActive"], "User") {
                    return Some(r);
                }
                match Self::bool_field(body, "IsActive") {
                    Err(r) => r,
                    Ok(Some(active)) => {
                        self.auth.users[u].active = active;
                        if !active {
                            self.auth.end_user_sessions(u);
                        }
                        let t = self.store.user_table();
                        if let Some(r) = self.store.tables[t].find(id) {
                            self.store.tables[t].set_value(r, 6, active.to_string());
                        }
                        self.setup_event(
                            ev,
                            u,
                            if active {
                                "ActivatedUser"
                            } else {
                                "DeactivatedUser"
                            },
                            format!("User.IsActive={active}"),
                        );
                        Response::empty(204)
                    }
                    Ok(None) => Response::empty(204),
                }
            }
            TableKind::UserLogin => {
                if !manage {
                    return Some(denied());
                }
                let Some(u) = (0..self.org.users.len())
                    .find(|u| user_login_id(self, *u).starts_with(id.get(..15).unwrap_or(id)))
                else {
                    return Some(not_found());
                };
                if let Err(r) = Self::only_fields(body, &["IsFrozen"], "UserLogin") {
                    return Some(r);
                }
                match Self::bool_field(body, "IsFrozen") {
                    Err(r) => r,
                    Ok(Some(frozen)) => {
                        self.auth.users[u].frozen = frozen;
                        if frozen && self.opts.freeze_ends_sessions {
                            self.auth.end_user_sessions(u);
                        }
                        self.setup_event(
                            ev,
                            u,
                            if frozen { "FrozeUser" } else { "UnfrozeUser" },
                            format!("UserLogin.IsFrozen={frozen}"),
                        );
                        Response::empty(204)
                    }
                    Ok(None) => Response::empty(204),
                }
            }
            k if k.is_admin() => denied(),
            _ => return None,
        })
    }

    /// `DELETE` on AuthSession / PermissionSetAssignment.
    pub(super) fn admin_delete(
        &mut self,
        caller: usize,
        kind: TableKind,
        id: &str,
        ev: &mut Event,
    ) -> Option<Response> {
        let manage = self
            .auth
            .effective(&self.org, caller)
            .has(SystemPermission::ManageUsers);
        let denied = || {
            Response::error(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            )
        };
        Some(match kind {
            TableKind::AuthSession => {
                if !manage {
                    return Some(denied());
                }
                let id15 = id.get(..15).unwrap_or(id);
                let Some(si) = self
                    .auth
                    .sessions
                    .iter()
                    .position(|s| !s.ended && s.id.starts_with(id15))
                else {
                    return Some(not_found());
                };
                self.auth.sessions[si].ended = true;
                let u = self.auth.sessions[si].user;
                self.setup_event(
                    ev,
                    u,
                    "SessionEnded",
                    format!("AuthSession {} deleted", self.auth.sessions[si].id),
                );
                Response::empty(204)
            }
            TableKind::OauthToken => {
                if !manage {
                    return Some(denied());
                }
                let id15 = id.get(..15).unwrap_or(id);
                let Some(g) = (0..self.auth.grants.len()).find(|g| {
                    !self.auth.grants[*g].revoked
                        && sfid::record_id(self.seed.fork("oauthtoken"), "0CQ", *g as u64)
                            .starts_with(id15)
                }) else {
                    return Some(not_found());
                };
                let (u, app) = (self.auth.grants[g].user, self.auth.grants[g].app);
                self.auth.revoke_grant(g);
                let name = self.org.connected_apps[app].name.clone();
                self.setup_event(
                    ev,
                    u,
                    "OauthTokenRevoked",
                    format!("OAuth grant to connected app {name} revoked"),
                );
                Response::empty(204)
            }
            TableKind::PermissionSetAssignment => {
                if !manage {
                    return Some(denied());
                }
                let id15 = id.get(..15).unwrap_or(id);
                let found = (0..self.org.users.len()).find_map(|u| {
                    self.auth.users[u].permission_sets.iter().find_map(|name| {
                        let ps = self
                            .org
                            .permission_sets
                            .iter()
                            .position(|p| &p.name == name)?;
                        assignment_id(self, u, ps)
                            .starts_with(id15)
                            .then_some((u, name.clone()))
                    })
                });
                let Some((u, name)) = found else {
                    return Some(not_found());
                };
                self.auth.users[u].permission_sets.retain(|p| p != &name);
                self.auth.invalidate_permissions(u);
                self.setup_event(
                    ev,
                    u,
                    "UnassignedFromUsers",
                    format!("PermissionSetAssignment removed: {name}"),
                );
                Response::empty(204)
            }
            k if k.is_admin() || k == TableKind::User => denied(),
            _ => return None,
        })
    }

    /// `POST PermissionSetAssignment {AssigneeId, PermissionSetId}`.
    pub(super) fn admin_create(
        &mut self,
        caller: usize,
        kind: TableKind,
        body: &Value,
        ev: &mut Event,
    ) -> Option<Response> {
        if !kind.is_admin() && kind != TableKind::User {
            return None;
        }
        let manage = self
            .auth
            .effective(&self.org, caller)
            .has(SystemPermission::ManageUsers);
        if kind != TableKind::PermissionSetAssignment || !manage {
            return Some(Response::error(
                400,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            ));
        }
        if let Err(r) = Self::only_fields(
            body,
            &["AssigneeId", "PermissionSetId", "ExpirationDate"],
            "PermissionSetAssignment",
        ) {
            return Some(r);
        }
        let field = |n: &str| body.get(n).and_then(Value::as_str).unwrap_or("").to_owned();
        let (assignee, psid) = (field("AssigneeId"), field("PermissionSetId"));
        let missing: Vec<&str> = [("AssigneeId", &assignee), ("PermissionSetId", &psid)]
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Some(Response::error_fields(
                400,
                "REQUIRED_FIELD_MISSING",
                &format!("Required fields are missing: [{}]", missing.join(", ")),
                &missing,
            ));
        }
        let Some(u) = self.user_by_id(&assignee) else {
            return Some(Response::error_fields(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Assignee ID: id value of incorrect type",
                &["AssigneeId"],
            ));
        };
        let Some(ps) = (0..self.org.permission_sets.len())
            .find(|p| permission_set_id(self, *p).starts_with(psid.get(..15).unwrap_or(&psid)))
        else {
            return Some(Response::error_fields(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Permission Set ID: id value of incorrect type",
                &["PermissionSetId"],
            ));
        };
        let name = self.org.permission_sets[ps].name.clone();
        if self.auth.users[u].permission_sets.contains(&name) {
            return Some(Response::error(
                400,
                "DUPLICATE_VALUE",
                "Duplicate PermissionSetAssignment. Assignee: the user already has this permission set",
            ));
        }
        self.auth.users[u].permission_sets.push(name.clone());
        self.auth.invalidate_permissions(u);
        let perms: Vec<&str> = self.org.permission_sets[ps]
            .grants
            .system
            .iter()
            .map(|p| p.as_str())
            .collect();
        self.setup_event(
            ev,
            u,
            "AssignedToUsers",
            format!(
                "PermissionSetAssignment added: {name} [{}]",
                perms.join(",")
            ),
        );
        Some(Response::json(
            201,
            &json!({"id": assignment_id(self, u, ps), "success": true, "errors": []}),
        ))
    }
}

fn not_found() -> Response {
    Response::error(404, "NOT_FOUND", "The requested resource does not exist")
}

impl OrgState {
    /// Stand-in for the Setup UI's "Block" button on Connected Apps OAuth
    /// Usage (Salesforce has no API for it): `POST
    /// /services/leakdrill/connected-apps/{name}/block` (or `/unblock`) by a
    /// user with Manage Users and Customize Application. Blocking ends every
    /// session of the app and refuses new tokens until unblocked.
    pub(super) fn block_app(
        &mut self,
        now_ms: i64,
        req: &super::Request,
        ev: &mut Event,
        name: &str,
        block: bool,
    ) -> Response {
        let si = match self.authenticate(now_ms, req, ev) {
            Ok(si) => si,
            Err(d) => return d.response(),
        };
        let caller = self.auth.sessions[si].user;
        let eff = self.auth.effective(&self.org, caller);
        if !(eff.has(SystemPermission::ManageUsers)
            && eff.has(SystemPermission::CustomizeApplication))
        {
            return Response::error(
                403,
                "INSUFFICIENT_ACCESS",
                "insufficient access rights: Manage Users and Customize Application are required",
            );
        }
        let Some(app) = self.org.connected_apps.iter().position(|a| a.name == name) else {
            return not_found();
        };
        self.auth.apps[app].blocked = block;
        if block {
            for s in self.auth.sessions.iter_mut().filter(|s| s.app == Some(app)) {
                s.ended = true;
            }
        }
        ev.kind = EventKind::Setup;
        ev.operation = Some(
            if block {
                "BlockedConnectedApp"
            } else {
                "UnblockedConnectedApp"
            }
            .into(),
        );
        ev.detail = Some(format!(
            "connected app {name} {}",
            if block { "blocked" } else { "unblocked" }
        ));
        Response::json(200, &json!({"name": name, "blocked": block}))
    }
}

/// The Tooling API `SandboxInfo` Id of fixture sandbox `k` (key prefix
/// `0GQ`), stable across seeds.
pub fn sandbox_info_id(k: usize) -> String {
    let mut id15 = [b'0'; 15];
    id15[..3].copy_from_slice(b"0GQ");
    let n = format!("{:012}", k + 1);
    id15[3..].copy_from_slice(n.as_bytes());
    sfid::to18(&id15)
}

/// Sandbox license types the Tooling API accepts.
const LICENSE_TYPES: [&str; 4] = ["DEVELOPER", "DEVELOPER_PRO", "PARTIAL", "FULL"];

impl OrgState {
    /// `PATCH /services/data/vXX.X/tooling/sobjects/SandboxInfo/{id}`:
    /// Salesforce's API for a sandbox refresh (an update of `SandboxInfo`
    /// enqueues the copy). Needs Customize Application (the model has no
    /// separate Manage Sandboxes bit). Body: `LicenseType` (required),
    /// `AutoActivate`, `ApexClassId` (the `SandboxPostCopy` class that
    /// masks data after the copy). Answers 204. The Setup Audit Trail
    /// records it: Action `sandboxRefresh`, Section `Sandboxes`, with the
    /// post-copy class named or `none`. The copy itself happens outside
    /// the org model (the simulator accounts for what it exposes).
    pub(super) fn sandbox_refresh(
        &mut self,
        caller: usize,
        id: &str,
        req: &super::Request,
        ev: &mut Event,
    ) -> Response {
        if !self
            .auth
            .effective(&self.org, caller)
            .has(SystemPermission::CustomizeApplication)
        {
            return Response::error(
                403,
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            );
        }
        let Some(k) = (0..self.org.sandboxes.len()).find(|&k| {
            let sid = sandbox_info_id(k);
            sid == id || (id.len() == 15 && sid.starts_with(id))
        }) else {
            return not_found();
        };
        let body = match req.json_body() {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Response::error(
                    400,
                    "JSON_PARSER_ERROR",
                    "The request body must be a JSON object of SandboxInfo fields",
                );
            }
            Err(r) => return r,
        };
        let Some(license) = body.get("LicenseType").and_then(Value::as_str) else {
            return Response::error(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LicenseType]",
            );
        };
        if !LICENSE_TYPES.contains(&license) {
            return Response::error(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                &format!("License Type: bad value for restricted picklist field: {license}"),
            );
        }
        let apex = body.get("ApexClassId").and_then(Value::as_str);
        if let Some(a) = apex
            && !(a.starts_with("01p") && sfid::is_valid(a))
        {
            return Response::error(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                &format!("Apex Class ID: id value of incorrect type: {a}"),
            );
        }
        let name = self.org.sandboxes[k].name.clone();
        ev.kind = EventKind::Setup;
        ev.operation = Some("sandboxRefresh".into());
        ev.detail = Some(format!(
            "Refreshed sandbox {name} ({license}); post-copy class: {}",
            apex.unwrap_or("none")
        ));
        Response::empty(204)
    }
}
