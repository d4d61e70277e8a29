#!/usr/bin/env bash
# test/gpu/run.sh - the whole GPU check, for the H200 machine.
#
# Run from the repository root; full logs go under $OUT (default
# ./build-gpu-out).  Budget: < 10 minutes in all.  Steps, each with its own
# timeout so one hang cannot eat the budget:
#   1. find cuDNN / cuBLAS (the CUDA toolkit, or PyTorch's pip wheels);
#   2. build with -DSEQ_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 into
#      build-gpu-run/; if the machine lacks a build dependency (Lua 5.4
#      headers, OpenBLAS, libpng, libcurl), fall back to a prebuilt tree
#      carried in build-gpu/ (made by test/gpu/bundle.sh on the dev machine);
#   3. the whole Lua suite with SEQLUA_DEVICE=cuda, the cross-device test,
#      and every backend slot against the CPU (test_backend_ops);
#   4. benchmarks on synthetic data, seqlua vs PyTorch on the same GPU:
#      an IMDB epoch and a char-RNN epoch;
#   5. a short table, last.
# Exit status: 0 when the build, the suite, the cross-device test and the
# backend-ops table pass.
set -u
ROOT=$(pwd)
OUT=${OUT:-$ROOT/build-gpu-out}
mkdir -p "$OUT"
T0=$(date +%s)
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
BUDGET=${GPU_BUDGET_S:-540} # stay inside the 10-minute limit of one device command
# tmo N: N seconds, or what is left of the budget (at least 5)
tmo() { local left=$(( BUDGET - ($(date +%s) - T0) )); [ "$left" -lt "$1" ] && echo $(( left > 5 ? left : 5 )) || echo "$1"; }
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$SUMMARY"; }
status_build=FAIL status_suite=SKIP status_cross=SKIP status_ops=SKIP suite_line='' cross_line='' ops_line=''

# ---- 0. the machine ----
{ nvidia-smi; echo; nvcc --version; echo; cmake --version; echo; uname -a;
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
} > "$OUT/machine.txt" 2>&1
say "machine: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# ---- 1. cuDNN and cuBLAS ----
CUDNN_LIB='' CUDNN_INC=''
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
  for f in "$d"/libcudnn.so "$d"/libcudnn.so.9; do
    if [ -z "$CUDNN_LIB" ] && [ -e "$f" ]; then CUDNN_LIB=$f; fi
  done
done
for d in /usr/local/cuda/include /usr/include /usr/include/x86_64-linux-gnu; do
  if [ -z "$CUDNN_INC" ] && [ -e "$d/cudnn.h" ]; then CUDNN_INC=$d; fi
done
# PyTorch's wheels carry cuDNN (nvidia-cudnn-cu13) and cuBLAS
PYLIBS=$(python3 - <<'EOF' 2>/dev/null
import os, importlib
out = []
for mod in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cu13", "nvidia.cuda_runtime"):
    try:
        m = importlib.import_module(mod)
    except Exception:
        continue
    for p in getattr(m, "__path__", []):
        out.append(p)
print(" ".join(out))
EOF
)
EXTRA_LD=''
for p in $PYLIBS; do
  [ -d "$p/lib" ] && EXTRA_LD="$EXTRA_LD:$p/lib"
  if [ -z "$CUDNN_LIB" ]; then
    for f in "$p"/lib/libcudnn.so "$p"/lib/libcudnn.so.9; do
      if [ -z "$CUDNN_LIB" ] && [ -e "$f" ]; then CUDNN_LIB=$f; fi
    done
  fi
  if [ -z "$CUDNN_INC" ] && [ -e "$p/include/cudnn.h" ]; then CUDNN_INC=$p/include; fi
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}${EXTRA_LD}:/usr/local/cuda/lib64"
say "cuDNN library: ${CUDNN_LIB:-not found}; headers: ${CUDNN_INC:-not found}"

# ---- 2. build ----
SEQLUA=''
SEQLUA_LD=$LD_LIBRARY_PATH # library path for seqlua only (the carried bundle goes first)
BUILD=$ROOT/build-gpu-run
# GPU_USE_CARRIED=1 skips the fresh build (known missing dependencies)
if [ "${GPU_USE_CARRIED:-0}" != 1 ] && command -v cmake > /dev/null && [ -n "$CUDNN_LIB" ] && [ -n "$CUDNN_INC" ]; then
  export CPATH="$CUDNN_INC${CPATH:+:$CPATH}"
  if timeout "$(tmo 60)" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSEQ_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES=90 -DSEQ_CUDNN_LIB="$CUDNN_LIB" > "$OUT/configure.log" 2>&1 &&
     timeout "$(tmo 300)" cmake --build "$BUILD" -j"$(nproc)" > "$OUT/build.log" 2>&1; then
    SEQLUA=$BUILD/seqlua
    status_build="ok (built here)"
  else
    say "fresh build failed (see configure.log / build.log); trying the carried build"
  fi
fi
if [ -z "$SEQLUA" ] && [ -f "$ROOT/build-gpu/seqlua-bundle.tar.xz" ] && [ ! -x "$ROOT/build-gpu/seqlua" ]; then
  tar -C "$ROOT/build-gpu" -xJf "$ROOT/build-gpu/seqlua-bundle.tar.xz" || say "could not unpack the carried bundle"
fi
if [ -z "$SEQLUA" ] && [ -x "$ROOT/build-gpu/seqlua" ]; then
  SEQLUA=$ROOT/build-gpu/seqlua
  [ -d "$ROOT/build-gpu/bundle-lib" ] && SEQLUA_LD="$ROOT/build-gpu/bundle-lib:$LD_LIBRARY_PATH"
  status_build="ok (carried build-gpu)"
fi
if [ -z "$SEQLUA" ]; then
  say "no seqlua binary: build failed and no carried build-gpu/ (see $OUT/build.log)"
  tail -40 "$OUT/build.log" 2>/dev/null
  exit 1
fi
export SEQLUA_PATH="$ROOT/lua"
say "seqlua: $SEQLUA ($status_build)"
env LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" --version >> "$OUT/machine.txt" 2>&1
say "cuda plugin: $(env LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" -e 'print(seq.cuda.status())' 2>&1 | head -1)"

# ---- 3. tests ----
# the whole suite on the GPU (GPU-less skips would show up here as skips)
timeout "$(tmo 180)" env SEQLUA_DEVICE=cuda LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" test/run.lua > "$OUT/suite_cuda.log" 2>&1
rc=$?
suite_line=$(tail -1 "$OUT/suite_cuda.log")
[ $rc -eq 0 ] && status_suite=ok || status_suite="FAIL (rc $rc)"
say "lua suite, SEQLUA_DEVICE=cuda: $status_suite - $suite_line"
grep -E '^FAIL' "$OUT/suite_cuda.log" | head -20 | tee -a "$SUMMARY"

timeout "$(tmo 120)" env LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" test/run.lua cross_device > "$OUT/cross_device.log" 2>&1
rc=$?
cross_line=$(tail -1 "$OUT/cross_device.log")
[ $rc -eq 0 ] && status_cross=ok || status_cross="FAIL (rc $rc)"
if grep -q '^skip cross_device' "$OUT/cross_device.log"; then status_cross="FAIL (skipped: no device seen)"; fi
say "cross-device test: $status_cross - $cross_line"
grep -E '^FAIL' -A4 "$OUT/cross_device.log" | head -40 | tee -a "$SUMMARY"

# every backend slot on the GPU against the CPU, from one table of cases
OPS=$(dirname "$SEQLUA")/test_backend_ops
if [ -x "$OPS" ]; then
  timeout "$(tmo 120)" env LD_LIBRARY_PATH="$SEQLUA_LD" "$OPS" > "$OUT/backend_ops.log" 2>&1
  rc=$?
  ops_line=$(grep -E '^compared|skipped' "$OUT/backend_ops.log" | tail -1)
  if [ $rc -ne 0 ]; then status_ops="FAIL (rc $rc)"
  elif grep -q 'comparison skipped' "$OUT/backend_ops.log"; then status_ops="FAIL (skipped: no device seen)"
  else status_ops=ok; fi
else
  status_ops="FAIL (no test_backend_ops beside $SEQLUA)"
fi
say "backend ops table: $status_ops - $ops_line"
grep -vE '^compared|^[0-9]+ backend slots' "$OUT/backend_ops.log" | head -20 | tee -a "$SUMMARY"

# ---- 4. benchmarks ----
result() { grep -h "^RESULT $1 $2 " "$OUT"/bench_*.log 2>/dev/null | tail -1 | sed -n 's/.*epoch_s=\([0-9.]*\).*/\1/p'; }
steps_of() { grep -h "^RESULT $1 $2 " "$OUT"/bench_*.log 2>/dev/null | tail -1 | sed -n 's/.*steps=\([0-9]*\).*/\1/p'; }
EPOCHS=${BENCH_EPOCHS:-2}
say "benchmarks: $EPOCHS epochs each, best epoch reported"
timeout "$(tmo 90)" env LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" test/gpu/imdb_bench.lua --epochs "$EPOCHS" > "$OUT/bench_imdb_seqlua.log" 2>&1 ||
  say "imdb seqlua failed: $(tail -2 "$OUT/bench_imdb_seqlua.log" | tr '\n' ' ')"
timeout "$(tmo 90)" python3 test/gpu/imdb_torch.py --epochs "$EPOCHS" > "$OUT/bench_imdb_torch.log" 2>&1 ||
  say "imdb torch failed: $(tail -2 "$OUT/bench_imdb_torch.log" | tr '\n' ' ')"
timeout "$(tmo 90)" env LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" test/gpu/charrnn_bench.lua --epochs "$EPOCHS" > "$OUT/bench_charrnn_seqlua.log" 2>&1 ||
  say "charrnn seqlua failed: $(tail -2 "$OUT/bench_charrnn_seqlua.log" | tr '\n' ' ')"
timeout "$(tmo 90)" python3 test/gpu/charrnn_torch.py --epochs "$EPOCHS" > "$OUT/bench_charrnn_torch.log" 2>&1 ||
  say "charrnn torch failed: $(tail -2 "$OUT/bench_charrnn_torch.log" | tr '\n' ' ')"
# the course scripts themselves, when their data is present (not on a bare GPU machine)
if [ -n "${SEQLUA_DATA:-}" ] && [ -f scripts/imdb.lua ]; then
  timeout "$(tmo 60)" env LD_LIBRARY_PATH="$SEQLUA_LD" "$SEQLUA" scripts/imdb.lua --epochs 1 > "$OUT/script_imdb.log" 2>&1
  say "scripts/imdb.lua (real data): rc $? ($(tail -1 "$OUT/script_imdb.log"))"
fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv > "$OUT/clocks_after.txt" 2>&1

# ---- 5. the table ----
{
  echo
  echo "== seqlua on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1) =="
  echo "build:        $status_build"
  echo "lua suite:    $status_suite  ($suite_line)"
  echo "cross-device: $status_cross  ($cross_line)"
  echo "backend ops:  $status_ops  ($ops_line)"
  echo
  printf '%-26s %12s %12s %10s\n' "epoch (synthetic data)" "seqlua s" "PyTorch s" "speed-up"
  for b in imdb charrnn; do
    s=$(result "$b" seqlua); p=$(result "$b" torch); n=$(steps_of "$b" seqlua)
    label="$b ($n steps)"
    if [ -n "$s" ] && [ -n "$p" ]; then
      printf '%-26s %12s %12s %9.2fx\n' "$label" "$s" "$p" "$(awk -v p="$p" -v s="$s" 'BEGIN { print (s > 0 ? p / s : 0) }')"
    else
      printf '%-26s %12s %12s %10s\n' "$label" "${s:-n/a}" "${p:-n/a}" "-"
    fi
  done
  echo "(speed-up > 1: seqlua faster; logs in $OUT; total $(( $(date +%s) - T0 ))s)"
} | tee -a "$SUMMARY"

[ "$status_suite" = ok ] && [ "$status_cross" = ok ] && [ "$status_ops" = ok ]
