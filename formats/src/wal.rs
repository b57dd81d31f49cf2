//! The write-ahead log: one file per memtable generation, holding the writes (upserts and
//! deletes) acknowledged since the last commit, each batch framed with a CRC32C.
//!
//! ```text
//! file header (32 bytes; 16 in format version 1, which had no database id)
//! 0   magic "STRVWLOG"
//! 8   format_version u32
//! 12  reserved u32 (0)
//! 16  database_id u128 (the manifest's `database_id`; 0 if unknown)
//! records, back to back:
//! 0   body_len u32
//! 4   crc32c u32 of the body
//! 8   body: op_count u32, then op_count ops:
//!       tag u8 = 1 (upsert): id u64, n u32, n × f32 vector, meta_len u32, meta_len bytes of
//!                            metadata row (see `metadata::encode_row`), payload_len u32,
//!                            payload_len bytes
//!       tag u8 = 2 (delete): id u64
//! ```
//!
//! A writer appends whole records and never rewrites one. A crash can leave a *torn* last
//! record (short, or with a CRC that does not match); a reader replays every record before
//! the first bad one ([`read`]) and reports the offset where the good prefix ends, so the
//! file can be truncated there. The database id lets the engine refuse a log that belongs to
//! another database.

use crate::metadata::{decode_row, encode_row, Metadata};
use crate::{checksum, read_u32, read_u64, FormatError};

/// Magic at offset 0.
pub const MAGIC: &[u8; 8] = b"STRVWLOG";
/// Format version written by this crate; version 2 added the database id. Versions 1 and 2
/// are read.
pub const FORMAT_VERSION: u32 = 2;
/// Bytes of the file header written by this crate.
pub const HEADER_LEN: usize = 32;
/// Bytes of a format version 1 file header.
pub const HEADER_LEN_V1: usize = 16;
const FRAME_LEN: usize = 8;
const TAG_UPSERT: u8 = 1;
const TAG_DELETE: u8 = 2;

/// The file header of a new log file of the database `database_id`.
pub fn header(database_id: u128) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..32].copy_from_slice(&database_id.to_le_bytes());
    h
}

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
pub enum WalOp {
    /// Insert or replace key `id`.
    Upsert {
        /// User key.
        id: u64,
        /// The stored vector (already normalised for cosine), `dim` values.
        vector: Vec<f32>,
        /// Metadata of the row.
        metadata: Metadata,
        /// Payload of the row.
        payload: Vec<u8>,
    },
    /// Delete key `id` (a no-op if it is not live).
    Delete {
        /// User key.
        id: u64,
    },
}

/// Builds the bytes of one record (a write batch, applied atomically on replay).
#[derive(Debug)]
pub struct RecordBuilder {
    buf: Vec<u8>,
    ops: u32,
    /// A length that does not fit its u32 field was added.
    oversized: bool,
}

/// Largest record body, in bytes: its length is a u32.
pub const MAX_RECORD_BODY: usize = u32::MAX as usize;

impl Default for RecordBuilder {
    fn default() -> Self {
        RecordBuilder { buf: vec![0; FRAME_LEN + 4], ops: 0, oversized: false }
    }
}

impl RecordBuilder {
    /// Appends an upsert of `id` with `vector` (any length), metadata and payload.
    pub fn upsert(&mut self, id: u64, vector: &[f32], metadata: &Metadata, payload: &[u8]) {
        self.buf.push(TAG_UPSERT);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&(vector.len() as u32).to_le_bytes());
        self.buf.reserve(vector.len() * 4);
        for x in vector {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
        let meta = if metadata.is_empty() { Vec::new() } else { encode_row(metadata) };
        self.oversized |= [vector.len(), meta.len(), payload.len()].iter().any(|&n| u32::try_from(n).is_err());
        self.buf.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&meta);
        self.buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(payload);
        self.ops = self.ops.saturating_add(1);
        self.oversized |= self.ops == u32::MAX;
    }

    /// Appends a delete of `id`.
    pub fn delete(&mut self, id: u64) {
        self.buf.push(TAG_DELETE);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.ops += 1;
    }

    /// Operations so far.
    pub fn len(&self) -> usize {
        self.ops as usize
    }

    /// Whether no operation was added.
    pub fn is_empty(&self) -> bool {
        self.ops == 0
    }

    /// The framed record: length, CRC32C and body.
    ///
    /// # Errors
    /// `Invalid` if the body is over [`MAX_RECORD_BODY`] bytes (its length would not fit
    /// the frame) or a payload or metadata row is over 4 GiB: such a batch must be split.
    pub fn finish(mut self) -> Result<Vec<u8>, FormatError> {
        let body_len = self.buf.len() - FRAME_LEN;
        if self.oversized || body_len > MAX_RECORD_BODY {
            return Err(FormatError::invalid(format!(
                "a log record of {body_len} bytes is over the limit of {MAX_RECORD_BODY} (4 GiB); split the write batch"
            )));
        }
        self.buf[FRAME_LEN..FRAME_LEN + 4].copy_from_slice(&self.ops.to_le_bytes());
        let crc = checksum(&self.buf[FRAME_LEN..]);
        self.buf[0..4].copy_from_slice(&(body_len as u32).to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        Ok(self.buf)
    }
}

/// What [`read`] found in a log file.
#[derive(Debug, Clone, PartialEq)]
pub struct WalFile {
    /// The database the log belongs to (0 if unknown: format version 1, or written before
    /// the database had an id).
    pub database_id: u128,
    /// The records of the good prefix, in order; each is one atomic batch.
    pub records: Vec<Vec<WalOp>>,
    /// Bytes of the good prefix (header included): truncate the file here before appending.
    pub valid_len: usize,
    /// Why reading stopped before the end of the input, if it did (torn or corrupt record).
    pub stopped: Option<FormatError>,
    /// Whether a valid record follows the bad one: damage in the middle of the file, not a
    /// torn tail left by a crash (which always ends the file).
    pub valid_after_stop: bool,
}

/// Reads a log file: the header, then records up to the first torn or corrupt one.
///
/// # Errors
/// Only for the header: `Truncated` (shorter than its header: 16 bytes for version 1, 32
/// for version 2), `BadMagic`, `UnsupportedVersion`. A bad record is not an error: it ends the good prefix
/// ([`WalFile::stopped`]).
pub fn read(bytes: &[u8]) -> Result<WalFile, FormatError> {
    if bytes.len() < HEADER_LEN_V1 {
        return Err(FormatError::truncated(HEADER_LEN_V1, bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err(FormatError::BadMagic { expected: "STRVWLOG" });
    }
    let version = read_u32(bytes, 8).unwrap_or(0);
    let header_len = match version {
        1 => HEADER_LEN_V1,
        FORMAT_VERSION => HEADER_LEN,
        _ => return Err(FormatError::UnsupportedVersion { found: version, supported: FORMAT_VERSION }),
    };
    let id = bytes.get(16..header_len).ok_or_else(|| FormatError::truncated(header_len, bytes.len()))?;
    let database_id = id.try_into().map_or(0, u128::from_le_bytes);
    let mut out = WalFile { database_id, records: Vec::new(), valid_len: header_len, stopped: None, valid_after_stop: false };
    while out.valid_len < bytes.len() {
        match read_record(&bytes[out.valid_len..]) {
            Ok((ops, len)) => {
                out.records.push(ops);
                out.valid_len += len;
            }
            Err(e) => {
                // The bad frame's own length says where the next record would start.
                let bad = &bytes[out.valid_len..];
                let next = read_u32(bad, 0).map(|n| FRAME_LEN + n as usize);
                out.valid_after_stop = next.and_then(|n| bad.get(n..)).is_some_and(|rest| !rest.is_empty() && read_record(rest).is_ok());
                out.stopped = Some(e);
                break;
            }
        }
    }
    Ok(out)
}

/// One framed record at the start of `bytes`, and its length in bytes.
fn read_record(bytes: &[u8]) -> Result<(Vec<WalOp>, usize), FormatError> {
    let (Some(body_len), Some(stored)) = (read_u32(bytes, 0), read_u32(bytes, 4)) else {
        return Err(FormatError::truncated(FRAME_LEN, bytes.len()));
    };
    let end = FRAME_LEN + body_len as usize;
    let body = bytes.get(FRAME_LEN..end).ok_or_else(|| FormatError::truncated(end, bytes.len()))?;
    let computed = checksum(body);
    if stored != computed {
        return Err(FormatError::Checksum { what: "log record".into(), stored, computed });
    }
    Ok((decode_body(body)?, end))
}

fn decode_body(body: &[u8]) -> Result<Vec<WalOp>, FormatError> {
    let mut r = Reader { bytes: body, at: 0 };
    let count = r.u32()?;
    // Each op takes at least 9 bytes, which bounds the allocation by the input.
    let mut ops = Vec::with_capacity((count as usize).min(body.len() / 9));
    for _ in 0..count {
        ops.push(match r.u8()? {
            TAG_UPSERT => {
                let id = r.u64()?;
                let n = r.u32()? as usize;
                let raw = r.take(n.checked_mul(4).ok_or_else(|| FormatError::invalid("vector length"))?)?;
                let vector = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                let meta_len = r.u32()? as usize;
                let meta = r.take(meta_len)?;
                let metadata = if meta.is_empty() { Metadata::new() } else { decode_row(meta)? };
                let payload_len = r.u32()? as usize;
                let payload = r.take(payload_len)?.to_vec();
                WalOp::Upsert { id, vector, metadata, payload }
            }
            TAG_DELETE => WalOp::Delete { id: r.u64()? },
            tag => return Err(FormatError::invalid(format!("log op tag {tag}"))),
        });
    }
    if r.at != body.len() {
        return Err(FormatError::invalid(format!("{} bytes after the last log op", body.len() - r.at)));
    }
    Ok(ops)
}

/// A cursor over a record body.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| FormatError::truncated(self.at.saturating_add(n), self.bytes.len()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(read_u32(self.take(4)?, 0).unwrap_or(0))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(read_u64(self.take(8)?, 0).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Value;

    fn sample() -> Vec<WalOp> {
        let mut m = Metadata::new();
        m.insert("genre".into(), Value::Str("rock".into()));
        vec![
            WalOp::Upsert { id: 7, vector: vec![1.0, -2.5], metadata: m, payload: b"doc".to_vec() },
            WalOp::Delete { id: 9 },
            WalOp::Upsert { id: 8, vector: vec![0.0, 0.5], metadata: Metadata::new(), payload: Vec::new() },
        ]
    }

    fn encode(ops: &[WalOp]) -> Vec<u8> {
        let mut b = RecordBuilder::default();
        for op in ops {
            match op {
                WalOp::Upsert { id, vector, metadata, payload } => b.upsert(*id, vector, metadata, payload),
                WalOp::Delete { id } => b.delete(*id),
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn records_round_trip() {
        let mut file = header(1).to_vec();
        file.extend(encode(&sample()));
        file.extend(encode(&sample()[1..2]));
        let w = read(&file).unwrap();
        assert_eq!(w.records, vec![sample(), sample()[1..2].to_vec()]);
        assert_eq!(w.valid_len, file.len());
        assert_eq!(w.stopped, None);
    }

    #[test]
    fn every_torn_tail_keeps_the_good_prefix() {
        let mut file = header(1).to_vec();
        file.extend(encode(&sample()));
        let good = file.len();
        file.extend(encode(&sample()));
        for cut in good..file.len() {
            let w = read(&file[..cut]).unwrap();
            assert_eq!(w.records.len(), 1, "cut at {cut}");
            assert_eq!(w.valid_len, good);
            assert_eq!(w.stopped.is_some(), cut > good);
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_prefix_there() {
        let mut file = header(1).to_vec();
        file.extend(encode(&sample()));
        let good = file.len();
        file.extend(encode(&sample()));
        file.extend(encode(&sample()));
        file[good + 20] ^= 1;
        let w = read(&file).unwrap();
        assert_eq!((w.records.len(), w.valid_len), (1, good));
        assert!(matches!(w.stopped, Some(FormatError::Checksum { .. })));
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        assert!(matches!(read(b"STRV"), Err(FormatError::Truncated { .. })));
        assert!(matches!(read(&[0u8; 16]), Err(FormatError::BadMagic { .. })));
        let mut h = header(7);
        h[8] = 9;
        assert!(matches!(read(&h), Err(FormatError::UnsupportedVersion { found: 9, .. })));
        assert!(matches!(read(&header(7)[..20]), Err(FormatError::Truncated { .. })), "a version-2 header cut short");
    }

    #[test]
    fn the_header_carries_the_database_id_and_version_1_logs_still_read() {
        let id = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        let mut file = header(id).to_vec();
        file.extend(encode(&sample()));
        let f = read(&file).unwrap();
        assert_eq!((f.database_id, f.records.len(), f.valid_len), (id, 1, file.len()));
        let mut v1 = file[..HEADER_LEN_V1].to_vec();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        v1.extend(encode(&sample()));
        let f = read(&v1).unwrap();
        assert_eq!((f.database_id, f.records.len(), f.valid_len), (0, 1, v1.len()));
    }

    #[test]
    fn a_record_over_4_gib_is_refused_not_truncated() {
        // Zeroed pages are not touched: the check runs before the checksum.
        let b = RecordBuilder { buf: vec![0; FRAME_LEN + MAX_RECORD_BODY + 1], ops: 1, oversized: false };
        assert!(b.finish().unwrap_err().to_string().contains("split the write batch"));
        let b = RecordBuilder { oversized: true, ..RecordBuilder::default() };
        assert!(b.finish().is_err(), "a payload whose length does not fit u32");
    }

    #[test]
    fn damage_followed_by_a_valid_record_is_told_from_a_torn_tail() {
        let mut file = header(1).to_vec();
        for id in 0..3 {
            file.extend(encode(&[WalOp::Delete { id }]));
        }
        let one = encode(&[WalOp::Delete { id: 0 }]).len();
        let mut middle = file.clone();
        middle[HEADER_LEN + one + 10] ^= 1; // inside record 1's body
        let f = read(&middle).unwrap();
        assert_eq!((f.records.len(), f.valid_after_stop), (1, true));
        let torn = &file[..file.len() - 3];
        let f = read(torn).unwrap();
        assert_eq!((f.records.len(), f.valid_after_stop), (2, false));
        let mut zeros = file[..HEADER_LEN + one].to_vec();
        zeros.extend([0u8; 64]);
        assert!(!read(&zeros).unwrap().valid_after_stop, "a zero-filled tail is torn, not damage");
    }
}
