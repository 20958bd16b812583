//! Table schemas as describe reports them: the fixture's objects with
//! Salesforce's standard system fields added (`Id`, `IsDeleted`, `OwnerId`,
//! `CreatedDate`, `CreatedById`, `LastModifiedDate`, `LastModifiedById`,
//! `SystemModstamp`) plus leakdrill's `Watermark__c` and `Jurisdiction__c`,
//! and the standard `User` and `Organization` objects; field and object
//! describe JSON; parent relationships.
//!
//! Owns: column layout and describe rendering. Must not: decide who may see a
//! column (callers pass a visibility predicate) or hold records.

use serde_json::{Value, json};

use crate::model::{FieldType, Generator, Object, Volume};

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub label: String,
    pub ftype: FieldType,
    pub custom: bool,
    /// Index into the fixture object's `fields`, for FLS.
    pub data_field: Option<usize>,
    /// Referenced table name for lookups.
    pub reference_to: Option<String>,
    pub relationship_name: Option<String>,
    pub picklist: Vec<String>,
    /// Set by the system; not writable through the API.
    pub system: bool,
    pub required: bool,
}

impl Column {
    fn system(name: &str, ftype: FieldType) -> Column {
        Column {
            name: name.into(),
            label: split_camel(name),
            ftype,
            custom: name.ends_with("__c"),
            data_field: None,
            reference_to: None,
            relationship_name: None,
            picklist: Vec::new(),
            system: true,
            required: false,
        }
    }
    fn lookup(name: &str, to: &str, rel: &str) -> Column {
        Column {
            reference_to: Some(to.into()),
            relationship_name: Some(rel.into()),
            ..Column::system(name, FieldType::Reference)
        }
    }
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.ftype,
            FieldType::Currency | FieldType::Double | FieldType::Int
        )
    }
}

fn split_camel(s: &str) -> String {
    let s = s.trim_end_matches("__c").replace('_', " ");
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_ascii_lowercase();
        out.push(c);
    }
    out
}

/// Which built-in object a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A fixture object (index into `Org::objects`).
    Data(usize),
    User,
    Organization,
    /// Setup objects the response actions act through (see `admin`).
    UserLogin,
    AuthSession,
    PermissionSet,
    PermissionSetAssignment,
    OauthToken,
    ConnectedApplication,
    /// Event Monitoring and audit objects, built from telemetry (see `eventlog`).
    LoginEvent,
    ApiEvent,
    BulkApiResultEventStore,
    LogoutEvent,
    PermissionSetEventStore,
    ReportEvent,
    LoginHistory,
    SetupAuditTrail,
    EventLogFile,
}

impl TableKind {
    /// Built from runtime state or telemetry each time it is read.
    pub fn is_generated(self) -> bool {
        self.is_admin() || self.is_telemetry()
    }

    pub fn is_telemetry(self) -> bool {
        matches!(
            self,
            TableKind::LoginEvent
                | TableKind::ApiEvent
                | TableKind::BulkApiResultEventStore
                | TableKind::LogoutEvent
                | TableKind::PermissionSetEventStore
                | TableKind::ReportEvent
                | TableKind::LoginHistory
                | TableKind::SetupAuditTrail
                | TableKind::EventLogFile
        )
    }

    pub fn is_admin(self) -> bool {
        matches!(
            self,
            TableKind::UserLogin
                | TableKind::AuthSession
                | TableKind::PermissionSet
                | TableKind::PermissionSetAssignment
                | TableKind::OauthToken
                | TableKind::ConnectedApplication
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub kind: TableKind,
    pub name: String,
    pub label: String,
    pub key_prefix: String,
    pub custom: bool,
    pub columns: Vec<Column>,
}

/// Index of the first data column of fixture objects.
pub const DATA_COLUMNS_START: usize = 10;

impl TableSchema {
    pub fn for_object(idx: usize, o: &Object, parent_of: Option<&str>) -> TableSchema {
        let mut columns = vec![
            Column::system("Id", FieldType::Id),
            Column::system("IsDeleted", FieldType::Boolean),
            Column::lookup("OwnerId", "User", "Owner"),
            Column::system("CreatedDate", FieldType::Datetime),
            Column::lookup("CreatedById", "User", "CreatedBy"),
            Column::system("LastModifiedDate", FieldType::Datetime),
            Column::lookup("LastModifiedById", "User", "LastModifiedBy"),
            Column::system("SystemModstamp", FieldType::Datetime),
            Column::system("Watermark__c", FieldType::String),
            Column::system("Jurisdiction__c", FieldType::String),
        ];
        debug_assert_eq!(columns.len(), DATA_COLUMNS_START);
        for (k, f) in o.fields.iter().enumerate() {
            let (reference_to, relationship_name) = if f.generator == Generator::ParentId {
                (
                    parent_of.map(str::to_owned),
                    Some(relationship_name(&f.name)),
                )
            } else {
                (None, None)
            };
            let picklist = match &f.generator {
                Generator::Choice(v) => {
                    let mut seen: Vec<String> = Vec::new();
                    for x in v.iter().filter(|x| !x.is_empty()) {
                        if !seen.contains(x) {
                            seen.push(x.clone());
                        }
                    }
                    seen
                }
                _ => Vec::new(),
            };
            columns.push(Column {
                name: f.name.clone(),
                label: f.label.clone(),
                ftype: f.ftype,
                custom: f.is_custom(),
                data_field: Some(k),
                reference_to,
                relationship_name,
                picklist,
                system: false,
                required: f.always_visible && f.ftype != FieldType::Reference,
            });
        }
        TableSchema {
            kind: TableKind::Data(idx),
            name: o.name.clone(),
            label: o.label.clone(),
            key_prefix: o.key_prefix.clone(),
            custom: o.name.ends_with("__c"),
            columns,
        }
    }

    pub fn user() -> TableSchema {
        let mut columns = vec![Column::system("Id", FieldType::Id)];
        for (n, t) in [
            ("Username", FieldType::String),
            ("Email", FieldType::Email),
            ("FirstName", FieldType::String),
            ("LastName", FieldType::String),
            ("Name", FieldType::String),
            ("IsActive", FieldType::Boolean),
            ("ProfileId", FieldType::Reference),
            ("UserType", FieldType::Picklist),
            ("TimeZoneSidKey", FieldType::Picklist),
            ("LastLoginDate", FieldType::Datetime),
        ] {
            columns.push(Column::system(n, t));
        }
        TableSchema {
            kind: TableKind::User,
            name: "User".into(),
            label: "User".into(),
            key_prefix: "005".into(),
            custom: false,
            columns,
        }
    }

    pub fn organization() -> TableSchema {
        let mut columns = vec![Column::system("Id", FieldType::Id)];
        for (n, t) in [
            ("Name", FieldType::String),
            ("IsSandbox", FieldType::Boolean),
            ("InstanceName", FieldType::String),
            ("OrganizationType", FieldType::Picklist),
            ("NamespacePrefix", FieldType::String),
            ("TrialExpirationDate", FieldType::Datetime),
            ("DefaultLocaleSidKey", FieldType::Picklist),
            ("TimeZoneSidKey", FieldType::Picklist),
        ] {
            columns.push(Column::system(n, t));
        }
        TableSchema {
            kind: TableKind::Organization,
            name: "Organization".into(),
            label: "Organization".into(),
            key_prefix: "00D".into(),
            custom: false,
            columns,
        }
    }

    /// A standard object with the given columns (all system-maintained).
    pub fn standard(
        kind: TableKind,
        name: &str,
        key_prefix: &str,
        cols: &[(&str, FieldType)],
    ) -> TableSchema {
        let mut columns = vec![Column::system("Id", FieldType::Id)];
        for (n, t) in cols {
            columns.push(Column::system(n, *t));
        }
        TableSchema {
            kind,
            name: name.into(),
            label: split_camel(name),
            key_prefix: key_prefix.into(),
            custom: false,
            columns,
        }
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The lookup column whose relationship name is `rel` (case-insensitive).
    pub fn relationship(&self, rel: &str) -> Option<usize> {
        self.columns.iter().position(|c| {
            c.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(rel))
        })
    }

    /// describeGlobal entry.
    pub fn global_entry(
        &self,
        v: u32,
        can_create: bool,
        can_edit: bool,
        can_delete: bool,
    ) -> Value {
        let base = format!("/services/data/v{v}.0/sobjects/{}", self.name);
        json!({
            "activateable": false, "associateEntityType": null, "associateParentEntity": null,
            "createable": can_create, "custom": self.custom, "customSetting": false,
            "deepCloneable": false, "deletable": can_delete, "deprecatedAndHidden": false,
            "feedEnabled": !self.custom, "hasSubtypes": false, "isInterface": false, "isSubtype": false,
            "keyPrefix": self.key_prefix, "label": self.label, "labelPlural": plural(&self.label),
            "layoutable": true, "mergeable": false, "mruEnabled": true, "name": self.name,
            "queryable": true, "replicateable": true, "retrieveable": true, "searchable": true,
            "triggerable": true, "undeletable": can_delete, "updateable": can_edit,
            "urls": {
                "compactLayouts": format!("{base}/describe/compactLayouts"),
                "rowTemplate": format!("{base}/{{ID}}"),
                "approvalLayouts": format!("{base}/describe/approvalLayouts"),
                "describe": format!("{base}/describe"),
                "quickActions": format!("{base}/quickActions"),
                "layouts": format!("{base}/describe/layouts"),
                "sobject": base,
            },
        })
    }

    /// Full describe: the global entry plus the visible fields.
    pub fn describe(
        &self,
        v: u32,
        perms: (bool, bool, bool),
        visible: &dyn Fn(&Column) -> (bool, bool),
    ) -> Value {
        let mut d = self.global_entry(v, perms.0, perms.1, perms.2);
        let fields: Vec<Value> = self
            .columns
            .iter()
            .filter_map(|c| {
                let (read, edit) = visible(c);
                read.then(|| field_describe(c, edit))
            })
            .collect();
        if let Value::Object(m) = &mut d {
            m.insert("fields".into(), Value::Array(fields));
            m.insert("childRelationships".into(), json!([]));
            m.insert("recordTypeInfos".into(), json!([]));
            m.insert("actionOverrides".into(), json!([]));
            m.insert("namedLayoutInfos".into(), json!([]));
            m.insert(
                "supportedScopes".into(),
                json!([{"label": "All", "name": "everything"}]),
            );
            m.insert("compactLayoutable".into(), json!(true));
            m.insert("listviewable".into(), Value::Null);
            m.insert("lookupLayoutable".into(), Value::Null);
            m.insert("searchLayoutable".into(), json!(true));
            m.insert("networkScopeFieldName".into(), Value::Null);
            m.insert("sobjectDescribeOption".into(), json!("FULL"));
            m.insert("defaultImplementation".into(), Value::Null);
            m.insert("extendedBy".into(), Value::Null);
            m.insert("extendsInterfaces".into(), Value::Null);
            m.insert("implementedBy".into(), Value::Null);
            m.insert("implementsInterfaces".into(), Value::Null);
        }
        d
    }
}

/// Relationship name of a lookup field: `Contact__c` → `Contact__r`,
/// `ContactId` → `Contact`.
pub fn relationship_name(field: &str) -> String {
    if let Some(stem) = field.strip_suffix("__c") {
        format!("{stem}__r")
    } else if let Some(stem) = field.strip_suffix("Id").filter(|s| !s.is_empty()) {
        stem.to_owned()
    } else {
        format!("{field}__r")
    }
}

fn plural(label: &str) -> String {
    if label.ends_with('s') {
        format!("{label}es")
    } else if let Some(stem) = label.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{label}s")
    }
}

fn soap_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Id | FieldType::Reference => "tns:ID",
        FieldType::Boolean => "xsd:boolean",
        FieldType::Currency | FieldType::Double => "xsd:double",
        FieldType::Int => "xsd:int",
        FieldType::Date => "xsd:date",
        FieldType::Datetime => "xsd:dateTime",
        _ => "xsd:string",
    }
}

/// One field entry of describe, with every key clients read present.
pub fn field_describe(c: &Column, editable: bool) -> Value {
    let (length, byte_length, precision, scale, digits) = match c.ftype {
        FieldType::Id | FieldType::Reference => (18, 18, 0, 0, 0),
        FieldType::Currency => (0, 0, 18, 2, 0),
        FieldType::Double => (0, 0, 18, 2, 0),
        FieldType::Int => (0, 0, 0, 0, 9),
        FieldType::Boolean | FieldType::Date | FieldType::Datetime => (0, 0, 0, 0, 0),
        FieldType::Textarea => (32_768, 98_304, 0, 0, 0),
        _ => (255, 765, 0, 0, 0),
    };
    let createable = editable && !c.system;
    let picklist: Vec<Value> = c
        .picklist
        .iter()
        .map(|v| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
        .collect();
    json!({
        "aggregatable": !matches!(c.ftype, FieldType::Textarea), "aiPredictionField": false,
        "autoNumber": false, "byteLength": byte_length, "calculated": false, "calculatedFormula": null,
        "cascadeDelete": false, "caseSensitive": false, "compoundFieldName": null, "controllerName": null,
        "createable": createable, "custom": c.custom, "defaultValue": null, "defaultValueFormula": null,
        "defaultedOnCreate": c.system, "dependentPicklist": false, "deprecatedAndHidden": false,
        "digits": digits, "displayLocationInDecimal": false, "encrypted": matches!(c.ftype, FieldType::EncryptedString),
                "externalId": false, "extraTypeInfo": null, "filterable": !matches!(c.ftype, FieldType::EncryptedString), "filteredLookupInfo": null,
        "formulaTreatNullNumberAsZero": false, "groupable": !matches!(c.ftype, FieldType::Double | FieldType::Currency | FieldType::Textarea | FieldType::Datetime | FieldType::EncryptedString),
        "highScaleNumber": false, "htmlFormatted": false, "idLookup": c.name == "Id", "inlineHelpText": null,
        "label": c.label, "length": length, "mask": null, "maskType": null, "name": c.name,
        "nameField": c.name == "Name" || (c.name == "LastName" && !c.custom), "namePointing": false,
        "nillable": !c.required && c.name != "Id" && c.ftype != FieldType::Boolean,
        "permissionable": !c.system && !c.required, "picklistValues": picklist, "polymorphicForeignKey": false,
        "precision": precision, "queryByDistance": false, "referenceTargetField": null,
        "referenceTo": c.reference_to.iter().collect::<Vec<_>>(), "relationshipName": c.relationship_name,
        "relationshipOrder": null, "restrictedDelete": false, "restrictedPicklist": false, "scale": scale,
        "searchPrefilterable": false, "soapType": soap_type(c.ftype), "sortable": !matches!(c.ftype, FieldType::Textarea | FieldType::EncryptedString),
        "type": c.ftype.describe_name(), "unique": false, "updateable": createable,
        "writeRequiresMasterRead": false,
    })
}

/// The parent object name of a per-parent fixture object.
pub fn parent_of(o: &Object) -> Option<&str> {
    match &o.volume {
        Volume::PerParent { parent, .. } => Some(parent.as_str()),
        _ => None,
    }
}
