"""Task streams for amortized structure learning: an infinite training stream and fixed
validation/test sets, as torch tensors.

Seeding and sharding: task ``k`` of a stream is a pure function of
``(family, seed, k)``. Training step ``s`` on rank ``r`` of ``W`` ranks takes the
``batch_size`` tasks starting at ``(s * W + r) * batch_size``, so ranks never overlap,
leave no gaps, and ``W`` ranks with batch B/W see exactly the tasks of one rank with batch
B. DataLoader worker ``w`` of ``K`` produces steps ``start + w, start + w + K, ...``, which
the DataLoader's round-robin turns back into step order. A batch therefore depends only on
its step: resuming at step ``s`` replays the uninterrupted run exactly, for any number of
workers or ranks.

Per-variable standardisation (``normalize``, default on): each task's columns are
shifted and scaled to mean 0 and standard deviation 1 over its rows (observational and
interventional together, as the model sees them); a constant column is only centred;
padded columns stay 0. It removes the scale cues (var-sortability) that would let a
learner read the causal order off the marginal variances.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count as counter
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from causal_meta.scm import TaskBatch, compile_family, sample_graphs, sample_tasks
from causal_meta.specs import Family

__all__ = ["StreamSpec", "TaskStream", "derive_seed", "disjoint_tasks", "fixed_tasks", "graph_hashes",
           "make_loader", "normalize_data", "to_torch"]

_CONSTANT_STD = 1e-6


@dataclass(frozen=True)
class StreamSpec:
    """What one training stream produces: ``batch_size`` tasks per step, each with
    ``n_obs`` observational then ``n_int`` interventional rows."""

    family: Family
    seed: int = 0
    batch_size: int = 8
    n_obs: int = 256
    n_int: int = 0
    normalize: bool = True
    engine_threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size",):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)} is not allowed: must be >= 1")
        for name in ("n_obs", "n_int", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)} is not allowed: must be >= 0")
        if self.n_obs + self.n_int < 1:
            raise ValueError(f"n_obs + n_int = {self.n_obs + self.n_int} is not allowed: must be >= 1")
        if self.engine_threads is not None and self.engine_threads < 1:
            raise ValueError(f"engine_threads = {self.engine_threads} is not allowed: must be >= 1 or None")


def derive_seed(seed: int, purpose: str) -> int:
    """A 64-bit seed for ``purpose`` ('val', 'test', ...) that is stable across Python
    versions and platforms (unlike ``hash``)."""
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def normalize_data(data: np.ndarray) -> np.ndarray:
    """Standardise each variable of each task over its rows; see the module docstring.

    ``data`` is (..., n, d); returns float32 of the same shape. Computed in float32 (two
    passes: mean, then the centred second moment), which keeps the result within 1e-5 of
    a float64 computation at a fraction of its cost on the loader's hot path.
    """
    x = np.asarray(data, dtype=np.float32)
    centred = x - x.mean(axis=-2, keepdims=True)
    var = np.einsum("...nd,...nd->...d", centred, centred)[..., None, :] / np.float32(x.shape[-2])
    std = np.sqrt(var)
    centred /= np.where(std > _CONSTANT_STD, std, np.float32(1.0))
    return centred


def to_torch(batch: TaskBatch, normalize: bool) -> dict[str, torch.Tensor]:
    """Tensors a model consumes: ``data`` float32 (B, n, d), ``intervened`` bool (B, n, d),
    ``adjacency`` float32 (B, d, d) targets, ``node_mask`` bool (B, d), ``n_nodes`` int64 (B,)."""
    data = normalize_data(batch.data) if normalize else batch.data
    if normalize:
        data *= batch.node_mask()[:, None, :]  # padding stays exactly 0
    # Conversions happen in numpy and torch only wraps the buffers: a torch op here would
    # wake torch's OpenMP pool, whose spinning threads then compete with the engine's.
    return {
        "data": torch.from_numpy(np.ascontiguousarray(data)),
        "intervened": torch.from_numpy(batch.mask.view(np.bool_)),
        "adjacency": torch.from_numpy(batch.adjacency.astype(np.float32)),
        "node_mask": torch.from_numpy(batch.node_mask()),
        "n_nodes": torch.from_numpy(batch.n_nodes),
    }


def first_task(spec: StreamSpec, step: int, rank: int = 0, world_size: int = 1) -> int:
    """Index of the first task of training step ``step`` on ``rank``."""
    return (step * world_size + rank) * spec.batch_size


class TaskStream(IterableDataset):
    """The infinite training stream of one rank, from ``start_step`` on.

    Yields dicts from :func:`to_torch` plus ``step`` (int64 scalar) and ``task_index``
    (int64 (B,)). Use with ``DataLoader(stream, batch_size=None)`` or :func:`make_loader`.
    """

    def __init__(self, spec: StreamSpec, start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        if start_step < 0:
            raise ValueError(f"start_step = {start_step} is not allowed: must be >= 0")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank = {rank}, world_size = {world_size} is not allowed: need 0 <= rank < world_size")
        self.spec = spec
        self.family = compile_family(spec.family)  # parsed once, not per batch
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of training step ``step`` (a pure function of the step)."""
        spec = self.spec
        start = first_task(spec, step, self.rank, self.world_size)
        tasks = sample_tasks(self.family, spec.seed, start, spec.batch_size, spec.n_obs, spec.n_int,
                             threads=spec.engine_threads)
        out = to_torch(tasks, spec.normalize)
        out["step"] = torch.tensor(step, dtype=torch.int64)
        out["task_index"] = torch.arange(start, start + spec.batch_size, dtype=torch.int64)
        return out

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for step in counter(self.start_step + worker, workers):
            yield self.batch(step)


def make_loader(
    spec: StreamSpec,
    start_step: int = 0,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
) -> DataLoader:
    """A DataLoader over :class:`TaskStream`. With workers, each worker should leave the
    cores to the others: set ``spec.engine_threads`` (e.g. 1) so that K workers do not each
    start a pool of all cores."""
    if workers < 0:
        raise ValueError(f"workers = {workers} is not allowed: must be >= 0")
    stream = TaskStream(spec, start_step, rank, world_size)
    extra: dict[str, Any] = {"prefetch_factor": prefetch_factor, "persistent_workers": True} if workers else {}
    return DataLoader(stream, batch_size=None, num_workers=workers, pin_memory=pin_memory, **extra)


def graph_hashes(adjacency: np.ndarray, n_nodes: np.ndarray) -> list[bytes]:
    """One digest per task of its labelled graph (node count and adjacency bits)."""
    out = []
    for adj, d in zip(adjacency, n_nodes):
        d = int(d)
        payload = d.to_bytes(4, "little") + np.packbits(adj[:d, :d].astype(bool)).tobytes()
        out.append(hashlib.blake2b(payload, digest_size=16).digest())
    return out


def fixed_tasks(
    family: Family, seed: int, count: int, n_obs: int, n_int: int = 0, normalize: bool = True,
    threads: int | None = None,
) -> dict[str, torch.Tensor]:
    """A fixed set of ``count`` tasks (tasks 0 .. count-1 of the stream ``seed``), for
    validation or testing. Pass ``derive_seed(train_seed, 'val')`` or similar as seed."""
    tasks = sample_tasks(family, seed, 0, count, n_obs, n_int, threads=threads)
    out = to_torch(tasks, normalize)
    out["task_index"] = torch.arange(count, dtype=torch.int64)
    return out


@lru_cache(maxsize=8)
def _training_hashes(train_family_json: str, train_seed: int, train_tasks: int) -> frozenset[bytes]:
    """Graph hashes of the first training tasks, computed once per training stream (a
    trainer checks every validation and test family against the same stream)."""
    return frozenset(graph_hashes(*sample_graphs(train_family_json, train_seed, 0, train_tasks)))


def disjoint_tasks(
    family: Family, seed: int, count: int, n_obs: int, n_int: int, train_family: Family,
    train_seed: int, train_tasks: int, normalize: bool = True, max_draws: int | None = None,
) -> dict[str, torch.Tensor]:
    """Like :func:`fixed_tasks`, but no returned graph equals (as a labelled graph) the graph
    of any of the first ``train_tasks`` tasks of the training stream ``train_seed``.

    Candidates ``0, 1, 2, ...`` of the stream ``seed`` are kept in order unless their graph
    hash is among the training hashes; ``task_index`` tells which were kept. Raises if
    fewer than ``count`` survive ``max_draws`` candidates (default 4 * count + 16), which
    happens only for families with few distinct graphs (e.g. 3-node chains).
    """
    if count < 1:
        raise ValueError(f"count = {count} is not allowed: must be >= 1")
    seen = _training_hashes(train_family.to_json(), train_seed, train_tasks) if train_tasks else frozenset()
    draws = max_draws if max_draws is not None else 4 * count + 16
    cand_adj, cand_nodes = sample_graphs(family, seed, 0, draws)
    keep = [k for k, h in enumerate(graph_hashes(cand_adj, cand_nodes)) if h not in seen][:count]
    if len(keep) < count:
        raise ValueError(
            f"count = {count} is not allowed for this family: only {len(keep)} of {draws} candidate "
            f"graphs differ from the first {train_tasks} training graphs; lower count or train_tasks"
        )
    compiled = compile_family(family)  # one parse for the task-by-task calls below
    parts = [sample_tasks(compiled, seed, k, 1, n_obs, n_int) for k in keep]
    merged = TaskBatch(*(np.concatenate(arrays) for arrays in zip(*parts)))
    out = to_torch(merged, normalize)
    out["task_index"] = torch.tensor(keep, dtype=torch.int64)
    return out
