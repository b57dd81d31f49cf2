//! Search math of stratovec: distance kernels, quantizers and indexes.
//!
//! * [`kernel`]: scalar / SSE4.2 / AVX2+FMA / AVX-512 / NEON kernels, and the process-wide
//!   [`KernelTable`] chosen once at startup ([`kernels`]).
//! * [`quantizer`]: the [`Quantizer`] trait: [`Sq8`], [`Int4`], [`Pq`], [`Binary`] and [`RaBitQ`].
//! * [`Index`]: exact [`FlatIndex`] and graph-based [`HnswIndex`] over segment bytes, plus
//!   [`HnswGraph`], the concurrently-built HNSW graph of the memtable.
//! * [`IndexFactory`] and [`IndexRegistry`]: how the engine opens and builds each segment
//!   kind, including user indexes registered under kind codes 128 to 255.
//!
//! All indexes rank by a distance where smaller is closer (see [`Metric`]).
#![deny(missing_docs)]

mod candidates;
pub mod codes;
#[cfg(feature = "test-util")]
pub mod conformance;
mod diskann;
mod error;
mod factory;
mod flat;
mod graph_search;
mod hnsw_build;
mod hnsw_index;
mod index;
pub mod kernel;
mod pod;
pub mod quantizer;
pub mod vamana;

pub use candidates::{Candidate, TopK};
pub use codes::{CodeKind, QuantizedCodes};
pub use diskann::{DiskAnnBuild, DiskAnnIndex, DiskAnnParams, SectorRead};
pub use error::IndexError;
pub use factory::{BuildInput, BuiltIndex, DiskAnnFactory, FlatFactory, HnswFactory, IndexFactory, IndexRegistry};
pub use flat::{exact_search, FlatIndex};
pub use graph_search::{GraphView, Visited, VisitedBits};
pub use hnsw_build::{HnswGraph, HnswParams};
pub use hnsw_index::HnswIndex;
pub use index::{Index, OnDemand, OpenIndex, RowFilter, SearchParams};
pub use kernel::{kernels, KernelTable, Scorer};
pub use pod::PodSlice;
pub use quantizer::{Binary, Int4, Pq, PqParams, Quantizer, RaBitQ, Sq8};
pub use stratovec_formats::{segment::SegmentKind, Metric};
pub use vamana::VamanaParams;
