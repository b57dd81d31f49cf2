//! [`FieldIndex`]: per-field roaring bitmaps and sorted numbers of a set of rows, so a filter
//! is evaluated as bitmap algebra instead of row by row.

use std::collections::HashMap;
use std::ops::Bound;

use roaring::RoaringBitmap;
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

    /// The rows matching `f`.
    pub fn eval(&self, f: &Filter) -> RoaringBitmap {
        let none = RoaringBitmap::new();
        let field = |name: &str| self.fields.get(name);
        let eq = |name: &str, v: &Scalar| field(name).and_then(|f| f.values.get(&key(v)).cloned()).unwrap_or_default();
        match f {
            Filter::Eq(n, v) => eq(n, v),
            Filter::Ne(n, v) => field(n).map_or(none, |f| &f.scalars - &eq(n, v)),
            Filter::Lt(n, x) => self.range(n, Bound::Unbounded, Bound::Excluded(*x)),
            Filter::Le(n, x) => self.range(n, Bound::Unbounded, Bound::Included(*x)),
            Filter::Gt(n, x) => self.range(n, Bound::Excluded(*x), Bound::Unbounded),
            Filter::Ge(n, x) => self.range(n, Bound::Included(*x), Bound::Unbounded),
            Filter::In(n, vs) => vs.iter().map(|v| eq(n, v)).fold(none, |a, b| a | b),
            Filter::Contains(n, v) => {
                let elems = field(n).and_then(|f| f.elements.get(&key(v)).cloned()).unwrap_or_default();
                elems | eq(n, v)
            }
            Filter::Prefix(n, p) => field(n).map_or(none, |f| {
                f.values.iter().filter(|(k, _)| matches!(k, Key::Str(s) if s.starts_with(p.as_str()))).fold(RoaringBitmap::new(), |a, (_, b)| a | b)
            }),
            Filter::Exists(n) => field(n).map_or(none, |f| f.present.clone()),
            Filter::And(a, b) => self.eval(a) & self.eval(b),
            Filter::Or(a, b) => self.eval(a) | self.eval(b),
            Filter::Not(a) => {
                let mut all = RoaringBitmap::new();
                all.insert_range(0..self.rows);
                all - self.eval(a)
            }
        }
    }

    /// Rows whose numeric value of `name` lies between `lo` and `hi`: a binary search of
    /// the sorted values (a scan before [`FieldIndex::finish`]).
    fn range(&self, name: &str, lo: Bound<f64>, hi: Bound<f64>) -> RoaringBitmap {
        let Some(f) = self.fields.get(name) else { return RoaringBitmap::new() };
        let above_lo = |v: f64| match lo {
            Bound::Included(x) => v >= x,
            Bound::Excluded(x) => v > x,
            Bound::Unbounded => true,
        };
        let below_hi = |v: f64| match hi {
            Bound::Included(x) => v <= x,
            Bound::Excluded(x) => v < x,
            Bound::Unbounded => true,
        };
        if !f.sorted {
            return f.numbers.iter().filter(|(v, _)| above_lo(*v) && below_hi(*v)).map(|(_, r)| *r).collect();
        }
        let start = f.numbers.partition_point(|(v, _)| !above_lo(*v));
        let end = f.numbers.partition_point(|(v, _)| below_hi(*v)).max(start);
        let mut rows: Vec<u32> = f.numbers[start..end].iter().map(|(_, r)| *r).collect();
        rows.sort_unstable();
        RoaringBitmap::from_sorted_iter(rows).expect("sorted rows")
    }
}

#[cfg(test)]
mod tests {
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

    fn row() -> impl Strategy<Value = Metadata> {
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

    fn filter() -> impl Strategy<Value = Filter> {
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
            prop_assert_eq!(got, want, "{:?}", f);
        }
    }
}
