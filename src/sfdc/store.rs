//! The org's records: one table per object (fixture objects, `User`,
//! `Organization`), rows as column-aligned strings ("" is null), built from
//! the generation plan so the mock serves exactly the watermarked records
//! `org generate` writes; inserts, updates and soft deletes.
//!
//! Owns: rows and Id look-up. Must not: check permissions (callers do) or
//! know about HTTP.

use std::collections::BTreeMap;

use super::schema::{DATA_COLUMNS_START, TableKind, TableSchema, parent_of};
use super::sf_datetime;
use crate::model::{Org, UserKind};
use crate::pii::Plan;
use crate::seed::Seed;
use crate::sfid;

/// 2023-01-01T00:00:00Z: generated records were created after this instant.
const CREATED_FROM_MS: i64 = 1_672_531_200_000;
/// Three years of creation dates.
const CREATED_SPAN_MS: i64 = 3 * 365 * 86_400_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Column-aligned values. Change them only through [`Table::set_value`],
    /// [`Table::touch`] or [`Table::soft_delete`]: they bump the table's
    /// generation, which keeps rendered records (`query::RenderCache`) true.
    pub values: Vec<String>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub schema: TableSchema,
    pub rows: Vec<Row>,
    /// Id (18 chars) → row index.
    index: BTreeMap<String, usize>,
    /// Each row's Id, side by side (a page's telemetry copies 200 of them
    /// without visiting the rows).
    ids: Vec<sfid::Id>,
    id_base: u64,
    next_index: u64,
    /// Bumped by every change to a row (see [`Table::generation`]).
    generation: u64,
}

impl Table {
    fn new(schema: TableSchema, id_base: u64, next_index: u64) -> Table {
        Table {
            schema,
            rows: Vec::new(),
            index: BTreeMap::new(),
            ids: Vec::new(),
            id_base,
            next_index,
            generation: 0,
        }
    }

    /// Changes whenever a row is added, changed or deleted: records
    /// rendered at one generation are valid while it stays the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn push(&mut self, row: Row) {
        self.generation += 1;
        self.index.insert(row.values[0].clone(), self.rows.len());
        self.ids.push(sfid::Id::new(&row.values[0]));
        self.rows.push(row);
    }

    /// The Id of a row (empty past the end).
    pub fn id(&self, row: usize) -> sfid::Id {
        self.ids.get(row).copied().unwrap_or(sfid::Id::EMPTY)
    }

    /// Sets one value of a row.
    pub fn set_value(&mut self, row: usize, col: usize, value: String) {
        self.generation += 1;
        if col == 0
            && let Some(id) = self.ids.get_mut(row)
        {
            *id = sfid::Id::new(&value);
        }
        if let Some(v) = self.rows.get_mut(row).and_then(|r| r.values.get_mut(col)) {
            *v = value;
        }
    }

    /// Replaces every row (setup objects rebuilt from runtime state).
    pub fn replace_rows(&mut self, rows: Vec<Vec<String>>) {
        self.generation += 1;
        self.rows.clear();
        self.index.clear();
        self.ids.clear();
        for values in rows {
            self.push(Row {
                values,
                deleted: false,
            });
        }
    }

    /// Row by 15- or 18-character Id (case-sensitive for 15).
    pub fn find(&self, id: &str) -> Option<usize> {
        match id.len() {
            18 => self.index.get(id).copied(),
            15 => self
                .index
                .range(id.to_owned()..)
                .next()
                .filter(|(k, _)| k.starts_with(id))
                .map(|(_, v)| *v),
            _ => None,
        }
    }

    /// A fresh Id for an inserted record.
    pub fn new_id(&mut self) -> String {
        let mut s = String::new();
        sfid::push_record_id(
            &mut s,
            self.id_base,
            &self.schema.key_prefix,
            self.next_index,
        );
        self.next_index += 1;
        s
    }

    /// Inserts a row (values column-aligned; Id and system fields filled here).
    pub fn insert(&mut self, mut values: Vec<String>, user_id: &str, now_ms: i64) -> String {
        values.resize(self.schema.columns.len(), String::new());
        let id = self.new_id();
        let ts = sf_datetime(now_ms);
        values[0] = id.clone();
        if matches!(self.schema.kind, TableKind::Data(_)) {
            values[1] = "false".into();
            values[2] = user_id.into();
            values[3] = ts.clone();
            values[4] = user_id.into();
            values[5] = ts.clone();
            values[6] = user_id.into();
            values[7] = ts;
        }
        self.push(Row {
            values,
            deleted: false,
        });
        id
    }

    /// Stamps LastModified*/SystemModstamp after an update.
    pub fn touch(&mut self, row: usize, user_id: &str, now_ms: i64) {
        self.generation += 1;
        if matches!(self.schema.kind, TableKind::Data(_)) {
            let ts = sf_datetime(now_ms);
            let v = &mut self.rows[row].values;
            v[5] = ts.clone();
            v[6] = user_id.into();
            v[7] = ts;
        }
    }

    pub fn soft_delete(&mut self, row: usize, user_id: &str, now_ms: i64) {
        self.generation += 1;
        self.rows[row].deleted = true;
        if matches!(self.schema.kind, TableKind::Data(_)) {
            self.rows[row].values[1] = "true".into();
        }
        self.touch(row, user_id, now_ms);
    }
}

/// Every table of the org.
#[derive(Debug, Clone)]
pub struct Store {
    pub tables: Vec<Table>,
    /// User Ids in fixture user order.
    pub user_ids: Vec<String>,
    /// Records already rendered as query JSON (filled by `query::Page`).
    pub render_cache: super::query::RenderCache,
}

impl Store {
    pub fn build(plan: &Plan<'_>) -> Store {
        let org: &Org = plan.org;
        let seed = plan.seed;
        let user_ids: Vec<String> = (0..org.users.len() as u64)
            .map(|i| sfid::record_id(seed.fork("users"), "005", i))
            .collect();
        // Records are owned by the org's human users, round-robin, like a book
        // of business split between advisors; the admin owns the rest.
        let owners: Vec<&str> = org
            .users
            .iter()
            .zip(&user_ids)
            .filter(|(u, _)| u.kind == UserKind::Human && u.active)
            .map(|(_, id)| id.as_str())
            .collect();
        let admin = org
            .users
            .iter()
            .position(|u| u.kind == UserKind::Admin)
            .map_or(user_ids.first().map_or("", String::as_str), |i| {
                user_ids[i].as_str()
            });
        let mut tables = Vec::new();
        let mut row = Vec::new();
        for (oi, o) in org.objects.iter().enumerate() {
            let schema = TableSchema::for_object(oi, o, parent_of(o));
            let count = plan.count(oi);
            let mut t = Table::new(schema, sfid::base(seed, &o.key_prefix), count);
            let ts_seed = seed.fork("timestamps").fork(&o.name);
            for i in 0..count {
                plan.fill_row(oi, i, &mut row);
                let h = ts_seed.fork_index(i).0;
                let created = CREATED_FROM_MS + (h % CREATED_SPAN_MS as u64) as i64;
                let modified = created + ((h >> 40) % (30 * 86_400_000)) as i64;
                let owner = if owners.is_empty() {
                    admin
                } else {
                    owners[(i % owners.len() as u64) as usize]
                };
                let mut values = Vec::with_capacity(DATA_COLUMNS_START + o.fields.len());
                values.push(row[0].clone());
                values.push("false".into());
                values.push(owner.into());
                values.push(sf_datetime(created));
                values.push(admin.into());
                values.push(sf_datetime(modified));
                values.push(admin.into());
                values.push(sf_datetime(modified));
                values.push(row[1].clone());
                values.push(row[2].clone());
                values.extend(row[3..].iter().cloned());
                t.push(Row {
                    values,
                    deleted: false,
                });
            }
            tables.push(t);
        }
        let mut users = Table::new(
            TableSchema::user(),
            sfid::base(seed.fork("users"), "005"),
            org.users.len() as u64,
        );
        for (u, id) in org.users.iter().zip(&user_ids) {
            let local = u.username.split('@').next().unwrap_or("");
            let _ = local;
            users.push(Row {
                values: vec![
                    id.clone(),
                    u.username.clone(),
                    u.username.clone(),
                    u.first_name.clone(),
                    u.last_name.clone(),
                    format!("{} {}", u.first_name, u.last_name)
                        .trim()
                        .to_owned(),
                    u.active.to_string(),
                    profile_id(org, &u.profile, seed),
                    "Standard".into(),
                    u.time_zone.clone(),
                    String::new(),
                ],
                deleted: false,
            });
        }
        tables.push(users);
        let org_id = sfid::org_id(&org.fixture);
        let mut orgs = Table::new(TableSchema::organization(), 0, 1);
        orgs.push(Row {
            values: vec![
                org_id,
                org.org_name.clone(),
                "false".into(),
                "USA224".into(),
                "Enterprise Edition".into(),
                String::new(),
                String::new(),
                "en_US".into(),
                org.time_zone.clone(),
            ],
            deleted: false,
        });
        tables.push(orgs);
        for schema in super::admin::schemas()
            .into_iter()
            .chain(super::eventlog::schemas())
        {
            tables.push(Table::new(schema, 0, 0));
        }
        Store {
            tables,
            user_ids,
            render_cache: Default::default(),
        }
    }

    /// The table of a built-in kind.
    pub fn table_of(&self, kind: TableKind) -> usize {
        self.tables
            .iter()
            .position(|t| t.schema.kind == kind)
            .unwrap_or(0)
    }

    /// Table index by object name (case-insensitive).
    pub fn table(&self, name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.schema.name.eq_ignore_ascii_case(name))
    }

    /// The table whose key prefix starts `id`.
    pub fn table_for_id(&self, id: &str) -> Option<usize> {
        let prefix = id.get(0..3)?;
        self.tables
            .iter()
            .position(|t| t.schema.key_prefix == prefix)
    }

    pub fn user_table(&self) -> usize {
        self.table_of(TableKind::User)
    }
}

/// The Id of a profile (`00e…`), stable per fixture and seed.
pub fn profile_id(org: &Org, name: &str, seed: Seed) -> String {
    let i = org
        .profiles
        .iter()
        .position(|p| p.name == name)
        .unwrap_or(0);
    sfid::record_id(seed.fork("profiles"), "00e", i as u64)
}
