//! `stratovec serve` (feature `server`): the database over HTTP with a JSON API under
//! `/v1`, health and readiness probes, Prometheus metrics, API keys and a graceful
//! shutdown on SIGTERM/SIGINT.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `PUT /v1/records` | `{"records": [{"id", "vector", "metadata"?, "payload"? (base64)}]}` (upserts) | `{"upserted": n}` |
//! | `POST /v1/search` | `{"vector", "k"?, "ef"?, "filter"?, "include"?: ["metadata", "vector", "payload"], "exact"?}` | `{"hits": [{"id", "distance", "metadata"?, …}]}` |
//! | `POST /v1/search/batch` | `{"vectors": [[..], ..], "k"?, "ef"?, "filter"?, "include"?}` | `{"results": [{"hits": [..]}, ..]}` |
//! | `POST /v1/delete` | `{"ids": [..]}` or `{"filter": "…"}` | `{"deleted": n}` |
//! | `POST /v1/commit` | | `{"version": v}` |
//! | `POST /v1/compact` | | `{"merges", "rows_in", "rows_out", "seconds"}` |
//! | `GET /v1/records/{id}` | | the record, or 404 |
//! | `GET /v1/stats` | | `stratovec stats --json`'s object |
//! | `GET /healthz` | | 200 while the process runs |
//! | `GET /readyz` | | 200 when open and not Unhealthy (a replica: refreshed within `--max-replica-lag-secs`), else 503 with the health |
//! | `GET /metrics` | | Prometheus text |
//! | `GET /v1/openapi.json` | | the OpenAPI 3.1 document of all of this |
//!
//! Errors are JSON `{"kind", "message"}` with the status of [`status_of`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use stratovec::{Db, DbOptions, Error, ErrorKind, Filter, Include, Metric, ReadOnlyDb, SearchOptions, SearchParams, WriteBatch};

/// Most queries in one `POST /v1/search/batch`.
const MAX_SEARCH_BATCH: usize = 10_000;

/// Options of `stratovec serve`; every flag also reads a `STRATOVEC_*` variable.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Store URI of the database (a directory, file://, s3://bucket/prefix?endpoint=…).
    #[arg(long, env = "STRATOVEC_DB")]
    db: String,
    /// Address to listen on.
    #[arg(long, env = "STRATOVEC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve a read-only replica that follows the writer's manifests.
    #[arg(long, env = "STRATOVEC_READ_ONLY")]
    read_only: bool,
    /// Replica: seconds between refreshes.
    #[arg(long, env = "STRATOVEC_REFRESH_SECS", default_value_t = 5)]
    refresh_secs: u64,
    /// Replica: not ready when the last successful refresh is older than this.
    #[arg(long, env = "STRATOVEC_MAX_REPLICA_LAG_SECS", default_value_t = 60.0)]
    max_replica_lag_secs: f64,
    /// Writer: create the database with this dimension when the store holds none.
    #[arg(long, env = "STRATOVEC_DIM")]
    dim: Option<usize>,
    /// Writer: metric of a database created here.
    #[arg(long, env = "STRATOVEC_METRIC", default_value = "cosine")]
    metric: Metric,
    /// Name of the database: the `db` label of its metrics.
    #[arg(long, env = "STRATOVEC_NAME")]
    name: Option<String>,
    /// Largest request body, bytes.
    #[arg(long, env = "STRATOVEC_MAX_BODY_BYTES", default_value_t = 64 << 20)]
    max_body_bytes: usize,
    /// Requests handled at once; more wait in the listener's backlog.
    #[arg(long, env = "STRATOVEC_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    max_concurrent_requests: usize,
    /// A request running longer than this gets 503.
    #[arg(long, env = "STRATOVEC_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may finish before the database closes.
    #[arg(long, env = "STRATOVEC_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    shutdown_timeout_secs: u64,
    /// Require an API key for /metrics too.
    #[arg(long, env = "STRATOVEC_METRICS_AUTH")]
    metrics_auth: bool,
    /// Back up the database to this store URI every --backup-interval-secs (incremental:
    /// only new files are copied); a failure is the health reason `backup_failed`.
    #[arg(long, env = "STRATOVEC_BACKUP_TO")]
    backup_to: Option<String>,
    /// Seconds between continuous backups (the first one runs at start).
    #[arg(long, env = "STRATOVEC_BACKUP_INTERVAL_SECS", default_value_t = 3600)]
    backup_interval_secs: u64,
    /// A TOML file of these settings by their long names (`listen = "0.0.0.0:8080"`);
    /// flags and `STRATOVEC_*` variables take precedence over it.
    #[arg(long, env = "STRATOVEC_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM; needs --tls-key).
    #[arg(long, env = "STRATOVEC_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "STRATOVEC_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Print the effective settings as TOML, each with its source, and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// The database this server holds.
enum Handle {
    Writer(Arc<Db>),
    Replica(Arc<ReadOnlyDb>),
}

struct App {
    handle: Handle,
    keys: crate::serve_auth::Keys,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    metrics_auth: bool,
}

/// An error answer: status from the kind (or the refused key), JSON body `{kind, message}`,
/// `Retry-After` when retrying helps.
enum ApiError {
    Engine(Error),
    Denied(crate::serve_auth::Denied),
}

#[allow(non_snake_case)] // reads as the tuple variant it replaced
fn ApiError(e: Error) -> ApiError {
    ApiError::Engine(e)
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Engine(e)
    }
}

impl From<crate::serve_auth::Denied> for ApiError {
    fn from(d: crate::serve_auth::Denied) -> Self {
        ApiError::Denied(d)
    }
}

/// The HTTP status of each [`ErrorKind`].
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable | ErrorKind::Locked | ErrorKind::Poisoned | ErrorKind::Fenced | ErrorKind::Closed => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match &self {
            ApiError::Engine(e) => (status_of(e.kind()), e.kind().name(), e.message().to_string()),
            ApiError::Denied(d) => {
                let (status, kind, message) = d.answer();
                (status, kind, message.to_string())
            }
        };
        let body = Json(json!({"kind": kind, "message": message}));
        let mut r = (status, body).into_response();
        if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        }
        r
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(Error::new(ErrorKind::InvalidArgument, message.into()))
}

type ApiResult = Result<Response, ApiError>;

/// Runs `f` on the blocking pool (the engine's calls are synchronous and CPU-bound).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError),
        Err(e) => Err(ApiError(Error::new(ErrorKind::Unavailable, format!("request task failed: {e}")))),
    }
}

impl App {
    fn writer(&self) -> Result<Arc<Db>, ApiError> {
        match &self.handle {
            Handle::Writer(db) => Ok(db.clone()),
            Handle::Replica(_) => Err(ApiError(Error::new(ErrorKind::ReadOnly, "this server is a read-only replica"))),
        }
    }

    fn search_with(&self, q: &[f32], opts: &SearchOptions) -> stratovec::Result<(Vec<stratovec::SearchHit>, stratovec::Explain)> {
        match &self.handle {
            Handle::Writer(db) => db.search_with(q, opts),
            Handle::Replica(db) => db.search_with(q, opts),
        }
    }

    fn get_record(&self, id: u64, include: Include) -> stratovec::Result<Option<stratovec::RecordView>> {
        match &self.handle {
            Handle::Writer(db) => db.get_record(id, include),
            Handle::Replica(db) => db.get_record(id, include),
        }
    }

    fn stats_and_health(&self) -> (stratovec::Stats, stratovec::Health) {
        match &self.handle {
            Handle::Writer(db) => (db.stats(), db.health()),
            Handle::Replica(db) => (db.stats(), db.health()),
        }
    }

    fn record_gauges(&self) {
        match &self.handle {
            Handle::Writer(db) => db.record_gauges(),
            Handle::Replica(db) => db.record_gauges(),
        }
    }
}

fn parse_include(v: Option<&Value>) -> Result<Include, ApiError> {
    let mut inc = Include { vector: false, metadata: false, payload: false };
    let Some(v) = v else {
        inc.metadata = true;
        return Ok(inc);
    };
    for item in v.as_array().ok_or_else(|| invalid("\"include\" must be an array of \"vector\", \"metadata\", \"payload\""))? {
        match item.as_str() {
            Some("vector") => inc.vector = true,
            Some("metadata") => inc.metadata = true,
            Some("payload") => inc.payload = true,
            _ => return Err(invalid(format!("unknown include {item}"))),
        }
    }
    Ok(inc)
}

fn parse_vector(v: Option<&Value>, what: &str) -> Result<Vec<f32>, ApiError> {
    v.and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("\"{what}\" must be an array of numbers")))?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32).ok_or_else(|| invalid(format!("\"{what}\" must be an array of numbers"))))
        .collect()
}

/// Search options from a request body (`k`, `ef`, `filter`, `include`, `exact`).
fn search_options(body: &Value) -> Result<SearchOptions, ApiError> {
    let k = body.get("k").map_or(Some(10), Value::as_u64).ok_or_else(|| invalid("\"k\" must be a positive integer"))? as usize;
    let mut params = SearchParams::default();
    if let Some(ef) = body.get("ef") {
        params.ef_search = ef.as_u64().ok_or_else(|| invalid("\"ef\" must be a positive integer"))? as usize;
    }
    let filter = match body.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => Some(
            Filter::parse(f.as_str().ok_or_else(|| invalid("\"filter\" must be a string"))?)
                .map_err(|e| invalid(format!("filter: {e}")))?,
        ),
    };
    let include = parse_include(body.get("include"))?;
    let exact = body.get("exact").and_then(Value::as_bool).unwrap_or(false);
    Ok(SearchOptions { k, params, filter, include, exact, ..SearchOptions::default() })
}

fn hits_json(hits: &[stratovec::SearchHit]) -> Value {
    Value::Array(
        hits.iter()
            .map(|h| {
                let mut j = stratovec::record_to_json(&h.record);
                j["distance"] = json!(h.distance);
                j
            })
            .collect(),
    )
}

async fn search(State(app): State<Arc<App>>, headers: HeaderMap, Json(body): Json<Value>) -> ApiResult {
    app.keys.check(&headers, false)?;
    let q = parse_vector(body.get("vector"), "vector")?;
    let opts = search_options(&body)?;
    let app2 = app.clone();
    let (hits, _) = blocking(move || app2.search_with(&q, &opts)).await?;
    Ok(Json(json!({"hits": hits_json(&hits)})).into_response())
}

async fn search_batch(State(app): State<Arc<App>>, headers: HeaderMap, Json(body): Json<Value>) -> ApiResult {
    app.keys.check(&headers, false)?;
    let vectors = body.get("vectors").and_then(Value::as_array).ok_or_else(|| invalid("\"vectors\" must be an array of vectors"))?;
    if vectors.len() > MAX_SEARCH_BATCH {
        return Err(invalid(format!("{} queries in one batch (at most {MAX_SEARCH_BATCH})", vectors.len())));
    }
    let queries = vectors.iter().map(|v| parse_vector(Some(v), "vectors")).collect::<Result<Vec<_>, _>>()?;
    let opts = search_options(&body)?;
    let app2 = app.clone();
    let results = blocking(move || {
        use rayon::prelude::*;
        queries.par_iter().map(|q| app2.search_with(q, &opts).map(|(h, _)| json!({"hits": hits_json(&h)}))).collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(Json(json!({"results": results})).into_response())
}

async fn put_records(State(app): State<Arc<App>>, headers: HeaderMap, Json(body): Json<Value>) -> ApiResult {
    app.keys.check(&headers, true)?;
    let db = app.writer()?;
    let records = body.get("records").and_then(Value::as_array).ok_or_else(|| invalid("\"records\" must be an array of records"))?;
    let mut batch = WriteBatch::new();
    for (i, r) in records.iter().enumerate() {
        batch.upsert(stratovec::record_from_json(r).map_err(|e| invalid(format!("record {i}: {e}")))?);
    }
    let n = records.len();
    blocking(move || db.write(&batch)).await?;
    Ok(Json(json!({"upserted": n})).into_response())
}

async fn delete(State(app): State<Arc<App>>, headers: HeaderMap, Json(body): Json<Value>) -> ApiResult {
    app.keys.check(&headers, true)?;
    let db = app.writer()?;
    if let Some(f) = body.get("filter").and_then(Value::as_str) {
        let filter = Filter::parse(f).map_err(|e| invalid(format!("filter: {e}")))?;
        let n = blocking(move || db.delete_by_filter(&filter)).await?;
        return Ok(Json(json!({"deleted": n})).into_response());
    }
    let ids = body.get("ids").and_then(Value::as_array).ok_or_else(|| invalid("give \"ids\" (an array of keys) or \"filter\""))?;
    let ids =
        ids.iter().map(|v| v.as_u64().ok_or_else(|| invalid("\"ids\" must be unsigned integers"))).collect::<Result<Vec<u64>, _>>()?;
    let n = blocking(move || {
        let mut batch = WriteBatch::new();
        let live = ids.iter().filter(|id| db.contains(**id)).count();
        for id in ids {
            batch.delete(id);
        }
        db.write(&batch).map(|()| live)
    })
    .await?;
    Ok(Json(json!({"deleted": n})).into_response())
}

async fn commit(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    app.keys.check(&headers, true)?;
    let db = app.writer()?;
    let version = blocking(move || pollster::block_on(db.commit())).await?;
    Ok(Json(json!({"version": version})).into_response())
}

async fn compact(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    app.keys.check(&headers, true)?;
    let db = app.writer()?;
    let r = blocking(move || pollster::block_on(db.compact())).await?;
    Ok(Json(json!({"merges": r.merges, "rows_in": r.rows_in, "rows_out": r.rows_out, "seconds": r.seconds})).into_response())
}

async fn get_record(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<u64>) -> ApiResult {
    app.keys.check(&headers, false)?;
    let all = Include { vector: true, metadata: true, payload: true };
    let app2 = app.clone();
    match blocking(move || app2.get_record(id, all)).await? {
        Some(r) => Ok(Json(stratovec::record_to_json(&r)).into_response()),
        None => Err(ApiError(Error::new(ErrorKind::NotFound, format!("no live record with id {id}")))),
    }
}

async fn stats(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    app.keys.check(&headers, false)?;
    let (s, h) = app.stats_and_health();
    Ok(Json(crate::report::stats_json(&s, &h)).into_response())
}

async fn openapi() -> Json<Value> {
    Json(crate::serve_openapi::document())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let (_, h) = app.stats_and_health();
    let lagging = matches!(app.handle, Handle::Replica(_)) && h.reasons.iter().any(|r| r.code == "replica_lag");
    let ready = h.status != stratovec::HealthStatus::Unhealthy && !lagging;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(crate::report::health_json(&h))).into_response()
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    if app.metrics_auth {
        app.keys.check(&headers, false)?;
    }
    app.record_gauges();
    app.metrics.run_upkeep();
    Ok(([("content-type", "text/plain; version=0.0.4")], app.metrics.render()).into_response())
}

fn router(app: Arc<App>, a: &ServeArgs) -> Router {
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::timeout::TimeoutLayer;
    let api = Router::new()
        .route("/v1/records", put(put_records))
        .route("/v1/records/{id}", get(get_record))
        .route("/v1/search", post(search))
        .route("/v1/search/batch", post(search_batch))
        .route("/v1/delete", post(delete))
        .route("/v1/commit", post(commit))
        .route("/v1/compact", post(compact))
        .route("/v1/stats", get(stats))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    api.layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(a.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(a.request_timeout_secs)))
        .layer(tower::limit::ConcurrencyLimitLayer::new(a.max_concurrent_requests))
        .with_state(app)
}

/// Opens (or creates) the database the arguments name.
fn open(a: &ServeArgs) -> Result<Handle, Error> {
    let store = stratovec::store_from_uri(&a.db, a.read_only)?;
    let mut options = DbOptions { name: a.name.clone(), ..DbOptions::default() };
    if a.read_only {
        options.health.max_replica_lag_s = Some(a.max_replica_lag_secs);
        let db = Arc::new(pollster::block_on(Db::open_read_only(store, options))?);
        return Ok(Handle::Replica(db));
    }
    let db = match pollster::block_on(Db::open(store.clone(), options.clone())) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let dim = a.dim.ok_or_else(|| Error::new(ErrorKind::NotFound, format!("{e}; give --dim to create one")))?;
            pollster::block_on(Db::create(store, dim, a.metric, options))?
        }
        other => other?,
    };
    Ok(Handle::Writer(Arc::new(db)))
}

pub fn run(a: ServeArgs) -> Result<(), Error> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()), &crate::serve_auth::BUCKETS)
        .and_then(|b| b.install_recorder())
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("installing the Prometheus recorder: {e}")))?;
    stratovec::metrics::describe();
    let keys = crate::serve_auth::Keys::from_env()?;
    if keys.is_open() && !a.listen.ip().is_loopback() {
        tracing::warn!(listen = %a.listen, "no API key is set (STRATOVEC_API_KEY): anyone who reaches this address can read and write");
    }
    let handle = open(&a)?;
    let background = match &handle {
        Handle::Writer(db) => Background::Compactor(db.spawn_compactor()),
        Handle::Replica(db) => Background::Refresher(db.spawn_refresher(Duration::from_secs(a.refresh_secs.max(1)))),
    };
    let backups = match &a.backup_to {
        Some(uri) => {
            Some(spawn_backups(&handle, stratovec::store_from_uri(uri, false)?, Duration::from_secs(a.backup_interval_secs.max(1))))
        }
        None => None,
    };
    let app = Arc::new(App { handle, keys, metrics, metrics_auth: a.metrics_auth });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("starting the runtime: {e}")))?;
    runtime.block_on(serve(app.clone(), &a))?;
    drop(backups); // stops the backup thread after the backup in progress
    drop(background);
    if let Handle::Writer(db) = &app.handle {
        let r = pollster::block_on(db.close())?;
        tracing::info!(version = r.version, committed = r.committed, "database closed");
    }
    Ok(())
}

/// Backs up every `interval` (the first at once) on a thread; dropping the sender stops it.
fn spawn_backups(handle: &Handle, target: Arc<dyn stratovec::BlobStore>, interval: Duration) -> std::sync::mpsc::Sender<()> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let backup: Box<dyn Fn() -> stratovec::Result<stratovec::BackupReport> + Send> = match handle {
        Handle::Writer(db) => {
            let (db, target) = (db.clone(), target.clone());
            Box::new(move || pollster::block_on(db.backup_to(target.clone())))
        }
        Handle::Replica(db) => {
            let (db, target) = (db.clone(), target.clone());
            Box::new(move || pollster::block_on(db.backup_to(target.clone())))
        }
    };
    std::thread::spawn(move || loop {
        // Failures are recorded by the engine (metrics, health reason, a warning).
        if let Ok(r) = backup() {
            tracing::info!(version = r.version, copied = r.files_copied, bytes = r.bytes_copied, "continuous backup");
        }
        match stopped.recv_timeout(interval) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    });
    stop
}

/// The background task of the mode, stopped when dropped.
enum Background {
    Compactor(#[allow(dead_code)] stratovec::Compactor),
    Refresher(#[allow(dead_code)] stratovec::Refresher),
}

async fn serve(app: Arc<App>, a: &ServeArgs) -> Result<(), Error> {
    if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
        return serve_tls(app, a, cert, key).await;
    }
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("listening on {}: {e}", a.listen)))?;
    let local = listener.local_addr().map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?;
    // The one line a supervisor or test reads to find the port (with --listen …:0).
    println!("listening on http://{local}");
    tracing::info!(listen = %local, "serving");
    let grace = Duration::from_secs(a.shutdown_timeout_secs);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(app, a)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
        let _ = stop_tx.send(true);
    });
    let mut stop_rx2 = stop_rx.clone();
    tokio::select! {
        r = server => r.map_err(|e| Error::new(ErrorKind::Unavailable, format!("server: {e}")))?,
        _ = async move {
            let _ = stop_rx2.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("requests still running after the shutdown timeout; closing anyway"),
    }
    Ok(())
}

/// [`serve`] over TLS (rustls with the ring provider), through axum-server.
async fn serve_tls(app: Arc<App>, a: &ServeArgs, cert: &std::path::Path, key: &std::path::Path) -> Result<(), Error> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| Error::new(ErrorKind::Unavailable, format!("{what}: {e}"));
    // Several providers may be compiled in; this process uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("TLS certificate {} or key {}: {e}", cert.display(), key.display())))?;
    let handle = axum_server::Handle::new();
    let grace = Duration::from_secs(a.shutdown_timeout_secs);
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
        on_signal.graceful_shutdown(Some(grace));
    });
    let announce = handle.clone();
    tokio::spawn(async move {
        if let Some(local) = announce.listening().await {
            // The one line a supervisor or test reads to find the port.
            println!("listening on https://{local}");
            tracing::info!(listen = %local, tls = true, "serving");
        }
    });
    axum_server::bind_rustls(a.listen, config)
        .handle(handle)
        .serve(router(app, a).into_make_service())
        .await
        .map_err(|e| unavailable(&format!("serving TLS on {}", a.listen), &e))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
