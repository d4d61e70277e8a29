#!/usr/bin/env bash
# test/run-all.sh - builds seqlua and runs every test: the C unit tests
# (ctest), the Lua suite (test/run.lua) and the multi-process tests
# (test/dist/run.sh, under mpirun).  Ends with one line
# "N passed, N failed, N skipped" and exits non-zero on any failure.
#
#   test/run-all.sh              Release build in build/, then the CUDA
#                                backend on the emulated device (build-emu/,
#                                -DSEQ_CUDA=EMU): the cross-device test and
#                                the whole Lua suite with cuda as default
#   test/run-all.sh --asan       AddressSanitizer + UBSan build in build-asan/
#   test/run-all.sh --valgrind   the Lua suite under valgrind (leak check)
#
# SEQLUA_DATA defaults to ../shared/data when that folder exists.
set -u
cd "$(dirname "$0")/.."
mode=release
for a in "$@"; do
  case "$a" in
    --asan) mode=asan ;;
    --valgrind) mode=valgrind ;;
    *) echo "usage: $0 [--asan|--valgrind]" >&2; exit 2 ;;
  esac
done
if [ -z "${SEQLUA_DATA:-}" ] && [ -d ../shared/data ]; then
  export SEQLUA_DATA="$(cd ../shared/data && pwd)"
fi
export SEQLUA_THREADS="${SEQLUA_THREADS:-2}"

builddir="${SEQ_BUILD_DIR:-build}"
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
if [ "$mode" = asan ]; then
  builddir=build-asan
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DSEQ_SANITIZE=ON -DSEQ_CUDA=OFF)
  # OpenBLAS/OpenMP keep thread caches alive at exit; leaks are checked by the valgrind run
  # allocator_may_return_null: a failed allocation (a lying __len asking for
  # terabytes) must take the out-of-memory error path, as it does in release
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:allocator_may_return_null=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
cmake -S . -B "$builddir" "${cmake_args[@]}" > "$builddir.configure.log" 2>&1 || { cat "$builddir.configure.log"; echo "0 passed, 1 failed"; exit 1; }
if ! cmake --build "$builddir" -j2 > "$builddir.build.log" 2>&1; then
  grep -E "error|Error" "$builddir.build.log" | head -40
  echo "0 passed, 1 failed"
  exit 1
fi
grep -E "warning:" "$builddir.build.log" | sort -u | head -20

passed=0; failed=0; skipped=0

# C unit tests (everything except the Lua suite, which runs below)
ctest_out=$(cd "$builddir" && ctest --output-on-failure -E '^lua_suite$' 2>&1)
echo "$ctest_out" | grep -E "Test +#|tests passed|Failed|FAILED|Error" | sed 's/^/  /'
c_total=$(echo "$ctest_out" | sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p')
c_failed=$(echo "$ctest_out" | sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p')
c_total=${c_total:-0}; c_failed=${c_failed:-1}
passed=$((passed + c_total - c_failed)); failed=$((failed + c_failed))

# The Lua suite
runner=("$builddir/seqlua")
if [ "$mode" = valgrind ]; then
  # One thread: valgrind runs threads one at a time, and OpenMP/BLIS teams
  # spinning at every small product made the 100,000-step memory test take
  # over half an hour (2.5 min for all of test_tensor.lua with one thread).
  export OMP_WAIT_POLICY=passive
  runner=(valgrind --quiet --suppressions=test/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$builddir/seqlua" --threads 1)
fi
lua_log=$(mktemp)
"${runner[@]}" test/run.lua > "$lua_log" 2>&1
lua_rc=$?
grep -v '^ok ' "$lua_log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$lua_log" | tail -1)
lp=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); lf=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); ls=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
passed=$((passed + ${lp:-0})); failed=$((failed + ${lf:-1})); skipped=$((skipped + ${ls:-0}))
if [ "$lua_rc" -ne 0 ] && [ "${lf:-1}" -eq 0 ]; then
  echo "Lua suite exited with status $lua_rc (valgrind errors or a crash)"
  failed=$((failed + 1))
fi
rm -f "$lua_log"

# Adds the counts of a test/run.lua run (its log in $1) to the totals;
# $2 is the run's exit status.
count_lua_run() {
  local line lp lf ls
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
  lp=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); lf=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); ls=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
  passed=$((passed + ${lp:-0})); failed=$((failed + ${lf:-1})); skipped=$((skipped + ${ls:-0}))
  if [ "$2" -ne 0 ] && [ "${lf:-1}" -eq 0 ]; then
    echo "  the run exited with status $2 (a crash)"
    failed=$((failed + 1))
  fi
}

# The CUDA backend on the emulated device (cuda/emu/): the same plugin from
# the same cuda/ sources, run on the CPU.  It needs NVIDIA's headers only.
# SEQ_SKIP_EMU=1 leaves it out (it is counted as one skipped run).
if [ "$mode" = release ]; then
  if [ -n "${SEQ_SKIP_EMU:-}" ] || [ ! -f /usr/local/cuda/include/cuda_runtime_api.h ]; then
    echo "skip emulated CUDA device (SEQ_SKIP_EMU set or no CUDA headers in /usr/local/cuda/include)"
    skipped=$((skipped + 1))
  elif ! { cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DSEQ_CUDA=EMU > build-emu.configure.log 2>&1 &&
           cmake --build build-emu -j2 > build-emu.build.log 2>&1; }; then
    grep -E "error|Error" build-emu.configure.log build-emu.build.log | head -40
    echo "FAIL building the emulated CUDA device (build-emu)"
    failed=$((failed + 1))
  else
    grep -E "warning:" build-emu.build.log | sort -u | head -20
    echo "== emulated CUDA device: every backend slot, CPU against CUDA (test_backend_ops) =="
    if build-emu/test_backend_ops > build-emu.backend_ops.log 2>&1; then
      tail -2 build-emu.backend_ops.log; passed=$((passed + 1))
    else
      grep -v '^ok' build-emu.backend_ops.log | tail -20; failed=$((failed + 1))
    fi
    echo "== emulated CUDA device: cross-device test =="
    emu_log=$(mktemp)
    build-emu/seqlua test/run.lua test_cross_device > "$emu_log" 2>&1
    rc=$?
    grep -v '^ok ' "$emu_log"
    count_lua_run "$emu_log" "$rc"
    echo "== emulated CUDA device: the Lua suite with cuda as the default device =="
    if ! build-emu/seqlua --device cuda -e "assert(seq.default_device() == 'cuda')" > "$emu_log" 2>&1; then
      cat "$emu_log"; echo "FAIL --device cuda does not reach the seq module"; failed=$((failed + 1))
    fi
    build-emu/seqlua --device cuda test/run.lua > "$emu_log" 2>&1
    rc=$?
    grep -v '^ok ' "$emu_log"
    count_lua_run "$emu_log" "$rc"
    rm -f "$emu_log"
  fi
fi

# Multi-process tests (mpirun -np 2); the sanitizer and valgrind modes skip
# them: Open MPI's own allocations would drown the report.
if [ "$mode" = release ]; then
  dist_log=$(mktemp)
  test/dist/run.sh "$builddir" > "$dist_log" 2>&1
  grep -v '^ok ' "$dist_log"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$dist_log" | tail -1)
  dp=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); df=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); ds=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
  passed=$((passed + ${dp:-0})); failed=$((failed + ${df:-1})); skipped=$((skipped + ${ds:-0}))
  rm -f "$dist_log"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
