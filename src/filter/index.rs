//! [`FieldIndex`]: per-field roaring bitmaps and sorted numbers of a set of rows, so a filter
//! is evaluated as bitmap algebra instead of row by row.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Bound;

use roaring::RoaringBitmap;
use stratovec_formats::manifest::{FieldStats, MAX_DISTINCT, MAX_STAT_FIELDS, MAX_STAT_STRING};
use stratovec_formats::metadata::{Metadata, Scalar, Value};

use super::Filter;

/// A scalar as a hash key; numbers by their f64 value (so `1` and `1.0` are one key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
}

fn key(s: &Scalar) -> Key {
    match s {
        Scalar::Null => Key::Null,
        Scalar::Bool(b) => Key::Bool(*b),
        Scalar::Str(s) => Key::Str(s.clone()),
        n => {
            let x = n.as_f64().unwrap_or(0.0);
            Key::Num(if x == 0.0 { 0 } else { x.to_bits() })
        }
    }
}

#[derive(Debug, Default)]
struct FieldRows {
    /// Rows where the field holds a scalar (null included).
    scalars: RoaringBitmap,
    /// Rows where the field is present and not null.
    present: RoaringBitmap,
    /// Rows per scalar value.
    values: HashMap<Key, RoaringBitmap>,
    /// Rows per list element.
    elements: HashMap<Key, RoaringBitmap>,
    /// `(value, row)` of numeric scalars, sorted by value once [`FieldIndex::finish`] ran.
    numbers: Vec<(f64, u32)>,
    sorted: bool,
    /// The numeric scalar of each row (NaN where absent), for per-row range checks.
    by_row: Vec<f64>,
}

/// Indexes of the metadata of rows `0..rows()`: for each field, a roaring bitmap of the rows
/// holding each value (and each list element), of the rows where it is present, and its
/// numeric values sorted for range predicates. [`FieldIndex::eval`] answers a [`Filter`]
/// with set operations; it agrees with [`Filter::matches`] row by row.
#[derive(Debug, Default)]
pub struct FieldIndex {
    rows: u32,
    fields: HashMap<String, FieldRows>,
}

impl FieldIndex {
    /// Adds row `row` with metadata `m` (rows may come in any order, each once).
    pub fn add(&mut self, row: u32, m: &Metadata) {
        self.rows = self.rows.max(row + 1);
        for (name, v) in m {
            let f = self.fields.entry(name.clone()).or_default();
            if *v != Value::Null {
                f.present.insert(row);
            }
            match v {
                Value::List(items) => {
                    for s in items {
                        f.elements.entry(key(s)).or_default().insert(row);
                    }
                }
                v => {
                    let s = v.as_scalar().expect("not a list");
                    f.scalars.insert(row);
                    if let Some(x) = s.as_f64() {
                        f.numbers.push((x, row));
                        f.sorted = false;
                        if f.by_row.len() <= row as usize {
                            f.by_row.resize(row as usize + 1, f64::NAN);
                        }
                        f.by_row[row as usize] = x;
                    }
                    f.values.entry(key(&s)).or_default().insert(row);
                }
            }
        }
    }

    /// Extends the row count to `rows` (rows without metadata match no field).
    pub fn set_rows(&mut self, rows: u32) {
        self.rows = self.rows.max(rows);
    }

    /// Sorts the numeric values for binary-searched ranges (call after the last `add`).
    pub fn finish(&mut self) {
        for f in self.fields.values_mut() {
            f.numbers.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            f.sorted = true;
        }
    }

    /// Rows indexed.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Whether any row has field `name`.
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// The field names seen.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// Per-field statistics (sorted by name) for the manifest, from which
    /// [`super::may_match`] decides whether any row can match a filter; `None` for more
    /// than [`MAX_STAT_FIELDS`] fields (the manifest stays small; such a segment is never
    /// pruned).
    pub fn stats(&self) -> Option<Vec<FieldStats>> {
        if self.fields.len() > MAX_STAT_FIELDS {
            return None;
        }
        let mut out: Vec<FieldStats> = self
            .fields
            .iter()
            .map(|(name, f)| {
                let keys = || f.values.keys().chain(f.elements.keys());
                let numbers = keys().filter_map(|k| match k {
                    Key::Num(bits) => Some(f64::from_bits(*bits)),
                    _ => None,
                });
                let numbers = numbers.fold(None, |acc: Option<(f64, f64)>, x| Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x)))));
                let mut distinct: Vec<Scalar> = keys()
                    .filter_map(|k| match k {
                        Key::Bool(b) => Some(Scalar::Bool(*b)),
                        Key::Str(s) => Some(Scalar::Str(s.clone())),
                        Key::Null | Key::Num(_) => None,
                    })
                    .collect();
                distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                distinct.dedup();
                let short = |v: &Scalar| !matches!(v, Scalar::Str(t) if t.len() > MAX_STAT_STRING);
                let distinct = (distinct.len() <= MAX_DISTINCT && distinct.iter().all(short)).then_some(distinct);
                FieldStats { name: name.clone(), present: f.present.len(), numbers, distinct }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Some(out)
    }

    /// The rows matching `f`.
    pub fn eval(&self, f: &Filter) -> RoaringBitmap {
        self.compile(f).materialize()
    }

    /// Prepares `f` for this index: equality-like leaves become (borrowed) bitmaps, ranges
    /// stay per-row checks, so a large match set need not be materialized.
    pub fn compile(&self, f: &Filter) -> Compiled<'_> {
        let field = |name: &str| self.fields.get(name);
        fn set(b: Option<&RoaringBitmap>) -> Compiled<'_> {
            Compiled::Set(b.map_or(Cow::Owned(RoaringBitmap::new()), Cow::Borrowed))
        }
        let eq = |name: &str, v: &Scalar| field(name).and_then(|f| f.values.get(&key(v)));
        let owned = |b: RoaringBitmap| Compiled::Set(Cow::Owned(b));
        match f {
            Filter::Eq(n, v) => set(eq(n, v)),
            Filter::Ne(n, v) => {
                owned(field(n).map_or_else(RoaringBitmap::new, |f| eq(n, v).map_or_else(|| f.scalars.clone(), |e| &f.scalars - e)))
            }
            Filter::Lt(n, x) => self.range(n, Bound::Unbounded, Bound::Excluded(*x)),
            Filter::Le(n, x) => self.range(n, Bound::Unbounded, Bound::Included(*x)),
            Filter::Gt(n, x) => self.range(n, Bound::Excluded(*x), Bound::Unbounded),
            Filter::Ge(n, x) => self.range(n, Bound::Included(*x), Bound::Unbounded),
            Filter::In(n, vs) => owned(vs.iter().filter_map(|v| eq(n, v)).fold(RoaringBitmap::new(), |a, b| a | b)),
            Filter::Contains(n, v) => {
                let elems = field(n).and_then(|f| f.elements.get(&key(v)));
                owned(elems.cloned().unwrap_or_default() | eq(n, v).cloned().unwrap_or_default())
            }
            Filter::Prefix(n, p) => owned(field(n).map_or_else(RoaringBitmap::new, |f| {
                f.values
                    .iter()
                    .filter(|(k, _)| matches!(k, Key::Str(s) if s.starts_with(p.as_str())))
                    .fold(RoaringBitmap::new(), |a, (_, b)| a | b)
            })),
            Filter::Exists(n) => set(field(n).map(|f| &f.present)),
            Filter::And(a, b) => Compiled::And(Box::new(self.compile(a)), Box::new(self.compile(b))),
            Filter::Or(a, b) => Compiled::Or(Box::new(self.compile(a)), Box::new(self.compile(b))),
            Filter::Not(a) => Compiled::Not(Box::new(self.compile(a)), self.rows),
        }
    }

    fn range(&self, name: &str, lo: Bound<f64>, hi: Bound<f64>) -> Compiled<'_> {
        match self.fields.get(name) {
            Some(f) => Compiled::Range { numbers: &f.numbers, sorted: f.sorted, by_row: &f.by_row, lo, hi },
            None => Compiled::Set(Cow::Owned(RoaringBitmap::new())),
        }
    }
}

/// A filter prepared against one [`FieldIndex`] ([`FieldIndex::compile`]): answers
/// "does row r match" in O(1) per leaf, estimates the match count without materializing
/// it, or materializes the exact bitmap.
#[derive(Debug)]
pub enum Compiled<'a> {
    /// Rows of a bitmap.
    Set(Cow<'a, RoaringBitmap>),
    /// Rows whose numeric value lies between `lo` and `hi`.
    Range {
        /// `(value, row)`, sorted by value when `sorted`.
        numbers: &'a [(f64, u32)],
        /// Whether `numbers` is sorted.
        sorted: bool,
        /// Value by row (NaN where absent).
        by_row: &'a [f64],
        /// Lower bound.
        lo: Bound<f64>,
        /// Upper bound.
        hi: Bound<f64>,
    },
    /// Both.
    And(Box<Compiled<'a>>, Box<Compiled<'a>>),
    /// Either.
    Or(Box<Compiled<'a>>, Box<Compiled<'a>>),
    /// Rows `0..rows` not matching.
    Not(Box<Compiled<'a>>, u32),
}

fn in_bounds(v: f64, lo: Bound<f64>, hi: Bound<f64>) -> bool {
    let above = match lo {
        Bound::Included(x) => v >= x,
        Bound::Excluded(x) => v > x,
        Bound::Unbounded => !v.is_nan(),
    };
    let below = match hi {
        Bound::Included(x) => v <= x,
        Bound::Excluded(x) => v < x,
        Bound::Unbounded => !v.is_nan(),
    };
    above && below
}

impl Compiled<'_> {
    /// Whether row `row` matches.
    pub fn contains(&self, row: u32) -> bool {
        match self {
            Compiled::Set(b) => b.contains(row),
            Compiled::Range { by_row, lo, hi, .. } => by_row.get(row as usize).is_some_and(|v| in_bounds(*v, *lo, *hi)),
            Compiled::And(a, b) => a.contains(row) && b.contains(row),
            Compiled::Or(a, b) => a.contains(row) || b.contains(row),
            Compiled::Not(a, rows) => row < *rows && !a.contains(row),
        }
    }

    /// An estimate of the match count: exact for leaves, the smaller side for `AND`, the
    /// (capped) sum for `OR`.
    pub fn estimate(&self) -> u64 {
        match self {
            Compiled::Set(b) => b.len(),
            Compiled::Range { numbers, sorted: true, lo, hi, .. } => {
                let (start, end) = sorted_run(numbers, *lo, *hi);
                (end - start) as u64
            }
            Compiled::Range { numbers, lo, hi, .. } => numbers.iter().filter(|(v, _)| in_bounds(*v, *lo, *hi)).count() as u64,
            Compiled::And(a, b) => a.estimate().min(b.estimate()),
            Compiled::Or(a, b) => a.estimate().saturating_add(b.estimate()),
            Compiled::Not(a, rows) => (*rows as u64).saturating_sub(a.estimate()),
        }
    }

    /// The exact set of matching rows.
    pub fn materialize(&self) -> RoaringBitmap {
        match self {
            Compiled::Set(b) => b.as_ref().clone(),
            Compiled::Range { numbers, sorted: true, lo, hi, .. } => {
                let (start, end) = sorted_run(numbers, *lo, *hi);
                let mut rows: Vec<u32> = numbers[start..end].iter().map(|(_, r)| *r).collect();
                rows.sort_unstable();
                RoaringBitmap::from_sorted_iter(rows).expect("sorted rows")
            }
            Compiled::Range { numbers, lo, hi, .. } => numbers.iter().filter(|(v, _)| in_bounds(*v, *lo, *hi)).map(|(_, r)| *r).collect(),
            Compiled::And(a, b) => a.materialize() & b.materialize(),
            Compiled::Or(a, b) => a.materialize() | b.materialize(),
            Compiled::Not(a, rows) => {
                let mut all = RoaringBitmap::new();
                all.insert_range(0..*rows);
                all - a.materialize()
            }
        }
    }
}

/// The index range `start..end` of sorted `numbers` whose values lie in the bounds.
fn sorted_run(numbers: &[(f64, u32)], lo: Bound<f64>, hi: Bound<f64>) -> (usize, usize) {
    let start = numbers.partition_point(|(v, _)| !in_bounds(*v, lo, Bound::Unbounded));
    let end = numbers.partition_point(|(v, _)| in_bounds(*v, Bound::Unbounded, hi)).max(start);
    (start, end)
}

/// Strategies shared by the filter tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Scalar> {
        prop_oneof![
            Just(Scalar::Null),
            any::<bool>().prop_map(Scalar::Bool),
            (-3i64..3).prop_map(Scalar::Int),
            (-3i32..3).prop_map(|x| Scalar::Float(x as f64 / 2.0)),
            "[ab]{0,2}".prop_map(Scalar::Str),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![3 => scalar().prop_map(Value::from), 1 => proptest::collection::vec(scalar(), 0..3).prop_map(Value::List)]
    }

    pub(crate) fn row() -> impl Strategy<Value = Metadata> {
        proptest::collection::btree_map(prop_oneof![Just("x".to_string()), Just("y".to_string())], value(), 0..3)
    }

    fn leaf() -> impl Strategy<Value = Filter> {
        let field = prop_oneof![Just("x"), Just("y"), Just("z")];
        (field, scalar(), -3.0f64..3.0, "[ab]{0,1}", 0..8u8).prop_map(|(f, v, x, p, op)| match op {
            0 => Filter::eq(f, v),
            1 => Filter::ne(f, v),
            2 => Filter::lt(f, x),
            3 => Filter::ge(f, x),
            4 => Filter::is_in(f, [v, Scalar::Int(1)]),
            5 => Filter::contains(f, v),
            6 => Filter::prefix(f, &p),
            _ => Filter::exists(f),
        })
    }

    pub(crate) fn filter() -> impl Strategy<Value = Filter> {
        leaf().prop_recursive(3, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
                inner.prop_map(Filter::not),
            ]
        })
    }

    proptest! {
        #[test]
        fn bitmaps_agree_with_row_by_row_matching(rows in proptest::collection::vec(row(), 0..40), f in filter(), sorted in any::<bool>()) {
            let mut idx = FieldIndex::default();
            for (i, m) in rows.iter().enumerate() {
                idx.add(i as u32, m);
            }
            idx.set_rows(rows.len() as u32);
            if sorted {
                idx.finish();
            }
            let want: Vec<u32> = rows.iter().enumerate().filter(|(_, m)| f.matches(m)).map(|(i, _)| i as u32).collect();
            let got: Vec<u32> = idx.eval(&f).iter().collect();
            prop_assert_eq!(&got, &want, "{:?}", f);
            let compiled = idx.compile(&f);
            let by_row: Vec<u32> = (0..rows.len() as u32 + 2).filter(|&r| compiled.contains(r)).collect();
            prop_assert_eq!(by_row, want, "per-row {:?}", f);
        }
    }
}
