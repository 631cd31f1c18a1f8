"""HOG features, computed exactly as the CLI computes them (scikit-image semantics)."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core
from . import _validation as v

Pair = Union[int, tuple[int, int]]


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an integer or a pair of integers, found {value}")
        return (v.check_int(value[0], name, 1), v.check_int(value[1], name, 1))
    n = v.check_int(value, name, 1)
    return (n, n)


def hog(
    images: Any,
    *,
    orientations: int = 9,
    pixels_per_cell: Pair = 8,
    cells_per_block: Pair = 3,
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
    n_jobs: Optional[int] = None,
) -> npt.NDArray[np.float32]:
    """HOG descriptors ``(n, d)`` float32 of uint8 images ``(n, height, width)`` or
    channel-first ``(n, channels, height, width)``; the CLI's defaults (9 orientations,
    8×8-pixel cells, 3×3-cell blocks, L2-Hys) give d = 81 on MNIST and 324 on CIFAR-10."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise TypeError(f"images: expected uint8 pixels, found dtype {a.dtype}")
    if a.ndim not in (3, 4):
        raise ValueError(
            "images: expected shape (n, height, width) or (n, channels, height, width), "
            f"found {a.shape}"
        )
    if a.shape[0] == 0:
        raise ValueError("images: expected at least one image")
    norm = v.check_choice(block_norm, "block_norm", ("L1", "L1-sqrt", "L2", "L2-Hys"))
    out: npt.NDArray[np.float32] = _core.hog(
        np.ascontiguousarray(a),
        orientations=v.check_int(orientations, "orientations", 1),
        pixels_per_cell=_pair(pixels_per_cell, "pixels_per_cell"),
        cells_per_block=_pair(cells_per_block, "cells_per_block"),
        block_norm=norm,
        transform_sqrt=bool(transform_sqrt),
        n_jobs=v.threads(n_jobs),
    )
    return out
