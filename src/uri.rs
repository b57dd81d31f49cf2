//! Store URIs: one parser for library users and every CLI command.
//!
//! | URI | store |
//! |---|---|
//! | `/path`, `./path`, `file:///path` | [`crate::LocalStore`] (a writer takes the directory's lock) |
//! | `memory://` | a new, empty [`crate::MemoryStore`] (each call its own) |
//! | `s3://bucket/prefix?endpoint=URL&region=R` | S3 or an S3-compatible server through OpenDAL (feature `opendal`); credentials from the standard AWS environment variables and profile files, never from the URI |
//! | `gs://bucket/prefix` | Google Cloud Storage through OpenDAL (feature `opendal`); credentials from `GOOGLE_APPLICATION_CREDENTIALS` or the metadata server |
//!
//! A URI never carries a secret: `s3://` refuses `access_key_id`/`secret_access_key`
//! parameters and user info (`s3://key:secret@bucket`).

use std::sync::Arc;

use stratovec_backends::BlobStore;

use crate::{Error, Result};

/// A parsed store URI (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUri {
    /// A local directory.
    Local(std::path::PathBuf),
    /// A new in-memory store.
    Memory,
    /// An S3 bucket (or S3-compatible server).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for the bucket root).
        prefix: String,
        /// Endpoint URL (`http://127.0.0.1:9000` for MinIO); `None`: AWS.
        endpoint: Option<String>,
        /// Region; `None`: from the environment, else `us-east-1`.
        region: Option<String>,
    },
    /// A Google Cloud Storage bucket.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for the bucket root).
        prefix: String,
    },
}

impl StoreUri {
    /// Parses `uri`.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown scheme, a missing bucket, an unknown parameter, or
    /// credentials in the URI.
    pub fn parse(uri: &str) -> Result<StoreUri> {
        let bad = |why: &str| Error::invalid(format!("store URI {uri:?}: {why}"));
        let Some((scheme, rest)) = uri.split_once("://") else {
            if uri.is_empty() {
                return Err(bad("empty"));
            }
            return Ok(StoreUri::Local(uri.into()));
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut params: Vec<(&str, &str)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            params.push(pair.split_once('=').unwrap_or((pair, "")));
        }
        let take =
            |params: &mut Vec<(&str, &str)>, key: &str| params.iter().position(|(k, _)| *k == key).map(|i| params.remove(i).1.to_string());
        let bucket_and_prefix = |location: &str| -> Result<(String, String)> {
            if location.contains('@') {
                return Err(bad("credentials do not belong in a URI; use the environment"));
            }
            let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket"));
            }
            Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
        };
        let parsed = match scheme {
            "file" => StoreUri::Local(location.into()),
            "memory" => StoreUri::Memory,
            "s3" => {
                if params.iter().any(|(k, _)| k.contains("key") || k.contains("secret") || k.contains("token")) {
                    return Err(bad("credentials do not belong in a URI; use the standard AWS environment"));
                }
                let (bucket, prefix) = bucket_and_prefix(location)?;
                let endpoint = take(&mut params, "endpoint");
                let region = take(&mut params, "region");
                // `allow_http` is accepted for compatibility: an http:// endpoint is used as given.
                take(&mut params, "allow_http");
                StoreUri::S3 { bucket, prefix, endpoint, region }
            }
            "gs" | "gcs" => {
                let (bucket, prefix) = bucket_and_prefix(location)?;
                StoreUri::Gcs { bucket, prefix }
            }
            other => return Err(bad(&format!("unknown scheme {other:?} (file, memory, s3, gs)"))),
        };
        if let Some((k, _)) = params.first() {
            return Err(bad(&format!("unknown parameter {k:?}")));
        }
        Ok(parsed)
    }

    /// Opens the store: `read_only` opens a local directory without its writer lock.
    ///
    /// # Errors
    /// `InvalidArgument` for a cloud URI in a build without the feature `opendal`; the
    /// store's errors (`Locked` for a local directory another writer holds).
    pub fn open(&self, read_only: bool) -> Result<Arc<dyn BlobStore>> {
        match self {
            #[cfg(feature = "local")]
            StoreUri::Local(path) if read_only => Ok(Arc::new(crate::LocalStore::open_read_only(path)?)),
            #[cfg(feature = "local")]
            StoreUri::Local(path) => Ok(Arc::new(crate::LocalStore::open(path)?)),
            #[cfg(not(feature = "local"))]
            StoreUri::Local(_) => {
                let _ = read_only; // no local store to open read-only
                Err(Error::invalid("local directories need stratovec built with the feature `local`"))
            }
            StoreUri::Memory => Ok(Arc::new(crate::MemoryStore::new())),
            StoreUri::S3 { .. } | StoreUri::Gcs { .. } => self.open_cloud(),
        }
    }

    #[cfg(feature = "opendal")]
    fn open_cloud(&self) -> Result<Arc<dyn BlobStore>> {
        use stratovec_backends::OpenDalStore;
        let store = match self {
            StoreUri::S3 { bucket, prefix, endpoint, region } => {
                let region = region.clone().or_else(|| std::env::var("AWS_REGION").ok()).unwrap_or_else(|| "us-east-1".into());
                OpenDalStore::s3(bucket, &format!("/{prefix}"), endpoint.as_deref(), &region)?
            }
            StoreUri::Gcs { bucket, prefix } => OpenDalStore::gcs(bucket, &format!("/{prefix}"))?,
            _ => return Err(Error::invalid("not a cloud URI")),
        };
        Ok(Arc::new(store))
    }

    #[cfg(not(feature = "opendal"))]
    fn open_cloud(&self) -> Result<Arc<dyn BlobStore>> {
        Err(Error::invalid("s3:// and gs:// stores need stratovec built with the feature `opendal`"))
    }
}

/// Opens the store of `uri` (see [`StoreUri`]).
///
/// # Errors
/// As [`StoreUri::parse`] and [`StoreUri::open`].
pub fn store_from_uri(uri: &str, read_only: bool) -> Result<Arc<dyn BlobStore>> {
    StoreUri::parse(uri)?.open(read_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse() {
        assert_eq!(StoreUri::parse("/tmp/db").unwrap(), StoreUri::Local("/tmp/db".into()));
        assert_eq!(StoreUri::parse("file:///tmp/db").unwrap(), StoreUri::Local("/tmp/db".into()));
        assert_eq!(StoreUri::parse("memory://").unwrap(), StoreUri::Memory);
        assert_eq!(
            StoreUri::parse("s3://bucket/a/b/?endpoint=http://127.0.0.1:9000&region=eu-west-1&allow_http=true").unwrap(),
            StoreUri::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: Some("eu-west-1".into())
            }
        );
        assert_eq!(StoreUri::parse("gs://b").unwrap(), StoreUri::Gcs { bucket: "b".into(), prefix: String::new() });
        for bad in ["", "s3://", "s3:///x", "ftp://x", "s3://b?color=red", "s3://k:s@b/x", "s3://b?secret_access_key=x"] {
            let e = StoreUri::parse(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad}: {e}");
        }
    }
}
