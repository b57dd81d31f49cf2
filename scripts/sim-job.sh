#!/usr/bin/env bash
# Nightly simulation job: many seeds of the deterministic simulation (tests/simulation.rs).
# A failing seed prints itself; reproduce it with STRATOVEC_SIM_SEED=<seed>.
# Usage: scripts/sim-job.sh [seeds] [first seed]   (defaults: 20000 seeds from a date-based start)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-20000}"
first="${2:-$(( $(date +%s) / 86400 * 100000 ))}"
STRATOVEC_SIM_SEEDS="$seeds" STRATOVEC_SIM_FIRST_SEED="$first" \
  cargo test --release --features test-util --test simulation -- --nocapture 2>&1 | grep -E "seeds of|test result|panicked|seed [0-9]+"
