//! [`DynamoDbCommitStore`]: publishes manifests through a DynamoDB table, for object stores
//! without create-only writes (or whose `If-None-Match` cannot be trusted).
//!
//! # Protocol
//! The table's partition key is `base_uri` (string: which database) and its sort key
//! `version` (number). Committing version `v` with manifest bytes `m`:
//! 1. `m` is written to the blob store as a uniquely named object
//!    `_stratovec/commits/{v:020}-{unique}.bin` (the *staging object*);
//! 2. the item `(base_uri, v, staging, complete = false)` is put with the condition
//!    `attribute_not_exists(version)`: of concurrent writers exactly one succeeds; a failed
//!    condition is a `Conflict` unless the item names our own staging object (our earlier
//!    attempt, whose response was lost);
//! 3. `m` is copied to `MANIFEST-{v:020}.bin`, where readers load manifests from;
//! 4. the item is updated to `complete = true`.
//!
//! A writer that stops after step 2 leaves a *half-finished* commit: the next reader (any
//! `latest` or `load`) finishes steps 3 and 4 from the staging object. Reads of the table
//! are strongly consistent; `latest` is a descending query with limit 1. Throttling and
//! network errors are `Unavailable`, never `Conflict`. The protocol follows the DynamoDB
//! log store of Delta Lake (`S3DynamoDBLogStore`).
//!
//! # Creating the table
//! ```text
//! aws dynamodb create-table --table-name stratovec_commits \
//!   --attribute-definitions AttributeName=base_uri,AttributeType=S AttributeName=version,AttributeType=N \
//!   --key-schema AttributeName=base_uri,KeyType=HASH AttributeName=version,KeyType=RANGE \
//!   --billing-mode PAY_PER_REQUEST
//! ```
//! or [`DynamoDbCommitStore::create_table`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use bytes::Bytes;
use stratovec_formats::manifest::manifest_name;

use crate::bridge::Bridge;
use crate::{BlobStore, CommitError, CommitStore, StoreError};

/// An item of the commit table.
type Item = HashMap<String, AttributeValue>;

/// A [`CommitStore`] whose versions are items of a DynamoDB table; manifests themselves are
/// objects of the blob store. See the [module docs](self) for the protocol and the table.
#[derive(Clone)]
pub struct DynamoDbCommitStore {
    client: Client,
    table: String,
    base_uri: String,
    store: Arc<dyn BlobStore>,
    bridge: Bridge,
}

impl Debug for DynamoDbCommitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbCommitStore").field("table", &self.table).field("base_uri", &self.base_uri).finish()
    }
}

/// Where staging manifests are written: `{STAGING_DIR}{version:020}-{unique}.bin`.
const STAGING_DIR: &str = "_stratovec/commits/";

impl DynamoDbCommitStore {
    /// Versions of the database `base_uri` (any string naming it uniquely, e.g.
    /// `s3://bucket/prefix`) in `table`, with manifests in `store`. The client's calls run on
    /// the current tokio runtime, or on a shared one when none is current.
    ///
    /// # Errors
    /// `Rejected` if no tokio runtime can be started.
    pub fn new(
        client: Client,
        table: impl Into<String>,
        base_uri: impl Into<String>,
        store: Arc<dyn BlobStore>,
    ) -> Result<Self, StoreError> {
        Ok(DynamoDbCommitStore { client, table: table.into(), base_uri: base_uri.into(), store, bridge: Bridge::shared()? })
    }

    /// Creates `table` with the key schema above (on-demand billing) and waits (up to 60 s)
    /// until it is active. For tests and first setup; production tables are usually made by
    /// infrastructure code (see the module docs for the CLI command).
    ///
    /// # Errors
    /// `Unavailable` or `Rejected` from the service (an existing table is `Rejected`).
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
        let bridge = Bridge::shared()?;
        let (client, table) = (client.clone(), table.to_string());
        bridge
            .run(async move {
                let attr = |name: &str, t| AttributeDefinition::builder().attribute_name(name).attribute_type(t).build();
                let key = |name: &str, t| KeySchemaElement::builder().attribute_name(name).key_type(t).build();
                let built = (|| {
                    Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                        vec![attr("base_uri", ScalarAttributeType::S)?, attr("version", ScalarAttributeType::N)?],
                        vec![key("base_uri", KeyType::Hash)?, key("version", KeyType::Range)?],
                    ))
                })();
                let (attrs, keys) = built.map_err(|e| StoreError::Rejected(e.to_string()))?;
                client
                    .create_table()
                    .table_name(&table)
                    .set_attribute_definitions(Some(attrs))
                    .set_key_schema(Some(keys))
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&table, e))?;
                for _ in 0..600 {
                    let d = client.describe_table().table_name(&table).send().await.map_err(|e| sdk_error(&table, e))?;
                    if d.table.and_then(|t| t.table_status) == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
                        return Ok(());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(StoreError::Unavailable(format!("DynamoDB table {table} did not become active within 60 s")))
            })
            .await
    }

    /// A client for a local DynamoDB (moto, dynalite, DynamoDB Local) at `endpoint`, with
    /// static test credentials and region `us-east-1` (feature `test-util`).
    #[cfg(feature = "test-util")]
    pub fn local_client(endpoint: &str) -> Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .build();
        Client::from_conf(config)
    }

    fn key(&self, version: u64) -> Item {
        HashMap::from([("base_uri".to_string(), AttributeValue::S(self.base_uri.clone())), ("version".to_string(), number(version))])
    }

    /// The item of `version` (strongly consistent read).
    async fn item(&self, version: u64) -> Result<Option<Item>, StoreError> {
        let (client, table, key) = (self.client.clone(), self.table.clone(), self.key(version));
        self.bridge
            .run(async move {
                let out = client.get_item().table_name(&table).set_key(Some(key)).consistent_read(true).send().await;
                Ok(out.map_err(|e| sdk_error(&table, e))?.item)
            })
            .await
    }

    /// The newest item, if any (descending query, limit 1, strongly consistent).
    async fn newest_item(&self) -> Result<Option<Item>, StoreError> {
        let (client, table, uri) = (self.client.clone(), self.table.clone(), self.base_uri.clone());
        self.bridge
            .run(async move {
                let out = client
                    .query()
                    .table_name(&table)
                    .key_condition_expression("#b = :b")
                    .expression_attribute_names("#b", "base_uri")
                    .expression_attribute_values(":b", AttributeValue::S(uri))
                    .scan_index_forward(false)
                    .limit(1)
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&table, e))?;
                Ok(out.items.unwrap_or_default().into_iter().next())
            })
            .await
    }

    /// Puts the item of `version` naming `staging` if no item of that version exists.
    /// `Ok(false)` when another item holds the version.
    async fn put_item(&self, version: u64, staging: &str) -> Result<bool, StoreError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        let mut item = self.key(version);
        item.insert("staging".into(), AttributeValue::S(staging.to_string()));
        item.insert("complete".into(), AttributeValue::Bool(false));
        self.bridge
            .run(async move {
                let out = client
                    .put_item()
                    .table_name(&table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#v)")
                    .expression_attribute_names("#v", "version")
                    .send()
                    .await;
                match out {
                    Ok(_) => Ok(true),
                    Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
                    Err(e) => Err(sdk_error(&table, e)),
                }
            })
            .await
    }

    async fn mark_complete(&self, version: u64) -> Result<(), StoreError> {
        let (client, table, key) = (self.client.clone(), self.table.clone(), self.key(version));
        self.bridge
            .run(async move {
                client
                    .update_item()
                    .table_name(&table)
                    .set_key(Some(key))
                    .update_expression("SET #c = :t")
                    .expression_attribute_names("#c", "complete")
                    .expression_attribute_values(":t", AttributeValue::Bool(true))
                    .send()
                    .await
                    .map_err(|e| sdk_error(&table, e))?;
                Ok(())
            })
            .await
    }

    /// Steps 3 and 4 of a commit whose item is `item`: copies the staging object to the
    /// manifest's name and marks the item complete. Returns the manifest bytes.
    async fn finish(&self, version: u64, item: &Item) -> Result<Bytes, StoreError> {
        let name = manifest_name(version);
        if item.get("complete").and_then(|c| c.as_bool().ok()) == Some(&true) {
            return self.store.get(&name).await;
        }
        let staging = item
            .get("staging")
            .and_then(|s| s.as_s().ok())
            .ok_or_else(|| StoreError::Rejected(format!("{}: item of version {version} has no staging object", self.table)))?;
        let bytes = match self.store.get(staging).await {
            Ok(b) => b,
            // Another reader finished the commit and the staging object was vacuumed.
            Err(StoreError::NotFound(_)) => return self.store.get(&name).await,
            Err(e) => return Err(e),
        };
        self.store.put(&name, bytes.clone()).await?;
        self.mark_complete(version).await?;
        Ok(bytes)
    }

    fn staging_name(version: u64) -> String {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{STAGING_DIR}{version:020}-{nanos}-{}-{}.bin", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
    }
}

#[async_trait]
impl CommitStore for DynamoDbCommitStore {
    async fn latest(&self) -> Result<Option<(u64, Bytes)>, CommitError> {
        let Some(item) = self.newest_item().await? else { return Ok(None) };
        let version = version_of(&item, &self.table)?;
        Ok(Some((version, self.finish(version, &item).await?)))
    }

    async fn load(&self, version: u64) -> Result<Bytes, CommitError> {
        match self.store.get(&manifest_name(version)).await {
            Ok(b) => Ok(b),
            Err(StoreError::NotFound(n)) => match self.item(version).await? {
                Some(item) => Ok(self.finish(version, &item).await?),
                None => Err(StoreError::NotFound(n).into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    async fn try_commit(&self, expected: u64, manifest: Bytes) -> Result<u64, CommitError> {
        let version = expected + 1;
        let staging = Self::staging_name(version);
        self.store.put(&staging, manifest).await?;
        let won = match self.put_item(version, &staging).await {
            Ok(won) => won,
            Err(e) => return Err(e.into()),
        };
        let item = match won {
            true => None,
            false => self.item(version).await?,
        };
        let ours = won || item.as_ref().and_then(|i| i.get("staging")).and_then(|s| s.as_s().ok()) == Some(&staging);
        if !ours {
            let _ = self.store.delete(&staging).await;
            return Err(CommitError::Conflict { version });
        }
        let mut item = item.unwrap_or_else(|| self.key(version));
        item.entry("staging".into()).or_insert_with(|| AttributeValue::S(staging.clone()));
        self.finish(version, &item).await?;
        let _ = self.store.delete(&staging).await;
        Ok(version)
    }

    async fn versions(&self) -> Result<Vec<u64>, CommitError> {
        let (client, table, uri) = (self.client.clone(), self.table.clone(), self.base_uri.clone());
        let items = self
            .bridge
            .run(async move {
                let mut out = Vec::new();
                let mut start: Option<Item> = None;
                loop {
                    let page = client
                        .query()
                        .table_name(&table)
                        .key_condition_expression("#b = :b")
                        .expression_attribute_names("#b", "base_uri")
                        .expression_attribute_values(":b", AttributeValue::S(uri.clone()))
                        .projection_expression("#v")
                        .expression_attribute_names("#v", "version")
                        .consistent_read(true)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| sdk_error(&table, e))?;
                    out.extend(page.items.unwrap_or_default());
                    match page.last_evaluated_key {
                        Some(k) if !k.is_empty() => start = Some(k),
                        _ => return Ok(out),
                    }
                }
            })
            .await?;
        let mut v = items.iter().map(|i| version_of(i, &self.table)).collect::<Result<Vec<_>, _>>()?;
        v.sort_unstable();
        Ok(v)
    }

    /// Deletes the manifest, the item, and staging objects of that version left by
    /// commits that crashed or lost the race.
    async fn forget(&self, version: u64) -> Result<(), CommitError> {
        self.store.delete(&manifest_name(version)).await?;
        for staging in self.store.list(&format!("{STAGING_DIR}{version:020}-")).await? {
            self.store.delete(&staging).await?;
        }
        let (client, table, key) = (self.client.clone(), self.table.clone(), self.key(version));
        self.bridge
            .run(async move {
                client.delete_item().table_name(&table).set_key(Some(key)).send().await.map_err(|e| sdk_error(&table, e))?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Checks that the table exists (a clear error naming the creation command otherwise).
    async fn preflight(&self) -> Result<(), CommitError> {
        let (client, table) = (self.client.clone(), self.table.clone());
        self.bridge
            .run(async move {
                client.describe_table().table_name(&table).send().await.map_err(|e| sdk_error(&table, e))?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

fn number(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn version_of(item: &Item, table: &str) -> Result<u64, StoreError> {
    item.get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Rejected(format!("{table}: an item without a numeric `version`")))
}

/// Maps an SDK error: a missing table or a permission problem is `Rejected` (retrying will
/// not help); throttling, server and network errors are `Unavailable`.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: Debug>(table: &str, e: SdkError<E, R>) -> StoreError {
    let message = match (e.code(), e.message()) {
        (Some(code), Some(m)) => format!("DynamoDB table {table}: {code}: {m}"),
        _ => format!("DynamoDB table {table}: {}", DisplayErrorContext(&e)),
    };
    match e.code() {
        Some("ResourceNotFoundException") => StoreError::Rejected(format!(
            "{message} (create it: aws dynamodb create-table --table-name {table} --attribute-definitions \
             AttributeName=base_uri,AttributeType=S AttributeName=version,AttributeType=N --key-schema \
             AttributeName=base_uri,KeyType=HASH AttributeName=version,KeyType=RANGE --billing-mode PAY_PER_REQUEST)"
        )),
        Some(
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "ValidationException"
            | "ResourceInUseException"
            | "MissingAuthenticationTokenException"
            | "InvalidSignatureException",
        ) => StoreError::Rejected(message),
        _ => StoreError::Unavailable(message),
    }
}
