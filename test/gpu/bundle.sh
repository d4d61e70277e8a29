#!/usr/bin/env bash
# test/gpu/bundle.sh - prepares build-gpu/ on the development machine, for a
# GPU machine that may lack seqlua's build dependencies (Lua 5.4 headers,
# OpenBLAS, libpng, libcurl): builds with the CUDA backend for sm_90, then
# keeps only the seqlua executable and the shared libraries it needs that are
# neither glibc nor CUDA's own (cuDNN, cuBLAS and the driver come from the
# GPU machine).  Carry build-gpu/ to the device run (run tool: carry
# ["build-gpu"]); test/gpu/run.sh uses it when it cannot build there.
# The result (one .tar.xz) must stay under the carry limit (64 MiB); the
# size is printed.
set -eu
ROOT=$(pwd)
TMP=${BUNDLE_BUILD_DIR:-$ROOT/build-gpu-tmp}
cmake -S "$ROOT" -B "$TMP" -DCMAKE_BUILD_TYPE=Release -DSEQ_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null
cmake --build "$TMP" -j"$(nproc)" --target seqlua test_backend_ops
rm -rf "$ROOT/build-gpu"
mkdir -p "$ROOT/build-gpu/bundle-lib"
cp "$TMP/seqlua" "$ROOT/build-gpu/seqlua"
cp "$TMP/libseqcuda.so" "$ROOT/build-gpu/libseqcuda.so" # the CUDA plugin sits beside seqlua
cp "$TMP/test_backend_ops" "$ROOT/build-gpu/test_backend_ops" # run.sh's backend-ops table
strip "$ROOT/build-gpu/seqlua" "$ROOT/build-gpu/test_backend_ops" 2>/dev/null || true
strip --strip-unneeded "$ROOT/build-gpu/libseqcuda.so" 2>/dev/null || true
ldd "$TMP/seqlua" | awk '/=>/ { print $3 }' | while read -r lib; do
  [ -e "$lib" ] || continue
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libresolv.so*) continue ;;
    libcuda.so*|libcudnn*|libcublas*|libcudart*|libnvrtc*) continue ;;
    libstdc++.so*|libgcc_s.so*) continue ;; # the GPU machine's own are newer
  esac
  cp -L "$lib" "$ROOT/build-gpu/bundle-lib/"
done
# one compressed file keeps the carry well under its limit
tar -C "$ROOT/build-gpu" -cJf "$ROOT/build-gpu.tar.xz" seqlua libseqcuda.so test_backend_ops bundle-lib
rm -rf "$ROOT/build-gpu"
mkdir -p "$ROOT/build-gpu"
mv "$ROOT/build-gpu.tar.xz" "$ROOT/build-gpu/seqlua-bundle.tar.xz"
du -sh "$ROOT/build-gpu"
echo "carry build-gpu/ with the device run; test/gpu/run.sh falls back to it"
