//! Per-record watermarks: a short token, written into every generated record
//! (the `Watermark__c` field, the plus-tag of emails, payment tokens), from
//! which the run seed, the object (by key prefix) and the record index can be
//! recovered — so any leaked CSV row, log line or webhook body can be traced.
//!
//! Format: `ld` + 25 Crockford base32 characters (lower case) = 125 bits:
//! `version(1) | seed(64) | key prefix(18, base62 ×3) | record index(32) | check(10)`,
//! the 114 payload bits whitened by a mask derived from the check bits.
//! The check is a keyed hash of the rest, so random text matches with
//! probability 2^-10 *after* already matching the 27-character shape.
//!
//! Owns: encoding, decoding and scanning text for tokens. Must not: know
//! fixtures, or how records are generated.

use crate::seed::{Seed, mix};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of a token including the `ld` prefix.
pub const TOKEN_LEN: usize = 27;

/// What a watermark says about its record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    pub seed: u64,
    pub key_prefix: String,
    pub index: u32,
}

fn prefix_code(p: &str) -> Option<u32> {
    let b = p.as_bytes();
    if b.len() != 3 {
        return None;
    }
    let mut n = 0u32;
    for c in b {
        n = n * 62 + BASE62.iter().position(|x| x == c)? as u32;
    }
    Some(n)
}

/// Whitening mask for the payload bits (10..124), keyed by the check bits, so
/// tokens of neighbouring records look unrelated; XOR is its own inverse.
fn whitening(check: u128) -> u128 {
    let c = check as u64;
    let hi = u128::from(mix(c ^ 0x7768_6974_6531));
    let lo = u128::from(mix(c ^ 0x7768_6974_6532));
    (((hi << 64) | lo) << 10) & (((1u128 << 114) - 1) << 10)
}

fn check(seed: u64, prefix: u32, index: u32) -> u128 {
    let h = mix(seed ^ mix((u64::from(prefix) << 32) | u64::from(index)) ^ 0x6c64_776d);
    u128::from(h & 0x3ff)
}

/// The token for a record. Returns `None` only for a malformed key prefix.
pub fn encode(seed: Seed, key_prefix: &str, index: u32) -> Option<String> {
    let mut out = String::with_capacity(TOKEN_LEN);
    push_token(&mut out, seed, key_prefix, index).then_some(out)
}

/// Appends the token for a record without allocating; false (and nothing
/// appended) for a malformed key prefix.
pub fn push_token(out: &mut String, seed: Seed, key_prefix: &str, index: u32) -> bool {
    let Some(p) = prefix_code(key_prefix) else {
        return false;
    };
    let c = check(seed.0, p, index);
    let payload = (u128::from(seed.0) << 60) | (u128::from(p) << 42) | (u128::from(index) << 10);
    let v = (payload ^ whitening(c)) | c;
    out.push_str("ld");
    for i in (0..25).rev() {
        out.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
    }
    true
}

/// Decodes a token (case-insensitive); `None` if it is not a valid watermark.
pub fn decode(token: &str) -> Option<Mark> {
    let t = token.as_bytes();
    if t.len() != TOKEN_LEN || !t[..2].eq_ignore_ascii_case(b"ld") {
        return None;
    }
    let mut v: u128 = 0;
    for c in &t[2..] {
        let c = c.to_ascii_lowercase();
        v = (v << 5) | ALPHABET.iter().position(|x| *x == c)? as u128;
    }
    if v >> 124 != 0 {
        return None;
    }
    let v = v ^ whitening(v & 0x3ff);
    let seed = (v >> 60) as u64;
    let p = ((v >> 42) & 0x3_ffff) as u32;
    let index = ((v >> 10) & 0xffff_ffff) as u32;
    if p >= 62 * 62 * 62 || v & 0x3ff != check(seed, p, index) {
        return None;
    }
    let key_prefix: String = [p / 3844, (p / 62) % 62, p % 62]
        .iter()
        .map(|d| BASE62[*d as usize] as char)
        .collect();
    Some(Mark {
        seed,
        key_prefix,
        index,
    })
}

/// Every valid watermark in `text`, in order of appearance (repeats kept).
pub fn scan(text: &str) -> Vec<Mark> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + TOKEN_LEN <= b.len() {
        let boundary_before = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary_before && b[i..i + 2].eq_ignore_ascii_case(b"ld") {
            let end = i + TOKEN_LEN;
            let boundary_after = end == b.len() || !b[end].is_ascii_alphanumeric();
            if boundary_after && let Some(m) = std::str::from_utf8(&b[i..end]).ok().and_then(decode)
            {
                out.push(m);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_scans() {
        let t = encode(Seed(u64::MAX), "a0B", 123_456).unwrap();
        assert_eq!(t.len(), TOKEN_LEN);
        let m = decode(&t).unwrap();
        assert_eq!(
            (m.seed, m.key_prefix.as_str(), m.index),
            (u64::MAX, "a0B", 123_456)
        );
        assert_eq!(decode(&t.to_ascii_uppercase()), Some(m.clone()));
        let line = format!("POST /ingest email=jo.doe+{t}@example.com ok");
        assert_eq!(scan(&line), vec![m]);
        // One flipped character fails the check.
        let mut bad = t.into_bytes();
        bad[10] = if bad[10] == b'0' { b'1' } else { b'0' };
        assert_eq!(decode(std::str::from_utf8(&bad).unwrap()), None);
    }
}
