//! Spanned YAML: parses a document into a tree that remembers the line and
//! column of every node, and deserializes serde types from it while
//! collecting *every* structural error (all unknown keys, one type error per
//! [`Checked`] item) with its position and a hint.
//!
//! Owns: YAML → [`Node`] (with limits on size, depth and alias expansion),
//! the serde `Deserializer` over nodes, [`Spanned`] and [`Checked`].
//! Must not: know about fixtures or scenarios, read files, or panic on input.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};

use crate::diag::{Diagnostic, Diagnostics, Loc, suggest};

/// Limits on what one YAML document may expand to (alias bombs, deep nesting).
pub const MAX_NODES: usize = 2_000_000;
pub const MAX_DEPTH: usize = 64;
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of scalar text a document may expand to through aliases.
pub const MAX_EXPANDED_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar; `plain` is false for quoted and block scalars (always strings).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar { plain: true, text } if is_null(text) => "null".into(),
            NodeKind::Scalar { text, .. } => format!("`{}`", truncate(text, 40)),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a mapping".into(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { plain: true, text } if is_null(text))
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// Parses one YAML document. An empty document is an empty mapping.
pub fn parse(file: &str, text: &str) -> Result<Node, Diagnostics> {
    let err = |loc: Loc, msg: String, hint: Option<&str>| {
        let mut d = Diagnostic::new(file, loc, msg);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        Diagnostics(vec![d])
    };
    if text.len() > MAX_INPUT_BYTES {
        return Err(err(
            Loc::new(1, 1),
            format!(
                "file is {} bytes; the limit is {MAX_INPUT_BYTES}",
                text.len()
            ),
            None,
        ));
    }
    enum Frame {
        Seq(Loc, usize, Vec<Node>),
        Map(Loc, usize, Vec<(Node, Node)>, Option<Node>),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    let mut root: Option<Node> = None;
    let mut docs = 0usize;
    let mut nodes = 0usize;
    let mut bytes = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return Err(err(
                    Loc::new(m.line() as u32, m.col() as u32 + 1),
                    format!("invalid YAML: {}", e.info()),
                    Some("check indentation, quoting and that every `key:` has a value"),
                ));
            }
        };
        let loc = Loc::new(span.start.line() as u32, span.start.col() as u32 + 1);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(err(
                        loc,
                        "expected one YAML document, found a second `---`".into(),
                        Some("put each document in its own file"),
                    ));
                }
                None
            }
            Event::Alias(id) => match anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, n)) => {
                    // Count before cloning, so a bomb is refused before it
                    // is allocated.
                    let (count, size) = measure(n);
                    nodes += count;
                    bytes += size;
                    if nodes > MAX_NODES || bytes > MAX_EXPANDED_BYTES {
                        return Err(err(
                            loc,
                            format!(
                                "aliases expand the document beyond {MAX_NODES} nodes or {MAX_EXPANDED_BYTES} bytes"
                            ),
                            Some("aliases (`*x`) are copied on use; avoid repeating large anchors"),
                        ));
                    }
                    let mut n = n.clone();
                    n.loc = loc;
                    Some((n, 0))
                }
                None => return Err(err(loc, "alias to an unknown anchor".into(), None)),
            },
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                nodes += 1;
                Some((
                    Node {
                        loc,
                        kind: NodeKind::Scalar {
                            text: value.into_owned(),
                            plain,
                        },
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        loc,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        None,
                    ));
                }
                stack.push(Frame::Seq(loc, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        loc,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        None,
                    ));
                }
                stack.push(Frame::Map(loc, anchor, Vec::new(), None));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(l, a, items)) => {
                    nodes += 1;
                    Some((
                        Node {
                            loc: l,
                            kind: NodeKind::Seq(items),
                        },
                        a,
                    ))
                }
                _ => return Err(err(loc, "unbalanced sequence".into(), None)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(l, a, items, None)) => {
                    nodes += 1;
                    Some((
                        Node {
                            loc: l,
                            kind: NodeKind::Map(items),
                        },
                        a,
                    ))
                }
                _ => return Err(err(loc, "unbalanced mapping".into(), None)),
            },
        };
        if nodes > MAX_NODES {
            return Err(err(
                loc,
                format!("document expands to more than {MAX_NODES} nodes"),
                Some("aliases (`*x`) are copied on use; avoid nesting them"),
            ));
        }
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.push((anchor, node.clone()));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, items, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => items.push((key, node)),
            },
        }
    }
    Ok(root.unwrap_or(Node {
        loc: Loc::new(1, 1),
        kind: NodeKind::Map(Vec::new()),
    }))
}

/// (nodes, scalar bytes) of a subtree.
fn measure(n: &Node) -> (usize, usize) {
    match &n.kind {
        NodeKind::Scalar { text, .. } => (1, text.len()),
        NodeKind::Seq(v) => v
            .iter()
            .map(measure)
            .fold((1, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        NodeKind::Map(v) => v
            .iter()
            .map(|(k, v)| {
                let (a, b) = (measure(k), measure(v));
                (a.0 + b.0, a.1 + b.1)
            })
            .fold((1, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
    }
}

/// Parses `text` and deserializes a `T`, collecting every error found.
pub fn from_str<T: de::DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostics> {
    let node = parse(file, text)?;
    from_node(file, &node)
}

/// Deserializes a `T` from a parsed node, collecting every error found.
pub fn from_node<T: de::DeserializeOwned>(file: &str, node: &Node) -> Result<T, Diagnostics> {
    match from_node_partial(file, node) {
        (Some(v), d) if d.is_empty() => Ok(v),
        (_, d) => Err(d),
    }
}

/// Like [`from_node`], but also returns the value when only [`Checked`]
/// items failed, so callers can validate the rest and report everything.
pub fn from_node_partial<T: de::DeserializeOwned>(
    file: &str,
    node: &Node,
) -> (Option<T>, Diagnostics) {
    let ctx = Ctx {
        file,
        errors: RefCell::new(Vec::new()),
    };
    let result = T::deserialize(NodeDe { node, ctx: &ctx });
    let mut errors = ctx.errors.into_inner();
    let value = match result {
        Ok(v) => Some(v),
        Err(e) => {
            if !e.recorded {
                errors.push(e.into_diagnostic(file, node.loc));
            }
            None
        }
    };
    (value, Diagnostics(errors).sorted())
}

struct Ctx<'f> {
    file: &'f str,
    errors: RefCell<Vec<Diagnostic>>,
}

impl Ctx<'_> {
    fn record(&self, loc: Loc, message: String, hint: Option<String>) {
        let mut d = Diagnostic::new(self.file, loc, message);
        d.hint = hint;
        self.errors.borrow_mut().push(d);
    }
}

/// The deserialization error: a message, where it happened once known, and a
/// hint. `recorded` marks an error already pushed to the collector.
#[derive(Debug)]
pub struct Error {
    loc: Option<Loc>,
    message: String,
    hint: Option<String>,
    recorded: bool,
    /// Set by `missing_field`, so a misspelt key is reported once, not twice.
    missing: Option<&'static str>,
}

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Self {
            loc: None,
            message: message.into(),
            hint: None,
            recorded: false,
            missing: None,
        }
    }
    fn at(mut self, loc: Loc) -> Self {
        self.loc.get_or_insert(loc);
        self
    }
    fn into_diagnostic(self, file: &str, fallback: Loc) -> Diagnostic {
        let mut d = Diagnostic::new(file, self.loc.unwrap_or(fallback), self.message);
        d.hint = self.hint;
        d
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Error::new(format!("unknown value `{variant}`"));
        e.hint = Some(suggest(variant, expected.iter().copied()));
        e
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Error::new(format!("unknown key `{field}`"));
        e.hint = Some(suggest(field, expected.iter().copied()));
        e
    }
    fn missing_field(field: &'static str) -> Self {
        let mut e = Error::new(format!("missing required key `{field}`"));
        e.hint = Some(format!("add `{field}: …` here"));
        e.missing = Some(field);
        e
    }
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Error::new(format!("expected {exp}, found {len} elements"))
    }
}

#[derive(Clone, Copy)]
struct NodeDe<'a, 'f> {
    node: &'a Node,
    ctx: &'a Ctx<'f>,
}

impl<'a, 'f> NodeDe<'a, 'f> {
    fn child(&self, node: &'a Node) -> NodeDe<'a, 'f> {
        NodeDe {
            node,
            ctx: self.ctx,
        }
    }

    fn invalid(&self, expected: &str) -> Error {
        Error::new(format!(
            "expected {expected}, found {}",
            self.node.describe()
        ))
        .at(self.node.loc)
    }

    fn scalar(&self, expected: &str) -> Result<(&'a str, bool), Error> {
        match &self.node.kind {
            NodeKind::Scalar { text, plain } => Ok((text.as_str(), *plain)),
            _ => Err(self.invalid(expected)),
        }
    }

    fn parse_num<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
        let (text, _) = self.scalar(what)?;
        let cleaned: String = text.chars().filter(|c| *c != '_').collect();
        cleaned.parse::<T>().map_err(|_| self.invalid(what))
    }

    /// The keys of a mapping node, checked: scalar, not repeated.
    fn entries(&self, what: &str) -> Result<&'a [(Node, Node)], Error> {
        let NodeKind::Map(entries) = &self.node.kind else {
            return Err(self.invalid(what));
        };
        for (i, (k, _)) in entries.iter().enumerate() {
            let NodeKind::Scalar { text, .. } = &k.kind else {
                return Err(Error::new("mapping keys must be plain strings").at(k.loc));
            };
            if entries[..i]
                .iter()
                .any(|(p, _)| matches!(&p.kind, NodeKind::Scalar { text: t, .. } if t == text))
            {
                return Err(Error::new(format!("duplicate key `{text}`")).at(k.loc));
            }
        }
        Ok(entries)
    }
}

fn key_text(n: &Node) -> &str {
    match &n.kind {
        NodeKind::Scalar { text, .. } => text,
        _ => "",
    }
}

const SPANNED: &str = "$leakdrill::Spanned";
const SPANNED_FIELDS: &[&str] = &["$line", "$col", "$value"];
const CHECKED: &str = "$leakdrill::Checked";
const CHECKED_FIELDS: &[&str] = &["$line", "$col", "$value"];

macro_rules! forward_num {
    ($($method:ident => $visit:ident : $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let v: $ty = self.parse_num($what)?;
            visitor.$visit(v).map_err(|e: Error| e.at(self.node.loc))
        }
    )*};
}

impl<'de, 'a, 'f> Deserializer<'de> for NodeDe<'a, 'f> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let loc = self.node.loc;
        let r = match &self.node.kind {
            NodeKind::Scalar { text, plain: true } => {
                if is_null(text) {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Ok(u) = text.parse::<u64>() {
                    visitor.visit_u64(u)
                } else if looks_float(text) {
                    match text.parse::<f64>() {
                        Ok(f) => visitor.visit_f64(f),
                        Err(_) => visitor.visit_str(text),
                    }
                } else {
                    visitor.visit_str(text)
                }
            }
            NodeKind::Scalar { text, plain: false } => visitor.visit_str(text),
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                de: self,
                items: items.iter(),
            }),
            NodeKind::Map(_) => {
                let entries = self.entries("a mapping")?;
                visitor.visit_map(MapDe {
                    de: self,
                    entries: entries.iter().collect::<Vec<_>>().into_iter(),
                    value: None,
                })
            }
        };
        r.map_err(|e| e.at(loc))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (text, _) = self.scalar("true or false")?;
        match parse_bool(text) {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.invalid("true or false")),
        }
    }

    forward_num! {
        deserialize_i8 => visit_i8: i8, "a small integer";
        deserialize_i16 => visit_i16: i16, "an integer";
        deserialize_i32 => visit_i32: i32, "an integer";
        deserialize_i64 => visit_i64: i64, "an integer";
        deserialize_u8 => visit_u8: u8, "an integer from 0 to 255";
        deserialize_u16 => visit_u16: u16, "an integer from 0 to 65535";
        deserialize_u32 => visit_u32: u32, "a non-negative integer";
        deserialize_u64 => visit_u64: u64, "a non-negative integer";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (text, plain) = self.scalar("a string")?;
        if plain && is_null(text) {
            return Err(self.invalid("a string"));
        }
        visitor
            .visit_str(text)
            .map_err(|e: Error| e.at(self.node.loc))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.invalid("nothing (null)"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Seq(items) => visitor
                .visit_seq(SeqDe {
                    de: self,
                    items: items.iter(),
                })
                .map_err(|e| e.at(self.node.loc)),
            _ => Err(self.invalid("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries = self.entries("a mapping")?;
        visitor
            .visit_map(MapDe {
                de: self,
                entries: entries.iter().collect::<Vec<_>>().into_iter(),
                value: None,
            })
            .map_err(|e| e.at(self.node.loc))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED || name == CHECKED {
            return visitor.visit_map(MetaDe {
                de: self,
                checked: name == CHECKED,
                step: 0,
            });
        }
        let entries = self.entries("a mapping")?;
        let mut known = Vec::with_capacity(entries.len());
        let mut misspelt: Vec<&str> = Vec::new();
        for entry in entries {
            let key = key_text(&entry.0);
            if fields.contains(&key) {
                known.push(entry);
            } else {
                let hint = suggest(key, fields.iter().copied());
                if let Some(f) = fields
                    .iter()
                    .find(|f| hint == format!("did you mean `{f}`?"))
                {
                    misspelt.push(f);
                }
                self.ctx
                    .record(entry.0.loc, format!("unknown key `{key}`"), Some(hint));
            }
        }
        visitor
            .visit_map(MapDe {
                de: self,
                entries: known.into_iter(),
                value: None,
            })
            .map_err(|mut e| {
                if e.missing.is_some_and(|f| misspelt.contains(&f)) {
                    e.recorded = true;
                }
                e.at(self.node.loc)
            })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: Error| e.at(self.node.loc)),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                visitor
                    .visit_enum(EnumDe {
                        tag: key_text(k),
                        tag_loc: k.loc,
                        value: self.child(v),
                    })
                    .map_err(|e| e.at(self.node.loc))
            }
            _ => Err(self.invalid(&format!("one of: {}", variants.join(", ")))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn looks_float(text: &str) -> bool {
    let t = text.trim_start_matches(['+', '-']);
    !t.is_empty()
        && t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
}

struct SeqDe<'a, 'f> {
    de: NodeDe<'a, 'f>,
    items: std::slice::Iter<'a, Node>,
}

impl<'de, 'a, 'f> de::SeqAccess<'de> for SeqDe<'a, 'f> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some(n) => seed
                .deserialize(self.de.child(n))
                .map(Some)
                .map_err(|e| e.at(n.loc)),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'f> {
    de: NodeDe<'a, 'f>,
    entries: std::vec::IntoIter<&'a (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de, 'a, 'f> de::MapAccess<'de> for MapDe<'a, 'f> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(self.de.child(k))
                    .map(Some)
                    .map_err(|e| e.at(k.loc))
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| Error::new("value requested before key"))?;
        seed.deserialize(self.de.child(v)).map_err(|e| e.at(v.loc))
    }
}

/// Feeds `$line`, `$col`, `$value` to [`Spanned`] and [`Checked`].
struct MetaDe<'a, 'f> {
    de: NodeDe<'a, 'f>,
    checked: bool,
    step: u8,
}

impl<'de, 'a, 'f> de::MapAccess<'de> for MetaDe<'a, 'f> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let key = match self.step {
            0 => "$line",
            1 => "$col",
            2 => "$value",
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let loc = self.de.node.loc;
        self.step += 1;
        match self.step {
            1 => seed.deserialize(loc.line.into_deserializer()),
            2 => seed.deserialize(loc.col.into_deserializer()),
            _ => {
                let r = seed.deserialize(self.de);
                match r {
                    Err(e) if self.checked => {
                        if !e.recorded {
                            self.de.ctx.record(e.loc.unwrap_or(loc), e.message, e.hint);
                        }
                        let mut e = Error::new("recorded");
                        e.recorded = true;
                        Err(e)
                    }
                    other => other,
                }
            }
        }
    }
}

struct EnumDe<'a, 'f> {
    tag: &'a str,
    tag_loc: Loc,
    value: NodeDe<'a, 'f>,
}

impl<'de, 'a, 'f> de::EnumAccess<'de> for EnumDe<'a, 'f> {
    type Error = Error;
    type Variant = NodeDe<'a, 'f>;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let tag_loc = self.tag_loc;
        let v = seed
            .deserialize(self.tag.into_deserializer())
            .map_err(|e: Error| e.at(tag_loc))?;
        Ok((v, self.value))
    }
}

impl<'de, 'a, 'f> de::VariantAccess<'de> for NodeDe<'a, 'f> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        if self.node.is_null() {
            Ok(())
        } else {
            Err(self.invalid("no value for this variant"))
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_struct("", fields, visitor)
    }
}

/// A value with the position it was written at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Spanned<T> {
    pub loc: Loc,
    pub value: T,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A list item whose errors are recorded without stopping its siblings:
/// `Vec<Checked<T>>` reports the errors of every broken item at once.
/// `value` is `None` only when an error was recorded for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T> {
    pub loc: Loc,
    pub value: Option<T>,
}

struct MetaVisitor<T>(bool, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MetaVisitor<T> {
    type Value = (Loc, Option<T>);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut line = 0u32;
        let mut col = 0u32;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "$line" => line = map.next_value()?,
                "$col" => col = map.next_value()?,
                "$value" => {
                    let v = map.next_value::<T>();
                    return match v {
                        Ok(v) => Ok((Loc::new(line, col), Some(v))),
                        // Only the spanned deserializer recovers: it has
                        // recorded the error before returning it.
                        Err(_) if self.0 => Ok((Loc::new(line, col), None)),
                        Err(e) => Err(e),
                    };
                }
                other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
            }
        }
        Err(de::Error::missing_field("$value"))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (loc, value) =
            d.deserialize_struct(SPANNED, SPANNED_FIELDS, MetaVisitor(false, PhantomData))?;
        match value {
            Some(value) => Ok(Spanned { loc, value }),
            None => Err(de::Error::custom("missing value")),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (loc, value) =
            d.deserialize_struct(CHECKED, CHECKED_FIELDS, MetaVisitor(true, PhantomData))?;
        Ok(Checked { loc, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: Spanned<String>,
        #[serde(default)]
        count: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        items: Vec<Checked<Item>>,
    }

    #[test]
    fn collects_every_error_with_positions() {
        let text = "items:\n  - name: a\n    cuont: 3\n  - name: b\n    count: lots\n  - nme: c\n";
        let errs = from_str::<Doc>("t.yaml", text).unwrap_err();
        let shown: Vec<String> = errs.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 3, "{shown:#?}");
        assert!(shown[0].starts_with("t.yaml:3:5: error: unknown key `cuont`"));
        assert!(shown[0].contains("did you mean `count`?"));
        assert!(shown[1].starts_with("t.yaml:5:12: error: expected a non-negative integer"));
        assert!(shown[2].contains("t.yaml:6:5: error: unknown key `nme`"));
    }

    #[test]
    fn spans_point_at_values() {
        let doc: Doc = from_str("t.yaml", "items:\n  - name: x\n").unwrap();
        let item = doc.items[0].value.as_ref().unwrap();
        assert_eq!(item.name.loc, Loc::new(2, 11));
        assert_eq!(doc.items[0].loc, Loc::new(2, 5));
    }

    #[test]
    fn rejects_alias_bombs_and_duplicate_keys() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse("b.yaml", &bomb).unwrap_err();
        assert!(
            e.to_string().contains("aliases expand the document beyond"),
            "{e}"
        );
        let e = from_str::<Doc>("d.yaml", "items: []\nitems: []\n").unwrap_err();
        assert!(e.to_string().contains("duplicate key `items`"), "{e}");
    }
}

/// The wrappers are transparent in JSON Schema: a `Spanned<T>` or
/// `Checked<T>` is written exactly as a `T`.
macro_rules! transparent_schema {
    ($w:ident) => {
        impl<T: schemars::JsonSchema> schemars::JsonSchema for $w<T> {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                T::schema_name()
            }
            fn schema_id() -> std::borrow::Cow<'static, str> {
                T::schema_id()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                T::json_schema(g)
            }
            fn inline_schema() -> bool {
                T::inline_schema()
            }
        }
    };
}
transparent_schema!(Spanned);
transparent_schema!(Checked);
