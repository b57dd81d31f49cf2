//! The measurements the planner's cost model (`stratovec::CostModel`) was fitted to: mean
//! µs per query of an exact scan and of HNSW searches (M 16, ef_construction 100, k 10, ef
//! 16/64/256) over clustered synthetic data, with the recall of each. Not run by default
//! (it takes minutes); run with
//! `DIMS=50,384 NS=500,2000,10000 cargo test --release -p stratovec-indexes --test cost_fit -- --ignored --nocapture`
//! and fit as docs/MEASUREMENTS.md ("Cost model") describes.
#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng};
use std::time::Instant;
use stratovec_indexes::*;

fn data(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..64 * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..64) * dim;
        out.extend((0..dim).map(|j| centres[c + j] + rng.random_range(-0.5..0.5)));
    }
    out
}

#[test]
#[ignore]
fn measure_scan_and_graph_costs() {
    let dims: Vec<usize> = std::env::var("DIMS").unwrap().split(',').map(|s| s.parse().unwrap()).collect();
    let ns: Vec<usize> = std::env::var("NS").unwrap().split(',').map(|s| s.parse().unwrap()).collect();
    for &dim in &dims {
        let all = data(*ns.iter().max().unwrap(), dim, 1);
        let qs = data(200, dim, 2);
        for &n in &ns {
            let v = &all[..n * dim];
            let mut g = HnswGraph::new(dim, Metric::L2, HnswParams { m: 16, ef_construction: 100, ..Default::default() }).unwrap();
            g.insert_batch(v).unwrap();
            let flat = FlatIndex::from_vectors(v.to_vec(), dim, Metric::L2).unwrap();
            let time = |f: &dyn Fn(&[f32]) -> Vec<Candidate>| {
                let t = Instant::now();
                let mut reps = 0;
                while t.elapsed().as_millis() < 300 {
                    for q in qs.chunks_exact(dim) {
                        std::hint::black_box(f(q));
                        reps += 1;
                    }
                }
                t.elapsed().as_secs_f64() * 1e6 / reps as f64
            };
            let exact = time(&|q| flat.search(q, 10, &SearchParams::default(), None).unwrap());
            let mut line = format!("dim {dim} n {n} exact_us {exact:.1}");
            for ef in [16usize, 64, 256] {
                let p = SearchParams::with_ef(ef);
                let gt = time(&|q| g.search(q, 10, &p, None).unwrap());
                let mut hit = 0;
                for q in qs.chunks_exact(dim) {
                    let t: Vec<u32> = flat.search(q, 10, &p, None).unwrap().iter().map(|c| c.row).collect();
                    hit += g.search(q, 10, &p, None).unwrap().iter().filter(|c| t.contains(&c.row)).count();
                }
                line += &format!(" ef{ef}_us {gt:.1} r {:.3}", hit as f64 / 2000.0);
            }
            println!("{line}");
        }
    }
}
