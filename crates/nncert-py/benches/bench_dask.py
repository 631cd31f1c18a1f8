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
equal (curves.csv, examples.csv). Median of runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable

import nncert

try:
    from distributed import Client, LocalCluster

    import nncert.distributed as nd
except ImportError as e:
    raise SystemExit(f"this benchmark needs nncert[dask] ({e})") from None


def median_seconds(run: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


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

    local_s, local_all, local = median_seconds(
        lambda: index.certify(test, d.test_y, **kw), a.repeat
    )
    print(f"in process: median {local_s:.2f} s {[round(x, 2) for x in local_all]}")

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
    scatter_s = time.perf_counter() - t
    dask_s, dask_all, got = median_seconds(
        lambda: dist.certify(test, d.test_y, test_block_size=a.test_block_size, **kw), a.repeat
    )
    how = "built on the workers" if a.build_on_cluster else "placed"
    print(f"cluster start-up {start_s:.2f} s, index {how} in {scatter_s:.2f} s")
    print(
        f"dask (2 workers × 1 thread, {a.train_shards} train shards): "
        f"median {dask_s:.2f} s {[round(x, 2) for x in dask_all]}"
    )
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
