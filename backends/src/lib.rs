//! Storage of stratovec: where bytes live ([`BlobStore`]) and how a new database version is
//! published atomically ([`CommitStore`]).
//!
//! * [`LocalStore`] (feature `local`): a directory; atomic writes by temp file + fsync +
//!   rename + directory fsync, race-free create-only writes by `link(2)`, zero-copy reads by
//!   mmap, and an advisory lock so one writer process owns a directory.
//! * [`MemoryStore`]: a map in memory, for tests and ephemeral databases.
//! * [`BlobCommitStore`]: publishes manifest `v` as the create-only object
//!   `MANIFEST-{v:020}.bin` on any [`BlobStore`], so two writers racing for the same version
//!   cannot both win.
//! * [`cache`]: RAM and disk block caches ([`cache::BlockCache`]) for reads from remote
//!   stores, with single-flight and coalesced ranged GETs.
//! * [`LatencyStore`]: adds a fixed round-trip time to every request (benchmarks).
//! * `DynamoDbCommitStore` (feature `dynamodb`): versions as items of a DynamoDB table, for
//!   stores without trustworthy create-only writes.
//! * `conformance` (feature `test-util`): suites a custom backend can run against itself.
//! * `faulty` (feature `test-util`): `FaultyStore`, a decorator that injects seeded or
//!   scripted failures (errors, torn writes, lost responses, latency).
//!
//! # Writing a backend
//! Implement [`BlobStore`] with `#[async_trait]`; see `MemoryStore` in `src/memory.rs` for a
//! complete ~100-line example, and run `conformance::blob_store_suite` in your tests.
#![deny(missing_docs)]

#[cfg(feature = "local")]
mod aligned;
mod blob;
#[cfg(any(feature = "opendal", feature = "object-store", feature = "dynamodb"))]
mod bridge;
pub mod cache;
mod commit;
#[cfg(feature = "test-util")]
pub mod conformance;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod error;
#[cfg(feature = "test-util")]
pub mod faulty;
mod latency;
#[cfg(feature = "local")]
mod local;
#[cfg(feature = "local")]
mod local_reader;
mod memory;
#[cfg(feature = "object-store")]
mod object_store;
#[cfg(feature = "opendal")]
mod opendal;
mod random_access;
#[cfg(feature = "test-util")]
pub mod recording;
mod retry;
#[cfg(all(feature = "io-uring", target_os = "linux"))]
mod uring;

#[cfg(feature = "object-store")]
pub use crate::object_store::ObjectStoreAdapter;
#[cfg(feature = "opendal")]
pub use crate::opendal::OpenDalStore;
/// The `aws-sdk-dynamodb` crate, to build the client of [`DynamoDbCommitStore`] (feature
/// `dynamodb`).
#[cfg(feature = "dynamodb")]
pub use ::aws_sdk_dynamodb as dynamodb_crate;
/// The `opendal` crate, to build operators for [`OpenDalStore`] (feature `opendal`).
#[cfg(feature = "opendal")]
pub use ::opendal as opendal_crate;
pub use async_trait::async_trait;
pub use blob::{validate_path, BlobStore, ObjectMeta};
pub use commit::{BlobCommitStore, CommitError, CommitStore};
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbCommitStore;
pub use error::StoreError;
pub use latency::{LatencyStats, LatencyStore};
#[cfg(feature = "local")]
pub use local::LocalStore;
#[cfg(feature = "local")]
pub use local_reader::LocalFileReader;
pub use memory::MemoryStore;
pub use random_access::{RandomAccess, ReadCost};
pub use retry::{RetryPolicy, RetryStore};
