"""Scikit-learn conventions: clone, Pipeline, get_params/set_params."""

from __future__ import annotations

import numpy as np
import pytest

import nncert

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def blobs(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(size=(n, 4)) + y[:, None] * 3.0
    return x, y


@pytest.mark.parametrize(
    "est",
    [
        nncert.KNNCertifier(7, metric="l2", tie_rule="smaller"),
        nncert.RNNCertifier(3.0, joint=("island", "rd"), seed=5),
    ],
)
def test_clone_keeps_parameters_and_drops_fitted_state(est: nncert.KNNCertifier) -> None:
    x, y = blobs()
    est.fit(x, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "index_")
    np.testing.assert_array_equal(twin.fit(x, y).predict(x), est.predict(x))


def test_constructor_only_stores_and_fit_validates() -> None:
    est = nncert.KNNCertifier(n_neighbors=-3)  # no error yet (scikit-learn convention)
    with pytest.raises(ValueError, match="n_neighbors"):
        est.fit(*blobs())
    est.set_params(n_neighbors=3)
    assert est.get_params()["n_neighbors"] == 3
    assert est.fit(*blobs()) is est
    assert est.n_features_in_ == 4 and est.n_classes_ == 3
    assert est.classes_.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="not a parameter"):
        est.set_params(k=3)


def test_pipeline_after_a_scaler() -> None:
    x, y = blobs()
    pipe = make_pipeline(StandardScaler(), nncert.KNNCertifier(5, metric="l2"))
    pipe.fit(x, y)
    assert pipe.score(x, y) > 0.9
    scaled = StandardScaler().fit(x).transform(x)
    knn = nncert.KNNCertifier(5, metric="l2").fit(scaled, y)
    np.testing.assert_array_equal(pipe.predict(x), knn.predict(scaled))
    # The certifier at the end of the pipeline certifies the scaled inputs.
    res = pipe[-1].certified_accuracy(pipe[:-1].transform(x), y)
    assert res.certified["individual"][0] == int(np.sum(knn.predict(scaled) == y))


def test_cross_validation() -> None:
    x, y = blobs()
    scores = cross_val_score(nncert.RNNCertifier(4.0, metric="l2"), x, y, cv=3)
    assert scores.shape == (3,)


def test_use_before_fit_raises_not_fitted_error() -> None:
    """Audit finding 13: predict before fit raised AttributeError; scikit-learn's checks
    expect its NotFittedError (a ValueError and an AttributeError)."""
    from sklearn.exceptions import NotFittedError

    for est in (nncert.KNNCertifier(3), nncert.RNNCertifier(1.0)):
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            est.predict(np.zeros((2, 2)))
    assert issubclass(nncert.NotFittedError, ValueError)
    assert issubclass(nncert.NotFittedError, AttributeError)
