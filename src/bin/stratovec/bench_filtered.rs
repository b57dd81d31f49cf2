//! `stratovec bench --index filtered`: filtered search through the engine. Every base row
//! gets two attributes: `bucket` (a hash of the row into 0..1000, uncorrelated with the
//! vector) and `cluster` (its nearest centroid of a k-means on the vectors). The database
//! is built, committed and reopened; then each case is searched with its filter and compared
//! with exact filtered ground truth:
//!
//! * `bucket < 500 | 100 | 10 | 1`: selectivity 50%, 10%, 1%, 0.1%;
//! * `cluster = own`: the query's nearest cluster (correlated with the query);
//! * `cluster = other`: a cluster far from the query (anti-correlated).
//!
//! Each case reports recall@k, QPS, p50/p99 and the strategies the planner chose.

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use stratovec::fvecs::Matrix;
use stratovec::indexes::{FlatIndex, Index, Scorer};
use stratovec::{Db, DbOptions, Error, Filter, Record, SearchOptions, SearchParams, WriteBatch};

use super::{bench_dir, invalid, measure_indexed, normalise, open_store, BenchArgs, Common, Measured};
use crate::progress;

/// Clusters of the correlated attribute.
const CLUSTERS: usize = 100;

pub(super) fn run(a: &BenchArgs, c: &Common, base: &Matrix<f32>, queries: &Matrix<f32>) -> Result<(), Error> {
    let mut unit = base.clone();
    if a.metric == stratovec::Metric::Cosine {
        normalise(&mut unit);
    }
    let sp = progress::spinner("k-means for the cluster attribute");
    let centroids = kmeans(&unit, CLUSTERS, a.metric);
    let cluster: Vec<u32> = (0..unit.rows()).into_par_iter().map(|i| nearest(&centroids, unit.row(i), a.metric)).collect();
    sp.finish_and_clear();
    let bucket = |i: usize| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 1000;

    let (dir, temporary) = bench_dir(a)?;
    let options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    let db = pollster::block_on(Db::create(open_store(&dir)?, c.dim, a.metric, options.clone()))?;
    let pb = progress::bar(c.n as u64, "build");
    let t = Instant::now();
    for start in (0..c.n).step_by(20_000) {
        let end = (start + 20_000).min(c.n);
        let mut batch = WriteBatch::new();
        for (i, c) in cluster.iter().enumerate().take(end).skip(start) {
            batch.insert(Record::new(i as u64, base.row(i).to_vec()).with("bucket", bucket(i) as i64).with("cluster", *c as i64));
        }
        db.write(&batch)?;
        pb.set_position(end as u64);
    }
    pollster::block_on(db.commit())?;
    let build_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    drop(db);
    let db = pollster::block_on(Db::open(open_store(&dir)?, options))?;

    let flat = FlatIndex::from_vectors(unit.data.clone(), c.dim, a.metric).map_err(|e| invalid(e.to_string()))?;
    let qc: Vec<u32> = (0..queries.rows()).map(|i| nearest(&centroids, queries.row(i), a.metric)).collect();
    let far: Vec<u32> = (0..queries.rows()).map(|i| farthest(&centroids, queries.row(i), a.metric)).collect();
    type Case<'a> = (&'a str, Box<dyn Fn(usize) -> Option<Filter> + Sync + 'a>, Box<dyn Fn(usize, usize) -> bool + Sync + 'a>);
    let cases: Vec<Case<'_>> = vec![
        ("none", Box::new(|_| None), Box::new(|_, _| true)),
        ("bucket<500 (50%)", Box::new(|_| Some(Filter::lt("bucket", 500))), Box::new(|_, r| bucket(r) < 500)),
        ("bucket<100 (10%)", Box::new(|_| Some(Filter::lt("bucket", 100))), Box::new(|_, r| bucket(r) < 100)),
        ("bucket<10 (1%)", Box::new(|_| Some(Filter::lt("bucket", 10))), Box::new(|_, r| bucket(r) < 10)),
        ("bucket<1 (0.1%)", Box::new(|_| Some(Filter::lt("bucket", 1))), Box::new(|_, r| bucket(r) < 1)),
        ("cluster=own", Box::new(|q| Some(Filter::eq("cluster", qc[q] as i64))), Box::new(|q, r| cluster[r] == qc[q])),
        ("cluster=far", Box::new(|q| Some(Filter::eq("cluster", far[q] as i64))), Box::new(|q, r| cluster[r] == far[q])),
    ];
    if !a.json {
        println!("# filtered: build+commit {build_s:.1} s; {CLUSTERS} k-means clusters; planners {:?}", a.planner);
    }
    for (label, filter_of, pass) in &cases {
        let gt: Vec<Vec<u64>> = (0..queries.rows())
            .into_par_iter()
            .map(|q| {
                let accept = |row: u32| pass(q, row as usize);
                let found = flat.search(queries.row(q), a.k, &Default::default(), Some(&accept)).expect("dimension checked");
                found.iter().map(|c| c.row as u64).collect()
            })
            .collect();
        let matched: f64 = (0..c.n).filter(|&r| pass(0, r)).count() as f64 / c.n as f64;
        let cases = a.ef.iter().flat_map(|ef| a.two_hop_below.iter().map(move |t| (ef, t)));
        for ((&ef, &two_hop_below), planner) in cases.flat_map(|c| a.planner.iter().map(move |p| (c, p))) {
            let brute_force_below = match planner.as_str() {
                "cost" => None,
                n => Some(n.parse::<u64>().map_err(|_| invalid(format!("--planner {n}: `cost` or a number of matches")))?),
            };
            let mut strategies: BTreeMap<String, usize> = BTreeMap::new();
            let r = measure_indexed(queries, &gt, a.k, |qi, q| {
                let opts = SearchOptions {
                    k: a.k,
                    params: SearchParams::with_ef(ef),
                    filter: filter_of(qi),
                    two_hop_below,
                    brute_force_below,
                    ..SearchOptions::default()
                };
                let (hits, explain) = db.search_with(q, &opts)?;
                for s in &explain.sources {
                    *strategies.entry(format!("{:?}", s.strategy)).or_default() += 1;
                }
                Ok(hits.iter().map(|h| h.record.id).collect())
            })?;
            let label = if a.planner.len() > 1 { format!("{label} [{planner}]") } else { label.to_string() };
            print_case(a, c, &label, matched, ef, &r, &strategies, build_s);
        }
    }
    drop(db);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn print_case(
    a: &BenchArgs,
    c: &Common,
    label: &str,
    matched: f64,
    ef: usize,
    r: &Measured,
    strategies: &BTreeMap<String, usize>,
    build_s: f64,
) {
    let plan = strategies.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
    if a.json {
        let line = json!({
            "engine": "stratovec", "index": format!("filtered {label}"), "ef": ef, "recall": r.recall, "qps": r.qps,
            "p50_us": r.p50_us, "p99_us": r.p99_us, "build_s": build_s, "selectivity_q0": matched,
            "strategies": plan, "n": c.n, "dim": c.dim, "threads": c.threads,
        });
        println!("{line}");
    } else {
        println!(
            "{:<18} {ef:>5} {:>8.4} {:>9.0} {:>9.1} {:>9.1}   matched(q0)={:.4} plans={plan}",
            label, r.recall, r.qps, r.p50_us, r.p99_us, matched
        );
    }
}

/// Lloyd's k-means on a 20,000-row sample (fixed seed, 10 iterations): `k × dim` centroids.
fn kmeans(m: &Matrix<f32>, k: usize, metric: stratovec::Metric) -> Matrix<f32> {
    let dim = m.dim;
    let step = (m.rows() / 20_000).max(1);
    let sample: Vec<&[f32]> = (0..m.rows()).step_by(step).map(|i| m.row(i)).collect();
    let mut centroids =
        Matrix { dim, data: sample.iter().step_by((sample.len() / k).max(1)).take(k).flat_map(|r| r.iter().copied()).collect() };
    for _ in 0..10 {
        let assign: Vec<u32> = sample.par_iter().map(|v| nearest(&centroids, v, metric)).collect();
        let mut sums = vec![0f64; centroids.data.len()];
        let mut counts = vec![0usize; centroids.rows()];
        for (v, &c) in sample.iter().zip(&assign) {
            counts[c as usize] += 1;
            for (s, x) in sums[c as usize * dim..][..dim].iter_mut().zip(v.iter()) {
                *s += *x as f64;
            }
        }
        for (c, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            for (dst, s) in centroids.data[c * dim..][..dim].iter_mut().zip(&sums[c * dim..][..dim]) {
                *dst = (*s / n as f64) as f32;
            }
        }
    }
    centroids
}

fn nearest(centroids: &Matrix<f32>, v: &[f32], metric: stratovec::Metric) -> u32 {
    let s = Scorer::new(metric);
    (0..centroids.rows()).min_by(|&a, &b| s.distance(v, centroids.row(a)).total_cmp(&s.distance(v, centroids.row(b)))).unwrap_or(0) as u32
}

fn farthest(centroids: &Matrix<f32>, v: &[f32], metric: stratovec::Metric) -> u32 {
    let s = Scorer::new(metric);
    (0..centroids.rows()).max_by(|&a, &b| s.distance(v, centroids.row(a)).total_cmp(&s.distance(v, centroids.row(b)))).unwrap_or(0) as u32
}
