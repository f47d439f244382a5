#!/usr/bin/env bash
# Page latency with 100 runs in the database: starts a server on a fresh data directory,
# creates 100 short runs through the API (one trains, the rest are stopped while queued),
# then times each page 30 times with curl and prints the median and 90th percentile (ms).
# Usage: scripts/measure-pages.sh [path/to/flawmap]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/flawmap}"
data=$(mktemp -d)
port=3977
"$bin" serve --addr 127.0.0.1:$port --data-dir "$data" > /dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 50); do curl -sf $base/api/runs > /dev/null && break; sleep 0.2; done
cfg=$(python3 - <<'PY'
import json
c = {"name": "latency", "task": "segmentation", "algorithm": "gct", "device": "cpu",
     "data": {"source": {"kind": "shapes", "train_images": 24, "val_images": 4, "image_size": 32},
              "crop_size": 32, "base_size": 32, "label_ratio": 0.5},
     "t1": {"width": 8}, "t2": {"width": 8}, "flaw_detector": {"ndf": 8},
     "train": {"iterations": 30, "batch_labeled": 2, "batch_unlabeled": 2, "vis_every": 5, "eval_every": 10, "probe_labeled": 3, "probe_unlabeled": 3}}
print(json.dumps({"config": c}))
PY
)
for i in $(seq 100); do curl -sf -X POST -H 'content-type: application/json' -d "$cfg" $base/api/runs > /dev/null; done
for i in $(seq 2 100); do curl -s -X POST $base/api/runs/$i/stop > /dev/null; done
for _ in $(seq 600); do [ "$(curl -s $base/api/runs/1 | python3 -c 'import sys,json; print(json.load(sys.stdin)["status"])')" = finished ] && break; sleep 0.5; done
step=$(curl -s $base/api/runs/1/snapshots | python3 -c 'import sys,json; print(json.load(sys.stdin)["steps"][-1])')
echo "page                                   median_ms  p90_ms"
for path in / /runs/1 /runs/1/inspect /api/runs /api/runs/1/metrics "/api/runs/1/snapshots/$step" "/api/runs/1/snapshots/$step/0/flaw_t1.png?cmap=viridis"; do
  times=$(for _ in $(seq 30); do curl -s -o /dev/null -w '%{time_total}\n' "$base$path"; done | sort -n)
  med=$(echo "$times" | sed -n 15p); p90=$(echo "$times" | sed -n 27p)
  awk -v p="$path" -v m="$med" -v q="$p90" 'BEGIN { printf "%-40s %8.1f %7.1f\n", p, m * 1000, q * 1000 }'
done
