#!/bin/bash
# Alternating rounds, 1 search thread: stratovec hnsw-sq8 and hnsw (each built once into /tmp and reopened), hnswlib (index saved once).
# The first round builds what is missing (about a minute each); later rounds only search.
#   scripts/hnsw-sq8-ab.sh                                   # GloVe-50 from ../shared/data/glove50
#   NAME=text384 DATA=/path/to/text384 scripts/hnsw-sq8-ab.sh  # the 384-d set of scripts/make_text384.py
NAME=${NAME:-glove50}
B=${DATA:-../shared/data/$NAME}
EF=${EF:-64,128,256}
cd "$(dirname "$0")/.."
files="--base $B/${NAME}_base.fvecs --queries $B/${NAME}_query.fvecs --gt $B/${NAME}_gt100.ivecs --nq 1000 --metric cosine --ef $EF"
for r in 1 2 3; do
  target/release/stratovec bench $files --index hnsw-sq8 --db /tmp/$NAME-sq8 --reuse 2>/dev/null | grep "^hnsw" | sed "s/^/r$r /"
  target/release/stratovec bench $files --index hnsw --db /tmp/$NAME-f32 --reuse 2>/dev/null | grep "^hnsw" | sed "s/^/r$r /"
  benches/peers/run.sh $files --peers hnswlib --hnswlib-index /tmp/$NAME.hnswlib 2>/dev/null | grep -v "^#" | sed "s/^/r$r /"
done
