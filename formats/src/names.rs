//! Object and file names, in one place: what a second implementation must write and parse
//! (docs/FORMAT.md §1).
//!
//! | name | what |
//! |---|---|
//! | `MANIFEST-{version:020}.bin` | manifest of `version` ([`manifest_name`]) |
//! | `segments/{id:020}-{epoch:020}.seg` | segment `id` written by the writer of `epoch` ([`segment_name`]) |
//! | `tombstones/{id:020}-{epoch:020}.tomb` | tombstone file `id` ([`tombstone_name`]) |
//! | `_stratovec/vacuum-floor` | the vacuum floor ([`VACUUM_FLOOR`]) |
//! | `{number:020}.wal` | write-ahead log file `number`, in a local directory ([`wal_name`]) |
//!
//! Names before epochs were added (`segments/{id:020}.seg`, `tombstones/{id:020}.tomb`)
//! are still read ([`file_id`]).

pub use crate::manifest::{manifest_name, parse_manifest_name};

/// The vacuum floor object: a decimal version below which every version may have been
/// deleted.
pub const VACUUM_FLOOR: &str = "_stratovec/vacuum-floor";

/// The name of segment `id` written by the writer of `epoch`. Ids are allocated from the
/// manifest's `next_segment_id`, which a fenced writer shares with the writer that fenced
/// it; the epoch keeps their files apart, so no writer ever replaces another's file.
pub fn segment_name(id: u64, epoch: u64) -> String {
    format!("segments/{id:020}-{epoch:020}.seg")
}

/// The name of tombstone file `id` written by the writer of `epoch`. Ids come from the
/// segment id counter, so a retried commit never replaces a file an earlier (possibly
/// published) attempt wrote.
pub fn tombstone_name(id: u64, epoch: u64) -> String {
    format!("tombstones/{id:020}-{epoch:020}.tomb")
}

/// The id in a segment or tombstone file name (either form above), `None` for any other
/// name.
pub fn file_id(name: &str) -> Option<u64> {
    let stem = name
        .strip_prefix("segments/")
        .and_then(|n| n.strip_suffix(".seg"))
        .or_else(|| name.strip_prefix("tombstones/").and_then(|n| n.strip_suffix(".tomb")))?;
    let digits = |d: &str| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit());
    let id = match stem.split_once('-') {
        Some((id, epoch)) if digits(epoch) => id,
        Some(_) => return None,
        None => stem,
    };
    digits(id).then(|| id.parse().ok())?
}

/// The file name of write-ahead log file `number`.
pub fn wal_name(number: u64) -> String {
    format!("{number:020}.wal")
}

/// The number of a write-ahead log file name, `None` for any other name.
pub fn parse_wal_name(name: &str) -> Option<u64> {
    name.strip_suffix(".wal").and_then(|n| n.parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_id(&segment_name(7, 3)), Some(7));
        assert_eq!(file_id(&tombstone_name(9, 1)), Some(9));
        assert_eq!(file_id("segments/00000000000000000012.seg"), Some(12));
        assert_eq!(file_id("segments/12.seg"), None);
        assert_eq!(file_id("segments/00000000000000000012-x.seg"), None);
        assert_eq!(parse_wal_name(&wal_name(42)), Some(42));
        assert_eq!(parse_manifest_name(&manifest_name(5)), Some(5));
    }
}
