"""The Dask path against the in-process path (not a test: numbers go to BENCHMARKS.md).

    .venv/bin/python crates/nncert-py/benches/bench_dask.py --data-dir DATA

Full MNIST, HOG, l1, kNN k = 5000 and rNN r = 4 with ISLAND. Both sides start from the
same HOG features and the same NeighbourIndex (built once, outside the timings) and time
`certify`: in process (`NeighbourIndex.certify`, every core of this process) against
`nncert.distributed.DistributedIndex.certify` on a LocalCluster of 2 worker processes × 1
thread on 127.0.0.1 (cluster start-up and the placing of the index are reported
separately), with `--train-shards N` training shards (default 1). With
`--build-on-cluster` the Dask side builds its index on the workers from the features and
images (`DistributedIndex(X, y, rank_by=images)`: ranks hashed where the rows are) instead
of sending the in-process index (`DistributedIndex.from_index`). The results are checked
equal (curves.csv, examples.csv). In-process and Dask runs alternate; medians of wall
seconds and of CPU seconds (user + system: this process — which also runs the
LocalCluster's scheduler — plus both workers), since wall times on a loaded machine say
little.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from typing import Any, Callable, Optional

import nncert

try:
    from distributed import Client, LocalCluster

    import nncert.distributed as nd
except ImportError as e:
    raise SystemExit(f"this benchmark needs nncert[dask] ({e})") from None


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (also run on each worker)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(run: Callable[[], Any], workers: Optional[Client] = None) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds (this process, plus every worker of `workers`) and the
    result of `run()`."""
    before = workers.run(cpu_seconds) if workers is not None else {}
    t, c = time.perf_counter(), cpu_seconds()
    out = run()
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    if workers is not None:
        after = workers.run(cpu_seconds)
        cpu += sum(after[w] - before.get(w, 0.0) for w in after)
    return wall, cpu, out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--data-dir",
        default=os.environ.get("NNCERT_DATA_DIR"),
        help="data directory (default: $NNCERT_DATA_DIR)",
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--test-block-size", type=int, default=None)
    p.add_argument("--train-shards", type=int, default=1)
    p.add_argument("--build-on-cluster", action="store_true")
    a = p.parse_args()
    if a.data_dir is None:
        p.error("--data-dir DIR (or NNCERT_DATA_DIR) is required")
    print(f"nncert {nncert.__version__}, kernel {nncert.distance_kernel()}, {os.cpu_count()} CPUs")
    d = nncert.datasets.load_mnist(a.data_dir)
    train, test = nncert.hog(d.train_x), nncert.hog(d.test_x)
    t = time.perf_counter()
    index = nncert.NeighbourIndex(train, d.train_y, rank_by=d.train_x)
    print(f"in-process index built in {time.perf_counter() - t:.2f} s")
    kw: dict[str, Any] = {"k": 5000, "r": 4, "joint": ("island",)}

    t = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )  # fmt: skip
    client = Client(cluster)
    start_s = time.perf_counter() - t
    t = time.perf_counter()
    if a.build_on_cluster:
        dist = nd.DistributedIndex(
            train, d.train_y, client=client, rank_by=d.train_x, train_shards=a.train_shards
        )
    else:
        dist = nd.DistributedIndex.from_index(index, client=client, train_shards=a.train_shards)
    client.run(lambda: None)
    place_s = time.perf_counter() - t
    how = "built on the workers" if a.build_on_cluster else "placed"
    print(f"cluster start-up {start_s:.2f} s, index {how} in {place_s:.2f} s")

    # In process and Dask alternated, so that both see the same load.
    local_runs, dask_runs = [], []
    for _ in range(a.repeat):
        local_runs.append(timed(lambda: index.certify(test, d.test_y, **kw)))
        dask_runs.append(
            timed(
                lambda: dist.certify(test, d.test_y, test_block_size=a.test_block_size, **kw),
                client,
            )
        )
        print(
            f"  in process {local_runs[-1][0]:.2f} s wall {local_runs[-1][1]:.2f} s cpu; "
            f"dask {dask_runs[-1][0]:.2f} s wall {dask_runs[-1][1]:.2f} s cpu; "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    local_s = statistics.median(r[0] for r in local_runs)
    dask_s = statistics.median(r[0] for r in dask_runs)
    local_cpu = statistics.median(r[1] for r in local_runs)
    dask_cpu = statistics.median(r[1] for r in dask_runs)
    local, got = local_runs[-1][2], dask_runs[-1][2]
    print(f"in process: median {local_s:.2f} s wall, {local_cpu:.2f} s cpu")
    print(
        f"dask (2 workers × 1 thread, {a.train_shards} train shards): "
        f"median {dask_s:.2f} s wall, {dask_cpu:.2f} s cpu (client, scheduler and workers)"
    )
    print(f"cpu ratio dask / in process: {dask_cpu / local_cpu:.2f}")
    print(f"ratio dask / in process: {dask_s / local_s:.2f}")
    same = local.curves_csv() == got.curves_csv() and local.examples_csv() == got.examples_csv()
    print(f"identical curves.csv and examples.csv: {same}")
    dist.close()
    client.close()
    cluster.close()
    if not same:
        raise SystemExit("results differ")


if __name__ == "__main__":
    main()
