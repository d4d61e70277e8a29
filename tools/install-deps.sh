#!/usr/bin/env bash
# tools/install-deps.sh - installs the Debian packages seqlua builds and tests
# with (run as root, or with sudo available).  The CUDA toolkit, when wanted,
# comes from /usr/local/cuda and is not installed here.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config \
  liblua5.4-dev lua5.4 luarocks \
  libblis-openmp-dev libblis-dev libopenblas-dev \
  libpng-dev zlib1g-dev libcurl4-openssl-dev libreadline-dev \
  openmpi-bin libopenmpi-dev \
  python3 valgrind ca-certificates >/dev/null
echo "seqlua dependencies installed"
