//! The recall monitor: sampled searches re-run exactly in the background, recall@k per
//! strategy with a confidence interval.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, vectors};

fn database(rows: usize, dim: usize, rate: f64) -> (Arc<Db>, Vec<f32>) {
    let options = DbOptions { recall_sample_rate: rate, ..DbOptions::default() };
    let db = block(Db::create(Arc::new(MemoryStore::new()), dim, Metric::L2, options)).unwrap();
    let data = vectors(rows, dim, 17);
    db.insert_batch(&(0..rows as u64).collect::<Vec<_>>(), &data).unwrap();
    block(db.commit()).unwrap();
    (Arc::new(db), data)
}

#[test]
fn exact_plans_report_recall_one() {
    let (db, data) = database(1_000, 16, 1.0);
    let monitor = db.spawn_recall_monitor();
    for q in data.chunks(16).take(50) {
        db.search(q, 10, &SearchParams::default()).unwrap();
    }
    monitor.drain();
    let r = db.stats().recall;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].strategy, r[0].samples, r[0].recall, r[0].ci95), ("exact", 50, 1.0, 0.0));
}

#[test]
fn graph_recall_agrees_with_recall_measured_against_exact_search() {
    let dim = 64;
    let (db, _) = database(20_000, dim, 1.0);
    let monitor = db.spawn_recall_monitor();
    let queries = vectors(300, dim, 99);
    let params = SearchParams::with_ef(10);
    let mut measured = Vec::new();
    for (i, q) in queries.chunks(dim).enumerate() {
        let found: Vec<u64> = db.search(q, 10, &params).unwrap().iter().map(|h| h.id).collect();
        let exact_opts = SearchOptions { k: 10, exact: true, ..SearchOptions::default() };
        let (exact, explain) = db.search_with(q, &exact_opts).unwrap();
        assert!(explain.sources.iter().all(|s| s.strategy == Strategy::Exact));
        measured.push(exact.iter().filter(|h| found.contains(&h.record.id)).count() as f64 / exact.len() as f64);
        if i % 50 == 49 {
            monitor.drain(); // keeps the queue from dropping samples
        }
    }
    monitor.drain();
    let measured = measured.iter().sum::<f64>() / measured.len() as f64;
    let r = db.stats().recall;
    let graph = r.iter().find(|e| e.strategy == "graph").unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(graph.samples, 300);
    assert!(measured < 0.99, "ef 10 should miss some neighbours: {measured}");
    assert!((graph.recall - measured).abs() < 0.02, "monitor {} vs measured {measured}", graph.recall);
    assert!(graph.ci95 > 0.0 && graph.ci95 < 0.05, "{graph:?}");
    monitor.reset();
    assert!(db.stats().recall.is_empty());
}

#[test]
fn no_sampling_without_a_rate() {
    let (db, data) = database(500, 8, 0.0);
    let monitor = db.spawn_recall_monitor();
    db.search(&data[..8], 5, &SearchParams::default()).unwrap();
    monitor.drain();
    assert!(db.stats().recall.is_empty());
}
