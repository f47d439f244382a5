#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build and test flawmap. Idempotent.
# - mesa-vulkan-drivers + libvulkan1: Mesa's lavapipe, so wgpu runs on a CPU-only machine
#   (the GPU code path is tested there; a real GPU's own driver is used where present).
set -euo pipefail
need=()
for pkg in mesa-vulkan-drivers libvulkan1; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust 1.95+) is required: https://rustup.rs" >&2; exit 1; }
