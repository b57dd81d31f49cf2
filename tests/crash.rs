//! Crash tests: a child process runs a random workload on a local database and is killed
//! with SIGKILL, either after a random delay or by itself at a named crash point inside a
//! commit, a compaction or the log (feature `failpoints`). The parent reopens the database
//! and checks that every acknowledged record is there with its last value and that nothing
//! unacknowledged appears:
//! * log mode (`Durability::Wal`): the state is every acknowledged write, plus at most the
//!   one write in flight at the kill;
//! * commit mode: the state is every write acknowledged before the last acknowledged
//!   commit, or before the commit in flight at the kill.
//!
//! `STRATOVEC_CRASH_KILLS` sets the number of kills per mode (default 10, so 20 in CI);
//! `scripts/crash-job.sh` runs 100 per mode.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used)] // a test: a panic is a failure

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{block, vectors};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stratovec::{
    CompactionPolicy, Db, DbOptions, Durability, Filter, Include, MergeAll, Metric, Record, SizeTiered, SyncPolicy, Value, WalOptions,
    WriteBatch,
};

const DIM: usize = 8;
const KEYS: u64 = 200;
const STEPS: usize = 20_000;

/// Crash points the child can stop at (see `crash_point!` in the engine).
const CRASH_POINTS: &[&str] = &[
    "commit::frozen",
    "commit::segment_written",
    "commit::tombstones_written",
    "commit::published",
    "commit::log_removed",
    "compact::output_written",
    "compact::tombstones_written",
    "compact::published",
    "compact::retired_deleted",
    "write::logged",
    "wal::rotated",
];

/// Crash points only a database with a write-ahead log passes.
const LOG_ONLY: &[&str] = &["commit::log_removed", "write::logged", "wal::rotated"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Wal,
    Commit,
}

fn options(dir: &Path, mode: Mode, seed: u64) -> DbOptions {
    let mut o = DbOptions::default().with_flat_threshold(60);
    o.retain_versions = 1;
    let policy: std::sync::Arc<dyn CompactionPolicy> = if seed.is_multiple_of(2) {
        std::sync::Arc::new(MergeAll)
    } else {
        std::sync::Arc::new(SizeTiered { base_rows: 20, ..SizeTiered::default() })
    };
    o.compaction = policy;
    match mode {
        Mode::Wal => {
            let sync = [SyncPolicy::EveryWrite, SyncPolicy::Never][(seed / 2 % 2) as usize];
            o.durability = Durability::Wal(WalOptions::new(dir.join("wal")).with_sync(sync));
            o.memtable_limit_bytes = Some(48 << 10); // automatic commits too
        }
        Mode::Commit => o.memtable_limit_bytes = None, // only explicit commits make writes durable
    }
    o
}

fn vector(id: u64, tag: u64) -> Vec<f32> {
    vectors(1, DIM, id.wrapping_mul(1_000_003) ^ tag)
}

/// One logical write, as the child logs it and the parent replays it on its model.
#[derive(Debug, Clone, PartialEq)]
enum Write1 {
    Put(u64, u64),
    Del(u64),
    DelTagBelow(u64),
    Batch(Vec<Write1>),
}

impl Write1 {
    fn encode(&self) -> String {
        match self {
            Write1::Put(id, tag) => format!("p{id}:{tag}"),
            Write1::Del(id) => format!("d{id}"),
            Write1::DelTagBelow(t) => format!("f{t}"),
            Write1::Batch(ops) => format!("b{}", ops.iter().map(Write1::encode).collect::<Vec<_>>().join(",")),
        }
    }

    fn decode(s: &str) -> Write1 {
        let (kind, rest) = s.split_at(1);
        match kind {
            "p" => {
                let (id, tag) = rest.split_once(':').unwrap();
                Write1::Put(id.parse().unwrap(), tag.parse().unwrap())
            }
            "d" => Write1::Del(rest.parse().unwrap()),
            "f" => Write1::DelTagBelow(rest.parse().unwrap()),
            "b" => Write1::Batch(rest.split(',').map(Write1::decode).collect()),
            _ => panic!("bad log entry {s}"),
        }
    }

    /// Applies the write to a model (key → tag).
    fn apply(&self, model: &mut BTreeMap<u64, u64>) {
        match self {
            Write1::Put(id, tag) => {
                model.insert(*id, *tag);
            }
            Write1::Del(id) => {
                model.remove(id);
            }
            Write1::DelTagBelow(t) => model.retain(|_, tag| *tag >= *t),
            Write1::Batch(ops) => ops.iter().for_each(|op| op.apply(model)),
        }
    }
}

/// Appends lines to the acknowledgement log with one `write(2)` each, so a kill never
/// leaves half a line the parent would misread.
struct AckLog(std::fs::File);

impl AckLog {
    fn line(&mut self, s: &str) {
        self.0.write_all(format!("{s}\n").as_bytes()).unwrap();
    }
}

/// The child: runs when the test binary is started with `STRATOVEC_CRASH_CHILD` set.
#[test]
#[ignore = "run by crash_kills_* in a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var("STRATOVEC_CRASH_CHILD") else { return };
    let dir = PathBuf::from(dir);
    let mode = if std::env::var("STRATOVEC_CRASH_MODE").unwrap() == "wal" { Mode::Wal } else { Mode::Commit };
    let seed: u64 = std::env::var("STRATOVEC_CRASH_SEED").unwrap().parse().unwrap();
    let _scenario = fail::FailScenario::setup();
    if let Ok(spec) = std::env::var("STRATOVEC_CRASH_POINT") {
        let (name, hit) = spec.split_once('@').unwrap();
        let hit: usize = hit.parse().unwrap();
        let hits = std::sync::atomic::AtomicUsize::new(0);
        fail::cfg_callback(name, move || {
            if hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == hit {
                let pid = std::process::id().to_string();
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                std::process::abort();
            }
        })
        .unwrap();
    }
    let mut acks = AckLog(std::fs::OpenOptions::new().create(true).append(true).open(dir.join("acks")).unwrap());
    let store = open_store(&dir.join("db"));
    let opts = options(&dir, mode, seed);
    let db = match block(Db::open(store.clone(), opts.clone())) {
        Ok(db) => db,
        Err(_) => block(Db::create(store, DIM, Metric::L2, opts)).unwrap(),
    };
    acks.line("S");
    let mut rng = SmallRng::seed_from_u64(seed);
    for step in 0..STEPS {
        let tag = seed * 100_000 + step as u64;
        let roll = rng.random_range(0..100);
        let write = match roll {
            0..45 => Write1::Put(rng.random_range(0..KEYS), tag),
            45..60 => Write1::Del(rng.random_range(0..KEYS)),
            60..72 => Write1::Batch(
                (0..rng.random_range(2..6))
                    .map(|i| {
                        let id = rng.random_range(0..KEYS);
                        if rng.random_bool(0.7) {
                            Write1::Put(id, tag * 10 + i)
                        } else {
                            Write1::Del(id)
                        }
                    })
                    .collect(),
            ),
            72..74 => Write1::DelTagBelow(seed * 100_000 + step as u64 / 4),
            74..88 => {
                acks.line("C?");
                block(db.commit()).unwrap();
                acks.line("C");
                continue;
            }
            _ => {
                block(db.compact()).unwrap();
                continue;
            }
        };
        acks.line(&format!("T {}", write.encode()));
        match &write {
            Write1::Put(id, tag) => db.upsert_record(Record::new(*id, vector(*id, *tag)).with("tag", *tag as i64)).unwrap(),
            Write1::Del(id) => {
                db.delete(*id).unwrap();
            }
            Write1::DelTagBelow(t) => match db.delete_by_filter(&Filter::lt("tag", *t as f64)) {
                Ok(_) => {}
                // No row has the field yet (an empty database): nothing to delete.
                Err(_) if db.stats().live_rows == 0 => {}
                Err(e) => panic!("{e}"),
            },
            Write1::Batch(ops) => {
                let mut batch = WriteBatch::new();
                for op in ops {
                    match op {
                        Write1::Put(id, tag) => batch.upsert(Record::new(*id, vector(*id, *tag)).with("tag", *tag as i64)),
                        Write1::Del(id) => batch.delete(*id),
                        _ => unreachable!(),
                    };
                }
                db.write(&batch).unwrap();
            }
        }
        acks.line("A");
    }
    acks.line("E");
}

/// The writer lock of a killed process is released when the kernel closes its files; under
/// load that can lag the parent seeing the exit by a moment, so `Locked` is retried (5 s).
fn open_store(dir: &Path) -> std::sync::Arc<dyn stratovec::BlobStore> {
    for _ in 0..500 {
        match stratovec::LocalStore::open(dir) {
            Ok(s) => return std::sync::Arc::new(s),
            Err(stratovec::StoreError::Locked(_)) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("opening {}: {e}", dir.display()),
        }
    }
    panic!("{} is still locked after 5 s", dir.display());
}

/// States the database may be in after the kill, given this run's acknowledgement lines.
fn acceptable(base: &BTreeMap<u64, u64>, lines: &[&str], mode: Mode) -> Vec<BTreeMap<u64, u64>> {
    let mut acked = base.clone();
    let mut durable = base.clone();
    let mut in_flight: Option<BTreeMap<u64, u64>> = None;
    let mut pending: Option<Write1> = None;
    for line in lines {
        in_flight = None;
        match *line {
            "S" | "E" => {}
            "C?" => in_flight = Some(acked.clone()),
            "C" => durable = acked.clone(),
            "A" => {
                pending.take().expect("ack without a write").apply(&mut acked);
                if mode == Mode::Wal {
                    durable = acked.clone();
                }
            }
            t => pending = Some(Write1::decode(t.strip_prefix("T ").expect("log line"))),
        }
    }
    let mut out = vec![durable];
    match (mode, in_flight, pending) {
        (Mode::Commit, Some(at_commit), _) => out.push(at_commit),
        (Mode::Wal, _, Some(write)) => {
            let mut with = acked.clone();
            write.apply(&mut with);
            out.push(with);
        }
        _ => {}
    }
    out
}

/// The database's keys and tags, checking each vector against its tag.
fn read_state(db: &Db) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for id in 0..KEYS {
        if let Some(r) = db.get_record(id, Include::ALL).unwrap() {
            let Some(Value::Int(tag)) = r.metadata.as_ref().and_then(|m| m.get("tag")).cloned() else {
                panic!("key {id} has no tag: {r:?}");
            };
            assert_eq!(r.vector.as_deref(), Some(&vector(id, tag as u64)[..]), "vector of key {id} does not match its tag");
            out.insert(id, tag as u64);
        }
    }
    assert_eq!(db.stats().live_rows, out.len() as u64, "live rows outside the key space");
    out
}

#[derive(Debug, Default)]
struct Outcome {
    timed_kills: usize,
    crash_point_kills: usize,
    clean_exits: usize,
}

fn run(mode: Mode, kills: usize, seed0: u64) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(seed0);
    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let mut outcome = Outcome::default();
    for i in 0..kills {
        let seed = seed0 * 1000 + i as u64 + 1;
        let points: Vec<&str> = CRASH_POINTS.iter().copied().filter(|p| mode == Mode::Wal || !LOG_ONLY.contains(p)).collect();
        let point = (i % 2 == 1).then(|| format!("{}@{}", points[rng.random_range(0..points.len())], rng.random_range(0..3)));
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("STRATOVEC_CRASH_CHILD", dir.path())
            .env("STRATOVEC_CRASH_MODE", if mode == Mode::Wal { "wal" } else { "commit" })
            .env("STRATOVEC_CRASH_SEED", seed.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("child.stderr")).unwrap());
        if let Some(p) = &point {
            cmd.env("STRATOVEC_CRASH_POINT", p);
        }
        let mut child = cmd.spawn().unwrap();
        let started = Instant::now();
        let delay = Duration::from_millis(rng.random_range(20..400));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            let limit = if point.is_some() { Duration::from_secs(120) } else { delay };
            if started.elapsed() >= limit {
                child.kill().unwrap();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        use std::os::unix::process::ExitStatusExt;
        if status.signal().is_none() && !status.success() {
            let err = std::fs::read_to_string(dir.path().join("child.stderr")).unwrap_or_default();
            panic!("child {i} ({point:?}) failed with {status}:\n{err}");
        }
        if status.success() {
            outcome.clean_exits += 1;
        } else if point.is_some() && started.elapsed() < Duration::from_secs(120) {
            outcome.crash_point_kills += 1;
        } else {
            outcome.timed_kills += 1;
        }

        let log = std::fs::read_to_string(dir.path().join("acks")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let run_lines = lines.iter().rposition(|l| *l == "S").map_or(&[][..], |s| &lines[s..]);
        let candidates = acceptable(&model, run_lines, mode);
        let db = block(Db::open(open_store(&dir.path().join("db")), options(dir.path(), mode, seed)))
            .unwrap_or_else(|e| panic!("reopen after kill {i} ({point:?}, {status}): {e}"));
        let state = read_state(&db);
        let q = vectors(1, DIM, 99);
        let filtered = stratovec::SearchOptions { k: 5, filter: Some(Filter::exists("tag")), ..Default::default() };
        if !state.is_empty() {
            assert!(!db.search_with(&q, &filtered).unwrap().0.is_empty());
        }
        assert!(
            candidates.contains(&state),
            "kill {i} ({point:?}, {status}) in {mode:?} mode: state of {} keys matches none of the {} acceptable states (sizes {:?})\nlog tail: {:?}",
            state.len(),
            candidates.len(),
            candidates.iter().map(BTreeMap::len).collect::<Vec<_>>(),
            &run_lines[run_lines.len().saturating_sub(6)..],
        );
        model = state;
    }
    eprintln!("{mode:?} mode: {outcome:?}");
    outcome
}

fn kills() -> usize {
    std::env::var("STRATOVEC_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(10)
}

#[test]
fn crash_kills_in_log_mode_lose_no_acknowledged_write() {
    let o = run(Mode::Wal, kills(), 1);
    assert!(o.timed_kills + o.crash_point_kills > 0, "{o:?}");
}

#[test]
fn crash_kills_in_commit_mode_lose_no_committed_write() {
    let o = run(Mode::Commit, kills(), 2);
    assert!(o.timed_kills + o.crash_point_kills > 0, "{o:?}");
}
