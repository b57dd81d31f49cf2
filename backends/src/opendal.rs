//! [`OpenDalStore`]: a [`BlobStore`] over an Apache OpenDAL [`Operator`] (feature `opendal`):
//! S3 and S3-compatible stores (MinIO), GCS, Azure Blob, a local file system, memory.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use opendal::{EntryMode, ErrorKind, Operator};

use crate::blob::read_range;
use crate::bridge::Bridge;
use crate::{validate_path, BlobStore, ObjectMeta, StoreError};

/// Objects larger than this are written as multipart uploads by default (bytes).
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 16 << 20;
/// Part size of multipart uploads (bytes; S3 needs at least 5 MiB).
const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once.
const PART_CONCURRENCY: usize = 4;

/// A [`BlobStore`] over any OpenDAL service.
///
/// Create-only writes ([`BlobStore::put_if_absent`]) use the service's conditional write
/// (`If-None-Match: *` on S3, a generation precondition on GCS); a service without it
/// returns [`StoreError::Rejected`]. Whether a service *honours* the condition is checked by
/// `ConditionalCommitStore::open` before anything is published.
///
/// Making a store installs OpenDAL's default (reqwest) HTTP transport unless the process
/// installed one first. Calls run on the tokio runtime current when the store is made, or on a 2-thread runtime
/// of the crate's own, so the store can be driven from any executor.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use opendal::{services::S3, Operator};
/// let builder = S3::default()
///     .bucket("vectors")
///     .root("/prod/db1")
///     .endpoint("http://127.0.0.1:9000")
///     .region("us-east-1");
/// let store = stratovec_backends::OpenDalStore::new(Operator::new(builder)?)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OpenDalStore {
    op: Operator,
    bridge: Bridge,
    multipart_threshold: usize,
}

impl OpenDalStore {
    /// A store over `op`, writing objects above [`DEFAULT_MULTIPART_THRESHOLD`] in parts.
    ///
    /// # Errors
    /// `Rejected` if no tokio runtime is current and none can be started.
    pub fn new(op: Operator) -> Result<Self, StoreError> {
        // The reqwest HTTP transport of the S3/GCS/Azure services; the first one installed
        // in the process wins, so an application's own transport is kept.
        opendal::install_default();
        Ok(OpenDalStore { op, bridge: Bridge::shared()?, multipart_threshold: DEFAULT_MULTIPART_THRESHOLD })
    }

    /// A store in memory (OpenDAL's `memory` service), for tests.
    ///
    /// # Errors
    /// As [`OpenDalStore::new`].
    pub fn memory() -> Result<Self, StoreError> {
        let op = Operator::new(opendal::services::Memory::default()).map_err(|e| map_err("", e))?;
        Self::new(op)
    }

    /// A store on an S3-compatible endpoint (MinIO, moto, or S3 itself) with static
    /// credentials: objects of `bucket` under `root`, region `us-east-1`, without looking
    /// up AWS config files or instance metadata.
    ///
    /// # Errors
    /// `Rejected` for a configuration OpenDAL refuses; as [`OpenDalStore::new`].
    pub fn s3_compatible(
        endpoint: &str,
        bucket: &str,
        root: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Self, StoreError> {
        let builder = opendal::services::S3::default()
            .bucket(bucket)
            .endpoint(endpoint)
            .region("us-east-1")
            .access_key_id(access_key_id)
            .secret_access_key(secret_access_key)
            .disable_config_load()
            .disable_ec2_metadata()
            .root(root);
        Self::new(Operator::new(builder).map_err(|e| map_err(root, e))?)
    }

    /// A store on S3 (or an S3-compatible `endpoint`): objects of `bucket` under `root`,
    /// with credentials from the standard AWS environment variables, profile files or
    /// instance metadata, as the AWS tools find them.
    ///
    /// # Errors
    /// `Rejected` for a configuration OpenDAL refuses; as [`OpenDalStore::new`].
    pub fn s3(bucket: &str, root: &str, endpoint: Option<&str>, region: &str) -> Result<Self, StoreError> {
        let mut builder = opendal::services::S3::default().bucket(bucket).region(region).root(root);
        if let Some(e) = endpoint {
            builder = builder.endpoint(e);
        }
        Self::new(Operator::new(builder).map_err(|e| map_err(root, e))?)
    }

    /// A store on Google Cloud Storage: objects of `bucket` under `root`, with credentials
    /// from `GOOGLE_APPLICATION_CREDENTIALS` or the metadata server.
    ///
    /// # Errors
    /// As [`OpenDalStore::s3`].
    pub fn gcs(bucket: &str, root: &str) -> Result<Self, StoreError> {
        let builder = opendal::services::Gcs::default().bucket(bucket).root(root);
        Self::new(Operator::new(builder).map_err(|e| map_err(root, e))?)
    }

    /// Objects larger than `bytes` are uploaded in 8 MiB parts, 4 at a time.
    pub fn with_multipart_threshold(mut self, bytes: usize) -> Self {
        self.multipart_threshold = bytes.max(1);
        self
    }

    /// The operator, e.g. to add OpenDAL layers and wrap it again.
    pub fn operator(&self) -> &Operator {
        &self.op
    }
}

/// Maps an OpenDAL error on `path` to a [`StoreError`]: temporary and throttling errors are
/// `Unavailable` (retryable); permission, configuration and unsupported ones `Rejected`.
fn map_err(path: &str, e: opendal::Error) -> StoreError {
    match e.kind() {
        ErrorKind::NotFound => StoreError::NotFound(path.to_string()),
        ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch => StoreError::AlreadyExists(path.to_string()),
        ErrorKind::RateLimited => StoreError::Unavailable(format!("{path}: {e}")),
        _ if e.is_temporary() => StoreError::Unavailable(format!("{path}: {e}")),
        ErrorKind::Unexpected => StoreError::Unavailable(format!("{path}: {e}")),
        _ => StoreError::Rejected(format!("{path}: {e}")),
    }
}

#[async_trait]
impl BlobStore for OpenDalStore {
    fn identity(&self) -> String {
        let info = self.op.info();
        format!("{}://{}{}", info.scheme(), info.name(), info.root())
    }

    async fn get(&self, path: &str) -> Result<Bytes, StoreError> {
        validate_path(path)?;
        let (op, p) = (self.op.clone(), path.to_string());
        self.bridge.run(async move { op.read(&p).await.map(|b| b.to_bytes()).map_err(|e| map_err(&p, e)) }).await
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        validate_path(path)?;
        let (op, p, r) = (self.op.clone(), path.to_string(), range.clone());
        // A range past the end is refused or cut short; `read_range` tells which.
        let read = self.bridge.run(async move {
            match op.read_with(&p).range(r).await {
                Ok(b) => Ok(Ok(b.to_bytes())),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(map_err(&p, e)),
                Err(e) => Ok(Err(map_err(&p, e))),
            }
        });
        read_range(self, path, range, read).await
    }

    async fn put(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        let (op, p, threshold) = (self.op.clone(), path.to_string(), self.multipart_threshold);
        self.bridge
            .run(async move {
                let w = if data.len() > threshold {
                    op.write_with(&p, data).chunk(PART_BYTES).concurrent(PART_CONCURRENCY).await
                } else {
                    op.write(&p, data).await
                };
                w.map(|_| ()).map_err(|e| map_err(&p, e))
            })
            .await
    }

    async fn put_if_absent(&self, path: &str, data: Bytes) -> Result<(), StoreError> {
        validate_path(path)?;
        if !self.op.info().capability().write_with_if_not_exists {
            return Err(StoreError::Rejected(format!(
                "{path}: the {} service has no create-only writes (if-not-exists)",
                self.op.info().scheme()
            )));
        }
        let (op, p) = (self.op.clone(), path.to_string());
        self.bridge.run(async move { op.write_with(&p, data).if_not_exists(true).await.map(|_| ()).map_err(|e| map_err(&p, e)) }).await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        validate_path(path)?;
        let (op, p) = (self.op.clone(), path.to_string());
        self.bridge.run(async move { op.delete(&p).await.map_err(|e| map_err(&p, e)) }).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (op, p) = (self.op.clone(), prefix.to_string());
        self.bridge
            .run(async move {
                let entries = op.list_with(&p).recursive(true).await.map_err(|e| map_err(&p, e))?;
                let mut paths: Vec<String> = entries
                    .into_iter()
                    .filter(|e| e.metadata().mode() == EntryMode::FILE)
                    .map(|e| e.path().trim_start_matches('/').to_string())
                    .filter(|path| path.starts_with(&p))
                    .collect();
                paths.sort_unstable();
                paths.dedup();
                Ok(paths)
            })
            .await
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta, StoreError> {
        validate_path(path)?;
        let (op, p) = (self.op.clone(), path.to_string());
        self.bridge
            .run(async move {
                let m = op.stat(&p).await.map_err(|e| map_err(&p, e))?;
                Ok(ObjectMeta { path: p, size: m.content_length() })
            })
            .await
    }
}
