//! The manifest: the one object that says which segments and tombstone files make up a
//! database version.
//!
//! ```text
//! 0   magic "STRVMANI"
//! 8   format_version u32
//! 12  payload_len u32
//! 16  payload_crc32c u32
//! 20  reserved u32 (0)
//! 24  payload: postcard encoding of [`Manifest`]
//! ```
//! Manifests are published as create-only objects `MANIFEST-{version:020}.bin`, so two
//! writers cannot both publish the same version.

use serde::{Deserialize, Serialize};

use crate::metadata::Scalar;
use crate::{checksum, read_u32, segment::SegmentKind, FormatError, Metric};

/// Magic at offset 0 of every manifest.
pub const MAGIC: &[u8; 8] = b"STRVMANI";
/// Manifest format version written by this crate. Version 2 added [`SegmentMeta::fields`],
/// version 3 [`Manifest::created_unix_ms`], version 4 [`Manifest::database_id`]; versions 1
/// to 3 are still read (with `fields: None`, `created_unix_ms: 0`, `database_id: 0`).
pub const FORMAT_VERSION: u32 = 4;
/// Oldest manifest format version this crate reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Most distinct strings and booleans kept per field in [`FieldStats::distinct`].
pub const MAX_DISTINCT: usize = 16;
/// Longest string, in bytes, that writers keep in [`FieldStats::distinct`]: a field with a
/// longer distinct string gets `distinct: None`, so a field's statistics stay under about
/// 2 KiB. Readers accept longer strings (manifests written before this bound).
pub const MAX_STAT_STRING: usize = 128;
/// Most fields with statistics that writers keep per segment: a segment with more gets
/// `fields: None` (never pruned by statistics). Readers accept more.
pub const MAX_STAT_FIELDS: usize = 256;
/// Reader feature bit: some segment has a user-registered index kind
/// ([`SegmentKind::is_custom`]). [`Manifest::encode`] sets it; readers written before user
/// kinds existed refuse such a manifest as incompatible.
pub const READER_FEATURE_CUSTOM_INDEX: u64 = 1;
/// Reader features this crate understands; a manifest that requires any other bit is
/// refused with [`FormatError::UnsupportedFeatures`].
pub const KNOWN_READER_FEATURES: u64 = READER_FEATURE_CUSTOM_INDEX;
const HEADER_LEN: usize = 24;
/// Largest manifest payload accepted, in bytes (64 MiB).
pub const MAX_PAYLOAD: u32 = 64 << 20;

/// Statistics of one metadata field over all rows of a segment (deleted rows included), so
/// a reader can skip a segment no row of which can match a filter without reading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldStats {
    /// Field name.
    pub name: String,
    /// Rows where the field is present and not null.
    pub present: u64,
    /// Smallest and largest number among the field's values and list elements; `None` when
    /// it holds no number.
    pub numbers: Option<(f64, f64)>,
    /// The distinct strings and booleans among its values and list elements, sorted, when
    /// there are at most [`MAX_DISTINCT`]; `None` when there are more.
    pub distinct: Option<Vec<Scalar>>,
}

/// One immutable segment of a database version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Segment id, unique within the database.
    pub id: u64,
    /// Index kind.
    pub kind: SegmentKind,
    /// Object name relative to the database root, e.g. `segments/00000000000000000001.seg`.
    pub file: String,
    /// Rows in the segment (including rows deleted later).
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Smallest user key in the segment (0 when empty).
    pub min_id: u64,
    /// Largest user key in the segment (0 when empty).
    pub max_id: u64,
    /// Statistics of each metadata field, sorted by name; `None` when unknown (segments
    /// listed by a version-1 manifest).
    pub fields: Option<Vec<FieldStats>>,
}

/// [`SegmentMeta`] as manifest format version 1 stores it.
#[derive(Deserialize)]
struct SegmentMetaV1 {
    id: u64,
    kind: SegmentKind,
    file: String,
    rows: u64,
    bytes: u64,
    min_id: u64,
    max_id: u64,
}

/// [`Manifest`] as format version 1 stores it.
#[derive(Deserialize)]
struct ManifestV1 {
    version: u64,
    epoch: u64,
    dim: u32,
    metric: Metric,
    reader_features: u64,
    writer_features: u64,
    segments: Vec<SegmentMetaV1>,
    tombstone_files: Vec<TombstoneFileMeta>,
    next_segment_id: u64,
}

/// [`Manifest`] as format version 3 stores it (no database id).
#[derive(Deserialize)]
struct ManifestV3 {
    version: u64,
    epoch: u64,
    dim: u32,
    metric: Metric,
    reader_features: u64,
    writer_features: u64,
    segments: Vec<SegmentMeta>,
    tombstone_files: Vec<TombstoneFileMeta>,
    next_segment_id: u64,
    created_unix_ms: u64,
}

impl From<ManifestV3> for Manifest {
    fn from(m: ManifestV3) -> Self {
        Manifest {
            version: m.version,
            epoch: m.epoch,
            dim: m.dim,
            metric: m.metric,
            reader_features: m.reader_features,
            writer_features: m.writer_features,
            segments: m.segments,
            tombstone_files: m.tombstone_files,
            next_segment_id: m.next_segment_id,
            created_unix_ms: m.created_unix_ms,
            database_id: 0,
        }
    }
}

/// [`Manifest`] as format version 2 stores it (no creation time).
#[derive(Deserialize)]
struct ManifestV2 {
    version: u64,
    epoch: u64,
    dim: u32,
    metric: Metric,
    reader_features: u64,
    writer_features: u64,
    segments: Vec<SegmentMeta>,
    tombstone_files: Vec<TombstoneFileMeta>,
    next_segment_id: u64,
}

impl From<ManifestV2> for Manifest {
    fn from(m: ManifestV2) -> Self {
        Manifest {
            version: m.version,
            epoch: m.epoch,
            dim: m.dim,
            metric: m.metric,
            reader_features: m.reader_features,
            writer_features: m.writer_features,
            segments: m.segments,
            tombstone_files: m.tombstone_files,
            next_segment_id: m.next_segment_id,
            created_unix_ms: 0,
            database_id: 0,
        }
    }
}

impl From<ManifestV1> for Manifest {
    fn from(m: ManifestV1) -> Self {
        let segments = m
            .segments
            .into_iter()
            .map(|s| SegmentMeta {
                id: s.id,
                kind: s.kind,
                file: s.file,
                rows: s.rows,
                bytes: s.bytes,
                min_id: s.min_id,
                max_id: s.max_id,
                fields: None,
            })
            .collect();
        Manifest {
            version: m.version,
            epoch: m.epoch,
            dim: m.dim,
            metric: m.metric,
            reader_features: m.reader_features,
            writer_features: m.writer_features,
            segments,
            tombstone_files: m.tombstone_files,
            next_segment_id: m.next_segment_id,
            created_unix_ms: 0,
            database_id: 0,
        }
    }
}

/// One tombstone file (rows of earlier segments deleted by a commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneFileMeta {
    /// Object name relative to the database root.
    pub file: String,
    /// Number of tombstones in the file.
    pub count: u64,
}

/// A database version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version number; version `v` is stored as `MANIFEST-{v:020}.bin`.
    pub version: u64,
    /// Writer epoch: incremented by every writer that opens the database.
    pub epoch: u64,
    /// Vector dimension.
    pub dim: u32,
    /// Metric.
    pub metric: Metric,
    /// Features a reader must understand to read this version.
    pub reader_features: u64,
    /// Features a writer must understand to write the next version.
    pub writer_features: u64,
    /// Live segments, oldest first.
    pub segments: Vec<SegmentMeta>,
    /// Tombstone files, oldest first.
    pub tombstone_files: Vec<TombstoneFileMeta>,
    /// Next unused segment id.
    pub next_segment_id: u64,
    /// When the writer made this version: milliseconds since the Unix epoch by its clock (0
    /// for versions written before format version 3). Used by `open_at_time`.
    pub created_unix_ms: u64,
    /// Random 128-bit id given to the database when it is created, kept by every later
    /// version (0 for versions written before format version 4; a writer that opens such a
    /// database gives it an id). Write-ahead log files carry it, so a log from another
    /// database is refused.
    pub database_id: u128,
}

impl Manifest {
    /// Encodes the manifest with its header and checksum. Sets
    /// [`READER_FEATURE_CUSTOM_INDEX`] in the encoded copy when a segment has a user kind.
    pub fn encode(&self) -> Vec<u8> {
        let payload = if self.segments.iter().any(|s| s.kind.is_custom()) && self.reader_features & READER_FEATURE_CUSTOM_INDEX == 0 {
            let required = Manifest { reader_features: self.reader_features | READER_FEATURE_CUSTOM_INDEX, ..self.clone() };
            postcard::to_allocvec(&required)
        } else {
            postcard::to_allocvec(self)
        };
        let payload = payload.expect("manifest serialization cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&checksum(&payload).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes and validates a manifest.
    ///
    /// # Errors
    /// `Truncated`, `BadMagic`, `UnsupportedVersion`, `Checksum`, `UnsupportedFeatures`, or
    /// `Invalid` (payload does not decode, trailing bytes, zero dimension).
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < HEADER_LEN {
            return Err(FormatError::truncated(HEADER_LEN, bytes.len()));
        }
        if &bytes[0..8] != MAGIC {
            return Err(FormatError::BadMagic { expected: "STRVMANI" });
        }
        let version = read_u32(bytes, 8).unwrap_or(0);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FormatError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        if read_u32(bytes, 20) != Some(0) {
            return Err(FormatError::invalid("manifest reserved header field is not zero"));
        }
        let len = read_u32(bytes, 12).unwrap_or(0);
        if len > MAX_PAYLOAD {
            return Err(FormatError::invalid(format!("manifest payload length {len}")));
        }
        let payload = &bytes[HEADER_LEN..];
        if payload.len() != len as usize {
            return Err(FormatError::truncated(HEADER_LEN as u64 + len as u64, bytes.len()));
        }
        let stored = read_u32(bytes, 16).unwrap_or(0);
        let computed = checksum(payload);
        if stored != computed {
            return Err(FormatError::Checksum { what: "manifest".into(), stored, computed });
        }
        let bad = |e: postcard::Error| FormatError::invalid(format!("manifest payload: {e}"));
        let (m, rest): (Manifest, _) = match version {
            1 => {
                let (m, rest): (ManifestV1, _) = postcard::take_from_bytes(payload).map_err(bad)?;
                (m.into(), rest)
            }
            2 => {
                let (m, rest): (ManifestV2, _) = postcard::take_from_bytes(payload).map_err(bad)?;
                (m.into(), rest)
            }
            3 => {
                let (m, rest): (ManifestV3, _) = postcard::take_from_bytes(payload).map_err(bad)?;
                (m.into(), rest)
            }
            _ => postcard::take_from_bytes(payload).map_err(bad)?,
        };
        if !rest.is_empty() {
            return Err(FormatError::invalid("manifest payload has trailing bytes"));
        }
        if m.reader_features & !KNOWN_READER_FEATURES != 0 {
            return Err(FormatError::UnsupportedFeatures(m.reader_features & !KNOWN_READER_FEATURES));
        }
        if m.dim == 0 {
            return Err(FormatError::invalid("manifest dimension 0"));
        }
        let mut ids: Vec<u64> = m.segments.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(FormatError::invalid(format!("segment id {} is listed twice", w[0])));
        }
        if let Some(id) = ids.last().filter(|id| **id >= m.next_segment_id) {
            return Err(FormatError::invalid(format!("segment id {id} is not below next_segment_id {}", m.next_segment_id)));
        }
        for seg in &m.segments {
            check_field_stats(seg.fields.as_deref().unwrap_or(&[]))
                .map_err(|e| FormatError::invalid(format!("field statistics of segment {}: {e}", seg.id)))?;
        }
        Ok(m)
    }
}

/// Checks what readers rely on when pruning: names strictly ascending, numeric bounds
/// finite with `min <= max`, distinct values only strings and booleans, at most
/// [`MAX_DISTINCT`] of them.
fn check_field_stats(fields: &[FieldStats]) -> Result<(), String> {
    if let Some(w) = fields.windows(2).find(|w| w[0].name >= w[1].name) {
        return Err(format!("field {:?} is not after {:?}", w[1].name, w[0].name));
    }
    for f in fields {
        if let Some((lo, hi)) = f.numbers {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("field {:?} has numeric bounds ({lo}, {hi})", f.name));
            }
        }
        if let Some(d) = &f.distinct {
            if d.len() > MAX_DISTINCT || d.iter().any(|v| !matches!(v, Scalar::Bool(_) | Scalar::Str(_))) {
                return Err(format!("field {:?} has a bad distinct-value list", f.name));
            }
        }
    }
    Ok(())
}

/// Object name of manifest `version`: `MANIFEST-{version:020}.bin`.
pub fn manifest_name(version: u64) -> String {
    format!("MANIFEST-{version:020}.bin")
}

/// Parses a manifest object name back into its version.
pub fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?.strip_suffix(".bin")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_stats() -> impl Strategy<Value = Option<Vec<FieldStats>>> {
        let scalar = prop_oneof![any::<bool>().prop_map(Scalar::Bool), "[a-z]{0,6}".prop_map(Scalar::Str)];
        let field = (
            "[a-z]{1,8}",
            any::<u64>(),
            proptest::option::of((-1e9f64..1e9, -1e9f64..1e9)),
            proptest::option::of(proptest::collection::vec(scalar, 0..4)),
        )
            .prop_map(|(name, present, numbers, distinct)| FieldStats {
                name,
                present,
                numbers: numbers.map(|(a, b): (f64, f64)| (a.min(b), a.max(b))),
                distinct,
            });
        let sorted = proptest::collection::vec(field, 0..3).prop_map(|mut v| {
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v.dedup_by(|a, b| a.name == b.name);
            v
        });
        proptest::option::of(sorted)
    }

    #[test]
    fn version_1_manifests_still_decode() {
        let v1 = include_bytes!("../../fuzz/corpus/manifest_decode/MANIFEST-00000000000000000002.bin");
        assert_eq!(read_u32(v1, 8), Some(1));
        let m = Manifest::decode(v1).unwrap();
        assert_eq!(m.version, 2);
        assert!(!m.segments.is_empty() && m.segments.iter().all(|s| s.fields.is_none()));
        let again = Manifest::decode(&m.encode()).unwrap();
        assert_eq!(again, m, "re-encoded as version {FORMAT_VERSION}");
    }

    #[test]
    fn version_2_manifests_still_decode() {
        let v2 = include_bytes!("../../fuzz/corpus/manifest_decode/v2_MANIFEST-00000000000000000003.bin");
        assert_eq!(read_u32(v2, 8), Some(2));
        let m = Manifest::decode(v2).unwrap();
        assert_eq!((m.version, m.created_unix_ms), (3, 0));
        assert!(m.segments.iter().all(|s| s.fields.is_some()));
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m, "re-encoded as version {FORMAT_VERSION}");
    }

    /// A version-3 payload is a version-4 payload without the trailing database id (a
    /// postcard varint, one zero byte for id 0).
    #[test]
    fn version_3_manifests_still_decode() {
        let v2 = include_bytes!("../../fuzz/corpus/manifest_decode/v2_MANIFEST-00000000000000000003.bin");
        let mut m = Manifest::decode(v2).unwrap();
        m.created_unix_ms = 1_700_000_000_000;
        let v4 = m.encode();
        assert_eq!(v4.last(), Some(&0), "database id 0 is one zero byte");
        let payload = &v4[HEADER_LEN..v4.len() - 1];
        let mut v3 = v4[..HEADER_LEN].to_vec();
        v3[8..12].copy_from_slice(&3u32.to_le_bytes());
        v3[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        v3[16..20].copy_from_slice(&checksum(payload).to_le_bytes());
        v3.extend_from_slice(payload);
        let back = Manifest::decode(&v3).unwrap();
        assert_eq!((back.created_unix_ms, back.database_id), (1_700_000_000_000, 0));
        assert_eq!(back, m);
    }

    /// Found by the `db_open` fuzz target: a manifest listing one segment twice opened into
    /// a state whose invariants were broken.
    #[test]
    fn duplicate_or_unallocated_segment_ids_are_invalid() {
        let v1 = include_bytes!("../../fuzz/corpus/manifest_decode/MANIFEST-00000000000000000002.bin");
        let good = Manifest::decode(v1).unwrap();
        assert!(!good.segments.is_empty());
        let mut twice = good.clone();
        twice.segments.push(twice.segments[0].clone());
        assert!(matches!(Manifest::decode(&twice.encode()), Err(FormatError::Invalid(m)) if m.contains("twice")));
        let mut ahead = good.clone();
        ahead.next_segment_id = ahead.segments.iter().map(|s| s.id).max().unwrap();
        assert!(matches!(Manifest::decode(&ahead.encode()), Err(FormatError::Invalid(m)) if m.contains("next_segment_id")));
    }

    #[test]
    fn segment_kinds_keep_their_enum_encoding_and_user_kinds_require_the_feature_bit() {
        // Before user kinds, `SegmentKind` was the enum {Flat, Hnsw, DiskAnn}: postcard wrote
        // its variant index. The newtype writes the same bytes.
        #[derive(Serialize)]
        enum Before {
            Flat,
            Hnsw,
            DiskAnn,
        }
        for (old, new) in [(Before::Flat, SegmentKind::FLAT), (Before::Hnsw, SegmentKind::HNSW), (Before::DiskAnn, SegmentKind::DISKANN)] {
            let bytes = postcard::to_allocvec(&old).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(&new).unwrap());
            assert_eq!(postcard::from_bytes::<SegmentKind>(&bytes).unwrap(), new);
        }
        assert!(postcard::from_bytes::<SegmentKind>(&postcard::to_allocvec(&3u32).unwrap()).is_err(), "code 4 is reserved");
        assert!(postcard::from_bytes::<SegmentKind>(&postcard::to_allocvec(&u32::MAX).unwrap()).is_err());
        let v1 = include_bytes!("../../fuzz/corpus/manifest_decode/MANIFEST-00000000000000000002.bin");
        let mut m = Manifest::decode(v1).unwrap();
        assert_eq!(m.reader_features, 0);
        m.segments[0].kind = SegmentKind::custom(200).unwrap();
        let decoded = Manifest::decode(&m.encode()).unwrap();
        assert_eq!(decoded.segments[0].kind.code(), 200);
        assert_eq!(decoded.reader_features, READER_FEATURE_CUSTOM_INDEX);
        assert!(SegmentKind::custom(3).is_err());
        assert_eq!(SegmentKind::custom(200).unwrap().to_string(), "custom-200");
    }

    #[test]
    fn bad_field_statistics_are_invalid() {
        let v1 = include_bytes!("../../fuzz/corpus/manifest_decode/MANIFEST-00000000000000000002.bin");
        let good = Manifest::decode(v1).unwrap();
        let stats = |name: &str, numbers, distinct| FieldStats { name: name.into(), present: 1, numbers, distinct };
        for fields in [
            vec![stats("a", Some((f64::NAN, 0.5)), None)],
            vec![stats("a", Some((2.0, 1.0)), None)],
            vec![stats("a", Some((0.0, f64::INFINITY)), None)],
            vec![stats("a", None, Some(vec![Scalar::Float(1.0)]))],
            vec![stats("a", None, Some(vec![Scalar::Bool(true); MAX_DISTINCT + 1]))],
            vec![stats("b", None, None), stats("a", None, None)],
            vec![stats("a", None, None), stats("a", None, None)],
        ] {
            let mut m = good.clone();
            m.segments[0].fields = Some(fields.clone());
            assert!(matches!(Manifest::decode(&m.encode()), Err(FormatError::Invalid(_))), "{fields:?}");
        }
    }

    fn arb_manifest() -> impl Strategy<Value = Manifest> {
        let seg = (any::<u64>(), any::<bool>(), "[a-z/0-9.]{1,30}", any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), arb_stats())
            .prop_map(|(id, hnsw, file, rows, bytes, min_id, max_id, fields)| SegmentMeta {
                id,
                kind: if hnsw { SegmentKind::HNSW } else { SegmentKind::FLAT },
                file,
                rows,
                bytes,
                min_id,
                max_id,
                fields,
            });
        let tomb = ("[a-z/0-9.]{1,30}", any::<u64>()).prop_map(|(file, count)| TombstoneFileMeta { file, count });
        (
            any::<u64>(),
            any::<u64>(),
            1u32..5000,
            0u8..3,
            proptest::collection::vec(seg, 0..5),
            proptest::collection::vec(tomb, 0..5),
            any::<u64>(),
            any::<u64>(),
            any::<u128>(),
        )
            .prop_map(
                |(version, epoch, dim, metric, mut segments, tombstone_files, next_segment_id, created_unix_ms, database_id)| {
                    // Segment ids are distinct and below next_segment_id (decode checks it).
                    let mut next = next_segment_id % (1 << 40);
                    for s in segments.iter_mut() {
                        s.id = next;
                        next += 1 + s.rows % 3;
                    }
                    let next_segment_id = next;
                    Manifest {
                        version,
                        epoch,
                        dim,
                        metric: [Metric::L2, Metric::InnerProduct, Metric::Cosine][metric as usize],
                        reader_features: 0,
                        writer_features: 0,
                        segments,
                        tombstone_files,
                        next_segment_id,
                        created_unix_ms,
                        database_id,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(m in arb_manifest()) {
            prop_assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn any_single_bit_flip_is_detected(m in arb_manifest(), bit in any::<usize>()) {
            let mut bytes = m.encode();
            let bit = bit % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(Manifest::decode(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Manifest::decode(&bytes);
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(manifest_name(42), "MANIFEST-00000000000000000042.bin");
        assert_eq!(parse_manifest_name(&manifest_name(42)), Some(42));
        assert_eq!(parse_manifest_name("MANIFEST-12.bin"), None);
    }
}
