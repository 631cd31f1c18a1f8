"""Exact votes and certificates on a Dask cluster (``pip install 'nncert[dask]'``).

The training set is cut into ``train_shards`` contiguous shards that live on the workers
and never come back: each worker hashes its own rows into tie-break ranks (20 bytes per
row; ``nncert.rank``) and builds its shard from its rows and their ranks — a rank
depends on its row alone and the merge breaks ties by (rank, index), so no shard needs
the others' (docs/SCALING.md). With one shard, the client orders the hashes into
positions and a worker builds the whole index — the index ``NeighbourIndex(X, y,
rank_by=…)`` would build, bit for bit. Only the labels (and, with one shard, the hashes)
reach the client.

The test set is cut into blocks of rows; each (training shard, test block) is one Dask
task that runs the compiled search on a worker. Test rows are independent (a row's votes
and neighbours depend only on that row and the whole training set), so the blocks'
results, concatenated in order, are the in-process ones exactly. With several training
shards the shards are spread round robin over the workers, and each task returns the
library's partial result (every shard's exact k nearest with proven bounds of their
distances, and its rNN counts) as a ``_core.Partial``, which stays in the worker's memory
and is written as bytes only when Dask moves it to another worker. The partials of a block
are merged first on the worker that made them, then across workers two at a time, each
merge where its first input is, the workers taking turns by block; the few pairs whose
order the bounds leave open get exact distances from the workers that hold their rows,
and a last task per block, where the root merge ran, finishes it into the single-machine
search result (``nncert::shard``). The client receives votes (and lists) only. The
certificates — individual and joint, which need the whole test set — are computed once
from the votes on the client by the same library code as ``NeighbourIndex.certify``.
Results are identical to the in-process API's whatever the shard count, block size,
worker count or retries (docs/python.md, "Dask").

Tasks are pure functions of their inputs, so Dask may run one again when the worker that
held it dies; the index and the shards are task results whose inputs the scheduler keeps,
so a lost copy is recomputed rather than lost. For NumPy training rows those inputs are
the rows themselves (one copy on the scheduler, about the size of the features: 20 MB for
MNIST's HOG); a Dask array keeps only its recipe there, its chunks computed on the
workers. ``client.scatter`` would spare that copy but not survive the loss of a worker.
"""

from __future__ import annotations

import math
import operator
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _core
from . import _validation as v
from .estimators import NeighbourIndex, _Certifier
from .results import Certificates

try:
    import dask.array as _da
    from distributed import Client, Future, wait
except ImportError as e:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "nncert.distributed needs Dask: pip install 'nncert[dask]' "
        f"(dask[distributed]); it could not be imported ({e})"
    ) from e

__all__ = ["DistributedIndex", "certified_accuracy", "votes"]

ArrayLike = Any


def _hold(value: Any) -> Any:
    """A task that returns its input: the input then lives on a worker as a task result
    that the scheduler can recompute (from the input it keeps) if that worker dies."""
    return value


def _put(client: Client, value: object, name: str, worker: Optional[str] = None) -> Future[Any]:
    """`value` on the cluster as the result of a `_hold` task named `name` (on `worker` if
    given, or elsewhere if `worker` dies)."""
    with warnings.catch_warnings():
        # Dask advises against large task inputs; here the input in the graph is the point
        # (it is what makes the value recomputable), and it is sent once.
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        future: Future[Any] = client.submit(_hold, value, key=name, pure=False, **_near(worker))
    return future


def _put_on(client: Client, value: Future[Any], name: str, worker: str) -> Future[Any]:
    """A copy of `value` on `worker` as the result of a `_hold` task named `name`, which
    Dask may run elsewhere if `worker` dies."""
    future: Future[Any] = client.submit(
        _hold, value, key=name, workers=[worker], allow_other_workers=True, pure=False
    )
    return future


def _workers(client: Client) -> list[str]:
    info = client.scheduler_info()
    workers = info.get("workers", {}) if isinstance(info, dict) else {}
    return sorted(str(w) for w in workers)


# The few Dask calls used here, typed: `distributed` marks these methods untyped, so each
# call's type is stated once here rather than ignored at every use.
def _release(future: Future[Any]) -> None:
    future.release()  # type: ignore[no-untyped-call]  # untyped in distributed


def _compute(client: Client, values: Any) -> Any:
    return client.compute(values)  # type: ignore[no-untyped-call]  # untyped in distributed


def _wait_all(client: Client, futures: list[Future[Any]], timeout: Optional[float]) -> int:
    """Waits for `futures` at most `timeout` seconds; cancels them and returns how many were
    unfinished if that was not enough (0: all done)."""
    try:
        wait(futures, timeout=timeout)  # type: ignore[no-untyped-call]  # untyped in distributed
    except TimeoutError:
        unfinished = sum(1 for f in futures if f.status != "finished")
        client.cancel(futures)  # type: ignore[no-untyped-call]  # untyped in distributed
        return max(1, unfinished)
    return 0


def _gather(client: Client, futures: list[Future[Any]]) -> list[Any]:
    out: list[Any] = client.gather(futures)  # type: ignore[no-untyped-call]  # untyped in distributed
    return out


def _row_blocks(x: _da.Array, bounds: list[int]) -> list[Any]:
    """Delayed blocks of rows `bounds[j] … bounds[j+1] − 1` (all columns) of a 2-D Dask
    array, in order."""
    sizes = tuple(b - a for a, b in zip(bounds, bounds[1:]))
    blocks = x.rechunk((sizes, x.shape[1])).to_delayed()  # type: ignore[no-untyped-call]  # untyped in dask
    return list(blocks.ravel().tolist())


#: Blocks per worker thread when no ``test_block_size`` is given: a few tasks per thread
#: keep every thread busy and let a restarted worker's share be spread over the others.
BLOCKS_PER_THREAD = 2


def _search_block(
    index: _core.NeighbourIndex,
    x: Any,
    ks: list[int],
    radii: list[float],
    metric: str,
    neighbours: bool,
    n_jobs: Optional[int],
) -> dict[str, Any]:
    """One Dask task: the votes (and lists) of one block of test rows. Pure: the same
    inputs give the same arrays, so a re-run after a lost worker changes nothing."""
    x = _block_rows(x, index.n_features)
    return index.search(x, ks, radii, metric=metric, neighbours=neighbours, n_jobs=n_jobs)


def _block_rows(x: Any, n_features: int) -> Any:
    """A block of test rows as the compiled search reads them, its width checked."""
    x = v.as_matrix(x, "X")
    if x.shape[1] != n_features:
        raise ValueError(f"X: expected {n_features} features (as in training), found {x.shape[1]}")
    return x


def _search_shard(
    shard: dict[str, Any],
    spec: tuple[int, int],
    n_train: int,
    n_classes: int,
    x: Any,
    block: tuple[int, int],
    n_test: int,
    ks: list[int],
    radii: list[float],
    metric: str,
    neighbours: bool,
    context: str,
    n_jobs: Optional[int],
) -> _core.Partial:
    """One Dask task: training shard `spec` against test block `block` → the library's
    partial result (in this worker's memory; written as bytes only if Dask moves it).
    Pure, as `_search_block`."""
    x = _block_rows(x, shard["features"].shape[1])
    return _core.shard_search(
        shard["features"], shard["labels"], shard["ranks"], spec, n_train, n_classes,
        x, block, n_test, ks, radii, metric=metric, neighbours=neighbours, context=context,
        n_jobs=n_jobs,
    )  # fmt: skip


def _shard_keys(
    shard: dict[str, Any], x: Any, test_start: int, pending: tuple[Any, Any], metric: str
) -> tuple[Any, Any, bytes]:
    """One Dask task, where shard `shard` is: the exact keys of the pending pairs whose
    training row it holds, with their pairs (`finish_partial` matches them by pair)."""
    q, j = pending
    start = int(shard["start"])
    mine = (j >= start) & (j < start + shard["features"].shape[0])
    q, j = np.ascontiguousarray(q[mine]), np.ascontiguousarray(j[mine])
    x = _block_rows(x, shard["features"].shape[1])
    keys = _core.shard_exact_keys(shard["features"], start, x, test_start, q, j, metric=metric)
    return q, j, keys


def _finish(
    root: tuple[_core.Partial, Any], keys: list[tuple[Any, Any, bytes]], context: str
) -> dict[str, Any]:
    """One Dask task: a block's root merge (merged partial, pending pairs) and the exact
    keys of its pending pairs → the block's search result (the dict of
    `NeighbourIndex.search`)."""
    return _core.finish_partial(root[0], keys, context)


def _rank_piece(rows: Any, y: Any) -> Any:
    """One Dask task: the tie-break ranks (SHA-1, 20 bytes) of a piece of the training
    set, hashed where its rows are."""
    return _core.rank_keys(v.as_rows(rows, "rank_by", len(rows)), y)


def _check_piece(x: Any, n_features: int) -> Any:
    x = v.as_matrix(x, "X")
    if x.shape[1] != n_features:
        raise ValueError(f"X: expected {n_features} columns in every chunk, found {x.shape[1]}")
    return x


def _shard_piece(x: Any, labels: Any, ranks: Any, start: int, n_features: int) -> dict[str, Any]:
    """One Dask task: a training shard (features as the search reads them, labels, the
    rows' tie-break ranks, first row) from its rows, where they are."""
    return {
        "start": start,
        "features": _core.as_features(_check_piece(x, n_features)),
        "labels": np.ascontiguousarray(labels, dtype=np.uint32),
        "ranks": ranks,
    }


def _index_piece(x: Any, labels: Any, positions: Any, n_classes: int) -> _core.NeighbourIndex:
    """One Dask task: the whole index from the whole training set and its positions."""
    return _core.index_from_rows(v.as_matrix(x, "X"), labels, positions, n_classes)


def _merge_tree(
    submit: Any, partials: list[tuple[Future[Any], Optional[str]]], block: int
) -> tuple[Future[Any], Optional[str]]:
    """The merge tasks of one block's partials (each with the worker that makes it): the
    partials made on one worker merged there first, where they are in memory (nothing
    written, sent or parsed), then one partial per worker merged two at a time, each merge
    where its first input is; the last merge (`merge_last`) also lists the pending pairs.
    The workers take turns by block in being first, so that the merges and finishes of
    different blocks run on different workers at once. Any order or tree is exact
    (`Partial::merge`). Returns the root merge and where it runs."""
    by_worker: dict[Optional[str], list[Future[Any]]] = {}
    for future, worker in partials:
        by_worker.setdefault(worker, []).append(future)
    groups = list(by_worker.items())
    turn = block % len(groups)
    groups = groups[turn:] + groups[:turn]
    level: list[tuple[Future[Any], Optional[str]]] = []
    for worker, futures in groups:
        # Merged down to one here (two if this worker holds every shard: the last merge).
        keep = 2 if len(groups) == 1 else 1
        while len(futures) > keep:
            pairs = list(zip(futures[0::2], futures[1::2]))
            merged = [
                submit(_core.merge_partials, a, b, pure=True, **_near(worker)) for a, b in pairs
            ]
            futures = merged + ([futures[-1]] if len(futures) % 2 else [])
        level.extend((f, worker) for f in futures)
    while len(level) > 2:
        merged_level = [
            (submit(_core.merge_partials, a, b, pure=True, **_near(wa)), wa)
            for (a, wa), (b, _) in zip(level[0::2], level[1::2])
        ]
        level = merged_level + ([level[-1]] if len(level) % 2 else [])
    (a, home), (b, _) = level
    return submit(_core.merge_last, a, b, pure=True, **_near(home)), home


def _bounds(n: int, size: int) -> list[int]:
    """Row boundaries of ⌈n / size⌉ blocks of at most `size` rows, as the library numbers
    test blocks: block j of m holds rows ⌊(j−1)n/m⌋ … ⌊jn/m⌋ − 1."""
    m = math.ceil(n / size)
    return [j * n // m for j in range(m + 1)]


def _concat_lists(parts: list[tuple[Any, Any, Any]]) -> tuple[Any, Any, Any]:
    """Flat neighbour lists of consecutive blocks as one: offsets shifted by the lengths
    of the blocks before."""
    indices = np.concatenate([p[0] for p in parts])
    distances = np.concatenate([p[1] for p in parts])
    offsets = [np.zeros(1, dtype=np.int64)]
    start = 0
    for p in parts:
        offsets.append(p[2][1:] + start)
        start += int(p[2][-1])
    return indices, distances, np.concatenate(offsets)


def _concat(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The search of consecutive test blocks as the search of all their rows."""
    first = blocks[0]
    out: dict[str, Any] = {
        "knn": [
            (k, np.concatenate([b["knn"][i][1] for b in blocks]))
            for i, (k, _) in enumerate(first["knn"])
        ],
        "rnn": [
            (
                r,
                np.concatenate([b["rnn"][i][1] for b in blocks]),
                sum(int(b["rnn"][i][2]) for b in blocks),
            )
            for i, (r, _, _) in enumerate(first["rnn"])
        ],
        "threshold_fallbacks": sum(int(b["threshold_fallbacks"]) for b in blocks),
    }
    for key in ("knn_neighbours", "rnn_neighbours"):
        if key in first:
            out[key] = _concat_lists([b[key] for b in blocks])
    return out


def _worker_threads(client: Client) -> int:
    info = client.scheduler_info()
    workers = info.get("workers", {}) if isinstance(info, dict) else {}
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def _pieces(
    client: Client, a: ArrayLike, bounds: list[int], name: str, workers: list[Optional[str]]
) -> list[Future[Any]]:
    """Rows `bounds[i] … bounds[i+1] − 1` of `a` as futures on the cluster: Dask chunks
    computed there (their rows never come here), or slices of a local array put there as
    recomputable task results, piece `i` on `workers[i]`."""
    if isinstance(a, _da.Array):
        return list(_compute(client, _row_blocks(a, bounds)))
    token = uuid.uuid4().hex
    return [
        _put(client, a[lo:hi], f"nncert-{name}-{i}-{token}", workers[i])
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:]))
    ]


def _near(worker: Optional[str]) -> dict[str, Any]:
    """`submit` arguments that run a task on `worker` if it is alive, elsewhere if not."""
    return {"workers": [worker], "allow_other_workers": True} if worker else {}


def _spread(workers: list[str], n: int) -> list[Optional[str]]:
    """Where shard `i` (0-based) of `n` should live: round robin over `workers`, so that
    every worker holds a share and searches its own shards."""
    return [workers[i % len(workers)] if workers else None for i in range(n)]


def _shape(a: ArrayLike, name: str) -> tuple[int, int]:
    """The (rows, columns) of a 2-D Dask array whose shape is known, checked."""
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (n_samples, n_features), found shape {a.shape}"
        )
    n, d = a.shape
    if not isinstance(n, int) or not isinstance(d, int) or n == 0 or d == 0:
        raise ValueError(
            f"{name}: expected a known, non-zero number of rows and columns, found {a.shape}"
        )
    return n, d


class DistributedIndex:
    """A training index on a Dask cluster: ``search`` and ``certify`` as
    ``NeighbourIndex``'s, computed by tasks on the workers of ``client``.

    ``X``, ``y``: the training set as NumPy or Dask arrays; the rows of ``X`` (and of
    ``rank_by``) go to the workers and stay there — only the labels and the 20-byte
    tie-break hash of each row come here. ``train_shards``: how many parts the training
    set is cut into (1: every task searches the whole index). ``n_jobs``: threads per task
    (default 1, Dask's convention of one thread per task; the results do not depend on it).
    """

    #: The whole index (one shard) or the shards, as futures on the cluster.
    _data: list[Future[Any]]
    #: One copy of the whole index per worker (one shard only).
    _copies: list[Future[Any]]
    #: The worker each shard was placed on (several shards).
    _places: list[Optional[str]]

    def __init__(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        client: Client,
        n_classes: Optional[int] = None,
        rank_by: Optional[ArrayLike] = None,
        train_shards: int = 1,
        n_jobs: Optional[int] = 1,
    ) -> None:
        _check_client(client)
        x = X if isinstance(X, _da.Array) else v.as_matrix(X, "X")
        n, d = _shape(x, "X")
        labels = v.as_labels(_local(y, client), "y", n)
        self._init(client, labels, d, n_classes, train_shards, n_jobs)
        shards = self.train_shards
        bounds = [i * n // shards for i in range(shards + 1)]
        places = _spread(_workers(client), shards)
        xs = _pieces(client, x, bounds, "x", places)
        if rank_by is None:
            rs = xs
        elif isinstance(rank_by, _da.Array):
            if rank_by.ndim < 1 or rank_by.shape[0] != n:
                raise ValueError(
                    f"rank_by: expected {n} rows (one per training example), "
                    f"found shape {rank_by.shape}"
                )
            width = int(np.prod(rank_by.shape[1:], dtype=np.int64))
            flat = rank_by.reshape((n, width))  # type: ignore[no-untyped-call]  # untyped in dask
            rs = _pieces(client, flat, bounds, "rank-by", places)
        else:
            rs = _pieces(client, v.as_rows(rank_by, "rank_by", n), bounds, "rank-by", places)
        ys = [labels[lo:hi] for lo, hi in zip(bounds, bounds[1:])]
        submit = self.client.submit
        ranks = [
            submit(_rank_piece, r, yp, pure=False, **_near(place))
            for r, yp, place in zip(rs, ys, places)
        ]
        token = uuid.uuid4().hex
        if shards == 1:
            # The whole index needs every row's position: the one step that orders all
            # the ranks, here (20 bytes per row travel, never a row).
            self._wait(ranks, "rank tasks", None)
            positions = _core.positions_of_ranks(np.concatenate(_gather(client, ranks)))
            whole = submit(
                _index_piece, xs[0], labels, positions, self.n_classes,
                key=f"nncert-index-{token}", pure=False,
            )  # fmt: skip
            self._place_index(whole, token)
        else:
            self._data = [
                submit(
                    _shard_piece,
                    xs[i],
                    ys[i],
                    ranks[i],
                    lo,
                    d,
                    key=f"nncert-shard-{i + 1}-{token}",
                    pure=False,
                    **_near(places[i]),
                )
                for i, (lo, hi) in enumerate(zip(bounds, bounds[1:]))
            ]
            self._copies = []
            self._places = places
        # The shards and index keep what they need; their inputs stay recomputable.
        for f in {id(f): f for f in xs + rs + ranks}.values():
            _release(f)
        self._wait(self._copies + self._data, "training shards", None)

    @classmethod
    def from_index(
        cls,
        index: NeighbourIndex,
        *,
        client: Client,
        train_shards: int = 1,
        n_jobs: Optional[int] = 1,
    ) -> DistributedIndex:
        """The cluster version of an index already built here (e.g. a fitted certifier's
        ``index_``): its parts are sent from here, once."""
        if not isinstance(index, NeighbourIndex):
            raise TypeError(f"index: expected a nncert.NeighbourIndex, found {type(index)}")
        _check_client(client)
        self = cls.__new__(cls)
        core = index._core
        self._init(client, core.labels(), index.n_features, index.n_classes, train_shards, n_jobs)
        token = uuid.uuid4().hex
        if self.train_shards == 1:
            self._place_index(_put(client, core, f"nncert-index-{token}"), token)
        else:
            places = _spread(_workers(client), self.train_shards)
            self._data = [
                _put(
                    client,
                    core.train_shard(i + 1, self.train_shards),
                    f"nncert-shard-{i + 1}-{token}",
                    places[i],
                )
                for i in range(self.train_shards)
            ]
            self._copies = []
            self._places = places
            # Placed before the first search, so that searches and merges are placed
            # where the shards are.
            self._wait(self._data, "training shards", None)
        return self

    def _init(
        self,
        client: Client,
        labels: npt.NDArray[np.int64],
        n_features: int,
        n_classes: Optional[int],
        train_shards: int,
        n_jobs: Optional[int],
    ) -> None:
        """The facts the client keeps: labels, sizes, settings (never the rows)."""
        n = labels.shape[0]
        c = v.check_n_classes(n_classes)
        top = int(labels.max()) if n else 0
        if c is None:
            if top >= v.MAX_CLASSES:
                raise ValueError(
                    f"y: expected labels below {v.MAX_CLASSES} (nncert's limit on classes), "
                    f"found {top}"
                )
            c = max(2, top + 1)
        elif top >= c:
            i = int(np.argmax(labels >= c))
            raise ValueError(
                f"labels: expected values below n_classes = {c}, found {top} at index {i}"
            )
        self.client = client
        self.train_shards = v.check_int(train_shards, "train_shards", 1, n)
        self.n_jobs = v.threads(n_jobs)
        self._labels = labels
        self._n_features = int(n_features)
        self._n_classes = c
        self._data = []
        self._copies = []
        self._places = []
        # What every partial of this index records and the merge checks.
        self._context = (
            f"nncert.distributed: {n} x {n_features} training features, "
            f"{c} classes, {self.train_shards} shards, {uuid.uuid4().hex}"
        )

    def _place_index(self, whole: Future[Any], token: str) -> None:
        """One copy of the index per worker, each a task of its own (so that Dask's memory
        manager keeps them all) placed on its worker but free to move if that worker
        dies: test blocks take turns over the copies, and every worker gets a share."""
        self._copies = [
            _put_on(self.client, whole, f"nncert-index-{token}-{i}", worker)
            for i, worker in enumerate(_workers(self.client))
        ] or [whole]
        self._data = [whole]

    @property
    def n_train(self) -> int:
        return int(self._labels.shape[0])

    @property
    def n_features(self) -> int:
        return self._n_features

    @property
    def n_classes(self) -> int:
        return self._n_classes

    def close(self) -> None:
        """Releases the index (or shards) held on the workers."""
        for f in self._copies + self._data:
            _release(f)

    def __enter__(self) -> DistributedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _blocks(self, X: ArrayLike, test_block_size: Optional[int]) -> tuple[list[Any], list[int]]:
        """The test set as blocks of rows — NumPy slices, or futures of Dask chunks that
        stay on the cluster — and the blocks' row boundaries. Block j of m holds rows
        ⌊(j−1)n/m⌋ … ⌊jn/m⌋ − 1 (the library's test-block numbering, 1-based)."""
        if isinstance(X, _da.Array):
            n, _ = _shape(X, "X")
            bounds = _bounds(n, self._block_size(n, test_block_size))
            return list(_compute(self.client, _row_blocks(X, bounds))), bounds
        x = _block_rows(X, self.n_features)
        n = x.shape[0]
        bounds = _bounds(n, self._block_size(n, test_block_size))
        return [x[a:b] for a, b in zip(bounds, bounds[1:])], bounds

    def _block_size(self, n: int, test_block_size: Optional[int]) -> int:
        if test_block_size is None:
            blocks = BLOCKS_PER_THREAD * _worker_threads(self.client)
            return max(1, math.ceil(n / blocks))
        return v.check_int(test_block_size, "test_block_size", 1)

    def _wait(self, futures: list[Future[Any]], what: str, timeout: Optional[float]) -> None:
        unfinished = _wait_all(self.client, futures, timeout)
        if unfinished:
            raise TimeoutError(
                f"timeout: {unfinished} of {len(futures)} {what} unfinished after {timeout} s"
            )

    def _search(
        self,
        X: ArrayLike,
        ks: list[int],
        radii: list[float],
        metric: str,
        neighbours: bool,
        test_block_size: Optional[int],
        timeout: Optional[float],
    ) -> tuple[dict[str, Any], int]:
        blocks, bounds = self._blocks(X, test_block_size)
        n = bounds[-1]
        submit = self.client.submit
        if self.train_shards == 1:
            copies = self._copies
            futures = [
                submit(
                    _search_block,
                    copies[b % len(copies)],
                    block,
                    ks,
                    radii,
                    metric,
                    neighbours,
                    self.n_jobs,
                    pure=True,
                )
                for b, block in enumerate(blocks)
            ]
            self._wait(futures, "test blocks", timeout)
            return _concat(_gather(self.client, futures)), n
        token = uuid.uuid4().hex
        m, shards = len(blocks), self.train_shards
        where = self._shard_workers()
        per_block: list[Future[Any]] = []
        for j, block in enumerate(blocks, start=1):
            # Every shard's search and keys read the block: put it there once.
            if not isinstance(block, Future):
                block = _put(self.client, block, f"nncert-block-{j}-{token}")
            partials = [
                (
                    submit(
                        _search_shard,
                        shard,
                        (i, shards),
                        self.n_train,
                        self.n_classes,
                        block,
                        (j, m),
                        n,
                        ks,
                        radii,
                        metric,
                        neighbours,
                        self._context,
                        self.n_jobs,
                        pure=True,
                        **_near(where[i - 1]),
                    ),
                    where[i - 1],
                )
                for i, shard in enumerate(self._data, start=1)
            ]
            root, home = _merge_tree(submit, partials, j)
            per_block.append(self._finish_block(root, home, block, bounds[j - 1], metric))
        self._wait(per_block, "test blocks", timeout)
        results = _gather(self.client, per_block)
        out = _concat(results)
        out["exact_pairs"] = sum(int(r["exact_pairs"]) for r in results)
        return out, n

    def _shard_workers(self) -> list[Optional[str]]:
        """The worker that holds each shard now: where it was placed if it is still there
        (Dask may have copied it elsewhere too), else one that holds it (None: none)."""
        held = self.client.who_has(self._data)  # type: ignore[no-untyped-call]  # untyped in distributed
        out: list[Optional[str]] = []
        for f, place in zip(self._data, self._places):
            there = held.get(f.key, ())
            out.append(place if place in there else min(there, default=None))
        return out

    def _finish_block(
        self, root: Future[Any], home: Optional[str], block: Any, test_start: int, metric: str
    ) -> Future[Any]:
        """The tasks that finish one block after its root merge: the exact keys of its
        pending pairs, each where its shard is, then the finish — where the root merge
        runs, since the merged partial is large and what these tasks read of it is small."""
        submit = self.client.submit
        pending = submit(operator.getitem, root, 1, pure=True, **_near(home))
        keys = [
            submit(_shard_keys, shard, block, test_start, pending, metric, pure=True)
            for shard in self._data
        ]
        finished: Future[Any] = submit(_finish, root, keys, self._context, pure=True, **_near(home))
        return finished

    def search(
        self,
        X: ArrayLike,
        k: Union[int, Sequence[int], None] = None,
        r: Union[float, Sequence[float], None] = None,
        *,
        metric: str = "l1",
        neighbours: bool = False,
        test_block_size: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> dict[str, Any]:
        """``NeighbourIndex.search`` on the cluster (the same dict, the same arrays).

        ``test_block_size``: test rows per task (default: about two tasks per worker
        thread). ``timeout``: seconds to wait for the tasks (``TimeoutError`` after).
        """
        metric = v.check_choice(metric, "metric", v.METRICS)
        ks = [] if k is None else v.check_ks(k, "k")
        radii = [] if r is None else v.check_radii(r, "r", metric)
        if not ks and not radii:
            raise ValueError("k, r: expected at least one k or r")
        out, _ = self._search(X, ks, radii, metric, bool(neighbours), test_block_size, timeout)
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
        test_block_size: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Certificates:
        """``NeighbourIndex.certify`` on the cluster: votes searched by tasks, certified
        here; the settings, curves and files are the in-process ones, byte for byte
        (``report.json`` records ``"command": "python: nncert.distributed"`` and the
        run's own timings and threads)."""
        metric = v.check_choice(metric, "metric", v.METRICS)
        ks = [] if k is None else v.check_ks(k, "k")
        radii = [] if r is None else v.check_radii(r, "r", metric)
        if not ks and not radii:
            raise ValueError("k, r: expected at least one k or r")
        joint_names = None if joint is None else v.check_joint(joint)
        max_e = v.check_max_e(max_e, "max_e")
        threat = v.check_threat(threat)
        tie_rule = v.check_choice(tie_rule, "tie_rule", v.TIE_RULES)
        seed = None if seed is None else v.check_seed(seed)
        # Refused before any task runs, as NeighbourIndex.certify refuses them.
        _core.check_neighbour_params(bool(ks), bool(radii), joint=joint_names, seed=seed)
        labels = _local(y, self.client)
        # The library's own plan: under insert/delete kNN needs ordered lists (and k + e).
        search_ks, keep_lists, added_k = _core.search_plan(
            ks, joint=joint_names, max_e=max_e, threat=threat
        )
        start = time.perf_counter()
        out, n = self._search(X, search_ks, radii, metric, keep_lists, test_block_size, timeout)
        seconds = time.perf_counter() - start
        labels = v.as_labels(labels, "y", n)
        if labels.size and int(labels.max()) >= self.n_classes:
            raise ValueError(
                f"y: expected labels below n_classes = {self.n_classes}, found {int(labels.max())}"
            )
        core = _core.certify_parts(
            self._labels,
            self.n_classes,
            self.n_features,
            labels,
            out["knn"],
            out["rnn"],
            out.get("knn_neighbours") if keep_lists and search_ks else None,
            out["threshold_fallbacks"],
            metric,
            joint=joint_names,
            seed=seed,
            max_e=max_e,
            tie_rule=tie_rule,
            threat=threat,
            added_k=added_k,
            threads=_worker_threads(self.client) * (self.n_jobs or 1),
            seconds=seconds,
            command="python: nncert.distributed",
        )
        return Certificates(core)


def _check_client(client: Any) -> None:
    if not isinstance(client, Client):
        raise TypeError(f"client: expected a dask.distributed.Client, found {type(client)}")


def _local(a: ArrayLike, client: Client) -> Any:
    """A Dask array computed on the cluster and gathered here (labels only); anything else
    as it is."""
    if isinstance(a, _da.Array):
        return _compute(client, a).result()
    return a


def votes(
    certifier: _Certifier,
    X: ArrayLike,
    *,
    client: Client,
    train_shards: int = 1,
    test_block_size: Optional[int] = None,
    timeout: Optional[float] = None,
) -> npt.NDArray[np.int64]:
    """A fitted certifier's ``votes(X)``, computed on the cluster."""
    index = DistributedIndex.from_index(
        certifier._fitted(), client=client, train_shards=train_shards, n_jobs=1
    )
    with index:
        ks, radii = certifier._search_args()
        out = index.search(
            X,
            ks,
            radii,
            metric=str(getattr(certifier, "metric", "l1")),
            test_block_size=test_block_size,
            timeout=timeout,
        )
    result: npt.NDArray[np.int64] = (out["knn"] or out["rnn"])[0][1]
    return result


def certified_accuracy(
    certifier: _Certifier,
    X: ArrayLike,
    y: ArrayLike,
    e: Optional[int] = None,
    *,
    client: Client,
    train_shards: int = 1,
    test_block_size: Optional[int] = None,
    timeout: Optional[float] = None,
) -> Certificates:
    """A fitted certifier's ``certified_accuracy(X, y, e)``, computed on the cluster."""
    index = DistributedIndex.from_index(
        certifier._fitted(), client=client, train_shards=train_shards, n_jobs=1
    )
    with index:
        ks, radii = certifier._search_args()
        return index.certify(
            X,
            y,
            ks,
            radii,
            metric=str(getattr(certifier, "metric", "l1")),
            joint=certifier._joint(),
            seed=getattr(certifier, "seed", None),
            max_e=v.check_max_e(e, "e"),
            tie_rule=str(getattr(certifier, "tie_rule", "larger")),
            threat=str(getattr(certifier, "threat", "general")),
            test_block_size=test_block_size,
            timeout=timeout,
        )
