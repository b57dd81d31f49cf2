//! Search math of stratovec: distance kernels, quantizers and indexes.
//!
//! * [`kernel`]: the [`DistanceKernel`] trait, scalar / AVX2+FMA / AVX-512F implementations,
//!   and the process-wide table chosen once at startup ([`kernels`]).
//! * [`quantizer`]: the [`Quantizer`] trait: [`Sq8`], [`Int4`], [`Pq`] and [`Binary`].
//! * [`Index`]: exact [`FlatIndex`] and graph-based [`HnswIndex`] over segment bytes, plus
//!   [`HnswGraph`], the concurrently-built HNSW graph of the memtable.
//!
//! All indexes rank by a distance where smaller is closer (see [`Metric`]).
#![deny(missing_docs)]

mod candidates;
pub mod codes;
mod diskann;
mod error;
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
pub use flat::FlatIndex;
pub use graph_search::{GraphView, Visited, VisitedBits};
pub use hnsw_build::{HnswGraph, HnswParams};
pub use hnsw_index::HnswIndex;
pub use index::{Index, OpenIndex, RowFilter, SearchParams};
pub use kernel::{kernels, DistanceKernel, KernelTable, Scorer};
pub use pod::PodSlice;
pub use quantizer::{Binary, Int4, Pq, PqParams, Quantizer, Sq8};
pub use stratovec_formats::{segment::SegmentKind, Metric};
pub use vamana::VamanaParams;
