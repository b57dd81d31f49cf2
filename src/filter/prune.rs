//! Segment pruning from manifest statistics: [`may_match`] says whether any row of a
//! segment can match a filter, knowing only each field's [`FieldStats`].

use stratovec_formats::manifest::FieldStats;
use stratovec_formats::metadata::Scalar;

use super::Filter;

/// Whether some row described by `stats` (one entry per field, sorted by name) may match
/// `f`. `false` is a proof that none does; `true` may be wrong (the statistics are a summary).
pub fn may_match(f: &Filter, stats: &[FieldStats]) -> bool {
    may_be(f, stats, true)
}

/// Whether some row may make `f` evaluate to `want`.
fn may_be(f: &Filter, stats: &[FieldStats], want: bool) -> bool {
    match f {
        Filter::And(a, b) if want => may_be(a, stats, true) && may_be(b, stats, true),
        Filter::And(a, b) => may_be(a, stats, false) || may_be(b, stats, false),
        Filter::Or(a, b) if want => may_be(a, stats, true) || may_be(b, stats, true),
        Filter::Or(a, b) => may_be(a, stats, false) && may_be(b, stats, false),
        Filter::Not(a) => may_be(a, stats, !want),
        // A leaf can always be false (on a row without the field, at least); whether it
        // can be true depends on the field's values.
        _ if !want => true,
        leaf => leaf_may_hold(leaf, stats),
    }
}

fn leaf_may_hold(f: &Filter, stats: &[FieldStats]) -> bool {
    let field = |name: &str| stats.binary_search_by(|s| s.name.as_str().cmp(name)).ok().map(|i| &stats[i]);
    let range = |name: &str, ok: &dyn Fn(f64, f64) -> bool| field(name).and_then(|s| s.numbers).is_some_and(|(lo, hi)| ok(lo, hi));
    match f {
        Filter::Eq(name, v) | Filter::Contains(name, v) => field(name).is_some_and(|s| may_equal(s, v)),
        Filter::In(name, vs) => field(name).is_some_and(|s| vs.iter().any(|v| may_equal(s, v))),
        // `!=` also holds on a null value, which `present` does not count.
        Filter::Ne(name, _) => field(name).is_some(),
        Filter::Exists(name) => field(name).is_some_and(|s| s.present > 0),
        Filter::Lt(name, x) => range(name, &|lo, _| lo < *x),
        Filter::Le(name, x) => range(name, &|lo, _| lo <= *x),
        Filter::Gt(name, x) => range(name, &|_, hi| hi > *x),
        Filter::Ge(name, x) => range(name, &|_, hi| hi >= *x),
        Filter::Prefix(name, p) => field(name).is_some_and(|s| match &s.distinct {
            Some(values) => values.iter().any(|v| matches!(v, Scalar::Str(t) if t.starts_with(p.as_str()))),
            None => true,
        }),
        Filter::And(..) | Filter::Or(..) | Filter::Not(..) => true,
    }
}

/// Whether the field may hold `v` (as a value or a list element).
fn may_equal(s: &FieldStats, v: &Scalar) -> bool {
    match v {
        Scalar::Null => true,
        Scalar::Int(_) | Scalar::Float(_) => {
            let x = v.as_f64().unwrap_or(f64::NAN);
            s.numbers.is_some_and(|(lo, hi)| lo <= x && x <= hi)
        }
        Scalar::Bool(_) | Scalar::Str(_) => s.distinct.as_ref().is_none_or(|d| d.contains(v)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use stratovec_formats::metadata::{Metadata, Value};

    use super::*;
    use crate::filter::index::tests::{filter, row};
    use crate::filter::FieldIndex;

    proptest! {
        /// Pruning is sound: when a row matches, the statistics never rule the segment out.
        #[test]
        fn never_prunes_a_segment_with_a_match(rows in proptest::collection::vec(row(), 1..8), f in filter()) {
            let mut index = FieldIndex::default();
            for (i, m) in rows.iter().enumerate() {
                index.add(i as u32, m);
            }
            index.finish();
            if rows.iter().any(|m| f.matches(m)) {
                prop_assert!(may_match(&f, &index.stats().unwrap()), "{f:?} pruned although a row matches");
            }
        }
    }

    #[test]
    fn prunes_what_the_statistics_exclude() {
        let mut index = FieldIndex::default();
        let m: Metadata = [("year".to_string(), Value::Int(1990)), ("genre".to_string(), Value::Str("rock".into()))].into();
        index.add(0, &m);
        index.finish();
        let stats = index.stats().unwrap();
        assert!(!may_match(&Filter::gt("year", 2000), &stats));
        assert!(!may_match(&Filter::eq("genre", "jazz"), &stats));
        assert!(!may_match(&Filter::exists("colour"), &stats));
        assert!(!may_match(&Filter::eq("genre", "jazz").or(Filter::lt("year", 1980)), &stats));
        assert!(may_match(&Filter::eq("genre", "jazz").not(), &stats));
        assert!(may_match(&Filter::range("year", 1980..2000), &stats));
    }

    #[test]
    fn statistics_stay_small_for_long_strings_and_many_fields() {
        use stratovec_formats::manifest::{MAX_STAT_FIELDS, MAX_STAT_STRING};
        let mut index = FieldIndex::default();
        let long = "x".repeat(MAX_STAT_STRING + 1);
        index.add(0, &[("a".to_string(), Value::Str(long.clone())), ("b".to_string(), Value::Str("short".into()))].into());
        index.finish();
        let stats = index.stats().unwrap();
        assert_eq!(stats[0].distinct, None, "a long string is not kept");
        assert!(may_match(&Filter::eq("a", long.as_str()), &stats), "and never prunes");
        assert!(!may_match(&Filter::eq("b", "other"), &stats), "short strings still prune");

        let mut many = FieldIndex::default();
        let m: Metadata = (0..=MAX_STAT_FIELDS).map(|i| (format!("f{i}"), Value::Int(1))).collect();
        many.add(0, &m);
        many.finish();
        assert!(many.stats().is_none(), "more than {MAX_STAT_FIELDS} fields: no statistics");
    }
}
