//! SOQL: the subset real clients send (see the mock API docs): field lists
//! with parent relationships, `COUNT()`, `FIELDS(ALL|STANDARD|CUSTOM)`,
//! `WHERE` with AND/OR/NOT, comparisons, LIKE, IN, NULL, date and datetime
//! literals and relative date literals, `ORDER BY … ASC|DESC NULLS
//! FIRST|LAST`, `LIMIT`, `OFFSET`. Parse errors are Salesforce's
//! `MALFORMED_QUERY` with the caret/Row/Column message; anything outside the
//! subset is refused the same way, saying so.
//!
//! Owns: lexing, parsing and the syntax tree. Must not: resolve objects or
//! fields, check permissions, or touch records (that is `sfdc::query`).

use std::fmt;

/// Upper bound on query text accepted, in bytes (Salesforce's is 100,000).
pub const MAX_SOQL_BYTES: usize = 100_000;
/// Upper bound on nesting of parentheses and conditions.
pub const MAX_DEPTH: usize = 32;

/// A parse error, rendered the way Salesforce renders `MALFORMED_QUERY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoqlError {
    /// Byte offset the caret points at.
    pub pos: usize,
    pub message: String,
}

/// Salesforce's caret message: the query, a caret under the column, then
/// `ERROR at Row:r:Column:c` and the detail.
pub fn caret_message(soql: &str, pos: usize, detail: &str) -> String {
    let pos = pos.min(soql.len());
    let before = &soql[..floor_char_boundary(soql, pos)];
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    let line = soql[line_start..].lines().next().unwrap_or("");
    format!(
        "\n{line}\n{}^\nERROR at Row:{row}:Column:{col}\n{detail}",
        " ".repeat(col - 1)
    )
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    /// `2024-01-01` or `2024-01-01T00:00:00Z` (kept verbatim).
    DateTime(String),
    Sym(&'static str),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Num(s) | Tok::DateTime(s) => f.write_str(s),
            Tok::Str(s) => write!(f, "'{s}'"),
            Tok::Sym(s) => f.write_str(s),
            Tok::Eof => f.write_str("<EOF>"),
        }
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, SoqlError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'\'' {
            i += 1;
            let mut s = String::new();
            loop {
                if i >= b.len() {
                    return Err(SoqlError {
                        pos: start,
                        message: "unexpected token: '<EOF>'".into(),
                    });
                }
                match b[i] {
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    b'\\' if i + 1 < b.len() => {
                        let e = b[i + 1];
                        let ch = match e {
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'"' | b'\'' | b'\\' => e as char,
                            // LIKE wildcards stay escaped for the matcher.
                            b'_' | b'%' => {
                                s.push('\\');
                                e as char
                            }
                            _ => {
                                return Err(SoqlError {
                                    pos: i,
                                    message: "Invalid string literal: illegal escape sequence"
                                        .into(),
                                });
                            }
                        };
                        s.push(ch);
                        i += 2;
                    }
                    _ => {
                        let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                        s.push(ch);
                        i += ch.len_utf8().max(1);
                    }
                }
            }
            out.push((Tok::Str(s), start));
            continue;
        }
        if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b':' | b'-' | b'+'))
            {
                // A sign only continues a date-time offset, never a number.
                if matches!(b[i], b'+' | b'-')
                    && !src[start..i].contains('T')
                    && src[start..i].matches('-').count() >= 2
                {
                    break;
                }
                i += 1;
            }
            let text = &src[start..i];
            let is_date =
                text.len() >= 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
            if is_date {
                out.push((Tok::DateTime(text.to_owned()), start));
            } else if text.parse::<f64>().is_ok() {
                out.push((Tok::Num(text.to_owned()), start));
            } else {
                return Err(SoqlError {
                    pos: start,
                    message: format!("unexpected token: '{text}'"),
                });
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_owned()), start));
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let sym: &'static str = match two {
            "!=" => "!=",
            "<>" => "!=",
            "<=" => "<=",
            ">=" => ">=",
            _ => match c {
                b',' => ",",
                b'(' => "(",
                b')' => ")",
                b'=' => "=",
                b'<' => "<",
                b'>' => ">",
                b'.' => ".",
                b':' => ":",
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(SoqlError {
                        pos: start,
                        message: format!("unexpected token: '{ch}'"),
                    });
                }
            },
        };
        i += if two == sym || two == "<>" { 2 } else { 1 };
        out.push((Tok::Sym(sym), start));
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

/// A field reference, possibly through parent relationships (`Account.Name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub path: Vec<String>,
    pub pos: usize,
}

impl FieldRef {
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldsMacro {
    All,
    Standard,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    Field(FieldRef),
    Fields(FieldsMacro, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

/// Relative date literals (`TODAY`, `LAST_N_DAYS:7`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelDate {
    Today,
    Yesterday,
    Tomorrow,
    LastNDays(u32),
    NextNDays(u32),
    NDaysAgo(u32),
    ThisWeek,
    LastWeek,
    ThisMonth,
    LastMonth,
    ThisYear,
    LastYear,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// A date or date-time literal, verbatim.
    DateTime(String),
    Rel(RelDate),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp {
        field: FieldRef,
        op: CmpOp,
        value: Literal,
        value_pos: usize,
    },
    In {
        field: FieldRef,
        negated: bool,
        values: Vec<Literal>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub field: FieldRef,
    pub desc: bool,
    /// `None` = the default (nulls first ascending, last descending).
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    /// `SELECT COUNT() FROM …`.
    pub count_only: bool,
    pub object: String,
    pub object_pos: usize,
    pub filter: Option<Cond>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub all_rows: bool,
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
    src: &'a str,
}

fn kw(t: &Tok, word: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
}

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
    "GROUP", "HAVING", "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "INCLUDES", "EXCLUDES",
    "WITH", "USING", "FOR",
];

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn pos(&self) -> usize {
        self.toks[self.i].1
    }
    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn unexpected(&self) -> SoqlError {
        SoqlError {
            pos: self.pos(),
            message: format!("unexpected token: '{}'", self.peek()),
        }
    }
    fn unsupported(&self, what: &str) -> SoqlError {
        SoqlError {
            pos: self.pos(),
            message: format!("{what} is not supported by the leakdrill mock's SOQL subset"),
        }
    }
    fn expect_kw(&mut self, word: &str) -> Result<(), SoqlError> {
        if kw(self.peek(), word) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn eat_kw(&mut self, word: &str) -> bool {
        if kw(self.peek(), word) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Tok::Sym(x) if *x == s) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), SoqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn ident(&mut self) -> Result<(String, usize), SoqlError> {
        match self.peek().clone() {
            Tok::Ident(s) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&s)) => {
                let p = self.pos();
                self.bump();
                Ok((s, p))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn field(&mut self) -> Result<FieldRef, SoqlError> {
        let (first, pos) = self.ident()?;
        let mut path = vec![first];
        while self.eat_sym(".") {
            path.push(self.ident()?.0);
            if path.len() > 5 {
                return Err(SoqlError {
                    pos,
                    message: "A driving SObject type can only be followed by up to 5 levels of relationship fields".into(),
                });
            }
        }
        Ok(FieldRef { path, pos })
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        let mut select = Vec::new();
        let mut count_only = false;
        loop {
            if matches!(self.peek(), Tok::Sym("(")) {
                return Err(self.unsupported("a parent-to-child subquery"));
            }
            let is_call = matches!(self.toks.get(self.i + 1), Some((Tok::Sym("("), _)));
            if is_call && kw(self.peek(), "COUNT") {
                let p = self.pos();
                self.bump();
                self.bump();
                if !self.eat_sym(")") {
                    return Err(SoqlError {
                        pos: p,
                        message: "COUNT(field) and other aggregate functions are not supported by the leakdrill mock's SOQL subset; use COUNT()".into(),
                    });
                }
                count_only = true;
            } else if is_call && kw(self.peek(), "FIELDS") {
                let p = self.pos();
                self.bump();
                self.bump();
                let (which, _) = self.ident_any()?;
                let m = match which.to_ascii_uppercase().as_str() {
                    "ALL" => FieldsMacro::All,
                    "STANDARD" => FieldsMacro::Standard,
                    "CUSTOM" => FieldsMacro::Custom,
                    _ => {
                        return Err(SoqlError {
                            pos: p,
                            message: format!("unexpected token: '{which}'"),
                        });
                    }
                };
                self.expect_sym(")")?;
                select.push(SelectItem::Fields(m, p));
            } else if is_call {
                return Err(self.unsupported("aggregate and function calls"));
            } else {
                select.push(SelectItem::Field(self.field()?));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        if count_only && !select.is_empty() {
            return Err(SoqlError {
                pos: self.pos(),
                message: "COUNT() cannot be combined with other fields".into(),
            });
        }
        self.expect_kw("FROM")?;
        // Object names may be keywords: `SELECT Id FROM Order ORDER BY …`.
        let (object, object_pos) = self.ident_any()?;
        // Optional alias is not supported; an identifier here is an error below.
        let mut q = Query {
            select,
            count_only,
            object,
            object_pos,
            filter: None,
            order_by: Vec::new(),
            limit: None,
            offset: None,
            all_rows: false,
        };
        if self.eat_kw("WHERE") {
            q.filter = Some(self.or()?);
        }
        if kw(self.peek(), "GROUP") {
            return Err(self.unsupported("GROUP BY"));
        }
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.field()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let nulls_first = if self.eat_kw("NULLS") {
                    if self.eat_kw("FIRST") {
                        Some(true)
                    } else {
                        self.expect_kw("LAST")?;
                        Some(false)
                    }
                } else {
                    None
                };
                q.order_by.push(OrderBy {
                    field,
                    desc,
                    nulls_first,
                });
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        if self.eat_kw("LIMIT") {
            q.limit = Some(self.uint()?);
        }
        if self.eat_kw("OFFSET") {
            let p = self.pos();
            let n = self.uint()?;
            if n > 2000 {
                return Err(SoqlError {
                    pos: p,
                    message: "Maximum SOQL offset allowed is 2000".into(),
                });
            }
            q.offset = Some(n);
        }
        if self.eat_kw("ALL") {
            self.expect_kw("ROWS")?;
            q.all_rows = true;
        }
        if !matches!(self.peek(), Tok::Eof) {
            return Err(self.unexpected());
        }
        Ok(q)
    }

    fn ident_any(&mut self) -> Result<(String, usize), SoqlError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                let p = self.pos();
                self.bump();
                Ok((s, p))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn uint(&mut self) -> Result<u64, SoqlError> {
        match self.peek().clone() {
            Tok::Num(n) => match n.parse::<u64>() {
                Ok(v) => {
                    self.bump();
                    Ok(v)
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    fn enter(&mut self) -> Result<(), SoqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SoqlError {
                pos: self.pos(),
                message: format!("conditions nested deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Cond, SoqlError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, SoqlError> {
        let mut left = self.unary()?;
        while self.eat_kw("AND") {
            let right = self.unary()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Cond, SoqlError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        if self.eat_sym("(") {
            let inner = self.or()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, SoqlError> {
        let field = self.field()?;
        if self.eat_kw("NOT") {
            self.expect_kw("IN")?;
            return Ok(Cond::In {
                field,
                negated: true,
                values: self.list()?,
            });
        }
        if self.eat_kw("IN") {
            return Ok(Cond::In {
                field,
                negated: false,
                values: self.list()?,
            });
        }
        if kw(self.peek(), "INCLUDES") || kw(self.peek(), "EXCLUDES") {
            return Err(self.unsupported("INCLUDES/EXCLUDES"));
        }
        let op = match self.peek() {
            Tok::Sym("=") => CmpOp::Eq,
            Tok::Sym("!=") => CmpOp::Ne,
            Tok::Sym("<") => CmpOp::Lt,
            Tok::Sym("<=") => CmpOp::Le,
            Tok::Sym(">") => CmpOp::Gt,
            Tok::Sym(">=") => CmpOp::Ge,
            t if kw(t, "LIKE") => CmpOp::Like,
            _ => return Err(self.unexpected()),
        };
        self.bump();
        let value_pos = self.pos();
        let value = self.literal()?;
        Ok(Cond::Cmp {
            field,
            op,
            value,
            value_pos,
        })
    }

    fn list(&mut self) -> Result<Vec<Literal>, SoqlError> {
        self.expect_sym("(")?;
        if matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case("SELECT")) {
            return Err(self.unsupported("a semi-join subquery"));
        }
        let mut v = vec![self.literal()?];
        while self.eat_sym(",") {
            v.push(self.literal()?);
            if v.len() > 10_000 {
                return Err(self.unsupported("an IN list longer than 10,000 values"));
            }
        }
        self.expect_sym(")")?;
        Ok(v)
    }

    fn literal(&mut self) -> Result<Literal, SoqlError> {
        let (t, p) = self.bump();
        Ok(match t {
            Tok::Str(s) => Literal::Str(s),
            Tok::Num(n) => Literal::Num(n.parse().map_err(|_| SoqlError {
                pos: p,
                message: format!("unexpected token: '{n}'"),
            })?),
            Tok::DateTime(d) => {
                if !valid_datetime(&d) {
                    return Err(SoqlError {
                        pos: p,
                        message: format!("line 1:{p} no viable alternative at character '{d}'"),
                    });
                }
                Literal::DateTime(d)
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Ident(w) => {
                let upper = w.to_ascii_uppercase();
                let simple = match upper.as_str() {
                    "TODAY" => Some(RelDate::Today),
                    "YESTERDAY" => Some(RelDate::Yesterday),
                    "TOMORROW" => Some(RelDate::Tomorrow),
                    "THIS_WEEK" => Some(RelDate::ThisWeek),
                    "LAST_WEEK" => Some(RelDate::LastWeek),
                    "THIS_MONTH" => Some(RelDate::ThisMonth),
                    "LAST_MONTH" => Some(RelDate::LastMonth),
                    "THIS_YEAR" => Some(RelDate::ThisYear),
                    "LAST_YEAR" => Some(RelDate::LastYear),
                    _ => None,
                };
                if let Some(r) = simple {
                    Literal::Rel(r)
                } else if matches!(upper.as_str(), "LAST_N_DAYS" | "NEXT_N_DAYS" | "N_DAYS_AGO") {
                    self.expect_sym(":")?;
                    let n = self.uint()?;
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    Literal::Rel(match upper.as_str() {
                        "LAST_N_DAYS" => RelDate::LastNDays(n),
                        "NEXT_N_DAYS" => RelDate::NextNDays(n),
                        _ => RelDate::NDaysAgo(n),
                    })
                } else {
                    return Err(SoqlError {
                        pos: p,
                        message: format!("unexpected token: '{w}'"),
                    });
                }
            }
            other => {
                return Err(SoqlError {
                    pos: p,
                    message: format!("unexpected token: '{other}'"),
                });
            }
        })
    }
}

/// `YYYY-MM-DD`, optionally `Thh:mm:ss[.fff…](Z|±hh:mm|±hhmm)`.
pub fn valid_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 10
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7)) || !(1..=31).contains(&num(8..10)) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if b[10] != b'T'
        || b.len() < 19
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if num(11..13) > 23 || num(14..16) > 59 || num(17..19) > 60 {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &s[i..] {
        "Z" => true,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            tz[1..3]
                .bytes()
                .chain(tz[4..6].bytes())
                .all(|c| c.is_ascii_digit())
        }
        tz if tz.len() == 5 && matches!(tz.as_bytes()[0], b'+' | b'-') => {
            tz[1..].bytes().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Parses one SOQL statement.
pub fn parse(src: &str) -> Result<Query, SoqlError> {
    if src.len() > MAX_SOQL_BYTES {
        return Err(SoqlError {
            pos: 0,
            message: format!(
                "Query is too long: {} bytes, the limit is {MAX_SOQL_BYTES}",
                src.len()
            ),
        });
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
        src,
    };
    let _ = p.src;
    p.query()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_clients_send() {
        for q in [
            "SELECT Id, Name FROM Account WHERE Name LIKE 'A%' AND (NOT Industry LIKE 'X%') AND Id IN ('001A0000006Vm9rIAC', '001A0000006Vm9r') ORDER BY CreatedDate DESC LIMIT 10 OFFSET 20",
            "SELECT f1,f2 FROM Obj WHERE SystemModstamp >= 2017-01-01T00:00:00Z  ORDER BY SystemModstamp ASC",
            "SELECT f1,f2 FROM Obj WHERE SystemModstamp >= 2024-01-01T00:00:00.000+00:00 AND SystemModstamp < 2024-02-01T00:00:00.000+0000",
            "select count() from Contact",
            "SELECT FIELDS(STANDARD) FROM LoginEvent WHERE EventDate > 2024-01-01T00:00:00Z ORDER BY EventDate DESC",
            "SELECT Id,CreatedDate,LogDate,LogFile FROM EventLogFile WHERE CreatedDate > 2024-01-01T00:00:00.000Z AND Interval = 'Hourly' AND EventType = 'Login' ORDER BY CreatedDate ASC NULLS FIRST, Id ASC",
            "SELECT Contact__r.Email FROM FinancialAccount__c WHERE Balance__c > 1000.5 AND CreatedDate = LAST_N_DAYS:30 AND Name != null",
            "SELECT Id FROM Contact WHERE Name = 'O\\'Brien' AND IsDeleted = false ALL ROWS",
            "SELECT Id, Status FROM Order ORDER BY Status LIMIT 5",
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {}", caret_message(q, e.pos, &e.message)));
        }
    }

    #[test]
    fn errors_point_at_the_token() {
        let q = "SELECT Id FROM Contact WHERE";
        let e = parse(q).unwrap_err();
        assert_eq!(
            caret_message(q, e.pos, &e.message),
            "\nSELECT Id FROM Contact WHERE\n                            ^\nERROR at Row:1:Column:29\nunexpected token: '<EOF>'"
        );
        let e = parse("SELECT Id FROM Contact GROUP BY Name").unwrap_err();
        assert!(e.message.contains("GROUP BY is not supported"));
        let e =
            parse("SELECT Id FROM Contact WHERE CreatedDate > 2024-13-01T00:00:00").unwrap_err();
        assert!(e.message.contains("no viable alternative"), "{e:?}");
        assert!(
            parse("SELECT (SELECT Id FROM Contacts) FROM Account")
                .unwrap_err()
                .message
                .contains("subquery")
        );
    }

    #[test]
    fn datetime_literals() {
        for ok in [
            "2024-01-01",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.000000+00:00",
            "2024-01-01T00:00:00+0000",
        ] {
            assert!(valid_datetime(ok), "{ok}");
        }
        for bad in [
            "2024-1-01",
            "2024-01-01T00:00",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
        ] {
            assert!(!valid_datetime(bad), "{bad}");
        }
    }
}
#[cfg(test)]
mod fuzz_regressions {
    #[test]
    fn nul_and_nonchars() {
        for q in [
            "\u{0}\u{ffff}",
            "SELECT Id FROM Contact WHERE Name = '\u{ffff}",
            "é",
            "SELECT é FROM x",
        ] {
            if let Err(e) = super::parse(q) {
                let _ = super::caret_message(q, e.pos, &e.message);
            }
        }
    }
}
