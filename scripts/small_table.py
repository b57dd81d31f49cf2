#!/usr/bin/env python3
"""Summarises scripts/small-collections.sh: per data set, the QPS of stratovec (committed
and reopened, index `hnsw`) and of hnswlib at the first ef where each reaches recall@10
>= 0.95, their ratio, and the plan stratovec's planner chose.
Usage: small_table.py FILE.jsonl [...]"""
import json
import os
import sys

TARGET = 0.95


def first_reaching(rows):
    ok = sorted((r for r in rows if r["recall"] >= TARGET), key=lambda r: r["ef"])
    return ok[0] if ok else None


print("| data | rows | dim | stratovec ef | recall | QPS | plan | hnswlib ef | recall | QPS | stratovec/hnswlib |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
for path in sys.argv[1:]:
    with open(path) as f:
        rows = [json.loads(l) for l in f if l.startswith("{")]
    ours = first_reaching([r for r in rows if r["engine"] == "stratovec" and r["index"] == "hnsw"])
    theirs = first_reaching([r for r in rows if r["engine"] == "hnswlib"])
    name = os.path.basename(path).removesuffix(".jsonl")
    any_row = next(iter(rows), {})
    cell = lambda r, k, p: "-" if r is None else f"{r[k]:.{p}f}"
    ratio = f"{ours['qps'] / theirs['qps']:.2f}" if ours and theirs else "-"
    plan = ours.get("plan", "-") if ours else "-"
    print(f"| {name} | {any_row.get('n', '-')} | {any_row.get('dim', '-')} | {cell(ours, 'ef', 0)} | {cell(ours, 'recall', 3)} | "
          f"{cell(ours, 'qps', 0)} | {plan} | {cell(theirs, 'ef', 0)} | {cell(theirs, 'recall', 3)} | {cell(theirs, 'qps', 0)} | {ratio} |")
cpus = {r.get("cpu") for p in sys.argv[1:] for r in (json.loads(l) for l in open(p) if l.startswith("{")) if r.get("cpu")}
print(f"\ncpu: {', '.join(sorted(cpus)) or 'unknown'}")
