"""nncert.distributed on a real local Dask cluster (two worker processes on 127.0.0.1):
votes and certificates identical to the in-process API, also when a worker dies mid-run."""

from __future__ import annotations

import functools
import os
import pickle
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


def with_duplicates(seed: int, n_train: int, n_test: int) -> Any:
    """Tie-heavy data where training rows repeat: identical features with the same label
    (the same rank: only the index breaks the tie) or another label (another rank)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 3, size=(max(2, n_train // 5), 3))
    train = base[rng.integers(0, len(base), size=n_train)].astype(np.float64)
    ytr = rng.integers(0, 2, size=n_train)
    test = rng.integers(0, 3, size=(n_test, 3)).astype(np.float64)
    return train, ytr, test, rng.integers(0, 2, size=n_test)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**16),
    shards=st.integers(1, 4),
    block=st.integers(3, 40),
    use_dask=st.booleans(),
    rank_by=st.booleans(),
)
def test_the_index_is_built_where_the_rows_are(
    client: Any, seed: int, shards: int, block: int, use_dask: bool, rank_by: bool
) -> None:
    """The training rows (and rank_by rows) stay on the workers — only labels (and, with
    one shard, 20-byte hashes) reach the client — and the index ranks, searches and
    certifies as the in-process one, duplicate rows included."""
    train, ytr, test, yte = with_duplicates(seed, 100, 30)
    rb = np.repeat(train.astype(np.uint8), 2, axis=1).reshape(100, 3, 2) if rank_by else None
    index = nncert.NeighbourIndex(train, ytr, rank_by=rb)
    seen: list[Any] = []
    real_gather, real_local = nd._gather, nd._local

    def gather(c: Any, futures: Any) -> Any:
        out = real_gather(c, futures)
        seen.extend(out)
        return out

    def local(a: Any, c: Any) -> Any:
        out = real_local(a, c)
        seen.append(np.asarray(out))
        return out

    nd._gather, nd._local = gather, local  # type: ignore[assignment]
    try:
        x: Any = dask_array.from_array(train, chunks=(13, 3)) if use_dask else train
        if use_dask and rb is not None:
            rb = dask_array.from_array(rb, chunks=(17, 3, 2))
        dist = nd.DistributedIndex(x, ytr, client=client, rank_by=rb, train_shards=shards)
    finally:
        nd._gather, nd._local = real_gather, real_local
    assert seen, "nothing gathered: the spy saw nothing"
    for value in seen:
        assert isinstance(value, np.ndarray)
        assert value.ndim == 1 or (value.dtype == np.uint8 and value.shape[1] == 20), value.shape
    # One shard: the client orders every row's hash into positions for the whole index.
    # Several: each shard keeps its rows' hashes (the merge breaks ties by hash and
    # index), so none reach the client.
    assert sum(v.shape[0] for v in seen if v.ndim == 2) == (100 if shards == 1 else 0)
    with dist:
        assert (dist.n_train, dist.n_features, dist.n_classes) == (100, 3, 2)
        kw: dict[str, Any] = {"k": [1, 7, 60], "r": [0, 1], "neighbours": True}
        same_search(
            dist.search(test, test_block_size=block, timeout=TIMEOUT, **kw),
            index.search(test, **kw),
            sharded=shards > 1,
        )
        a = index.certify(test, yte, k=[1, 7], r=[1], joint=("island", "rd"), max_e=20)
        b = dist.certify(
            test, yte, k=[1, 7], r=[1], joint=("island", "rd"), max_e=20, timeout=TIMEOUT
        )
        assert a.to_dict()["settings"] == b.to_dict()["settings"]
        assert a.examples_csv() == b.examples_csv() and a.curves_csv() == b.curves_csv()


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


def finish(partial: Any, shards: list[dict[str, Any]], test: Any, context: str) -> Any:
    """A block's merged partial finished as the workers do: pending pairs, exact keys from
    each shard's rows, then the result."""
    pending = _core.partial_pending(partial)
    keys = [nd._shard_keys(s, test, 0, pending, "l1") for s in shards]
    return _core.finish_partial(partial, keys, context)


def test_corrupt_or_mismatched_partials_are_refused() -> None:
    train, ytr, test, _ = tie_heavy(5, 40, 6)
    index = nncert.NeighbourIndex(train, ytr)
    core = index._core
    shards = [core.train_shard(i, 2) for i in (1, 2)]

    def partial(i: int, n: int, context: str = "run", ks: tuple[int, ...] = (3,)) -> Any:
        s = core.train_shard(i, n)
        return _core.shard_search(
            s["features"], s["labels"], s["ranks"], (i, n), 40, index.n_classes,
            test, (1, 1), 6, list(ks), [1.0], context=context,
        )  # fmt: skip

    a, b = partial(1, 2), partial(2, 2)
    whole = finish(_core.merge_partials(a, b), shards, test, "run")
    same_search(whole, index.search(test, k=3, r=1.0), sharded=True)
    raw = a.to_bytes()
    with pytest.raises(ValueError, match="corrupt or truncated"):  # one flipped byte
        _core.partial_from_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(ValueError, match="corrupt or truncated"):
        _core.partial_from_bytes(np.frombuffer(raw[: len(raw) // 2], dtype=np.uint8))
    with pytest.raises(TypeError, match="partial: expected bytes or a 1-D uint8 NumPy array"):
        _core.partial_from_bytes("not a partial")
    with pytest.raises(ValueError, match="training shard 1/2 of test block 1/1 given twice"):
        _core.merge_partials(a, a)
    with pytest.raises(ValueError, match=r"not the same run \(k \[3\] vs \[4\]\)"):
        _core.merge_partials(a, partial(2, 2, ks=(4,)))
    with pytest.raises(ValueError, match="not the same run"):  # another index
        _core.merge_partials(a, partial(2, 2, context="other"))
    with pytest.raises(ValueError, match=r"training shard 2/2 .*missing"):
        _core.partial_pending(a)
    with pytest.raises(ValueError, match=r"training shard 2/2 .*missing"):
        _core.finish_partial(a, [], "run")
    with pytest.raises(ValueError, match='partial: made for "run", not for "other run"'):
        finish(_core.merge_partials(a, b), shards, test, "other run")


def test_partials_pickle_out_of_band_and_merge_as_before() -> None:
    """A partial crosses processes as the library's bytes in one out-of-band buffer
    (pickle protocol 5, as Dask sends it), read back checked and equal: its merge
    finishes as the in-process search."""
    train, ytr, test, _ = tie_heavy(3, 50, 9)
    index = nncert.NeighbourIndex(train, ytr)
    core = index._core
    shards = [core.train_shard(i, 2) for i in (1, 2)]
    parts = [
        _core.shard_search(
            s["features"],
            s["labels"],
            s["ranks"],
            (i, 2),
            50,
            index.n_classes,
            test,
            (1, 1),
            9,
            [4, 20],
            [1.0],
            context="run",
        )
        for i, s in enumerate(shards, start=1)
    ]
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(parts[0], protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1, "the bytes went into the pickle stream, not out of band"
    assert len(data) < 1000 < buffers[0].raw().nbytes
    copy = pickle.loads(data, buffers=buffers)
    assert (copy.train_shards, copy.test_block) == ([1], (1, 1))
    # Dask weighs moving a result by its sizeof: at least the 20 candidates of 9 rows.
    assert sys.getsizeof(copy) >= 9 * 20 * 8
    assert copy.to_bytes() == parts[0].to_bytes()
    assert pickle.loads(pickle.dumps(parts[1])).to_bytes() == parts[1].to_bytes()
    expected = index.search(test, k=[4, 20], r=1.0)
    same_search(finish(_core.merge_partials(copy, parts[1]), shards, test, "run"), expected, True)
    # The inputs of a merge are not used up: Dask may give a result to several tasks.
    same_search(
        finish(_core.merge_partials(parts[0], parts[1]), shards, test, "run"), expected, True
    )


def test_exact_keys_are_matched_by_pair_never_by_position() -> None:
    """Keys travel with their pairs: any order gives the same result; a missing key, a key
    for a pair that is not a candidate, a conflicting key or keys of the wrong size are
    refused, never used for another pair."""
    # Many equal distances and k cutting through them: many pending pairs.
    train, ytr, test, _ = tie_heavy(11, 90, 12)
    index = nncert.NeighbourIndex(train, ytr)
    core = index._core
    shards = [core.train_shard(i, 3) for i in (1, 2, 3)]
    parts = [
        _core.shard_search(
            s["features"],
            s["labels"],
            s["ranks"],
            (i, 3),
            90,
            index.n_classes,
            test,
            (1, 1),
            12,
            [5, 12],
            [1.0],
            context="run",
        )
        for i, s in enumerate(shards, start=1)
    ]
    merged = _core.merge_partials(_core.merge_partials(parts[0], parts[2]), parts[1])
    q, j = _core.partial_pending(merged)
    assert len(q) >= 4, "too few pending pairs: the test tests nothing"
    keys = _core.shard_exact_keys(core.train_shard(1, 1)["features"], 0, test, 0, q, j)
    expected = index.search(test, k=[5, 12], r=1.0)
    same_search(_core.finish_partial(merged, [(q, j, keys)], "run"), expected, sharded=True)
    # Reversed, and split into two lists: the same result.
    width = len(keys) // len(q)
    rev = b"".join(keys[i * width : (i + 1) * width] for i in reversed(range(len(q))))
    half = len(q) // 2
    for pieces in (
        [(q[::-1].copy(), j[::-1].copy(), rev)],
        [(q[half:], j[half:], keys[half * width :]), (q[:half], j[:half], keys[: half * width])],
    ):
        same_search(_core.finish_partial(merged, pieces, "run"), expected, sharded=True)
    # A pending pair without its key.
    with pytest.raises(ValueError, match=r"exact key for test row \d+, training row \d+"):
        _core.finish_partial(merged, [(q[1:], j[1:], keys[width:])], "run")
    # A second, different key for a pair (the key of another pair of its test row, moved).
    whole = core.train_shard(1, 1)["features"]
    rows = np.arange(90, dtype=np.int64)
    row_keys = _core.shard_exact_keys(whole, 0, test, 0, np.full(90, q[0]), rows)
    wrong = next(
        row_keys[r * width : (r + 1) * width]
        for r in range(90)
        if row_keys[r * width : (r + 1) * width] != keys[:width]
    )
    for pieces in ([(q, j, keys), (q[:1], j[:1], wrong)], [(q[:1], j[:1], wrong), (q, j, keys)]):
        with pytest.raises(ValueError, match="two different exact keys given for test row"):
            _core.finish_partial(merged, pieces, "run")
    # A key for a training row that is not a candidate of its test row: refused; any
    # other extra (correct) key changes nothing.
    refused = 0
    for r in range(90):
        extra_q, extra_j = np.array([0], dtype=np.int64), np.array([r], dtype=np.int64)
        extra = (extra_q, extra_j, _core.shard_exact_keys(whole, 0, test, 0, extra_q, extra_j))
        try:
            got = _core.finish_partial(merged, [(q, j, keys), extra], "run")
        except ValueError as e:
            assert "not a candidate" in str(e)
            refused += 1
            continue
        same_search({**got, "exact_pairs": 0}, expected, sharded=True)
    assert refused > 0, "every training row was a candidate: the test tests nothing"
    with pytest.raises(ValueError, match=r"keys: expected \d+ bytes"):
        _core.finish_partial(merged, [(q, j, keys[:-1])], "run")


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


def stuck(event: str, *args: Any, **kwargs: Any) -> Any:
    """A search task that does not end until `event` is set (at most TIMEOUT seconds)."""
    distributed.Event(event).wait(TIMEOUT)
    raise RuntimeError("released by the test")


@pytest.mark.parametrize("shards", [1, 2])
def test_a_search_that_never_ends_times_out(
    client: Any, monkeypatch: pytest.MonkeyPatch, shards: int
) -> None:
    """A task that never completes makes `search` raise TimeoutError after `timeout`
    seconds, saying what was unfinished, instead of waiting forever."""
    train, ytr, test, yte = tie_heavy(2, 40, 12)
    event = distributed.Event(f"nncert-test-stuck-{shards}", client=client)
    task = "_search_block" if shards == 1 else "_search_shard"
    # `stuck` lives in this test module, which the workers cannot import.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with nd.DistributedIndex(train, ytr, client=client, train_shards=shards) as dist:
            monkeypatch.setattr(nd, task, functools.partial(stuck, event.name))
            message = r"timeout: \d+ of \d+ test blocks unfinished after 0.5 s"
            with pytest.raises(TimeoutError, match=message):
                dist.search(test, 3, r=1.0, test_block_size=5, timeout=0.5)
            with pytest.raises(TimeoutError, match=message):
                dist.certify(test, yte, 3, test_block_size=5, timeout=0.5)
            monkeypatch.undo()
            # The cluster is not left stuck: the same index searches again.
            event.set()
            same_search(
                dist.search(test, 3, timeout=TIMEOUT),
                nncert.NeighbourIndex(train, ytr).search(test, 3),
                shards > 1,
            )
    finally:
        event.set()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_parameters_are_checked(client: Any) -> None:
    train, ytr, test, yte = tie_heavy(0, 30, 5)
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
        # Defaults and refusals as NeighbourIndex.certify's (audit finding 11): a kNN-only
        # call computes no joint certification and refuses one given, or an RD seed.
        dist.certify(test, yte, 3, timeout=TIMEOUT)
        with pytest.raises(ValueError, match="joint: joint certification applies to rNN only"):
            dist.certify(test, yte, 3, joint=("island",), timeout=TIMEOUT)
        with pytest.raises(ValueError, match="seed: seeds the RD division"):
            dist.certify(test, yte, 3, r=2.0, seed=4, timeout=TIMEOUT)
        # A Dask array with the wrong width fails on the worker, with the same message.
        with pytest.raises(ValueError, match="X: expected 3 features"):
            dist.search(dask_array.from_array(test[:, :2]), 3, timeout=TIMEOUT)
