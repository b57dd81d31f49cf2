//! Limits on what callers may ask for, checked once at every entry point, so that no
//! caller's number turns into an unbounded allocation, recursion or loop. Each limit is
//! enforced with a typed `InvalidArgument` error naming it.
//!
//! | what | limit |
//! |---|---|
//! | dimension of a database | 1..=[`MAX_DIM`] |
//! | `k` of a search | 1..=[`MAX_K`] |
//! | `ef_search` | at most [`MAX_EF_SEARCH`] |
//! | `k × rerank_factor` | at most [`MAX_RERANK_CANDIDATES`] |
//! | DiskANN `beam_width` | 1..=[`MAX_BEAM_WIDTH`] |
//! | scan `batch_size` | 1..=[`MAX_SCAN_BATCH`] |
//! | filter text, nodes, depth | [`MAX_FILTER_BYTES`], [`MAX_FILTER_NODES`], [`MAX_FILTER_DEPTH`] |
//! | metadata of one row | [`MAX_FIELDS_PER_ROW`] fields, strings of [`MAX_STRING_BYTES`], lists of [`MAX_LIST_LEN`], [`MAX_ROW_BYTES`] in all |
//! | payload of one record | [`crate::DbOptions::max_payload_bytes`] |

use stratovec_indexes::SearchParams;

pub use crate::filter::{MAX_FILTER_BYTES, MAX_FILTER_DEPTH, MAX_FILTER_NODES};
pub use stratovec_formats::metadata::{MAX_FIELDS_PER_ROW, MAX_LIST_LEN, MAX_ROW_BYTES, MAX_STRING_BYTES};

use crate::{Error, Result};

/// Largest vector dimension a database may have (a manifest or segment header that claims
/// more is damaged).
pub const MAX_DIM: usize = 65_536;
/// Largest `k` of a search.
pub const MAX_K: usize = 100_000;
/// Largest `ef_search` (HNSW search list, DiskANN `L`).
pub const MAX_EF_SEARCH: usize = 100_000;
/// Largest `k × rerank_factor`: candidates re-scored with full vectors.
pub const MAX_RERANK_CANDIDATES: usize = 1_000_000;
/// Largest DiskANN beam width (node reads per hop).
pub const MAX_BEAM_WIDTH: usize = 1024;
/// Largest batch of a scan, in records.
pub const MAX_SCAN_BATCH: usize = 1_000_000;

/// Checks `k` and `params` of a search against the limits above.
///
/// # Errors
/// `InvalidArgument` naming the parameter and its limit.
pub(crate) fn check_search(k: usize, params: &SearchParams) -> Result<()> {
    if k == 0 || k > MAX_K {
        return Err(Error::invalid(format!("k must be in 1..={MAX_K}, got {k}")));
    }
    if params.ef_search > MAX_EF_SEARCH {
        return Err(Error::invalid(format!("ef_search must be at most {MAX_EF_SEARCH}, got {}", params.ef_search)));
    }
    if k.checked_mul(params.rerank_factor).is_none_or(|n| n > MAX_RERANK_CANDIDATES) {
        return Err(Error::invalid(format!(
            "k × rerank_factor must be at most {MAX_RERANK_CANDIDATES}, got {k} × {}",
            params.rerank_factor
        )));
    }
    if params.beam_width == 0 || params.beam_width > MAX_BEAM_WIDTH {
        return Err(Error::invalid(format!("beam_width must be in 1..={MAX_BEAM_WIDTH}, got {}", params.beam_width)));
    }
    Ok(())
}

/// Checks the batch size of a scan.
///
/// # Errors
/// `InvalidArgument` for 0 or more than [`MAX_SCAN_BATCH`].
pub(crate) fn check_scan_batch(batch_size: usize) -> Result<()> {
    if batch_size == 0 || batch_size > MAX_SCAN_BATCH {
        return Err(Error::invalid(format!("batch_size must be in 1..={MAX_SCAN_BATCH}, got {batch_size}")));
    }
    Ok(())
}
