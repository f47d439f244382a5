#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build, run and test flawmap. Idempotent.
# - mesa-vulkan-drivers + libvulkan1: Mesa's lavapipe, so wgpu runs on a CPU-only machine
#   (the GPU code path is tested there; a real GPU's own driver is used where present);
# - chromium: the browser tests drive Debian's Chromium (playwright-core launches it);
# - nodejs + npm: install the chart library (uPlot) and playwright-core from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in mesa-vulkan-drivers libvulkan1 chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust 1.95+) is required: https://rustup.rs" >&2; exit 1; }
# Front-end libraries come from npm (package.json + lock file) and are served from static/vendor.
npm ci --no-audit --no-fund --silent
mkdir -p static/vendor
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css static/vendor/
