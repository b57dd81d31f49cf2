//! The read path: search fan-out, filtered search and its planner, scans, fetching segments (whole or through a cache), indexes loaded on first use, and read-only handles.

pub(crate) mod cost;
pub(crate) mod fetch;
pub(crate) mod index_kinds;
pub(crate) mod lazy;
pub(crate) mod query;
pub(crate) mod read_only;
pub(crate) mod replica;
pub(crate) mod scan;
pub(crate) mod search;
