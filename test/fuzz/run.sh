#!/usr/bin/env bash
# test/fuzz/run.sh - builds the libFuzzer harnesses (clang, ASan + UBSan, in
# build-fuzz/) and runs each on a copy of its seed corpus for a bounded time.
# Fails on any crash, leak, timeout or sanitizer report.
#
#   test/fuzz/run.sh              every harness, FUZZ_SECONDS (default 30) each,
#                                 then the Lua API fuzzer under the same build
#   test/fuzz/run.sh text json    only these harnesses
#
# Seeds: test/fuzz/corpus/<name>/ (committed; new inputs found here are
# not written back).  A finding is saved as build-fuzz/findings/<name>/crash-*
# and reproduced with: build-fuzz/fuzz_<name> build-fuzz/findings/<name>/crash-...
set -u
cd "$(dirname "$0")/../.."
seconds="${FUZZ_SECONDS:-30}"
builddir="${SEQ_FUZZ_BUILD_DIR:-build-fuzz}"
export SEQLUA_THREADS=1 OMP_NUM_THREADS=1

if ! command -v clang > /dev/null; then echo "fuzz: clang not found" >&2; exit 1; fi
CC=clang cmake -S . -B "$builddir" -DCMAKE_BUILD_TYPE=Debug -DSEQ_FUZZ=ON -DSEQ_CUDA=OFF \
  > "$builddir.configure.log" 2>&1 || { cat "$builddir.configure.log"; exit 1; }
cmake --build "$builddir" -j2 > "$builddir.build.log" 2>&1 || { grep -E "error" "$builddir.build.log" | head -40; exit 1; }

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in test/fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work"
failed=0
for n in "${names[@]}"; do
  bin="$builddir/fuzz_$n"
  [ -x "$bin" ] || { echo "fuzz_$n: not built"; failed=$((failed + 1)); continue; }
  corpus="$work/corpus-$n"
  mkdir -p "$corpus" "$builddir/findings/$n"
  [ -d "test/fuzz/corpus/$n" ] && cp test/fuzz/corpus/"$n"/* "$corpus"/ 2>/dev/null
  # -malloc_limit_mb: an allocation driven by a header field is a finding
  # too (a 4.5 KB file must not allocate hundreds of MB).
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$bin" "$corpus" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=256 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$builddir/findings/$n/" \
      > "$work/log-$n" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log-$n")
  if [ $rc -ne 0 ]; then
    echo "fuzz_$n: FAILED (exit $rc) after ${runs:-?} runs"
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==|Test unit written" "$work/log-$n" | head -20
    failed=$((failed + 1))
  else
    echo "fuzz_$n: ok, ${runs:-?} runs in ${seconds}s"
  fi
done

# The Lua API fuzzer (test/lua/test_fuzz_api.lua: every seq.core function
# and tensor method with hostile arguments) and the memory-safety tests,
# under the same ASan + UBSan build.  Skipped when harness names are given.
if [ $# -eq 0 ]; then
  api_log="$work/log-api"
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:allocator_may_return_null=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    timeout $((seconds * 6)) "$builddir/seqlua" test/run.lua test_fuzz_api test_safety > "$api_log" 2>&1
  rc=$?
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$api_log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "lua api fuzzer (ASan): FAILED (exit $rc)"
    grep -vE '^ok ' "$api_log" | head -40
    failed=$((failed + 1))
  else
    echo "lua api fuzzer (ASan): ok, $line"
  fi
fi
echo "fuzz: ${#names[@]} harnesses, $failed failed"
[ $failed -eq 0 ]
