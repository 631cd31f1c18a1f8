"""Certificates of votes that came from anywhere (the CLI's ``certify-votes``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from . import _core
from . import _validation as v
from .results import Certificates

KINDS = ("knn", "rnn", "dpa", "bagging")


def certify_votes(
    votes: Any,
    labels: Any,
    kind: str = "knn",
    *,
    param: str = "",
    joint: Union[str, Sequence[str], None] = None,
    seed: Optional[int] = None,
    max_e: Optional[int] = None,
    tie_rule: str = "larger",
    threat: str = "general",
    units: Optional[str] = None,
    models: Optional[int] = None,
    subsample: Optional[int] = None,
    train_size: Optional[int] = None,
    alpha: Optional[float] = None,
) -> Certificates:
    """Certifies a ``(n_test, n_classes)`` matrix of non-negative vote counts against true
    ``labels``.

    ``kind``: ``"knn"`` (individual certificate), ``"rnn"`` (individual and ``joint``,
    default ``("island",)``), ``"dpa"`` (votes of ζ partition classifiers; ``units``
    ``"poisoning"`` or ``"insdel"``) or ``"bagging"`` (votes of ``models`` classifiers
    trained on ``subsample`` of ``train_size`` examples, confidence ``alpha``). DPA and
    bagging use their own tie rule (the smaller label wins). ``threat``: ``"general"`` (the
    paper's model), ``"insert"``, ``"delete"`` or ``"flip"`` (kNN from votes alone keeps the
    general certificate, sound for every threat; DPA and bagging accept only ``"general"``).
    The options are the CLI's, with its rules: a parameter that does not apply to ``kind``
    (``seed`` without ``"rd"`` or ``"rd-label"`` in ``joint``, ``units`` outside DPA,
    ``models``/``subsample``/``train_size``/``alpha`` outside bagging) raises ``ValueError``
    naming it. Defaults: ``seed`` 0, ``units`` ``"poisoning"``, ``alpha`` 0.001.
    """
    kind = v.check_choice(kind, "kind", KINDS)
    counts = v.as_votes(votes, "votes")
    y = v.as_labels(labels, "labels", counts.shape[0])
    # kNN rows must all sum to the same k ≥ 1: checked by the library (the CLI's words).
    if not isinstance(param, str):
        param = str(param)
    joint_names = None if joint is None else v.check_joint(joint)
    if kind == "knn" and joint_names:
        raise ValueError("joint: joint certification is only defined for rNN, not for kind='knn'")
    opt = {k: val for k, val in (("models", models), ("train_size", train_size)) if val is not None}
    for name, value in opt.items():
        v.check_int(value, name, 1)
    if subsample is not None:
        v.check_int(subsample, "subsample", 1)
        if subsample >= 2**32:
            raise ValueError(f"subsample: expected below 2**32, found {subsample}")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))):
        raise TypeError(f"alpha: expected a number, found {type(alpha).__name__}")
    core = _core.certify_votes(
        counts,
        y,
        kind,
        param=param,
        joint=joint_names,
        seed=None if seed is None else v.check_seed(seed),
        max_e=v.check_max_e(max_e, "max_e"),
        tie_rule=v.check_choice(tie_rule, "tie_rule", v.TIE_RULES),
        threat=v.check_threat(threat),
        units=None if units is None else v.check_choice(units, "units", ("poisoning", "insdel")),
        models=models,
        subsample=subsample,
        train_size=train_size,
        alpha=None if alpha is None else float(alpha),
    )
    return Certificates(core)
