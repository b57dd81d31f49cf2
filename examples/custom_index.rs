//! A custom index: IVF-flat, registered with the engine under user kind 200.
//!
//! IVF-flat partitions the rows by their nearest of `nlist` k-means centroids (an inverted
//! file) and searches the `nprobe` lists whose centroids are closest to the query, exactly
//! (Jégou, Douze, Schmid, "Product Quantization for Nearest Neighbor Search", TPAMI 2011,
//! the IVF part; faiss's `IndexIVFFlat`). It shows the two pieces a new index needs: an
//! [`Index`] (search and row vectors over its own segment sections) and an
//! [`IndexFactory`] (build from rows, open from sections). The program checks the index
//! with the conformance suite, makes compaction write it, searches it, reopens it, and
//! shows that a process which did not register the kind refuses the database.
//!
//! Run: `cargo run --example custom_index --features test-util`

use std::borrow::Cow;
use std::sync::Arc;

use stratovec::formats::segment::{SectionKind, SegmentBytes, SegmentKind, SegmentWriter};
use stratovec::formats::FormatError;
use stratovec::indexes::{conformance, BuildInput, BuiltIndex, Candidate, IndexError, RowFilter, Scorer, SearchParams, SectorRead, TopK};
use stratovec::{Db, DbOptions, ErrorKind, Index, IndexFactory, MergeAll, Metric};

/// The user kind code of IVF-flat segments (user kinds are 128 to 255).
const IVF_FLAT: u8 = 200;
/// `nlist × dim` f32 centroids. Section codes from `0x8000_0000` are never used by stratovec.
const CENTROIDS: SectionKind = SectionKind(0x8000_0001);
/// `nlist + 1` u32 offsets into the member list, then `rows` u32 row numbers grouped by list.
const LISTS: SectionKind = SectionKind(0x8000_0002);
/// Lloyd iterations of the k-means build.
const KMEANS_ITERATIONS: usize = 8;

/// An IVF-flat index: full vectors (section `VECTORS`, row order) plus centroids and lists.
#[derive(Debug)]
struct IvfFlat {
    dim: usize,
    metric: Metric,
    vectors: Vec<f32>,
    centroids: Vec<f32>,
    /// `offsets[l]..offsets[l + 1]` are list `l`'s members.
    offsets: Vec<u32>,
    members: Vec<u32>,
}

impl IvfFlat {
    fn nlist(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Lists probed for `ef_search`: one per 8 of the search list size, at least 1.
    fn nprobe(&self, params: &SearchParams) -> usize {
        (params.ef_search / 8).clamp(1, self.nlist())
    }

    /// The `n` centroids closest to `q`.
    fn closest_lists(&self, q: &[f32], n: usize, scorer: &Scorer) -> Vec<usize> {
        let mut top = TopK::new(n);
        for (l, c) in self.centroids.chunks_exact(self.dim).enumerate() {
            top.push(Candidate { distance: scorer.distance(q, c), row: l as u32 });
        }
        top.into_sorted_vec().into_iter().map(|c| c.row as usize).collect()
    }

    /// Builds the lists of `vectors` with `nlist` centroids (k-means, seeded with evenly
    /// strided rows).
    fn build(vectors: &[f32], dim: usize, metric: Metric) -> Self {
        let rows = vectors.len() / dim;
        let nlist = ((rows as f64).sqrt() as usize).clamp(1, 4096);
        let mut centroids: Vec<f32> = (0..nlist).flat_map(|l| &vectors[l * rows / nlist * dim..][..dim]).copied().collect();
        let mut index =
            IvfFlat { dim, metric, vectors: vectors.to_vec(), centroids: Vec::new(), offsets: vec![0; nlist + 1], members: Vec::new() };
        let scorer = Scorer::new(metric);
        let mut assignment = vec![0usize; rows];
        for _ in 0..KMEANS_ITERATIONS {
            index.centroids = centroids.clone();
            for (row, v) in vectors.chunks_exact(dim).enumerate() {
                assignment[row] = index.closest_lists(v, 1, &scorer)[0];
            }
            let mut sums = vec![0f32; nlist * dim];
            let mut counts = vec![0usize; nlist];
            for (row, &l) in assignment.iter().enumerate() {
                counts[l] += 1;
                sums[l * dim..][..dim].iter_mut().zip(&vectors[row * dim..][..dim]).for_each(|(s, x)| *s += x);
            }
            for l in (0..nlist).filter(|&l| counts[l] > 0) {
                centroids[l * dim..][..dim].iter_mut().zip(&sums[l * dim..][..dim]).for_each(|(c, s)| *c = s / counts[l] as f32);
            }
        }
        index.centroids = centroids;
        for (row, v) in vectors.chunks_exact(dim).enumerate() {
            assignment[row] = index.closest_lists(v, 1, &scorer)[0];
        }
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_by_key(|&r| assignment[r as usize]);
        for &l in &assignment {
            index.offsets[l + 1] += 1;
        }
        for l in 0..nlist {
            index.offsets[l + 1] += index.offsets[l];
        }
        index.members = order;
        index
    }

    /// Opens the sections written by [`Index::write_sections`], checking their sizes.
    fn open(file: &SegmentBytes, verify: bool) -> Result<Self, IndexError> {
        let h = file.layout().header;
        let (dim, rows) = (h.dim as usize, h.rows as usize);
        let vectors = f32s(&file.section(SectionKind::VECTORS, verify)?);
        let centroids = f32s(&file.section(CENTROIDS, verify)?);
        let lists = u32s(&file.section(LISTS, verify)?);
        let invalid = |what: String| IndexError::Format(FormatError::Invalid(format!("ivf-flat: {what}")));
        if dim == 0 || vectors.len() != rows * dim || centroids.is_empty() || !centroids.len().is_multiple_of(dim) {
            return Err(invalid(format!("{} vector values, {} centroid values for {rows} rows of {dim}", vectors.len(), centroids.len())));
        }
        let nlist = centroids.len() / dim;
        if lists.len() != nlist + 1 + rows {
            return Err(invalid(format!("lists of {} entries for {nlist} lists and {rows} rows", lists.len())));
        }
        let (offsets, members) = (lists[..=nlist].to_vec(), lists[nlist + 1..].to_vec());
        let offsets_ok = offsets[0] == 0 && offsets.windows(2).all(|w| w[0] <= w[1]) && offsets[nlist] as usize == rows;
        if !offsets_ok || members.iter().any(|&m| m as usize >= rows) {
            return Err(invalid("list offsets or members out of range".into()));
        }
        Ok(IvfFlat { dim, metric: h.metric, vectors, centroids, offsets, members })
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn le_bytes<T: Copy, const N: usize>(values: &[T], to: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to(v)).collect()
}

impl Index for IvfFlat {
    fn kind(&self) -> SegmentKind {
        SegmentKind::custom(IVF_FLAT).expect("a user kind code")
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn rows(&self) -> usize {
        self.vectors.len() / self.dim
    }
    fn vector(&self, row: u32) -> Result<Option<Cow<'_, [f32]>>, IndexError> {
        Ok(self.vectors.get(row as usize * self.dim..(row as usize + 1) * self.dim).map(Cow::Borrowed))
    }
    fn search(&self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&dyn RowFilter>) -> Result<Vec<Candidate>, IndexError> {
        if query.len() != self.dim {
            return Err(IndexError::DimensionMismatch { expected: self.dim, got: query.len() });
        }
        let scorer = Scorer::new(self.metric);
        let mut top = TopK::new(k);
        for l in self.closest_lists(query, self.nprobe(params), &scorer) {
            for &row in &self.members[self.offsets[l] as usize..self.offsets[l + 1] as usize] {
                if filter.is_none_or(|f| f.accept(row)) {
                    let v = &self.vectors[row as usize * self.dim..][..self.dim];
                    top.push(Candidate { distance: scorer.distance(query, v), row });
                }
            }
        }
        Ok(top.into_sorted_vec())
    }
    fn write_sections(&self, w: &mut SegmentWriter) {
        w.add_section(SectionKind::VECTORS, &le_bytes(&self.vectors, f32::to_le_bytes));
        w.add_section(CENTROIDS, &le_bytes(&self.centroids, f32::to_le_bytes));
        let lists: Vec<u32> = self.offsets.iter().chain(&self.members).copied().collect();
        w.add_section(LISTS, &le_bytes(&lists, u32::to_le_bytes));
    }
}

/// Builds and opens [`IvfFlat`] segments.
#[derive(Debug)]
struct IvfFlatFactory;

impl IndexFactory for IvfFlatFactory {
    fn kind(&self) -> SegmentKind {
        SegmentKind::custom(IVF_FLAT).expect("a user kind code")
    }
    fn name(&self) -> &str {
        "ivf-flat"
    }
    fn open(&self, file: &SegmentBytes, _: Option<Arc<dyn SectorRead>>, verify: bool) -> Result<Box<dyn Index>, IndexError> {
        Ok(Box::new(IvfFlat::open(file, verify)?))
    }
    fn build(&self, input: BuildInput<'_>) -> Result<BuiltIndex, IndexError> {
        if input.dim == 0 || input.rows() == 0 {
            return Err(IndexError::InvalidArgument("ivf-flat needs at least one row".into()));
        }
        let index = IvfFlat::build(input.vectors, input.dim, input.metric);
        let bytes = (index.vectors.len() + index.centroids.len() + index.offsets.len() + index.members.len()) * 4;
        Ok(BuiltIndex::from_index(index, bytes))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The conformance suite: round trips, vector agreement, recall, filters, damage.
    let report = conformance::index_factory_suite(&IvfFlatFactory, 0.85);
    for (metric, recall) in &report.recall {
        println!("conformance: ivf-flat {metric} recall@10 {recall:.3}");
    }
    pollster::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().unwrap_or_default().to_string();
    let kind = IvfFlatFactory.kind();
    let (dim, rows) = (16, 3_000);
    let vectors = conformance::synthetic_rows(rows, Metric::L2, 3);
    let vectors: Vec<&[f32]> = vectors.chunks_exact(conformance::DIM).map(|v| &v[..dim]).collect();

    // 2. A database whose compactions write IVF-flat segments.
    let options = DbOptions::default().with_flat_threshold(100);
    let builder = Db::builder_uri(&path).options(options).index(Arc::new(IvfFlatFactory)).compaction_index(kind);
    let db = builder.clone().create(dim, Metric::L2).await?;
    for (batch, chunk) in vectors.chunks(1_000).enumerate() {
        for (i, v) in chunk.iter().enumerate() {
            db.upsert((batch * 1_000 + i) as u64, v)?;
        }
        db.commit().await?;
    }
    let report = db.compact_with(&MergeAll).await?;
    let kinds: Vec<String> = db.manifest().segments.iter().map(|s| s.kind.to_string()).collect();
    println!("compacted {} segments into {kinds:?}", report.segments_in);
    assert_eq!(kinds, [kind.to_string()]);

    // 3. Search it, against exact search over the same rows.
    let recall = recall_at_10(&db, &vectors)?;
    println!("ivf-flat segment: recall@10 {recall:.3} (ef_search 64: 8 lists probed)");
    assert!(recall >= 0.85, "recall {recall}");
    drop(db);

    // 4. Reopen with the factory: the same answers.
    let db = builder.open().await?;
    assert_eq!(recall_at_10(&db, &vectors)?, recall);
    drop(db);

    // 5. Without it, opening is refused (never a wrong answer).
    let err = Db::builder_uri(&path).open_read_only().await.err().ok_or("opened without the factory")?;
    println!("without the factory: {err}");
    assert_eq!(err.kind(), ErrorKind::Incompatible);
    Ok(())
}

/// Mean recall@10 of 50 of the rows (perturbed) as queries.
fn recall_at_10(db: &Db, vectors: &[&[f32]]) -> stratovec::Result<f64> {
    let scorer = Scorer::new(Metric::L2);
    let mut found = 0;
    for q in vectors.iter().step_by(vectors.len() / 50).take(50) {
        let q: Vec<f32> = q.iter().map(|x| x + 0.05).collect();
        let mut exact: Vec<(f32, u64)> = vectors.iter().enumerate().map(|(i, v)| (scorer.distance(&q, v), i as u64)).collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        let truth: Vec<u64> = exact[..10].iter().map(|e| e.1).collect();
        found += db.search(&q, 10, &SearchParams::default())?.iter().filter(|h| truth.contains(&h.id)).count();
    }
    Ok(found as f64 / 500.0)
}
