#!/usr/bin/env bash
# Installs the Debian packages the project needs, then configures and builds it.
#
# Usage: scripts/setup.sh [--with-python] [BUILD_DIR]
#   --with-python  also install python3-torch, python3-numpy and OpenBLAS, which
#                  the PyTorch reference model, the trainer and the live parity
#                  test need. The runtime, converter and CLI do not.
set -euo pipefail

with_python=0
if [[ "${1:-}" == "--with-python" ]]; then
  with_python=1
  shift
fi
build_dir="${1:-build}"
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake
  libflatbuffers-dev flatbuffers-compiler
  libxsimd-dev libspdlog-dev libfmt-dev doctest-dev libzstd-dev
  nlohmann-json3-dev libcli11-dev libbenchmark-dev
)
if [[ "$with_python" -eq 1 ]]; then
  # Without libopenblas0-pthread, Debian's torch falls back to the reference BLAS
  # and trains about three times slower.
  packages+=(python3-torch python3-numpy libopenblas0-pthread)
fi

if [[ "$(id -u)" -eq 0 ]]; then
  apt_get=(apt-get)
else
  apt_get=(sudo apt-get)
fi
echo "setup: installing ${#packages[@]} Debian packages" >&2
DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -q >/dev/null
DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q --no-install-recommends "${packages[@]}" >/dev/null

echo "setup: building in $build_dir" >&2
cmake -S "$repo_dir" -B "$repo_dir/$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$repo_dir/$build_dir" -j "$(nproc)"
