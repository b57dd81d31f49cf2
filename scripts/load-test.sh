#!/usr/bin/env bash
# Load test of `stratovec serve` on loopback (a nightly job, not CI): GloVe-50 imported into
# a database, the server started with an API key, then `oha` for DURATION seconds (default
# 60) with 32 connections: 29 sending POST /v1/search (one fixed GloVe query, ef 64, k 10)
# and 3 sending PUT /v1/records (one record each), about 90% searches and 10% upserts.
# Reports QPS, p50/p99 and errors of each, and the in-process QPS of the same query on the
# same database measured first (`stratovec bench --reuse`, 1 thread), with the ratio.
# Needs: oha (cargo install oha), python3; ../shared/data/glove50.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="$root/../shared/data/glove50"
duration=${DURATION:-60}
out="$root/target/load-test"
mkdir -p "$out"
command -v oha >/dev/null || { echo "needs oha: cargo install oha" >&2; exit 1; }
cargo build -q --release --features server --bin stratovec
bin="$root/target/release/stratovec"
db="$out/db"
if [ ! -d "$db" ]; then
  "$bin" import --db "$db" --input "$data/glove50_base.fvecs" --metric cosine
fi
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" | tee "$out/cpu.txt"
python3 - "$data" "$out" <<'PY'
import json, struct, sys
data, out = sys.argv[1], sys.argv[2]
with open(data + "/glove50_query.fvecs", "rb") as f:
    dim = struct.unpack("<i", f.read(4))[0]
    raw = f.read(4 * dim)
    q = list(struct.unpack(f"<{dim}f", raw))
with open(data + "/glove50_gt100.ivecs", "rb") as f:
    k = struct.unpack("<i", f.read(4))[0]
    gt = f.read(4 * k)
json.dump({"vector": q, "k": 10, "ef": 64}, open(out + "/search.json", "w"))
json.dump({"records": [{"id": 10_000_000, "vector": q, "metadata": {"source": "load-test"}}]}, open(out + "/upsert.json", "w"))
# The same query 20,000 times, for the in-process measurement of what the HTTP test asks.
with open(out + "/query0.fvecs", "wb") as f:
    f.write((struct.pack("<i", dim) + raw) * 20_000)
with open(out + "/query0.ivecs", "wb") as f:
    f.write((struct.pack("<i", k) + gt) * 20_000)
PY
# In-process first, on the database as imported: the fixed query, 1 search thread.
"$bin" bench --base "$data/glove50_base.fvecs" --queries "$out/query0.fvecs" --gt "$out/query0.ivecs" --nq 20000 \
  --metric cosine --ef 64 --db "$db" --index hnsw --reuse --json --threads 1 > "$out/inprocess.jsonl" 2>/dev/null
STRATOVEC_API_KEY=load-test "$bin" serve --db "$db" --listen 127.0.0.1:0 > "$out/server.out" 2> "$out/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q '^listening on ' "$out/server.out" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$out/server.out")
auth="authorization: Bearer load-test"
oha -z "${duration}s" -c 29 --no-tui --output-format json -m POST -H "$auth" -T application/json -D "$out/search.json" \
  "$addr/v1/search" > "$out/search.oha.json" &
search=$!
oha -z "${duration}s" -c 3 --no-tui --output-format json -m PUT -H "$auth" -T application/json -D "$out/upsert.json" \
  "$addr/v1/records" > "$out/upsert.oha.json"
wait $search
kill -TERM $server; wait $server || true
trap - EXIT
python3 - "$out" "$duration" <<'PY'
import json, sys
out, duration = sys.argv[1], sys.argv[2]
def summary(name):
    j = json.load(open(f"{out}/{name}.oha.json"))
    s, lat = j["summary"], j["latencyPercentiles"]
    # Requests still in flight when the time is up are "aborted due to deadline": not errors.
    errors = sum(v for k, v in j.get("errorDistribution", {}).items() if k != "aborted due to deadline")
    errors += sum(v for k, v in j.get("statusCodeDistribution", {}).items() if not k.startswith("2"))
    return s["requestsPerSec"], lat["p50"] * 1e3, lat["p99"] * 1e3, errors, s["successRate"]
rows = [(n,) + summary(n) for n in ("search", "upsert")]
inproc = [json.loads(l) for l in open(f"{out}/inprocess.jsonl") if l.strip()]
inproc_qps = inproc[0]["qps"] if inproc else float("nan")
print(f"| requests ({duration} s, 32 connections) | QPS | p50 ms | p99 ms | errors |")
print("|---|---:|---:|---:|---:|")
for n, qps, p50, p99, err, ok in rows:
    print(f"| {n} | {qps:,.0f} | {p50:.2f} | {p99:.2f} | {err} |")
import os
cores = os.cpu_count()
print(f"\nin-process search of the same query, 1 thread, ef 64: {inproc_qps:,.0f} QPS; "
      f"HTTP search QPS / (in-process QPS x {cores} cores) = {rows[0][1] / (inproc_qps * cores):.2f} "
      f"(the server also serves the upserts on the same cores)")
PY
