#!/usr/bin/env bash
# Nightly crash job: 100 SIGKILLs per durability mode (200 in all), half after a random
# delay and half at a random crash point inside commit, compaction or the log.
set -euo pipefail
cd "$(dirname "$0")/.."
STRATOVEC_CRASH_KILLS="${STRATOVEC_CRASH_KILLS:-100}" \
  cargo test --release --features test-util,failpoints --test crash -- --nocapture --test-threads=1 2>&1 | grep -E "mode:|test result|panicked"
