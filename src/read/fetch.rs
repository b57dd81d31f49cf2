//! Fetching a segment's bytes from the store: the whole object (an mmap for a local store),
//! or, with a [`BlockCache`], only its ends, keys and metadata by ranged reads through the
//! cache; its index then loads on first use ([`crate::read::lazy`]), and DiskANN nodes stay in the
//! store, read on demand.

use std::sync::Arc;

use bytes::Bytes;

use stratovec_backends::cache::BlockCache;
use stratovec_backends::{BlobStore, RandomAccess, StoreError};
use stratovec_formats::manifest::SegmentMeta;
use stratovec_formats::segment::{tail_len, SectionKind, SegmentBytes, SegmentLayout, HEADER_LEN};
use stratovec_indexes::{IndexFactory, IndexRegistry};

use crate::{Error, ErrorKind, Result};

/// Sections read when a segment opens through a cache: its keys and metadata.
pub(crate) const OPEN_SECTIONS: [SectionKind; 3] = [SectionKind::IDS, SectionKind::METADATA, SectionKind::PAYLOAD];

/// What opening a segment needs: the factory of its kind, its bytes (the whole file, or with
/// a cache only the keys and metadata sections), the reader of the sections its index reads
/// on demand (`None`: read them from the whole file), and with a cache, where its index
/// loads from on first use.
pub(crate) struct Fetched {
    pub factory: Arc<dyn IndexFactory>,
    pub meta: SegmentMeta,
    pub file: SegmentBytes,
    pub random: Option<Arc<dyn RandomAccess>>,
    pub lazy: Option<IndexSource>,
    /// The reader of on-demand sections (the same as `random` or the lazy index's), kept
    /// for its measured cost ([`RandomAccess::read_cost`]).
    pub reads: Option<Arc<dyn RandomAccess>>,
}

/// Fetches segment `meta`: through `cache` when given (two rounds of ranged reads: the
/// header and footer, then the keys and metadata; the index loads on first use), else
/// whole.
///
/// # Errors
/// `Incompatible` (before any read) when `indexes` has no factory for the segment's kind;
/// `Unavailable`/`NotFound` for failed reads, `Corrupt` for a damaged layout.
pub(crate) async fn fetch_segment(
    store: &Arc<dyn BlobStore>,
    cache: Option<&BlockCache>,
    indexes: &IndexRegistry,
    meta: &SegmentMeta,
) -> Result<Fetched> {
    let factory = indexes.get(meta.kind).map_err(|e| Error::index(&meta.file, e))?.clone();
    match cache {
        Some(cache) => fetch_ranged(store, cache, factory, meta).await,
        None => fetch_whole(store.as_ref(), factory, meta).await,
    }
}

async fn fetch_whole(store: &dyn BlobStore, factory: Arc<dyn IndexFactory>, meta: &SegmentMeta) -> Result<Fetched> {
    let name = &meta.file;
    let bytes = store.get(name).await.map_err(|e| Error::store(name, e))?;
    let random = match factory.on_demand_sections().is_empty() {
        true => None,
        false => store.random_access(name).await.map_err(|e| Error::store(name, e))?,
    };
    let file = SegmentBytes::whole(bytes).map_err(|e| Error::format(name, e))?;
    Ok(Fetched { factory, meta: meta.clone(), file, reads: random.clone(), random, lazy: None })
}

async fn fetch_ranged(
    store: &Arc<dyn BlobStore>,
    cache: &BlockCache,
    factory: Arc<dyn IndexFactory>,
    meta: &SegmentMeta,
) -> Result<Fetched> {
    let (name, len) = (&meta.file, meta.bytes);
    let ends = [0..(HEADER_LEN as u64).min(len), len - tail_len(len)..len];
    let ends = cache.read_many(store, name, len, &ends).await.map_err(|e| read_error(meta, e))?;
    let layout = SegmentLayout::parse_ends(&ends[0], &ends[1], len).map_err(|e| Error::format(name, e))?;
    let sections = read_sections(store, cache, meta, &layout, |k| OPEN_SECTIONS.contains(&k)).await.map_err(|e| read_error(meta, e))?;
    let random: Option<Arc<dyn RandomAccess>> =
        (!factory.on_demand_sections().is_empty()).then(|| Arc::new(cache.reader(store.clone(), name, len)) as Arc<dyn RandomAccess>);
    let file = SegmentBytes::from_sections(layout.clone(), sections).map_err(|e| Error::format(name, e))?;
    let reads = random.clone();
    let lazy = IndexSource { factory: factory.clone(), store: store.clone(), cache: cache.clone(), meta: meta.clone(), layout, random };
    Ok(Fetched { factory, meta: meta.clone(), file, random: None, lazy: Some(lazy), reads })
}

/// The sections of segment `meta` (whose layout is `layout`) that `wanted` accepts, read
/// through `cache` in one round of ranged reads, for bytes the segment keeps itself.
pub(crate) async fn read_sections(
    store: &Arc<dyn BlobStore>,
    cache: &BlockCache,
    meta: &SegmentMeta,
    layout: &SegmentLayout,
    wanted: impl Fn(SectionKind) -> bool,
) -> std::result::Result<Vec<(SectionKind, Bytes)>, StoreError> {
    let entries: Vec<_> = layout.sections.iter().filter(|e| wanted(e.kind)).collect();
    let ranges: Vec<_> = entries.iter().map(|e| e.offset..e.offset + e.len).collect();
    let bytes = cache.read_bulk(store, &meta.file, meta.bytes, &ranges).await?;
    Ok(entries.iter().map(|e| e.kind).zip(bytes).collect())
}

/// A ranged read past the end means the object is shorter than the manifest says: corrupt.
fn read_error(meta: &SegmentMeta, e: StoreError) -> Error {
    match e {
        StoreError::InvalidRange { size, .. } => Error::with_source(
            ErrorKind::Corrupt,
            format!("{}: the manifest says {} bytes, the store holds {size} (truncated or replaced)", meta.file, meta.bytes),
            e,
        ),
        e => Error::store(&meta.file, e),
    }
}

/// Where a lazy index's sections come from.
#[derive(Debug, Clone)]
pub(crate) struct IndexSource {
    pub factory: Arc<dyn IndexFactory>,
    pub store: Arc<dyn BlobStore>,
    pub cache: BlockCache,
    pub meta: SegmentMeta,
    pub layout: SegmentLayout,
    /// Reads of the sections the index reads on demand (through the cache).
    pub random: Option<Arc<dyn RandomAccess>>,
}
