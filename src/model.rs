//! The org model: objects and classified fields, data-subject populations,
//! users, profiles, permission sets, connected apps, integrations, networks
//! and sandboxes — validated, immutable, and with the one function that says
//! what a user may do ([`Org::effective`]).
//!
//! Owns: the validated types every other module reads. Must not: parse files
//! (that is `fixture`), do I/O, read a clock, or hold mutable run state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::diag::Loc;

/// How sensitive a field's values are. Exposure is counted per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Classification {
    #[serde(rename = "public")]
    Public,
    #[serde(rename = "internal")]
    Internal,
    /// Identifies a person directly: name, email, phone, address.
    #[serde(rename = "pii.direct")]
    PiiDirect,
    /// Government ids, date of birth, and other special-category data.
    #[serde(rename = "pii.sensitive")]
    PiiSensitive,
    #[serde(rename = "financial")]
    Financial,
    #[serde(rename = "health")]
    Health,
    #[serde(rename = "credential")]
    Credential,
}

impl Classification {
    pub const ALL: [Classification; 7] = [
        Self::Public,
        Self::Internal,
        Self::PiiDirect,
        Self::PiiSensitive,
        Self::Financial,
        Self::Health,
        Self::Credential,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::PiiDirect => "pii.direct",
            Self::PiiSensitive => "pii.sensitive",
            Self::Financial => "financial",
            Self::Health => "health",
            Self::Credential => "credential",
        }
    }

    /// Classes whose exposure is a reportable breach in most regimes.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Self::PiiSensitive | Self::Financial | Self::Health | Self::Credential
        )
    }

    pub fn is_personal(self) -> bool {
        !matches!(self, Self::Public | Self::Internal)
    }
}

/// A set of classifications: what one response carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassSet(u8);

impl ClassSet {
    pub fn insert(&mut self, c: Classification) {
        self.0 |= 1 << (c as u8);
    }
    pub fn contains(self, c: Classification) -> bool {
        self.0 & (1 << (c as u8)) != 0
    }
    pub fn union(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 | other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Members in [`Classification::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Classification> {
        Classification::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Classification> for ClassSet {
    fn from_iter<I: IntoIterator<Item = Classification>>(it: I) -> ClassSet {
        let mut s = ClassSet::default();
        for c in it {
            s.insert(c);
        }
        s
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Salesforce field type, as describe reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Id,
    String,
    Textarea,
    Email,
    Phone,
    Url,
    Date,
    Datetime,
    Currency,
    Double,
    Int,
    Boolean,
    Picklist,
    Reference,
    EncryptedString,
}

impl FieldType {
    /// The name describe uses in `fields[].type`.
    pub fn describe_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::String => "string",
            Self::Textarea => "textarea",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Url => "url",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Currency => "currency",
            Self::Double => "double",
            Self::Int => "int",
            Self::Boolean => "boolean",
            Self::Picklist => "picklist",
            Self::Reference => "reference",
            Self::EncryptedString => "encryptedstring",
        }
    }
}

/// How a field's synthetic values are made (see `pii`). Every variant yields
/// values in non-real ranges only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generator {
    FirstName,
    LastName,
    FullName,
    /// `first.last+<watermark>@<reserved domain>`.
    Email,
    /// 555-01xx (North America) or Ofcom's drama range (UK).
    Phone,
    /// Area 900–999 with group 01–49: never issued as SSN nor ITIN.
    Ssn,
    DateOfBirth,
    Street,
    City,
    /// The subject's US state, or a region label outside the US.
    State,
    PostalCode,
    /// ISO 3166 alpha-2 of the subject's jurisdiction.
    Country,
    Company,
    JobTitle,
    /// Synthetic account number, `LD` + 10 digits (no real bank format).
    AccountNumber,
    /// A documented payment test card number.
    TestCardNumber,
    /// Processor-style token `tok_test_…` carrying the watermark.
    PaymentToken,
    /// Random IPv4 in TEST-NET-1/2/3.
    TestNetIp,
    /// An amount between `min` and `max`, two decimals.
    Money {
        min: f64,
        max: f64,
    },
    /// An integer between `min` and `max`.
    Int {
        min: i64,
        max: i64,
    },
    /// One of these values, uniformly.
    Choice(Vec<String>),
    /// A date within the last `days` days before 2026-01-01.
    RecentDate {
        days: u32,
    },
    Boolean,
    /// A few words of lorem text.
    Sentence,
    /// A fixed value.
    Constant(String),
    /// The Id of the parent record (for the object's parent lookup).
    ParentId,
    /// Salted-hash-looking credential material (`$ld$…`), never a real secret.
    Secret,
}

/// Per-object Create/Read/Edit/Delete/View All/Modify All.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ObjectPerms {
    pub read: bool,
    pub create: bool,
    pub edit: bool,
    pub delete: bool,
    pub view_all: bool,
    pub modify_all: bool,
    /// Read on every field of the object, whatever FLS says.
    pub view_all_fields: bool,
}

impl ObjectPerms {
    pub fn union(self, o: ObjectPerms) -> ObjectPerms {
        ObjectPerms {
            read: self.read || o.read,
            create: self.create || o.create,
            edit: self.edit || o.edit,
            delete: self.delete || o.delete,
            view_all: self.view_all || o.view_all,
            modify_all: self.modify_all || o.modify_all,
            view_all_fields: self.view_all_fields || o.view_all_fields,
        }
    }

    /// Applies Salesforce's implications: Modify All ⇒ View All, Edit, Delete;
    /// View All ⇒ Read; Edit/Delete ⇒ Read.
    pub fn closed(mut self) -> ObjectPerms {
        if self.modify_all {
            self.view_all = true;
            self.edit = true;
            self.delete = true;
        }
        if self.view_all || self.edit || self.delete || self.create || self.view_all_fields {
            self.read = true;
        }
        self
    }

    /// Compact form: `CRED` letters plus `VA`/`MA`/`VF` markers, `-` for none.
    pub fn letters(self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.create, "C"),
            (self.read, "R"),
            (self.edit, "E"),
            (self.delete, "D"),
        ] {
            if on {
                s.push_str(c);
            }
        }
        for (on, c) in [
            (self.view_all, "+VA"),
            (self.modify_all, "+MA"),
            (self.view_all_fields, "+VF"),
        ] {
            if on {
                s.push_str(c);
            }
        }
        if s.is_empty() { "-".into() } else { s }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FieldPerms {
    pub read: bool,
    pub edit: bool,
}

/// System permissions, named as on `PermissionSet` (`Permissions<Name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SystemPermission {
    ApiEnabled,
    ApiUserOnly,
    ViewAllData,
    ModifyAllData,
    ExportReport,
    ViewSetup,
    ManageUsers,
    ViewEventLogFiles,
    ViewEncryptedData,
    BulkApiHardDelete,
    CustomizeApplication,
    AuthorApex,
    ViewRealTimeEventMonitoringData,
}

impl SystemPermission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiEnabled => "ApiEnabled",
            Self::ApiUserOnly => "ApiUserOnly",
            Self::ViewAllData => "ViewAllData",
            Self::ModifyAllData => "ModifyAllData",
            Self::ExportReport => "ExportReport",
            Self::ViewSetup => "ViewSetup",
            Self::ManageUsers => "ManageUsers",
            Self::ViewEventLogFiles => "ViewEventLogFiles",
            Self::ViewEncryptedData => "ViewEncryptedData",
            Self::BulkApiHardDelete => "BulkApiHardDelete",
            Self::CustomizeApplication => "CustomizeApplication",
            Self::AuthorApex => "AuthorApex",
            Self::ViewRealTimeEventMonitoringData => "ViewRealTimeEventMonitoringData",
        }
    }
}

impl fmt::Display for SystemPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & self.mask()) == (u32::from(self.addr) & self.mask())
    }
    pub fn covers(self, other: Cidr) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }
    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
    /// The `i`-th address of the block (wrapping inside it).
    pub fn nth(self, i: u64) -> Ipv4Addr {
        let base = u32::from(self.addr) & self.mask();
        Ipv4Addr::from(base.wrapping_add((i % self.size()) as u32))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{p}` is not a prefix length from 0 to 32"))?;
        let c = Cidr { addr, prefix };
        if u32::from(addr) & !c.mask() != 0 {
            return Err(format!(
                "`{s}` has host bits set; the block starts at {}",
                Ipv4Addr::from(u32::from(addr) & c.mask())
            ));
        }
        Ok(c)
    }
}

/// The documentation-only ranges of RFC 5737; synthetic traffic lives here
/// unless a fixture declares another synthetic range.
pub const TEST_NETS: [Cidr; 3] = [
    Cidr {
        addr: Ipv4Addr::new(192, 0, 2, 0),
        prefix: 24,
    },
    Cidr {
        addr: Ipv4Addr::new(198, 51, 100, 0),
        prefix: 24,
    },
    Cidr {
        addr: Ipv4Addr::new(203, 0, 113, 0),
        prefix: 24,
    },
];

/// Where a data subject's data is governed: a country and, for the US, a state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// US state (or other subdivision) code, upper case.
    pub region: Option<String>,
}

impl Jurisdiction {
    pub fn code(&self) -> String {
        match &self.region {
            Some(r) => format!("{}-{}", self.country, r),
            None => self.country.clone(),
        }
    }
    pub fn is_eea(&self) -> bool {
        EEA.contains(&self.country.as_str())
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// EU member states plus Iceland, Liechtenstein and Norway.
pub const EEA: [&str; 30] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
];

#[derive(Debug, Clone, PartialEq)]
pub struct PopulationShare {
    pub jurisdiction: Jurisdiction,
    pub weight: u32,
}

/// How many records an object gets for `--records N` data subjects.
#[derive(Debug, Clone, PartialEq)]
pub enum Volume {
    /// Person object holding `percent` % of the N data subjects.
    Subjects { percent: u32 },
    /// `ratio` records per record of `parent` (each belongs to one parent).
    PerParent { parent: String, ratio: f64 },
    /// A fixed number of records, owned by no data subject.
    Fixed { count: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub ftype: FieldType,
    pub class: Classification,
    pub generator: Generator,
    /// Visible to anyone who can read the object (Id, required name fields).
    pub always_visible: bool,
    /// Shield Platform Encryption on this field.
    pub encrypted: bool,
    pub loc: Loc,
}

impl Field {
    pub fn is_custom(&self) -> bool {
        self.name.ends_with("__c")
    }
}

/// Organization-wide default sharing of an object's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// Only the owner (and users with View/Modify All) see a record.
    Private,
    /// Everyone with object Read sees every record; only owners edit.
    PublicRead,
    /// Everyone with object access reads and edits every record.
    #[default]
    PublicReadWrite,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub name: String,
    pub label: String,
    /// Three-character Salesforce key prefix (`003` for Contact).
    pub key_prefix: String,
    pub volume: Volume,
    /// Organization-wide default for its records.
    pub sharing: Sharing,
    /// Data fields, after the system fields `Id`, `Watermark__c`, `Jurisdiction__c`.
    pub fields: Vec<Field>,
    pub loc: Loc,
}

impl Object {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
    pub fn is_person(&self) -> bool {
        matches!(self.volume, Volume::Subjects { .. })
    }
}

/// A profile or a permission set: both grant the same kinds of permission.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grants {
    pub system: BTreeSet<SystemPermission>,
    pub objects: BTreeMap<String, ObjectPerms>,
    /// `(object, field)` → FLS.
    pub fields: BTreeMap<(String, String), FieldPerms>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub grants: Grants,
    /// Login IP ranges; empty means "from anywhere".
    pub login_ip_ranges: Vec<Cidr>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PermissionSet {
    pub name: String,
    pub label: String,
    pub grants: Grants,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Human,
    Admin,
    Integration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub kind: UserKind,
    pub profile: String,
    pub permission_sets: Vec<String>,
    pub active: bool,
    pub frozen: bool,
    /// IANA time zone (`TimeZoneSidKey`).
    pub time_zone: String,
    /// The network the user normally works from.
    pub network: Option<String>,
    /// Generated from a `workforce` entry rather than listed by name.
    pub workforce: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpRelaxation {
    /// Enforce the user's login IP ranges for this app.
    Enforce,
    /// Relax IP restrictions: tokens work from anywhere.
    Relax,
    /// Relax IP restrictions with second factor.
    RelaxWithSecondFactor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenPolicy {
    /// Refresh token is valid until revoked (never expires).
    UntilRevoked,
    /// Expires after this many days.
    ExpireAfterDays(u32),
    /// Expire refresh token immediately.
    Immediately,
}

impl ConnectedApp {
    /// Whether the app is issued refresh tokens: only `refresh_token` (also
    /// shown as `offline_access`) does that; `full` does not.
    pub fn issues_refresh_tokens(&self) -> bool {
        self.scopes.contains("refresh_token") || self.scopes.contains("offline_access")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectedApp {
    pub name: String,
    pub scopes: BTreeSet<String>,
    pub ip_relaxation: IpRelaxation,
    pub refresh_token_policy: RefreshTokenPolicy,
    /// Refresh Token Rotation on.
    pub rotate_refresh_tokens: bool,
    /// "Admin approved users are pre-authorized" instead of self-authorization.
    pub admin_approved_only: bool,
    /// Users who have authorised (or been pre-authorised for) the app.
    pub authorized_users: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    Corporate,
    Vendor,
    Cloud,
    Residential,
    Attacker,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub id: String,
    pub cidr: Cidr,
    pub country: String,
    pub kind: NetworkKind,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Incremental sync on a schedule (SystemModstamp watermark).
    Sync,
    /// Bulk API 2.0 extract (ETL to a warehouse).
    BulkExtract,
    /// Outbound webhook / callout carrying record data.
    Webhook,
    /// Record look-ups on demand (support desk, KYC vendor).
    Lookup,
    /// Marketing list pulls.
    ListPull,
    /// Middleware / iPaaS moving data between systems.
    Middleware,
    /// Sends record text to an LLM service.
    Llm,
}

/// When an integration runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Schedule {
    EveryMinutes(u32),
    /// Daily at `HH:MM` in the org's time zone.
    DailyAt {
        hour: u8,
        minute: u8,
    },
    /// Triggered by record changes / user activity in business hours.
    OnDemand,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EveryMinutes(m) if m % 60 == 0 => write!(f, "every {}h", m / 60),
            Self::EveryMinutes(m) => write!(f, "every {m}m"),
            Self::DailyAt { hour, minute } => write!(f, "daily {hour:02}:{minute:02}"),
            Self::OnDemand => f.write_str("on demand"),
        }
    }
}

/// A third-party endpoint an integration sends data to.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub url: String,
    /// Country the endpoint processes data in.
    pub country: String,
    /// Data classes it receives.
    pub carries: BTreeSet<Classification>,
    pub loc: Loc,
}

impl Endpoint {
    pub fn is_plaintext(&self) -> bool {
        self.url.starts_with("http://")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: String,
    pub title: String,
    pub kind: IntegrationKind,
    pub user: String,
    pub connected_app: Option<String>,
    pub network: String,
    pub schedule: Schedule,
    /// Objects it reads or writes.
    pub objects: Vec<String>,
    /// Fields it actually needs (`Object.Field`); `None` = not declared.
    pub fields_used: Option<Vec<(String, String)>>,
    /// Where it sends data (webhook target, LLM endpoint, warehouse).
    pub sends_to: Option<Endpoint>,
    /// A log sink it writes request/response logs to, and whether PII lands there.
    pub log_sink: Option<Endpoint>,
    /// Countries data of these subjects may be processed in (residency rule).
    pub residency: Option<Vec<String>>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    pub name: String,
    /// `full`, `partial`, `developer_pro`, `developer`.
    pub kind: String,
    /// Data masking applied after refresh.
    pub masked: bool,
    /// Objects copied from production.
    pub objects: Vec<String>,
    pub loc: Loc,
}

/// One whole fixture: the org, its people and its integrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    /// Fixture id (`fintech-wealth`).
    pub fixture: String,
    /// Where it was loaded from, as shown in diagnostics.
    pub source: String,
    pub title: String,
    pub org_name: String,
    /// My Domain prefix: `{instance}.my.salesforce.com`.
    pub instance: String,
    /// Default time zone (`TimeZoneSidKey`).
    pub time_zone: String,
    pub daily_api_requests: u64,
    /// Reserved domain used for synthetic emails (`example.com` or `*.test`).
    pub email_domain: String,
    /// Entity kinds that make sector regimes apply (`clocks::ENTITY_KINDS`).
    pub regulated_as: Vec<String>,
    pub population: Vec<PopulationShare>,
    pub networks: Vec<Network>,
    pub objects: Vec<Object>,
    pub profiles: Vec<Profile>,
    pub permission_sets: Vec<PermissionSet>,
    pub users: Vec<User>,
    pub connected_apps: Vec<ConnectedApp>,
    pub integrations: Vec<Integration>,
    pub sandboxes: Vec<Sandbox>,
}

/// What one user may do: the union of their profile and permission sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effective {
    pub system: BTreeSet<SystemPermission>,
    objects: BTreeMap<String, ObjectPerms>,
    /// object → field → FLS (nested so look-ups need no allocation).
    fields: BTreeMap<String, BTreeMap<String, FieldPerms>>,
    all_objects_read: bool,
    all_objects_modify: bool,
}

impl Effective {
    pub fn has(&self, p: SystemPermission) -> bool {
        self.system.contains(&p)
    }

    /// Object permissions, with View/Modify All Data applied.
    pub fn object(&self, object: &str) -> ObjectPerms {
        let mut p = self.objects.get(object).copied().unwrap_or_default();
        if self.all_objects_read {
            p.read = true;
            p.view_all = true;
        }
        if self.all_objects_modify {
            p.create = true;
            p.modify_all = true;
        }
        p.closed()
    }

    /// Field-level security as it applies: nothing without object read;
    /// always-visible fields and View All Fields override FLS. View All Data
    /// bypasses sharing, not FLS.
    pub fn field(&self, object: &Object, field: &Field) -> FieldPerms {
        let op = self.object(&object.name);
        if !op.read {
            return FieldPerms::default();
        }
        let fls = self
            .fields
            .get(object.name.as_str())
            .and_then(|m| m.get(field.name.as_str()))
            .copied()
            .unwrap_or_default();
        let read = field.always_visible || op.view_all_fields || fls.read || fls.edit;
        let edit = fls.edit && (op.edit || op.create) && field.ftype != FieldType::Id;
        FieldPerms { read, edit }
    }
}

impl Org {
    pub fn object(&self, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
    pub fn permission_set(&self, name: &str) -> Option<&PermissionSet> {
        self.permission_sets.iter().find(|p| p.name == name)
    }
    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.id == id)
    }
    pub fn connected_app(&self, name: &str) -> Option<&ConnectedApp> {
        self.connected_apps.iter().find(|a| a.name == name)
    }

    /// The effective permissions of `user`: profile ∪ permission sets, with
    /// Salesforce's implications (Modify All Data ⇒ View All Data; object
    /// Modify All ⇒ View All ⇒ Read; field edit ⇒ read). The single place
    /// permission semantics live.
    pub fn effective(&self, user: &User) -> Effective {
        let mut grants: Vec<&Grants> = Vec::new();
        if let Some(p) = self.profile(&user.profile) {
            grants.push(&p.grants);
        }
        for name in &user.permission_sets {
            if let Some(ps) = self.permission_set(name) {
                grants.push(&ps.grants);
            }
        }
        let mut eff = Effective::default();
        for g in grants {
            eff.system.extend(g.system.iter().copied());
            for (obj, p) in &g.objects {
                let e = eff.objects.entry(obj.clone()).or_default();
                *e = e.union(*p);
            }
            for ((obj, field), f) in &g.fields {
                let e = eff
                    .fields
                    .entry(obj.clone())
                    .or_default()
                    .entry(field.clone())
                    .or_default();
                e.read |= f.read || f.edit;
                e.edit |= f.edit;
            }
        }
        if eff.has(SystemPermission::ModifyAllData) {
            eff.system.insert(SystemPermission::ViewAllData);
            eff.all_objects_modify = true;
        }
        eff.all_objects_read = eff.has(SystemPermission::ViewAllData);
        eff
    }

    /// Total weight of the population mix.
    pub fn population_weight(&self) -> u64 {
        self.population.iter().map(|p| u64::from(p.weight)).sum()
    }
}

/// The snake_case name a value has in fixture files (`bulk_extract`,
/// `relax_with_second_factor`), for display.
pub fn yaml_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_membership() {
        let c: Cidr = "203.0.113.64/27".parse().unwrap();
        assert!(c.contains(Ipv4Addr::new(203, 0, 113, 95)));
        assert!(!c.contains(Ipv4Addr::new(203, 0, 113, 96)));
        assert_eq!(c.size(), 32);
        assert!(TEST_NETS[2].covers(c));
        assert!(
            "203.0.113.65/27"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("host bits")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn object_permission_implications() {
        let p = ObjectPerms {
            modify_all: true,
            ..Default::default()
        }
        .closed();
        assert!(p.read && p.edit && p.delete && p.view_all && !p.create);
        assert_eq!(p.letters(), "RED+VA+MA");
        assert_eq!(ObjectPerms::default().closed().letters(), "-");
    }
}
