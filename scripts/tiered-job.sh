#!/usr/bin/env bash
# Issue 3's comparison on GloVe-50 (390,000 base, 1,000 queries, cosine, k = 10): every
# stratovec index kind (flat, flat-sq8, hnsw, diskann-pq/sq8 warm, O_DIRECT cold, pread and
# io_uring, and the engine's tiered write path) next to hnswlib and faiss (flat, IVF-PQ with
# refine) in the same run. Output: target/tiered-job/{stratovec,peers}.jsonl and table.md.
# Environment: NQ (queries, default 1000), THREADS (build threads, default all cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="$root/../shared/data/glove50"
threads=${THREADS:-$(nproc)}
common=(--base "$data/glove50_base.fvecs" --queries "$data/glove50_query.fvecs" --gt "$data/glove50_gt100.ivecs"
        --nq "${NQ:-1000}" --metric cosine --k 10 --m 16 --ef-construction 200 --threads "$threads")
out="$root/target/tiered-job"
mkdir -p "$out"
cargo build -q --release --features cli,io-uring
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" | tee "$out/cpu.txt"
bin=target/release/stratovec
{
  $bin bench "${common[@]}" --json --index flat,flat-sq8 --rerank 0,2
  $bin bench "${common[@]}" --json --index hnsw --ef 64,128,256
  $bin bench "${common[@]}" --json --index diskann-pq,diskann-sq8 --ef 32,64,128 --cold --io-uring
  $bin bench "${common[@]}" --json --index tiered-pq --ef 64,128 --commit-rows 20000 --diskann-threshold 100000
} 2> "$out/stratovec.stderr" | tee "$out/stratovec.jsonl"
benches/peers/run.sh "${common[@]}" --ef 64,128,256 --peers hnswlib,faiss-flat,faiss-ivfpq --nprobe 16,32,64,128 | tee "$out/peers.jsonl"
python3 scripts/table.py "$out/stratovec.jsonl" "$out/peers.jsonl" | tee "$out/table.md"
