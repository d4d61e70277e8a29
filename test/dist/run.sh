#!/usr/bin/env bash
# test/dist/run.sh BUILD_DIR - the multi-process tests: seqlua under
# `mpirun -np 2` on the CPU backend, and on the emulated CUDA device when
# build-emu/ (or $SEQ_EMU_BUILD_DIR) has been built with MPI.  Every run is bounded by `timeout`, so a
# hang fails instead of stalling CI.  Prints "ok NAME" / "FAIL NAME" per test
# and ends with "N passed, N failed, N skipped" like test/run.lua.
set -u
cd "$(dirname "$0")/../.."
build="${1:-build}"
seqlua="$build/seqlua"
passed=0; failed=0; skipped=0
if ! command -v mpirun > /dev/null || [ ! -f "$build/libseqmpi.so" ]; then
  echo "skip test/dist: no mpirun or no $build/libseqmpi.so (install openmpi-bin libopenmpi-dev)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one thread per process: two processes share the two cores
mpi=(timeout 60 mpirun -np 2 --allow-run-as-root --oversubscribe -x SEQLUA_DATA -x OMP_NUM_THREADS=1
     "$seqlua" --threads 1)
one=(timeout 60 "$seqlua" --threads 1)

result() { # name status [log]
  if [ "$2" -eq 0 ]; then echo "ok $1"; passed=$((passed + 1))
  else echo "FAIL $1"; [ -n "${3:-}" ] && sed 's/^/    /' "$3" | tail -25; failed=$((failed + 1)); fi
}

# 1. allreduce (sum, mean) and broadcast on every dtype
"${mpi[@]}" test/dist/collectives.lua > "$tmp/c.log" 2>&1
result collectives_every_dtype $? "$tmp/c.log"

# 2. a 2-process fit matches the 1-process fit (losses, metrics, weights, optimizer state)
"${one[@]}" test/dist/fit_lstm.lua --save "$tmp/w1.st" > "$tmp/l1.txt" 2> "$tmp/f1.log" &&
  "${mpi[@]}" test/dist/fit_lstm.lua --save "$tmp/w2.st" > "$tmp/l2.txt" 2> "$tmp/f2.log" &&
  "${one[@]}" test/dist/compare.lua "$tmp/l1.txt" "$tmp/l2.txt" "$tmp/w1.st" "$tmp/w2.st" 1e-5 > "$tmp/f.log" 2>&1
s=$?; cat "$tmp/f1.log" "$tmp/f2.log" >> "$tmp/f.log"
# and the work was shared: per epoch 240 training rows in batches of 23
# (10 x 23 split 11/12, then 10 split 5/5) and 60 validation rows (30/30)
grep -q 'rank 0 of 1 trained on 900 rows' "$tmp/f1.log" && grep -q 'rank 0 of 2 trained on 435 rows' "$tmp/f2.log" &&
  grep -q 'rank 1 of 2 trained on 465 rows' "$tmp/f2.log" || s=1
result fit_two_processes_matches_one $s "$tmp/f.log"

# 3. checkpoints cross over: 2 epochs on 2 processes then the third on 1,
#    and 2 epochs on 1 then the third on 2, continue the 3-epoch curve
"${mpi[@]}" test/dist/fit_lstm.lua --epochs 2 --save "$tmp/c2.st" > /dev/null 2> "$tmp/x.log" &&
  "${one[@]}" test/dist/fit_lstm.lua --resume "$tmp/c2.st" --save "$tmp/r1.st" > "$tmp/r1.txt" 2>> "$tmp/x.log" &&
  "${one[@]}" test/dist/fit_lstm.lua --epochs 2 --save "$tmp/c1.st" > /dev/null 2>> "$tmp/x.log" &&
  "${mpi[@]}" test/dist/fit_lstm.lua --resume "$tmp/c1.st" --save "$tmp/r2.st" > "$tmp/r2.txt" 2>> "$tmp/x.log" &&
  grep '^epoch 3 ' "$tmp/l1.txt" > "$tmp/e3.txt" &&
  "${one[@]}" test/dist/compare.lua "$tmp/e3.txt" "$tmp/r1.txt" "$tmp/w1.st" "$tmp/r1.st" 1e-5 >> "$tmp/x.log" 2>&1 &&
  "${one[@]}" test/dist/compare.lua "$tmp/e3.txt" "$tmp/r2.txt" "$tmp/w1.st" "$tmp/r2.st" 1e-5 >> "$tmp/x.log" 2>&1
result checkpoints_cross_process_counts $? "$tmp/x.log"

# 3b. sample_weight and class_weight: 2 processes match 1 (weighted loss over
#     the global batch, weighted accuracy with the weight sums reduced)
for wt in sample class; do
  "${one[@]}" test/dist/fit_lstm.lua --weights $wt --save "$tmp/w1$wt.st" > "$tmp/l1$wt.txt" 2> "$tmp/w$wt.log" &&
    "${mpi[@]}" test/dist/fit_lstm.lua --weights $wt --save "$tmp/w2$wt.st" > "$tmp/l2$wt.txt" 2>> "$tmp/w$wt.log" &&
    "${one[@]}" test/dist/compare.lua "$tmp/l1$wt.txt" "$tmp/l2$wt.txt" "$tmp/w1$wt.st" "$tmp/w2$wt.st" 1e-5 >> "$tmp/w$wt.log" 2>&1
  result "fit_${wt}_weight_two_processes_matches_one" $? "$tmp/w$wt.log"
done

# 3c. metric objects (AUC, Precision, Recall): their confusion counts are
#     all-reduced, so 2 processes log the 1-process figures, on every rank
"${one[@]}" test/dist/fit_lstm.lua --metrics objects --save "$tmp/m1.st" > "$tmp/m1.txt" 2> "$tmp/m.log" &&
  "${mpi[@]}" test/dist/fit_lstm.lua --metrics objects --save "$tmp/m2.st" > "$tmp/m2.txt" 2>> "$tmp/m.log" &&
  grep -q ' val_auc ' "$tmp/m1.txt" &&
  "${one[@]}" test/dist/compare.lua "$tmp/m1.txt" "$tmp/m2.txt" "$tmp/m1.st" "$tmp/m2.st" 1e-5 >> "$tmp/m.log" 2>&1
result fit_metric_objects_two_processes_match_one $? "$tmp/m.log"

# 4. faults end the whole job quickly, non-zero, naming the rank
fault() { # name extra-args expected-text
  local t0=$SECONDS
  "${mpi[@]}" test/dist/fit_lstm.lua --fail-rank 1 --fail-batch 3 $2 > "$tmp/$1.log" 2>&1
  local rc=$? took=$((SECONDS - t0)) s=0
  if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $took -gt 30 ]; then s=1; fi
  grep -q "$3" "$tmp/$1.log" || s=1
  echo "exit $rc after ${took}s" >> "$tmp/$1.log"
  result "$1" $s "$tmp/$1.log"
}
fault fault_rank_raises "" "rank 1 of 2: .*injected failure at batch 3"
fault fault_rank_killed "--kill" "rank 1 .*signal 9"

# 5. the IMDB script on 2 processes: one accuracy line
if [ -n "${SEQLUA_DATA:-}" ] && [ -d "$SEQLUA_DATA" ]; then
  "${mpi[@]}" scripts/imdb.lua --limit 2000 --maxlen 20 --epochs 1 --batch-size 100 > "$tmp/imdb.log" 2>&1
  s=$?
  [ "$(grep -c '^Accuracy: ' "$tmp/imdb.log")" -eq 1 ] || s=1
  [ "$(grep -c 'Epoch 1/1' "$tmp/imdb.log")" -eq 1 ] || s=1
  result imdb_script_two_processes $s "$tmp/imdb.log"
else
  echo "skip imdb_script_two_processes: no SEQLUA_DATA"; skipped=$((skipped + 1))
fi
# 6. GPU tensors through NCCL, on the emulated CUDA device (build-emu, whose
#    libnccl.so.2 stand-in reduces over MPI): collectives on every dtype by
#    NCCL and, with SEQLUA_DIST_NCCL=0, staged through host memory; a 2-process
#    fit on cuda matches the 1-process one
emu="${SEQ_EMU_BUILD_DIR:-build-emu}"
if [ -f "$emu/libseqmpi.so" ] && [ -f "$emu/emu/libnccl.so.2" ] && [ -f "$emu/libseqcuda.so" ]; then
  emu_mpi=(timeout 120 mpirun -np 2 --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS=1
           "$emu/seqlua" --threads 1 --device cuda)
  emu_mpi_host=(timeout 120 mpirun -np 2 --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS=1
                -x SEQLUA_DIST_NCCL=0 "$emu/seqlua" --threads 1 --device cuda)
  emu_one=(timeout 120 "$emu/seqlua" --threads 1 --device cuda)
  "${emu_mpi[@]}" test/dist/collectives.lua --gpu-path nccl > "$tmp/gn.log" 2>&1
  result emu_cuda_collectives_through_nccl $? "$tmp/gn.log"
  "${emu_mpi_host[@]}" test/dist/collectives.lua --gpu-path host > "$tmp/gh.log" 2>&1
  result emu_cuda_collectives_host_staged $? "$tmp/gh.log"
  "${emu_one[@]}" test/dist/fit_lstm.lua --save "$tmp/g1.st" > "$tmp/gl1.txt" 2> "$tmp/g.log" &&
    "${emu_mpi[@]}" test/dist/fit_lstm.lua --save "$tmp/g2.st" > "$tmp/gl2.txt" 2>> "$tmp/g.log" &&
    "${one[@]}" test/dist/compare.lua "$tmp/gl1.txt" "$tmp/gl2.txt" "$tmp/g1.st" "$tmp/g2.st" 1e-5 >> "$tmp/g.log" 2>&1
  s=$?
  [ "$(grep -c 'of 2 trained on .*(GPU collectives: nccl)' "$tmp/g.log")" -eq 2 ] || s=1
  result emu_cuda_fit_two_processes_through_nccl $s "$tmp/g.log"
else
  echo "skip emu_cuda_*: no $emu/libseqmpi.so, $emu/emu/libnccl.so.2 and $emu/libseqcuda.so (test/run-all.sh builds them)"
  skipped=$((skipped + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
