//! `leakdrill org generate`: streams a fixture's synthetic records to one CSV
//! per object (Bulk API 2.0 result style: API-name header, every value
//! quoted) plus `manifest.json`, with bounded memory (a few chunks in flight)
//! and all cores busy. Same fixture, records and seed → byte-identical files.
//!
//! Owns: file writing for generated orgs and the manifest. Must not: decide
//! values (that is `pii::Plan`) or read the clock.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::Classification;
use crate::pii::Plan;

/// Records per chunk handed to a worker.
pub const CHUNK_RECORDS: u64 = 8192;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot write {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error(
        "{} already holds {} that this generation would not replace\n  = hint: use an empty or new directory, so stale files from another fixture cannot be mistaken for this org",
        dir.display(), found
    )]
    NotEmpty { dir: PathBuf, found: String },
}

impl GenerateError {
    /// Whether the user can fix this by choosing another `--out`.
    pub fn is_usage(&self) -> bool {
        match self {
            GenerateError::Io { cause, .. } => matches!(
                cause.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::AlreadyExists
                    | std::io::ErrorKind::ReadOnlyFilesystem
            ),
            _ => true,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |cause| GenerateError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// Refuses an `--out` that is a file, or a directory with files this
/// generation would not overwrite.
fn check_out_dir(plan: &Plan<'_>, out_dir: &Path) -> Result<(), GenerateError> {
    if !out_dir.exists() {
        return Ok(());
    }
    if !out_dir.is_dir() {
        return Err(GenerateError::NotADirectory {
            path: out_dir.to_owned(),
        });
    }
    let ours: Vec<String> = plan
        .org
        .objects
        .iter()
        .map(|o| format!("{}.csv", o.name))
        .chain(std::iter::once("manifest.json".to_owned()))
        .collect();
    let mut foreign: Vec<String> = std::fs::read_dir(out_dir)
        .map_err(io(out_dir))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ours.contains(n))
        .collect();
    foreign.sort();
    match foreign.first() {
        None => Ok(()),
        Some(f) => Err(GenerateError::NotEmpty {
            dir: out_dir.to_owned(),
            found: if foreign.len() == 1 {
                format!("`{f}`")
            } else {
                format!("`{f}` and {} other file(s)", foreign.len() - 1)
            },
        }),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ManifestField {
    pub name: String,
    #[serde(rename = "type")]
    pub ftype: &'static str,
    pub class: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ManifestObject {
    pub name: String,
    pub key_prefix: String,
    pub file: String,
    pub records: u64,
    pub fields: Vec<ManifestField>,
    /// Field values written, per data class (records × fields of the class).
    pub values_by_class: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Manifest {
    pub leakdrill_version: &'static str,
    pub fixture: String,
    pub source: String,
    pub seed: u64,
    pub subjects: u64,
    pub org_id: String,
    pub total_records: u64,
    pub watermark: WatermarkInfo,
    pub objects: Vec<ManifestObject>,
    pub values_by_class: BTreeMap<&'static str, u64>,
    /// Data subjects (person-object records) per jurisdiction.
    pub subjects_by_jurisdiction: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WatermarkInfo {
    pub field: &'static str,
    pub format: &'static str,
    pub also_in: &'static str,
}

/// Progress callback: records written so far, total.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Generates every object of `plan` into `out_dir` (created if missing).
pub fn generate(
    plan: &Plan<'_>,
    out_dir: &Path,
    threads: usize,
    progress: Progress<'_>,
) -> Result<Manifest, GenerateError> {
    check_out_dir(plan, out_dir)?;
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let mut partials: Vec<PathBuf> = Vec::new();
    let result = write_all(plan, out_dir, threads, progress, &mut partials);
    if result.is_err() {
        for p in &partials {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}

fn write_all(
    plan: &Plan<'_>,
    out_dir: &Path,
    threads: usize,
    progress: Progress<'_>,
    partials: &mut Vec<PathBuf>,
) -> Result<Manifest, GenerateError> {
    let org = plan.org;
    let total = plan.total_records();
    let threads = threads.max(1);
    let mut written = 0u64;
    let mut objects = Vec::new();
    let mut all_classes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_juris: BTreeMap<String, u64> = BTreeMap::new();
    for (oi, o) in org.objects.iter().enumerate() {
        let file_name = format!("{}.csv", o.name);
        // Written under a temporary name and renamed when complete, so a
        // failure (disk full) never leaves a truncated file under the real name.
        let final_path = out_dir.join(&file_name);
        let path = out_dir.join(format!("{file_name}.partial"));
        partials.push(path.clone());
        let file = File::create(&path).map_err(io(&path))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&csv_line(plan.header(oi).iter().map(|h| h.as_bytes())))
            .map_err(io(&path))?;
        let count = plan.count(oi);
        let chunks = count.div_ceil(CHUNK_RECORDS);
        let batch_chunks = threads as u64;
        let batches = chunks.div_ceil(batch_chunks);
        // Double buffering: workers generate batch k while this thread writes
        // batch k-1, so at most two batches are in memory.
        let mut ready: Vec<Chunk> = Vec::new();
        for k in 0..=batches {
            let write_result = std::thread::scope(|s| {
                let handles: Vec<_> = (k * batch_chunks..((k + 1) * batch_chunks).min(chunks))
                    .filter(|_| k < batches)
                    .map(|c| {
                        s.spawn(move || {
                            chunk(
                                plan,
                                oi,
                                c * CHUNK_RECORDS,
                                ((c + 1) * CHUNK_RECORDS).min(count),
                            )
                        })
                    })
                    .collect();
                let mut res: Result<u64, GenerateError> = Ok(0);
                for done in ready.drain(..) {
                    if let Err(e) = w.write_all(&done.bytes) {
                        res = Err(GenerateError::Io {
                            path: path.clone(),
                            cause: e,
                        });
                        break;
                    }
                    for (j, v) in done.juris {
                        *by_juris.entry(j).or_insert(0) += v;
                    }
                    res = res.map(|n| n + done.records);
                }
                let next: Vec<Chunk> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
                (res, next)
            });
            let (res, next) = write_result;
            written += res?;
            ready = next;
            progress(written.min(total), total);
        }
        w.flush().map_err(io(&path))?;
        drop(w);
        std::fs::rename(&path, &final_path).map_err(io(&final_path))?;
        let mut values_by_class: BTreeMap<&'static str, u64> = BTreeMap::new();
        for f in &o.fields {
            *values_by_class.entry(f.class.as_str()).or_insert(0) += count;
            *all_classes.entry(f.class.as_str()).or_insert(0) += count;
        }
        objects.push(ManifestObject {
            name: o.name.clone(),
            key_prefix: o.key_prefix.clone(),
            file: file_name,
            records: count,
            fields: o
                .fields
                .iter()
                .map(|f| ManifestField {
                    name: f.name.clone(),
                    ftype: f.ftype.describe_name(),
                    class: f.class.as_str(),
                })
                .collect(),
            values_by_class,
        });
    }
    for c in Classification::ALL {
        all_classes.entry(c.as_str()).or_insert(0);
    }
    let manifest = Manifest {
        leakdrill_version: env!("CARGO_PKG_VERSION"),
        fixture: org.fixture.clone(),
        source: org.source.clone(),
        seed: plan.seed.0,
        subjects: plan.subjects,
        org_id: crate::sfid::org_id(&org.fixture),
        total_records: total,
        watermark: WatermarkInfo {
            field: "Watermark__c",
            format: "ld + 25 Crockford base32 characters encoding the run seed, the object's key prefix and the record index (src/watermark.rs)",
            also_in: "email plus-tags and payment tokens",
        },
        objects,
        values_by_class: all_classes,
        subjects_by_jurisdiction: by_juris,
    };
    let path = out_dir.join("manifest.json");
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(manifest)
}

/// One generated chunk: CSV bytes, record count and, for person objects,
/// subjects per jurisdiction.
struct Chunk {
    bytes: Vec<u8>,
    records: u64,
    juris: BTreeMap<String, u64>,
}

/// Records `[from, to)` of object `oi`.
fn chunk(plan: &Plan<'_>, oi: usize, from: u64, to: u64) -> Chunk {
    // Sized from the first row, so the buffer rarely grows (and never moves
    // more than once).
    let mut out: Vec<u8> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut juris: BTreeMap<String, u64> = BTreeMap::new();
    let person = plan.org.objects[oi].is_person();
    for i in from..to {
        plan.fill_row(oi, i, &mut row);
        if i == from {
            let first: usize = row.iter().map(|s| s.len() + 3).sum();
            out.reserve((first + first / 4) * (to - from) as usize);
        }
        write_csv_row(&mut out, row.iter().map(|s| s.as_bytes()));
        if person {
            // Column 2 is Jurisdiction__c.
            match juris.get_mut(row[2].as_str()) {
                Some(n) => *n += 1,
                None => {
                    juris.insert(row[2].clone(), 1);
                }
            }
        }
    }
    Chunk {
        bytes: out,
        records: to - from,
        juris,
    }
}

fn csv_line<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut v = Vec::new();
    write_csv_row(&mut v, fields);
    v
}

/// One RFC 4180 row with every field quoted (as Bulk API 2.0 results are).
pub fn write_csv_row<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = &'a [u8]>) {
    for (k, f) in fields.enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.push(b'"');
        if f.contains(&b'"') {
            for &b in f {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
        } else {
            out.extend_from_slice(f);
        }
        out.push(b'"');
    }
    out.push(b'\n');
}
