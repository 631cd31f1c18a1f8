#!/usr/bin/env python3
"""Peer benchmark: nncert's exact neighbour search against faiss-cpu's exact IndexFlat with
METRIC_L1, on the same HOG features, in the same run.

Usage (from the repository root, after `cargo build --release`):
    python3 tools/peers/faiss_knn.py mnist  [--data DATA] [--threads 2]
    python3 tools/peers/faiss_knn.py cifar10 [--data DATA] [--threads 2]

It creates (or reuses) a virtualenv with faiss-cpu and numpy, writes the HOG features with
`nncert features`, then times
  1. `nncert votes --dataset npy --features raw` with k = 1000, 3000, 5000 and three radii
     (the whole search: every k and r in one pass), and
  2. faiss IndexFlat(d, METRIC_L1).search(test, 5000) (top-5,000 alone),
and checks that faiss's top-5,000 label counts equal nncert's except where the 5,000th
distance is tied (faiss breaks ties by index, nncert by the SHA-1 rank).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NNCERT = ROOT / "target/release/nncert"


def ensure_venv(path):
    if os.environ.get("NNCERT_PEER_INNER") == "1":
        return
    python = Path(path) / "bin/python"
    if not python.exists():
        venv.create(path, with_pip=True)
    subprocess.check_call([str(python), "-m", "pip", "install", "-q", "faiss-cpu", "numpy"])
    env = dict(os.environ, NNCERT_PEER_INNER="1")
    sys.exit(subprocess.call([str(python), __file__, *sys.argv[1:]], env=env))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", choices=["mnist", "cifar10"])
    ap.add_argument("--data", default=os.environ.get("NNCERT_DATA_DIR"), help="data directory (default: $NNCERT_DATA_DIR)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--venv", default="/tmp/nncert-peer-venv")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    if args.data is None:
        ap.error("--data DIR (or NNCERT_DATA_DIR) is required")
    ensure_venv(args.venv)

    import faiss
    import numpy as np

    work = Path(args.work or tempfile.mkdtemp(prefix="nncert-peer-"))
    feats = work / "features"
    subprocess.check_call([str(NNCERT), "features", "--dataset", args.dataset,
                           "--data-dir", args.data, "--out", str(feats)])
    radii = "3,4,5" if args.dataset == "mnist" else "19,20,21"
    cmd = [str(NNCERT), "votes", "--dataset", "npy",
           "--train-features", str(feats / "train_features.npy"),
           "--train-labels", str(feats / "train_labels.npy"),
           "--test-features", str(feats / "test_features.npy"),
           "--test-labels", str(feats / "test_labels.npy"),
           "--features", "raw", "--knn", "1000,3000,5000", "--rnn", radii,
           "--threads", str(args.threads), "--out", str(work / "votes")]
    start = time.perf_counter()
    subprocess.check_call(cmd, stdout=subprocess.DEVNULL)
    nncert_wall = time.perf_counter() - start
    report = json.loads((work / "votes/report.json").read_text())

    xb = np.load(feats / "train_features.npy")
    xq = np.load(feats / "test_features.npy")
    yb = np.load(feats / "train_labels.npy")
    faiss.omp_set_num_threads(args.threads)
    index = faiss.IndexFlat(xb.shape[1], faiss.METRIC_L1)
    index.add(xb)
    start = time.perf_counter()
    dist, idx = index.search(xq, 5000)
    faiss_seconds = time.perf_counter() - start

    ours = np.load(work / "votes/knn_k5000.npy")
    theirs = np.stack([np.bincount(yb[row], minlength=ours.shape[1]) for row in idx])
    differ = np.any(ours != theirs, axis=1)
    # A difference is explained when the 5,000th and 5,001st distances (float64) are within
    # float32 rounding (1e-4) of each other: faiss, NumPy and nncert sum in different orders.
    tied = 0
    for i in np.flatnonzero(differ):
        d = np.abs(xb.astype(np.float64) - xq[i].astype(np.float64)).sum(1)
        kth = np.sort(d)[4999:5001]
        tied += int(kth[1] - kth[0] < 1e-4)
    print(f"{args.dataset}: {xq.shape[0]} × {xb.shape[0]} × {xb.shape[1]}, {args.threads} threads")
    print(f"  nncert votes (k = 1000, 3000, 5000 and r = {radii}): {nncert_wall:.2f} s wall "
          f"(search {report['seconds']['neighbours']:.2f} s, kernel {report['kernel']})")
    print(f"  faiss-cpu {faiss.__version__} IndexFlat METRIC_L1 top-5000: {faiss_seconds:.2f} s")
    print(f"  speed-up on the search: {faiss_seconds / report['seconds']['neighbours']:.1f}×")
    print(f"  top-5000 label counts differing from faiss: {int(differ.sum())} "
          f"(of which explained by a near-tie, < 1e-4, at the 5,000th: {tied})")


if __name__ == "__main__":
    main()
