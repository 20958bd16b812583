//! Salesforce record Ids: 15-character case-sensitive Ids with the 3-character
//! case-safe suffix, key prefixes, and the mapping from (seed, object, record
//! index) to an Id and back.
//!
//! Owns: Id syntax and the deterministic Id scheme. Must not: know about
//! fixtures or hold state.

use crate::seed::{Seed, mix};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
/// 62^9: the size of the 9-character record-number space.
const SPACE: u64 = 13_537_086_546_263_552;
/// Room left above the per-seed base for record numbers.
const MAX_RECORDS: u64 = 1 << 32;
/// Pod part of every mock Id (`…5e0…`), like a real instance's.
const POD: &[u8; 3] = b"5e0";

/// The 3-character case-safe suffix of a 15-character Id.
pub fn suffix(id15: &[u8; 15]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (i, chunk) in id15.chunks(5).enumerate() {
        let mut flags = 0usize;
        for (j, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                flags |= 1 << j;
            }
        }
        out[i] = SUFFIX[flags];
    }
    out
}

/// 18-character Id from a 15-character one.
pub fn to18(id15: &[u8; 15]) -> String {
    id15.iter()
        .chain(suffix(id15).iter())
        .map(|b| char::from(*b))
        .collect()
}

/// The per-seed, per-prefix offset of record numbers, so two runs with
/// different seeds never share Ids. Callers making many Ids precompute it.
pub fn base(seed: Seed, key_prefix: &str) -> u64 {
    mix(seed.fork(key_prefix).0) % (SPACE - MAX_RECORDS)
}

/// Appends the Id of record `index` of the object with `key_prefix`, given
/// that prefix's [`base`], without allocating.
pub fn push_record_id(out: &mut String, base: u64, key_prefix: &str, index: u64) {
    let mut id = [b'0'; 15];
    for (d, s) in id.iter_mut().zip(key_prefix.bytes().take(3)) {
        *d = s;
    }
    id[3..6].copy_from_slice(POD);
    let mut n = base + (index % MAX_RECORDS);
    for slot in id[6..15].iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.extend(id.iter().chain(suffix(&id).iter()).map(|b| char::from(*b)));
}

/// A record Id held inline (no heap): telemetry keeps up to
/// [`crate::sfdc::telemetry::MAX_RECORD_IDS`] of them per event, so a
/// 200-record page costs one allocation, not 200. Holds at most 18 ASCII
/// bytes; longer text is cut at 18 (Ids never are). 8-byte aligned (24
/// bytes), so a copy is three word moves: a page's telemetry gathers 200.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C, align(8))]
pub struct Id {
    len: u8,
    bytes: [u8; 18],
    /// All 18 bytes ASCII letters or digits (a well-formed Id): the NDJSON
    /// writer copies it without escaping. A function of `bytes`, so the
    /// derived order, equality and hash are unchanged by it.
    plain: bool,
}

impl Id {
    pub fn new(s: &str) -> Id {
        let mut bytes = [0u8; 18];
        // Cut on a char boundary so `as_str` stays valid UTF-8.
        let mut n = s.len().min(18);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        Id {
            len: n as u8,
            bytes,
            plain: n == 18 && bytes.iter().all(u8::is_ascii_alphanumeric),
        }
    }
    /// The empty Id (what a missing record reads as).
    pub const EMPTY: Id = Id {
        len: 0,
        bytes: [0; 18],
        plain: false,
    };
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
    /// The 18 bytes of a well-formed Id (letters and digits only), which
    /// need no escaping in JSON or CSV; `None` for anything else.
    pub fn plain18(&self) -> Option<&[u8; 18]> {
        self.plain.then_some(&self.bytes)
    }
    pub fn as_str(&self) -> &str {
        // Built from a `&str` prefix cut on a char boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl std::ops::Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The Id of record `index` of the object with `key_prefix` under `seed`.
pub fn record_id(seed: Seed, key_prefix: &str, index: u64) -> String {
    let mut s = String::with_capacity(18);
    push_record_id(&mut s, base(seed, key_prefix), key_prefix, index);
    s
}

/// The org Id of a fixture (`00D…`), stable across seeds.
pub fn org_id(fixture: &str) -> String {
    record_id(Seed(crate::seed::label_hash(fixture.as_bytes())), "00D", 0)
}

/// Is this a syntactically valid 15- or 18-character Id (with a correct suffix)?
pub fn is_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if !(b.len() == 15 || b.len() == 18) || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if b.len() == 15 {
        return true;
    }
    let mut id15 = [0u8; 15];
    id15.copy_from_slice(&b[..15]);
    suffix(&id15) == b[15..18]
}

/// Recovers the record index from an Id made by [`record_id`] with `seed`.
pub fn record_index(seed: Seed, id: &str) -> Option<u64> {
    if !is_valid(id) {
        return None;
    }
    let b = id.as_bytes();
    let prefix = std::str::from_utf8(&b[..3]).ok()?;
    let mut n: u64 = 0;
    for c in &b[6..15] {
        let d = BASE62.iter().position(|x| x == c)? as u64;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    let i = n.checked_sub(base(seed, prefix))?;
    (i < MAX_RECORDS).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_matches_salesforce_examples() {
        // Documented pair: 001A0000006Vm9r -> 001A0000006Vm9rIAC.
        assert_eq!(to18(b"001A0000006Vm9r"), "001A0000006Vm9rIAC");
        // All lower case / digits -> AAA.
        assert_eq!(to18(b"003000000000abc"), "003000000000abcAAA");
    }

    #[test]
    fn ids_round_trip() {
        let s = Seed(7);
        for i in [0, 1, 61, 62, 999_999, u32::MAX as u64 - 1] {
            let id = record_id(s, "003", i);
            assert_eq!(id.len(), 18);
            assert!(id.starts_with("0035e0"));
            assert!(is_valid(&id));
            assert_eq!(record_index(s, &id), Some(i));
            assert_eq!(record_index(s, &id[..15]), Some(i));
        }
        assert_ne!(record_id(Seed(1), "003", 5), record_id(Seed(2), "003", 5));
        assert!(org_id("fintech-wealth").starts_with("00D5e0"));
    }

    #[test]
    fn inline_ids_keep_text() {
        let id = record_id(Seed(7), "003", 9);
        assert_eq!(Id::new(&id).as_str(), id);
        assert_eq!(
            serde_json::to_string(&Id::new(&id)).ok(),
            serde_json::to_string(&id).ok()
        );
        assert_eq!(Id::new("").as_str(), "");
        // Over-long text is cut on a char boundary, never panics.
        assert_eq!(Id::new("0123456789abcdefgé!").as_str(), "0123456789abcdefg");
        assert_eq!(Id::new("0123456789abcdefghij").len(), 18);
    }
}
