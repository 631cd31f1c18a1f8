"""nncert.distributed on a real local Dask cluster (two worker processes on 127.0.0.1):
votes and certificates identical to the in-process API, also when a worker dies mid-run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncert
from nncert import _core

dask_array = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from nncert import distributed as nd  # noqa: E402

# Seconds any one computation may take before the test fails instead of hanging.
TIMEOUT = 120.0


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    c = distributed.Client(cluster, timeout=TIMEOUT)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def tie_heavy(seed: int, n_train: int, n_test: int) -> Any:
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 3, size=(n_train, 3)).astype(np.float32)
    test = rng.integers(0, 3, size=(n_test, 3)).astype(np.float32)
    return train, rng.integers(0, 3, size=n_train), test, rng.integers(0, 3, size=n_test)


def same_search(a: dict[str, Any], b: dict[str, Any], sharded: bool = False) -> None:
    """Votes and neighbour lists bit for bit. The threshold-fallback count is a speed
    statistic of one search; merged shards report 0 (and how many pairs needed exact keys)."""
    a, b = dict(a), dict(b)
    if sharded:
        assert a.pop("exact_pairs") >= 0
        assert a.pop("threshold_fallbacks") == 0
        b.pop("threshold_fallbacks")
    assert a.keys() == b.keys()
    for key in ("knn", "rnn"):
        assert [x[0] for x in a[key]] == [x[0] for x in b[key]]
        for x, y in zip(a[key], b[key]):
            assert x[1].dtype == y[1].dtype and x[1].shape == y[1].shape
            assert x[1].tobytes() == y[1].tobytes()
            assert x[2:] == y[2:]
    assert a.get("threshold_fallbacks") == b.get("threshold_fallbacks")
    for key in ("knn_neighbours", "rnn_neighbours"):
        if key in a:
            for x, y in zip(a[key], b[key]):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


# What report.json records about the run itself rather than its results.
RUN_ONLY = ("command", "seconds", "threads", "nncert_version")


def same_certificates(
    a: nncert.Certificates, b: nncert.Certificates, tmp: Path, sharded: bool = False
) -> None:
    da, db = a.to_dict(), b.to_dict()
    assert da["settings"] == db["settings"]
    run_only = RUN_ONLY + (("threshold_fallbacks",) if sharded else ())
    ra = {k: x for k, x in da["report"].items() if k not in run_only}
    rb = {k: x for k, x in db["report"].items() if k not in run_only}
    assert ra == rb
    assert db["report"]["command"] == "python: nncert.distributed"
    a.write(tmp / "a")
    b.write(tmp / "b")
    for name in ("curves.csv", "examples.csv"):
        assert (tmp / "a" / name).read_bytes() == (tmp / "b" / name).read_bytes(), name
    for s, t in zip(a.settings, b.settings):
        assert s.votes.tobytes() == t.votes.tobytes()


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**16),
    n_test=st.integers(1, 60),
    block=st.integers(1, 70),
    shards=st.integers(1, 5),
    threat=st.sampled_from(["general", "delete", "insert"]),
    use_dask=st.booleans(),
)
def test_same_votes_and_certificates_as_in_process(
    client: Any, tmp_path_factory: Any, seed: int, n_test: int, block: int, shards: int,
    threat: str, use_dask: bool,
) -> None:  # fmt: skip
    train, ytr, test, yte = tie_heavy(seed, 120, n_test)
    index = nncert.NeighbourIndex(train, ytr)
    ks, radii = [1, 6, 40], [0, 1, 2]
    x: Any = dask_array.from_array(test, chunks=(7, 3)) if use_dask else test
    with nd.DistributedIndex(train, ytr, client=client, train_shards=shards) as dist:
        kw: dict[str, Any] = {"k": ks, "r": radii, "neighbours": True}
        same_search(
            dist.search(x, test_block_size=block, timeout=TIMEOUT, **kw),
            index.search(test, **kw),
            sharded=shards > 1,
        )
        cert: dict[str, Any] = {"k": ks, "r": radii, "joint": ("island", "rd"), "seed": seed}
        cert["threat"] = threat
        cert["max_e"] = 5 if threat == "delete" else None
        same_certificates(
            index.certify(test, yte, **cert),
            dist.certify(x, yte, test_block_size=block, timeout=TIMEOUT, **cert),
            tmp_path_factory.mktemp("certs"),
            sharded=shards > 1,
        )


def test_built_in_mnist_subset(
    client: Any, tmp_path: Path, subset: nncert.datasets.Dataset, subset_hog: tuple[Any, Any]
) -> None:
    train, test = subset_hog
    knn = nncert.KNNCertifier(500).fit(train, subset.train_y, rank_by=subset.train_x)
    rnn = nncert.RNNCertifier(4.0, joint=("island", "best"))
    rnn.fit(train, subset.train_y, rank_by=subset.train_x)
    for est in (knn, rnn):
        votes = nd.votes(est, test, client=client, test_block_size=333, timeout=TIMEOUT)
        assert votes.tobytes() == est.votes(test).tobytes()
    same_certificates(
        rnn.certified_accuracy(test, subset.test_y),
        nd.certified_accuracy(rnn, test, subset.test_y, client=client, timeout=TIMEOUT),
        tmp_path,
    )
    # Three training shards × four test blocks, kNN and rNN in one pass, lists too.
    index = knn.index_
    kw: dict[str, Any] = {"k": [1, 50, 500], "r": [3, 4], "neighbours": True}
    with nd.DistributedIndex.from_index(index, client=client, train_shards=3) as dist:
        got = dist.search(test, test_block_size=250, timeout=TIMEOUT, **kw)
        same_search(got, index.search(test, **kw), sharded=True)
        same_certificates(
            index.certify(test, subset.test_y, k=500, r=4),
            dist.certify(test, subset.test_y, k=500, r=4, timeout=TIMEOUT),
            tmp_path / "sharded",
            sharded=True,
        )


def test_corrupt_or_mismatched_partials_are_refused() -> None:
    train, ytr, test, _ = tie_heavy(5, 40, 6)
    index = nncert.NeighbourIndex(train, ytr)
    core = index._core

    def partial(i: int, n: int, context: str = "run", ks: tuple[int, ...] = (3,)) -> bytes:
        s = core.train_shard(i, n)
        return _core.shard_search(
            s["features"], s["labels"], s["positions"], (i, n), 40, index.n_classes,
            test, (1, 1), 6, list(ks), [1.0], context=context,
        )  # fmt: skip

    a, b = partial(1, 2), partial(2, 2)
    whole = core.finish_partials([_core.merge_partials(a, b)], test, "run")
    same_search(whole, index.search(test, k=3, r=1.0), sharded=True)
    with pytest.raises(ValueError, match="corrupt or truncated"):  # one flipped byte
        _core.merge_partials(a[:-1] + bytes([a[-1] ^ 1]), b)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        _core.merge_partials(a[: len(a) // 2], b)
    with pytest.raises(ValueError, match="training shard 1/2 of test block 1/1 given twice"):
        _core.merge_partials(a, a)
    with pytest.raises(ValueError, match=r"not the same run \(k \[3\] vs \[4\]\)"):
        _core.merge_partials(a, partial(2, 2, ks=(4,)))
    with pytest.raises(ValueError, match="not the same run"):  # another index
        _core.merge_partials(a, partial(2, 2, context="other"))
    with pytest.raises(ValueError, match="training shard 2/2 of test block 1/1 is missing"):
        core.finish_partials([a], test, "run")
    with pytest.raises(ValueError, match="not for this index and test set"):
        core.finish_partials([_core.merge_partials(a, b)], test, "other run")
    with pytest.raises(ValueError, match="not for this index and test set"):
        core.finish_partials([_core.merge_partials(a, b)], test[:5], "run")


class KillFirstSearch(distributed.WorkerPlugin):  # type: ignore[misc]
    """A worker plugin that kills its worker process (as a crash or the OOM killer would)
    the first time, cluster-wide, that a search task starts executing; the marker file
    makes it once."""

    name = "nncert-test-kill-first-search"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish != "executing" or not str(key).startswith(("_search_block", "_search_shard")):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


@pytest.mark.parametrize("shards", [1, 2])
def test_a_worker_killed_mid_run_changes_nothing(
    client: Any,
    tmp_path: Path,
    subset: nncert.datasets.Dataset,
    subset_hog: tuple[Any, Any],
    shards: int,
) -> None:
    train, test = subset_hog
    index = nncert.NeighbourIndex(train, subset.train_y, rank_by=subset.train_x)
    expected = index.certify(test, subset.test_y, k=[50, 500], r=4)
    marker = tmp_path / "killed"
    # The plugin's class lives in this test module, which the workers cannot import.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    client.register_plugin(KillFirstSearch(str(marker)))
    try:
        with nd.DistributedIndex.from_index(index, client=client, train_shards=shards) as dist:
            got = dist.certify(
                test, subset.test_y, k=[50, 500], r=4, test_block_size=100, timeout=TIMEOUT
            )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        client.unregister_worker_plugin(KillFirstSearch.name)
    assert marker.exists(), "no worker was killed: the test tested nothing"
    same_certificates(expected, got, tmp_path, sharded=shards > 1)
    client.wait_for_workers(2, timeout=TIMEOUT)


def test_parameters_are_checked(client: Any) -> None:
    train, ytr, test, _ = tie_heavy(0, 30, 5)
    with pytest.raises(ValueError, match="train_shards: expected"):
        nd.DistributedIndex(train, ytr, client=client, train_shards=0)
    with pytest.raises(ValueError, match="train_shards: expected"):
        nd.DistributedIndex(train, ytr, client=client, train_shards=31)
    with pytest.raises(TypeError, match=r"client: expected a dask\.distributed\.Client"):
        nd.DistributedIndex(train, ytr, client=object())  # type: ignore[arg-type]
    with nd.DistributedIndex(train, ytr, client=client) as dist:
        with pytest.raises(ValueError, match="test_block_size: expected"):
            dist.search(test, 3, test_block_size=0)
        with pytest.raises(ValueError, match="X: expected 3 features"):
            dist.search(test[:, :2], 3)
        with pytest.raises(ValueError, match="k, r: expected at least one"):
            dist.search(test)
        # A Dask array with the wrong width fails on the worker, with the same message.
        with pytest.raises(ValueError, match="X: expected 3 features"):
            dist.search(dask_array.from_array(test[:, :2]), 3, timeout=TIMEOUT)
