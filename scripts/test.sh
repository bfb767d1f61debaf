#!/usr/bin/env bash
# Sets up everything (Debian packages, build) and runs the whole test suite.
# The PyTorch reference is installed too, so the live parity tests run.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-build}"

bash "$repo_dir/scripts/setup.sh" --with-python "$build_dir"
cd "$repo_dir/$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 600
