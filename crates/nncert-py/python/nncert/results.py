"""Result objects: certificates and CA(e) curves, printable, convertible, writable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core


def _same_param(text: str, param: Union[str, float]) -> bool:
    """A setting's parameter text against a number (k or r) or a text."""
    if isinstance(param, str):
        return text == param
    try:
        return float(text) == float(param)
    except ValueError:
        return False


class Setting:
    """The certificates of one classifier setting (one k, one r, one DPA ζ, …).

    Attributes (NumPy arrays have one entry per test input unless said otherwise):

    - ``method`` (``"knn"``, ``"rnn"``, ``"dpa"``, ``"bagging"``), ``param`` (k, r, … as text);
    - ``clean_accuracy``: the fraction of test inputs predicted correctly, rounded down to
      6 decimals — the number ``report.json`` writes;
    - ``votes`` ``(n_test, n_classes)``, ``labels``, ``predicted``, ``runner_up``,
      ``votes_predicted``, ``votes_runner_up``;
    - ``e_star``: the largest poisoning size under which the prediction provably does not
      change (``-1``: not certified even at e = 0, which only bagging produces);
    - ``e``: ``0, 1, …, max_e``; ``certified[name]``: how many test inputs are certified
      correct at each e, for every certification ``name`` computed (``individual`` first,
      then e.g. ``island``, ``rd``, ``best``); ``curves[name]``: the same as fractions.
    """

    method: str
    param: str
    n_test: int
    n_classes: int
    max_e: int
    clean_accuracy: float
    empty_neighbourhoods: Optional[int]
    votes: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.int64]
    runner_up: npt.NDArray[np.int64]
    votes_predicted: npt.NDArray[np.int64]
    votes_runner_up: npt.NDArray[np.int64]
    e_star: npt.NDArray[np.int64]
    e: npt.NDArray[np.int64]
    certified: dict[str, npt.NDArray[np.int64]]
    curves: dict[str, npt.NDArray[np.float64]]

    def __init__(self, raw: dict[str, Any]) -> None:
        self.method = str(raw["method"])
        self.param = str(raw["param"])
        self.n_test = int(raw["n_test"])
        self.n_classes = int(raw["n_classes"])
        self.max_e = int(raw["max_e"])
        self.clean_accuracy = float(raw["clean_accuracy"])
        empty = raw["empty_neighbourhoods"]
        self.empty_neighbourhoods = None if empty is None else int(empty)
        for name in (
            "votes",
            "labels",
            "predicted",
            "runner_up",
            "votes_predicted",
            "votes_runner_up",
            "e_star",
        ):
            setattr(self, name, raw[name])
        self.e = np.arange(self.max_e + 1, dtype=np.int64)
        names = [str(n) for n in raw["certifications"]]
        table = raw["certified"]
        self.certified = {n: table[i] for i, n in enumerate(names)}
        self.curves = {n: c / self.n_test for n, c in self.certified.items()}

    @property
    def certifications(self) -> list[str]:
        """The certifications computed, ``individual`` first."""
        return list(self.certified)

    def certified_accuracy(self, e: int, certification: str = "individual") -> float:
        """CA(e) as a fraction (0 beyond the end of the curve)."""
        counts = self.certified[certification]
        return float(counts[e]) / self.n_test if 0 <= e < len(counts) else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists, ints, strings), ready for ``json.dumps``."""
        return {
            "method": self.method,
            "param": self.param,
            "n_test": self.n_test,
            "n_classes": self.n_classes,
            "max_e": self.max_e,
            "clean_accuracy": self.clean_accuracy,
            "empty_neighbourhoods": self.empty_neighbourhoods,
            "e_star": self.e_star.tolist(),
            "predicted": self.predicted.tolist(),
            "labels": self.labels.tolist(),
            "certified": {n: c.tolist() for n, c in self.certified.items()},
        }

    def __repr__(self) -> str:
        return (
            f"<Setting {self.method} {self.param}: {self.n_test} test inputs, "
            f"clean accuracy {self.clean_accuracy}, certifications "
            f"{', '.join(self.certifications)}, e up to {self.max_e}>"
        )


class Certificates:
    """Certificates of one or more settings, as ``nncert certify`` computes them.

    ``settings`` lists them (kNN first, then rNN, each in the order asked). With a single
    setting, its attributes (``curves``, ``e_star``, ``predicted``, …) are available here
    directly. ``print(result)`` shows the CLI's summary table; ``write(dir)`` writes the
    CLI's ``curves.csv``, ``examples.csv`` and ``report.json``.
    """

    settings: list[Setting]

    def __init__(self, core: _core.Certified) -> None:
        self._core = core
        self.settings = [Setting(raw) for raw in core.settings()]

    def _single(self) -> Setting:
        if len(self.settings) != 1:
            raise AttributeError(
                f"this result holds {len(self.settings)} settings; use .settings[i] or .setting()"
            )
        return self.settings[0]

    def setting(self, method: str, param: Union[str, float]) -> Setting:
        """The setting of ``method`` (``"knn"``, ``"rnn"``, …) with parameter ``param``."""
        for s in self.settings:
            if s.method == method and _same_param(s.param, param):
                return s
        have = [(s.method, s.param) for s in self.settings]
        raise KeyError(f"no setting {method} {param}; have {have}")

    # Single-setting shortcuts.
    @property
    def curves(self) -> dict[str, npt.NDArray[np.float64]]:
        return self._single().curves

    @property
    def certified(self) -> dict[str, npt.NDArray[np.int64]]:
        return self._single().certified

    @property
    def e(self) -> npt.NDArray[np.int64]:
        return self._single().e

    @property
    def e_star(self) -> npt.NDArray[np.int64]:
        return self._single().e_star

    @property
    def predicted(self) -> npt.NDArray[np.int64]:
        return self._single().predicted

    @property
    def votes(self) -> npt.NDArray[np.int64]:
        return self._single().votes

    def certified_accuracy(self, e: int, certification: str = "individual") -> float:
        return self._single().certified_accuracy(e, certification)

    def summary(self) -> str:
        """CA(e) at e = 0, 100, 500, 1000, … (the CLI's table; values rounded down)."""
        return self._core.summary_table()

    def curves_csv(self) -> str:
        return self._core.curves_csv()

    def examples_csv(self) -> str:
        return self._core.examples_csv()

    def report(self) -> dict[str, Any]:
        """The content of ``report.json``."""
        report: dict[str, Any] = json.loads(self._core.report_json())
        return report

    def to_dict(self) -> dict[str, Any]:
        """Every setting and the report as plain Python values."""
        return {"settings": [s.to_dict() for s in self.settings], "report": self.report()}

    def write(self, out_dir: Union[str, os.PathLike[str]]) -> list[Path]:
        """Writes ``curves.csv``, ``examples.csv`` and ``report.json`` (the CLI's formats)
        into ``out_dir``, which appears whole or not at all (an earlier nncert output of
        the same name is replaced as a whole; any other non-empty directory is refused)."""
        return [Path(p) for p in self._core.write(os.fspath(out_dir))]

    def plot(
        self,
        path: Union[str, os.PathLike[str], None] = None,
        ax: Any = None,
        max_e: Optional[int] = None,
    ) -> Any:
        """CA(e) of every curve with matplotlib (``pip install matplotlib``); saves to
        ``path`` (PNG, SVG, … by extension) when given. Returns the axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("plot: needs matplotlib (pip install matplotlib)") from e
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for s in self.settings:
            for name, curve in s.curves.items():
                last = len(curve) if max_e is None else min(len(curve), max_e + 1)
                ax.step(
                    s.e[:last], curve[:last], where="post", label=f"{s.method} {s.param} {name}"
                )
        ax.set_xlabel("poisoning size e")
        ax.set_ylabel("certified accuracy CA(e)")
        ax.set_ylim(0, 1)
        ax.legend()
        if path is not None:
            ax.figure.savefig(os.fspath(path), bbox_inches="tight")
        return ax

    def __repr__(self) -> str:
        head = ", ".join(f"{s.method} {s.param}" for s in self.settings)
        n = self.settings[0].n_test if self.settings else 0
        return f"<Certificates of {head} on {n} test inputs>\n{self.summary()}".rstrip("\n")
