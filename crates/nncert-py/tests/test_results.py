"""Result objects: summary, plain dicts, files, single-setting shortcuts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nncert


def result() -> nncert.Certificates:
    votes = np.array([[1, 7, 2], [4, 0, 3], [0, 5, 5]])
    return nncert.certify_votes(votes, [1, 0, 2], "rnn", param="4", joint=("island", "best"))


def test_summary_repr_and_dict() -> None:
    res = result()
    assert "rnn 4 island" in repr(res)
    assert res.summary().startswith("CA(e)")
    plain = res.to_dict()
    json.dumps(plain)  # plain Python values only
    assert plain["settings"][0]["certified"]["individual"][0] == 3
    assert plain["report"]["settings"][0]["certifications"] == ["individual", "island", "best"]
    assert res.settings[0].certifications == [
        "individual",
        "island",
        "best",
    ]
    assert res.certified_accuracy(0) == 1.0
    assert res.certified_accuracy(10**6) == 0.0
    np.testing.assert_array_equal(res.e, np.arange(len(res.curves["individual"])))


def test_write_produces_the_cli_files(tmp_path: Path) -> None:
    written = result().write(tmp_path / "out")
    assert sorted(p.name for p in written) == ["curves.csv", "examples.csv", "report.json"]
    assert (
        (tmp_path / "out" / "curves.csv")
        .read_text()
        .startswith("method,param,certification,e,certified_accuracy\n")
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["command"] == "python: certify_votes"


def test_several_settings_need_an_explicit_choice() -> None:
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) % 2
    res = nncert.NeighbourIndex(x, y).certify(x, y, k=[1, 3], r=[2.5])
    assert [(s.method, s.param) for s in res.settings] == [
        ("knn", "1"),
        ("knn", "3"),
        ("rnn", "2.5"),
    ]
    assert res.setting("rnn", 2.5).empty_neighbourhoods == 0
    with pytest.raises(AttributeError, match="settings"):
        _ = res.curves
    with pytest.raises(KeyError):
        res.setting("knn", 2)


def test_plot_needs_matplotlib_or_draws() -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        with pytest.raises(ImportError, match="matplotlib"):
            result().plot()
        return
    ax = result().plot()
    assert len(ax.get_lines()) == 3


def test_dict_values_have_the_types_and_values_of_report_json() -> None:
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 3
    votes = np.array([[1, 7, 2], [4, 0, 3], [0, 5, 5]])
    for res in (
        result(),
        nncert.NeighbourIndex(x, y).certify(x[:7], y[:7], k=[1, 3], r=[2.5]),
        nncert.certify_votes(votes, [1, 0, 1], "dpa", param="3"),
    ):
        plain = res.to_dict()
        for mine, report in zip(plain["settings"], plain["report"]["settings"]):
            shared = set(mine) & set(report)
            assert "clean_accuracy" in shared
            for key in shared:
                assert type(mine[key]) is type(report[key]), key
                assert mine[key] == report[key], key
        s = res.settings[0]
        assert isinstance(s.clean_accuracy, float)
        correct = int((s.predicted == s.labels).sum())
        assert s.clean_accuracy <= correct / s.n_test < s.clean_accuracy + 1e-6
