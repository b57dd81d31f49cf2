#!/usr/bin/env python3
"""Peer engines on the same data and parameters as `stratovec bench`, printing the same
JSON lines (one per engine/index/ef) so the two outputs form one table.

Peers: hnswlib (HNSW), faiss IndexHNSWFlat, faiss IndexFlatIP / IndexFlatL2 (exact), faiss
IVF-PQ with exact refine (faiss-ivfpq; not in the default --peers list).
Build uses --threads threads; every search is 1 thread, 1 query per call, like stratovec.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np


def read_vecs(path, dtype, limit=None):
    raw = np.fromfile(path, dtype=np.int32, count=1)
    d = int(raw[0])
    rec = d + 1
    count = -1 if limit is None else limit * rec
    a = np.fromfile(path, dtype=np.int32, count=count).reshape(-1, rec)
    return a[:, 1:].view(dtype).copy()


def normalise(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return (x / n).astype(np.float32)


def ground_truth(args, base, queries, full_rows):
    if args.gt and base.shape[0] == full_rows:
        gt = read_vecs(args.gt, np.int32, queries.shape[0])
        if gt.shape[1] >= args.k:
            return gt[:, : args.k]
    out = np.empty((queries.shape[0], args.k), dtype=np.int64)
    for s in range(0, queries.shape[0], 256):
        q = queries[s : s + 256]
        if args.metric == "l2":
            d = (q * q).sum(1)[:, None] - 2 * q @ base.T + (base * base).sum(1)[None, :]
        else:
            d = -(q @ base.T)
        out[s : s + 256] = np.argsort(d, axis=1)[:, : args.k]
    return out


def measure(search, queries, gt, k):
    nq = queries.shape[0]
    for i in range(min(nq, 200)):
        search(queries[i : i + 1])
    lat = []
    hits = 0
    t0 = time.perf_counter()
    for i in range(nq):
        t = time.perf_counter()
        ids = search(queries[i : i + 1])
        lat.append((time.perf_counter() - t) * 1e6)
        hits += len(set(int(x) for x in ids) & set(int(x) for x in gt[i]))
    secs = time.perf_counter() - t0
    lat.sort()
    pct = lambda p: lat[min(int(len(lat) * p), len(lat) - 1)]
    return dict(recall=hits / (nq * k), qps=nq / secs, p50_us=pct(0.5), p99_us=pct(0.99))


def rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def emit(args, engine, index, ef, r, build_s, n, dim):
    line = dict(engine=engine, index=index, ef=ef, **r, build_s=build_s, commit_s=None, open_s=None,
                threads=args.threads, n=n, dim=dim, peak_rss_bytes=rss_bytes())
    print(json.dumps(line), flush=True)


def run_hnswlib(args, base, queries, gt):
    import hnswlib

    space = {"cosine": "cosine", "ip": "ip", "l2": "l2"}[args.metric]
    idx = hnswlib.Index(space=space, dim=base.shape[1])
    t = time.perf_counter()
    if args.hnswlib_index and os.path.exists(args.hnswlib_index):
        # A saved index (for repeated search runs against the same build): build_s is 0.
        idx.load_index(args.hnswlib_index, max_elements=base.shape[0])
        build_s = 0.0
    else:
        idx.init_index(max_elements=base.shape[0], M=args.m, ef_construction=args.ef_construction, random_seed=42)
        idx.set_num_threads(args.threads)
        idx.add_items(base, np.arange(base.shape[0]))
        build_s = time.perf_counter() - t
        if args.hnswlib_index:
            idx.save_index(args.hnswlib_index)
    idx.set_num_threads(1)
    for ef in args.ef:
        idx.set_ef(ef)
        r = measure(lambda q: idx.knn_query(q, k=args.k, num_threads=1)[0][0], queries, gt, args.k)
        emit(args, "hnswlib", "hnsw", ef, r, build_s, *base.shape)


def faiss_metric(faiss, metric):
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def run_faiss_hnsw(args, base, queries, gt):
    import faiss

    faiss.omp_set_num_threads(args.threads)
    idx = faiss.IndexHNSWFlat(base.shape[1], args.m, faiss_metric(faiss, args.metric))
    idx.hnsw.efConstruction = args.ef_construction
    t = time.perf_counter()
    idx.add(base)
    build_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    for ef in args.ef:
        idx.hnsw.efSearch = ef
        r = measure(lambda q: idx.search(q, args.k)[1][0], queries, gt, args.k)
        emit(args, "faiss", "hnsw", ef, r, build_s, *base.shape)


def run_faiss_flat(args, base, queries, gt):
    import faiss

    faiss.omp_set_num_threads(1)
    idx = faiss.IndexFlatL2(base.shape[1]) if args.metric == "l2" else faiss.IndexFlatIP(base.shape[1])
    t = time.perf_counter()
    idx.add(base)
    build_s = time.perf_counter() - t
    r = measure(lambda q: idx.search(q, args.k)[1][0], queries, gt, args.k)
    emit(args, "faiss", "flat", 0, r, build_s, *base.shape)


def run_faiss_ivfpq(args, base, queries, gt):
    """IVF-PQ (nlist = 4 sqrt(n), PQ dim/2 x 8 bits, like stratovec's DiskANN codes) with an
    exact refine of k x refine candidates; the "ef" column is nprobe."""
    import faiss

    n, dim = base.shape
    nlist = max(16, int(4 * np.sqrt(n)))
    m = (dim + 1) // 2
    while dim % m:
        m += 1
    faiss.omp_set_num_threads(args.threads)
    quantizer = faiss.IndexFlatL2(dim) if args.metric == "l2" else faiss.IndexFlatIP(dim)
    ivfpq = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss_metric(faiss, args.metric))
    idx = faiss.IndexRefineFlat(ivfpq)
    idx.k_factor = args.refine
    t = time.perf_counter()
    idx.train(base)
    idx.add(base)
    build_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    for nprobe in args.nprobe:
        ivfpq.nprobe = nprobe
        r = measure(lambda q: idx.search(q, args.k)[1][0], queries, gt, args.k)
        emit(args, "faiss", f"ivf{nlist}-pq{m}x8-refine{args.refine}", nprobe, r, build_s, n, dim)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--gt")
    p.add_argument("--limit", type=int)
    p.add_argument("--nq", type=int, default=1000)
    p.add_argument("--metric", default="cosine", choices=["cosine", "l2", "ip"])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef", default="32,64,128,256")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--hnswlib-index", help="hnswlib: load the index from this file when it exists, else build and save it there")
    p.add_argument("--peers", default="hnswlib,faiss-hnsw,faiss-flat")
    p.add_argument("--nprobe", default="8,16,32,64", help="faiss-ivfpq: nprobe values")
    p.add_argument("--refine", type=int, default=4, help="faiss-ivfpq: refine k_factor")
    args = p.parse_args()
    args.ef = [int(e) for e in args.ef.split(",")]
    args.nprobe = [int(e) for e in args.nprobe.split(",")]
    base = read_vecs(args.base, np.float32, args.limit)
    full_rows = os.path.getsize(args.base) // (4 * (base.shape[1] + 1))
    queries = read_vecs(args.queries, np.float32, args.nq)
    if args.metric == "cosine":
        base, queries = normalise(base), normalise(queries)
    gt = ground_truth(args, base, queries, full_rows)
    runners = {"hnswlib": run_hnswlib, "faiss-hnsw": run_faiss_hnsw, "faiss-flat": run_faiss_flat, "faiss-ivfpq": run_faiss_ivfpq}
    for name in args.peers.split(","):
        print(f"# running {name}", file=sys.stderr, flush=True)
        runners[name](args, base, queries, gt)


if __name__ == "__main__":
    main()
