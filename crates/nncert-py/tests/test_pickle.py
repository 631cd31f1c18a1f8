"""Indexes, fitted certifiers and results pickle (what Dask and joblib do to send them
between processes) and come back searching, certifying and writing exactly as before; a
damaged state is refused."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any, Callable

import cloudpickle
import joblib
import numpy as np
import pytest

import nncert
from nncert import _core


def tie_heavy(seed: int, n_train: int = 150, n_test: int = 40, dtype: Any = np.float64) -> Any:
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 4, size=(n_train, 3)).astype(dtype)
    test = rng.integers(0, 4, size=(n_test, 3)).astype(dtype)
    return train, rng.integers(0, 3, size=n_train), test, rng.integers(0, 3, size=n_test)


def same_search(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in ("knn", "rnn"):
        assert len(a[key]) == len(b[key])
        for x, y in zip(a[key], b[key]):
            assert x[0] == y[0] and x[1].dtype == y[1].dtype
            np.testing.assert_array_equal(x[1], y[1])
            assert x[2:] == y[2:]
    for key in ("knn_neighbours", "rnn_neighbours"):
        for x, y in zip(a.get(key, ()), b.get(key, ())):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


ROUND_TRIPS: dict[str, Callable[[Any, Path], Any]] = {
    "pickle": lambda o, _: pickle.loads(pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)),
    "pickle-2": lambda o, _: pickle.loads(pickle.dumps(o, protocol=2)),
    "deepcopy": lambda o, _: copy.deepcopy(o),
    "cloudpickle": lambda o, _: cloudpickle.loads(cloudpickle.dumps(o)),
    "joblib": lambda o, d: (joblib.dump(o, d / "o.joblib"), joblib.load(d / "o.joblib"))[1],
}


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
def test_index_round_trip_searches_and_certifies_the_same(
    tmp_path: Path, how: str, dtype: Any
) -> None:
    train, ytr, test, yte = tie_heavy(1, dtype=dtype)
    # rank_by: the ranks hash bytes that the pickle does not carry, so they must travel.
    rank_by = np.random.default_rng(9).integers(0, 255, size=(len(train), 5), dtype=np.uint8)
    for rb in (None, rank_by):
        index = nncert.NeighbourIndex(train, ytr, n_classes=4, rank_by=rb)
        back = ROUND_TRIPS[how](index, tmp_path)
        assert type(back) is nncert.NeighbourIndex
        assert (back.n_train, back.n_features, back.n_classes) == (150, 3, 4)
        np.testing.assert_array_equal(back._core.positions(), index._core.positions())
        kw: dict[str, Any] = {"k": [1, 7, 150], "r": [1, 2.5], "neighbours": True}
        same_search(back.search(test, **kw), index.search(test, **kw))
        a = index.certify(test, yte, k=[3, 9], r=[2], joint=("island", "rd"), seed=3)
        b = back.certify(test, yte, k=[3, 9], r=[2], joint=("island", "rd"), seed=3)
        assert a.curves_csv() == b.curves_csv()
        assert a.examples_csv() == b.examples_csv()


@pytest.mark.parametrize("how", ["pickle", "cloudpickle", "joblib"])
def test_fitted_certifiers_round_trip(tmp_path: Path, how: str) -> None:
    train, ytr, test, yte = tie_heavy(2)
    for est in (
        nncert.KNNCertifier(5, threat="delete"),
        nncert.RNNCertifier(2.0, joint=("island", "best")),
    ):
        est.fit(train, ytr)
        back = ROUND_TRIPS[how](est, tmp_path)
        assert back.get_params() == est.get_params()
        np.testing.assert_array_equal(back.votes(test), est.votes(test))
        a, b = est.certified_accuracy(test, yte), back.certified_accuracy(test, yte)
        assert a.to_dict()["settings"] == b.to_dict()["settings"]
        assert a.examples_csv() == b.examples_csv()


def test_unfitted_certifier_and_compiled_index_pickle() -> None:
    est = pickle.loads(pickle.dumps(nncert.RNNCertifier(3.0, seed=4)))
    assert est.get_params()["seed"] == 4 and not hasattr(est, "index_")
    train, ytr, test, _ = tie_heavy(3)
    core = nncert.NeighbourIndex(train, ytr)._core
    back = pickle.loads(pickle.dumps(core))
    assert isinstance(back, _core.NeighbourIndex)
    same_search(back.search(test, [4], [1.0]), core.search(test, [4], [1.0]))


def state_of(index: nncert.NeighbourIndex) -> dict[str, Any]:
    rebuild, (state,) = index._core.__reduce__()
    assert rebuild is _core._index_from_state
    return dict(state)


def test_a_damaged_state_is_refused_with_the_entry_named() -> None:
    train, ytr, _, _ = tie_heavy(4)
    good = state_of(nncert.NeighbourIndex(train, ytr))
    assert good["format"] == "nncert.NeighbourIndex" and good["version"] == 1

    def refused(change: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            _core._index_from_state({**good, **change})

    refused({"version": 2}, "state: expected nncert.NeighbourIndex version 1, found")
    refused({"format": "other"}, "state: expected nncert.NeighbourIndex")
    refused({"features": good["features"][:, :0]}, "features: expected at least one column")
    refused({"features": good["features"].astype(np.float64)}, "entry `features` has the wrong")
    features = good["features"].copy()
    features[3, 1] = np.inf
    refused({"features": features}, "features: expected finite values, found inf at row 3")
    positions = good["positions"].copy()
    positions[0] = positions[1]
    refused({"positions": positions}, "positions: expected a permutation of 0..150")
    refused({"positions": good["positions"][:-1]}, "positions: expected 150")
    refused({"labels": good["labels"] + 5}, "labels: expected values below n_classes = 3")
    refused({"n_classes": 1}, "n_classes: expected an integer in 2..=65536, found 1")
    with pytest.raises(ValueError, match="state: expected an entry `labels`"):
        _core._index_from_state({k: x for k, x in good.items() if k != "labels"})


def results_to_check() -> list[nncert.Certificates]:
    """Results of every producer: an index (kNN and rNN, joint), a certifier, votes."""
    train, ytr, test, yte = tie_heavy(6)
    index = nncert.NeighbourIndex(train, ytr)
    votes = np.array([[1, 7, 2], [4, 0, 3], [0, 5, 5]])
    return [
        index.certify(test, yte, k=[3, 9], r=[2], joint=("island", "rd"), seed=3),
        nncert.RNNCertifier(2.0, joint=("island", "best"))
        .fit(train, ytr)
        .certified_accuracy(test, yte),
        nncert.certify_votes(votes, [1, 0, 2], "dpa", param="3"),
    ]


@pytest.mark.parametrize("how", sorted(ROUND_TRIPS))
def test_certificates_round_trip_with_identical_dicts_and_files(tmp_path: Path, how: str) -> None:
    for n, res in enumerate(results_to_check()):
        back = ROUND_TRIPS[how](res, tmp_path)
        assert type(back) is nncert.Certificates
        assert back.to_dict() == res.to_dict()
        assert back.summary() == res.summary() and repr(back) == repr(res)
        for s, t in zip(res.settings, back.settings):
            assert s.votes.tobytes() == t.votes.tobytes() and s.votes.dtype == t.votes.dtype
            assert s.e_star.tobytes() == t.e_star.tobytes()
            assert s.curves.keys() == t.curves.keys()
        res.write(tmp_path / f"a{n}")
        back.write(tmp_path / f"b{n}")
        for name in ("curves.csv", "examples.csv", "report.json"):
            assert (tmp_path / f"a{n}" / name).read_bytes() == (
                tmp_path / f"b{n}" / name
            ).read_bytes(), name
        # A restored result pickles again, to the same thing.
        again = pickle.loads(pickle.dumps(back))
        assert again.to_dict() == res.to_dict()
        # Its settings are copies: changing one result's arrays changes no other.
        back.settings[0].votes[...] = 0
        assert pickle.loads(pickle.dumps(back._core)).settings()[0]["votes"].tobytes() == (
            res.settings[0].votes.tobytes()
        )


def test_a_damaged_certificates_state_is_refused() -> None:
    rebuild, (state,) = results_to_check()[2]._core.__reduce__()
    assert rebuild is _core._certified_from_state
    good = dict(state)
    assert good["format"] == "nncert.Certified" and good["version"] == 1
    with pytest.raises(ValueError, match=r"Certified state: expected nncert\.Certified version 1"):
        _core._certified_from_state({**good, "version": 2})
    with pytest.raises(ValueError, match="entry `report_json` has the wrong type"):
        _core._certified_from_state({**good, "report_json": 3})
    with pytest.raises(ValueError, match="entry `settings` has the wrong type"):
        _core._certified_from_state({**good, "settings": [1]})
    with pytest.raises(ValueError, match="expected an entry `curves_csv`"):
        _core._certified_from_state({k: x for k, x in good.items() if k != "curves_csv"})
