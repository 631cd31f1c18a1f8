# Type stub of the compiled module nncert._core (crates/nncert-py/src/lib.rs).
# The public API is the pure-Python package around it; see docs/python.md.

from typing import Any, Optional, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_CLASSES",
    "Certified",
    "NeighbourIndex",
    "Partial",
    "__version__",
    "_certified_from_state",
    "_index_from_state",
    "as_features",
    "certify_parts",
    "certify_votes",
    "check_neighbour_params",
    "distance_kernel",
    "finish_partial",
    "hog",
    "index_from_rows",
    "load_dataset",
    "merge_last",
    "merge_partials",
    "partial_from_bytes",
    "partial_pending",
    "positions_of_ranks",
    "rank_keys",
    "search_plan",
    "shard_exact_keys",
    "shard_search",
]

__version__: str
MAX_CLASSES: int

@final
class NeighbourIndex:
    def __new__(
        cls,
        x: npt.NDArray[Any],
        y: npt.NDArray[np.int64],
        n_classes: Optional[int] = None,
        rank_by: Optional[npt.NDArray[Any]] = None,
        n_jobs: Optional[int] = None,
    ) -> NeighbourIndex: ...
    @property
    def n_train(self) -> int: ...
    @property
    def n_features(self) -> int: ...
    @property
    def n_classes(self) -> int: ...
    def labels(self) -> npt.NDArray[np.int64]: ...
    def positions(self) -> npt.NDArray[np.int64]: ...
    def search(
        self,
        x: npt.NDArray[Any],
        ks: list[int],
        radii: list[float],
        metric: str = "l1",
        neighbours: bool = False,
        n_jobs: Optional[int] = None,
    ) -> dict[str, Any]: ...
    def certify(
        self,
        x: npt.NDArray[Any],
        y: npt.NDArray[np.int64],
        ks: list[int],
        radii: list[float],
        metric: str = "l1",
        joint: Optional[list[str]] = None,
        seed: Optional[int] = None,
        max_e: Optional[int] = None,
        tie_rule: str = "larger",
        threat: str = "general",
        n_jobs: Optional[int] = None,
    ) -> Certified: ...
    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]: ...
    def train_shard(self, index: int, count: int) -> dict[str, Any]: ...

def _index_from_state(state: dict[str, Any]) -> NeighbourIndex: ...

@final
class Partial:
    @property
    def train_shards(self) -> list[int]: ...
    @property
    def test_block(self) -> tuple[int, int]: ...
    def to_bytes(self) -> bytes: ...
    def __reduce__(self) -> tuple[Any, tuple[npt.NDArray[np.uint8]]]: ...

def partial_from_bytes(data: bytes | npt.NDArray[np.uint8]) -> Partial: ...
def shard_search(
    features: npt.NDArray[np.float32],
    labels: npt.NDArray[np.uint32],
    ranks: npt.NDArray[np.uint8],
    shard: tuple[int, int],
    n_train: int,
    n_classes: int,
    x: npt.NDArray[Any],
    block: tuple[int, int],
    n_test: int,
    ks: list[int],
    radii: list[float],
    metric: str = "l1",
    neighbours: bool = False,
    context: str = "",
    n_jobs: Optional[int] = None,
) -> Partial: ...
def merge_partials(a: Partial, b: Partial) -> Partial: ...
def merge_last(
    a: Partial, b: Partial
) -> tuple[Partial, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]: ...
def partial_pending(partial: Partial) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def shard_exact_keys(
    features: npt.NDArray[np.float32],
    train_start: int,
    x: npt.NDArray[Any],
    test_start: int,
    q: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    metric: str = "l1",
) -> bytes: ...
def finish_partial(
    partial: Partial,
    keys: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], bytes]],
    context: str,
) -> dict[str, Any]: ...
def rank_keys(rows: npt.NDArray[Any], y: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]: ...
def positions_of_ranks(ranks: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]: ...
def as_features(x: npt.NDArray[Any]) -> npt.NDArray[np.float32]: ...
def index_from_rows(
    x: npt.NDArray[Any],
    y: npt.NDArray[np.int64],
    positions: npt.NDArray[np.uint32],
    n_classes: int,
) -> NeighbourIndex: ...
def certify_parts(
    train_labels: npt.NDArray[np.int64],
    n_classes: int,
    n_features: int,
    y: npt.NDArray[np.int64],
    knn: list[tuple[int, npt.NDArray[np.int64]]],
    rnn: list[tuple[float, npt.NDArray[np.int64], int]],
    knn_neighbours: Optional[tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]],
    threshold_fallbacks: int,
    metric: str,
    joint: Optional[list[str]] = None,
    seed: Optional[int] = None,
    max_e: Optional[int] = None,
    tie_rule: str = "larger",
    threat: str = "general",
    added_k: Optional[int] = None,
    threads: int = 1,
    seconds: float = 0.0,
    command: str = "python: nncert.distributed",
) -> Certified: ...
def check_neighbour_params(
    knn: bool,
    rnn: bool,
    joint: Optional[list[str]] = None,
    seed: Optional[int] = None,
) -> None: ...
def search_plan(
    ks: list[int],
    joint: Optional[list[str]] = None,
    max_e: Optional[int] = None,
    threat: str = "general",
) -> tuple[list[int], bool, Optional[int]]: ...

@final
class Certified:
    def settings(self) -> list[dict[str, Any]]: ...
    def curves_csv(self) -> str: ...
    def examples_csv(self) -> str: ...
    def report_json(self) -> str: ...
    def summary_table(self) -> str: ...
    def write(self, out: str) -> list[str]: ...
    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]: ...

def _certified_from_state(state: dict[str, Any]) -> Certified: ...
def certify_votes(
    votes: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    kind: str,
    param: str = "",
    joint: Optional[list[str]] = None,
    seed: Optional[int] = None,
    max_e: Optional[int] = None,
    tie_rule: str = "larger",
    threat: str = "general",
    units: Optional[str] = None,
    models: Optional[int] = None,
    subsample: Optional[int] = None,
    train_size: Optional[int] = None,
    alpha: Optional[float] = None,
) -> Certified: ...
def hog(
    images: npt.NDArray[np.uint8],
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = ...,  # (8, 8)
    cells_per_block: tuple[int, int] = ...,  # (3, 3)
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
    n_jobs: Optional[int] = None,
) -> npt.NDArray[np.float32]: ...
def load_dataset(
    kind: str,
    data_dir: Optional[str] = None,
    npy_paths: Optional[tuple[str, str, str, str]] = None,
    n_classes: Optional[int] = None,
) -> dict[str, Any]: ...
def distance_kernel() -> str: ...
