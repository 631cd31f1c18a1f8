#!/bin/bash
# Re-runs the figures of BENCHMARKS.md's "Quiet re-measurements" on an otherwise idle
# machine. Usage: tools/quiet-bench.sh NNCERT_BINARY DATA_DIR OUT_DIR [PYTHON]
# PYTHON: an interpreter with nncert[dask] installed (e.g. .venv/bin/python after
# tools/test-all); without it the Dask rows are skipped. Times go to OUT_DIR/times.txt.
set -u
if [ $# -lt 3 ]; then
  echo "usage: $0 NNCERT_BINARY DATA_DIR OUT_DIR [PYTHON]" >&2
  exit 2
fi
B=$(realpath "$1"); D=$(realpath "$2"); O=$3; PY=${4:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$O" && cd "$O" || exit 1
T="%e s wall %U s user %S s sys %M KB"
log() { echo "$*" >> times.txt; }
log "load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do
  /usr/bin/time -f "votes-t1 $T" "$B" votes --dataset mnist --data-dir "$D" \
    --knn 1000,3000,5000 --rnn 3,4,5 --threads 1 --out "v$i" > /dev/null 2>> times.txt
done
for i in 1 2; do
  /usr/bin/time -f "reproduce-mnist $T" "$B" reproduce --data-dir "$D" --out "r$i" \
    --datasets mnist > /dev/null 2>> times.txt
done
S="--knn 1000,3000,5000 --rnn 3,4,5 --threads 2"
/usr/bin/time -f "single-t2 $T" "$B" votes --dataset mnist --data-dir "$D" $S --out single \
  > /dev/null 2>> times.txt
for I in 1 2 3; do for J in 1 2; do
  /usr/bin/time -f "shard $I/3 $J/2 $T" "$B" votes --dataset mnist --data-dir "$D" $S \
    --train-shard "$I/3" --test-shard "$J/2" --out "p$I$J" > /dev/null 2>> times.txt
done; done
/usr/bin/time -f "merge $T" "$B" merge p11 p21 p31 p12 p22 p32 --dataset mnist --data-dir "$D" \
  --threads 2 --out merged > /dev/null 2>> times.txt
for f in single/*.npy; do
  if cmp -s "$f" "merged/$(basename "$f")"; then log "identical $(basename "$f")"; else log "DIFFERENT $(basename "$f")"; fi
done
rm -rf p11 p12 p21 p22 p31 p32
for j in cluster cluster-label best lp; do
  /usr/bin/time -f "certify-votes-$j $T" "$B" certify-votes --votes v1/rnn_r4.npy \
    --labels v1/test_labels.npy --kind rnn --param 4 --joint "$j" --max-e 3000 --out "cv_$j" \
    > /dev/null 2>> times.txt
done
if [ -n "$PY" ]; then
  "$PY" "$REPO/crates/nncert-py/benches/bench_dask.py" --data-dir "$D" --repeat 3 > dask1.txt 2>&1
  "$PY" "$REPO/crates/nncert-py/benches/bench_dask.py" --data-dir "$D" --repeat 3 --train-shards 2 \
    > dask2.txt 2>&1
  "$PY" "$REPO/crates/nncert-py/benches/bench_dask.py" --data-dir "$D" --repeat 1 --train-shards 3 \
    > dask3.txt 2>&1
fi
log "load $(cut -d' ' -f1-3 /proc/loadavg)"
