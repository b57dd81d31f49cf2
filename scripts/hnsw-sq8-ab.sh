#!/bin/bash
# Alternating rounds, 1 search thread: stratovec hnsw-sq8 and hnsw (each built once into /tmp and reopened), hnswlib (index saved once).
# The first round builds what is missing (about a minute each); later rounds only search.
B=${DATA:-../shared/data/glove50}
cd "$(dirname "$0")/.."
for r in 1 2 3; do
  target/release/stratovec bench --base $B/glove50_base.fvecs --queries $B/glove50_query.fvecs --gt $B/glove50_gt100.ivecs --nq 1000 --metric cosine --index hnsw-sq8 --ef 64,128,256 --db /tmp/g50sq8 --reuse 2>/dev/null | grep "^hnsw" | sed "s/^/r$r /"
  target/release/stratovec bench --base $B/glove50_base.fvecs --queries $B/glove50_query.fvecs --gt $B/glove50_gt100.ivecs --nq 1000 --metric cosine --index hnsw --ef 64,128,256 --db /tmp/g50 --reuse 2>/dev/null | grep "^hnsw" | sed "s/^/r$r /"
  benches/peers/run.sh --base $B/glove50_base.fvecs --queries $B/glove50_query.fvecs --gt $B/glove50_gt100.ivecs --nq 1000 --metric cosine --peers hnswlib --hnswlib-index /tmp/g50.hnswlib --ef 64,128,256 2>/dev/null | grep -v "^#" | sed "s/^/r$r /"
done
