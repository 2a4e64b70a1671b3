#!/usr/bin/env bash
# Builds every fuzz target once, then runs each for SECONDS (default 1800, the long run
# of docs/FUZZING.md), one after the other, and reports per target the executions, the
# coverage (libFuzzer's final `cov:`) and the crashes. Writes results/summary.json and
# results/summary.md; exits non-zero if any target crashed.
#
#   bash fuzz/run-all.sh [SECONDS]          # every target
#   bash fuzz/run-all.sh [SECONDS] NAME...  # some targets
#   bash fuzz/run-all.sh --seeds            # rewrite the seed corpora in fuzz/corpus/
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# FUZZ_SANITIZER picks cargo-fuzz's sanitizer (default `none`: glitter forbids
# `unsafe`, so the fuzzers look for panics, failed invariants, timeouts and memory
# blow-ups; `address` also checks the dependencies' unsafe code, at half the speed).
# Inputs a run finds go to results/corpus/<target>/ (not to the committed seeds);
# crashes to results/artifacts/<target>/. FUZZ_RESULTS names another results
# directory, so that two runs can go side by side (one per core); its corpus
# directory is still results/corpus, shared, so long runs add up across runs.
# Each target's CPU time (user + system) is reported beside its wall time: a run
# under `nice` on a busy machine gets less CPU than its wall-clock budget.
set -euo pipefail
cd "$(dirname "$0")"

SAN="${FUZZ_SANITIZER:-none}"
TARGETS=(header_roundtrip payload_decode chain_verify chainfile_import sync_message sync_node
  backup_custody backup_restore control_request flash_log zk_claim heads_validator device_link)
BIN="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

build() {
  echo "==> building every fuzz target (sanitizer: $SAN)"
  cargo +nightly fuzz build -s "$SAN" --codegen-units 16
}

if [ "${1:-}" = "--seeds" ]; then
  build
  for t in "${TARGETS[@]}"; do
    GLITTER_FUZZ_SEEDS="$PWD/corpus" "$BIN/$t"
  done
  exit 0
fi

SECONDS_PER_TARGET="${1:-1800}"
shift || true
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
fi

build
RESULTS="${FUZZ_RESULTS:-results}"
mkdir -p "$RESULTS"
json="$RESULTS/summary.json"
md="$RESULTS/summary.md"
echo "[" > "$json"
{
  echo "| target | seconds | cpu seconds | executions | cov | crashes |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} > "$md"
crashed=0
first=1
for t in "${TARGETS[@]}"; do
  work="results/corpus/$t"
  arts="$RESULTS/artifacts/$t"
  log="$RESULTS/$t.log"
  times="$RESULTS/$t.cpu"
  mkdir -p "$work" "$arts"
  echo "==> $t for ${SECONDS_PER_TARGET}s"
  set +e
  TIMEFORMAT='%U %S'
  { time cargo +nightly fuzz run -s "$SAN" --codegen-units 16 "$t" "$work" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=30 \
    -rss_limit_mb=2048 -artifact_prefix="$arts/" > "$log" 2>&1 ; } 2> "$times"
  rc=$?
  cpu=$(awk '{printf "%d", $1 + $2}' "$times")
  set -e
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -1)
  cov=$(grep -o ' cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  crashes=$(find "$arts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # it died without an artifact: count it
  fi
  execs="${execs:-0}"
  cov="${cov:-0}"
  printf '    %-18s cpu %-6s executions %-10s cov %-6s crashes %s\n' \
    "$t" "$cpu" "$execs" "$cov" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    crashed=1
    grep -m 3 -E 'panicked|SUMMARY|ERROR' "$log" | sed 's/^/      /' || true
  fi
  [ "$first" -eq 1 ] || echo "," >> "$json"
  first=0
  printf '  {"target": "%s", "seconds": %s, "cpu_seconds": %s, "executions": %s, "cov": %s, "crashes": %s}' \
    "$t" "$SECONDS_PER_TARGET" "$cpu" "$execs" "$cov" "$crashes" >> "$json"
  echo "| $t | $SECONDS_PER_TARGET | $cpu | $execs | $cov | $crashes |" >> "$md"
done
printf '\n]\n' >> "$json"
echo "==> summary: fuzz/$md, fuzz/$json"
cat "$md"
if [ "$crashed" -ne 0 ]; then
  echo "fuzz: a target crashed; its input is in fuzz/$RESULTS/artifacts/<target>/ (see docs/FUZZING.md)"
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, no crash"
