#!/usr/bin/env bash
# Runs the peer engines (hnswlib, faiss) with the arguments given, in a venv this script
# creates on first use (.venv-peers at the repository root; pinned versions).
# Usage: benches/peers/run.sh --base B.fvecs --queries Q.fvecs [--gt GT.ivecs] [--limit N]
#        [--nq N] [--metric cosine] [--k 10] [--ef 32,64,128,256] [--m 16]
#        [--ef-construction 200] [--threads T] [--peers hnswlib,faiss-hnsw,faiss-flat,faiss-ivfpq]
#        [--nprobe 8,16,32,64] [--refine 4]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${STRATOVEC_PEERS_VENV:-$root/.venv-peers}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, hnswlib, faiss" 2>/dev/null; then
  echo "# creating $venv (numpy, hnswlib, faiss-cpu)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy==2.4.6 hnswlib==0.8.0 faiss-cpu==1.15.1 >&2
fi
exec "$venv/bin/python" "$root/benches/peers/peers.py" "$@"
