#!/usr/bin/env bash
# Installs what pointrt needs to build and test, from Debian packages (run as root or through sudo).
# The CUDA toolkit (nvcc, cuBLASLt, CUB, NVTX) is not a Debian package here: install NVIDIA's CUDA 13 toolkit
# separately; without it pointrt builds CPU-only.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get)
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: run this as root (apt-get needs it), or install sudo" >&2; exit 1; }
  apt=(sudo --preserve-env=DEBIAN_FRONTEND apt-get)
fi
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends \
  cmake ninja-build g++ make pkg-config \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libcli11-dev nlohmann-json3-dev libfmt-dev libeigen3-dev liblzf-dev libpng-dev zlib1g-dev \
  clang libclang-rt-dev \
  python3 python3-numpy python3-pytest python3-torch
