#!/usr/bin/env bash
# How cost grows with n (issue 17 §4): for each n, build, commit, reopen and search HNSW,
# HNSW-SQ8 and DiskANN-PQ (warm, and cold through O_DIRECT with io_uring), with exact ground
# truth from the flat scan (`bench` computes it when --limit cuts the base or the base is
# made here). n up to 390,000 are GloVe-50 prefixes; larger n are GloVe-50 rows plus
# Gaussian noise (scripts/augment_fvecs.py, 5% of each dimension's deviation).
# Prints JSON lines to $OUT/scaling-N.jsonl and a table (scripts/scaling_table.py).
#
# Usage: scripts/scaling-job.sh [OUT]   (env NS, NQ, EFS, INDEXES to narrow it)
# A nightly job: about 45 minutes for the defaults on 2 cores (2,000,000 rows dominate).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/scaling}
ns=${NS:-50000,100000,200000,390000,1000000,2000000}
nq=${NQ:-1000}
efs=${EFS:-16,32,64,128,256}
indexes=${INDEXES:-hnsw,hnsw-sq8,diskann-pq}
glove="${DATA:-$root/../shared/data/glove50}"
mkdir -p "$out/data"
cargo build -q --release --features cli,io-uring --manifest-path "$root/Cargo.toml"
bin="$root/target/release/stratovec"
py="${STRATOVEC_PEERS_VENV:-$root/.venv-peers}/bin/python"
"$root/benches/peers/run.sh" --help > /dev/null # creates the venv (numpy) on first use
for n in ${ns//,/ }; do
  if [ "$n" -le 390000 ]; then
    set -- --base "$glove/glove50_base.fvecs" --limit "$n"
  else
    [ -f "$out/data/base-$n.fvecs" ] || "$py" "$root/scripts/augment_fvecs.py" --base "$glove/glove50_base.fvecs" --n "$n" --out "$out/data/base-$n.fvecs"
    set -- --base "$out/data/base-$n.fvecs"
  fi
  echo "# n=$n" >&2
  for index in ${indexes//,/ }; do
    db="$out/db-$n-$index"
    rm -rf "$db"
    extra=()
    case "$index" in
      diskann-*) extra=(--cold --io-uring --cold-beams 8) ;;
      *) extra=(--reopen --db "$db") ;;
    esac
    /usr/bin/time -f '{"index": "'"$index"'", "n": '"$n"', "max_rss_kib": %M}' \
      "$bin" bench "$@" --queries "$glove/glove50_query.fvecs" --metric cosine --nq "$nq" --ef "$efs" \
      --index "$index" --threads 2 --json "${extra[@]}" >> "$out/scaling-$n.jsonl" 2>> "$out/scaling-$n.err" || { echo "# $index n=$n failed" >&2; tail -3 "$out/scaling-$n.err" >&2; }
    tail -1 "$out/scaling-$n.err" | grep '^{' >> "$out/scaling-$n.jsonl" || true
    [ -d "$db" ] && du -sb "$db" | awk -v i="$index" -v n="$n" '{print "{\"index\": \"" i "\", \"n\": " n ", \"disk_bytes\": " $1 "}"}' >> "$out/scaling-$n.jsonl"
    rm -rf "$db"
  done
done
"$py" "$root/scripts/scaling_table.py" "$out"/scaling-*.jsonl
