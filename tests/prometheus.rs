//! The Prometheus example's endpoint, scraped over HTTP and parsed as the text exposition
//! format: every series is a valid sample line, stratovec's metrics carry HELP and TYPE,
//! and the values match the workload.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::collections::HashMap;

#[allow(dead_code)] // the example's main is not called here
#[path = "../examples/prometheus.rs"]
mod example;

/// Parses the text format: `name{labels} value` lines, and `# HELP` / `# TYPE` lines.
/// Returns the samples (name with labels → value) and the declared type of each name.
fn parse(body: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram", "summary"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
        } else if line.starts_with("# HELP ") || line.starts_with('#') {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
            if let Some((name, labels)) = series.split_once('{') {
                assert!(labels.ends_with('}'), "{line}");
                assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "{line}");
            }
            samples.insert(series.to_string(), value);
        }
    }
    (samples, types)
}

#[test]
fn the_metrics_endpoint_serves_the_text_format() {
    let handle = example::install();
    let db = example::database();
    let addr = example::serve(handle, db.clone());
    example::workload(&db);
    let body = example::scrape(addr);
    let (samples, types) = parse(&body);
    let get = |series: &str| *samples.get(series).unwrap_or_else(|| panic!("{series} missing from:\n{body}"));
    assert_eq!(get(r#"stratovec_operations_total{db="example",op="insert"}"#), 1.0);
    assert_eq!(get(r#"stratovec_operations_total{db="example",op="delete"}"#), 20.0);
    assert_eq!(get(r#"stratovec_operations_total{db="example",op="search"}"#), 201.0);
    assert_eq!(get(r#"stratovec_operation_errors_total{db="example",op="search",kind="invalid_argument"}"#), 1.0);
    assert_eq!(get(r#"stratovec_rows{db="example",state="live"}"#), 1980.0, "set at scrape time, after the deletes");
    assert_eq!(get(r#"stratovec_memtable_rows{db="example"}"#), 0.0);
    assert_eq!(get(r#"stratovec_commit_rows_total{db="example"}"#), 2000.0);
    // A histogram with the 50 µs .. 5 s buckets, counting the 200 successful searches
    // (2,000 rows of 16 dimensions: the cost model scans them exactly).
    assert_eq!(types["stratovec_search_duration_seconds"], "histogram");
    assert_eq!(get(r#"stratovec_search_duration_seconds_count{db="example",strategy="exact"}"#), 200.0);
    assert!(samples.contains_key(r#"stratovec_search_duration_seconds_bucket{db="example",strategy="exact",le="0.00005"}"#), "{body}");
    assert_eq!(get(r#"stratovec_search_duration_seconds_bucket{db="example",strategy="exact",le="+Inf"}"#), 200.0);
    assert_eq!(types["stratovec_operations_total"], "counter");
    assert_eq!(types["stratovec_rows"], "gauge");
    assert!(body.contains("# HELP stratovec_operations_total "), "{body}");
}
