"""Certificates from Python against a pure-NumPy reference of the formulas (docs/python.md,
README "The certificates in plain words"), on random votes."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nncert


def reference_prediction(row: np.ndarray[Any, Any], tie: str) -> tuple[int, int]:
    """Predicted label and runner-up by a full sort: most votes first, equal votes by the
    tie rule (larger or smaller label first)."""
    labels = list(range(len(row)))
    key = (lambda lab: (-row[lab], -lab)) if tie == "larger" else (lambda lab: (-row[lab], lab))
    order = sorted(labels, key=key)
    return order[0], order[1]


def reference_e_star(row: np.ndarray[Any, Any], tie: str) -> tuple[int, int]:
    a, b = reference_prediction(row, tie)
    wins = (a > b) if tie == "larger" else (a < b)
    g = int(row[a]) - int(row[b]) + int(wins)
    return a, -(-g // 2) - 1  # e* = ceil(g / 2) − 1


@st.composite
def votes_and_labels(draw: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    n = draw(st.integers(1, 25))
    c = draw(st.integers(2, 5))
    # Small counts make ties frequent.
    counts = draw(st.lists(st.integers(0, 12), min_size=n * c, max_size=n * c))
    labels = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return np.array(counts, dtype=np.int64).reshape(n, c), np.array(labels, dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(votes_and_labels(), st.sampled_from(["larger", "smaller"]), st.sampled_from(["knn", "rnn"]))
def test_individual_certificates_match_the_formula(
    data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], tie: str, kind: str
) -> None:
    votes, labels = data
    if kind == "knn":  # k nearest: every row sums to the same k; pad a last column to make it so
        votes = np.hstack([votes, (votes.sum(axis=1).max() + 1 - votes.sum(axis=1))[:, None]])
    res = nncert.certify_votes(votes, labels, kind, tie_rule=tie, joint=())
    expected = [reference_e_star(row, tie) for row in votes]
    np.testing.assert_array_equal(res.predicted, [a for a, _ in expected])
    np.testing.assert_array_equal(res.e_star, [e for _, e in expected])
    correct = res.predicted == labels
    individual = res.certified["individual"]
    for e in range(len(individual)):
        assert individual[e] == int(np.sum(correct & (res.e_star >= e)))
    # The curve runs until every curve is 0 (that e included).
    assert individual[-1] == 0
    np.testing.assert_allclose(res.curves["individual"], individual / len(labels))


@settings(max_examples=100, deadline=None)
@given(votes_and_labels(), st.integers(0, 2**32))
def test_joint_curves_are_sound_relative_to_each_other(
    data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], seed: int
) -> None:
    votes, labels = data
    res = nncert.certify_votes(votes, labels, "rnn", joint=("island", "rd", "best"), seed=seed)
    c = res.certified
    assert list(c) == ["individual", "island", "rd", "best"]
    clean = int(np.sum(res.predicted == labels))
    for name, curve in c.items():
        assert curve[0] <= clean, name
        assert np.all(np.diff(curve) <= 0), f"{name} must be non-increasing"
    # A joint bound is never below the individual one at e where it can use it, and best
    # is the pointwise maximum of the others and of island-label and search-label (never
    # below cluster-label), which best includes under the general threat (docs/JOINT.md).
    extra = nncert.certify_votes(
        votes, labels, "rnn", joint=("island-label", "search-label")
    ).certified
    n = len(c["best"])

    def padded(curve: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.pad(curve, (0, max(0, n - len(curve))))[:n]

    np.testing.assert_array_equal(
        c["best"],
        np.maximum.reduce(
            [
                c["individual"],
                c["island"],
                c["rd"],
                padded(extra["island-label"]),
                padded(extra["search-label"]),
            ]
        ),
    )
    assert np.all(c["island"] >= c["individual"])


@settings(max_examples=60, deadline=None)
@given(votes_and_labels())
def test_max_e_truncates_without_changing_values(
    data: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
) -> None:
    votes, labels = data
    full = nncert.certify_votes(votes, labels, "rnn")
    short = nncert.certify_votes(votes, labels, "rnn", max_e=2)
    long = nncert.certify_votes(votes, labels, "rnn", max_e=40)
    for name in full.certified:
        f = np.pad(full.certified[name], (0, 64))
        np.testing.assert_array_equal(short.certified[name], f[:3])
        np.testing.assert_array_equal(long.certified[name], f[:41])


def test_dpa_uses_the_smaller_label_rule() -> None:
    # Two partitions vote 0, two vote 1: DPA's rule (smaller label wins) predicts 0.
    res = nncert.certify_votes(np.array([[2, 2, 0]]), np.array([0]), "dpa")
    assert res.predicted.tolist() == [0]
    assert res.report()["tie_rule"] == "smaller"


def test_certify_votes_is_fast_enough_to_use_interactively() -> None:
    # Not a timed assertion: the benchmark is in BENCHMARKS.md; this only exercises size.
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 3000, size=(2000, 10))
    labels = rng.integers(0, 10, size=2000)
    res = nncert.certify_votes(votes, labels, "rnn", max_e=3000)
    assert res.certified["island"].shape == (3001,)
