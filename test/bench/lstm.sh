#!/bin/sh
# test/bench/lstm.sh - the LSTM layer (forward+backward, one batch) in seqlua
# and in PyTorch CPU, same shapes and thread count, in one go; prints a table
# with medians of wall and CPU time, the speed-ups (PyTorch / seqlua) and
# peak RSS.
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
if "$PY" -c 'import torch' 2>/dev/null; then
  for c in imdb char; do
    OMP_NUM_THREADS=$THREADS "$PY" test/bench/lstm_torch.py --case $c --threads "$THREADS" --repeats "$REPEATS" |
      sed -n 's/^RESULT /torch /p' >> "$OUT"
  done
else
  echo "PyTorch is not importable by $PY: peer columns are 0"
fi

echo "LSTM layer forward+backward per batch, $THREADS threads, median of $REPEATS"
echo "($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
awk '
  { t[$1 "," $2] = $3; r[$1 "," $2] = $4; u[$1 "," $2] = $5 }
  END {
    printf "%-9s %-26s %9s %9s %8s %9s %9s %8s %8s %8s\n", "case", "shape", "seqlua s", "torch s", "speedup", "seq cpu", "torch cpu", "cpu x", "seq MiB", "torch MiB"
    shape["imdb"] = "64x500x32 -> 100"; shape["char"] = "128x40x57 -> 128 (one-hot)"
    shape["char_ids"] = "128x40x57 -> 128 (ids)"
    n = split("imdb char char_ids", names, " ")
    for (i = 1; i <= n; i++) {
      c = names[i]; peer = (c == "char_ids") ? "char" : c
      s = t["seqlua," c]; p = t["torch," peer]
      cs = u["seqlua," c]; cp = u["torch," peer]
      printf "%-9s %-26s %9.4f %9.4f %7.2fx %9.4f %9.4f %7.2fx %8.1f %8.1f\n", c, shape[c], s, p, (s > 0 ? p / s : 0), cs, cp, (cs > 0 ? cp / cs : 0), r["seqlua," c], r["torch," peer]
    }
  }' "$OUT"
