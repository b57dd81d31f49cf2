//! The segment container: one immutable file per segment.
//!
//! ```text
//! offset 0   header, 64 bytes (magic "STRVSEG\0", version, kind, metric, dim, rows, CRC32C)
//! offset 64  section 0 (64-byte aligned, zero padding between sections)
//! ...        section n-1
//!            footer: section_count u32, reserved u32, then per section 24 bytes:
//!                    kind u32, crc32c u32, offset u64, length u64
//! end - 16   trailer: footer_len u32, footer_crc32c u32, magic "STRVSEGF"
//! ```
//! A reader fetches the last [`TRAILER_LEN`] bytes, then the footer, then only the sections
//! it needs. Section payloads are described in `docs/FORMAT.md`.

use crate::{checksum, read_u32, read_u64, FormatError, Metric, SECTION_ALIGN};

/// Magic at offset 0 of every segment.
pub const HEADER_MAGIC: &[u8; 8] = b"STRVSEG\0";
/// Magic in the last 8 bytes of every segment.
pub const TRAILER_MAGIC: &[u8; 8] = b"STRVSEGF";
/// Segment format version written by this crate (and the only one it reads).
pub const FORMAT_VERSION: u32 = 1;
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 64;
/// Length of the trailer in bytes.
pub const TRAILER_LEN: usize = 16;
/// Length of one section-table entry in the footer, in bytes.
pub const SECTION_ENTRY_LEN: usize = 24;
/// Upper bound on sections per segment (guards allocation when parsing hostile input).
pub const MAX_SECTIONS: u32 = 1024;

/// Which index a segment carries: a one-byte code in the segment header (offset 12) and in
/// the manifest's segment list.
///
/// Codes 1 to 127 are reserved for stratovec's own indexes ([`SegmentKind::FLAT`],
/// [`SegmentKind::HNSW`], [`SegmentKind::DISKANN`]; 4 to 127 for future ones); codes 128 to
/// 255 are for indexes a user registers with the engine ([`SegmentKind::custom`]). Code 0 is
/// never valid. A manifest listing a user kind requires reader feature bit
/// `READER_FEATURE_CUSTOM_INDEX` (see `manifest`), so readers that predate user kinds refuse
/// it as incompatible rather than misread it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKind(u8);

impl SegmentKind {
    /// Exact search over the vectors section (code 1).
    pub const FLAT: SegmentKind = SegmentKind(1);
    /// HNSW graph (section [`SectionKind::HNSW_GRAPH`]) over the vectors section (code 2).
    pub const HNSW: SegmentKind = SegmentKind(2);
    /// DiskANN: Vamana graph and full vectors in 4 KiB node sectors
    /// ([`SectionKind::DISKANN_NODES`], read on demand), quantized codes in RAM (code 3).
    pub const DISKANN: SegmentKind = SegmentKind(3);
    /// Smallest code of a user-registered kind.
    pub const FIRST_CUSTOM_CODE: u8 = 128;

    /// The kind of a user index with header code `code`.
    ///
    /// # Errors
    /// [`FormatError::Invalid`] when `code` is below [`SegmentKind::FIRST_CUSTOM_CODE`]
    /// (reserved for stratovec's own indexes).
    pub fn custom(code: u8) -> Result<Self, FormatError> {
        if code >= Self::FIRST_CUSTOM_CODE {
            Ok(SegmentKind(code))
        } else {
            Err(FormatError::invalid(format!("segment kind code {code} is reserved; user kinds use 128 to 255")))
        }
    }
    /// One-byte code in the header.
    pub fn code(self) -> u8 {
        self.0
    }
    /// Decodes [`SegmentKind::code`]: the built-in kinds and any user kind (128 to 255).
    ///
    /// # Errors
    /// [`FormatError::Invalid`] for 0 and for the reserved codes 4 to 127 (a kind of a newer
    /// stratovec).
    pub fn from_code(code: u8) -> Result<Self, FormatError> {
        match code {
            1..=3 | Self::FIRST_CUSTOM_CODE..=255 => Ok(SegmentKind(code)),
            other => Err(FormatError::invalid(format!("segment kind code {other}"))),
        }
    }
    /// Whether this is a user-registered kind (code 128 or above).
    pub fn is_custom(self) -> bool {
        self.0 >= Self::FIRST_CUSTOM_CODE
    }
    /// Lower-case name: `flat`, `hnsw`, `diskann`, or `custom` for a user kind (its
    /// [`Display`](std::fmt::Display) form adds the code: `custom-200`).
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::FLAT => "flat",
            SegmentKind::HNSW => "hnsw",
            SegmentKind::DISKANN => "diskann",
            _ => "custom",
        }
    }
}

impl std::fmt::Display for SegmentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_custom() {
            write!(f, "custom-{}", self.0)
        } else {
            f.write_str(self.name())
        }
    }
}

/// In the manifest (postcard) a kind is the variant index of the enum `{Flat, Hnsw,
/// DiskAnn, ...}` it was before user kinds existed: a varint of `code - 1`. Human-readable
/// formats (JSON) get the [`Display`](std::fmt::Display) name.
impl serde::Serialize for SegmentKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u32(u32::from(self.0) - 1)
        }
    }
}

impl<'de> serde::Deserialize<'de> for SegmentKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let name = String::deserialize(d)?;
            let code = match name.as_str() {
                "flat" => 1,
                "hnsw" => 2,
                "diskann" => 3,
                other => other
                    .strip_prefix("custom-")
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| D::Error::custom(format!("segment kind {other}")))?,
            };
            return SegmentKind::from_code(code).map_err(D::Error::custom);
        }
        let index = u32::deserialize(d)?;
        let code = index.checked_add(1).and_then(|c| u8::try_from(c).ok());
        let code = code.ok_or_else(|| D::Error::custom(format!("segment kind index {index}")))?;
        SegmentKind::from_code(code).map_err(D::Error::custom)
    }
}

/// Identifies what a section holds. Unknown kinds are skipped by readers, so new optional
/// sections do not need a format version bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SectionKind(pub u32);

impl SectionKind {
    /// `rows × dim` f32 little-endian, row-major.
    pub const VECTORS: SectionKind = SectionKind(1);
    /// `rows` u64 little-endian: the user key of each row.
    pub const IDS: SectionKind = SectionKind(2);
    /// HNSW graph, see [`crate::graph::GraphLayout`].
    pub const HNSW_GRAPH: SectionKind = SectionKind(3);
    /// Quantizer parameters: quantizer code u32 (1 SQ8, 2 INT4, 3 PQ, 4 binary), then its
    /// parameters (see `docs/FORMAT.md`).
    pub const QUANT_PARAMS: SectionKind = SectionKind(4);
    /// Quantized codes: `rows × code_len` bytes.
    pub const QUANT_CODES: SectionKind = SectionKind(5);
    /// DiskANN parameters, see [`crate::diskann::DiskAnnMeta`].
    pub const DISKANN_META: SectionKind = SectionKind(6);
    /// DiskANN node sectors (4096-byte aligned in the file), see [`crate::diskann`].
    pub const DISKANN_NODES: SectionKind = SectionKind(7);
    /// Per-row metadata: a [`column`](mod@crate::column) of [`crate::metadata`] rows.
    pub const METADATA: SectionKind = SectionKind(8);
    /// Per-row payloads: a [`column`](mod@crate::column) of opaque byte strings.
    pub const PAYLOAD: SectionKind = SectionKind(9);
    /// CRC32C of each DiskANN node (u32 little-endian per row, over its `node_len` bytes
    /// in [`SectionKind::DISKANN_NODES`]), so a node read by range is checked: see
    /// [`crate::diskann::NodeCrcs`]. Optional (segments written before it have none).
    pub const DISKANN_NODE_CRCS: SectionKind = SectionKind(10);

    /// Human-readable name for tools.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "vectors",
            2 => "ids",
            3 => "hnsw_graph",
            4 => "quant_params",
            5 => "quant_codes",
            6 => "diskann_meta",
            7 => "diskann_nodes",
            8 => "metadata",
            9 => "payload",
            10 => "diskann_node_crcs",
            _ => "unknown",
        }
    }
}

/// The fixed 64-byte header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Index kind.
    pub kind: SegmentKind,
    /// Metric the vectors were prepared for (cosine vectors are stored normalised).
    pub metric: Metric,
    /// Vector dimension (>= 1).
    pub dim: u32,
    /// Number of rows.
    pub rows: u64,
}

impl SegmentHeader {
    /// Encodes the 64-byte header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(HEADER_MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12] = self.kind.code();
        h[13] = self.metric.code();
        h[16..20].copy_from_slice(&self.dim.to_le_bytes());
        h[24..32].copy_from_slice(&self.rows.to_le_bytes());
        // 32..40: required reader features, none defined in version 1.
        let crc = checksum(&h[0..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Decodes and validates a header from the first 64 bytes of `bytes`.
    ///
    /// # Errors
    /// `Truncated`, `BadMagic`, `UnsupportedVersion`, `UnsupportedFeatures`, `Checksum` or
    /// `Invalid` (unknown kind/metric, zero dimension).
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let h = bytes.get(..HEADER_LEN).ok_or_else(|| FormatError::truncated(HEADER_LEN, bytes.len()))?;
        if &h[0..8] != HEADER_MAGIC {
            return Err(FormatError::BadMagic { expected: "STRVSEG" });
        }
        let version = read_u32(h, 8).unwrap_or(0);
        if version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let stored = read_u32(h, 60).unwrap_or(0);
        let computed = checksum(&h[0..60]);
        if stored != computed {
            return Err(FormatError::Checksum { what: "segment header".into(), stored, computed });
        }
        let features = read_u64(h, 32).unwrap_or(0);
        if features != 0 {
            return Err(FormatError::UnsupportedFeatures(features));
        }
        let dim = read_u32(h, 16).unwrap_or(0);
        if dim == 0 {
            return Err(FormatError::invalid("segment dimension 0"));
        }
        Ok(SegmentHeader {
            kind: SegmentKind::from_code(h[12])?,
            metric: Metric::from_code(h[13])?,
            dim,
            rows: read_u64(h, 24).unwrap_or(0),
        })
    }
}

/// One entry of the footer's section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionEntry {
    /// What the section holds.
    pub kind: SectionKind,
    /// CRC32C of the section's bytes.
    pub crc32c: u32,
    /// Byte offset from the start of the file (a multiple of 64).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Builds a segment file in memory: header, then sections appended in order, then footer.
#[derive(Debug)]
pub struct SegmentWriter {
    buf: Vec<u8>,
    sections: Vec<SectionEntry>,
}

impl SegmentWriter {
    /// Starts a segment with `header`. `capacity` is a hint of the final size in bytes.
    pub fn new(header: &SegmentHeader, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(HEADER_LEN + 256));
        buf.extend_from_slice(&header.encode());
        SegmentWriter { buf, sections: Vec::new() }
    }

    /// Appends a section at the next 64-byte boundary.
    pub fn add_section(&mut self, kind: SectionKind, bytes: &[u8]) {
        self.add_section_aligned(kind, bytes, SECTION_ALIGN);
    }

    /// Appends a section at the next multiple of `align` bytes (a multiple of 64, e.g. 4096
    /// for sectors read with O_DIRECT).
    pub fn add_section_aligned(&mut self, kind: SectionKind, bytes: &[u8], align: usize) {
        let align = align.max(SECTION_ALIGN).next_multiple_of(SECTION_ALIGN);
        let pad = (align - self.buf.len() % align) % align;
        self.buf.resize(self.buf.len() + pad, 0);
        self.sections.push(SectionEntry { kind, crc32c: checksum(bytes), offset: self.buf.len() as u64, len: bytes.len() as u64 });
        self.buf.extend_from_slice(bytes);
    }

    fn pad_to_alignment(&mut self) {
        let pad = (SECTION_ALIGN - self.buf.len() % SECTION_ALIGN) % SECTION_ALIGN;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Writes the footer and trailer and returns the complete file.
    pub fn finish(mut self) -> Vec<u8> {
        self.pad_to_alignment();
        let start = self.buf.len();
        self.buf.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        for s in &self.sections {
            self.buf.extend_from_slice(&s.kind.0.to_le_bytes());
            self.buf.extend_from_slice(&s.crc32c.to_le_bytes());
            self.buf.extend_from_slice(&s.offset.to_le_bytes());
            self.buf.extend_from_slice(&s.len.to_le_bytes());
        }
        let footer_len = (self.buf.len() - start) as u32;
        let footer_crc = checksum(&self.buf[start..]);
        self.buf.extend_from_slice(&footer_len.to_le_bytes());
        self.buf.extend_from_slice(&footer_crc.to_le_bytes());
        self.buf.extend_from_slice(TRAILER_MAGIC);
        self.buf
    }
}

/// Parsed trailer: where the footer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Footer length in bytes.
    pub footer_len: u32,
    /// CRC32C of the footer bytes.
    pub footer_crc32c: u32,
}

impl Trailer {
    /// Parses the last [`TRAILER_LEN`] bytes of a segment (`tail` may be longer; its last 16
    /// bytes are used).
    ///
    /// # Errors
    /// `Truncated` or `BadMagic`.
    pub fn decode(tail: &[u8]) -> Result<Self, FormatError> {
        if tail.len() < TRAILER_LEN {
            return Err(FormatError::truncated(TRAILER_LEN, tail.len()));
        }
        let t = &tail[tail.len() - TRAILER_LEN..];
        if &t[8..16] != TRAILER_MAGIC {
            return Err(FormatError::BadMagic { expected: "STRVSEGF" });
        }
        Ok(Trailer { footer_len: read_u32(t, 0).unwrap_or(0), footer_crc32c: read_u32(t, 4).unwrap_or(0) })
    }
}

/// Parses a footer (exactly `trailer.footer_len` bytes) of a file of `file_len` bytes.
///
/// # Errors
/// `Checksum` when the footer was altered, `Invalid` when a section lies outside the file,
/// overlaps the header or footer, or is misaligned, `Truncated` for a short footer.
pub fn decode_footer(footer: &[u8], trailer: &Trailer, file_len: u64) -> Result<Vec<SectionEntry>, FormatError> {
    if footer.len() != trailer.footer_len as usize {
        return Err(FormatError::truncated(trailer.footer_len, footer.len()));
    }
    let computed = checksum(footer);
    if computed != trailer.footer_crc32c {
        return Err(FormatError::Checksum { what: "segment footer".into(), stored: trailer.footer_crc32c, computed });
    }
    let count = read_u32(footer, 0).ok_or_else(|| FormatError::truncated(8, footer.len()))?;
    if count > MAX_SECTIONS {
        return Err(FormatError::invalid(format!("section count {count}")));
    }
    let needed = 8 + count as usize * SECTION_ENTRY_LEN;
    if footer.len() != needed {
        return Err(FormatError::invalid(format!("footer length {} for {count} sections", footer.len())));
    }
    let footer_start = file_len
        .checked_sub(TRAILER_LEN as u64 + footer.len() as u64)
        .ok_or_else(|| FormatError::truncated(TRAILER_LEN + footer.len(), file_len as usize))?;
    let mut sections = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let at = 8 + i * SECTION_ENTRY_LEN;
        let entry = SectionEntry {
            kind: SectionKind(read_u32(footer, at).unwrap_or(0)),
            crc32c: read_u32(footer, at + 4).unwrap_or(0),
            offset: read_u64(footer, at + 8).unwrap_or(0),
            len: read_u64(footer, at + 16).unwrap_or(0),
        };
        let end = entry.offset.checked_add(entry.len);
        let in_bounds = entry.offset >= HEADER_LEN as u64 && matches!(end, Some(e) if e <= footer_start);
        if !in_bounds || !entry.offset.is_multiple_of(SECTION_ALIGN as u64) {
            return Err(FormatError::invalid(format!(
                "section {} at {}+{} outside the data area (header..{footer_start}) or misaligned",
                entry.kind.name(),
                entry.offset,
                entry.len
            )));
        }
        if sections.iter().any(|s: &SectionEntry| s.kind == entry.kind) {
            return Err(FormatError::invalid(format!("duplicate section {}", entry.kind.name())));
        }
        sections.push(entry);
    }
    Ok(sections)
}

/// A parsed segment: header and section table, validated against the file length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentLayout {
    /// The header.
    pub header: SegmentHeader,
    /// The section table, in file order.
    pub sections: Vec<SectionEntry>,
    /// Total file length in bytes.
    pub file_len: u64,
}

impl SegmentLayout {
    /// Parses the header, trailer and footer of a whole segment file held in memory.
    /// Section checksums are not checked here; see [`SegmentLayout::section`] and
    /// [`SegmentLayout::verify`].
    ///
    /// # Errors
    /// Any [`FormatError`] describing the first problem found.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let header = SegmentHeader::decode(bytes)?;
        let trailer = Trailer::decode(bytes)?;
        let footer_end = bytes.len() - TRAILER_LEN;
        let footer_start = footer_end
            .checked_sub(trailer.footer_len as usize)
            .filter(|s| *s >= HEADER_LEN)
            .ok_or_else(|| FormatError::truncated(HEADER_LEN + TRAILER_LEN + trailer.footer_len as usize, bytes.len()))?;
        let sections = decode_footer(&bytes[footer_start..footer_end], &trailer, bytes.len() as u64)?;
        Ok(SegmentLayout { header, sections, file_len: bytes.len() as u64 })
    }

    /// The table entry of section `kind`, if present.
    pub fn entry(&self, kind: SectionKind) -> Option<&SectionEntry> {
        self.sections.iter().find(|s| s.kind == kind)
    }

    /// The bytes of section `kind` within `file` (the same bytes given to `parse`), with its
    /// CRC32C checked when `verify` is true.
    ///
    /// # Errors
    /// `Invalid` if the section is missing, `Checksum` if it does not match.
    pub fn section<'a>(&self, file: &'a [u8], kind: SectionKind, verify: bool) -> Result<&'a [u8], FormatError> {
        let e = self.entry(kind).ok_or_else(|| FormatError::invalid(format!("missing section {}", kind.name())))?;
        let bytes =
            file.get(e.offset as usize..(e.offset + e.len) as usize).ok_or_else(|| FormatError::truncated(e.offset + e.len, file.len()))?;
        if verify {
            let computed = checksum(bytes);
            if computed != e.crc32c {
                return Err(FormatError::Checksum { what: format!("section {}", kind.name()), stored: e.crc32c, computed });
            }
        }
        Ok(bytes)
    }

    /// Checks the CRC32C of every section.
    ///
    /// # Errors
    /// `Checksum` naming the first section that does not match.
    pub fn verify(&self, file: &[u8]) -> Result<(), FormatError> {
        for e in &self.sections {
            self.section(file, e.kind, true)?;
        }
        Ok(())
    }

    /// Checks that the common sections have the sizes the header implies: vectors
    /// `rows × dim × 4` bytes and ids `rows × 8` bytes.
    ///
    /// # Errors
    /// `Invalid` naming the section whose length is wrong, or a missing section.
    pub fn check_common_sections(&self) -> Result<(), FormatError> {
        let rows = self.header.rows;
        let want = [(SectionKind::VECTORS, rows.checked_mul(self.header.dim as u64 * 4)), (SectionKind::IDS, rows.checked_mul(8))];
        for (kind, len) in want {
            let e = self.entry(kind).ok_or_else(|| FormatError::invalid(format!("missing section {}", kind.name())))?;
            if Some(e.len) != len {
                return Err(FormatError::invalid(format!("section {} has {} bytes, header implies {:?}", kind.name(), e.len, len)));
            }
        }
        Ok(())
    }
}

/// Rewrites segment `file` after `edit` changed its header or sections (kind and bytes, in
/// file order), with every checksum valid again: for tests and fuzzers that need damage a
/// checksum does not catch. DiskANN nodes stay sector-aligned.
///
/// # Errors
/// As [`SegmentLayout::parse`] and [`SegmentLayout::section`] for the original file.
pub fn rebuild(file: &[u8], edit: impl FnOnce(&mut SegmentHeader, &mut Vec<(SectionKind, Vec<u8>)>)) -> Result<Vec<u8>, FormatError> {
    let layout = SegmentLayout::parse(file)?;
    let mut header = layout.header;
    let mut sections = Vec::with_capacity(layout.sections.len());
    for e in &layout.sections {
        sections.push((e.kind, layout.section(file, e.kind, false)?.to_vec()));
    }
    edit(&mut header, &mut sections);
    let mut w = SegmentWriter::new(&header, file.len());
    for (kind, bytes) in &sections {
        if *kind == SectionKind::DISKANN_NODES {
            w.add_section_aligned(*kind, bytes, crate::diskann::SECTOR_LEN);
        } else {
            w.add_section(*kind, bytes);
        }
    }
    Ok(w.finish())
}

/// Bytes a reader needs to fetch from the end of a segment of `file_len` bytes to hold the
/// trailer and the largest possible footer (`8 + MAX_SECTIONS × 24` bytes): the footer of
/// any valid segment lies within its last `tail_len(file_len)` bytes.
pub fn tail_len(file_len: u64) -> u64 {
    let most = (TRAILER_LEN + 8 + MAX_SECTIONS as usize * SECTION_ENTRY_LEN) as u64;
    file_len.min(most)
}

impl SegmentLayout {
    /// Parses a segment from its first bytes (`head`, at least [`HEADER_LEN`]) and its last
    /// bytes (`tail`, at least trailer and footer; [`tail_len`] bytes always suffice) without
    /// the rest of the file, whose length is `file_len`.
    ///
    /// # Errors
    /// As [`SegmentLayout::parse`]; `Truncated` when `tail` is shorter than the footer.
    pub fn parse_ends(head: &[u8], tail: &[u8], file_len: u64) -> Result<Self, FormatError> {
        let header = SegmentHeader::decode(head)?;
        let trailer = Trailer::decode(tail)?;
        let footer_end = tail.len() - TRAILER_LEN;
        let footer_start = footer_end
            .checked_sub(trailer.footer_len as usize)
            .ok_or_else(|| FormatError::truncated(TRAILER_LEN + trailer.footer_len as usize, tail.len()))?;
        if (file_len as usize) < HEADER_LEN + TRAILER_LEN + trailer.footer_len as usize {
            return Err(FormatError::truncated(HEADER_LEN + TRAILER_LEN + trailer.footer_len as usize, file_len as usize));
        }
        let sections = decode_footer(&tail[footer_start..footer_end], &trailer, file_len)?;
        Ok(SegmentLayout { header, sections, file_len })
    }
}

/// The bytes of a segment that an index opens from: the whole file (e.g. an mmap), or only
/// some of its sections, fetched by ranged reads (a remote segment whose DiskANN nodes stay
/// in the store).
#[derive(Debug, Clone)]
pub struct SegmentBytes {
    layout: SegmentLayout,
    data: SectionData,
}

#[derive(Debug, Clone)]
enum SectionData {
    Whole(bytes::Bytes),
    Some(Vec<(SectionKind, bytes::Bytes)>),
}

impl SegmentBytes {
    /// The whole file; parses its layout.
    ///
    /// # Errors
    /// As [`SegmentLayout::parse`].
    pub fn whole(file: bytes::Bytes) -> Result<Self, FormatError> {
        let layout = SegmentLayout::parse(&file)?;
        Ok(SegmentBytes { layout, data: SectionData::Whole(file) })
    }

    /// Some sections of a file whose layout is `layout`: `(kind, bytes)` pairs, each exactly
    /// as long as its table entry.
    ///
    /// # Errors
    /// `Invalid` for a section the layout does not list or whose length differs.
    pub fn from_sections(layout: SegmentLayout, sections: Vec<(SectionKind, bytes::Bytes)>) -> Result<Self, FormatError> {
        for (kind, bytes) in &sections {
            match layout.entry(*kind) {
                Some(e) if e.len == bytes.len() as u64 => {}
                _ => return Err(FormatError::invalid(format!("section {} of {} bytes is not in the layout", kind.name(), bytes.len()))),
            }
        }
        Ok(SegmentBytes { layout, data: SectionData::Some(sections) })
    }

    /// The parsed header and section table.
    pub fn layout(&self) -> &SegmentLayout {
        &self.layout
    }

    /// The bytes of section `kind` (zero-copy), with its CRC32C checked when `verify` is
    /// true.
    ///
    /// # Errors
    /// `Invalid` if the section is missing from the file or was not fetched, `Checksum` if it
    /// does not match.
    pub fn section(&self, kind: SectionKind, verify: bool) -> Result<bytes::Bytes, FormatError> {
        match &self.data {
            SectionData::Whole(file) => Ok(file.slice_ref(self.layout.section(file, kind, verify)?)),
            SectionData::Some(list) => {
                let e = self.layout.entry(kind).ok_or_else(|| FormatError::invalid(format!("missing section {}", kind.name())))?;
                let bytes = list
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, b)| b.clone())
                    .ok_or_else(|| FormatError::invalid(format!("section {} was not fetched", kind.name())))?;
                if verify {
                    let computed = checksum(&bytes);
                    if computed != e.crc32c {
                        return Err(FormatError::Checksum { what: format!("section {}", kind.name()), stored: e.crc32c, computed });
                    }
                }
                Ok(bytes)
            }
        }
    }

    /// The whole file, when it is held.
    pub fn file(&self) -> Option<&bytes::Bytes> {
        match &self.data {
            SectionData::Whole(f) => Some(f),
            SectionData::Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> SegmentHeader {
        SegmentHeader { kind: SegmentKind::FLAT, metric: Metric::Cosine, dim: 3, rows: 2 }
    }

    #[test]
    fn round_trip_and_alignment() {
        let mut w = SegmentWriter::new(&header(), 0);
        w.add_section(SectionKind::VECTORS, &[1u8; 24]);
        w.add_section(SectionKind::IDS, &[2u8; 16]);
        let file = w.finish();
        let layout = SegmentLayout::parse(&file).unwrap();
        assert_eq!(layout.header, header());
        assert!(layout.sections.iter().all(|s| s.offset % 64 == 0));
        assert_eq!(layout.section(&file, SectionKind::IDS, true).unwrap(), &[2u8; 16]);
        layout.check_common_sections().unwrap();
        layout.verify(&file).unwrap();
    }

    #[test]
    fn ends_alone_give_the_layout_and_fetched_sections_serve_reads() {
        let mut w = SegmentWriter::new(&header(), 0);
        w.add_section(SectionKind::VECTORS, &[1u8; 24]);
        w.add_section(SectionKind::IDS, &[2u8; 16]);
        w.add_section(SectionKind::PAYLOAD, &vec![3u8; 100_000]);
        let file = w.finish();
        let len = file.len() as u64;
        let tail = &file[(len - tail_len(len)) as usize..];
        let layout = SegmentLayout::parse_ends(&file[..HEADER_LEN], tail, len).unwrap();
        assert_eq!(layout, SegmentLayout::parse(&file).unwrap());
        assert!(SegmentLayout::parse_ends(&file[..HEADER_LEN], &tail[tail.len() - 40..], len).is_err(), "tail shorter than the footer");
        let ids = layout.entry(SectionKind::IDS).unwrap();
        let some = vec![(SectionKind::IDS, bytes::Bytes::copy_from_slice(&file[ids.offset as usize..][..16]))];
        let part = SegmentBytes::from_sections(layout.clone(), some).unwrap();
        assert_eq!(part.section(SectionKind::IDS, true).unwrap().as_ref(), &[2u8; 16]);
        assert!(part.section(SectionKind::VECTORS, false).is_err(), "not fetched");
        assert!(part.file().is_none());
        let wrong = vec![(SectionKind::IDS, bytes::Bytes::from_static(&[2u8; 15]))];
        assert!(SegmentBytes::from_sections(layout.clone(), wrong).is_err());
        let damaged = vec![(SectionKind::IDS, bytes::Bytes::from_static(&[9u8; 16]))];
        let damaged = SegmentBytes::from_sections(layout, damaged).unwrap();
        assert!(matches!(damaged.section(SectionKind::IDS, true), Err(FormatError::Checksum { .. })));
        let whole = SegmentBytes::whole(bytes::Bytes::from(file)).unwrap();
        assert_eq!(whole.section(SectionKind::IDS, true).unwrap().as_ref(), &[2u8; 16]);
    }

    #[test]
    fn bit_flip_in_section_is_a_checksum_error() {
        let mut w = SegmentWriter::new(&header(), 0);
        w.add_section(SectionKind::VECTORS, &[1u8; 24]);
        let mut file = w.finish();
        file[64] ^= 0x10;
        let layout = SegmentLayout::parse(&file).unwrap();
        assert!(matches!(layout.verify(&file), Err(FormatError::Checksum { .. })));
    }

    #[test]
    fn unknown_version_is_reported() {
        let mut file = SegmentWriter::new(&header(), 0).finish();
        file[8] = 9;
        assert!(matches!(SegmentLayout::parse(&file), Err(FormatError::UnsupportedVersion { found: 9, .. })));
    }

    proptest! {
        #[test]
        fn sections_round_trip(secs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6)) {
            let mut w = SegmentWriter::new(&header(), 0);
            for (i, s) in secs.iter().enumerate() {
                w.add_section(SectionKind(100 + i as u32), s);
            }
            let file = w.finish();
            let layout = SegmentLayout::parse(&file).unwrap();
            for (i, s) in secs.iter().enumerate() {
                prop_assert_eq!(layout.section(&file, SectionKind(100 + i as u32), true).unwrap(), &s[..]);
            }
        }

        #[test]
        fn every_truncation_is_an_error(cut in 1usize..200) {
            let mut w = SegmentWriter::new(&header(), 0);
            w.add_section(SectionKind::VECTORS, &[7u8; 24]);
            w.add_section(SectionKind::IDS, &[8u8; 16]);
            let file = w.finish();
            let cut = cut.min(file.len());
            prop_assert!(SegmentLayout::parse(&file[..file.len() - cut]).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(l) = SegmentLayout::parse(&bytes) { let _ = l.verify(&bytes); }
        }
    }
}
