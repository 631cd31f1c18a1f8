"""Hostile inputs raise ValueError or TypeError naming the argument, never a Rust panic
(pyo3's PanicException derives from BaseException, so pytest.raises would not catch it)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import nncert

X = np.arange(12, dtype=np.float32).reshape(6, 2)
Y = np.array([0, 1, 0, 1, 2, 2])


def fitted_knn() -> nncert.KNNCertifier:
    return nncert.KNNCertifier(3).fit(X, Y)


CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("1-D X", lambda: nncert.KNNCertifier().fit(np.arange(6.0), Y), "X"),
    ("3-D X", lambda: nncert.KNNCertifier().fit(np.zeros((6, 2, 2)), Y), "X"),
    ("empty X", lambda: nncert.KNNCertifier().fit(np.zeros((0, 2)), []), "X"),
    ("no columns", lambda: nncert.KNNCertifier().fit(np.zeros((6, 0)), Y), "X"),
    ("NaN", lambda: nncert.KNNCertifier().fit(np.where(X == 3, np.nan, X), Y), "X"),
    ("inf", lambda: nncert.KNNCertifier().fit(np.where(X == 3, np.inf, X), Y), "X"),
    (
        "float64 beyond float32",
        lambda: nncert.KNNCertifier().fit(X.astype(np.float64) * 1e300, Y),
        "X",
    ),
    # Audit finding 13: the value was printed with all its 300 digits.
    (
        "float64 beyond float32, shortened",
        lambda: nncert.KNNCertifier().fit(X.astype(np.float64) * 1e300, Y),
        "X: expected finite values, found 1e300 (outside the float32 range) at row 0, column 1",
    ),
    ("strings", lambda: nncert.KNNCertifier().fit(np.array([["a", "b"]] * 6), Y), "X"),
    ("objects", lambda: nncert.KNNCertifier().fit(np.array([[None, 1]] * 6), Y), "X"),
    ("ragged", lambda: nncert.KNNCertifier().fit([[1.0], [1.0, 2.0]], [0, 1]), "X"),
    ("complex", lambda: nncert.KNNCertifier().fit(X.astype(np.complex64), Y), "X"),
    ("label count", lambda: nncert.KNNCertifier().fit(X, Y[:5]), "y"),
    ("negative label", lambda: nncert.KNNCertifier().fit(X, -Y), "y"),
    ("float labels", lambda: nncert.KNNCertifier().fit(X, Y.astype(float)), "y"),
    ("2-D labels", lambda: nncert.KNNCertifier().fit(X, Y[:, None]), "y"),
    ("huge label", lambda: nncert.KNNCertifier().fit(X, Y.astype(np.uint64) * 2**40), "y"),
    ("label ≥ n_classes", lambda: nncert.KNNCertifier(n_classes=2).fit(X, Y), "n_classes"),
    ("n_classes 1", lambda: nncert.KNNCertifier(n_classes=1).fit(X, Y), "n_classes"),
    ("huge n_classes", lambda: nncert.KNNCertifier(n_classes=10**12).fit(X, Y), "n_classes"),
    # Audit finding 13: the range was 2..=9223372036854775807 here, 2..=65536 there.
    (
        "n_classes above the limit",
        lambda: nncert.KNNCertifier(n_classes=70000).fit(X, Y),
        "n_classes: expected an integer in 2..=65536, found 70000",
    ),
    (
        "n_classes far above the limit",
        lambda: nncert.NeighbourIndex(X, Y, n_classes=2**63),
        "n_classes: expected an integer in 2..=65536, found 9223372036854775808",
    ),
    ("k = 0", lambda: nncert.KNNCertifier(0).fit(X, Y), "n_neighbors"),
    ("k negative", lambda: nncert.KNNCertifier(-1).fit(X, Y), "n_neighbors"),
    ("k float", lambda: nncert.KNNCertifier(2.5).fit(X, Y), "n_neighbors"),  # type: ignore[arg-type]
    ("k bool", lambda: nncert.KNNCertifier(True).fit(X, Y), "n_neighbors"),
    ("k huge", lambda: fitted_knn().kneighbors(X, n_neighbors=2**70), "n_neighbors"),
    ("metric", lambda: nncert.KNNCertifier(metric="hamming").fit(X, Y), "metric"),
    ("tie rule", lambda: nncert.KNNCertifier(tie_rule="random").fit(X, Y), "tie_rule"),
    ("n_jobs 0", lambda: nncert.KNNCertifier(n_jobs=0).fit(X, Y), "n_jobs"),
    ("radius NaN", lambda: nncert.RNNCertifier(float("nan")).fit(X, Y), "radius"),
    ("radius negative", lambda: nncert.RNNCertifier(-1.0).fit(X, Y), "radius"),
    ("radius inf", lambda: nncert.RNNCertifier(float("inf")).fit(X, Y), "radius"),
    ("radius text", lambda: nncert.RNNCertifier("4").fit(X, Y), "radius"),  # type: ignore[arg-type]
    (
        "joint unknown",
        lambda: nncert.RNNCertifier(joint=("nope",)).fit(X, Y).certified_accuracy(X, Y),
        "certification",
    ),
    (
        "joint individual",
        lambda: nncert.RNNCertifier(joint=("individual",)).fit(X, Y).certified_accuracy(X, Y),
        "individual",
    ),
    ("joint not strings", lambda: nncert.RNNCertifier(joint=(1,)).fit(X, Y), "joint"),  # type: ignore[arg-type]
    ("threat unknown", lambda: nncert.KNNCertifier(threat="poison").fit(X, Y).predict(X), "threat"),
    ("threat type", lambda: nncert.RNNCertifier(threat=1).fit(X, Y), "threat"),  # type: ignore[arg-type]
    (
        "dpa threat",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "dpa", threat="insert"),
        "threat",
    ),
    ("seed negative", lambda: nncert.RNNCertifier(seed=-1).fit(X, Y), "seed"),
    ("seed huge", lambda: nncert.RNNCertifier(seed=2**64).fit(X, Y), "seed"),
    ("unfitted", lambda: nncert.KNNCertifier().predict(X), "fit"),
    ("test width", lambda: fitted_knn().predict(np.zeros((2, 3))), "X"),
    ("test NaN", lambda: fitted_knn().predict(np.array([[np.nan, 1.0]])), "X"),
    ("test labels ≥ c", lambda: fitted_knn().certified_accuracy(X, Y + 5), "y"),
    ("test label count", lambda: fitted_knn().certified_accuracy(X, Y[:2]), "y"),
    ("e negative", lambda: fitted_knn().certified_accuracy(X, Y, e=-1), "e"),
    ("e too large", lambda: fitted_knn().certified_accuracy(X, Y, e=10**9), "max-e"),
    ("rank_by rows", lambda: nncert.KNNCertifier().fit(X, Y, rank_by=np.zeros((5, 2))), "rank_by"),
    ("votes negative", lambda: nncert.certify_votes(np.array([[1, -1]]), [0]), "votes"),
    ("votes too large", lambda: nncert.certify_votes(np.array([[1, 2**33]]), [0]), "votes"),
    (
        "votes uint64",
        lambda: nncert.certify_votes(np.array([[1, 2**64 - 1]], dtype=np.uint64), [0]),
        "votes",
    ),
    ("votes float", lambda: nncert.certify_votes(np.array([[1.0, 2.0]]), [0]), "votes"),
    ("votes one class", lambda: nncert.certify_votes(np.array([[1]]), [0]), "votes"),
    ("votes empty", lambda: nncert.certify_votes(np.zeros((0, 2), dtype=int), []), "votes"),
    ("votes 1-D", lambda: nncert.certify_votes(np.array([1, 2]), [0]), "votes"),
    (
        "knn rows of different k",
        lambda: nncert.certify_votes(np.array([[1, 2], [1, 1]]), [0, 0]),
        "row 1",
    ),
    ("votes label ≥ c", lambda: nncert.certify_votes(np.array([[1, 2]]), [2]), "labels"),
    ("votes label count", lambda: nncert.certify_votes(np.array([[1, 2]]), [0, 1]), "labels"),
    ("votes kind", lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "svm"), "kind"),
    (
        "knn joint",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "knn", joint="island"),
        "joint",
    ),
    (
        "dpa joint",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "dpa", joint="island"),
        "joint",
    ),
    (
        "bagging without models",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "bagging"),
        "models",
    ),
    (
        "bagging alpha",
        lambda: nncert.certify_votes(
            np.array([[1, 2]]), [0], "bagging", models=3, subsample=2, train_size=10, alpha=2.0
        ),
        "alpha",
    ),
    ("param newline", lambda: nncert.certify_votes(np.array([[1, 2]]), [0], param="a\nb"), "param"),
    ("max_e huge", lambda: nncert.certify_votes(np.array([[1, 2]]), [0], max_e=10**12), "max-e"),
    ("units", lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "dpa", units="x"), "units"),
    ("hog dtype", lambda: nncert.hog(np.zeros((2, 28, 28))), "images"),
    ("hog ndim", lambda: nncert.hog(np.zeros((28, 28), dtype=np.uint8)), "images"),
    ("hog too small", lambda: nncert.hog(np.zeros((2, 8, 8), dtype=np.uint8)), "HOG"),
    (
        "hog orientations",
        lambda: nncert.hog(np.zeros((1, 28, 28), dtype=np.uint8), orientations=0),
        "orientations",
    ),
    (
        "hog cells",
        lambda: nncert.hog(np.zeros((1, 28, 28), dtype=np.uint8), pixels_per_cell=(0, 8)),
        "pixels_per_cell",
    ),
    (
        "hog norm",
        lambda: nncert.hog(np.zeros((1, 28, 28), dtype=np.uint8), block_norm="L3"),
        "block_norm",
    ),
    ("hog no images", lambda: nncert.hog(np.zeros((0, 28, 28), dtype=np.uint8)), "images"),
    ("no data dir", lambda: nncert.datasets.load_mnist("/nonexistent/nncert"), "nonexistent"),
    # Audit finding 10: a setting given twice was certified and reported twice.
    (
        "k twice",
        lambda: nncert.NeighbourIndex(X, Y).certify(X, Y, k=[3, 3]),
        "k: 3 is given twice",
    ),
    (
        "r twice as int and float",
        lambda: nncert.NeighbourIndex(X, Y).certify(X, Y, r=[1.0, 1]),
        "r: 1.0 is given twice",
    ),
    # Audit finding 11: fit accepted names that only certify refused.
    ("fit threat", lambda: nncert.KNNCertifier(3, threat="x").fit(X, Y), "threat: "),
    ("fit joint", lambda: nncert.RNNCertifier(1.0, joint=("x",)).fit(X, Y), "joint: "),
    # Audit finding 11: parameters that do not apply were ignored (the CLI refuses them).
    (
        "rnn votes with models",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "rnn", models=20),
        "models: applies to bagging only",
    ),
    (
        "rnn votes with units",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "rnn", units="insdel"),
        "units: applies to DPA votes only",
    ),
    (
        "dpa votes with alpha",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "dpa", alpha=0.1),
        "alpha: applies to bagging only",
    ),
    # Audit finding 13: "row 0 has 0 votes and row 0 has 0"; now the library's words.
    (
        "all-zero kNN row",
        lambda: nncert.certify_votes(np.array([[0, 0], [1, 1]]), [0, 1], "knn"),
        "votes: row 0 has no votes: kNN votes count the k ≥ 1 nearest",
    ),
    (
        "seed without rd",
        lambda: nncert.certify_votes(np.array([[1, 2]]), [0], "knn", seed=3),
        "seed: seeds the RD division",
    ),
    (
        "joint without r",
        lambda: nncert.NeighbourIndex(X, Y).certify(X, Y, k=[3], joint=("island",)),
        "joint: joint certification applies to rNN only",
    ),
    (
        "seed without rd in NeighbourIndex.certify",
        lambda: nncert.NeighbourIndex(X, Y).certify(X, Y, r=[1.0], seed=3),
        "seed: seeds the RD division",
    ),
    (
        "seed without rd refused at fit",
        lambda: nncert.RNNCertifier(1.0, seed=3).fit(X, Y),
        "seed: seeds the RD division",
    ),
    (
        "seed with joint none refused at fit",
        lambda: nncert.RNNCertifier(1.0, joint=(), seed=0).fit(X, Y),
        "seed: seeds the RD division",
    ),
    (
        "load_npy from /dev/zero",
        lambda: nncert.datasets.load_npy("/dev/zero", "/dev/zero", "/dev/zero", "/dev/zero"),
        "/dev/zero",
    ),
]


@pytest.mark.parametrize(("name", "call", "mentions"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input_raises_a_named_error(
    name: str, call: Callable[[], Any], mentions: str
) -> None:
    with pytest.raises((ValueError, TypeError, AttributeError, OSError)) as info:
        call()
    assert mentions in str(info.value), f"{name}: {info.value}"


def test_unsupported_layouts_and_dtypes_are_converted_not_refused() -> None:
    base = nncert.KNNCertifier(3).fit(X, Y).votes(X)
    for variant in (
        np.asfortranarray(X),
        X.astype(">f4"),
        X.astype(np.int16),
        X.astype(np.float16),
        X[::1, :],
        np.repeat(X, 2, axis=1)[:, ::2],
        X.tolist(),
    ):
        np.testing.assert_array_equal(nncert.KNNCertifier(3).fit(variant, Y).votes(X), base)


def test_corrupt_npy_file_raises_value_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00garbage")
    np.save(tmp_path / "l.npy", Y)
    with pytest.raises(ValueError, match=r"bad\.npy"):
        nncert.datasets.load_npy(bad, tmp_path / "l.npy", bad, tmp_path / "l.npy")


def test_a_parameter_left_at_its_default_is_not_given() -> None:
    """The certifiers pass a parameter only when the user set it: a default seed (None)
    with the default joint, or a seed with rd, is accepted, and clone keeps None."""
    rnn = nncert.RNNCertifier(1.0).fit(X, Y)
    assert rnn.get_params()["seed"] is None
    rnn.certified_accuracy(X, Y)
    with_rd = nncert.RNNCertifier(1.0, joint=("island", "rd"), seed=3).fit(X, Y)
    again = nncert.RNNCertifier(**with_rd.get_params()).fit(X, Y)
    assert (
        with_rd.certified_accuracy(X, Y).curves_csv() == again.certified_accuracy(X, Y).curves_csv()
    )
    # kNN never has a seed: its queries must not pass one either.
    nncert.KNNCertifier(3).fit(X, Y).certified_accuracy(X, Y)
    # The default seed of NeighbourIndex.certify is the RD seed 0.
    index = nncert.NeighbourIndex(X, Y)
    a = index.certify(X, Y, r=[1.0], joint=("rd",))
    b = index.certify(X, Y, r=[1.0], joint=("rd",), seed=0)
    assert a.curves_csv() == b.curves_csv()


def test_a_missing_file_is_file_not_found_with_the_os_reason(tmp_path: Path) -> None:
    # The OS's reason is part of the message (it was dropped before), the exception is the
    # errno's subclass of OSError, and a control character in the path is escaped.
    missing = tmp_path / "no\nsuch.npy"
    with pytest.raises(FileNotFoundError) as info:
        nncert.datasets.load_npy(missing, missing, missing, missing)
    assert info.value.errno == errno.ENOENT
    text = str(info.value)
    assert "No such file or directory" in text, text
    assert "no\\nsuch.npy" in text and "\n" not in text, text


def test_an_output_directory_under_a_file_is_not_a_directory_error(tmp_path: Path) -> None:
    # The staging directory's error comes through tempfile without an error number: the
    # subclass is then chosen by its kind (it was a plain OSError).
    (tmp_path / "file.txt").write_text("x")
    result = nncert.certify_votes(np.array([[5, 1], [1, 4]]), np.array([0, 1]), kind="rnn")
    with pytest.raises(NotADirectoryError) as info:
        result.write(tmp_path / "file.txt" / "out")
    assert "file.txt/out: cannot create the output directory here" in str(info.value)
