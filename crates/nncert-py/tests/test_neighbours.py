"""Neighbours and votes against a NumPy brute force on tiny, tie-heavy data.

The order is the documented one: distance ascending, then the tie-break rank descending
(SHA-1 of the label as 4 little-endian bytes followed by the row's bytes as stored), then
the index ascending.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest

import nncert


def distances(
    train: np.ndarray[Any, Any], q: np.ndarray[Any, Any], metric: str
) -> np.ndarray[Any, Any]:
    # Small integers: every sum is exact in float32, so float64 here gives the same values.
    diff = np.abs(train.astype(np.float64) - q.astype(np.float64))
    if metric == "l1":
        return diff.sum(axis=1)
    if metric == "l2":
        return np.sqrt((diff**2).sum(axis=1).astype(np.float32)).astype(np.float64)
    return diff.max(axis=1)


def ranks(train: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> list[int]:
    return [
        int.from_bytes(
            hashlib.sha1(
                int(y).to_bytes(4, "little")
                + np.ascontiguousarray(row).astype(row.dtype.newbyteorder("<")).tobytes()
            ).digest(),
            "big",
        )
        for row, y in zip(train, labels)
    ]


def brute_order(
    train: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], q: np.ndarray[Any, Any], metric: str
) -> tuple[list[int], np.ndarray[Any, Any]]:
    d = distances(train, q, metric)
    r = ranks(train, labels)
    order = sorted(range(len(train)), key=lambda j: (d[j], -r[j], j))
    return order, d


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("metric", ["l1", "l2", "linf"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knn_and_rnn_match_brute_force(dtype: Any, metric: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d, c = 40, 3, 3
    train = rng.integers(0, 3, size=(n, d)).astype(dtype)  # many exact duplicates and ties
    labels = rng.integers(0, c, size=n)
    test = rng.integers(0, 3, size=(15, d)).astype(dtype)
    k, radius = 7, 2.0
    knn = nncert.KNNCertifier(k, metric=metric).fit(train, labels)
    rnn = nncert.RNNCertifier(radius, metric=metric, joint=()).fit(train, labels)
    dist, ind = knn.kneighbors(test)
    rdist, rind = rnn.radius_neighbors(test)
    knn_votes, rnn_votes = knn.votes(test), rnn.votes(test)
    for i, q in enumerate(test):
        order, dq = brute_order(train, labels, q, metric)
        assert ind[i].tolist() == order[:k]
        np.testing.assert_array_equal(dist[i], dq[order[:k]])
        np.testing.assert_array_equal(knn_votes[i], np.bincount(labels[order[:k]], minlength=c))
        ball = [j for j in order if dq[j] <= radius]
        assert rind[i].tolist() == ball
        np.testing.assert_array_equal(rdist[i], dq[ball])
        np.testing.assert_array_equal(rnn_votes[i], np.bincount(labels[ball], minlength=c))


def test_k_beyond_the_training_set_means_everyone_votes() -> None:
    train = np.array([[0.0], [1.0], [2.0]])
    knn = nncert.KNNCertifier(10).fit(train, [0, 1, 1])
    assert knn.votes([[0.5]]).tolist() == [[1, 2]]
    _, ind = knn.kneighbors([[0.5]])
    assert ind.shape == (1, 3)


def test_rank_by_changes_only_the_tie_break() -> None:
    # Two training points at the same distance with different labels: k = 1 picks the one
    # with the larger rank, which depends on the bytes hashed.
    train = np.array([[0.0], [2.0]])
    labels = np.array([0, 1])
    q = np.array([[1.0]])
    picks = set()
    for tag in range(8):
        rank_by = np.array([[tag, 0], [0, tag]], dtype=np.uint8)
        knn = nncert.KNNCertifier(1).fit(train, labels, rank_by=rank_by)
        picks.add(int(knn.predict(q)[0]))
    assert picks == {0, 1}


def test_results_do_not_depend_on_the_thread_count() -> None:
    rng = np.random.default_rng(9)
    train = rng.integers(0, 4, size=(500, 6)).astype(np.float32)
    labels = rng.integers(0, 5, size=500)
    test = rng.integers(0, 4, size=(300, 6)).astype(np.float32)
    index = nncert.NeighbourIndex(train, labels, n_jobs=1)
    runs = [
        index.certify(test, labels[:300], k=[3, 50], r=[2, 4], joint="island,rd", n_jobs=n)
        for n in (None, 1, 2, -1)
    ]
    for other in runs[1:]:
        assert other.curves_csv() == runs[0].curves_csv()
        assert other.examples_csv() == runs[0].examples_csv()
