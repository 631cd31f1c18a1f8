"""Benchmarks of the Python package against the CLI (not tests: numbers go to BENCHMARKS.md).

    .venv/bin/python crates/nncert-py/benches/bench_python.py --data-dir DATA

1. Full MNIST, HOG, l1, kNN k = 5000 and rNN r = 4 with ISLAND: `nncert certify` (load, HOG,
   ranks, neighbours, certificates, curves.csv/examples.csv/report.json, figures) against
   the same work from Python (load, hog, NeighbourIndex, certify, write); median of runs.
2. certify_votes on 10,000 × 10 votes (the CLI demo's generator), e up to 3,000, individual
   + ISLAND (+ RD), median of runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import nncert

REPO = Path(__file__).resolve().parents[3]


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def median_seconds(run: object, repeat: int) -> tuple[float, list[float]]:
    """Median wall time; also prints the median CPU time (robust on a shared machine)."""
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), cpu_seconds()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
        cpu.append(cpu_seconds() - c)
    print(f"    (CPU seconds, median {statistics.median(cpu):.2f}: {[round(x, 2) for x in cpu]})")
    return statistics.median(times), times


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--data-dir",
        default=os.environ.get("NNCERT_DATA_DIR"),
        help="data directory (default: $NNCERT_DATA_DIR)",
    )
    p.add_argument(
        "--bin", default=os.environ.get("NNCERT_BIN", str(REPO / "target/release/nncert"))
    )
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    if a.data_dir is None:
        p.error("--data-dir DIR (or NNCERT_DATA_DIR) is required")
    out = Path(tempfile.mkdtemp(prefix="nncert-bench-"))
    print(f"nncert {nncert.__version__}, kernel {nncert.distance_kernel()}, {os.cpu_count()} CPUs")

    def cli() -> None:
        subprocess.run(
            [a.bin, "certify", "--dataset", "mnist", "--data-dir", a.data_dir, "--knn", "5000",
             "--rnn", "4", "--joint", "island", "--out", str(out / "cli")],
            check=True, capture_output=True,
        )  # fmt: skip

    def python() -> None:
        d = nncert.datasets.load_mnist(a.data_dir)
        index = nncert.NeighbourIndex(nncert.hog(d.train_x), d.train_y, rank_by=d.train_x)
        res = index.certify(nncert.hog(d.test_x), d.test_y, k=5000, r=4, joint=("island",))
        res.write(out / "py")

    cli_s, cli_all = median_seconds(cli, a.repeat)
    py_s, py_all = median_seconds(python, a.repeat)
    same = all(
        (out / "cli" / f).read_bytes() == (out / "py" / f).read_bytes()
        for f in ("curves.csv", "examples.csv")
    )
    print(f"full MNIST k=5000 + r=4 ISLAND: CLI {cli_s:.2f} s {[round(t, 2) for t in cli_all]}")
    print(f"  Python {py_s:.2f} s {[round(t, 2) for t in py_all]}; ratio {py_s / cli_s:.2f}")
    print(f"  identical curves.csv and examples.csv: {same}")

    subprocess.run(
        [a.bin, "demo", "--n-test", "10000", "--out", str(out / "demo")],
        check=True,
        capture_output=True,
    )
    votes = np.load(out / "demo" / "demo-input" / "votes.npy")
    labels = np.load(out / "demo" / "demo-input" / "labels.npy")
    for joint in (("island",), ("island", "rd")):
        s, runs = median_seconds(
            lambda j=joint: nncert.certify_votes(votes, labels, "rnn", joint=j, max_e=3000), 5
        )
        runs_ms = [round(t * 1000, 1) for t in runs]
        print(
            f"certify_votes {votes.shape[0]:,} × {votes.shape[1]} votes, e ≤ 3000, individual + "
            f"{' + '.join(joint)}: {s * 1000:.1f} ms (median of {runs_ms})"
        )


if __name__ == "__main__":
    main()
