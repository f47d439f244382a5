#!/usr/bin/env bash
# The test command: set up, then run every test (unit, integration, the wgpu path on
# lavapipe, the CLI, the server, the browser). Nothing is skipped: a missing Vulkan driver,
# Chromium or node module fails its test. Ends with one summary line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"   # silences Mesa's warning
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The GPU path's own check, on lavapipe here (scripts/gpu-check.sh; a real GPU runs it in
# full). Part of the whole suite, not of a filtered run (`scripts/test.sh --test hostile`).
if [ $# -eq 0 ]; then
  bash scripts/gpu-check.sh --quick 2>&1 | tee -a "$log"
  gpu=${PIPESTATUS[0]}
  if [ "$gpu" -eq 0 ]; then echo "test result: ok. 1 passed; 0 failed (scripts/gpu-check.sh --quick)" >> "$log"
  else echo "test result: FAILED. 0 passed; 1 failed (scripts/gpu-check.sh --quick)" >> "$log"; status=1; fi
fi
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "flawmap: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
