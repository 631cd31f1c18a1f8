"""Shared fixtures: the CLI binary, the real data directory, the built-in subset."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

import nncert

REPO = Path(__file__).resolve().parents[3]


def cli_binary() -> Path:
    """The `nncert` binary the parity tests compare with (tools/test-all builds it)."""
    path = Path(os.environ.get("NNCERT_BIN", REPO / "target" / "release" / "nncert"))
    if not path.is_file():
        pytest.fail(
            f"{path}: no nncert binary; run `cargo build --release -p nncert-cli` or set NNCERT_BIN"
        )
    return path


def run_cli(*args: str) -> str:
    done = subprocess.run([str(cli_binary()), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"nncert {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def data_dir() -> Optional[Path]:
    """`NNCERT_DATA_DIR` if set (then the data must be there: fail, not skip), else None
    (skip)."""
    env = os.environ.get("NNCERT_DATA_DIR")
    if env is not None:
        d = Path(env)
        if not (d / "mnist").is_dir():
            pytest.fail(f"NNCERT_DATA_DIR={d} is set but holds no mnist/ directory")
        return d
    return None


@pytest.fixture(scope="session")
def subset() -> nncert.datasets.Dataset:
    return nncert.datasets.load_mnist_subset()


@pytest.fixture(scope="session")
def subset_hog(
    subset: nncert.datasets.Dataset,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return nncert.hog(subset.train_x), nncert.hog(subset.test_x)
