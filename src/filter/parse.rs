//! The text form of a [`Filter`], parsed by recursive descent over a small lexer.
//!
//! ```text
//! filter  := or
//! or      := and ( OR and )*
//! and     := unary ( AND unary )*
//! unary   := NOT unary | primary
//! primary := '(' filter ')'
//!          | EXISTS field
//!          | field ( '=' | '==' | '!=' | '<>' ) value
//!          | field ( '<' | '<=' | '>' | '>=' ) number
//!          | field IN '(' value ( ',' value )* ')'
//!          | field CONTAINS value
//!          | field PREFIX string
//!          | field                      -- a bare field means field = true
//! value   := string | number | TRUE | FALSE | NULL
//! string  := '…' ('' inside for a quote) | "…"
//! field   := [A-Za-z_][A-Za-z0-9_.-]* | `…`
//! ```
//! Keywords are case-insensitive. `AND` binds tighter than `OR`.

use stratovec_formats::metadata::Scalar;

use super::Filter;

/// Why a filter text did not parse: the byte offset and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: at byte {offset}: {message}")]
pub struct ParseError {
    /// Byte offset into the text.
    pub offset: usize,
    /// What was expected and what was found.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64, bool),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Num(n, _) => format!("number {n}"),
            Tok::Op(o) => format!("`{o}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "the end".into(),
        }
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(k))
    }
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { offset, message: message.into() })
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b',' => Tok::Comma,
            b'\'' | b'"' | b'`' => {
                let (s, end) = quoted(text, i)?;
                i = end;
                out.push((start, if c == b'`' { Tok::Ident(s) } else { Tok::Str(s) }));
                continue;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = text.get(i..i + 2).unwrap_or("");
                let op = ["==", "!=", "<>", "<=", ">="].into_iter().find(|o| *o == two);
                let op = match (op, c) {
                    (Some(o), _) => o,
                    (None, b'=') => "=",
                    (None, b'<') => "<",
                    (None, b'>') => ">",
                    _ => return err(i, "expected `!=` after `!`"),
                };
                i += op.len();
                out.push((start, Tok::Op(op)));
                continue;
            }
            b'-' | b'0'..=b'9' | b'.' => {
                let mut j = i + 1;
                while j < b.len()
                    && (b[j].is_ascii_digit()
                        || matches!(b[j], b'.' | b'e' | b'E' | b'_')
                        || (matches!(b[j], b'+' | b'-') && matches!(b[j - 1], b'e' | b'E')))
                {
                    j += 1;
                }
                let raw = text[i..j].replace('_', "");
                let is_int = raw.parse::<i64>().is_ok();
                let n = raw.parse::<f64>().ok().filter(|n| n.is_finite());
                let Some(n) = n else { return err(i, format!("`{}` is not a number", &text[i..j])) };
                i = j;
                out.push((start, Tok::Num(n, is_int)));
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'.' | b'-')) {
                    j += 1;
                }
                let word = text[i..j].to_string();
                i = j;
                out.push((start, Tok::Ident(word)));
                continue;
            }
            _ => return err(i, format!("unexpected character {:?}", text[i..].chars().next().unwrap_or('?'))),
        };
        i += 1;
        out.push((start, tok));
    }
    out.push((text.len(), Tok::End));
    Ok(out)
}

/// A quoted string or identifier starting at `at`; a doubled quote escapes it.
fn quoted(text: &str, at: usize) -> Result<(String, usize), ParseError> {
    let q = text.as_bytes()[at] as char;
    let mut s = String::new();
    let mut chars = text[at + 1..].char_indices().peekable();
    while let Some((off, ch)) = chars.next() {
        if ch == q {
            if chars.peek().map(|(_, c)| *c) == Some(q) {
                chars.next();
                s.push(q);
                continue;
            }
            return Ok((s, at + 1 + off + 1));
        }
        s.push(ch);
    }
    err(at, format!("unterminated {q}-quoted text"))
}

/// Deepest nesting of parentheses and `NOT` accepted (bounds the parser's recursion).
const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
}

/// Parses the text form (grammar in the module docs).
pub(crate) fn parse(text: &str) -> Result<Filter, ParseError> {
    if text.len() > super::MAX_FILTER_BYTES {
        return err(super::MAX_FILTER_BYTES, format!("filter text of {} bytes, over the limit of {}", text.len(), super::MAX_FILTER_BYTES));
    }
    let mut p = Parser { toks: lex(text)?, pos: 0, depth: 0 };
    let f = p.or()?;
    match p.peek() {
        Tok::End => f.check_limits().map(|()| f).or_else(|e| err(0, e)),
        t => err(p.offset(), format!("expected AND, OR or the end, found {}", t.describe())),
    }
}

/// Chains of `AND` or `OR` longer than this are balanced instead of nested left to right.
const BALANCE_ABOVE: usize = 16;

/// Joins `items` (at least one) with `join`: left to right for short chains, as a balanced
/// tree for long ones (the same predicate, since AND and OR are associative).
fn chain(mut items: Vec<Filter>, join: fn(Filter, Filter) -> Filter) -> Filter {
    if items.len() > BALANCE_ABOVE {
        let right = items.split_off(items.len() / 2);
        return join(chain(items, join), chain(right, join));
    }
    let mut it = items.into_iter();
    let first = it.next().expect("a chain has one operand at least");
    it.fold(first, join)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].1
    }
    fn offset(&self) -> usize {
        self.toks[self.pos].0
    }
    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].1.clone();
        if t != Tok::End {
            self.pos += 1;
        }
        t
    }
    fn eat_keyword(&mut self, k: &str) -> bool {
        let hit = self.peek().keyword(k);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut items = vec![self.and()?];
        while self.eat_keyword("OR") {
            items.push(self.and()?);
        }
        Ok(chain(items, Filter::or))
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut items = vec![self.unary()?];
        while self.eat_keyword("AND") {
            items.push(self.unary()?);
        }
        Ok(chain(items, Filter::and))
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.depth >= MAX_DEPTH {
            return err(self.offset(), format!("parentheses and NOT nested deeper than {MAX_DEPTH}"));
        }
        self.depth += 1;
        let f = if self.eat_keyword("NOT") { self.unary().map(Filter::not) } else { self.primary() };
        self.depth -= 1;
        f
    }

    fn primary(&mut self) -> Result<Filter, ParseError> {
        let at = self.offset();
        match self.next() {
            Tok::LParen => {
                let f = self.or()?;
                let at = self.offset();
                match self.next() {
                    Tok::RParen => Ok(f),
                    t => err(at, format!("expected `)`, found {}", t.describe())),
                }
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("EXISTS") => Ok(Filter::Exists(self.field()?)),
            Tok::Ident(w) if is_keyword(&w) => err(at, format!("expected a field name, found keyword {w}")),
            Tok::Ident(field) => self.comparison(field),
            t => err(at, format!("expected a field name, `(`, NOT or EXISTS, found {}", t.describe())),
        }
    }

    fn field(&mut self) -> Result<String, ParseError> {
        let at = self.offset();
        match self.next() {
            Tok::Ident(w) if !is_keyword(&w) => Ok(w),
            t => err(at, format!("expected a field name, found {}", t.describe())),
        }
    }

    fn comparison(&mut self, field: String) -> Result<Filter, ParseError> {
        let at = self.offset();
        let tok = self.peek().clone();
        Ok(match tok {
            Tok::Op(op) => {
                self.pos += 1;
                match op {
                    "=" | "==" => Filter::Eq(field, self.value()?),
                    "!=" | "<>" => Filter::Ne(field, self.value()?),
                    _ => {
                        let n = self.number(op)?;
                        match op {
                            "<" => Filter::Lt(field, n),
                            "<=" => Filter::Le(field, n),
                            ">" => Filter::Gt(field, n),
                            _ => Filter::Ge(field, n),
                        }
                    }
                }
            }
            t if t.keyword("IN") => {
                self.pos += 1;
                Filter::In(field, self.list()?)
            }
            t if t.keyword("CONTAINS") => {
                self.pos += 1;
                Filter::Contains(field, self.value()?)
            }
            t if t.keyword("PREFIX") => {
                self.pos += 1;
                let at = self.offset();
                match self.next() {
                    Tok::Str(s) => Filter::Prefix(field, s),
                    t => return err(at, format!("expected a quoted string after PREFIX, found {}", t.describe())),
                }
            }
            Tok::End | Tok::RParen => Filter::Eq(field, Scalar::Bool(true)),
            Tok::Ident(w) if is_keyword(&w) => Filter::Eq(field, Scalar::Bool(true)),
            t => return err(at, format!("expected an operator (=, !=, <, <=, >, >=, IN, CONTAINS, PREFIX), found {}", t.describe())),
        })
    }

    fn number(&mut self, op: &str) -> Result<f64, ParseError> {
        let at = self.offset();
        match self.next() {
            Tok::Num(n, _) => Ok(n),
            t => err(at, format!("expected a number after `{op}`, found {}", t.describe())),
        }
    }

    fn value(&mut self) -> Result<Scalar, ParseError> {
        let at = self.offset();
        match self.next() {
            Tok::Str(s) => Ok(Scalar::Str(s)),
            Tok::Num(n, true) => Ok(Scalar::Int(n as i64)),
            Tok::Num(n, false) => Ok(Scalar::Float(n)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Ok(Scalar::Bool(true)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Ok(Scalar::Bool(false)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("null") => Ok(Scalar::Null),
            t => err(at, format!("expected a value (quoted string, number, true, false, null), found {}", t.describe())),
        }
    }

    fn list(&mut self) -> Result<Vec<Scalar>, ParseError> {
        let at = self.offset();
        if self.next() != Tok::LParen {
            return err(at, "expected `(` after IN");
        }
        let mut out = vec![self.value()?];
        loop {
            let at = self.offset();
            match self.next() {
                Tok::Comma => out.push(self.value()?),
                Tok::RParen => return Ok(out),
                t => return err(at, format!("expected `,` or `)` in the IN list, found {}", t.describe())),
            }
        }
    }
}

fn is_keyword(w: &str) -> bool {
    ["AND", "OR", "NOT", "IN", "CONTAINS", "PREFIX", "EXISTS"].iter().any(|k| w.eq_ignore_ascii_case(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let f = parse("genre = 'rock' AND (year >= 1990 OR tags CONTAINS 'live') AND NOT draft").unwrap();
        let want = Filter::eq("genre", "rock")
            .and(Filter::ge("year", 1990).or(Filter::contains("tags", "live")))
            .and(Filter::eq("draft", true).not());
        assert_eq!(f, want);
    }

    #[test]
    fn precedence_keywords_quotes_and_lists() {
        assert_eq!(parse("a = 1 or b = 2 and c = 3").unwrap(), Filter::eq("a", 1).or(Filter::eq("b", 2).and(Filter::eq("c", 3))));
        assert_eq!(parse("name = 'O''Brien'").unwrap(), Filter::eq("name", "O'Brien"));
        assert_eq!(parse("`my field` != \"x\"").unwrap(), Filter::ne("my field", "x"));
        assert_eq!(
            parse("x IN (1, 2.5, 'a', null)").unwrap(),
            Filter::In("x".into(), vec![Scalar::Int(1), Scalar::Float(2.5), "a".into(), Scalar::Null])
        );
        assert_eq!(parse("EXISTS t AND p PREFIX 'ab'").unwrap(), Filter::exists("t").and(Filter::prefix("p", "ab")));
        assert_eq!(parse("x <= -1.5e3").unwrap(), Filter::le("x", -1500.0));
        assert_eq!(parse("NOT NOT a").unwrap(), Filter::eq("a", true).not().not());
    }

    #[test]
    fn errors_say_where_and_why() {
        let deep = "(".repeat(100);
        let cases = [
            ("genre = ", 8, "expected a value"),
            ("year >= 'x'", 8, "expected a number"),
            ("(a = 1", 6, "expected `)`"),
            ("a = 1 b = 2", 6, "expected AND, OR"),
            ("a = 'open", 4, "unterminated"),
            ("a ~ 1", 2, "unexpected character"),
            ("AND a = 1", 0, "keyword AND"),
            ("x IN (1 2)", 8, "in the IN list"),
            ("", 0, "expected a field name"),
            (deep.as_str(), 64, "nested deeper"),
        ];
        for (text, offset, what) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.offset, offset, "{text:?}: {e}");
            assert!(e.message.contains(what), "{text:?}: {e}");
        }
    }
}
