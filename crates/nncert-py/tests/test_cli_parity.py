"""Python and the CLI give the same votes, predictions, e* and files, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import data_dir, run_cli

import nncert


def assert_same_files(cli_dir: Path, py_dir: Path) -> None:
    for name in ("curves.csv", "examples.csv"):
        assert (py_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name


def test_built_in_subset_matches_cargo_run(
    tmp_path: Path, subset: nncert.datasets.Dataset, subset_hog: tuple[Any, Any]
) -> None:
    # `nncert certify` with every default is `cargo run --release`: embedded subset, HOG,
    # l1, kNN k = 500, rNN r = 4 with ISLAND.
    run_cli("certify", "--out", str(tmp_path / "cli"))
    run_cli("votes", "--knn", "500", "--rnn", "4", "--out", str(tmp_path / "votes"))
    train, test = subset_hog
    index = nncert.NeighbourIndex(train, subset.train_y, rank_by=subset.train_x)
    res = index.certify(test, subset.test_y, k=500, r=4)
    res.write(tmp_path / "py")
    assert_same_files(tmp_path / "cli", tmp_path / "py")
    np.testing.assert_array_equal(
        res.setting("knn", 500).votes, np.load(tmp_path / "votes" / "knn_k500.npy")
    )
    np.testing.assert_array_equal(
        res.setting("rnn", 4).votes, np.load(tmp_path / "votes" / "rnn_r4.npy")
    )
    # The estimators give the same votes, predictions and e*.
    knn = nncert.KNNCertifier(500).fit(train, subset.train_y, rank_by=subset.train_x)
    np.testing.assert_array_equal(knn.votes(test), res.setting("knn", 500).votes)
    pred, e_star = knn.certify(test)
    np.testing.assert_array_equal(pred, res.setting("knn", 500).predicted)
    np.testing.assert_array_equal(e_star, res.setting("knn", 500).e_star)
    rnn = nncert.RNNCertifier(4).fit(train, subset.train_y, rank_by=subset.train_x)
    ca = rnn.certified_accuracy(test, subset.test_y)
    np.testing.assert_array_equal(ca.certified["island"], res.setting("rnn", 4).certified["island"])
    # The summary table is the CLI's.
    assert res.summary() in run_cli("certify", "--out", str(tmp_path / "cli2"))


def test_hog_matches_the_cli_features(tmp_path: Path, subset_hog: tuple[Any, Any]) -> None:
    run_cli("features", "--out", str(tmp_path))
    np.testing.assert_array_equal(np.load(tmp_path / "train_features.npy"), subset_hog[0])
    np.testing.assert_array_equal(np.load(tmp_path / "test_features.npy"), subset_hog[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_same_arrays_as_npy_give_the_same_results(tmp_path: Path, dtype: Any) -> None:
    # Tie-heavy features: ranks decide many neighbours, so the rank bytes must agree.
    rng = np.random.default_rng(3)
    train = rng.integers(0, 4, size=(300, 5)).astype(dtype)
    test = rng.integers(0, 4, size=(60, 5)).astype(dtype)
    ytr, yte = rng.integers(0, 4, size=300), rng.integers(0, 4, size=60)
    for name, a in [("trf", train), ("trl", ytr), ("tef", test), ("tel", yte)]:
        np.save(tmp_path / f"{name}.npy", a)
    run_cli(
        "certify", "--dataset", "npy", "--features", "raw",
        "--train-features", str(tmp_path / "trf.npy"), "--train-labels", str(tmp_path / "trl.npy"),
        "--test-features", str(tmp_path / "tef.npy"), "--test-labels", str(tmp_path / "tel.npy"),
        "--knn", "1,9,40", "--rnn", "2,3", "--joint", "island,rd,best", "--seed", "7",
        "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    res = nncert.NeighbourIndex(train, ytr).certify(
        test, yte, k=[1, 9, 40], r=[2, 3], joint=("island", "rd", "best"), seed=7
    )
    res.write(tmp_path / "py")
    assert_same_files(tmp_path / "cli", tmp_path / "py")
    # And the npy loader reads the same arrays back.
    d = nncert.datasets.load_npy(*(tmp_path / f"{n}.npy" for n in ("trf", "trl", "tef", "tel")))
    assert d.train_x.dtype == dtype
    np.testing.assert_array_equal(d.train_x, train)


@pytest.mark.parametrize(
    ("kind", "extra_cli", "extra_py"),
    [
        ("knn", [], {}),
        (
            "rnn",
            ["--joint", "island,rd,best", "--seed", "3"],
            {"joint": ("island", "rd", "best"), "seed": 3},
        ),
        (
            "rnn",
            ["--threat", "delete", "--joint", "island,rd"],
            {"threat": "delete", "joint": "island,rd"},
        ),
        ("rnn", ["--threat", "insert"], {"threat": "insert"}),
        ("rnn", ["--threat", "flip"], {"threat": "flip"}),
        ("knn", ["--threat", "insert"], {"threat": "insert"}),
        ("dpa", [], {}),
        ("dpa", ["--units", "insdel"], {"units": "insdel"}),
        (
            "bagging",
            ["--models", "60", "--subsample", "5", "--train-size", "1000"],
            {"models": 60, "subsample": 5, "train_size": 1000},
        ),
    ],
)
def test_certify_votes_matches_the_cli(
    tmp_path: Path, kind: str, extra_cli: list[str], extra_py: dict[str, Any]
) -> None:
    rng = np.random.default_rng(11)
    votes = rng.integers(0, 30, size=(80, 4)).astype(np.int32)
    if kind == "knn":  # k nearest: every row sums to k
        votes = rng.multinomial(31, [0.4, 0.3, 0.2, 0.1], size=80).astype(np.int32)
    if kind == "bagging":
        votes = rng.multinomial(60, [0.7, 0.1, 0.1, 0.1], size=80).astype(np.int32)
    labels = rng.integers(0, 4, size=80)
    np.save(tmp_path / "v.npy", votes)
    np.save(tmp_path / "l.npy", labels)
    run_cli(
        "certify-votes", "--votes", str(tmp_path / "v.npy"), "--labels", str(tmp_path / "l.npy"),
        "--kind", kind, "--param", "p", *extra_cli, "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    res = nncert.certify_votes(votes, labels, kind, param="p", **extra_py)
    res.write(tmp_path / "py")
    assert_same_files(tmp_path / "cli", tmp_path / "py")


@pytest.mark.parametrize(
    ("metric", "radius"), [("l2", "1.5"), ("linf", "0.8"), ("ip", "-0.5"), ("cosine", "0.3")]
)
def test_every_metric_matches_the_cli(tmp_path: Path, metric: str, radius: str) -> None:
    rng = np.random.default_rng(8)
    train = rng.normal(size=(300, 6)).astype(np.float32)
    test = rng.normal(size=(40, 6)).astype(np.float32)
    ytr, yte = rng.integers(0, 3, size=300), rng.integers(0, 3, size=40)
    for name, a in [("trf", train), ("trl", ytr), ("tef", test), ("tel", yte)]:
        np.save(tmp_path / f"{name}.npy", a)
    run_cli(
        "certify", "--dataset", "npy", "--features", "raw",
        "--train-features", str(tmp_path / "trf.npy"), "--train-labels", str(tmp_path / "trl.npy"),
        "--test-features", str(tmp_path / "tef.npy"), "--test-labels", str(tmp_path / "tel.npy"),
        "--knn", "7", "--rnn", radius, "--metric", metric, "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    res = nncert.NeighbourIndex(train, ytr).certify(test, yte, k=7, r=float(radius), metric=metric)
    res.write(tmp_path / "py")
    assert_same_files(tmp_path / "cli", tmp_path / "py")


@pytest.mark.parametrize("threat", ["insert", "delete", "flip"])
def test_threat_models_match_the_cli(tmp_path: Path, threat: str) -> None:
    # Exact kNN certificates under insert/delete come from the ordered neighbour lists.
    rng = np.random.default_rng(5)
    train = rng.integers(0, 4, size=(400, 4)).astype(np.float32)
    test = rng.integers(0, 4, size=(50, 4)).astype(np.float32)
    ytr, yte = rng.integers(0, 3, size=400), rng.integers(0, 3, size=50)
    for name, a in [("trf", train), ("trl", ytr), ("tef", test), ("tel", yte)]:
        np.save(tmp_path / f"{name}.npy", a)
    run_cli(
        "certify", "--dataset", "npy", "--features", "raw",
        "--train-features", str(tmp_path / "trf.npy"), "--train-labels", str(tmp_path / "trl.npy"),
        "--test-features", str(tmp_path / "tef.npy"), "--test-labels", str(tmp_path / "tel.npy"),
        "--knn", "5,25", "--rnn", "3", "--threat", threat, "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    res = nncert.NeighbourIndex(train, ytr).certify(test, yte, k=[5, 25], r=3, threat=threat)
    res.write(tmp_path / "py")
    assert_same_files(tmp_path / "cli", tmp_path / "py")
    knn = nncert.KNNCertifier(25, threat=threat).fit(train, ytr)
    np.testing.assert_array_equal(knn.certify(test)[1], res.setting("knn", 25).e_star)


def test_full_mnist_with_the_paper_settings(tmp_path: Path) -> None:
    d = data_dir()
    if d is None:
        pytest.skip("NNCERT_DATA_DIR is not set")
    run_cli(
        "certify", "--dataset", "mnist", "--data-dir", str(d), "--knn", "5000", "--rnn", "4",
        "--joint", "island", "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    mnist = nncert.datasets.load_mnist(d)
    assert mnist.train_x.shape == (60000, 28, 28)
    index = nncert.NeighbourIndex(nncert.hog(mnist.train_x), mnist.train_y, rank_by=mnist.train_x)
    res = index.certify(nncert.hog(mnist.test_x), mnist.test_y, k=5000, r=4, joint=("island",))
    res.write(tmp_path / "py")
    assert_same_files(tmp_path / "cli", tmp_path / "py")
