#!/usr/bin/env python3
"""Prints JSON lines from `stratovec bench --json` and benches/peers as one table, with
stratovec/peer ratios. Usage: table.py FILE.jsonl [FILE.jsonl ...]"""
import json
import sys

rows = []
for path in sys.argv[1:]:
    with open(path) as f:
        rows += [r for r in (json.loads(l) for l in f if l.startswith("{")) if "recall" in r]

fmt = lambda v, p: "-" if v is None else f"{v:.{p}f}"
print(f"| engine | index | ef | recall@10 | QPS | p50 µs | p99 µs | build s | commit s | open s | bytes/vector |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['engine']} | {r['index']} | {r['ef']} | {r['recall']:.4f} | {r['qps']:.0f} | {r['p50_us']:.1f} | "
          f"{r['p99_us']:.1f} | {fmt(r['build_s'], 1)} | {fmt(r.get('commit_s'), 2)} | {fmt(r.get('open_s'), 3)} | "
          f"{fmt(r.get('bytes_per_vector'), 0)} |")


def pick(engine, index):
    return {r["ef"]: r for r in rows if r["engine"] == engine and r["index"] == index}


ours = pick("stratovec", "hnsw")
print()
for peer in ["hnswlib", "faiss"]:
    theirs = pick(peer, "hnsw")
    for ef in sorted(set(ours) & set(theirs)):
        a, b = ours[ef], theirs[ef]
        print(f"ef {ef:>4}: stratovec/{peer} QPS x{a['qps'] / b['qps']:.2f} "
              f"(recall {a['recall']:.4f} vs {b['recall']:.4f})")
    if ours and theirs:
        a, b = next(iter(ours.values())), next(iter(theirs.values()))
        print(f"build: stratovec {a['build_s']:.1f} s vs {peer} {b['build_s']:.1f} s (x{b['build_s'] / a['build_s']:.2f} faster)")
    # Compare at the first ef where each reaches recall >= 0.95.
    ra = next((ours[e] for e in sorted(ours) if ours[e]["recall"] >= 0.95), None)
    rb = next((theirs[e] for e in sorted(theirs) if theirs[e]["recall"] >= 0.95), None)
    if ra and rb:
        print(f"at recall>=0.95: stratovec ef {ra['ef']} {ra['qps']:.0f} QPS vs {peer} ef {rb['ef']} {rb['qps']:.0f} QPS "
              f"(x{ra['qps'] / rb['qps']:.2f})")
flat_a, flat_b = pick("stratovec", "flat").get(0), pick("faiss", "flat").get(0)
if flat_a and flat_b:
    print(f"flat exact: stratovec {flat_a['qps']:.0f} QPS vs faiss {flat_b['qps']:.0f} QPS (x{flat_a['qps'] / flat_b['qps']:.2f})")
