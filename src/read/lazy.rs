//! The index of a segment read through a block cache, loaded on first use: opening a
//! remote segment reads only its ends, keys and metadata; the index sections (vectors and
//! graph of Flat and HNSW segments; codes of DiskANN segments) are fetched, in one round
//! of concurrent ranged reads, by the first search or read that needs them.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use stratovec_formats::segment::{SectionKind, SegmentBytes, SegmentKind, SegmentWriter};

use crate::read::fetch::IndexSource;
use stratovec_indexes::{Candidate, Index, IndexError, Metric, RowFilter, SearchParams};

/// An [`Index`] whose sections are fetched on first use. Kind, dimension, metric and row
/// count come from the segment header and need no fetch.
#[derive(Debug)]
pub(crate) struct LazyIndex {
    source: IndexSource,
    verify: bool,
    loaded: OnceLock<Box<dyn Index>>,
}

impl LazyIndex {
    pub fn new(source: IndexSource, verify: bool) -> Self {
        LazyIndex { source, verify, loaded: OnceLock::new() }
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    /// Fetches the index sections (one round of concurrent ranged reads; concurrent loads
    /// share the cache's requests) and opens the index.
    ///
    /// # Errors
    /// `IndexError::Io` for a failed read, `Format` for a damaged section.
    pub async fn load(&self) -> Result<&dyn Index, IndexError> {
        if let Some(i) = self.loaded.get() {
            return Ok(i.as_ref());
        }
        let s = &self.source;
        let on_demand = s.factory.on_demand_sections();
        let is_index_section = |k: SectionKind| !crate::read::fetch::OPEN_SECTIONS.contains(&k) && !on_demand.contains(&k);
        let sections = crate::read::fetch::read_sections(&s.store, &s.cache, &s.meta, &s.layout, is_index_section)
            .await
            .map_err(|e| IndexError::Io(std::io::Error::other(format!("{}: {e}", s.meta.file))))?;
        let file = SegmentBytes::from_sections(s.layout.clone(), sections)?;
        let index = crate::read::index_kinds::open_index(s.factory.as_ref(), &file, s.random.clone(), self.verify)?;
        let _ = self.loaded.set(index); // or another thread's, loaded from the same bytes
        self.loaded.get().map(AsRef::as_ref).ok_or_else(|| IndexError::Io(std::io::Error::other("index not stored")))
    }

    fn get(&self) -> Result<&dyn Index, IndexError> {
        match self.loaded.get() {
            Some(i) => Ok(i.as_ref()),
            None => pollster::block_on(self.load()),
        }
    }
}

impl Index for LazyIndex {
    fn kind(&self) -> SegmentKind {
        self.source.layout.header.kind
    }

    fn dim(&self) -> usize {
        self.source.layout.header.dim as usize
    }

    fn metric(&self) -> Metric {
        self.source.layout.header.metric
    }

    fn rows(&self) -> usize {
        self.source.layout.header.rows as usize
    }

    fn vector(&self, row: u32) -> Result<Option<Cow<'_, [f32]>>, IndexError> {
        self.get()?.vector(row)
    }

    fn vectors_of(&self, rows: &[u32], each: &mut dyn FnMut(usize, &[f32])) -> Result<(), IndexError> {
        self.get()?.vectors_of(rows, each)
    }

    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError> {
        self.get()?.search(query, k, params, filter)
    }

    /// The loaded index's vectors; `None` until it is loaded (the planner loads cold
    /// indexes before it plans).
    fn vectors_in_memory(&self) -> Option<&[f32]> {
        self.loaded.get().and_then(|i| i.vectors_in_memory())
    }

    /// The loaded index's; `None` until it is loaded.
    fn on_demand(&self, k: usize, params: &SearchParams) -> Option<stratovec_indexes::OnDemand> {
        self.loaded.get().and_then(|i| i.on_demand(k, params))
    }

    /// The engine writes sections only from indexes it builds, never from a segment's;
    /// here for the trait (it writes nothing if the index cannot be loaded).
    fn write_sections(&self, writer: &mut SegmentWriter) {
        if let Ok(i) = self.get() {
            i.write_sections(writer);
        }
    }
}

impl crate::Db {
    /// Drops the cached blocks of a file being deleted.
    pub(crate) fn forget_cached(&self, file: &str) {
        if let Some(c) = &self.options.cache {
            c.forget(file);
        }
    }

    /// Loads, concurrently, the indexes of segments read through a cache that nothing has
    /// loaded yet, so a cold first search costs one round of reads rather than one per
    /// segment. Searches and scans call it first.
    ///
    /// # Errors
    /// `Unavailable` for a failed read, `Corrupt` for a damaged section.
    pub(crate) fn load_cold_indexes(&self) -> crate::Result<()> {
        let cold: Vec<(String, Arc<LazyIndex>)> = self
            .state
            .read()
            .segments
            .iter()
            .filter_map(|s| s.lazy.clone().filter(|l| !l.is_loaded()).map(|l| (s.meta.file.clone(), l)))
            .collect();
        if cold.is_empty() {
            return Ok(());
        }
        let loads = cold.iter().map(|(name, l)| async move { l.load().await.map(drop).map_err(|e| crate::Error::index(name, e)) });
        pollster::block_on(futures_util::future::try_join_all(loads))?;
        Ok(())
    }
}
