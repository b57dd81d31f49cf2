//! Metadata filters: the [`Filter`] tree, built in Rust or parsed from text
//! ([`Filter::parse`]), evaluated on one row's metadata or, through a [`FieldIndex`], on a
//! whole segment at once as a roaring bitmap of matching rows.

mod index;
mod parse;
mod prune;

use std::collections::BTreeSet;
use std::ops::{Bound, RangeBounds};

pub use index::{Compiled, FieldIndex};
pub use parse::ParseError;
pub use prune::may_match;
use stratovec_formats::metadata::{Metadata, Scalar, Value};

/// Longest filter text [`Filter::parse`] accepts, in bytes (64 KiB).
pub const MAX_FILTER_BYTES: usize = 64 << 10;
/// Most nodes of a filter (leaves, `AND`/`OR`/`NOT`, and each `IN` value).
pub const MAX_FILTER_NODES: usize = 4096;
/// Deepest filter tree accepted. Parsed chains of `AND` or `OR` longer than 16 operands
/// are balanced, so their depth grows with the logarithm of their length.
pub const MAX_FILTER_DEPTH: usize = 128;

/// A predicate over a row's metadata.
///
/// ```
/// use stratovec::Filter;
/// let built = Filter::eq("genre", "rock").and(Filter::range("year", 1990..2000));
/// let parsed = Filter::parse("genre = 'rock' AND (year >= 1990 AND year < 2000)").unwrap();
/// assert_eq!(built, parsed);
/// ```
///
/// Semantics: comparisons with a missing field are false (so `NOT` of them is true);
/// ints and floats compare by value; `<`, `<=`, `>`, `>=` and ranges apply to numbers only;
/// `CONTAINS` matches a list holding the value (or a scalar equal to it); `PREFIX` matches
/// strings; `EXISTS` matches a present, non-null field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// `field = value`.
    Eq(String, Scalar),
    /// `field != value` (the field must be present).
    Ne(String, Scalar),
    /// `field < number`.
    Lt(String, f64),
    /// `field <= number`.
    Le(String, f64),
    /// `field > number`.
    Gt(String, f64),
    /// `field >= number`.
    Ge(String, f64),
    /// `field IN (v1, v2, ...)`.
    In(String, Vec<Scalar>),
    /// `field CONTAINS value`.
    Contains(String, Scalar),
    /// `field PREFIX 'text'`.
    Prefix(String, String),
    /// `EXISTS field`: present and not null.
    Exists(String),
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
}

impl Filter {
    /// `field = value`.
    pub fn eq(field: &str, value: impl Into<Scalar>) -> Self {
        Filter::Eq(field.into(), value.into())
    }
    /// `field != value`.
    pub fn ne(field: &str, value: impl Into<Scalar>) -> Self {
        Filter::Ne(field.into(), value.into())
    }
    /// `field < value`.
    pub fn lt(field: &str, value: impl Into<f64>) -> Self {
        Filter::Lt(field.into(), value.into())
    }
    /// `field <= value`.
    pub fn le(field: &str, value: impl Into<f64>) -> Self {
        Filter::Le(field.into(), value.into())
    }
    /// `field > value`.
    pub fn gt(field: &str, value: impl Into<f64>) -> Self {
        Filter::Gt(field.into(), value.into())
    }
    /// `field >= value`.
    pub fn ge(field: &str, value: impl Into<f64>) -> Self {
        Filter::Ge(field.into(), value.into())
    }
    /// `field IN values`.
    pub fn is_in<T: Into<Scalar>>(field: &str, values: impl IntoIterator<Item = T>) -> Self {
        Filter::In(field.into(), values.into_iter().map(Into::into).collect())
    }
    /// `field CONTAINS value`.
    pub fn contains(field: &str, value: impl Into<Scalar>) -> Self {
        Filter::Contains(field.into(), value.into())
    }
    /// `field PREFIX prefix`.
    pub fn prefix(field: &str, prefix: &str) -> Self {
        Filter::Prefix(field.into(), prefix.into())
    }
    /// `EXISTS field`.
    pub fn exists(field: &str) -> Self {
        Filter::Exists(field.into())
    }
    /// A numeric range, e.g. `Filter::range("year", 1990..2000)` = `year >= 1990 AND year < 2000`.
    ///
    /// # Panics
    /// Never; an unbounded range on both sides becomes `EXISTS field`.
    pub fn range<T: Into<f64> + Copy>(field: &str, r: impl RangeBounds<T>) -> Self {
        let lo = match r.start_bound() {
            Bound::Included(v) => Some(Filter::ge(field, *v)),
            Bound::Excluded(v) => Some(Filter::gt(field, *v)),
            Bound::Unbounded => None,
        };
        let hi = match r.end_bound() {
            Bound::Included(v) => Some(Filter::le(field, *v)),
            Bound::Excluded(v) => Some(Filter::lt(field, *v)),
            Bound::Unbounded => None,
        };
        match (lo, hi) {
            (Some(a), Some(b)) => a.and(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => Filter::exists(field),
        }
    }
    /// `self AND other`.
    pub fn and(self, other: Filter) -> Self {
        Filter::And(Box::new(self), Box::new(other))
    }
    /// `self OR other`.
    pub fn or(self, other: Filter) -> Self {
        Filter::Or(Box::new(self), Box::new(other))
    }
    /// `NOT self`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Filter::Not(Box::new(self))
    }

    /// Parses the text form; the grammar: `=`, `!=`, `<`, `<=`, `>`, `>=`, `IN (...)`, `CONTAINS`, `PREFIX`, `EXISTS`, `AND`, `OR`, `NOT`, parentheses; a bare field means `field = true` (full grammar in `src/filter/parse.rs`).
    ///
    /// # Errors
    /// [`ParseError`] with the byte offset and what was expected there, or for text,
    /// nodes or depth over [`MAX_FILTER_BYTES`], [`MAX_FILTER_NODES`], [`MAX_FILTER_DEPTH`].
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        parse::parse(text)
    }

    /// Checks the filter against [`MAX_FILTER_NODES`] (leaves, operators and `IN` values)
    /// and [`MAX_FILTER_DEPTH`], without recursion (a filter built in code may be deep).
    ///
    /// # Errors
    /// A message naming the limit.
    pub fn check_limits(&self) -> Result<(), String> {
        let mut stack = vec![(self, 1usize)];
        let mut nodes = 0usize;
        while let Some((f, depth)) = stack.pop() {
            if depth > MAX_FILTER_DEPTH {
                return Err(format!("filter nested deeper than {MAX_FILTER_DEPTH}"));
            }
            nodes += match f {
                Filter::In(_, values) => 1 + values.len(),
                _ => 1,
            };
            if nodes > MAX_FILTER_NODES {
                return Err(format!("filter with more than {MAX_FILTER_NODES} nodes"));
            }
            match f {
                Filter::And(a, b) | Filter::Or(a, b) => stack.extend([(&**a, depth + 1), (&**b, depth + 1)]),
                Filter::Not(a) => stack.push((a, depth + 1)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Every field name the filter mentions.
    pub fn fields(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        match self {
            Filter::Eq(f, _)
            | Filter::Ne(f, _)
            | Filter::Lt(f, _)
            | Filter::Le(f, _)
            | Filter::Gt(f, _)
            | Filter::Ge(f, _)
            | Filter::In(f, _)
            | Filter::Contains(f, _)
            | Filter::Prefix(f, _)
            | Filter::Exists(f) => {
                out.insert(f);
            }
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.collect_fields(out);
                b.collect_fields(out);
            }
            Filter::Not(a) => a.collect_fields(out),
        }
    }

    /// Whether a row with metadata `m` matches.
    pub fn matches(&self, m: &Metadata) -> bool {
        let num = |f: &str| m.get(f).and_then(Value::as_scalar).and_then(|s| s.as_f64());
        match self {
            Filter::Eq(f, v) => m.get(f).and_then(Value::as_scalar).is_some_and(|s| same(&s, v)),
            Filter::Ne(f, v) => m.get(f).and_then(Value::as_scalar).is_some_and(|s| !same(&s, v)),
            Filter::Lt(f, x) => num(f).is_some_and(|n| n < *x),
            Filter::Le(f, x) => num(f).is_some_and(|n| n <= *x),
            Filter::Gt(f, x) => num(f).is_some_and(|n| n > *x),
            Filter::Ge(f, x) => num(f).is_some_and(|n| n >= *x),
            Filter::In(f, vs) => m.get(f).and_then(Value::as_scalar).is_some_and(|s| vs.iter().any(|v| same(&s, v))),
            Filter::Contains(f, v) => match m.get(f) {
                Some(Value::List(l)) => l.iter().any(|s| same(s, v)),
                Some(other) => other.as_scalar().is_some_and(|s| same(&s, v)),
                None => false,
            },
            Filter::Prefix(f, p) => matches!(m.get(f), Some(Value::Str(s)) if s.starts_with(p.as_str())),
            Filter::Exists(f) => m.get(f).is_some_and(|v| *v != Value::Null),
            Filter::And(a, b) => a.matches(m) && b.matches(m),
            Filter::Or(a, b) => a.matches(m) || b.matches(m),
            Filter::Not(a) => !a.matches(m),
        }
    }
}

/// Equality of scalars, with ints and floats compared by value.
pub(crate) fn same(a: &Scalar, b: &Scalar) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Value)]) -> Metadata {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn matches_follow_the_documented_semantics() {
        let m = row(&[
            ("genre", "rock".into()),
            ("year", 1995.into()),
            ("tags", vec!["live", "remaster"].into()),
            ("score", 4.5.into()),
            ("draft", Value::Null),
        ]);
        assert!(Filter::eq("genre", "rock").matches(&m));
        assert!(Filter::eq("year", 1995.0).matches(&m), "ints and floats compare by value");
        assert!(Filter::range("year", 1990..2000).matches(&m));
        assert!(!Filter::range("year", 1996..).matches(&m));
        assert!(Filter::contains("tags", "live").matches(&m));
        assert!(!Filter::contains("tags", "studio").matches(&m));
        assert!(Filter::prefix("genre", "ro").matches(&m));
        assert!(Filter::is_in("genre", ["jazz", "rock"]).matches(&m));
        assert!(!Filter::exists("draft").matches(&m), "null counts as absent");
        assert!(!Filter::eq("missing", 1).matches(&m));
        assert!(Filter::eq("missing", 1).not().matches(&m));
        assert!(!Filter::ne("missing", 1).matches(&m));
        assert!(Filter::gt("score", 4).and(Filter::lt("score", 5)).matches(&m));
        assert_eq!(Filter::eq("a", 1).or(Filter::exists("b")).fields().into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
