#!/usr/bin/env python3
"""stratovec against LanceDB, usearch and hnswlib through each library's Python API, in one run
on one machine.

Each engine runs in its own worker process (so its peak RSS is its own) on the same data:
ingest + index build (timed together, ending with the data durable on disk), on-disk bytes,
open time (open from disk + first query), single-query QPS and p50/p99 latency on one
thread at the smallest search setting that reaches recall@10 >= 0.95 (a sweep), batch-query
QPS on all cores at that setting, filtered search at 10% selectivity (`bucket = 0`, every
10th key), and the worker's peak RSS. For stratovec it also times the same queries looped
inside the engine (`Db._search_loop`): the cost of the Python binding.

    python3 -m venv venv && venv/bin/pip install ./python lancedb usearch hnswlib pyarrow
    venv/bin/python benches/python/bench.py --data glove50 --out results.jsonl
    venv/bin/python benches/python/bench.py --data text384 --dir /path/to/text384 --out results.jsonl

Data: texmex files `<name>_base.fvecs`, `<name>_query.fvecs`, `<name>_gt100.ivecs` (see
../shared/data/README.md; text384 is made by scripts/make_text384.py). All vectors are
L2-normalised, so every engine uses cosine. Prints a Markdown table with the ratio
stratovec / LanceDB (IVF_HNSW_SQ) in each row.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ENGINES = ["stratovec", "stratovec-sq8", "lancedb-hnsw-sq", "lancedb-ivf-pq", "usearch", "hnswlib"]
K = 10
TARGET = 0.95


# ---------------------------------------------------------------- data


def read_vecs(path: Path, dtype) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view(dtype).copy()


def load(data: str, directory: Path, nq: int):
    base = read_vecs(directory / f"{data}_base.fvecs", np.float32)
    queries = read_vecs(directory / f"{data}_query.fvecs", np.float32)[:nq]
    gt = read_vecs(directory / f"{data}_gt100.ivecs", np.int32)[:nq, :K]
    return base, queries, gt


def filtered_truth(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact top-k among keys with key % 10 == 0, by inner product (normalised vectors)."""
    keys = np.arange(0, len(base), 10)
    scores = queries @ base[keys].T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return keys[top]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / K for f, t in zip(found, truth)]))


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------- engines
# Each: build(path, base), open(path), params (a sweep, cheapest first), query(q, p) -> ids,
# batch(Q, p) -> ids (nq, k), filtered(q, p) -> ids or None.


class Stratovec:
    name = "stratovec"
    codes = None
    params = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]

    def build(self, path, base):
        import stratovec

        n = len(base)
        ids = np.arange(n, dtype=np.uint64)
        meta = None
        with stratovec.connect(str(path), dim=base.shape[1], metric="cosine", hnsw_codes=self.codes, memtable_limit_bytes=1 << 34) as db:
            for s in range(0, n, 50_000):
                e = min(n, s + 50_000)
                meta = [{"bucket": int(i % 10)} for i in range(s, e)]
                db.upsert(ids[s:e], base[s:e], metadata=meta)
        # leaving the block commits and closes: one HNSW segment, durable

    def open(self, path):
        import stratovec

        self.db = stratovec.connect(str(path), read_only=True)

    def query(self, q, ef):
        return self.db.search(q, K, ef=ef)[0]

    def batch(self, Q, ef):
        return self.db.search(Q, K, ef=ef)[0]

    def filtered(self, q, ef):
        return self.db.search(q, K, ef=ef, filter="bucket = 0")[0]

    def engine_loop(self, Q, ef):
        ids, secs = self.db._search_loop(Q, K, ef=ef)
        return ids, secs


class StratovecSq8(Stratovec):
    name = "stratovec-sq8"
    codes = "sq8"


class Hnswlib:
    name = "hnswlib"
    params = Stratovec.params

    def build(self, path, base):
        import hnswlib

        idx = hnswlib.Index(space="cosine", dim=base.shape[1])
        idx.init_index(max_elements=len(base), M=16, ef_construction=200)
        idx.add_items(base, np.arange(len(base)), num_threads=os.cpu_count())
        idx.save_index(str(path))
        self.dim = base.shape[1]

    def open(self, path):
        import hnswlib

        self.idx = hnswlib.Index(space="cosine", dim=self.dim)
        self.idx.load_index(str(path))
        self.ef = None

    def _ef(self, ef):
        if ef != self.ef:
            self.idx.set_ef(ef)
            self.ef = ef

    def query(self, q, ef):
        self._ef(ef)
        return self.idx.knn_query(q, K, num_threads=1)[0][0]

    def batch(self, Q, ef):
        self._ef(ef)
        return self.idx.knn_query(Q, K, num_threads=os.cpu_count())[0]

    def filtered(self, q, ef):
        self._ef(ef)
        return self.idx.knn_query(q, K, num_threads=1, filter=lambda i: i % 10 == 0)[0][0]


class Usearch:
    name = "usearch"
    params = Stratovec.params

    def build(self, path, base):
        from usearch.index import Index

        idx = Index(ndim=base.shape[1], metric="cos", dtype="f32", connectivity=16, expansion_add=200)
        idx.add(np.arange(len(base), dtype=np.uint64), base, threads=os.cpu_count())
        idx.save(str(path))
        self.dim = base.shape[1]

    def open(self, path):
        from usearch.index import Index

        self.idx = Index(ndim=self.dim, metric="cos", dtype="f32", connectivity=16)
        self.idx.load(str(path))

    def query(self, q, ef):
        self.idx.expansion_search = ef
        return self.idx.search(q, K, threads=1).keys

    def batch(self, Q, ef):
        self.idx.expansion_search = ef
        return self.idx.search(Q, K, threads=os.cpu_count()).keys

    def filtered(self, q, ef):
        return None  # no filtered search in usearch's Python API


class Lance:
    """LanceDB: a table of (id, vector, bucket) and one ANN index; queries through the
    synchronous Python API. Parameters: (nprobes, ef or refine_factor)."""

    name = "lancedb"
    index_type = "IVF_HNSW_SQ"

    def build(self, path, base):
        import lancedb
        import pyarrow as pa

        n, dim = base.shape
        table = pa.table(
            {
                "id": pa.array(np.arange(n, dtype=np.uint64)),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(base.ravel()), dim),
                "bucket": pa.array(np.arange(n, dtype=np.int64) % 10),
            }
        )
        db = lancedb.connect(str(path))
        tbl = db.create_table("t", data=table)
        # num_partitions and the PQ shape: LanceDB's defaults (what a user gets).
        if self.index_type == "IVF_PQ":
            tbl.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_PQ")
        else:
            tbl.create_index(metric="cosine", vector_column_name="vector", index_type=self.index_type, m=16, ef_construction=200)
        tbl.create_scalar_index("bucket")

    def open(self, path):
        import lancedb

        self.tbl = lancedb.connect(str(path)).open_table("t")

    @property
    def params(self):
        if self.index_type == "IVF_PQ":
            return [(p, r) for p in (8, 16, 32, 64, 128) for r in (5, 10, 20, 40)]
        return [(p, ef) for p in (1, 2, 4, 8, 16, 32, 64, 128) for ef in (64, 256)]

    def _search(self, q, p, where=None):
        nprobes, x = p
        s = self.tbl.search(q).distance_type("cosine").nprobes(nprobes).limit(K).select(["id"])
        s = s.refine_factor(x) if self.index_type == "IVF_PQ" else s.ef(x)
        if where:
            s = s.where(where, prefilter=True)
        return s.to_arrow()["id"].to_numpy()

    def query(self, q, p):
        return self._search(q, p)

    def batch(self, Q, p):
        with ThreadPoolExecutor(os.cpu_count()) as ex:
            return np.stack([r if len(r) == K else np.pad(r, (0, K - len(r)), constant_values=-1) for r in ex.map(lambda q: self._search(q, p), Q)])

    def filtered(self, q, p):
        return self._search(q, p, "bucket = 0")


class LanceHnswSq(Lance):
    name = "lancedb-hnsw-sq"
    index_type = "IVF_HNSW_SQ"


class LanceIvfPq(Lance):
    name = "lancedb-ivf-pq"
    index_type = "IVF_PQ"


CLASSES = {c.name: c for c in (Stratovec, StratovecSq8, LanceHnswSq, LanceIvfPq, Usearch, Hnswlib)}


# ---------------------------------------------------------------- worker


def timed_queries(fn, queries, p):
    lat = np.empty(len(queries))
    found = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        ids = fn(q, p)
        lat[i] = time.perf_counter() - t
        ids = np.asarray(ids, dtype=np.int64)
        found.append(np.pad(ids, (0, K - len(ids)), constant_values=-1) if len(ids) < K else ids[:K])
    return np.stack(found), lat


def summary(lat):
    return {"qps": len(lat) / lat.sum(), "p50_ms": float(np.percentile(lat, 50) * 1e3), "p99_ms": float(np.percentile(lat, 99) * 1e3)}


def worker(args):
    base, queries, gt = load(args.data, args.dir, args.nq)
    engine = CLASSES[args.worker]()
    engine.dim = base.shape[1]
    work = Path(tempfile.mkdtemp(prefix=f"bench-{engine.name}-", dir=args.tmp))
    path = work / "index"
    out = {"engine": engine.name, "data": args.data, "n": len(base), "dim": base.shape[1], "nq": len(queries), "cpu": cpu_name(), "cores": os.cpu_count()}
    try:
        t = time.perf_counter()
        engine.build(path, base)
        out["build_s"] = time.perf_counter() - t
        out["disk_bytes"] = du(path)
        engine.__dict__.pop("db", None)
        t = time.perf_counter()
        engine.open(path)
        engine.query(queries[0], engine.params[len(engine.params) // 2])
        out["open_s"] = time.perf_counter() - t
        # single-query sweep, one thread: the cheapest setting reaching the target recall
        warm = queries[: min(100, len(queries))]
        chosen = None
        for p in engine.params:
            timed_queries(engine.query, warm, p)
            found, lat = timed_queries(engine.query, queries, p)
            r = recall(found, gt)
            out.setdefault("sweep", []).append({"param": p, "recall": r, **summary(lat)})
            if r >= TARGET:
                chosen = p
                out.update({"param": p, "recall": r, **summary(lat)})
                break
        if chosen is None:
            best = max(out["sweep"], key=lambda s: s["recall"])
            chosen = best["param"]
            out.update({"param": chosen, "below_target": True, **{k: best[k] for k in ("recall", "qps", "p50_ms", "p99_ms")}})
        if hasattr(engine, "engine_loop"):
            # the binding's cost: Python's loop and the engine's loop, alternating, 3 rounds
            py_qps, en_qps = [], []
            for _ in range(3):
                _, lat = timed_queries(engine.query, queries, chosen)
                ids, secs = engine.engine_loop(queries, chosen)
                py_qps.append(len(lat) / lat.sum())
                en_qps.append(len(secs) / secs.sum())
            ratios = sorted(p / e for p, e in zip(py_qps, en_qps))
            out["engine_loop"] = {"recall": recall(ids, gt), "qps": float(np.median(en_qps)), "python_qps": float(np.median(py_qps)), "ratios": ratios}
        t = time.perf_counter()
        found = engine.batch(queries, chosen)
        out["batch_qps"] = len(queries) / (time.perf_counter() - t)
        out["batch_recall"] = recall(np.asarray(found), gt)
        ftruth = filtered_truth(base, queries)
        if engine.filtered(queries[0], chosen) is not None:
            found, lat = timed_queries(engine.filtered, queries[: min(300, len(queries))], chosen)
            out["filtered"] = {"recall": recall(found, ftruth), **summary(lat)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- driver


def run_worker(engine, args):
    cmd = [sys.executable, __file__, "--worker", engine, "--data", args.data, "--dir", str(args.dir), "--nq", str(args.nq), "--tmp", args.tmp]
    env = {**os.environ, "LANCE_LOG": os.environ.get("LANCE_LOG", "error"), "RUST_LOG": os.environ.get("RUST_LOG", "error")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"engine": engine, "data": args.data, "error": f"exit {proc.returncode}"}
    res = json.loads(stdout.strip().splitlines()[-1])
    res["peak_rss_mb"] = usage.ru_maxrss / 1024
    return res


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:,.3g}{unit}" if v < 100 else f"{v:,.0f}{unit}"
    return f"{v:,}{unit}"


def table(results):
    by = {r["engine"]: r for r in results if "error" not in r}
    engines = [e for e in ENGINES if e in by]
    lance = by.get("lancedb-hnsw-sq")
    rows = [
        ("ingest + build (s)", lambda r: r.get("build_s"), False),
        ("on-disk (MB)", lambda r: r.get("disk_bytes", 0) / 1e6, False),
        ("open + first query (s)", lambda r: r.get("open_s"), False),
        ("search setting (ef / nprobes,x)", lambda r: str(r.get("param")), None),
        ("recall@10 at that setting", lambda r: r.get("recall"), None),
        ("single-query QPS, 1 thread", lambda r: r.get("qps"), True),
        ("p50 (ms)", lambda r: r.get("p50_ms"), False),
        ("p99 (ms)", lambda r: r.get("p99_ms"), False),
        ("batch QPS, all cores", lambda r: r.get("batch_qps"), True),
        ("filtered 10%: recall@10", lambda r: (r.get("filtered") or {}).get("recall"), None),
        ("filtered 10%: QPS, 1 thread", lambda r: (r.get("filtered") or {}).get("qps"), True),
        ("peak RSS (MB)", lambda r: r.get("peak_rss_mb"), False),
    ]
    head = "| | " + " | ".join(engines) + " | stratovec / LanceDB HNSW-SQ |"
    lines = [head, "|---|" + "---:|" * (len(engines) + 1)]
    s = by.get("stratovec")
    for label, get, higher in rows:
        cells = [fmt(get(by[e])) for e in engines]
        ratio = ""
        if s and lance and higher is not None:
            a, b = get(s), get(lance)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
                ratio = f"{a / b:.2f}×"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    if s and "engine_loop" in s:
        el = s["engine_loop"]
        r = ", ".join(f"{x:.2f}" for x in el["ratios"])
        lines.append(f"\nstratovec, the same queries at the same setting in 3 alternating rounds: Python `search` {el['python_qps']:,.0f} QPS, the engine's own loop {el['qps']:,.0f} QPS (Python / engine per round: {r}).")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="glove50", help="data set name (file prefix)")
    ap.add_argument("--dir", type=Path, help="directory of the data files (default ../shared/data/<data>)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--out", help="append each engine's JSON line to this file")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where indexes are built")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dir is None:
        args.dir = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / args.data
    if args.worker:
        return worker(args)
    print(f"# {args.data} from {args.dir}: {cpu_name()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    results = []
    for e in args.engines.split(","):
        t = time.time()
        r = run_worker(e, args)
        results.append(r)
        print(f"{e}: {time.time() - t:.0f} s: {json.dumps(r)}", flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
