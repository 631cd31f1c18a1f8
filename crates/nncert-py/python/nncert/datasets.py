"""Datasets as NumPy arrays: the MNIST subset built into nncert, MNIST, CIFAR-10 and
``.npy`` features, read by the same loaders as the CLI (checksums, canonical-release
checks, gzip and the CIFAR-10 archive included)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class Dataset:
    """A labelled train/test split.

    For image datasets ``train_x`` / ``test_x`` are uint8 images, ``(n, 28, 28)`` for
    MNIST and channel-first ``(n, 3, 32, 32)`` for CIFAR-10 (as the binary files store
    them, and as ``nncert.hog`` and ``rank_by`` expect); for ``.npy`` datasets they are the
    features in their stored dtype. Labels are int64.
    """

    name: str
    n_classes: int
    train_x: npt.NDArray[Any]
    train_y: npt.NDArray[np.int64]
    test_x: npt.NDArray[Any]
    test_y: npt.NDArray[np.int64]
    caveat: Optional[str] = None
    files: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"<Dataset {self.name}: train {self.train_x.shape} {self.train_x.dtype}, "
            f"test {self.test_x.shape}, {self.n_classes} classes>"
        )


def _wrap(raw: dict[str, Any]) -> Dataset:
    return Dataset(
        name=str(raw["name"]),
        n_classes=int(raw["n_classes"]),
        train_x=raw["train_x"],
        train_y=raw["train_y"],
        test_x=raw["test_x"],
        test_y=raw["test_y"],
        caveat=raw["caveat"],
        files=list(raw["files"]),
    )


def load_mnist_subset() -> Dataset:
    """The real MNIST subset compiled into nncert: the first 6,000 training and 1,000 test
    images (what ``cargo run --release`` certifies)."""
    return _wrap(_core.load_dataset("embedded"))


def load_mnist(data_dir: PathLike) -> Dataset:
    """MNIST from the four IDX files (plain or ``.gz``) in ``data_dir`` or ``data_dir/mnist``."""
    return _wrap(_core.load_dataset("mnist", data_dir=os.fspath(data_dir)))


def load_cifar10(data_dir: PathLike) -> Dataset:
    """CIFAR-10 from ``cifar-10-binary.tar.gz`` (read without unpacking) or the binary
    batches, in ``data_dir`` or its usual subdirectories (as ``nncert certify``)."""
    return _wrap(_core.load_dataset("cifar10", data_dir=os.fspath(data_dir)))


def load_npy(
    train_features: PathLike,
    train_labels: PathLike,
    test_features: PathLike,
    test_labels: PathLike,
    n_classes: Optional[int] = None,
) -> Dataset:
    """Features and labels from four ``.npy`` files (as ``nncert certify --dataset npy``)."""
    paths = (
        os.fspath(train_features),
        os.fspath(train_labels),
        os.fspath(test_features),
        os.fspath(test_labels),
    )
    return _wrap(_core.load_dataset("npy", npy_paths=paths, n_classes=n_classes))


__all__ = ["Dataset", "load_cifar10", "load_mnist", "load_mnist_subset", "load_npy"]
