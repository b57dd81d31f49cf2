//! Prometheus metrics for an embedded database: install `metrics-exporter-prometheus` as the
//! process's recorder, serve `GET /metrics` on 127.0.0.1, run a small workload, then scrape
//! the endpoint once over HTTP and print what Prometheus would read.
//!
//! ```text
//! cargo run --release --features cli --example prometheus [-- --serve-secs 60]
//! curl http://127.0.0.1:<port>/metrics
//! ```
//!
//! The HTTP side is a few lines of `std::net` so the example shows the two calls that
//! matter: [`stratovec::metrics::describe`] once after installing the recorder, and
//! [`Db::record_gauges`] before each render, so gauges (memtable rows, WAL bytes) are
//! current at scrape time. A server would use its own framework (`stratovec serve` does).
#![allow(clippy::unwrap_used)] // an example: a panic is a clear failure

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use stratovec::{Db, DbOptions, MemoryStore, Metric, SearchParams};

/// Latency buckets of every `_seconds` histogram: 50 µs to 5 s.
pub const BUCKETS: [f64; 16] =
    [50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0];

/// Installs the Prometheus recorder for this process and describes stratovec's metrics.
pub fn install() -> PrometheusHandle {
    let handle =
        PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS).unwrap().install_recorder().unwrap();
    stratovec::metrics::describe();
    handle
}

/// Serves `GET /metrics` on an ephemeral port of 127.0.0.1 from a background thread.
pub fn serve(handle: PrometheusHandle, db: Arc<Db>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &handle, &db);
        }
    });
    addr
}

fn answer(mut stream: TcpStream, handle: &PrometheusHandle, db: &Db) {
    let mut request_line = String::new();
    if BufReader::new(&stream).read_line(&mut request_line).is_err() {
        return;
    }
    let (status, body) = if request_line.starts_with("GET /metrics ") {
        db.record_gauges();
        handle.run_upkeep();
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", String::new())
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).and_then(|_| stream.write_all(body.as_bytes()));
}

/// Inserts 2,000 vectors, commits, deletes a few, searches 200 times and makes one bad call.
pub fn workload(db: &Db) {
    let dim = db.dim();
    let vectors: Vec<f32> = (0..2_000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 + 0.001).collect();
    let ids: Vec<u64> = (0..2_000).collect();
    db.insert_batch(&ids, &vectors).unwrap();
    pollster::block_on(db.commit()).unwrap();
    for id in 0..20 {
        db.delete(id).unwrap();
    }
    for q in vectors.chunks(dim).take(200) {
        db.search(q, 10, &SearchParams::with_ef(64)).unwrap();
    }
    let _ = db.search(&[1.0], 10, &SearchParams::default()); // wrong dimension: an error
}

/// `GET /metrics` over HTTP; returns the body.
pub fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Creates a database named `example` in memory.
pub fn database() -> Arc<Db> {
    let options = DbOptions { name: Some("example".into()), ..DbOptions::default() };
    Arc::new(pollster::block_on(Db::create(Arc::new(MemoryStore::new()), 16, Metric::Cosine, options)).unwrap())
}

fn main() {
    let handle = install();
    let db = database();
    let addr = serve(handle, db.clone());
    workload(&db);
    let body = scrape(addr);
    println!("# scraped http://{addr}/metrics");
    print!("{body}");
    let serve_secs = std::env::args().skip_while(|a| a != "--serve-secs").nth(1).and_then(|s| s.parse::<u64>().ok());
    if let Some(secs) = serve_secs {
        eprintln!("serving http://{addr}/metrics for {secs} s");
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}
