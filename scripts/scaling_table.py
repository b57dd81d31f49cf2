#!/usr/bin/env python3
"""Table of scripts/scaling-job.sh: per n and index, build/commit/open time, bytes per
vector on disk, RSS per vector, and QPS at the first ef reaching recall@10 >= 0.95; then the
fitted growth of build time and QPS with n (least squares on log-log), and what 100M
vectors of this data would take per tier, by the measured bytes per vector."""
import json
import math
import sys
from collections import defaultdict

TARGET = 0.95
SHOWN = {"hnsw": "HNSW", "hnsw-sq8": "HNSW-SQ8", "diskann-pq": "DiskANN-PQ warm", "diskann-pq-cold-uring-w8": "DiskANN-PQ cold"}


def load(paths):
    rows = defaultdict(list)
    extra = defaultdict(dict)
    for path in paths:
        for line in open(path):
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if "ef" in r:
                rows[(r["n"], r["index"])].append(r)
            else:
                extra[(r["n"], r["index"])].update(r)
    return rows, extra


def fit(points):
    """Exponent x of y ∝ n^x, by least squares on logs; None with fewer than 3 points."""
    pts = [(math.log(n), math.log(y)) for n, y in points if y and y > 0]
    if len(pts) < 3:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def main():
    rows, extra = load(sys.argv[1:])
    cpu = next((r.get("cpu") for rs in rows.values() for r in rs if r.get("cpu")), "?")
    print(f"cpu: {cpu}")
    print("| index | n | build s | commit s | open s | bytes/vector on disk | process RSS / n (input rows included) | ef @ 0.95 | recall | QPS | p99 µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    growth = defaultdict(lambda: defaultdict(list))
    per_vector = {}
    for (n, index), rs in sorted(rows.items(), key=lambda kv: (list(SHOWN).index(kv[0][1]) if kv[0][1] in SHOWN else 99, kv[0][0])):
        if index not in SHOWN:
            continue
        rs.sort(key=lambda r: r["ef"])
        hit = next((r for r in rs if r["recall"] >= TARGET), None)
        first = rs[0]
        f = lambda v, fmt="{:.1f}": "-" if v is None else fmt.format(v)
        rss = first.get("rss_bytes")
        bpv = first.get("bytes_per_vector")
        q = hit or rs[-1]
        mark = "" if hit else " (max ef, below 0.95)"
        print(f"| {SHOWN[index]} | {n:,} | {f(first.get('build_s'))} | {f(first.get('commit_s'), '{:.2f}')} | {f(first.get('open_s'), '{:.3f}')} | "
              f"{f(bpv, '{:.0f}')} | {f(rss / n if rss else None, '{:.0f}')} | {q['ef']}{mark} | {q['recall']:.4f} | {q['qps']:,.0f} | {q['p99_us']:.0f} |")
        growth[index]["build"].append((n, first.get("build_s")))
        if hit:
            growth[index]["qps@0.95"].append((n, hit["qps"]))
        per_vector[index] = bpv
    print()
    for index, series in growth.items():
        parts = []
        for what, pts in series.items():
            x = fit(pts)
            if x is not None:
                parts.append(f"{what} ∝ n^{x:.2f}")
        if parts:
            print(f"* {SHOWN[index]}: " + ", ".join(parts))
    print()
    dim = next((r["dim"] for rs in rows.values() for r in rs), 50)
    print(f"100M vectors of {dim} dimensions, by the bytes per vector measured at the largest n (RAM: what searches touch)")
    for index, bpv in per_vector.items():
        if not bpv:
            continue
        hot = {
            "hnsw": (bpv, "vectors and graph"),
            "hnsw-sq8": (bpv - 4 * dim, "codes and graph; f32 read only to rescore ef rows"),
        }.get(index, (25 + 8 + 4, "PQ codes, keys and node CRCs; nodes stay on disk"))
        print(f"* {SHOWN[index]}: {bpv * 1e8 / 2**30:,.0f} GiB on disk, about {hot[0] * 1e8 / 2**30:,.1f} GiB of RAM ({hot[1]})")


if __name__ == "__main__":
    main()
