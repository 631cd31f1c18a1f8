#!/usr/bin/env python3
"""Peer benchmark for embedding-scale exact search, every row in one run: nncert against
faiss-cpu (IndexFlatL2 / IndexFlatIP / IndexFlat METRIC_L1) and scikit-learn brute force
on the same float32 arrays, with wall time and peak RSS (`/usr/bin/time -v`) of each
process.

Usage (from the repository root, after `cargo build --release -p nncert-cli`; the peers
in a virtualenv outside the repository, e.g. `python3 -m venv /work/venv-peers &&
/work/venv-peers/bin/pip install faiss-cpu scikit-learn numpy`). The one command that
regenerates BENCHMARKS.md's embedding table (every row, nncert then its peers back to
back per row, a Markdown table at the end):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv-peers/bin/python \
        tools/peers/embedding_bench.py --work /tmp/emb --threads 2 --data DATA_DIR

`--rows` picks rows (default: all of ROWS below), `--peers` the peers (default
`faiss,sklearn`).

Data: 100,000 × 512 training and 2,000 test float32 rows (rows `embed-…`), or 1,000,000 ×
128 training and 1,000 test rows (rows `embed1m-…`), drawn around 200 seeded Gaussian
centres (label = centre mod 10); MNIST HOG from `nncert features`. `input_MB` is the bytes
of the two feature files, so `nncert_rss_MB / input_MB` is the memory ratio. Each measured process
loads the `.npy` files itself, so every peak RSS includes the input. Every process also
reports its CPU time (user + system, from `/usr/bin/time -v`), steadier than wall time on a
shared machine; `load` is the 1-minute load average before the row and after it.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NNCERT = ROOT / "target/release/nncert"  # --nncert overrides

PEER = r'''
import sys, time, numpy as np
kind, metric, k, threads, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
xb = np.load(d + "/train_features.npy"); xq = np.load(d + "/test_features.npy")
start = time.perf_counter()
if kind == "faiss":
    import faiss
    faiss.omp_set_num_threads(threads)
    if metric == "l2":
        index = faiss.IndexFlatL2(xb.shape[1])
    elif metric in ("ip", "cosine"):
        if metric == "cosine":
            xb = xb / np.linalg.norm(xb, axis=1, keepdims=True); xq = xq / np.linalg.norm(xq, axis=1, keepdims=True)
            xb = np.ascontiguousarray(xb, dtype=np.float32); xq = np.ascontiguousarray(xq, dtype=np.float32)
        index = faiss.IndexFlatIP(xb.shape[1])
    else:
        index = faiss.IndexFlat(xb.shape[1], faiss.METRIC_L1)
    index.add(xb)
    dist, idx = index.search(xq, k)
else:
    from sklearn.neighbors import NearestNeighbors
    m = {"l2": "euclidean", "cosine": "cosine", "l1": "manhattan"}[metric]
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=m, n_jobs=threads).fit(xb)
    dist, idx = nn.kneighbors(xq)
print("SEARCH_SECONDS", time.perf_counter() - start)
'''


ROWS = ("embed-l2-100,embed-l2-1000,embed-ip-100,embed-cos-100,embed-l1-100,"
        "embed1m-l2-100,embed1m-l2-1000,mnist-l1-5000")


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v: (wall seconds, peak RSS MB, stdout, CPU seconds)."""
    full = ["/usr/bin/time", "-v", *cmd]
    start = time.perf_counter()
    p = subprocess.run(full, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): (\S+)", p.stderr).group(1))
              for kind in ("User", "System"))
    return wall, rss_kb / 1024, p.stdout, cpu


def make_embeddings(d, n_train, n_test, dim, seed=7):
    import numpy as np
    d.mkdir(parents=True, exist_ok=True)
    if (d / "train_features.npy").exists():
        return
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    for name, n in (("train", n_train), ("test", n_test)):
        c = rng.integers(0, 200, size=n)
        x = centres[c] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
        np.save(d / f"{name}_features.npy", x.astype(np.float32))
        np.save(d / f"{name}_labels.npy", (c % 10).astype(np.int64))


args_nncert = NNCERT


def nncert_row(d, metric, k, threads):
    cmd = [str(args_nncert), "votes", "--dataset", "npy",
           "--train-features", str(d / "train_features.npy"),
           "--train-labels", str(d / "train_labels.npy"),
           "--test-features", str(d / "test_features.npy"),
           "--test-labels", str(d / "test_labels.npy"),
           "--features", "raw", "--metric", metric, "--knn", str(k),
           "--threads", str(threads), "--out", str(d / f"out-{metric}-{k}")]
    return timed(cmd)


def peer_row(d, kind, metric, k, threads):
    wall, rss, out, cpu = timed([sys.executable, "-c", PEER, kind, metric, str(k), str(threads), str(d)])
    search = float(re.search(r"SEARCH_SECONDS (\S+)", out).group(1))
    return wall, rss, search, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/nncert-embedding-bench")
    ap.add_argument("--data", default=os.environ.get("NNCERT_DATA_DIR"), help="data directory (default: $NNCERT_DATA_DIR)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default=ROWS)
    ap.add_argument("--peers", default="faiss,sklearn", help="comma-separated; empty: nncert only")
    ap.add_argument("--nncert", default=str(NNCERT), help="the nncert binary to time")
    args = ap.parse_args()
    global args_nncert
    args_nncert = Path(args.nncert)
    if args.data is None:
        ap.error("--data DIR (or NNCERT_DATA_DIR) is required")
    work = Path(args.work)
    metric_of = {"l2": "l2", "ip": "ip", "cos": "cosine", "l1": "l1"}
    results = []
    for row in args.rows.split(","):
        data, m, k = row.split("-")
        metric, k = metric_of[m], int(k)
        if data == "embed":
            d = work / "embed"
            make_embeddings(d, 100_000, 2_000, 512)
        elif data == "embed1m":
            d = work / "embed1m"
            make_embeddings(d, 1_000_000, 1_000, 128)
        else:
            d = work / "mnist"
            if not (d / "train_features.npy").exists():
                subprocess.check_call([str(args_nncert), "features", "--dataset", "mnist",
                                       "--data-dir", args.data, "--out", str(d)],
                                      stdout=subprocess.DEVNULL)
        input_mb = sum((d / f).stat().st_size for f in ("train_features.npy", "test_features.npy")) / 2**20
        load = os.getloadavg()[0]
        wall, rss, _, cpu = nncert_row(d, metric, k, args.threads)
        line = {"row": row, "input_MB": round(input_mb), "load": round(load, 1),
                "nncert_s": round(wall, 2), "nncert_cpu_s": round(cpu, 2),
                "nncert_rss_MB": round(rss), "nncert_rss_ratio": round(rss / input_mb, 2)}
        for kind in filter(None, args.peers.split(",")):
            if kind == "sklearn" and metric == "ip":
                continue
            pw, prss, psearch, pcpu = peer_row(d, kind, metric, k, args.threads)
            line[f"{kind}_s"] = round(pw, 2)
            line[f"{kind}_search_s"] = round(psearch, 2)
            line[f"{kind}_cpu_s"] = round(pcpu, 2)
            line[f"{kind}_rss_MB"] = round(prss)
        line["load_after"] = round(os.getloadavg()[0], 1)
        print(json.dumps(line), flush=True)
        results.append(line)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(markdown(results))


LABELS = {"embed": "100k × 512", "embed1m": "1M × 128", "mnist": "MNIST HOG 60k × 81, 10k test"}
NAMES = {"l2": "ℓ2", "ip": "ip", "cos": "cosine", "l1": "ℓ1"}


def markdown(results):
    """BENCHMARKS.md's table: wall (CPU) seconds and peak RSS of each, nncert's ratio to faiss."""
    def cell(line, kind):
        if f"{kind}_s" not in line:
            return "–", "–"
        return (f"{line[kind + '_s']:.1f} s ({line[kind + '_cpu_s']:.1f})",
                f"{line[kind + '_rss_MB']:,}")
    out = ["| row | load | input MB | nncert wall (CPU) | nncert RSS (÷ input) | faiss wall (CPU) "
           "| faiss RSS | faiss ÷ nncert wall (CPU) | sklearn wall (CPU) | sklearn RSS |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for line in results:
        data, m, k = line["row"].split("-")
        fw, frss = cell(line, "faiss")
        sw, srss = cell(line, "sklearn")
        ratio = (f"{line['faiss_s'] / line['nncert_s']:.1f}× ({line['faiss_cpu_s'] / line['nncert_cpu_s']:.1f}×)"
                 if "faiss_s" in line else "–")
        out.append(f"| {NAMES[m]}, {LABELS[data]}, k = {int(k):,} | {line['load']}–{line['load_after']} "
                   f"| {line['input_MB']} | **{line['nncert_s']:.1f} s** ({line['nncert_cpu_s']:.1f}) "
                   f"| {line['nncert_rss_MB']:,} ({line['nncert_rss_ratio']:.2f}×) | {fw} | {frss} "
                   f"| {ratio} | {sw} | {srss} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
