#!/usr/bin/env bash
# The test command: set up, then run every test (unit, integration, the wgpu path on
# lavapipe, the CLI). Nothing is skipped: a missing Vulkan driver fails the wgpu test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"   # silences Mesa's warning
cargo test --locked "$@"
