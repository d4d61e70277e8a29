#!/bin/sh
# test/bench/lstm.sh - the LSTM layer (forward+backward, one batch) in seqlua
# and in PyTorch CPU, same shapes and thread count, in one go; prints a table
# with medians, the speed-up (PyTorch time / seqlua time) and peak RSS.
# Each case runs in its own process so peak RSS belongs to that case.
# Usage: test/bench/lstm.sh [threads] [repeats]   (from the repository root;
#        SEQLUA=path/to/seqlua, default build/seqlua)
set -e
THREADS=${1:-2}
REPEATS=${2:-7}
SEQLUA=${SEQLUA:-build/seqlua}
PY=${PYTHON:-/usr/bin/python3}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

for c in imdb char char_ids; do
  "$SEQLUA" test/bench/lstm_bench.lua --case $c --threads "$THREADS" --repeats "$REPEATS" |
    sed -n 's/^RESULT /seqlua /p' >> "$OUT"
done
for c in imdb char; do
  OMP_NUM_THREADS=$THREADS "$PY" test/bench/lstm_torch.py --case $c --threads "$THREADS" --repeats "$REPEATS" |
    sed -n 's/^RESULT /torch /p' >> "$OUT"
done

echo "LSTM layer forward+backward per batch, $THREADS threads, median of $REPEATS ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus)"
awk '
  { t[$1 "," $2] = $3; r[$1 "," $2] = $4 }
  END {
    printf "%-10s %-26s %12s %12s %9s %12s %12s\n", "case", "shape", "seqlua s", "torch s", "speed-up", "seqlua MiB", "torch MiB"
    shape["imdb"] = "64x500x32 -> 100"; shape["char"] = "128x40x57 -> 128 (one-hot)"
    shape["char_ids"] = "128x40x57 -> 128 (ids)"
    n = split("imdb char char_ids", cs, " ")
    for (i = 1; i <= n; i++) {
      c = cs[i]; peer = (c == "char_ids") ? "char" : c
      s = t["seqlua," c]; p = t["torch," peer]
      printf "%-10s %-26s %12.4f %12.4f %8.2fx %12.1f %12.1f\n", c, shape[c], s, p, (s > 0 ? p / s : 0), r["seqlua," c], r["torch," peer]
    }
  }' "$OUT"
