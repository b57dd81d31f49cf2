//! The in-memory version of a database: its segments, tombstones, memtables and primary-key index, and the invariants that hold between them.

pub(crate) mod invariants;
pub(crate) mod rows;
pub(crate) mod segment;
pub(crate) mod state;
