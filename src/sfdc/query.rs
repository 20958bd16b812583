//! SOQL execution against the store, as the calling user: object access
//! (`INVALID_TYPE`), field-level security (`INVALID_FIELD`, the same error as
//! a field that does not exist), parent relationships, filtering with
//! Salesforce's comparison semantics, ordering, LIMIT/OFFSET, query cursors
//! (`nextRecordsUrl`) and record JSON.
//!
//! Owns: query resolution, evaluation and cursors. Must not: authenticate,
//! count API usage or emit telemetry (the REST layer does).

use std::cmp::Ordering;

use serde_json::Value;

use super::schema::{Column, TableKind};
use super::soql::{self, CmpOp, Cond, FieldsMacro, Literal, RelDate, SelectItem, caret_message};
use super::store::Store;
use super::{parse_datetime_ms, sf_datetime};
use crate::model::{Effective, FieldType, Org, Sharing, SystemPermission};

/// A resolved column: a path of (table, column) hops; all but the last are
/// lookups followed to their parent table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColPath {
    pub hops: Vec<(usize, usize)>,
    /// As written in the query (for JSON keys).
    pub names: Vec<String>,
    /// A Classic-encrypted field read without View Encrypted Data: its
    /// value is returned masked.
    pub masked: bool,
}

impl Access<'_> {
    /// Whether values of `c` are masked for this user.
    pub fn masks(&self, c: &Column) -> bool {
        c.ftype == FieldType::EncryptedString && !self.eff.has(SystemPermission::ViewEncryptedData)
    }
}

/// Salesforce's default mask for encrypted text: every letter and digit but
/// the last four replaced by `*`, separators kept (`***-**-7754`).
pub fn mask(v: &str) -> String {
    let total = v.chars().filter(char::is_ascii_alphanumeric).count();
    let mut seen = 0;
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                seen += 1;
                if seen + 4 <= total { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

/// Classes of the data fields a select list returns in clear (a masked
/// encrypted value exposes nothing).
pub fn read_classes(org: &Org, store: &Store, select: &[ColPath]) -> crate::model::ClassSet {
    select
        .iter()
        .filter(|p| !p.masked)
        .filter_map(|p| {
            let &(t, c) = p.hops.last()?;
            let table = store.tables.get(t)?;
            match (table.schema.kind, table.schema.columns.get(c)?.data_field) {
                (TableKind::Data(oi), Some(fi)) => Some(org.objects.get(oi)?.fields.get(fi)?.class),
                _ => None,
            }
        })
        .collect()
}

/// A query ready to page through.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub table: usize,
    pub rows: Vec<usize>,
    pub select: std::sync::Arc<[ColPath]>,
    pub next: usize,
    pub user: usize,
    pub version: u32,
    pub batch: usize,
}

/// The records of one query page (borrowed from its cursor): `render`
/// only reads the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page<'a> {
    pub table: usize,
    pub rows: &'a [usize],
    pub select: &'a [ColPath],
    pub version: u32,
}

impl Page<'_> {
    /// Appends the records and closes the envelope opened by the page's
    /// response. Rows are only ever appended or flagged deleted, so indices
    /// stay valid; one missing after a rollback is skipped. Records rendered
    /// before for the same select list, API version and table generations
    /// are copied from the store's [`RenderCache`].
    pub fn render(&self, store: &Store, out: &mut Vec<u8>) {
        let len = store.tables[self.table].rows.len();
        // Field keys are only needed for rows not cached yet.
        let keys = std::cell::OnceCell::new();
        let cached = store.render_cache.entry(store, self);
        let start = out.len();
        for (n, &r) in self.rows.iter().filter(|r| **r < len).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let write = |out: &mut Vec<u8>| {
                write_object(
                    out,
                    store,
                    self.table,
                    r,
                    self.select,
                    0,
                    self.version,
                    keys.get_or_init(|| Keys::new(self.select)),
                )
            };
            match cached.as_ref().and_then(|c| c.slot(r)) {
                Some(cell) => {
                    let bytes = cell.get_or_init(|| {
                        let mut one = Vec::new();
                        write(&mut one);
                        store.render_cache.charge(one.len());
                        one.into_boxed_slice()
                    });
                    out.extend_from_slice(bytes);
                }
                None => write(out),
            }
            if n == 0 {
                // Records of a page are alike in size: reserve for the rest
                // once instead of doubling through it.
                let each = out.len() - start;
                out.reserve(each.saturating_mul(self.rows.len()) / 8 * 9);
            }
        }
        out.extend_from_slice(b"]}");
    }

    /// The cache key: table, API version and every select path as resolved
    /// (hops, names as written, masking).
    fn signature(&self) -> String {
        // Numbers end in `,`/`;`, names in `\x01` (never in an identifier),
        // paths in `|`: no two select lists share a signature.
        let mut k = String::with_capacity(16 + self.select.len() * 32);
        let num = |k: &mut String, n: usize, end: char| {
            k.push_str(itoa::Buffer::new().format(n));
            k.push(end);
        };
        num(&mut k, self.table, ',');
        num(&mut k, self.version as usize, '|');
        for p in self.select {
            for &(t, c) in &p.hops {
                num(&mut k, t, ',');
                num(&mut k, c, ';');
            }
            for n in &p.names {
                k.push_str(n);
                k.push('\x01');
            }
            k.push(if p.masked { '1' } else { '0' });
            k.push('|');
        }
        k
    }
}

/// Most select signatures whose rendered records are kept.
const RENDER_CACHE_ENTRIES: usize = 32;
/// Most bytes of rendered records kept; past it the cache starts over.
const RENDER_CACHE_BYTES: usize = 128 * 1024 * 1024;

/// Query records already rendered as JSON, per select signature, one slot
/// per row filled on first use. An entry is valid for the generations of
/// every table its paths read (the queried table and parents), so any
/// insert, update or delete there makes the next page render afresh. The
/// cache changes no response byte (a test compares cached and fresh pages);
/// it makes repeated reads of the same records — list views, integrations
/// paging through the same objects — cost a copy.
#[derive(Default)]
pub struct RenderCache {
    entries: std::sync::Mutex<std::collections::BTreeMap<String, std::sync::Arc<Rendered>>>,
    bytes: std::sync::atomic::AtomicUsize,
}

/// Rows per lazily allocated chunk of [`Rendered`] slots.
const RENDER_CHUNK_ROWS: usize = 256;

type Slot = std::sync::OnceLock<Box<[u8]>>;

/// One signature's rendered records: a slot per row, allocated by chunks
/// of [`RENDER_CHUNK_ROWS`] on first use (a query over a few rows of a big
/// table costs a few chunks, not a slot per row).
pub struct Rendered {
    generations: Vec<(usize, u64)>,
    chunks: Vec<std::sync::OnceLock<Box<[Slot]>>>,
}

impl Rendered {
    fn slot(&self, row: usize) -> Option<&Slot> {
        let chunk = self.chunks.get(row / RENDER_CHUNK_ROWS)?.get_or_init(|| {
            (0..RENDER_CHUNK_ROWS)
                .map(|_| Slot::new())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        chunk.get(row % RENDER_CHUNK_ROWS)
    }
}

impl Clone for RenderCache {
    /// A cloned store starts with an empty cache.
    fn clone(&self) -> RenderCache {
        RenderCache::default()
    }
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field(
                "bytes",
                &self.bytes.load(std::sync::atomic::Ordering::Relaxed),
            )
            .finish()
    }
}

impl RenderCache {
    /// The entry for `page`, made or remade if a table it reads changed;
    /// `None` when the cache is over its limits (the page renders afresh).
    fn entry(&self, store: &Store, page: &Page<'_>) -> Option<std::sync::Arc<Rendered>> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut tables: Vec<usize> = page
            .select
            .iter()
            .flat_map(|p| p.hops.iter().map(|h| h.0))
            .chain([page.table])
            .collect();
        tables.sort_unstable();
        tables.dedup();
        let generations: Vec<(usize, u64)> = tables
            .into_iter()
            .map(|t| (t, store.tables[t].generation()))
            .collect();
        let key = page.signature();
        let mut entries = self.entries.lock().ok()?;
        if self.bytes.load(Relaxed) > RENDER_CACHE_BYTES {
            entries.clear();
            self.bytes.store(0, Relaxed);
        }
        if let Some(e) = entries.get(&key)
            && e.generations == generations
        {
            return Some(e.clone());
        }
        if !entries.contains_key(&key) && entries.len() >= RENDER_CACHE_ENTRIES {
            entries.clear();
            self.bytes.store(0, Relaxed);
        }
        let rows = store.tables[page.table].rows.len();
        let fresh = std::sync::Arc::new(Rendered {
            generations,
            chunks: (0..rows.div_ceil(RENDER_CHUNK_ROWS))
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        });
        entries.insert(key, fresh.clone());
        Some(fresh)
    }

    fn charge(&self, n: usize) {
        self.bytes
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A query error in Salesforce's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    fn at(code: &'static str, soql: &str, pos: usize, detail: &str) -> QueryError {
        QueryError {
            status: 400,
            code,
            message: caret_message(soql, pos, detail),
        }
    }
}

/// The result of running a query: rows matched (before paging) and how to
/// render them.
#[derive(Debug, Clone)]
pub struct Executed {
    pub table: usize,
    pub rows: Vec<usize>,
    pub select: std::sync::Arc<[ColPath]>,
    pub count_only: bool,
    pub entity: String,
}

/// Who may read what, for one user.
pub struct Access<'a> {
    pub org: &'a Org,
    pub eff: &'a Effective,
}

impl Access<'_> {
    pub fn can_read_table(&self, store: &Store, t: usize) -> bool {
        match store.tables[t].schema.kind {
            TableKind::Data(oi) => self.eff.object(&self.org.objects[oi].name).read,
            TableKind::User | TableKind::Organization => true,
            TableKind::UserLogin | TableKind::AuthSession | TableKind::OauthToken => {
                self.eff.has(SystemPermission::ManageUsers)
            }
            TableKind::ConnectedApplication => {
                self.eff.has(SystemPermission::ManageUsers)
                    || self.eff.has(SystemPermission::ViewSetup)
            }
            TableKind::PermissionSet | TableKind::PermissionSetAssignment => {
                self.eff.has(SystemPermission::ManageUsers)
                    || self.eff.has(SystemPermission::ViewSetup)
            }
            k => super::eventlog::can_read(k, self.eff),
        }
    }

    /// (read, edit) for a column.
    pub fn column(&self, store: &Store, t: usize, c: &Column) -> (bool, bool) {
        match (store.tables[t].schema.kind, c.data_field) {
            (TableKind::Data(oi), Some(fi)) => {
                let o = &self.org.objects[oi];
                let fp = self.eff.field(o, &o.fields[fi]);
                (fp.read, fp.edit)
            }
            (TableKind::Data(oi), None) => {
                (self.eff.object(&self.org.objects[oi].name).read, false)
            }
            (kind, _) => {
                let manage = self.eff.has(SystemPermission::ManageUsers);
                let editable = match kind {
                    TableKind::User => c.name == "IsActive",
                    TableKind::UserLogin => c.name == "IsFrozen",
                    TableKind::PermissionSetAssignment => c.name != "Id",
                    _ => false,
                };
                (true, manage && editable)
            }
        }
    }

    pub fn object_perms(&self, store: &Store, t: usize) -> (bool, bool, bool) {
        match store.tables[t].schema.kind {
            TableKind::Data(oi) => {
                let p = self.eff.object(&self.org.objects[oi].name);
                (p.create, p.edit, p.delete)
            }
            kind => {
                let m = self.eff.has(SystemPermission::ManageUsers);
                match kind {
                    TableKind::User | TableKind::UserLogin => (false, m, false),
                    TableKind::AuthSession | TableKind::OauthToken => (false, false, m),
                    TableKind::PermissionSetAssignment => (m, false, m),
                    _ => (false, false, false),
                }
            }
        }
    }
}

fn invalid_type(soql: &str, pos: usize, name: &str) -> QueryError {
    QueryError::at(
        "INVALID_TYPE",
        soql,
        pos,
        &format!(
            "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

fn invalid_field(soql: &str, pos: usize, name: &str, entity: &str) -> QueryError {
    QueryError::at(
        "INVALID_FIELD",
        soql,
        pos,
        &format!(
            "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

/// Resolves `path` (as written) starting at table `t`.
fn resolve(
    store: &Store,
    acc: &Access<'_>,
    soql: &str,
    t: usize,
    f: &soql::FieldRef,
) -> Result<ColPath, QueryError> {
    let mut hops = Vec::new();
    let mut cur = t;
    for (k, seg) in f.path.iter().enumerate() {
        let schema = &store.tables[cur].schema;
        let last = k + 1 == f.path.len();
        if last {
            // A field hidden by FLS is indistinguishable from a missing one.
            let visible = schema
                .column(seg)
                .filter(|ci| acc.column(store, cur, &schema.columns[*ci]).0);
            let Some(ci) = visible else {
                return Err(invalid_field(
                    soql,
                    f.pos,
                    &f.dotted(),
                    &store.tables[t].schema.name,
                ));
            };
            hops.push((cur, ci));
        } else {
            let Some(ci) = schema.relationship(seg) else {
                return Err(QueryError::at(
                    "INVALID_FIELD",
                    soql,
                    f.pos,
                    &format!(
                        "Didn't understand relationship '{seg}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                ));
            };
            let col = &schema.columns[ci];
            let target = col.reference_to.as_deref().and_then(|n| store.table(n));
            let Some(target) =
                target.filter(|tt| acc.column(store, cur, col).0 && acc.can_read_table(store, *tt))
            else {
                return Err(invalid_field(
                    soql,
                    f.pos,
                    &f.dotted(),
                    &store.tables[t].schema.name,
                ));
            };
            hops.push((cur, ci));
            cur = target;
        }
    }
    let (lt, lc) = *hops.last().unwrap_or(&(t, 0));
    let masked = acc.masks(&store.tables[lt].schema.columns[lc]);
    Ok(ColPath {
        hops,
        masked,
        names: f
            .path
            .iter()
            .enumerate()
            .map(|(k, s)| canonical(store, &f.path, k, s, t))
            .collect(),
    })
}

/// The name as Salesforce spells it in results (canonical case).
fn canonical(store: &Store, path: &[String], k: usize, seg: &str, t: usize) -> String {
    let mut cur = t;
    for (i, s) in path.iter().enumerate() {
        let schema = &store.tables[cur].schema;
        if i == k {
            return if i + 1 == path.len() {
                schema
                    .column(s)
                    .map_or(seg.to_owned(), |c| schema.columns[c].name.clone())
            } else {
                schema
                    .relationship(s)
                    .and_then(|c| schema.columns[c].relationship_name.clone())
                    .unwrap_or_else(|| seg.to_owned())
            };
        }
        let Some(ci) = schema.relationship(s) else {
            break;
        };
        match schema.columns[ci]
            .reference_to
            .as_deref()
            .and_then(|n| store.table(n))
        {
            Some(n) => cur = n,
            None => break,
        }
    }
    seg.to_owned()
}

/// The value at `path` for row `r` of the base table ("" = null).
fn value_at<'s>(store: &'s Store, path: &ColPath, mut r: usize) -> &'s str {
    for (k, (t, c)) in path.hops.iter().enumerate() {
        let v = store.tables[*t].rows[r].values[*c].as_str();
        if k + 1 == path.hops.len() {
            return v;
        }
        let next_t = path.hops[k + 1].0;
        match store.tables[next_t].find(v) {
            Some(nr) => r = nr,
            None => return "",
        }
    }
    ""
}

fn column_of<'s>(store: &'s Store, path: &ColPath) -> &'s Column {
    let (t, c) = *path.hops.last().unwrap_or(&(0, 0));
    &store.tables[t].schema.columns[c]
}

/// Record-level sharing: whether `user_id` may see (or, with `write`,
/// change) row `r` of table `t`, given the object's organization-wide
/// default, ownership, and View All / Modify All (object or View/Modify All
/// Data).
pub fn row_visible(
    store: &Store,
    acc: &Access<'_>,
    t: usize,
    r: usize,
    user_id: &str,
    write: bool,
) -> bool {
    Visibility::of(store, acc, t, user_id, write).allows(&store.tables[t].rows[r])
}

/// [`row_visible`] decided once per table: every row, or only the user's own.
enum Visibility<'u> {
    All,
    Owned(&'u str),
}

impl<'u> Visibility<'u> {
    fn of(store: &Store, acc: &Access<'_>, t: usize, user_id: &'u str, write: bool) -> Self {
        let TableKind::Data(oi) = store.tables[t].schema.kind else {
            return Visibility::All;
        };
        let o = &acc.org.objects[oi];
        let p = acc.eff.object(&o.name);
        let all = match o.sharing {
            Sharing::PublicReadWrite => true,
            Sharing::PublicRead => !write || p.modify_all,
            Sharing::Private => {
                if write {
                    p.modify_all
                } else {
                    p.view_all
                }
            }
        };
        if all {
            Visibility::All
        } else {
            Visibility::Owned(user_id)
        }
    }

    fn allows(&self, row: &super::store::Row) -> bool {
        match self {
            Visibility::All => true,
            // Column 2 is OwnerId in every data table.
            Visibility::Owned(u) => row.values[2] == *u,
        }
    }
}

/// A query's object and select list, resolved for one user's access:
/// a pure function of the schema, the fixture's objects, the user's
/// effective permissions and the query, so it can be kept per query text
/// and permissions (`OrgState::parse_query`'s cache).
#[derive(Debug, Clone)]
pub struct Selected {
    pub table: usize,
    pub select: std::sync::Arc<[ColPath]>,
}

/// Resolves the object (`INVALID_TYPE` when unreadable) and select list
/// (`INVALID_FIELD` for a hidden or missing field) of `q`.
pub fn select(
    store: &Store,
    acc: &Access<'_>,
    soql_text: &str,
    q: &soql::Query,
) -> Result<Selected, QueryError> {
    let Some(t) = store
        .table(&q.object)
        .filter(|t| acc.can_read_table(store, *t))
    else {
        return Err(invalid_type(soql_text, q.object_pos, &q.object));
    };
    let schema = &store.tables[t].schema;
    let mut select = Vec::with_capacity(q.select.len());
    for item in &q.select {
        match item {
            SelectItem::Field(f) => select.push(resolve(store, acc, soql_text, t, f)?),
            SelectItem::Fields(m, pos) => {
                if *m != FieldsMacro::Standard && q.limit.is_none_or(|l| l > 200) {
                    return Err(QueryError::at(
                        "MALFORMED_QUERY",
                        soql_text,
                        *pos,
                        "The SOQL FIELDS function must have a LIMIT of at most 200",
                    ));
                }
                for (ci, c) in schema.columns.iter().enumerate() {
                    let want = match m {
                        FieldsMacro::All => true,
                        FieldsMacro::Standard => !c.custom,
                        FieldsMacro::Custom => c.custom,
                    };
                    if want && acc.column(store, t, c).0 {
                        select.push(ColPath {
                            hops: vec![(t, ci)],
                            names: vec![c.name.clone()],
                            masked: acc.masks(c),
                        });
                    }
                }
            }
        }
    }
    Ok(Selected {
        table: t,
        select: select.into(),
    })
}

/// Runs a parsed query for a user, its object and select list resolved by
/// [`select`] for the same access. `now_ms` anchors relative date literals.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    store: &Store,
    acc: &Access<'_>,
    soql_text: &str,
    q: &soql::Query,
    sel: Selected,
    now_ms: i64,
    include_deleted: bool,
    user_id: &str,
) -> Result<Executed, QueryError> {
    let Selected { table: t, select } = sel;
    let filter = match &q.filter {
        Some(c) => Some(compile(store, acc, soql_text, t, c, now_ms)?),
        None => None,
    };
    let mut order = Vec::new();
    for o in &q.order_by {
        let path = resolve(store, acc, soql_text, t, &o.field)?;
        not_encrypted(store, soql_text, &o.field, &path, "sorted")?;
        order.push((path, o.desc, o.nulls_first.unwrap_or(!o.desc)));
    }
    let table = &store.tables[t];
    let offset = q.offset.unwrap_or(0) as usize;
    let limit = q.limit.map_or(usize::MAX, |l| l as usize);
    // Unordered queries stop at the last row they return; ordered ones must
    // see every match first.
    let wanted = if order.is_empty() {
        offset.saturating_add(limit)
    } else {
        usize::MAX
    };
    let visible = Visibility::of(store, acc, t, user_id, false);
    let mut rows: Vec<usize> = Vec::with_capacity(wanted.min(table.rows.len()).min(4096));
    for (r, row) in table.rows.iter().enumerate() {
        if rows.len() >= wanted {
            break;
        }
        if (include_deleted || q.all_rows || !row.deleted)
            && visible.allows(row)
            && filter.as_ref().is_none_or(|f| eval(store, f, r))
        {
            rows.push(r);
        }
    }
    if !order.is_empty() {
        // Sort keys computed once per row (dates parsed, text folded), not
        // once per comparison.
        let mut keyed: Vec<(Vec<SortKey>, usize)> = rows
            .iter()
            .map(|&r| {
                let keys = order
                    .iter()
                    .map(|(p, _, _)| SortKey::of(column_of(store, p), value_at(store, p, r)))
                    .collect();
                (keys, r)
            })
            .collect();
        let cmp = |(ka, ra): &(Vec<SortKey>, usize), (kb, rb): &(Vec<SortKey>, usize)| {
            for (i, (_, desc, nulls_first)) in order.iter().enumerate() {
                let ord = match (&ka[i], &kb[i]) {
                    (SortKey::Null, SortKey::Null) => Ordering::Equal,
                    (SortKey::Null, _) => {
                        if *nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (_, SortKey::Null) => {
                        if *nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (a, b) => {
                        let o = a.cmp_value(b);
                        if *desc { o.reverse() } else { o }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            // Ties keep storage order, so the result is deterministic.
            ra.cmp(rb)
        };
        // With a LIMIT, only the first OFFSET+LIMIT rows need sorting.
        let want = offset.saturating_add(limit);
        if want < keyed.len() {
            if want == 0 {
                keyed.clear();
            } else {
                keyed.select_nth_unstable_by(want - 1, cmp);
                keyed.truncate(want);
            }
        }
        keyed.sort_unstable_by(cmp);
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let rows: Vec<usize> = rows.into_iter().skip(offset).take(limit).collect();
    Ok(Executed {
        table: t,
        rows,
        select,
        count_only: q.count_only,
        entity: store.tables[t].schema.name.clone(),
    })
}

/// A value as ORDER BY compares it.
enum SortKey {
    Null,
    Num(f64),
    Time(i64),
    Exact(String),
    Folded(String),
}

impl SortKey {
    fn of(col: &Column, v: &str) -> SortKey {
        if v.is_empty() {
            return SortKey::Null;
        }
        if col.is_numeric() {
            return SortKey::Num(v.parse::<f64>().unwrap_or(0.0));
        }
        match col.ftype {
            FieldType::Date | FieldType::Datetime => {
                SortKey::Time(parse_datetime_ms(v).unwrap_or(0))
            }
            FieldType::Id | FieldType::Reference => SortKey::Exact(v.to_owned()),
            _ => SortKey::Folded(v.to_lowercase()),
        }
    }

    fn cmp_value(&self, o: &SortKey) -> Ordering {
        match (self, o) {
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Time(a), SortKey::Time(b)) => a.cmp(b),
            (SortKey::Exact(a), SortKey::Exact(b)) | (SortKey::Folded(a), SortKey::Folded(b)) => {
                a.cmp(b)
            }
            _ => Ordering::Equal,
        }
    }
}

/// A condition with columns resolved and literals typed.
enum Compiled {
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
    Not(Box<Compiled>),
    Cmp {
        path: ColPath,
        op: CmpOp,
        value: Value2,
    },
    In {
        path: ColPath,
        negated: bool,
        values: Vec<Value2>,
    },
}

/// A literal converted to the column's domain.
#[derive(Debug, Clone)]
enum Value2 {
    Null,
    Num(f64),
    /// [start, end) in ms for dates and date ranges.
    Time(i64, i64),
    Text(String),
    Bool(bool),
    Like(String),
}

fn day_floor(ms: i64) -> i64 {
    ms.div_euclid(86_400_000) * 86_400_000
}

fn rel_range(r: RelDate, now_ms: i64) -> (i64, i64) {
    const DAY: i64 = 86_400_000;
    let today = day_floor(now_ms);
    let days = today / DAY;
    // 1970-01-01 was a Thursday; Salesforce weeks start on Sunday (en_US).
    let weekday_from_sunday = (days + 4).rem_euclid(7);
    let week_start = today - weekday_from_sunday * DAY;
    let (y, m, _) = crate::pii::civil_from_days(days);
    let month_start = super::days_from_civil(y, m, 1) * DAY;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let next_month = super::days_from_civil(ny, nm, 1) * DAY;
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let prev_month = super::days_from_civil(py, pm, 1) * DAY;
    let year_start = super::days_from_civil(y, 1, 1) * DAY;
    let next_year = super::days_from_civil(y + 1, 1, 1) * DAY;
    let prev_year = super::days_from_civil(y - 1, 1, 1) * DAY;
    match r {
        RelDate::Today => (today, today + DAY),
        RelDate::Yesterday => (today - DAY, today),
        RelDate::Tomorrow => (today + DAY, today + 2 * DAY),
        // LAST_N_DAYS:n includes today and the n-1 days before... Salesforce:
        // "starting 12:00:00 AM n days ago through the current second".
        RelDate::LastNDays(n) => (today - i64::from(n) * DAY, now_ms + 1),
        RelDate::NextNDays(n) => (today + DAY, today + (i64::from(n) + 1) * DAY),
        RelDate::NDaysAgo(n) => (today - i64::from(n) * DAY, today - (i64::from(n) - 1) * DAY),
        RelDate::ThisWeek => (week_start, week_start + 7 * DAY),
        RelDate::LastWeek => (week_start - 7 * DAY, week_start),
        RelDate::ThisMonth => (month_start, next_month),
        RelDate::LastMonth => (prev_month, month_start),
        RelDate::ThisYear => (year_start, next_year),
        RelDate::LastYear => (prev_year, year_start),
    }
}

fn literal_for(col: &Column, lit: &Literal, op: CmpOp, now_ms: i64) -> Result<Value2, String> {
    Ok(match (lit, col.ftype) {
        (Literal::Null, _) => Value2::Null,
        (_, _) if op == CmpOp::Like => match lit {
            Literal::Str(s) => Value2::Like(s.to_lowercase()),
            _ => return Err("LIKE needs a string value".into()),
        },
        (Literal::Bool(b), FieldType::Boolean) => Value2::Bool(*b),
        (Literal::Num(n), t) if col.is_numeric() || t == FieldType::String => {
            if col.is_numeric() {
                Value2::Num(*n)
            } else {
                Value2::Text(n.to_string())
            }
        }
        (Literal::DateTime(d), FieldType::Date | FieldType::Datetime) => {
            let ms = parse_datetime_ms(d).ok_or_else(|| format!("invalid date: {d}"))?;
            if d.len() == 10 {
                Value2::Time(ms, ms + 86_400_000)
            } else {
                Value2::Time(ms, ms + 1)
            }
        }
        (Literal::Rel(r), FieldType::Date | FieldType::Datetime) => {
            let (a, b) = rel_range(*r, now_ms);
            Value2::Time(a, b)
        }
        (Literal::Str(s), t)
            if !matches!(
                t,
                FieldType::Boolean | FieldType::Date | FieldType::Datetime
            ) && !col.is_numeric() =>
        {
            Value2::Text(s.clone())
        }
        (_, t) => {
            return Err(format!(
                "value of filter criterion for field '{}' must be of type {} and should not be enclosed in quotes",
                col.name,
                match t {
                    FieldType::Boolean => "boolean",
                    FieldType::Date => "date",
                    FieldType::Datetime => "dateTime",
                    _ if col.is_numeric() => "double",
                    _ => "string",
                }
            ));
        }
    })
}

/// Encrypted fields cannot be filtered or sorted (Salesforce's rule).
fn not_encrypted(
    store: &Store,
    soql: &str,
    f: &soql::FieldRef,
    path: &ColPath,
    what: &str,
) -> Result<(), QueryError> {
    if column_of(store, path).ftype == FieldType::EncryptedString {
        return Err(QueryError::at(
            "INVALID_FIELD",
            soql,
            f.pos,
            &format!("field '{}' can not be {what} in a query call", f.dotted()),
        ));
    }
    Ok(())
}

fn compile(
    store: &Store,
    acc: &Access<'_>,
    soql_text: &str,
    t: usize,
    c: &Cond,
    now_ms: i64,
) -> Result<Compiled, QueryError> {
    Ok(match c {
        Cond::And(a, b) => Compiled::And(
            Box::new(compile(store, acc, soql_text, t, a, now_ms)?),
            Box::new(compile(store, acc, soql_text, t, b, now_ms)?),
        ),
        Cond::Or(a, b) => Compiled::Or(
            Box::new(compile(store, acc, soql_text, t, a, now_ms)?),
            Box::new(compile(store, acc, soql_text, t, b, now_ms)?),
        ),
        Cond::Not(a) => Compiled::Not(Box::new(compile(store, acc, soql_text, t, a, now_ms)?)),
        Cond::Cmp {
            field,
            op,
            value,
            value_pos,
        } => {
            let path = resolve(store, acc, soql_text, t, field)?;
            not_encrypted(store, soql_text, field, &path, "filtered")?;
            let col = column_of(store, &path);
            if matches!(value, Literal::Null) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(QueryError::at(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    soql_text,
                    *value_pos,
                    "invalid operator on null",
                ));
            }
            let v = literal_for(col, value, *op, now_ms).map_err(|m| {
                QueryError::at("INVALID_QUERY_FILTER_OPERATOR", soql_text, *value_pos, &m)
            })?;
            Compiled::Cmp {
                path,
                op: *op,
                value: v,
            }
        }
        Cond::In {
            field,
            negated,
            values,
        } => {
            let path = resolve(store, acc, soql_text, t, field)?;
            not_encrypted(store, soql_text, field, &path, "filtered")?;
            let col = column_of(store, &path).clone();
            let mut vs = Vec::with_capacity(values.len());
            for v in values {
                vs.push(literal_for(&col, v, CmpOp::Eq, now_ms).map_err(|m| {
                    QueryError::at("INVALID_QUERY_FILTER_OPERATOR", soql_text, field.pos, &m)
                })?);
            }
            Compiled::In {
                path,
                negated: *negated,
                values: vs,
            }
        }
    })
}

fn like(pattern: &str, text: &str) -> bool {
    // Pattern is lower-cased; `%` any run, `_` one char, `\%` `\_` literal.
    let p: Vec<(char, bool)> = {
        let mut v = Vec::new();
        let mut it = pattern.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\\' && matches!(it.peek(), Some('%' | '_')) {
                v.push((it.next().unwrap_or('%'), true));
            } else {
                v.push((c, false));
            }
        }
        v
    };
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Iterative wildcard match with backtracking on the last `%`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && !p[pi].1 && p[pi].0 == '%' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if pi < p.len() && ((!p[pi].1 && p[pi].0 == '_') || p[pi].0 == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && !p[pi].1 && p[pi].0 == '%' {
        pi += 1;
    }
    pi == p.len()
}

fn matches_value(col: &Column, v: &str, op: CmpOp, lit: &Value2) -> bool {
    if let Value2::Null = lit {
        return match op {
            CmpOp::Eq => v.is_empty(),
            CmpOp::Ne => !v.is_empty(),
            _ => false,
        };
    }
    if v.is_empty() {
        return op == CmpOp::Ne;
    }
    let ord = match lit {
        Value2::Like(p) => return like(p, v),
        Value2::Num(n) => match v.parse::<f64>() {
            Ok(x) => x.total_cmp(n),
            Err(_) => return false,
        },
        Value2::Bool(b) => (v == "true").cmp(b),
        Value2::Text(s) => {
            if matches!(col.ftype, FieldType::Id | FieldType::Reference)
                && (s.len() == 15 || s.len() == 18)
            {
                // Ids compare on their 15 case-sensitive characters.
                v.get(..15).unwrap_or(v).cmp(s.get(..15).unwrap_or(s))
            } else {
                v.to_lowercase().cmp(&s.to_lowercase())
            }
        }
        Value2::Time(a, b) => {
            let Some(x) = parse_datetime_ms(v) else {
                return false;
            };
            return match op {
                CmpOp::Eq => x >= *a && x < *b,
                CmpOp::Ne => !(x >= *a && x < *b),
                CmpOp::Lt => x < *a,
                CmpOp::Le => x < *b,
                CmpOp::Gt => x >= *b,
                CmpOp::Ge => x >= *a,
                CmpOp::Like => false,
            };
        }
        Value2::Null => Ordering::Equal,
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        CmpOp::Like => false,
    }
}

fn eval(store: &Store, c: &Compiled, r: usize) -> bool {
    match c {
        Compiled::And(a, b) => eval(store, a, r) && eval(store, b, r),
        Compiled::Or(a, b) => eval(store, a, r) || eval(store, b, r),
        Compiled::Not(a) => !eval(store, a, r),
        Compiled::Cmp { path, op, value } => {
            matches_value(column_of(store, path), value_at(store, path, r), *op, value)
        }
        Compiled::In {
            path,
            negated,
            values,
        } => {
            let col = column_of(store, path);
            let v = value_at(store, path, r);
            let hit = values
                .iter()
                .any(|lit| matches_value(col, v, CmpOp::Eq, lit));
            hit != *negated
        }
    }
}

/// Typed JSON for a stored value.
pub fn json_value(col: &Column, v: &str) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    match col.ftype {
        FieldType::Boolean => Value::Bool(v == "true"),
        FieldType::Int => v.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
        FieldType::Currency | FieldType::Double => {
            v.parse::<f64>().map(Value::from).unwrap_or(Value::Null)
        }
        FieldType::Datetime => {
            Value::String(parse_datetime_ms(v).map_or_else(|| v.to_owned(), sf_datetime))
        }
        _ => Value::String(v.to_owned()),
    }
}

/// One record as a JSON value (key order not preserved; use
/// [`write_record`] for wire output).
pub fn record_json(store: &Store, t: usize, r: usize, select: &[ColPath], v: u32) -> Value {
    let mut out = Vec::new();
    write_record(&mut out, store, t, r, select, v);
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

/// Whether any byte of the word is a control, `"` or `\\` (exact for the
/// word as a whole; the classic has-less / has-zero bit tricks).
fn word_needs_escape(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let q = w ^ (LO * u64::from(b'"'));
    let quote = q.wrapping_sub(LO) & !q & HI;
    let b = w ^ (LO * u64::from(b'\\'));
    let backslash = b.wrapping_sub(LO) & !b & HI;
    (below_space | quote | backslash) != 0
}

/// Whether `b` has a byte JSON must escape: eight bytes at a time, the
/// last word overlapping the one before (no copy, no call); short strings
/// byte by byte.
fn needs_escape(b: &[u8]) -> bool {
    let word = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        word_needs_escape(u64::from_le_bytes(a))
    };
    if b.len() < 8 {
        return b.iter().any(|&x| x < 0x20 || x == b'"' || x == b'\\');
    }
    let mut i = 0;
    while i + 8 <= b.len() {
        if word(i) {
            return true;
        }
        i += 8;
    }
    i < b.len() && word(b.len() - 8)
}

pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Most values (Ids, names, numbers as text) need no escaping: copy them.
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A stored value as typed JSON (`null` for empty).
pub fn write_json_value(out: &mut Vec<u8>, col: &Column, v: &str) {
    if v.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    match col.ftype {
        FieldType::Boolean => out.extend_from_slice(if v == "true" { b"true" } else { b"false" }),
        FieldType::Int => match v.parse::<i64>() {
            Ok(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Err(_) => out.extend_from_slice(b"null"),
        },
        FieldType::Currency | FieldType::Double => match v.parse::<f64>() {
            Ok(x) if x.is_finite() => {
                let _ = serde_json::to_writer(&mut *out, &x);
            }
            _ => out.extend_from_slice(b"null"),
        },
        FieldType::Datetime => match parse_datetime_ms(v) {
            Some(ms) => write_json_str(out, &sf_datetime(ms)),
            None => write_json_str(out, v),
        },
        _ => write_json_str(out, v),
    }
}

fn write_attributes(out: &mut Vec<u8>, store: &Store, t: usize, id: &str, v: u32) {
    // Object names and Ids are plain ASCII: no escaping needed.
    let name = store.tables[t].schema.name.as_bytes();
    out.extend_from_slice(b"{\"attributes\":{\"type\":\"");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\",\"url\":\"/services/data/v");
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.extend_from_slice(b".0/sobjects/");
    out.extend_from_slice(name);
    out.push(b'/');
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// Writes one record as the query API returns it: keys in SELECT order,
/// parent relationships nested with their own `attributes`, typed values.
pub fn write_record(
    out: &mut Vec<u8>,
    store: &Store,
    t: usize,
    r: usize,
    select: &[ColPath],
    v: u32,
) {
    write_object(out, store, t, r, select, 0, v, &Keys::new(select));
}

/// The `,"Name":` bytes of each top-level path, escaped once per page
/// rather than once per record.
struct Keys(Vec<Vec<u8>>);

impl Keys {
    fn new(select: &[ColPath]) -> Keys {
        Keys(
            select
                .iter()
                .map(|p| {
                    let mut k = vec![b','];
                    write_json_str(&mut k, p.names.first().map_or("", String::as_str));
                    k.push(b':');
                    k
                })
                .collect(),
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn write_object<P: std::borrow::Borrow<ColPath>>(
    out: &mut Vec<u8>,
    store: &Store,
    t: usize,
    r: usize,
    paths: &[P],
    depth: usize,
    v: u32,
    keys: &Keys,
) {
    let row = &store.tables[t].rows[r];
    write_attributes(out, store, t, &row.values[0], v);
    let mut done_rels: Vec<&str> = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let p: &ColPath = p.borrow();
        let (pt, c) = p.hops[depth];
        debug_assert_eq!(pt, t);
        let name = p.names[depth].as_str();
        let key = |out: &mut Vec<u8>| match keys.0.get(i) {
            Some(k) if depth == 0 => out.extend_from_slice(k),
            _ => {
                out.push(b',');
                write_json_str(out, name);
                out.push(b':');
            }
        };
        if p.hops.len() == depth + 1 {
            key(out);
            let col = &store.tables[t].schema.columns[c];
            if p.masked && !row.values[c].is_empty() {
                write_json_str(out, &mask(&row.values[c]));
            } else {
                write_json_value(out, col, &row.values[c]);
            }
            continue;
        }
        if done_rels.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            continue;
        }
        done_rels.push(name);
        key(out);
        let next_t = p.hops[depth + 1].0;
        match store.tables[next_t].find(&row.values[c]) {
            None => out.extend_from_slice(b"null"),
            Some(nr) => {
                let children: Vec<&ColPath> = paths
                    .iter()
                    .map(|q| q.borrow())
                    .filter(|q| {
                        q.hops.len() > depth + 1 && q.names[depth].eq_ignore_ascii_case(name)
                    })
                    .collect();
                write_object(out, store, next_t, nr, &children, depth + 1, v, keys);
            }
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::{like, needs_escape};

    #[test]
    fn escape_scan_agrees_with_serde() {
        // Every byte value at every position of strings up to 17 bytes.
        for len in 1..=17usize {
            for pos in 0..len {
                for x in 0..=0x7fu8 {
                    let mut v = vec![b'a'; len];
                    v[pos] = x;
                    let s = std::str::from_utf8(&v).expect("ascii");
                    let plain = serde_json::to_string(s).expect("json") == format!("\"{s}\"");
                    assert_eq!(needs_escape(&v), !plain, "{v:?}");
                }
            }
        }
        assert!(!needs_escape("Zoë Müller-Łukasz".as_bytes()));
        assert!(!needs_escape(b""));
    }

    #[test]
    fn like_patterns() {
        assert!(like("a%", "Avery"));
        assert!(like("%ver%", "Avery"));
        assert!(like("_very", "avery"));
        assert!(!like("a_", "avery"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("%", ""));
    }
}
