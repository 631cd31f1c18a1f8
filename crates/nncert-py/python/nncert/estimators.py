"""Scikit-learn-style certifiers on NumPy arrays, without depending on scikit-learn.

Conventions: the constructor stores its parameters and nothing else; ``fit`` checks them,
indexes the training set and returns ``self``; fitted attributes end in ``_``;
``get_params`` / ``set_params`` make ``sklearn.base.clone`` and ``Pipeline`` work.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core
from . import _validation as v
from .results import Certificates


class NotFittedError(ValueError, AttributeError):
    """A certifier was used before ``fit``, and scikit-learn is not installed (with it,
    scikit-learn's own ``NotFittedError`` is raised, which derives from the same two)."""


def _not_fitted(name: str) -> Exception:
    message = f"{name} is not fitted yet: call fit(X, y) first"
    try:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    except ImportError:
        return NotFittedError(message)
    error: Exception = SklearnNotFittedError(message)
    return error


def _check_names(threat: str, joint: Optional[list[str]] = None) -> None:
    """Checks the threat and joint names with the compiled library's own parser (the list of
    names lives there), so that ``fit`` refuses a name ``certify`` would refuse."""
    _core.search_plan([], threat=threat)
    if joint is not None:
        try:
            _core.search_plan([], joint=joint)
        except ValueError as e:
            raise ValueError(f"joint: {e}") from None


ArrayLike = Any


class NeighbourIndex:
    """A training set indexed once, queried for several k and r at a time.

    ``X`` is ``(n_train, n_features)`` float32/float64/uint8 (other numeric dtypes become
    float64), ``y`` non-negative integer labels; the number of classes is
    ``max(y) + 1`` unless ``n_classes`` is given. Distance ties are broken by a rank that
    hashes each example's label and its row of ``X`` as stored (or its row of ``rank_by``,
    e.g. the images the features came from — what the CLI does for MNIST and CIFAR-10).
    """

    def __init__(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        n_classes: Optional[int] = None,
        rank_by: Optional[ArrayLike] = None,
        n_jobs: Optional[int] = None,
    ) -> None:
        x = v.as_matrix(X, "X")
        labels = v.as_labels(y, "y", x.shape[0])
        if n_classes is None and labels.size and int(labels.max()) >= v.MAX_CLASSES:
            raise ValueError(
                f"y: expected labels below {v.MAX_CLASSES} (nncert's limit on classes), "
                f"found {int(labels.max())}"
            )
        rank = None if rank_by is None else v.as_rows(rank_by, "rank_by", x.shape[0])
        self._core = _core.NeighbourIndex(
            x,
            labels,
            n_classes=v.check_n_classes(n_classes),
            rank_by=rank,
            n_jobs=v.threads(n_jobs),
        )

    @property
    def n_train(self) -> int:
        return self._core.n_train

    @property
    def n_features(self) -> int:
        return self._core.n_features

    @property
    def n_classes(self) -> int:
        return self._core.n_classes

    def _test(self, X: ArrayLike) -> np.ndarray[Any, Any]:
        x = v.as_matrix(X, "X")
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"X: expected {self.n_features} features (as in training), found {x.shape[1]}"
            )
        return x

    def search(
        self,
        X: ArrayLike,
        k: Union[int, Sequence[int], None] = None,
        r: Union[float, Sequence[float], None] = None,
        *,
        metric: str = "l1",
        neighbours: bool = False,
        n_jobs: Optional[int] = None,
    ) -> dict[str, Any]:
        """Votes for every k and r: ``{"knn": [(k, votes)], "rnn": [(r, votes, empty)]}``
        and, with ``neighbours=True``, ``"knn_neighbours"`` / ``"rnn_neighbours"`` as
        ``(indices, distances, offsets)`` (flat, nearest first)."""
        metric = v.check_choice(metric, "metric", v.METRICS)
        ks = [] if k is None else v.check_ks(k, "k")
        radii = [] if r is None else v.check_radii(r, "r", metric)
        if not ks and not radii:
            raise ValueError("k, r: expected at least one k or r")
        out: dict[str, Any] = self._core.search(
            self._test(X),
            ks,
            radii,
            metric=v.check_choice(metric, "metric", v.METRICS),
            neighbours=bool(neighbours),
            n_jobs=v.threads(n_jobs),
        )
        return out

    def certify(
        self,
        X: ArrayLike,
        y: ArrayLike,
        k: Union[int, Sequence[int], None] = None,
        r: Union[float, Sequence[float], None] = None,
        *,
        metric: str = "l1",
        joint: Union[str, Sequence[str], None] = None,
        seed: Optional[int] = None,
        max_e: Optional[int] = None,
        tie_rule: str = "larger",
        threat: str = "general",
        n_jobs: Optional[int] = None,
    ) -> Certificates:
        """Certificates and CA(e) curves of every k and r in one pass over the data
        (kNN: individual; rNN: individual and the ``joint`` ones, default ``("island",)``;
        ``joint`` given without any ``r`` is refused, and so is ``seed``, of the RD
        division, without ``"rd"`` or ``"rd-label"`` in ``joint``), against the ``threat``
        model: ``"general"`` (insertions, deletions, modifications; the paper's),
        ``"insert"``, ``"delete"`` or ``"flip"`` (labels only)."""
        metric = v.check_choice(metric, "metric", v.METRICS)
        ks = [] if k is None else v.check_ks(k, "k")
        radii = [] if r is None else v.check_radii(r, "r", metric)
        if not ks and not radii:
            raise ValueError("k, r: expected at least one k or r")
        x = self._test(X)
        labels = v.as_labels(y, "y", x.shape[0])
        if labels.size and int(labels.max()) >= self.n_classes:
            raise ValueError(
                f"y: expected labels below n_classes = {self.n_classes}, found {int(labels.max())}"
            )
        core = self._core.certify(
            x,
            labels,
            ks,
            radii,
            metric=v.check_choice(metric, "metric", v.METRICS),
            joint=None if joint is None else v.check_joint(joint),
            seed=None if seed is None else v.check_seed(seed),
            max_e=v.check_max_e(max_e, "max_e"),
            tie_rule=v.check_choice(tie_rule, "tie_rule", v.TIE_RULES),
            threat=v.check_threat(threat),
            n_jobs=v.threads(n_jobs),
        )
        return Certificates(core)


class _Certifier:
    """Parameters, fitting and the queries shared by both certifiers."""

    _method: str

    index_: NeighbourIndex
    classes_: npt.NDArray[np.int64]
    n_classes_: int
    n_features_in_: int
    n_samples_fit_: int

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> _Certifier:
        """Sets constructor parameters; takes effect at the next ``fit``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name}: not a parameter of {type(self).__name__} ({valid})")
            setattr(self, name, value)
        return self

    # scikit-learn recognises a classifier by these (without nncert depending on it).
    _estimator_type = "classifier"

    def __sklearn_tags__(self) -> Any:
        """Tags for scikit-learn ≥ 1.6 (imported only when scikit-learn asks)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(),
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={val!r}" for k, val in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        raise NotImplementedError

    def _search_args(self) -> tuple[list[int], list[float]]:
        raise NotImplementedError

    def _joint(self) -> list[str]:
        return []

    def fit(self, X: ArrayLike, y: ArrayLike, rank_by: Optional[ArrayLike] = None) -> Any:
        """Checks the parameters, indexes ``(X, y)`` and returns ``self``.

        ``rank_by`` (optional, one row per training example): the data whose bytes break
        distance ties instead of ``X``'s, e.g. the images ``X`` was computed from.
        """
        self._check_params()
        self.index_ = NeighbourIndex(
            X,
            y,
            n_classes=getattr(self, "n_classes", None),
            rank_by=rank_by,
            n_jobs=getattr(self, "n_jobs", None),
        )
        self.n_classes_ = self.index_.n_classes
        self.classes_ = np.arange(self.n_classes_, dtype=np.int64)
        self.n_features_in_ = self.index_.n_features
        self.n_samples_fit_ = self.index_.n_train
        return self

    def _fitted(self) -> NeighbourIndex:
        index: Optional[NeighbourIndex] = getattr(self, "index_", None)
        if index is None:
            raise _not_fitted(type(self).__name__)
        return index

    def _certify(
        self, X: ArrayLike, y: Optional[ArrayLike], joint: list[str], max_e: Optional[int]
    ) -> Certificates:
        index = self._fitted()
        ks, radii = self._search_args()
        x = index._test(X)
        labels = np.zeros(x.shape[0], dtype=np.int64) if y is None else y
        return index.certify(
            x,
            labels,
            ks,
            radii,
            metric=str(getattr(self, "metric", "l1")),
            joint=joint,
            # The RD seed only where RD may run: predict and certify ask for no joint
            # certification (fit has checked the seed against the estimator's joint).
            seed=getattr(self, "seed", None) if joint else None,
            max_e=max_e,
            tie_rule=str(getattr(self, "tie_rule", "larger")),
            threat=str(getattr(self, "threat", "general")),
            n_jobs=getattr(self, "n_jobs", None),
        )

    def votes(self, X: ArrayLike) -> npt.NDArray[np.int64]:
        """``(n, n_classes)`` vote counts of every row of ``X``."""
        index = self._fitted()
        ks, radii = self._search_args()
        out = index.search(
            X,
            ks,
            radii,
            metric=str(getattr(self, "metric", "l1")),
            n_jobs=getattr(self, "n_jobs", None),
        )
        votes: npt.NDArray[np.int64] = (out["knn"] or out["rnn"])[0][1]
        return votes

    def certify(self, X: ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(predicted, e_star)``: each prediction provably stays the same under every
        poisoning of size ≤ ``e_star`` (the individual certificate; it needs no label)."""
        # max_e stays None: under "delete" it also caps how far the exact kNN e* looks.
        s = self._certify(X, None, [], None).settings[0]
        return s.predicted, s.e_star

    def predict(self, X: ArrayLike) -> npt.NDArray[np.int64]:
        """Predicted labels (most votes; ties by ``tie_rule``)."""
        return self.certify(X)[0]

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """Clean accuracy (scikit-learn's classifier convention)."""
        labels = v.as_labels(y, "y")
        return float(np.mean(self.predict(X) == labels))

    def certified_accuracy(
        self, X: ArrayLike, y: ArrayLike, e: Optional[int] = None
    ) -> Certificates:
        """Certificates of ``(X, y)``: per-input ``e_star`` and CA(e) curves for every
        certification, for e = 0 … ``e`` (default: until every curve reaches 0)."""
        return self._certify(X, y, self._joint(), v.check_max_e(e, "e"))


class KNNCertifier(_Certifier):
    """k nearest neighbours with certificates against poisoning (individual certificate).

    Parameters: ``n_neighbors`` (k), ``metric`` (``"l1"``, ``"l2"``, ``"linf"``, ``"ip"``,
    ``"cosine"``; see docs/python.md),
    ``tie_rule`` (``"larger"``: the larger label wins equal votes, the paper's rule;
    ``"smaller"``), ``threat`` (``"general"``, the paper's model; ``"insert"`` and
    ``"delete"`` give exact kNN certificates from the ordered neighbours; ``"flip"``),
    ``n_classes`` (default ``max(y) + 1``), ``n_jobs`` (threads; ``None``:
    all cores or ``RAYON_NUM_THREADS``, ``-1``: all cores).
    """

    _method = "knn"

    def __init__(
        self,
        n_neighbors: int = 5,
        *,
        metric: str = "l1",
        tie_rule: str = "larger",
        threat: str = "general",
        n_classes: Optional[int] = None,
        n_jobs: Optional[int] = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.tie_rule = tie_rule
        self.threat = threat
        self.n_classes = n_classes
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        v.check_int(self.n_neighbors, "n_neighbors", 1)
        v.check_choice(self.metric, "metric", v.METRICS)
        v.check_choice(self.tie_rule, "tie_rule", v.TIE_RULES)
        _check_names(v.check_threat(self.threat))
        v.check_n_classes(self.n_classes)
        v.threads(self.n_jobs)

    def _search_args(self) -> tuple[list[int], list[float]]:
        return [v.check_int(self.n_neighbors, "n_neighbors", 1)], []

    def kneighbors(
        self,
        X: ArrayLike,
        n_neighbors: Optional[int] = None,
        return_distance: bool = True,
    ) -> Any:
        """The k nearest training examples of every row, nearest first, distance ties
        broken by the tie-break rank (the order the votes use): ``(distances, indices)``,
        each ``(n, min(k, n_train))``, or only ``indices``."""
        index = self._fitted()
        k = v.check_int(self.n_neighbors if n_neighbors is None else n_neighbors, "n_neighbors", 1)
        out = index.search(X, [k], [], metric=str(self.metric), neighbours=True, n_jobs=self.n_jobs)
        ind, dist, offsets = out["knn_neighbours"]
        n = len(offsets) - 1
        width = min(k, index.n_train)
        indices = ind.reshape(n, width)
        distances = dist.astype(np.float64).reshape(n, width)
        return (distances, indices) if return_distance else indices


class RNNCertifier(_Certifier):
    """Radius nearest neighbours (every training example within ``radius`` votes) with
    individual and joint certificates against poisoning.

    Parameters: ``radius`` (r; distance ≤ r), ``metric``, ``joint`` (joint certifications
    besides the individual one: any of ``"island"``, ``"rd"``, ``"polish"``,
    ``"cluster"``, ``"island-label"``, ``"rd-label"``, ``"polish-label"``,
    ``"cluster-label"``, ``"lp"``, ``"lp-label"``, ``"search-label"`` (general threat
    only), ``"best"``;
    ``()`` for none), ``seed`` (of the RD division; default ``None``, i.e. 0, and refused
    unless ``joint`` has ``"rd"`` or ``"rd-label"``), ``tie_rule``, ``threat`` (``"general"``,
    ``"insert"``, ``"delete"``, ``"flip"``), ``n_classes``, ``n_jobs``.
    A test input with no training example within ``radius`` gets zero votes everywhere
    and is predicted by the tie rule alone (the largest label with ``"larger"``).
    """

    _method = "rnn"

    def __init__(
        self,
        radius: float = 4.0,
        *,
        metric: str = "l1",
        joint: Sequence[str] = ("island",),
        seed: Optional[int] = None,
        tie_rule: str = "larger",
        threat: str = "general",
        n_classes: Optional[int] = None,
        n_jobs: Optional[int] = None,
    ) -> None:
        self.radius = radius
        self.metric = metric
        self.joint = joint
        self.seed = seed
        self.tie_rule = tie_rule
        self.threat = threat
        self.n_classes = n_classes
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        v.check_choice(self.metric, "metric", v.METRICS)
        v.check_radius(self.radius, "radius", self.metric)
        seed = None if self.seed is None else v.check_seed(self.seed)
        v.check_choice(self.tie_rule, "tie_rule", v.TIE_RULES)
        joint = v.check_joint(self.joint)
        _check_names(v.check_threat(self.threat), joint)
        # A seed without an RD division is refused here, as certify would (same message).
        _core.check_neighbour_params(False, True, joint=joint, seed=seed)
        v.check_n_classes(self.n_classes)
        v.threads(self.n_jobs)

    def _search_args(self) -> tuple[list[int], list[float]]:
        return [], [v.check_radius(self.radius, "radius", self.metric)]

    def _joint(self) -> list[str]:
        return v.check_joint(self.joint)

    def radius_neighbors(
        self,
        X: ArrayLike,
        radius: Optional[float] = None,
        return_distance: bool = True,
    ) -> Any:
        """Every training example within ``radius`` (default: the fitted one) of every
        row, nearest first with ties broken by the tie-break rank: ``(distances,
        indices)``, each an object array of 1-D arrays (as scikit-learn), or only
        ``indices``."""
        index = self._fitted()
        r = v.check_radius(self.radius if radius is None else radius, "radius", self.metric)
        out = index.search(X, [], [r], metric=str(self.metric), neighbours=True, n_jobs=self.n_jobs)
        ind, dist, offsets = out["rnn_neighbours"]
        n = len(offsets) - 1
        indices = np.empty(n, dtype=object)
        distances = np.empty(n, dtype=object)
        for i in range(n):
            indices[i] = ind[offsets[i] : offsets[i + 1]]
            distances[i] = dist[offsets[i] : offsets[i + 1]].astype(np.float64)
        return (distances, indices) if return_distance else indices
