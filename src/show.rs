//! `leakdrill org show`: a readable summary of a fixture — objects and record
//! counts by classification, population, users with their effective
//! permissions, connected apps, integrations, networks — as text or JSON.
//!
//! Owns: rendering of the org summary and the effective-permission table.
//! Must not: do I/O or compute permissions itself (it asks `Org::effective`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::model::*;
use crate::pii::Plan;

const SYSTEM_SHOWN: [(SystemPermission, &str); 8] = [
    (SystemPermission::ApiEnabled, "API"),
    (SystemPermission::ApiUserOnly, "APIonly"),
    (SystemPermission::ViewAllData, "VAD"),
    (SystemPermission::ModifyAllData, "MAD"),
    (SystemPermission::ExportReport, "Export"),
    (SystemPermission::ManageUsers, "Users"),
    (SystemPermission::ViewEventLogFiles, "ELF"),
    (SystemPermission::ViewEncryptedData, "Decrypt"),
];

/// Fields of `object` the user can read, by class.
fn readable_by_class(eff: &Effective, o: &Object) -> BTreeMap<Classification, usize> {
    let mut m = BTreeMap::new();
    for f in &o.fields {
        if eff.field(o, f).read {
            *m.entry(f.class).or_insert(0) += 1;
        }
    }
    m
}

/// The effective-permission table: one block per named user (workforce
/// users are summarised by profile), one line per object.
pub fn permission_table(org: &Org) -> String {
    let mut s = String::new();
    let mut seen_workforce: Vec<(&str, &[String])> = Vec::new();
    for u in &org.users {
        let workforce = u.workforce;
        if workforce {
            if seen_workforce
                .iter()
                .any(|(p, ps)| *p == u.profile && *ps == u.permission_sets.as_slice())
            {
                continue;
            }
            seen_workforce.push((&u.profile, &u.permission_sets));
        }
        let eff = org.effective(u);
        let sys: Vec<&str> = SYSTEM_SHOWN
            .iter()
            .filter(|(p, _)| eff.has(*p))
            .map(|(_, n)| *n)
            .collect();
        let n = org
            .users
            .iter()
            .filter(|x| x.workforce && x.loc == u.loc)
            .count();
        let who = if workforce {
            format!("{} (and {} more like it)", u.username, n - 1)
        } else {
            u.username.clone()
        };
        let state = match (u.active, u.frozen) {
            (false, _) => " INACTIVE",
            (true, true) => " FROZEN",
            _ => "",
        };
        let _ = writeln!(
            s,
            "{who} [{}{state}] profile={}{} system={}",
            kind_name(u.kind),
            u.profile,
            if u.permission_sets.is_empty() {
                String::new()
            } else {
                format!(" sets={}", u.permission_sets.join(","))
            },
            if sys.is_empty() {
                "-".into()
            } else {
                sys.join(",")
            }
        );
        for o in &org.objects {
            let op = eff.object(&o.name);
            if !op.read {
                continue;
            }
            let by_class = readable_by_class(&eff, o);
            let sensitive: Vec<&str> = o
                .fields
                .iter()
                .filter(|f| f.class.is_sensitive() && eff.field(o, f).read)
                .map(|f| f.name.as_str())
                .collect();
            let classes: Vec<String> = by_class.iter().map(|(c, n)| format!("{c}:{n}")).collect();
            let _ = writeln!(
                s,
                "  {:<22} {:<14} fields {}/{} ({}){}",
                o.name,
                op.letters(),
                by_class.values().sum::<usize>(),
                o.fields.len(),
                classes.join(" "),
                if sensitive.is_empty() {
                    String::new()
                } else {
                    format!(" sensitive: {}", sensitive.join(","))
                }
            );
        }
    }
    s
}

fn kind_name(k: UserKind) -> &'static str {
    match k {
        UserKind::Human => "human",
        UserKind::Admin => "admin",
        UserKind::Integration => "integration",
    }
}

fn class_counts(o: &Object) -> BTreeMap<Classification, usize> {
    let mut m = BTreeMap::new();
    for f in &o.fields {
        *m.entry(f.class).or_insert(0) += 1;
    }
    m
}

/// The text summary.
pub fn render_text(plan: &Plan<'_>) -> String {
    let org = plan.org;
    let mut s = String::new();
    let _ = writeln!(s, "{} — {}", org.fixture, org.title);
    let _ = writeln!(
        s,
        "org {} ({}) · https://{}.my.salesforce.com · tz {} · {} API requests/day",
        org.org_name,
        crate::sfid::org_id(&org.fixture),
        org.instance,
        org.time_zone,
        org.daily_api_requests
    );
    let total = org.population_weight().max(1);
    let mix: Vec<String> = org
        .population
        .iter()
        .map(|p| format!("{} {}%", p.jurisdiction, u64::from(p.weight) * 100 / total))
        .collect();
    let _ = writeln!(s, "population: {}", mix.join(", "));
    let _ = writeln!(
        s,
        "\nobjects (for {} data subjects, seed {}):",
        plan.subjects, plan.seed.0
    );
    let _ = writeln!(
        s,
        "  {:<22} {:<6} {:>10}  fields by class",
        "object", "prefix", "records"
    );
    for (i, o) in org.objects.iter().enumerate() {
        let classes: Vec<String> = class_counts(o)
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        let _ = writeln!(
            s,
            "  {:<22} {:<6} {:>10}  {}",
            o.name,
            o.key_prefix,
            plan.count(i),
            classes.join(" ")
        );
    }
    let _ = writeln!(
        s,
        "\nusers and effective permissions (C R E D, +VA view all, +MA modify all, +VF view all fields):"
    );
    for line in permission_table(org).lines() {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(s, "\nconnected apps:");
    for a in &org.connected_apps {
        let policy = match a.refresh_token_policy {
            RefreshTokenPolicy::UntilRevoked => "refresh tokens never expire".to_owned(),
            RefreshTokenPolicy::Immediately => "refresh tokens expire immediately".to_owned(),
            RefreshTokenPolicy::ExpireAfterDays(d) => format!("refresh tokens expire after {d} d"),
        };
        let _ = writeln!(
            s,
            "  {:<24} scopes={} ip={} {}{}{}",
            a.name,
            a.scopes.iter().cloned().collect::<Vec<_>>().join(","),
            yaml_name(&a.ip_relaxation),
            policy,
            if a.rotate_refresh_tokens {
                ", rotated"
            } else {
                ""
            },
            if a.admin_approved_only {
                ", admin-approved users only"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(s, "\nintegrations:");
    for i in &org.integrations {
        let mut extra = Vec::new();
        if let Some(e) = &i.sends_to {
            extra.push(format!("→ {} ({})", e.url, e.country));
        }
        if let Some(l) = &i.log_sink {
            extra.push(format!("logs → {}", l.url));
        }
        let _ = writeln!(
            s,
            "  {:<26} {:<12} {:<12} as {} from {} {}",
            i.id,
            yaml_name(&i.kind),
            i.schedule.to_string(),
            i.user,
            i.network,
            extra.join(" ")
        );
    }
    let _ = writeln!(s, "\nnetworks:");
    for n in &org.networks {
        let _ = writeln!(
            s,
            "  {:<20} {:<18} {} {}",
            n.id,
            n.cidr.to_string(),
            n.country,
            yaml_name(&n.kind)
        );
    }
    if !org.sandboxes.is_empty() {
        let _ = writeln!(s, "\nsandboxes:");
        for sb in &org.sandboxes {
            let _ = writeln!(
                s,
                "  {:<10} {:<10} {} ({})",
                sb.name,
                sb.kind,
                if sb.masked { "masked" } else { "UNMASKED" },
                sb.objects.join(", ")
            );
        }
    }
    s
}

/// The JSON summary (stable key order).
pub fn render_json(plan: &Plan<'_>) -> Value {
    let org = plan.org;
    let objects: Vec<Value> = org
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let classes: BTreeMap<&str, usize> =
                class_counts(o).into_iter().map(|(c, n)| (c.as_str(), n)).collect();
            json!({
                "name": o.name,
                "key_prefix": o.key_prefix,
                "records": plan.count(i),
                "fields": o.fields.iter().map(|f| json!({"name": f.name, "type": f.ftype.describe_name(), "class": f.class.as_str()})).collect::<Vec<_>>(),
                "fields_by_class": classes,
            })
        })
        .collect();
    let users: Vec<Value> = org
        .users
        .iter()
        .map(|u| {
            let eff = org.effective(u);
            let objects: BTreeMap<&str, Value> = org
                .objects
                .iter()
                .filter(|o| eff.object(&o.name).read)
                .map(|o| {
                    let readable: Vec<&str> = o
                        .fields
                        .iter()
                        .filter(|f| eff.field(o, f).read)
                        .map(|f| f.name.as_str())
                        .collect();
                    (
                        o.name.as_str(),
                        json!({"access": eff.object(&o.name), "readable_fields": readable}),
                    )
                })
                .collect();
            json!({
                "username": u.username,
                "kind": u.kind,
                "profile": u.profile,
                "permission_sets": u.permission_sets,
                "active": u.active,
                "frozen": u.frozen,
                "system_permissions": eff.system.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "objects": objects,
            })
        })
        .collect();
    json!({
        "fixture": org.fixture,
        "title": org.title,
        "org_id": crate::sfid::org_id(&org.fixture),
        "instance_url": format!("https://{}.my.salesforce.com", org.instance),
        "subjects": plan.subjects,
        "seed": plan.seed.0,
        "population": org.population.iter().map(|p| json!({"jurisdiction": p.jurisdiction.code(), "weight": p.weight})).collect::<Vec<_>>(),
        "objects": objects,
        "users": users,
        "connected_apps": org.connected_apps.iter().map(|a| json!({
            "name": a.name, "scopes": a.scopes, "ip_relaxation": a.ip_relaxation,
            "refresh_token_policy": a.refresh_token_policy, "rotate_refresh_tokens": a.rotate_refresh_tokens,
            "admin_approved_only": a.admin_approved_only, "authorized_users": a.authorized_users,
        })).collect::<Vec<_>>(),
                "integrations": org.integrations.iter().map(|i| json!({
            "id": i.id, "title": i.title, "kind": i.kind, "user": i.user, "connected_app": i.connected_app,
            "network": i.network, "schedule": i.schedule.to_string(), "objects": i.objects,
            "fields_used": i.fields_used.as_ref().map(|v| v.iter().map(|(o, f)| format!("{o}.{f}")).collect::<Vec<_>>()),
            "sends_to": i.sends_to.as_ref().map(endpoint_json),
            "log_sink": i.log_sink.as_ref().map(endpoint_json),
            "residency": i.residency,
        })).collect::<Vec<_>>(),
        "sandboxes": org.sandboxes.iter().map(|s| json!({"name": s.name, "kind": s.kind, "masked": s.masked, "objects": s.objects})).collect::<Vec<_>>(),
        "networks": org.networks.iter().map(|n| json!({"id": n.id, "cidr": n.cidr.to_string(), "country": n.country, "kind": n.kind})).collect::<Vec<_>>(),
    })
}

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "url": e.url,
        "country": e.country,
        "plaintext": e.is_plaintext(),
        "carries": e.carries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    })
}
