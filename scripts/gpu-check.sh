#!/usr/bin/env bash
# The GPU path, checked in one go: the reference vectors on wgpu, `flawmap bench` on wgpu,
# a short GCT run of the demo config on wgpu with its final scores, and the peak GPU
# memory where the driver reports it (nvidia-smi). Prints one table at the end.
#
#   scripts/gpu-check.sh            a real GPU: builds with the gpu-perf features (fusion,
#                                   autotune), bench 10 iterations, demo run of 140 iterations
#   scripts/gpu-check.sh --quick    a software adapter (Mesa lavapipe, as in CI): no extra
#                                   features (reuses the test build), bench 1 iteration of
#                                   suponly, a 4-iteration run of a small GCT config
#
# Output (last lines), one row per check, tab-separated: check, result, detail. Rows:
#   vectors      ok|FAILED   "N passed" of the reference-vector tests on wgpu
#   bench <alg>  ok|FAILED   median ms per iteration, images/s, peak RSS (host) of that process
#   demo run     ok|FAILED   iterations, wall seconds, final mIoU T1/T2, F's AUROC T1/T2
#   gpu memory   MiB|n/a     peak memory.used over the bench and the run (nvidia-smi), else n/a
# Exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
if [ $quick = 1 ]; then features=(); else features=(--features gpu-perf); fi
target="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d)
sampler=""
trap 'kill "$sampler" 2>/dev/null; rm -rf "$work"' EXIT
rows=()
row() { rows+=("$(printf '%-14s\t%-7s\t%s' "$1" "$2" "$3")"); }
failed=0

echo "gpu-check: building (features: ${features[*]:-none})"
# Built as the test suite builds it (dev-dependency features included): the binary the
# integration tests use and the reference-vector test, so in CI nothing is built twice.
cargo test --locked "${features[@]}" --no-run --test gct_vectors 2>&1 | tail -3
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "gpu-check: the build failed" >&2; exit 1; }
bin="$target/debug/flawmap"

# Peak GPU memory: sample nvidia-smi in the background while the checks run.
if command -v nvidia-smi >/dev/null 2>&1; then
  (while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; sleep 0.5; done) > "$work/mem" &
  sampler=$!
fi

# 1. Reference vectors on wgpu.
out=$(cargo test --locked "${features[@]}" --test gct_vectors -- wgpu 2>&1)
passed=$(echo "$out" | awk '/^test result:/ { print $4 }' | tail -1)
if echo "$out" | grep -q "^test result: ok" && [ "${passed:-0}" -gt 0 ]; then row vectors ok "$passed passed on wgpu"
else row vectors FAILED "$(echo "$out" | grep -E 'panicked|FAILED|error' | head -2 | tr '\n' ' ')"; failed=1; fi

# 2. Training speed on wgpu.
if [ $quick = 1 ]; then bench=(--algorithms suponly --iters 1 --warmup 1); else bench=(--algorithms gct,suponly --iters 10 --warmup 3); fi
while read -r line; do
  case "$line" in
    *'"bench":"train_iteration"'*)
      row "bench $(echo "$line" | python3 -c 'import sys,json; print(json.load(sys.stdin)["algorithm"])')" ok \
        "$(echo "$line" | python3 -c 'import sys,json; d=json.load(sys.stdin); print("%s ms/iter, %s images/s, host peak RSS %s MiB, %s" % (d["ms_median"], d["images_per_sec"], d["peak_rss_mib"], d["device"]))')";;
  esac
done < <("$bin" bench --devices wgpu "${bench[@]}" 2>&1)
[ "$(printf '%s\n' "${rows[@]}" | grep -c '^bench')" -gt 0 ] || { row bench FAILED "no measurement printed"; failed=1; }

# 3. A short GCT run of the demo config on wgpu, with its final scores.
if [ $quick = 1 ]; then
  run=(--set train.iterations=4 --set train.eval_every=4 --set train.vis_every=0 --set data.source.train_images=24
       --set data.source.val_images=4 --set data.source.image_size=32 --set data.crop_size=32 --set data.base_size=32
       --set data.label_ratio=0.5 --set t1.width=8 --set t2.width=8 --set flaw_detector.ndf=8 --set train.batch_labeled=2 --set train.batch_unlabeled=2)
else
  run=(--set train.iterations=140 --set train.eval_every=70)
fi
t0=$(date +%s)
if "$bin" train --config examples/shapes-gct.toml --device wgpu --out "$work/run" "${run[@]}" > "$work/train.log" 2>&1 \
   && secs=$(( $(date +%s) - t0 )) && summary=$(python3 - "$work/run/events.jsonl" "$secs" 2>&1 <<'PY'
import json, sys
evals = [e for e in map(json.loads, open(sys.argv[1])) if e.get("type") == "eval"]
if not evals:
    sys.exit("no evaluation in the run's events")
last = evals[-1]
score = {m["model"]: m["score"] for m in last["models"]}
f = last.get("flaw") or {}
au = lambda v: "-" if v is None else f"{v:.3f}"
print(f"{last['step']} iterations in {sys.argv[2]} s; mIoU T1 {score.get('T1', float('nan')):.4f} T2 {score.get('T2', float('nan')):.4f}; "
      f"F AUROC T1 {au(f.get('auroc_t1'))} T2 {au(f.get('auroc_t2'))}")
PY
); then
  row "demo run" ok "$summary"
else
  row "demo run" FAILED "$(tail -3 "$work/train.log" | tr '\n' ' ') ${summary:-}"; failed=1
fi

# 4. Peak GPU memory.
if [ -n "$sampler" ]; then
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  row "gpu memory" "$(sort -n "$work/mem" | tail -1) MiB" "peak memory.used (nvidia-smi), whole GPU"
else
  row "gpu memory" n/a "the driver reports none here (no nvidia-smi)"
fi

echo
printf 'check         \tresult \tdetail\n'
printf '%s\n' "${rows[@]}"
exit $failed
