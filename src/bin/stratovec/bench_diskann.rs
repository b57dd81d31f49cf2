//! `stratovec bench --index diskann-pq|diskann-sq8|diskann-int4`: builds a DiskANN segment,
//! writes it to a local store, opens it the way the engine does (codes from the file,
//! nodes through the store's `pread` reader) and searches it warm (page cache) and, with
//! `--cold`, through O_DIRECT; with `--io-uring`, also with reads through io_uring.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use stratovec::formats::segment::{SectionKind, SegmentBytes, SegmentHeader, SegmentKind, SegmentWriter};
use stratovec::fvecs::Matrix;
use stratovec::indexes::{CodeKind, DiskAnnBuild, DiskAnnIndex, DiskAnnParams, Index, SectorRead, VamanaParams};
use stratovec::{BlobStore, Error, LocalStore, Metric, SearchParams};

use super::{bench_dir, invalid, measure, normalise, report, rss_bytes, status_bytes, BenchArgs, Common, Timings};
use crate::progress;

#[derive(Debug)]
struct Reader(Arc<dyn stratovec::backends::RandomAccess>);

impl SectorRead for Reader {
    fn read_batch(&self, offsets: &[u64], len: usize, each: &mut dyn FnMut(usize, &[u8])) -> std::io::Result<()> {
        self.0.read_batch(offsets, len, each)
    }
}

pub(super) fn run(
    a: &BenchArgs,
    c: &Common,
    mut base: Matrix<f32>,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    codes: CodeKind,
) -> Result<(), Error> {
    if a.metric == Metric::Cosine {
        normalise(&mut base);
    }
    let params = DiskAnnParams {
        vamana: VamanaParams { r: a.r, l: a.l_build, alpha: a.alpha, ..VamanaParams::default() },
        codes,
        ..DiskAnnParams::default()
    };
    let pb = progress::bar((c.n * params.vamana.passes) as u64, "vamana");
    let t = Instant::now();
    let built = DiskAnnBuild::build(&base.data, c.dim, a.metric, &params, &|done, _| pb.set_position(done as u64))
        .map_err(|e| invalid(e.to_string()))?;
    let build_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    drop(base);
    let header = SegmentHeader { kind: SegmentKind::DISKANN, metric: a.metric, dim: c.dim as u32, rows: c.n as u64 };
    let mut w = SegmentWriter::new(&header, built.nodes.len() + 4096);
    built.write_sections(&mut w);
    let ids: Vec<u8> = built.order.iter().flat_map(|&r| (r as u64).to_le_bytes()).collect();
    w.add_section(SectionKind::IDS, &ids);
    let file = w.finish();
    let file_len = file.len();
    let code_len = built.codes.code_len();
    drop(built);
    let (dir, temporary) = bench_dir(a)?;
    let name = "segments/diskann.seg";
    pollster::block_on(LocalStore::open(&dir)?.put(name, Bytes::from(file))).map_err(|e| invalid(e.to_string()))?;
    let label = format!("diskann-{}", codes.name());
    if a.io_uring && !cfg!(all(feature = "io-uring", target_os = "linux")) {
        return Err(invalid("--io-uring needs a build with --features io-uring".into()));
    }
    let modes = [(false, false, ""), (false, true, "-uring"), (true, false, "-cold"), (true, true, "-cold-uring")];
    for (cold, uring, suffix) in modes {
        if (cold && !a.cold) || (uring && !a.io_uring) {
            continue;
        }
        let rss_before = rss_bytes().unwrap_or(0);
        let anon_before = status_bytes("RssAnon:").unwrap_or(0);
        let t = Instant::now();
        let store = with_io_uring(LocalStore::open_read_only(&dir)?.with_direct_reads(cold), uring)?;
        let bytes = pollster::block_on(store.get(name)).map_err(|e| invalid(e.to_string()))?;
        let random = pollster::block_on(store.random_access(name))
            .map_err(|e| invalid(e.to_string()))?
            .ok_or_else(|| invalid("no reader".into()))?;
        let file = SegmentBytes::whole(bytes).map_err(|e| invalid(e.to_string()))?;
        let index = DiskAnnIndex::open(&file, true, Arc::new(Reader(random))).map_err(|e| invalid(e.to_string()))?;
        let ids = file.section(SectionKind::IDS, false).map_err(|e| invalid(e.to_string()))?;
        let id_of = |row: u32| {
            ids.get(row as usize * 8..row as usize * 8 + 8).map_or(u64::MAX, |b| u64::from_le_bytes(b.try_into().unwrap_or([0xFF; 8])))
        };
        let open_s = t.elapsed().as_secs_f64();
        let rss_open = rss_bytes().unwrap_or(0);
        let timings = Timings { build_s, commit_s: None, open_s: Some(open_s), bytes_per_vector: Some(file_len as f64 / c.n as f64) };
        // Cold: each beam width of --cold-beams (reads in flight per search); warm: --beam.
        let beams = if cold { a.cold_beams.clone() } else { vec![a.beam] };
        for (&ef, &beam) in a.ef.iter().flat_map(|ef| beams.iter().map(move |b| (ef, b))) {
            let sp = SearchParams { ef_search: ef, beam_width: beam, ..SearchParams::default() };
            let r = measure(queries, gt, a.k, |q| {
                let found = index.search(q, a.k, &sp, None).map_err(|e| invalid(e.to_string()))?;
                Ok(found.iter().map(|c| id_of(c.row)).collect())
            })?;
            let w = if cold { format!("-w{beam}") } else { String::new() };
            report(a, c, &format!("{label}{suffix}{w}"), ef, &r, &timings);
            if cold && a.search_threads > 1 {
                let qps = concurrent_qps(a.search_threads, queries, |q| index.search(q, a.k, &sp, None).map(|_| ()))?;
                eprintln!("# {label}{suffix}{w} ef={ef}: {qps:.0} QPS from {} search threads", a.search_threads);
            }
        }
        let rss_after = rss_bytes().unwrap_or(0);
        let anon_grew = status_bytes("RssAnon:").unwrap_or(0).saturating_sub(anon_before);
        eprintln!(
            "# {label}{suffix}: codes {code_len} B/vector; RSS grew {:.1} B/vector over open + searches ({:.1} at open; heap {:.1}, the rest mapped file pages; segment {:.0} B/vector on disk)",
            rss_after.saturating_sub(rss_before) as f64 / c.n as f64,
            rss_open.saturating_sub(rss_before) as f64 / c.n as f64,
            anon_grew as f64 / c.n as f64,
            file_len as f64 / c.n as f64
        );
        drop(index);
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

#[cfg(all(feature = "io-uring", target_os = "linux"))]
fn with_io_uring(store: LocalStore, on: bool) -> Result<LocalStore, Error> {
    Ok(store.with_io_uring(on)?)
}

#[cfg(not(all(feature = "io-uring", target_os = "linux")))]
fn with_io_uring(store: LocalStore, _on: bool) -> Result<LocalStore, Error> {
    Ok(store)
}

/// QPS of `search` over every query from `threads` threads at once (more reads in flight:
/// `threads × W`).
fn concurrent_qps<E: std::fmt::Display>(
    threads: usize,
    queries: &Matrix<f32>,
    search: impl Fn(&[f32]) -> Result<(), E> + Sync,
) -> Result<f64, Error> {
    let t = Instant::now();
    super::for_each_parallel(threads, queries.rows(), |i| search(queries.row(i)).map_err(|e| invalid(e.to_string())))?;
    Ok(queries.rows() as f64 / t.elapsed().as_secs_f64())
}
