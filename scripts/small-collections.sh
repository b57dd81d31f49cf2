#!/usr/bin/env bash
# Small collections against hnswlib, same run (issue 19): for each dimension and row count,
# synthetic embedding-like data (scripts/synthetic_fvecs.py) and, at 50 dimensions, a
# GloVe-50 prefix; stratovec builds, commits, reopens and searches (`bench --reopen`; the
# planner picks exact scan or graph per segment), hnswlib builds and searches in memory.
# Prints the JSON lines to $OUT/*.jsonl and a summary table (scripts/small_table.py):
# QPS at the first ef reaching recall@10 >= 0.95 for each engine, and their ratio.
#
# Usage: scripts/small-collections.sh [OUT]   (env DIMS, NS, NQ, EFS to narrow it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/small-collections}
dims=${DIMS:-50,384,784,1536}
ns=${NS:-2000,5000,9000,20000,50000}
nq=${NQ:-1000}
efs=${EFS:-10,16,24,32,48,64,96,128,192,256}
mkdir -p "$out"
cargo build -q --release --features cli --manifest-path "$root/Cargo.toml"
bin="$root/target/release/stratovec"
py="${STRATOVEC_PEERS_VENV:-$root/.venv-peers}/bin/python"
"$root/benches/peers/run.sh" --help > /dev/null # creates the venv on first use
glove="$root/../shared/data/glove50"
for dim in ${dims//,/ }; do
  for n in ${ns//,/ }; do
    name="synthetic-${n}x${dim}"
    "$py" "$root/scripts/synthetic_fvecs.py" --n "$n" --dim "$dim" --nq "$nq" --out "$out/data"
    set -- --base "$out/data/base-${n}x${dim}.fvecs" --queries "$out/data/queries-${n}x${dim}.fvecs"
    echo "# $name" >&2
    "$bin" bench --index hnsw --reopen --metric l2 --nq "$nq" --ef "$efs" --threads 2 --json "$@" > "$out/$name.jsonl"
    "$root/benches/peers/run.sh" --peers hnswlib --metric l2 --nq "$nq" --ef "$efs" --threads 2 "$@" >> "$out/$name.jsonl"
    if [ "$dim" = 50 ] && [ -f "$glove/glove50_base.fvecs" ]; then
      name="glove-${n}"
      set -- --base "$glove/glove50_base.fvecs" --queries "$glove/glove50_query.fvecs" --limit "$n"
      echo "# $name" >&2
      "$bin" bench --index hnsw --reopen --metric cosine --nq "$nq" --ef "$efs" --threads 2 --json "$@" > "$out/$name.jsonl"
      "$root/benches/peers/run.sh" --peers hnswlib --metric cosine --nq "$nq" --ef "$efs" --threads 2 "$@" >> "$out/$name.jsonl"
    fi
  done
done
"$py" "$root/scripts/small_table.py" "$out"/*.jsonl
