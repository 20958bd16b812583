//! Fixture files (`mocks/*.yaml`): the raw, serde-shaped file format and its
//! validation into the [`Org`] model, reporting every problem at once with
//! file, line, column and a hint. Also the built-in fixtures and
//! `--fixture NAME|PATH` resolution.
//!
//! Owns: the file format and its checks. Must not: generate data, decide
//! posture findings (that is `lint`), or write anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::diag::{Diagnostic, Diagnostics, Loc, suggest};
use crate::model::*;
use crate::yaml::{self, Checked, Spanned};

/// Built-in fixtures: name → (shown path, YAML text).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "fintech-wealth",
        "mocks/fintech-wealth.yaml",
        include_str!("../mocks/fintech-wealth.yaml"),
    ),
    (
        "hr-ccpa",
        "mocks/hr-ccpa.yaml",
        include_str!("../mocks/hr-ccpa.yaml"),
    ),
    (
        "global-ecommerce",
        "mocks/global-ecommerce.yaml",
        include_str!("../mocks/global-ecommerce.yaml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixture {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error(
        "no fixture named `{name}` and no such file\n  = hint: {hint} (or give the path of a fixture YAML file)"
    )]
    Unknown { name: String, hint: String },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Loads a built-in fixture by name, or a fixture file by path.
pub fn resolve(name_or_path: &str) -> Result<Org, FixtureError> {
    if let Some((_, shown, text)) = BUILTIN.iter().find(|(n, _, _)| *n == name_or_path) {
        return load_str(shown, text).map_err(FixtureError::Invalid);
    }
    let path = Path::new(name_or_path);
    if path.exists() {
        let text = read_text_file(path).map_err(|cause| FixtureError::Io {
            path: name_or_path.to_owned(),
            cause,
        })?;
        return load_str(name_or_path, &text).map_err(FixtureError::Invalid);
    }
    let hint = suggest(name_or_path, BUILTIN.iter().map(|(n, _, _)| *n));
    Err(FixtureError::Unknown {
        name: name_or_path.to_owned(),
        hint: if hint.starts_with("did you mean") {
            hint
        } else {
            hint.replace("expected one of", "built-in fixtures are")
        },
    })
}

/// Reads a regular file of at most [`yaml::MAX_INPUT_BYTES`] as UTF-8,
/// refusing devices, FIFOs and directories (which could block or never end).
pub fn read_text_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(yaml::MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > yaml::MAX_INPUT_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than the limit of {} bytes", yaml::MAX_INPUT_BYTES),
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses and validates a fixture document. `file` is used in diagnostics.
pub fn load_str(file: &str, text: &str) -> Result<Org, Diagnostics> {
    let node = yaml::parse(file, text)?;
    let (raw, structural) = yaml::from_node_partial::<RawFixture>(file, &node);
    let Some(raw) = raw else {
        return Err(structural);
    };
    // Validate whatever parsed, so semantic errors are reported alongside
    // the structural ones.
    let mut v = Validator {
        file,
        diags: structural,
        incomplete: BTreeSet::new(),
    };
    let broken = |any: bool, kind: &'static str, set: &mut BTreeSet<&'static str>| {
        if any {
            set.insert(kind);
        }
    };
    broken(
        raw.objects
            .as_ref()
            .is_some_and(|o| o.value.iter().any(|c| c.value.is_none())),
        "object",
        &mut v.incomplete,
    );
    broken(
        raw.networks.iter().any(|c| c.value.is_none()),
        "network",
        &mut v.incomplete,
    );
    broken(
        raw.profiles.iter().any(|c| c.value.is_none()),
        "profile",
        &mut v.incomplete,
    );
    broken(
        raw.permission_sets.iter().any(|c| c.value.is_none()),
        "permission set",
        &mut v.incomplete,
    );
    broken(
        raw.users.iter().any(|c| c.value.is_none()),
        "user",
        &mut v.incomplete,
    );
    broken(
        raw.connected_apps.iter().any(|c| c.value.is_none()),
        "connected app",
        &mut v.incomplete,
    );
    let org = v.build(raw);
    if v.diags.is_empty() {
        Ok(org)
    } else {
        Err(v.diags.sorted())
    }
}

// ---------------------------------------------------------------- raw format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    // Required keys are optional here and checked by the validator, so a
    // file missing several of them hears about all of them at once.
    #[serde(default)]
    fixture: Option<Spanned<String>>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    org: Option<Checked<RawOrgInfo>>,
    #[serde(default)]
    population: Option<Spanned<Vec<Checked<RawShare>>>>,
    #[serde(default)]
    networks: Vec<Checked<RawNetwork>>,
    #[serde(default)]
    objects: Option<Spanned<Vec<Checked<RawObject>>>>,
    #[serde(default)]
    profiles: Vec<Checked<RawProfile>>,
    #[serde(default)]
    permission_sets: Vec<Checked<RawPermissionSet>>,
    #[serde(default)]
    users: Vec<Checked<RawUser>>,
    #[serde(default)]
    workforce: Vec<Checked<RawWorkforce>>,
    #[serde(default)]
    connected_apps: Vec<Checked<RawConnectedApp>>,
    #[serde(default)]
    integrations: Vec<Checked<RawIntegration>>,
    #[serde(default)]
    sandboxes: Vec<Checked<RawSandbox>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOrgInfo {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    instance: Option<Spanned<String>>,
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    daily_api_requests: Option<u64>,
    #[serde(default)]
    email_domain: Option<Spanned<String>>,
    /// Entity kinds that make sector regimes apply (`sec_registrant`,
    /// `nydfs_covered`, `pci_merchant`, …: `clocks::ENTITY_KINDS`).
    #[serde(default)]
    regulated_as: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShare {
    jurisdiction: Spanned<String>,
    weight: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    id: Spanned<String>,
    cidr: Spanned<String>,
    country: Spanned<String>,
    kind: NetworkKind,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObject {
    name: Spanned<String>,
    #[serde(default)]
    label: Option<String>,
    key_prefix: Spanned<String>,
    volume: Spanned<RawVolume>,
    #[serde(default)]
    sharing: Sharing,
    fields: Vec<Checked<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawVolume {
    Subjects(u32),
    PerParent { parent: String, ratio: f64 },
    Fixed(u64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(rename = "type")]
    ftype: FieldType,
    class: Classification,
    #[serde(rename = "gen")]
    generator: Spanned<Generator>,
    #[serde(default)]
    always_visible: bool,
    #[serde(default)]
    encrypted: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ObjPerm {
    Read,
    Create,
    Edit,
    Delete,
    ViewAll,
    ModifyAll,
    ViewAllFields,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFls {
    #[serde(default)]
    read: Vec<Spanned<String>>,
    #[serde(default)]
    edit: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: Spanned<String>,
    #[serde(default)]
    login_ip_ranges: Vec<Spanned<String>>,
    #[serde(default)]
    system: Vec<SystemPermission>,
    #[serde(default)]
    objects: BTreeMap<Spanned<String>, Vec<ObjPerm>>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, RawFls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermissionSet {
    name: Spanned<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    system: Vec<SystemPermission>,
    #[serde(default)]
    objects: BTreeMap<Spanned<String>, Vec<ObjPerm>>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, RawFls>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: Spanned<String>,
    name: Spanned<String>,
    kind: UserKind,
    profile: Spanned<String>,
    #[serde(default)]
    permission_sets: Vec<Spanned<String>>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    frozen: bool,
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    network: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkforce {
    username_prefix: Spanned<String>,
    count: Spanned<u32>,
    profile: Spanned<String>,
    #[serde(default)]
    permission_sets: Vec<Spanned<String>>,
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    network: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawRefreshPolicy {
    UntilRevoked,
    Immediately,
    ExpireAfterDays(u32),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnectedApp {
    name: Spanned<String>,
    scopes: Vec<Spanned<String>>,
    ip_relaxation: IpRelaxation,
    refresh_token_policy: RawRefreshPolicy,
    #[serde(default)]
    rotate_refresh_tokens: bool,
    #[serde(default)]
    admin_approved_only: bool,
    #[serde(default)]
    authorized_users: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawSchedule {
    Every(Spanned<String>),
    DailyAt(Spanned<String>),
    OnDemand,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    url: Spanned<String>,
    country: Spanned<String>,
    #[serde(default)]
    carries: Vec<Classification>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    id: Spanned<String>,
    title: String,
    kind: IntegrationKind,
    user: Spanned<String>,
    #[serde(default)]
    connected_app: Option<Spanned<String>>,
    network: Spanned<String>,
    schedule: RawSchedule,
    objects: Vec<Spanned<String>>,
    #[serde(default)]
    fields_used: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    sends_to: Option<Checked<RawEndpoint>>,
    #[serde(default)]
    log_sink: Option<Checked<RawEndpoint>>,
    #[serde(default)]
    residency: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    name: Spanned<String>,
    kind: Spanned<String>,
    masked: bool,
    objects: Vec<Spanned<String>>,
}

// ---------------------------------------------------------------- validation

/// Key prefixes of standard objects (and of leakdrill's own mock objects).
pub const STANDARD_KEY_PREFIXES: [&str; 20] = [
    "001", "003", "005", "006", "00D", "00Q", "00T", "00U", "00e", "01t", "0PS", "0Pa", "0H4",
    "0Ak", "0Ya", "0AT", "500", "750", "751", "801",
];

/// System fields every object has; fixtures may not redefine them.
pub const SYSTEM_FIELDS: [&str; 3] = ["Id", "Watermark__c", "Jurisdiction__c"];

/// OAuth scopes Salesforce defines (connected app `scopes`).
pub const OAUTH_SCOPES: [&str; 14] = [
    "api",
    "refresh_token",
    "offline_access",
    "full",
    "web",
    "id",
    "profile",
    "email",
    "openid",
    "address",
    "phone",
    "visualforce",
    "chatter_api",
    "custom_permissions",
];

struct Validator<'f> {
    file: &'f str,
    diags: Diagnostics,
    /// Kinds of definition ("profile", "object", …) with an item that failed
    /// to parse: references to them are not reported, since they may name
    /// the broken item (one error, not a cascade).
    incomplete: BTreeSet<&'static str>,
}

/// Domains reserved for documentation and testing (RFC 2606 / RFC 6761).
pub fn is_reserved_domain(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|r| d == *r || d.ends_with(&format!(".{r}")))
        || [".test", ".example", ".invalid"]
            .iter()
            .any(|t| d.ends_with(t))
}

/// Networks may only use RFC 5737 TEST-NETs or RFC 2544's 198.18.0.0/15.
pub fn is_synthetic_range(c: Cidr) -> bool {
    let bench = Cidr {
        addr: std::net::Ipv4Addr::new(198, 18, 0, 0),
        prefix: 15,
    };
    TEST_NETS.iter().any(|t| t.covers(c)) || bench.covers(c)
}

impl Validator<'_> {
    fn err(&mut self, loc: Loc, msg: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        let mut d = Diagnostic::new(self.file, loc, msg);
        if !hint.is_empty() {
            d = d.with_hint(hint);
        }
        self.diags.push(d);
    }

    /// Reports a dangling reference to `what` named `name`.
    fn dangling<'a>(
        &mut self,
        what: &str,
        name: &Spanned<String>,
        known: impl IntoIterator<Item = &'a str>,
    ) {
        if self.incomplete.contains(what) {
            return;
        }
        let hint = suggest(&name.value, known);
        self.err(name.loc, format!("unknown {what} `{}`", name.value), hint);
    }

    fn dangling_field(&mut self, object: &str, name: &Spanned<String>, o: &Object) {
        let hint = suggest(&name.value, o.fields.iter().map(|f| f.name.as_str()));
        self.err(
            name.loc,
            format!("unknown field `{}` on {object}", name.value),
            hint,
        );
    }

    fn unique<'a>(&mut self, what: &str, names: impl IntoIterator<Item = &'a Spanned<String>>) {
        let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
        for n in names {
            if let Some(first) = seen.get(&n.value.to_ascii_lowercase()) {
                let hint = format!("first defined at line {}", first.line);
                self.err(n.loc, format!("duplicate {what} `{}`", n.value), hint);
            } else {
                seen.insert(n.value.to_ascii_lowercase(), n.loc);
            }
        }
    }

    fn country(&mut self, c: &Spanned<String>) -> String {
        let ok = c.value.len() == 2 && c.value.chars().all(|ch| ch.is_ascii_uppercase());
        if !ok {
            self.err(
                c.loc,
                format!("`{}` is not an ISO 3166 alpha-2 country code", c.value),
                "use two upper-case letters such as US, DE, GB, SG",
            );
        }
        c.value.clone()
    }

    fn missing(&mut self, loc: Loc, key: &str, example: &str) {
        self.err(
            loc,
            format!("missing required key `{key}`"),
            format!("add `{key}: {example}`"),
        );
    }

    fn build(&mut self, raw: RawFixture) -> Org {
        let top = Loc::new(1, 1);
        let fallback_id = Spanned {
            loc: top,
            value: "invalid".to_owned(),
        };
        let id = match &raw.fixture {
            Some(f) => f,
            None => {
                self.missing(top, "fixture", "my-org");
                &fallback_id
            }
        };
        if raw.title.is_none() {
            self.missing(top, "title", "A one-line description");
        }
        if id.value.is_empty()
            || !id
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.err(
                id.loc,
                format!("fixture id `{}` must be lower-case kebab-case", id.value),
                "for example `fintech-wealth`",
            );
        }
        let org_loc = raw.org.as_ref().map_or(top, |o| o.loc);
        let given = raw.org.as_ref().and_then(|o| o.value.as_ref());
        if raw.org.is_none() {
            self.missing(
                top,
                "org",
                "{ name, instance, time_zone, daily_api_requests, email_domain }",
            );
        } else if let Some(o) = given {
            for (present, key, example) in [
                (o.name.is_some(), "name", "Acme (synthetic)"),
                (o.instance.is_some(), "instance", "acme"),
                (o.time_zone.is_some(), "time_zone", "America/New_York"),
                (
                    o.daily_api_requests.is_some(),
                    "daily_api_requests",
                    "100000",
                ),
                (o.email_domain.is_some(), "email_domain", "acme.example.com"),
            ] {
                if !present {
                    self.missing(org_loc, key, example);
                }
            }
        }
        let spanned = |v: &Option<Spanned<String>>, d: &str| {
            v.clone().unwrap_or(Spanned {
                loc: org_loc,
                value: d.to_owned(),
            })
        };
        let instance = spanned(&given.and_then(|o| o.instance.clone()), "invalid");
        let time_zone = spanned(&given.and_then(|o| o.time_zone.clone()), "UTC");
        let email_domain = spanned(
            &given.and_then(|o| o.email_domain.clone()),
            "invalid.example",
        );
        let org_name = given.and_then(|o| o.name.clone()).unwrap_or_default();
        let mut regulated_as: Vec<String> = Vec::new();
        for k in given
            .and_then(|o| o.regulated_as.as_ref())
            .into_iter()
            .flatten()
        {
            if crate::clocks::ENTITY_KINDS
                .iter()
                .any(|(n, _)| *n == k.value)
            {
                if !regulated_as.contains(&k.value) {
                    regulated_as.push(k.value.clone());
                }
            } else {
                self.err(
                    k.loc,
                    format!("unknown entity kind `{}`", k.value),
                    crate::diag::suggest(
                        &k.value,
                        crate::clocks::ENTITY_KINDS.iter().map(|(n, _)| *n),
                    ),
                );
            }
        }
        let daily_api_requests = given.and_then(|o| o.daily_api_requests).unwrap_or(0);
        if !is_reserved_domain(&email_domain.value) {
            self.err(
                email_domain.loc,
                format!("email domain `{}` is not reserved for testing", email_domain.value),
                "use example.com, example.net, example.org or a .test name, so no real mailbox can receive fake PII",
            );
        }
        let inst_ok = !instance.value.is_empty()
            && instance
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !inst_ok {
            self.err(
                instance.loc,
                format!("instance `{}` is not a My Domain name", instance.value),
                "lower-case letters, digits and dashes",
            );
        }
        self.time_zone(&time_zone);
        let empty_pop = Spanned {
            loc: top,
            value: Vec::new(),
        };
        let population_raw = match &raw.population {
            Some(p) => p,
            None => {
                self.missing(top, "population", "[{ jurisdiction: US-CA, weight: 1 }]");
                &empty_pop
            }
        };
        let empty_objects = Spanned {
            loc: top,
            value: Vec::new(),
        };
        let objects_raw = match &raw.objects {
            Some(o) => o,
            None => {
                self.missing(top, "objects", "[…]");
                &empty_objects
            }
        };
        let population = self.population(population_raw);
        let networks = self.networks(&raw.networks);
        let objects = self.objects(objects_raw);
        let profiles: Vec<Profile> = raw
            .profiles
            .iter()
            .filter_map(|c| c.value.as_ref())
            .map(|p| Profile {
                name: p.name.value.clone(),
                grants: self.grants(&objects, &p.system, &p.objects, &p.fields),
                login_ip_ranges: p
                    .login_ip_ranges
                    .iter()
                    .filter_map(|r| self.cidr(r))
                    .collect(),
                loc: p.name.loc,
            })
            .collect();
        self.unique(
            "profile",
            raw.profiles
                .iter()
                .filter_map(|c| c.value.as_ref().map(|p| &p.name)),
        );
        let permission_sets: Vec<PermissionSet> = raw
            .permission_sets
            .iter()
            .filter_map(|c| c.value.as_ref())
            .map(|p| PermissionSet {
                name: p.name.value.clone(),
                label: p
                    .label
                    .clone()
                    .unwrap_or_else(|| p.name.value.replace('_', " ")),
                grants: self.grants(&objects, &p.system, &p.objects, &p.fields),
                loc: p.name.loc,
            })
            .collect();
        self.unique(
            "permission set",
            raw.permission_sets
                .iter()
                .filter_map(|c| c.value.as_ref().map(|p| &p.name)),
        );
        let mut org = Org {
            fixture: id.value.clone(),
            source: self.file.to_owned(),
            title: raw.title.clone().unwrap_or_default(),
            org_name,
            instance: instance.value.clone(),
            time_zone: time_zone.value.clone(),
            daily_api_requests,
            email_domain: email_domain.value.to_ascii_lowercase(),
            regulated_as,
            population,
            networks,
            objects,
            profiles,
            permission_sets,
            users: Vec::new(),
            connected_apps: Vec::new(),
            integrations: Vec::new(),
            sandboxes: Vec::new(),
        };
        org.users = self.users(&org, &raw.users, &raw.workforce);
        org.connected_apps = self.connected_apps(&org, &raw.connected_apps);
        org.integrations = self.integrations(&org, &raw.integrations);
        org.sandboxes = raw
            .sandboxes
            .iter()
            .filter_map(|c| c.value.as_ref())
            .map(|s| {
                const KINDS: [&str; 4] = ["full", "partial", "developer_pro", "developer"];
                if !KINDS.contains(&s.kind.value.as_str()) {
                    self.err(
                        s.kind.loc,
                        format!("unknown sandbox kind `{}`", s.kind.value),
                        suggest(&s.kind.value, KINDS),
                    );
                }
                Sandbox {
                    name: s.name.value.clone(),
                    kind: s.kind.value.clone(),
                    masked: s.masked,
                    objects: s
                        .objects
                        .iter()
                        .filter_map(|o| self.object_ref(&org.objects, o))
                        .collect(),
                    loc: s.name.loc,
                }
            })
            .collect();
        self.unique(
            "sandbox",
            raw.sandboxes
                .iter()
                .filter_map(|c| c.value.as_ref().map(|s| &s.name)),
        );
        org
    }

    fn time_zone(&mut self, tz: &Spanned<String>) {
        let ok = tz.value == "UTC"
            || tz.value.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && tz
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
            });
        if !ok {
            self.err(
                tz.loc,
                format!("`{}` is not an IANA time zone", tz.value),
                "for example America/New_York, Europe/Berlin, Asia/Singapore or UTC",
            );
        }
    }

    fn cidr(&mut self, s: &Spanned<String>) -> Option<Cidr> {
        match s.value.parse::<Cidr>() {
            Ok(c) if is_synthetic_range(c) => Some(c),
            Ok(c) => {
                self.err(
                    s.loc,
                    format!("{c} is a real address range"),
                    "synthetic networks must sit in TEST-NET-1/2/3 (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) or 198.18.0.0/15",
                );
                None
            }
            Err(e) => {
                self.err(
                    s.loc,
                    format!("invalid CIDR: {e}"),
                    "for example 203.0.113.0/26",
                );
                None
            }
        }
    }

    fn population(&mut self, raw: &Spanned<Vec<Checked<RawShare>>>) -> Vec<PopulationShare> {
        let mut out: Vec<PopulationShare> = Vec::new();
        for s in raw.value.iter().filter_map(|c| c.value.as_ref()) {
            let code = &s.jurisdiction.value;
            let (country, region) = match code.split_once('-') {
                Some((c, r)) => (c, Some(r)),
                None => (code.as_str(), None),
            };
            let country_ok = country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase());
            let region_ok = region.is_none_or(|r| {
                (1..=3).contains(&r.len())
                    && r.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            });
            if !country_ok || !region_ok {
                self.err(
                    s.jurisdiction.loc,
                    format!("`{code}` is not a jurisdiction code"),
                    "use a country (`DE`) or country-subdivision (`US-CA`) code",
                );
                continue;
            }
            if s.weight.value == 0 {
                self.err(
                    s.weight.loc,
                    "weight must be at least 1",
                    "remove the entry instead",
                );
            }
            let j = Jurisdiction {
                country: country.to_owned(),
                region: region.map(str::to_owned),
            };
            if out.iter().any(|p| p.jurisdiction == j) {
                self.err(
                    s.jurisdiction.loc,
                    format!("jurisdiction `{code}` listed twice"),
                    "merge the weights",
                );
            }
            out.push(PopulationShare {
                jurisdiction: j,
                weight: s.weight.value,
            });
        }
        if raw.value.is_empty() && raw.loc != Loc::new(1, 1) {
            self.err(
                raw.loc,
                "the population mix is empty",
                "list at least one `{ jurisdiction: US-CA, weight: 1 }`",
            );
        }
        out
    }

    fn networks(&mut self, raw: &[Checked<RawNetwork>]) -> Vec<Network> {
        self.unique(
            "network",
            raw.iter().filter_map(|c| c.value.as_ref().map(|n| &n.id)),
        );
        raw.iter()
            .filter_map(|c| c.value.as_ref())
            .map(|n| {
                let country = self.country(&n.country);
                // An invalid range was reported; keep the network so that
                // references to it do not cascade into more errors.
                let cidr = self.cidr(&n.cidr).unwrap_or(TEST_NETS[0]);
                Network {
                    id: n.id.value.clone(),
                    cidr,
                    country,
                    kind: n.kind,
                    loc: n.id.loc,
                }
            })
            .collect()
    }

    fn objects(&mut self, raw_spanned: &Spanned<Vec<Checked<RawObject>>>) -> Vec<Object> {
        let raw = raw_spanned.value.as_slice();
        if raw.is_empty() && raw_spanned.loc != Loc::new(1, 1) {
            self.err(
                raw_spanned.loc,
                "the fixture has no objects",
                "define at least one person object with `volume: { subjects: 100 }`",
            );
        }
        self.unique(
            "object",
            raw.iter().filter_map(|c| c.value.as_ref().map(|o| &o.name)),
        );
        self.unique(
            "key prefix",
            raw.iter()
                .filter_map(|c| c.value.as_ref().map(|o| &o.key_prefix)),
        );
        let mut out: Vec<Object> = Vec::new();
        let mut percent_total = 0u32;
        let mut percent_loc = None;
        for o in raw.iter().filter_map(|c| c.value.as_ref()) {
            let kp = &o.key_prefix.value;
            if kp.len() != 3 || !kp.chars().all(|c| c.is_ascii_alphanumeric()) {
                self.err(
                    o.key_prefix.loc,
                    format!("key prefix `{kp}` must be 3 letters or digits"),
                    "Contact is `003`, Account `001`, Lead `00Q`; custom objects use e.g. `a0B` (quote it in YAML)",
                );
            }
            if o.name.value.ends_with("__c") && STANDARD_KEY_PREFIXES.contains(&kp.as_str()) {
                self.err(
                    o.key_prefix.loc,
                    format!("key prefix `{kp}` belongs to a standard object; custom objects use prefixes such as `a0B`"),
                    "pick an unused prefix starting with a lower-case letter",
                );
            }
            let volume = match &o.volume.value {
                RawVolume::Subjects(p) => {
                    percent_total += p;
                    percent_loc.get_or_insert(o.volume.loc);
                    if *p == 0 {
                        self.err(o.volume.loc, "a person object needs a share above 0 %", "");
                    }
                    Volume::Subjects { percent: *p }
                }
                RawVolume::PerParent { parent, ratio } => {
                    if !out.iter().any(|x| x.name == *parent) {
                        let hint = if raw
                            .iter()
                            .filter_map(|c| c.value.as_ref())
                            .any(|x| x.name.value == *parent)
                        {
                            "define the parent object before this one".to_owned()
                        } else {
                            suggest(parent, out.iter().map(|x| x.name.as_str()))
                        };
                        self.err(
                            o.volume.loc,
                            format!("unknown parent object `{parent}`"),
                            hint,
                        );
                    }
                    if !(ratio.is_finite() && *ratio > 0.0 && *ratio <= 1000.0) {
                        self.err(
                            o.volume.loc,
                            format!("ratio {ratio} is out of range"),
                            "records per parent must be above 0 and at most 1000",
                        );
                    }
                    Volume::PerParent {
                        parent: parent.clone(),
                        ratio: *ratio,
                    }
                }
                RawVolume::Fixed(n) => {
                    if *n > 10_000_000 {
                        self.err(
                            o.volume.loc,
                            format!("{n} fixed records is above the limit of 10,000,000"),
                            "",
                        );
                    }
                    Volume::Fixed { count: *n }
                }
            };
            let fields = self.fields(o, &volume);
            out.push(Object {
                name: o.name.value.clone(),
                label: o
                    .label
                    .clone()
                    .unwrap_or_else(|| o.name.value.trim_end_matches("__c").replace('_', " ")),
                key_prefix: kp.clone(),
                volume,
                sharing: o.sharing,
                fields,
                loc: o.name.loc,
            });
        }
        if let Some(loc) = percent_loc
            && percent_total != 100
        {
            self.err(
                loc,
                format!("person objects' subject shares add up to {percent_total} %, not 100 %"),
                "the `subjects:` percentages split --records N between person objects",
            );
        }
        if percent_loc.is_none() && !raw.is_empty() {
            self.err(
                raw_spanned.loc,
                "no person object",
                "give at least one object `volume: { subjects: 100 }` so --records N has somewhere to go",
            );
        }
        out
    }

    fn fields(&mut self, o: &RawObject, volume: &Volume) -> Vec<Field> {
        self.unique(
            "field",
            o.fields
                .iter()
                .filter_map(|c| c.value.as_ref().map(|f| &f.name)),
        );
        let mut out = Vec::new();
        let mut has_parent_id = false;
        for f in o.fields.iter().filter_map(|c| c.value.as_ref()) {
            if SYSTEM_FIELDS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&f.name.value))
            {
                self.err(
                    f.name.loc,
                    format!(
                        "`{}` is a system field every object already has",
                        f.name.value
                    ),
                    "remove it; Id, Watermark__c and Jurisdiction__c are added automatically",
                );
                continue;
            }
            let valid_name = f
                .name
                .value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && f.name
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                self.err(
                    f.name.loc,
                    format!("`{}` is not a valid field API name", f.name.value),
                    "letters, digits and underscores; custom fields end in __c",
                );
            }
            let g = &f.generator;
            match &g.value {
                Generator::ParentId => {
                    has_parent_id = true;
                    if !matches!(volume, Volume::PerParent { .. }) {
                        self.err(
                            g.loc,
                            "`parent_id` needs an object with `volume: { per_parent: … }`",
                            "",
                        );
                    }
                    if f.ftype != FieldType::Reference {
                        self.err(g.loc, "`parent_id` fields must have `type: reference`", "");
                    }
                }
                Generator::Money { min, max }
                    if !(min.is_finite() && max.is_finite() && min <= max) =>
                {
                    self.err(
                        g.loc,
                        format!("money range {min}..{max} is empty"),
                        "min must not exceed max",
                    );
                }
                Generator::Money { min, max } if min.abs() > 1e12 || max.abs() > 1e12 => {
                    self.err(
                        g.loc,
                        format!("money range {min}..{max} is outside ±1,000,000,000,000"),
                        "amounts are generated in whole cents",
                    );
                }
                Generator::Int { min, max }
                    if min.unsigned_abs() > 1_000_000_000_000_000
                        || max.unsigned_abs() > 1_000_000_000_000_000 =>
                {
                    self.err(
                        g.loc,
                        format!("integer range {min}..{max} is outside ±10^15"),
                        "",
                    );
                }
                Generator::RecentDate { days } if *days > 36_500 => {
                    self.err(
                        g.loc,
                        format!("`recent_date` of {days} days goes back more than 100 years"),
                        "use at most 36500 days",
                    );
                }
                Generator::Int { min, max } if min > max => {
                    self.err(
                        g.loc,
                        format!("integer range {min}..{max} is empty"),
                        "min must not exceed max",
                    );
                }
                Generator::Choice(v) if v.is_empty() => {
                    self.err(g.loc, "`choice` needs at least one value", "");
                }
                Generator::RecentDate { days: 0 } => {
                    self.err(g.loc, "`recent_date` needs `days` above 0", "");
                }
                Generator::Email if f.ftype != FieldType::Email => {
                    self.err(g.loc, "`email` values need `type: email`", "");
                }
                Generator::Phone if f.ftype != FieldType::Phone => {
                    self.err(g.loc, "`phone` values need `type: phone`", "");
                }
                _ => {}
            }
            out.push(Field {
                name: f.name.value.clone(),
                label: f
                    .label
                    .clone()
                    .unwrap_or_else(|| f.name.value.trim_end_matches("__c").replace('_', " ")),
                ftype: f.ftype,
                class: f.class,
                generator: g.value.clone(),
                always_visible: f.always_visible,
                encrypted: f.encrypted,
                loc: f.name.loc,
            });
        }
        if matches!(volume, Volume::PerParent { .. }) && !has_parent_id {
            self.err(
                o.name.loc,
                format!("`{}` has a parent but no field with `gen: parent_id`", o.name.value),
                "add a lookup field such as `{ name: Contact__c, type: reference, class: internal, gen: parent_id }`",
            );
        }
        out
    }

    fn object_ref(&mut self, objects: &[Object], name: &Spanned<String>) -> Option<String> {
        match objects.iter().find(|o| o.name == name.value) {
            Some(o) => Some(o.name.clone()),
            None => {
                self.dangling("object", name, objects.iter().map(|o| o.name.as_str()));
                None
            }
        }
    }

    fn grants(
        &mut self,
        objects: &[Object],
        system: &[SystemPermission],
        objs: &BTreeMap<Spanned<String>, Vec<ObjPerm>>,
        fls: &BTreeMap<Spanned<String>, RawFls>,
    ) -> Grants {
        let mut g = Grants {
            system: system.iter().copied().collect(),
            ..Default::default()
        };
        for (name, perms) in objs {
            let Some(obj) = self.object_ref(objects, name) else {
                continue;
            };
            let mut p = ObjectPerms::default();
            for perm in perms {
                match perm {
                    ObjPerm::Read => p.read = true,
                    ObjPerm::Create => p.create = true,
                    ObjPerm::Edit => p.edit = true,
                    ObjPerm::Delete => p.delete = true,
                    ObjPerm::ViewAll => p.view_all = true,
                    ObjPerm::ModifyAll => p.modify_all = true,
                    ObjPerm::ViewAllFields => p.view_all_fields = true,
                }
            }
            g.objects.insert(obj, p);
        }
        for (name, f) in fls {
            let Some(obj) = self.object_ref(objects, name) else {
                continue;
            };
            let Some(object) = objects.iter().find(|o| o.name == obj) else {
                continue;
            };
            for (list, edit) in [(&f.read, false), (&f.edit, true)] {
                for field in list {
                    if field.value == "*" {
                        for fd in &object.fields {
                            let e = g.fields.entry((obj.clone(), fd.name.clone())).or_default();
                            e.read = true;
                            e.edit |= edit;
                        }
                        continue;
                    }
                    match object.field(&field.value) {
                        Some(fd) => {
                            let e = g.fields.entry((obj.clone(), fd.name.clone())).or_default();
                            e.read = true;
                            e.edit |= edit;
                        }
                        None => self.dangling_field(&obj, field, object),
                    }
                }
            }
        }
        g
    }

    fn check_username(&mut self, org: &Org, u: &Spanned<String>) {
        match u.value.split_once('@') {
            Some((local, domain)) if !local.is_empty() && is_reserved_domain(domain) => {}
            Some(_) => self.err(
                u.loc,
                format!("username `{}` is not on a reserved test domain", u.value),
                format!(
                    "use the fixture's email domain, e.g. name@{}",
                    org.email_domain
                ),
            ),
            None => self.err(
                u.loc,
                format!("username `{}` is not an email address", u.value),
                format!("Salesforce usernames look like name@{}", org.email_domain),
            ),
        }
    }

    fn user_refs(
        &mut self,
        org: &Org,
        profile: &Spanned<String>,
        permission_sets: &[Spanned<String>],
        network: &Option<Spanned<String>>,
        time_zone: &Option<Spanned<String>>,
    ) -> (Vec<String>, Option<String>, String) {
        if org.profile(&profile.value).is_none() {
            self.dangling(
                "profile",
                profile,
                org.profiles.iter().map(|p| p.name.as_str()),
            );
        }
        let mut sets = Vec::new();
        for ps in permission_sets {
            if org.permission_set(&ps.value).is_none() {
                self.dangling(
                    "permission set",
                    ps,
                    org.permission_sets.iter().map(|p| p.name.as_str()),
                );
            } else {
                sets.push(ps.value.clone());
            }
        }
        let net = network.as_ref().and_then(|n| {
            if org.network(&n.value).is_none() {
                self.dangling("network", n, org.networks.iter().map(|x| x.id.as_str()));
                None
            } else {
                Some(n.value.clone())
            }
        });
        if let Some(tz) = time_zone {
            self.time_zone(tz);
        }
        let tz = time_zone
            .as_ref()
            .map_or_else(|| org.time_zone.clone(), |t| t.value.clone());
        (sets, net, tz)
    }

    fn users(
        &mut self,
        org: &Org,
        raw: &[Checked<RawUser>],
        wf: &[Checked<RawWorkforce>],
    ) -> Vec<User> {
        let mut out = Vec::new();
        for u in raw.iter().filter_map(|c| c.value.as_ref()) {
            self.check_username(org, &u.username);
            let (sets, network, tz) = self.user_refs(
                org,
                &u.profile,
                &u.permission_sets,
                &u.network,
                &u.time_zone,
            );
            let (first, last) = match u.name.value.rsplit_once(' ') {
                Some((f, l)) => (f.to_owned(), l.to_owned()),
                None => (String::new(), u.name.value.clone()),
            };
            out.push(User {
                username: u.username.value.clone(),
                first_name: first,
                last_name: last,
                kind: u.kind,
                profile: u.profile.value.clone(),
                permission_sets: sets,
                active: u.active,
                frozen: u.frozen,
                time_zone: tz,
                network,
                workforce: false,
                loc: u.username.loc,
            });
        }
        for w in wf.iter().filter_map(|c| c.value.as_ref()) {
            if w.count.value > 10_000 {
                self.err(
                    w.count.loc,
                    format!(
                        "workforce of {} is above the limit of 10,000",
                        w.count.value
                    ),
                    "",
                );
                continue;
            }
            let (sets, network, tz) = self.user_refs(
                org,
                &w.profile,
                &w.permission_sets,
                &w.network,
                &w.time_zone,
            );
            for i in 1..=w.count.value {
                // Workforce names are fixed per index so usernames stay stable
                // across seeds (scenarios refer to them).
                let names = crate::pii::WORKFORCE_NAMES;
                let (first, last) = names[(i as usize - 1) % names.len()];
                out.push(User {
                    username: format!("{}{i:03}@{}", w.username_prefix.value, org.email_domain),
                    first_name: first.to_owned(),
                    last_name: last.to_owned(),
                    kind: UserKind::Human,
                    profile: w.profile.value.clone(),
                    permission_sets: sets.clone(),
                    active: true,
                    frozen: false,
                    time_zone: tz.clone(),
                    network: network.clone(),
                    workforce: true,
                    loc: w.username_prefix.loc,
                });
            }
        }
        let mut seen: BTreeMap<&str, Loc> = BTreeMap::new();
        for u in &out {
            if let Some(first) = seen.insert(u.username.as_str(), u.loc) {
                self.err(
                    u.loc,
                    format!("duplicate username `{}`", u.username),
                    format!("first defined at line {}", first.line),
                );
            }
        }
        out
    }

    fn connected_apps(&mut self, org: &Org, raw: &[Checked<RawConnectedApp>]) -> Vec<ConnectedApp> {
        self.unique(
            "connected app",
            raw.iter().filter_map(|c| c.value.as_ref().map(|a| &a.name)),
        );
        raw.iter()
            .filter_map(|c| c.value.as_ref())
            .map(|a| {
                let mut scopes = BTreeSet::new();
                for s in &a.scopes {
                    if OAUTH_SCOPES.contains(&s.value.as_str()) {
                        scopes.insert(s.value.clone());
                    } else {
                        self.dangling("OAuth scope", s, OAUTH_SCOPES);
                    }
                }
                let mut users = Vec::new();
                for u in &a.authorized_users {
                    if org.user(&u.value).is_some() {
                        users.push(u.value.clone());
                    } else {
                        self.dangling("user", u, org.users.iter().map(|u| u.username.as_str()));
                    }
                }
                let refresh_token_policy = match a.refresh_token_policy {
                    RawRefreshPolicy::UntilRevoked => RefreshTokenPolicy::UntilRevoked,
                    RawRefreshPolicy::Immediately => RefreshTokenPolicy::Immediately,
                    RawRefreshPolicy::ExpireAfterDays(d) => {
                        if d == 0 {
                            self.err(a.name.loc, "`expire_after_days: 0` is `immediately`", "");
                        }
                        RefreshTokenPolicy::ExpireAfterDays(d)
                    }
                };
                ConnectedApp {
                    name: a.name.value.clone(),
                    scopes,
                    ip_relaxation: a.ip_relaxation,
                    refresh_token_policy,
                    rotate_refresh_tokens: a.rotate_refresh_tokens,
                    admin_approved_only: a.admin_approved_only,
                    authorized_users: users,
                    loc: a.name.loc,
                }
            })
            .collect()
    }

    fn endpoint(&mut self, raw: &Checked<RawEndpoint>) -> Option<Endpoint> {
        let e = raw.value.as_ref()?;
        let url = &e.url.value;
        match endpoint_host(url) {
            Err(why) => self.err(e.url.loc, format!("`{url}` is not a usable endpoint URL: {why}"), "for example https://hooks.vendor.example/ingest"),
            Ok(h) if !is_reserved_domain(&h) => self.err(
                e.url.loc,
                format!("endpoint host `{h}` is not a reserved test domain"),
                "synthetic endpoints must use .example, .test, example.com/net/org or .invalid names, so no real service can receive data",
            ),
            Ok(_) => {}
        }
        let country = self.country(&e.country);
        Some(Endpoint {
            url: url.clone(),
            country,
            carries: e.carries.iter().copied().collect(),
            loc: raw.loc,
        })
    }

    fn integrations(&mut self, org: &Org, raw: &[Checked<RawIntegration>]) -> Vec<Integration> {
        self.unique(
            "integration",
            raw.iter().filter_map(|c| c.value.as_ref().map(|i| &i.id)),
        );
        let mut out = Vec::new();
        for i in raw.iter().filter_map(|c| c.value.as_ref()) {
            if org.user(&i.user.value).is_none() {
                self.dangling(
                    "user",
                    &i.user,
                    org.users.iter().map(|u| u.username.as_str()),
                );
            }
            if let Some(app) = &i.connected_app
                && org.connected_app(&app.value).is_none()
            {
                self.dangling(
                    "connected app",
                    app,
                    org.connected_apps.iter().map(|a| a.name.as_str()),
                );
            }
            if org.network(&i.network.value).is_none() {
                self.dangling(
                    "network",
                    &i.network,
                    org.networks.iter().map(|n| n.id.as_str()),
                );
            }
            let objects: Vec<String> = i
                .objects
                .iter()
                .filter_map(|o| self.object_ref(&org.objects, o))
                .collect();
            let fields_used = i.fields_used.as_ref().map(|list| {
                let mut v = Vec::new();
                for f in list {
                    let Some((o, name)) = f.value.split_once('.') else {
                        self.err(
                            f.loc,
                            format!("`{}` is not `Object.Field`", f.value),
                            "for example Contact.Email",
                        );
                        continue;
                    };
                    match org.object(o) {
                        None => self.dangling(
                            "object",
                            &Spanned {
                                loc: f.loc,
                                value: o.to_owned(),
                            },
                            org.objects.iter().map(|x| x.name.as_str()),
                        ),
                        Some(obj) => match obj.field(name) {
                            Some(fd) => v.push((obj.name.clone(), fd.name.clone())),
                            None if SYSTEM_FIELDS.contains(&name) => {
                                v.push((obj.name.clone(), name.to_owned()))
                            }
                            None => self.dangling(
                                &format!("field on {}", obj.name),
                                &Spanned {
                                    loc: f.loc,
                                    value: name.to_owned(),
                                },
                                obj.fields.iter().map(|x| x.name.as_str()),
                            ),
                        },
                    }
                }
                v
            });
            let schedule = match &i.schedule {
                RawSchedule::OnDemand => Schedule::OnDemand,
                RawSchedule::Every(s) => match parse_minutes(&s.value) {
                    Some(m) if m > 0 => Schedule::EveryMinutes(m),
                    _ => {
                        self.err(
                            s.loc,
                            format!("`{}` is not a period", s.value),
                            "use minutes or hours such as 15m, 1h, 6h",
                        );
                        Schedule::OnDemand
                    }
                },
                RawSchedule::DailyAt(s) => match parse_hhmm(&s.value) {
                    Some((hour, minute)) => Schedule::DailyAt { hour, minute },
                    None => {
                        self.err(
                            s.loc,
                            format!("`{}` is not a time of day", s.value),
                            "use HH:MM in 24-hour form, quoted: \"02:30\"",
                        );
                        Schedule::OnDemand
                    }
                },
            };
            let residency = i
                .residency
                .as_ref()
                .map(|r| r.iter().map(|c| self.country(c)).collect());
            // An endpoint that does not say what it carries carries whatever
            // the integration reads.
            let used_classes: BTreeSet<Classification> = fields_used
                .iter()
                .flatten()
                .filter_map(|(o, f)| org.object(o).and_then(|o| o.field(f)).map(|f| f.class))
                .collect();
            let with_default = |e: Option<Endpoint>| {
                e.map(|mut e| {
                    if e.carries.is_empty() {
                        e.carries = used_classes.clone();
                    }
                    e
                })
            };
            out.push(Integration {
                id: i.id.value.clone(),
                title: i.title.clone(),
                kind: i.kind,
                user: i.user.value.clone(),
                connected_app: i.connected_app.as_ref().map(|a| a.value.clone()),
                network: i.network.value.clone(),
                schedule,
                objects,
                fields_used,
                sends_to: with_default(i.sends_to.as_ref().and_then(|e| self.endpoint(e))),
                log_sink: with_default(i.log_sink.as_ref().and_then(|e| self.endpoint(e))),
                residency,
                loc: i.id.loc,
            });
        }
        out
    }
}

/// The host of an http(s) endpoint URL, refusing anything that could hide
/// the real destination (credentials, fragments, odd encodings, IP literals).
pub fn endpoint_host(url: &str) -> Result<String, &'static str> {
    let u = url::Url::parse(url).map_err(|_| "it does not parse as a URL")?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("only http:// and https:// endpoints are modelled");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in the URL hide the real host");
    }
    if u.fragment().is_some() {
        return Err("fragments are not allowed");
    }
    if url.contains('\\')
        || url.contains('%') && url.split('/').nth(2).is_some_and(|h| h.contains('%'))
    {
        return Err("backslashes or escapes in the host are not allowed");
    }
    match u.host() {
        Some(url::Host::Domain(d)) => Ok(d.trim_end_matches('.').to_ascii_lowercase()),
        Some(_) => Err("IP-address hosts are not allowed; use a reserved name"),
        None => Err("it has no host"),
    }
}

/// `15m`, `2h`, `90` (minutes) → minutes.
pub fn parse_minutes(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(h) = s.strip_suffix('h') {
        h.trim().parse::<u32>().ok()?.checked_mul(60)
    } else if let Some(m) = s.strip_suffix('m') {
        m.trim().parse().ok()
    } else {
        s.parse().ok()
    }
}

fn parse_hhmm(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some((h, m))
}
