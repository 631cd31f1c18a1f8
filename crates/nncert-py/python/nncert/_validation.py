"""Input checks that name the Python argument at fault.

Everything here is cheap (dtype, shape, min/max); the compiled module checks every value
again (NaN, infinity, counts) and raises ``ValueError`` with the same argument names.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Optional, TypeVar

import numpy as np
import numpy.typing as npt

from . import _core

#: Feature dtypes read as they are (and whose bytes the tie-break rank hashes).
NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8))

METRICS = ("l1", "l2", "linf", "ip", "cosine")
#: Metrics whose radius is a bound on a similarity and may be negative.
SIGNED_RADIUS_METRICS = ("ip",)
TIE_RULES = ("larger", "smaller")
MAX_LABEL = 2**32 - 2
#: The library's limit on the number of classes (nncert::index::MAX_CLASSES), read from
#: the compiled module so that there is one limit, checked with one message.
MAX_CLASSES: int = _core.MAX_CLASSES
#: More threads than this is a mistake (each costs a stack), not a request.
MAX_THREADS = 1024


def _asarray(value: Any, name: str) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(value)
    except Exception as e:  # torch tensors on a GPU, ragged lists, …
        raise TypeError(f"{name}: expected an array-like of numbers ({e})") from None


def as_matrix(value: Any, name: str) -> np.ndarray[Any, Any]:
    """A 2-D, C-contiguous, native-endian float32/float64/uint8 array.

    float32, float64 and uint8 arrays keep their dtype (C-contiguous float32 is passed on
    without a copy); booleans, other integers and float16 become float64.
    """
    a = _asarray(value, name)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, found dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (n_samples, n_features), found shape {a.shape}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one row and one column, found shape {a.shape}")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype not in NATIVE_DTYPES:
        a = a.astype(np.float64)
    return np.ascontiguousarray(a)


def as_rows(value: Any, name: str, n: int) -> np.ndarray[Any, Any]:
    """Any array with ``n`` rows, flattened to ``(n, -1)`` (e.g. images for ``rank_by``)."""
    a = _asarray(value, name)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, found dtype {a.dtype}")
    if a.ndim < 1 or a.shape[0] != n:
        raise ValueError(
            f"{name}: expected {n} rows (one per training example), found shape {a.shape}"
        )
    return as_matrix(a.reshape(n, -1), name)


def as_labels(value: Any, name: str, n: Optional[int] = None) -> npt.NDArray[np.int64]:
    """A 1-D int64 array of labels in ``0..2**32-2``."""
    a = _asarray(value, name)
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(np.int64)  # np.asarray([]) is float64
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer labels, found dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of labels, found shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: expected {n} labels (one per row of X), found {a.shape[0]}")
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise ValueError(f"{name}: expected labels ≥ 0, found {lo}")
        if hi > MAX_LABEL:
            raise ValueError(f"{name}: expected labels ≤ {MAX_LABEL}, found {hi}")
    return np.ascontiguousarray(a, dtype=np.int64)


def as_votes(value: Any, name: str) -> npt.NDArray[np.int64]:
    """A 2-D int64 array of vote counts (values are checked by the compiled module)."""
    a = _asarray(value, name)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer vote counts, found dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_test, n_classes), found shape {a.shape}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > 2**63 - 1:
        raise ValueError(f"{name}: expected counts below 2**32, found {int(a.max())}")
    return np.ascontiguousarray(a, dtype=np.int64)


def check_int(value: Any, name: str, minimum: int, maximum: int = 2**63 - 1) -> int:
    """An integer in ``minimum..=maximum`` (by default anything the compiled module takes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, found {type(value).__name__}")
    if not minimum <= int(value) <= maximum:
        raise ValueError(f"{name}: expected an integer in {minimum}..={maximum}, found {value}")
    return int(value)


_T = TypeVar("_T")


def check_distinct(values: list[_T], name: str) -> list[_T]:
    """Refuses a setting given twice (compared as numbers: ``[1.0, 1]`` is 1 twice), as the
    CLI does: it would be certified and reported twice."""
    for i, v in enumerate(values):
        if v in values[:i]:
            raise ValueError(f"{name}: {v} is given twice; expected distinct values")
    return values


def check_ks(value: Any, name: str) -> list[int]:
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    return check_distinct([check_int(v, name, 1) for v in values], name)


def check_radius(value: Any, name: str, metric: str = "l1") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, found {type(value).__name__}")
    r = float(value)
    if not math.isfinite(r):
        raise ValueError(f"{name}: expected a finite number, found {value}")
    if r < 0 and metric not in SIGNED_RADIUS_METRICS:
        raise ValueError(f"{name}: expected a number ≥ 0 for metric {metric!r}, found {value}")
    return r


def check_radii(value: Any, name: str, metric: str = "l1") -> list[float]:
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    return check_distinct([check_radius(v, name, metric) for v in values], name)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a string, found {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, found {value!r}")
    return value


def check_joint(value: Any, name: str = "joint") -> list[str]:
    """Joint certification names; the compiled module knows which exist."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [] if value == "none" else [v for v in value.split(",") if v]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name}: expected a sequence of names such as ('island',)")
    for v in value:
        if not isinstance(v, str):
            raise TypeError(f"{name}: expected names (strings), found {type(v).__name__}")
    return list(value)


def check_threat(value: Any, name: str = "threat") -> str:
    """A threat model name; the compiled module knows which exist (general, insert, …)."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a name such as 'general', found {type(value).__name__}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    return check_int(value, name, 0, 2**64 - 1)


def check_max_e(value: Any, name: str = "e") -> Optional[int]:
    if value is None:
        return None
    return check_int(value, name, 0)


def check_n_classes(value: Any) -> Optional[int]:
    """``None`` or a number of classes in ``2..=MAX_CLASSES``, refused in the words of the
    library (``n_classes: expected an integer in 2..=65536, found …``)."""
    if value is None:
        return None
    return check_int(value, "n_classes", 2, MAX_CLASSES)


def threads(n_jobs: Any) -> Optional[int]:
    """``None``: the shared pool (all cores, or ``RAYON_NUM_THREADS``); ``-1``: all cores."""
    if n_jobs is None:
        return None
    n = check_int(n_jobs, "n_jobs", -MAX_THREADS, MAX_THREADS)
    if n == 0:
        raise ValueError("n_jobs: expected a positive number of threads, or -1 for all cores")
    if n < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n)
    return n
