//! Whole-open-path fuzzing: a real database (Flat, HNSW and DiskANN segments, tombstones,
//! metadata and payloads) is built once; each input applies structured mutations to its
//! objects (manifest fields re-encoded with valid checksums, segment headers and sections
//! rewritten with valid checksums, tombstones re-encoded, raw bit flips and truncations),
//! then opens the result and searches, scans, counts, reads records and compacts it.
//! Every outcome must be a value or a typed error: no panic, no abort, no hang.
#![no_main]
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use stratovec::formats::manifest::Manifest;
use stratovec::formats::segment::{self, SectionKind, SegmentHeader, SegmentKind};
use stratovec::formats::tombstones::{self, Tombstone};
use stratovec::{BlobStore, Db, DbOptions, Filter, Include, MemoryStore, MergeAll, Metric, Record, SearchParams};

const DIM: usize = 8;

#[derive(Arbitrary, Debug)]
enum Mutation {
    ManifestRows { seg: u8, rows: u64 },
    ManifestBytes { seg: u8, bytes: u64 },
    ManifestKind { seg: u8, kind: u8 },
    ManifestDim(u32),
    ManifestDropSegment(u8),
    ManifestDuplicateSegment(u8),
    HeaderRows { seg: u8, rows: u64 },
    HeaderDim { seg: u8, dim: u32 },
    HeaderKind { seg: u8, kind: u8 },
    Section { seg: u8, section: u8, data: Vec<u8> },
    SectionTruncate { seg: u8, section: u8, len: u16 },
    SectionPatch { seg: u8, section: u8, at: u16, data: Vec<u8> },
    Tombstones(Vec<(u8, u32)>),
    Flip { object: u8, at: u32, xor: u8 },
    Truncate { object: u8, len: u32 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    verify: bool,
    mutations: Vec<Mutation>,
    query: [i8; DIM],
    k: u8,
}

fn vector(i: u64) -> Vec<f32> {
    (0..DIM as u64).map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0).collect()
}

/// The objects of a database with a DiskANN, an HNSW and a Flat segment, and tombstones.
fn base() -> &'static BTreeMap<String, Bytes> {
    static BASE: OnceLock<BTreeMap<String, Bytes>> = OnceLock::new();
    BASE.get_or_init(|| {
        let store = Arc::new(MemoryStore::new());
        let opts = DbOptions::default().with_flat_threshold(40).with_diskann_threshold(60).with_hnsw(8, 32);
        let db = pollster::block_on(Db::create(store.clone(), DIM, Metric::L2, opts)).unwrap();
        let put = |range: std::ops::Range<u64>| {
            for i in range {
                let r = Record::new(i, vector(i)).with("n", i as i64).with("tag", if i % 2 == 0 { "even" } else { "odd" }).with_payload(vec![i as u8; 3]);
                db.insert_record(r).unwrap();
            }
            pollster::block_on(db.commit()).unwrap();
        };
        put(0..40);
        put(40..80);
        pollster::block_on(db.compact_with(&MergeAll)).unwrap();
        put(80..130);
        put(130..140);
        db.delete(3).unwrap();
        db.delete(100).unwrap();
        pollster::block_on(db.commit()).unwrap();
        let mut out = BTreeMap::new();
        for name in pollster::block_on(store.list("")).unwrap() {
            out.insert(name.clone(), pollster::block_on(store.get(&name)).unwrap());
        }
        out
    })
}

fn newest_manifest(objects: &BTreeMap<String, Bytes>) -> Option<String> {
    objects.keys().filter(|k| k.starts_with("MANIFEST-")).max().cloned()
}

fn pick<T>(items: &[T], i: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i as usize % items.len()])
}

/// Rewrites segment `file` with valid checksums after `change` edits its header and sections.
fn rewrite(objects: &mut BTreeMap<String, Bytes>, file: &str, change: impl FnOnce(&mut SegmentHeader, &mut Vec<(SectionKind, Vec<u8>)>)) {
    let Some(bytes) = objects.get(file) else { return };
    if let Ok(new) = segment::rebuild(bytes, change) {
        objects.insert(file.to_string(), Bytes::from(new));
    }
}

fn kind(code: u8) -> SegmentKind {
    SegmentKind::from_code(code % 4).unwrap_or(SegmentKind::FLAT)
}

fn apply(objects: &mut BTreeMap<String, Bytes>, m: &Mutation) {
    let Some(man_name) = newest_manifest(objects) else { return };
    let Ok(mut manifest) = Manifest::decode(&objects[&man_name]) else { return };
    let files: Vec<String> = manifest.segments.iter().map(|s| s.file.clone()).collect();
    let names: Vec<String> = objects.keys().cloned().collect();
    let mut edit_manifest = |f: &mut dyn FnMut(&mut Manifest)| {
        f(&mut manifest);
        objects.insert(man_name.clone(), Bytes::from(manifest.encode()));
    };
    let section = |sections: &mut Vec<(SectionKind, Vec<u8>)>, i: u8| {
        let n = sections.len();
        (n > 0).then(|| i as usize % n)
    };
    match m {
        Mutation::ManifestRows { seg, rows } => edit_manifest(&mut |m| {
            let n = m.segments.len();
            if n > 0 {
                m.segments[*seg as usize % n].rows = *rows;
            }
        }),
        Mutation::ManifestBytes { seg, bytes } => edit_manifest(&mut |m| {
            let n = m.segments.len();
            if n > 0 {
                m.segments[*seg as usize % n].bytes = *bytes;
            }
        }),
        Mutation::ManifestKind { seg, kind: k } => edit_manifest(&mut |m| {
            let n = m.segments.len();
            if n > 0 {
                m.segments[*seg as usize % n].kind = kind(*k);
            }
        }),
        Mutation::ManifestDim(dim) => edit_manifest(&mut |m| m.dim = *dim),
        Mutation::ManifestDropSegment(seg) => edit_manifest(&mut |m| {
            let n = m.segments.len();
            if n > 0 {
                m.segments.remove(*seg as usize % n);
            }
        }),
        Mutation::ManifestDuplicateSegment(seg) => edit_manifest(&mut |m| {
            if let Some(s) = pick(&m.segments, *seg).cloned() {
                m.segments.push(s);
            }
        }),
        Mutation::HeaderRows { seg, rows } => {
            if let Some(f) = pick(&files, *seg) {
                rewrite(objects, f, |h, _| h.rows = *rows);
            }
        }
        Mutation::HeaderDim { seg, dim } => {
            if let Some(f) = pick(&files, *seg) {
                rewrite(objects, f, |h, _| h.dim = (*dim).max(1));
            }
        }
        Mutation::HeaderKind { seg, kind: k } => {
            if let Some(f) = pick(&files, *seg) {
                rewrite(objects, f, |h, _| h.kind = kind(*k));
            }
        }
        Mutation::Section { seg, section: s, data } => {
            if let Some(f) = pick(&files, *seg) {
                rewrite(objects, f, |_, secs| {
                    if let Some(i) = section(secs, *s) {
                        secs[i].1 = data.clone();
                    }
                });
            }
        }
        Mutation::SectionTruncate { seg, section: s, len } => {
            if let Some(f) = pick(&files, *seg) {
                rewrite(objects, f, |_, secs| {
                    if let Some(i) = section(secs, *s) {
                        let keep = (*len as usize).min(secs[i].1.len());
                        secs[i].1.truncate(keep);
                    }
                });
            }
        }
        Mutation::SectionPatch { seg, section: s, at, data } => {
            if let Some(f) = pick(&files, *seg) {
                rewrite(objects, f, |_, secs| {
                    if let Some(i) = section(secs, *s) {
                        let body = &mut secs[i].1;
                        for (j, b) in data.iter().enumerate() {
                            let p = *at as usize + j;
                            if p < body.len() {
                                body[p] = *b;
                            }
                        }
                    }
                });
            }
        }
        Mutation::Tombstones(rows) => {
            let ids: Vec<u64> = manifest.segments.iter().map(|s| s.id).collect();
            let ts: Vec<Tombstone> =
                rows.iter().map(|(s, row)| Tombstone { segment_id: pick(&ids, *s).copied().unwrap_or(*s as u64), row: *row }).collect();
            if let Some(t) = manifest.tombstone_files.first().map(|t| t.file.clone()) {
                objects.insert(t, Bytes::from(tombstones::encode(&ts)));
            }
        }
        Mutation::Flip { object, at, xor } => {
            if let Some(name) = pick(&names, *object) {
                let mut b = objects[name].to_vec();
                if !b.is_empty() {
                    let i = *at as usize % b.len();
                    b[i] ^= xor | 1;
                    objects.insert(name.clone(), Bytes::from(b));
                }
            }
        }
        Mutation::Truncate { object, len } => {
            if let Some(name) = pick(&names, *object) {
                let b = objects[name].clone();
                let keep = *len as usize % (b.len() + 1);
                objects.insert(name.clone(), b.slice(..keep));
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let mut objects = base().clone();
    for m in input.mutations.iter().take(8) {
        apply(&mut objects, m);
    }
    let store = Arc::new(MemoryStore::new());
    for (name, bytes) in &objects {
        pollster::block_on(store.put(name, bytes.clone())).unwrap();
    }
    let opts = || DbOptions { verify_on_open: input.verify, memtable_limit_bytes: None, ..DbOptions::default() };
    let Ok(db) = pollster::block_on(Db::open(store.clone(), opts())) else { return };
    let q: Vec<f32> = input.query.iter().map(|&x| x as f32).collect();
    let k = input.k as usize % 50 + 1;
    let _ = db.search(&q, k, &SearchParams::default());
    let _ = db.search(&q, k, &SearchParams { scan_codes: true, ..SearchParams::default() });
    let filter = Filter::eq("tag", "even");
    let _ = db.search_with(&q, &stratovec::SearchOptions { k, filter: Some(filter.clone()), ..Default::default() });
    let _ = db.count(&filter);
    if let Ok(scan) = db.scan(Some(&filter), 17, Include::ALL) {
        for batch in scan {
            if batch.is_err() {
                break;
            }
        }
    }
    for id in [0u64, 3, 50, 100, 139] {
        let _ = db.get_record(id, Include::ALL);
    }
    let _ = db.insert(1000, &q.iter().map(|x| x + 0.5).collect::<Vec<_>>());
    let _ = pollster::block_on(db.commit());
    let _ = pollster::block_on(db.compact_with(&MergeAll));
    drop(db);
    let _ = pollster::block_on(Db::open_read_only(store, opts()));
});
