//! `stratovec serve` as a real process on 127.0.0.1 (port 0, read from its first line),
//! exercised with a real HTTP client (reqwest): every endpoint, API keys, error statuses, a read-only replica
//! following the writer, and a graceful shutdown on SIGTERM that keeps every acknowledged
//! write.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const RW: &str = "test-read-write-key";
const RO: &str = "test-read-only-key";

/// A running server; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stratovec"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("STRATOVEC_API_KEY", RW)
            .env("STRATOVEC_READ_ONLY_API_KEY", RO)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let line = line.trim();
        let addr = line.strip_prefix("listening on http://").or_else(|| line.strip_prefix("listening on https://"));
        let addr = addr.unwrap_or_else(|| panic!("first line: {line:?}")).to_string();
        Server { child, addr }
    }

    /// A writer over the database at `db` (3 dimensions, L2), with `extra` arguments.
    fn writer(db: &std::path::Path, extra: &[&str]) -> Server {
        let mut args = vec!["--db", db.to_str().unwrap(), "--dim", "3", "--metric", "l2"];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    /// Sends one request; returns the status and the JSON body (`Null` when empty or not JSON).
    fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        let (status, text) = self.raw(method, path, key, body.map(|b| b.to_string()).as_deref());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn raw(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> (u16, String) {
        request(&client(), &format!("http://{}", self.addr), method, path, key, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client (reqwest) with a timeout.
fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// One request to `base` (`http://host:port`); the status and body, or the client's error.
fn request(
    client: &reqwest::blocking::Client,
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> reqwest::Result<(u16, String)> {
    let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let resp = req.send()?;
    let status = resp.status().as_u16();
    Ok((status, resp.text()?))
}

fn records(ids: std::ops::Range<u64>) -> Value {
    let rs: Vec<Value> = ids
        .map(|i| {
            let x = i as f32;
            json!({"id": i, "vector": [x.sin(), x.cos(), 1.0], "metadata": {"genre": if i % 2 == 0 { "rock" } else { "jazz" }, "n": i}})
        })
        .collect();
    json!({ "records": rs })
}

#[test]
fn every_endpoint_with_keys_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let s = Server::writer(&db, &["--max-body-bytes", "100000"]);
    // Health endpoints are open; everything else needs a key.
    assert_eq!(s.raw("GET", "/healthz", None, None).0, 200);
    assert_eq!(s.call("GET", "/readyz", None, None), (200, json!({"status": "healthy", "reasons": []})));
    let (status, body) = s.call("PUT", "/v1/records", None, Some(&records(0..10)));
    assert_eq!((status, body["kind"].as_str()), (401, Some("unauthenticated")));
    assert_eq!(s.call("PUT", "/v1/records", Some("wrong"), Some(&records(0..10))).0, 401);
    assert_eq!(s.call("PUT", "/v1/records", Some(RO), Some(&records(0..10))).0, 403);
    assert_eq!(s.call("PUT", "/v1/records", Some(RW), Some(&records(0..100))), (200, json!({"upserted": 100})));
    // Search: filter, include, k; a read-only key may read.
    let q = json!({"vector": [0.0, 1.0, 1.0], "k": 3, "ef": 32, "filter": "genre = 'rock'", "include": ["metadata"]});
    let (status, body) = s.call("POST", "/v1/search", Some(RO), Some(&q));
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["id"], 0, "{body}");
    assert!(hits.iter().all(|h| h["metadata"]["genre"] == "rock" && h["distance"].is_number()));
    let batch = json!({"vectors": [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], "k": 1});
    let (status, body) = s.call("POST", "/v1/search/batch", Some(RO), Some(&batch));
    assert_eq!((status, body["results"].as_array().unwrap().len()), (200, 2));
    // Errors: JSON {kind, message} with the documented status.
    let (status, body) = s.call("POST", "/v1/search", Some(RO), Some(&json!({"vector": [1.0, 2.0]})));
    assert_eq!((status, body["kind"].as_str()), (400, Some("invalid_argument")), "{body}");
    let (status, body) = s.call("GET", "/v1/records/100000", Some(RO), None);
    assert_eq!((status, body["kind"].as_str()), (404, Some("not_found")));
    assert_eq!(s.call("POST", "/v1/search", Some(RO), Some(&json!({"vector": [1, 0, 0], "filter": "genre = "}))).0, 400);
    let big = "x".repeat(200_000);
    assert_eq!(s.raw("PUT", "/v1/records", Some(RW), Some(&format!("{{\"records\": [], \"pad\": \"{big}\"}}"))).0, 413);
    // Commit, get, delete by ids and by filter, compact, stats, metrics.
    assert_eq!(s.call("POST", "/v1/commit", Some(RO), None).0, 403);
    assert_eq!(s.call("POST", "/v1/commit", Some(RW), None), (200, json!({"version": 2})));
    let (status, body) = s.call("GET", "/v1/records/7", Some(RO), None);
    assert_eq!((status, &body["metadata"]), (200, &json!({"genre": "jazz", "n": 7})));
    assert_eq!(s.call("POST", "/v1/delete", Some(RW), Some(&json!({"ids": [1, 3, 1000]}))), (200, json!({"deleted": 2})));
    assert_eq!(s.call("POST", "/v1/delete", Some(RW), Some(&json!({"filter": "n >= 90"}))), (200, json!({"deleted": 10})));
    assert_eq!(s.call("POST", "/v1/compact", Some(RW), None).0, 200);
    let (status, stats) = s.call("GET", "/v1/stats", Some(RO), None);
    assert_eq!((status, stats["rows_live"].as_u64()), (200, Some(88)), "{stats}");
    assert_eq!(stats["health"]["status"], "healthy");
    // The OpenAPI document (open) names every route.
    let (status, doc) = s.call("GET", "/v1/openapi.json", None, None);
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
    for path in [
        "/v1/records",
        "/v1/records/{id}",
        "/v1/search",
        "/v1/search/batch",
        "/v1/delete",
        "/v1/commit",
        "/v1/compact",
        "/v1/stats",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let (status, text) = s.raw("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(text.contains("stratovec_operations_total{op=\"search\"}"), "{text}");
    assert!(text.contains("stratovec_rows{state=\"live\"} 88"), "{text}");
}

#[test]
fn sigterm_under_load_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let s = Server::writer(&db, &[]);
    let addr = s.addr.clone();
    // Four clients upsert one record per request until the server stops answering.
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let base = format!("http://{addr}");
            std::thread::spawn(move || {
                let client = client();
                let mut acknowledged = Vec::new();
                for i in 0..100_000u64 {
                    let id = c * 1_000_000 + i;
                    let body = json!({"records": [{"id": id, "vector": [1.0, (id % 97) as f32, 0.5]}]}).to_string();
                    match request(&client, &base, "PUT", "/v1/records", Some(RW), Some(&body)) {
                        Ok((200, _)) => acknowledged.push(id),
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    let acknowledged: Vec<u64> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(acknowledged.len() > 100, "the load was too light: {}", acknowledged.len());
    let s = Server::writer(&db, &[]);
    let (_, stats) = s.call("GET", "/v1/stats", Some(RO), None);
    assert!(stats["rows_live"].as_u64().unwrap() >= acknowledged.len() as u64, "{stats}");
    for id in &acknowledged {
        assert_eq!(s.call("GET", &format!("/v1/records/{id}"), Some(RO), None).0, 200, "acknowledged {id} lost");
    }
}

#[test]
fn a_read_only_replica_follows_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let path = db.to_str().unwrap();
    let writer = Server::writer(&db, &[]);
    assert_eq!(writer.call("PUT", "/v1/records", Some(RW), Some(&records(0..20))).0, 200);
    assert_eq!(writer.call("POST", "/v1/commit", Some(RW), None).0, 200);
    let replica = Server::start(&["--db", path, "--read-only", "--refresh-secs", "1"]);
    let (status, body) = replica.call("PUT", "/v1/records", Some(RW), Some(&records(0..1)));
    assert_eq!((status, body["kind"].as_str()), (405, Some("read_only")));
    assert_eq!(replica.call("GET", "/v1/stats", Some(RO), None).1["rows_live"].as_u64(), Some(20));
    assert_eq!(writer.call("PUT", "/v1/records", Some(RW), Some(&records(20..30))).0, 200);
    assert_eq!(writer.call("POST", "/v1/commit", Some(RW), None).0, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = replica.call("GET", "/v1/stats", Some(RO), None).1["rows_live"].as_u64();
        if live == Some(30) {
            break;
        }
        assert!(Instant::now() < deadline, "the replica did not refresh: {live:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(replica.call("GET", "/readyz", None, None).0, 200);
    assert_eq!(replica.call("GET", "/v1/records/25", Some(RO), None).0, 200);
}

#[test]
fn continuous_backup_copies_each_committed_version() {
    let dir = tempfile::tempdir().unwrap();
    let (db, backup) = (dir.path().join("db"), dir.path().join("backup"));
    let s = Server::writer(&db, &["--backup-to", backup.to_str().unwrap(), "--backup-interval-secs", "1"]);
    assert_eq!(s.call("PUT", "/v1/records", Some(RW), Some(&records(0..40))).0, 200);
    let (_, commit) = s.call("POST", "/v1/commit", Some(RW), None);
    let version = commit["version"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, stats) = s.call("GET", "/v1/stats", Some(RO), None);
        let backed_up = std::fs::read_dir(&backup)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(&format!("{version:020}.bin"))))
            .unwrap_or(false);
        if backed_up && stats["last_backup"].is_object() {
            break;
        }
        assert!(Instant::now() < deadline, "no backup of version {version}: {stats}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.terminate().code(), Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_stratovec")).args(["stats", "-d", backup.to_str().unwrap(), "--json"]).output().unwrap();
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(stats["rows_live"].as_u64().unwrap() >= 40, "{stats}");
}

#[test]
fn config_file_flags_and_environment_in_order_of_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9999\"\nrefresh_secs = 7\nmax-body-bytes = 1000\nread-only = true\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stratovec"))
        .args(["serve", "--db", "/nonexistent", "--config", file.to_str().unwrap(), "--print-config", "--max-body-bytes", "2000"])
        .env("STRATOVEC_REFRESH_SECS", "9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in
        ["listen = \"127.0.0.1:9999\"", "refresh-secs = 9", "max-body-bytes = 2000", "read-only = true", "request-timeout-secs = 30"]
    {
        assert!(text.lines().any(|l| l.starts_with(line)), "{line:?} not in:\n{text}");
    }
    std::fs::write(&file, "no_such_setting = 1\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_stratovec")).args(["serve", "--db", "/x", "--config", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting"));
}

#[test]
fn tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let db = dir.path().join("db");
    let s = Server::writer(&db, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    // A client that trusts only this certificate, reaching the server as `localhost`.
    let root = reqwest::Certificate::from_der(certified.cert.der()).unwrap();
    let tls = reqwest::blocking::Client::builder().tls_built_in_root_certs(false).add_root_certificate(root).build().unwrap();
    let port = s.addr.rsplit(':').next().unwrap();
    let base = format!("https://localhost:{port}");
    let (status, body) = request(&tls, &base, "GET", "/healthz", None, None).unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    let search = json!({"vector": [1, 0, 0], "k": 1}).to_string();
    let (status, body) = request(&tls, &base, "POST", "/v1/search", Some(RW), Some(&search)).unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"hits\":[]}"));
    // A client that does not trust the certificate is refused; plain HTTP gets no answer.
    assert!(request(&client(), &base, "GET", "/healthz", None, None).is_err());
    assert!(request(&client(), &format!("http://{}", s.addr), "GET", "/healthz", None, None).is_err());
    assert_eq!(s.terminate().code(), Some(0));
}
