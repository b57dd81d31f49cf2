#!/usr/bin/env bash
# What the container image runs, run here without a container engine: the image's
# environment (STRATOVEC_DB, STRATOVEC_LISTEN, RUST_LOG), its CMD (serve --log-format json),
# its HEALTHCHECK (stratovec health --degraded-ok) and its STOPSIGNAL (SIGTERM, exit 0).
# Usage: deploy/check-image-entrypoint.sh path/to/stratovec   (built with --features server)
set -euo pipefail
bin=$(realpath "$1")
data=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
export STRATOVEC_DB="$data/db" STRATOVEC_LISTEN=127.0.0.1:0 RUST_LOG=info STRATOVEC_DIM=4 STRATOVEC_API_KEY=ci-key
"$bin" serve --log-format json > "$data/out" 2> "$data/log" &
pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$data/out" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on http:\/\///p' "$data/out")
python3 - "$addr" <<'PY'
import json, sys, urllib.request
base = "http://" + sys.argv[1]
def call(method, path, body=None, key="ci-key"):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json", "authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"null")
assert urllib.request.urlopen(base + "/readyz", timeout=10).status == 200
assert call("PUT", "/v1/records", {"records": [{"id": 1, "vector": [1, 0, 0, 0]}]})[0] == 200
print("entrypoint answers:", call("POST", "/v1/search", {"vector": [1, 0, 0, 0], "k": 1}))
PY
"$bin" health --degraded-ok          # the HEALTHCHECK, beside the running server
kill -TERM "$pid"
wait "$pid"                           # STOPSIGNAL: a clean exit (status 0) after closing
grep -q '"message":"serving"' "$data/log"   # JSON logs on standard error
"$bin" stats --db "$data/db" | grep -q '1 live'   # the shutdown committed the write
echo "image entrypoint: ok"
