//! [`DbBuilder`]: one way in. Say where the database is (a store, or a store URI), set
//! components and settings, then create, open, or open-or-create it.
//!
//! ```
//! # pollster::block_on(async {
//! use stratovec::{Db, Metric};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().to_str().unwrap();
//! for run in 0..2 {
//!     // The first run creates the database, the second opens it.
//!     let db = Db::builder_uri(path).hnsw(16, 100).open_or_create(3, Metric::Cosine).await?;
//!     db.upsert(1, &[0.1, 0.2, 0.3])?;
//!     db.commit().await?;
//!     assert_eq!(db.stats().live_rows, 1);
//! }
//! # Ok::<(), stratovec::Error>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;

use stratovec_backends::{BlobStore, CommitStore};

use crate::uri::StoreUri;
use crate::{CompactionPolicy, Db, DbOptions, Durability, Error, ErrorKind, Metric, Result};

/// Where the database lives.
#[derive(Debug, Clone)]
enum Target {
    Store(Arc<dyn BlobStore>),
    Uri(String),
}

/// Builds a [`Db`] handle: [`Db::builder`] (a store) or [`Db::builder_uri`] (a store URI,
/// see [`crate::uri`]), then settings and components, then [`DbBuilder::create`],
/// [`DbBuilder::open`], [`DbBuilder::open_or_create`] or [`DbBuilder::open_read_only`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until create, open, open_or_create or open_read_only"]
pub struct DbBuilder {
    target: Target,
    options: DbOptions,
}

impl Db {
    /// A builder for the database in `store`.
    pub fn builder(store: Arc<dyn BlobStore>) -> DbBuilder {
        DbBuilder { target: Target::Store(store), options: DbOptions::default() }
    }

    /// A builder for the database at store URI `uri` (`/path`, `file:///path`,
    /// `memory://`, `s3://bucket/prefix?endpoint=…`, `gs://bucket/prefix`; see
    /// [`crate::uri`]). The store is opened by the final call: read-only opens of a local
    /// directory take no lock.
    pub fn builder_uri(uri: impl Into<String>) -> DbBuilder {
        DbBuilder { target: Target::Uri(uri.into()), options: DbOptions::default() }
    }
}

impl DbBuilder {
    /// Replaces every setting and component with `options`.
    pub fn options(mut self, options: DbOptions) -> Self {
        self.options = options;
        self
    }

    /// HNSW `M` and `ef_construction` of the memtable graph and HNSW segments.
    pub fn hnsw(mut self, m: usize, ef_construction: usize) -> Self {
        self.options = self.options.with_hnsw(m, ef_construction);
        self
    }

    /// Durability of writes between commits (default: at commit).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.options = self.options.with_durability(durability);
        self
    }

    /// The block cache for remote reads (RAM, then an optional local directory).
    pub fn cache(mut self, cache: stratovec_backends::cache::BlockCache) -> Self {
        self.options = self.options.with_cache(cache);
        self
    }

    /// Registers a user index kind: segments of `factory.kind()` open with it, and
    /// [`DbBuilder::compaction_index`] may select it for compaction outputs. See
    /// [`stratovec_indexes::IndexFactory`] and `examples/custom_index.rs`.
    pub fn index(mut self, factory: Arc<dyn stratovec_indexes::IndexFactory>) -> Self {
        self.options.indexes.push(factory);
        self
    }

    /// Writes compaction outputs that are not Flat with index `kind` (a
    /// built-in kind or one registered with [`DbBuilder::index`]; checked when the database
    /// opens, `InvalidArgument` if unknown).
    pub fn compaction_index(mut self, kind: stratovec_formats::segment::SegmentKind) -> Self {
        self.options.compaction_index = Some(kind);
        self
    }

    /// The commit store that publishes manifests (default: create-only writes in the store).
    pub fn commit_store(mut self, commits: Arc<dyn CommitStore>) -> Self {
        self.options = self.options.with_commit_store(commits);
        self
    }

    /// The compaction policy (default [`crate::SizeTiered`]).
    pub fn compaction(mut self, policy: impl CompactionPolicy + 'static) -> Self {
        self.options = self.options.with_compaction(policy);
        self
    }

    fn store(&self, read_only: bool) -> Result<Arc<dyn BlobStore>> {
        match &self.target {
            Target::Store(s) => Ok(s.clone()),
            Target::Uri(uri) => StoreUri::parse(uri)?.open(read_only),
        }
    }

    /// Creates a new database of `dim`-dimensional vectors (see [`Db::create`]).
    ///
    /// # Errors
    /// As [`Db::create`] (`AlreadyExists` if the store holds a database), and a bad URI.
    pub async fn create(self, dim: usize, metric: Metric) -> Result<Db> {
        Db::create(self.store(false)?, dim, metric, self.options).await
    }

    /// Opens the newest version for reading and writing (see [`Db::open`]).
    ///
    /// # Errors
    /// As [`Db::open`] (`NotFound` without a database), and a bad URI.
    pub async fn open(self) -> Result<Db> {
        Db::open(self.store(false)?, self.options).await
    }

    /// Opens the newest version read-only (see [`Db::open_read_only`]).
    ///
    /// # Errors
    /// As [`Db::open_read_only`], and a bad URI.
    pub async fn open_read_only(self) -> Result<crate::ReadOnlyDb> {
        Db::open_read_only(self.store(true)?, self.options).await
    }

    /// Opens the database, or creates it when the store holds none (a program that runs
    /// twice on the same store works the same both times). Two processes racing to create
    /// end up both opening one database.
    ///
    /// # Errors
    /// `InvalidArgument` if the existing database has another dimension or metric; as
    /// [`Db::open`] and [`Db::create`].
    pub async fn open_or_create(self, dim: usize, metric: Metric) -> Result<Db> {
        let store = self.store(false)?;
        let db = match Db::open(store.clone(), self.options.clone()).await {
            Err(e) if e.kind() == ErrorKind::NotFound => match Db::create(store.clone(), dim, metric, self.options.clone()).await {
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Db::open(store, self.options).await?,
                other => other?,
            },
            other => other?,
        };
        if db.dim() != dim || db.metric() != metric {
            return Err(Error::invalid(format!(
                "the store holds a database of dimension {} with metric {:?}, not {dim} with {metric:?}",
                db.dim(),
                db.metric()
            )));
        }
        Ok(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_or_create_twice_and_a_mismatch() {
        pollster::block_on(async {
            let store: Arc<dyn BlobStore> = Arc::new(crate::MemoryStore::new());
            let db = Db::builder(store.clone()).open_or_create(2, Metric::L2).await.unwrap();
            db.insert(7, &[1.0, 2.0]).unwrap();
            db.commit().await.unwrap();
            drop(db);
            let db = Db::builder(store.clone()).open_or_create(2, Metric::L2).await.unwrap();
            assert!(db.contains(7), "the second run opened the first run's database");
            drop(db);
            let e = Db::builder(store.clone()).open_or_create(3, Metric::L2).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
            let e = Db::builder(store).create(2, Metric::L2).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AlreadyExists);
            let e = Db::builder_uri("memory://").open().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
            let e = Db::builder_uri("ftp://x").open().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        });
    }
}
