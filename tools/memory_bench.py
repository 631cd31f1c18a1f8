#!/usr/bin/env python3
"""Peak memory of `nncert votes` on `.npy` inputs of every kind the whole-run path reads
(docs/MEMORY.md): peak RSS (`/usr/bin/time -v`) against the bytes of the feature files.

Usage (from the repository root, after `cargo build --release -p nncert-cli`; needs
NumPy, e.g. the peers' virtualenv):

    python tools/memory_bench.py [--work /tmp/nncert-memory-bench] [--rows ROW,…]
                                 [--nncert target/release/nncert] [--threads 2]

Rows (default: all):

- `f32-l2`, `f32-cos`: 100,000 × 512 float32 training and 2,000 test rows (the data of
  `tools/peers/embedding_bench.py`), ℓ2 and cosine, k = 100;
- `f64-l2`, `u8-l2`, `gz-l2`: the same rows as float64, as uint8 (rescaled), and as
  gzip-compressed float32;
- `bigtest-l2`: 100,000 × 512 training and 50,000 × 512 test rows (the test side as large
  as half the training side);
- `shard-l2`: 1,000,000 × 128 float32 in 4 training shards (`--train-shard I/4`), each job
  measured.

Each row prints one JSON line: the input bytes (`input_MB`: both feature files as
stored; for gzip the uncompressed `.npy` bytes, `stored_MB` what the disk holds), the
bytes of the same matrices as float32 (`f32_MB`), the peak RSS and both ratios. RSS does
not depend on the machine's load, so these figures are final wherever they are taken.
The data (about 2 GB) stays under `--work`; delete it afterwards.
"""

import argparse
import gzip
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = "f32-l2,f32-cos,f64-l2,u8-l2,gz-l2,bigtest-l2,shard-l2"


def make(d, n_train, n_test, dim, kind, seed=7):
    """Gaussian clusters as `make_embeddings` of embedding_bench.py, stored as `kind`."""
    import numpy as np
    d.mkdir(parents=True, exist_ok=True)
    if (d / "train_labels.npy").exists():
        return
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    for name, n in (("train", n_train), ("test", n_test)):
        c = rng.integers(0, 200, size=n)
        x = centres[c] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
        path = d / f"{name}_features.npy"
        if kind == "f64":
            np.save(path, x.astype(np.float64))
        elif kind == "u8":
            np.save(path, np.clip(x * 32 + 128, 0, 255).astype(np.uint8))
        elif kind == "gz":
            np.save(path, x.astype(np.float32))
            with open(path, "rb") as src, gzip.open(str(path) + ".gz", "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst)
            path.unlink()
            (d / f"{name}_features.npy.gz").rename(path)
        else:
            np.save(path, x.astype(np.float32))
        np.save(d / f"{name}_labels.npy", (c % 10).astype(np.int64))


def npy_bytes(path):
    """Bytes of the `.npy` content (uncompressed), and as stored."""
    stored = path.stat().st_size
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            n = 0
            while chunk := f.read(1 << 24):
                n += len(chunk)
        return n, stored
    return stored, stored


def timed(cmd):
    full = ["/usr/bin/time", "-v", *cmd]
    start = time.perf_counter()
    p = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): (\S+)", p.stderr).group(1))
              for kind in ("User", "System"))
    return wall, rss_kb / 1024, cpu


def votes(nncert, d, metric, threads, out, extra=()):
    return timed([str(nncert), "votes", "--dataset", "npy",
                  "--train-features", str(d / "train_features.npy"),
                  "--train-labels", str(d / "train_labels.npy"),
                  "--test-features", str(d / "test_features.npy"),
                  "--test-labels", str(d / "test_labels.npy"),
                  "--features", "raw", "--metric", metric, "--knn", "100",
                  "--threads", str(threads), "--out", str(out), *extra])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/nncert-memory-bench")
    ap.add_argument("--rows", default=ROWS)
    ap.add_argument("--nncert", default=str(ROOT / "target/release/nncert"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = Path(args.work)
    for row in args.rows.split(","):
        kind, metric = row.split("-")
        metric = {"cos": "cosine"}.get(metric, metric)
        if kind == "shard":
            d = work / "embed1m"
            make(d, 1_000_000, 1_000, 128, "f32")
        elif kind == "bigtest":
            d = work / "bigtest"
            make(d, 100_000, 50_000, 512, "f32")
        else:
            d = work / {"f32": "embed"}.get(kind, kind)
            make(d, 100_000, 2_000, 512, kind)
        sizes = [npy_bytes(d / f"{s}_features.npy") for s in ("train", "test")]
        data_mb = sum(s[0] for s in sizes) / 2**20
        stored_mb = sum(s[1] for s in sizes) / 2**20
        per_value = {"f64": 8, "u8": 1}.get(kind, 4)
        f32_mb = data_mb * 4 / per_value  # headers are 128 bytes: negligible
        jobs = ([("", [])] if kind != "shard"
                else [(f" shard {i}/4", ["--train-shard", f"{i}/4"]) for i in range(1, 5)])
        for name, extra in jobs:
            out = work / "out" / f"{row}{name.replace(' ', '-').replace('/', 'of')}"
            wall, rss, cpu = votes(args.nncert, d, metric, args.threads, out, extra)
            print(json.dumps({
                "row": row + name, "input_MB": round(data_mb), "stored_MB": round(stored_mb),
                "f32_MB": round(f32_mb), "rss_MB": round(rss),
                "rss_per_input": round(rss / data_mb, 2), "rss_per_f32": round(rss / f32_mb, 2),
                "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            }), flush=True)
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
