#!/usr/bin/env bash
# Nightly fuzz job: every fuzz target for N seconds (default 600), with overflow checks
# (cargo-fuzz builds with debug assertions). Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked -q
for t in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
  extra=()
  [ "$t" = db_open ] && extra=(-max_len=4096 -len_control=0)
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 "${extra[@]}" 2>&1 | grep -E "^Done|panicked|SUMMARY" || true
done
