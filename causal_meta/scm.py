"""The Python face of the Rust engine: draw SCMs, sample their data, sample task batches.

Conventions: ``A[i, j] = 1`` means the edge i -> j; data are float32
``(n, d)``; the intervention mask is ``(n, d)`` uint8, 1 where do() set the value.

Seeding: task ``k`` of a stream is a pure function of ``(family, base_seed, k)``, so the
same call gives the same bytes whatever the thread count or the way a range of tasks is
split into calls. On x86-64 CPUs with AVX2 or AVX-512 the engine runs vectorised clones of its loops;
they return the same bytes as the plain build (the engine never fuses multiply-adds).
Normal noise is drawn by Box-Muller from 24-bit uniforms, which bounds it to |z| < 5.9.

Memory: one engine call may use at most 4 GiB, its outputs and workspace together (for
``Scm.sample(n)`` 13 bytes per row and variable). A larger request is refused with a
ValueError naming its arguments; an allocation the machine cannot serve within the cap
raises MemoryError naming the buffer. Neither aborts the interpreter.

Overflow: finite parameters can still overflow float32 once sampled (weights of 1e30
along a chain, a Cauchy scale near the float32 maximum, an intervention value near it).
Every engine call that returns an SCM's data (:func:`sample_tasks`, ``Scm.sample``,
``Scm.column_under_interventions``, common random numbers, the batched samplers and the
environments' episode starts and steps) checks what it returns, in one vectorised pass,
and raises ValueError naming the sample, task, SCM or environment instead of returning
inf or NaN.

:class:`Scm` is the engine's class itself (no Python wrapper), so that one
interventional sample costs a few microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from causal_meta import _core
from causal_meta._core import (
    CompiledFamily,
    Scm,
    set_simd,
    simd_level,
    task_seed,
    task_seeds,
)
from causal_meta.specs import Family, parse_family

__all__ = ["CompiledFamily", "FamilyLike", "Scm", "TaskBatch", "compile_family", "family_json", "sample_graphs",
           "sample_scm", "sample_scms", "sample_tasks", "set_simd", "simd_level", "task_seed", "task_seeds"]


class TaskBatch(NamedTuple):
    """Stacked tasks padded to the family's maximum node count ``d_max``."""

    data: np.ndarray
    """float32 (count, n, d_max); padded columns are 0."""
    mask: np.ndarray
    """uint8 (count, n, d_max); 1 where do() set the value."""
    adjacency: np.ndarray
    """uint8 (count, d_max, d_max); A[i, j] = 1 for i -> j."""
    n_nodes: np.ndarray
    """int64 (count,); task t uses the first n_nodes[t] variables."""

    def node_mask(self) -> np.ndarray:
        """bool (count, d_max): True for a task's real variables, False for padding."""
        return np.arange(self.data.shape[2])[None, :] < self.n_nodes[:, None]


FamilyLike = Family | Mapping[str, Any] | str | CompiledFamily
"""A family as the functions below take it: a :class:`Family`, a mapping, its JSON text,
or a :class:`CompiledFamily` (the fastest: nothing to convert, parse or check)."""


def family_json(family: FamilyLike) -> str:
    """The engine's JSON for a family given as a :class:`Family`, a mapping, JSON text or a
    :class:`CompiledFamily`."""
    if isinstance(family, str):
        return family
    if isinstance(family, CompiledFamily):
        return family.to_json()
    return parse_family(family).to_json()


def compile_family(family: FamilyLike) -> CompiledFamily:
    """``family`` parsed and validated once, as the engine object that :func:`sample_tasks`,
    :func:`sample_scm`, :func:`sample_scms`, :func:`sample_graphs` and the environments take
    without converting it again. Converting a :class:`Family` costs tens of microseconds and
    a mapping hundreds; a caller that samples a few tasks or one SCM at a time should
    compile its family once. It pickles as its JSON, and compares equal to a compiled
    family of the same parameters."""
    if isinstance(family, CompiledFamily):
        return family
    return CompiledFamily(family_json(family))


def _engine_family(family: FamilyLike) -> CompiledFamily | str:
    """What the engine takes: a CompiledFamily as it is, anything else as its JSON."""
    return family if isinstance(family, CompiledFamily) else family_json(family)


def sample_scm(family: FamilyLike, seed: int) -> Scm:
    """The SCM of ``seed`` in ``family``: a pure function of the two.

    Task ``k`` of ``sample_tasks(family, base_seed, ...)`` has the SCM
    ``sample_scm(family, task_seed(base_seed, k))``.
    """
    return Scm.from_family(_engine_family(family), seed)


def sample_scms(family: FamilyLike, seeds: Sequence[int] | np.ndarray,
                noise_seeds: Sequence[int] | np.ndarray | None = None) -> list[Scm]:
    """``[sample_scm(family, s) for s in seeds]``, drawn in parallel from one parse of the
    family: the same SCMs, for a fraction of the cost when there are many. With
    ``noise_seeds``, SCM k's own noise stream is seeded as ``seed_noise(noise_seeds[k])``
    would seed it. Seeds may be a uint64 array (fastest) or any sequence of ints."""
    return _core.sample_scms(_engine_family(family), seeds, noise_seeds)


def sample_tasks(
    family: FamilyLike,
    base_seed: int,
    start: int,
    count: int,
    n_obs: int,
    n_int: int = 0,
    threads: int | None = None,
) -> TaskBatch:
    """Tasks ``start .. start + count`` of the stream ``base_seed``, sampled in parallel.

    Each task draws an SCM, then ``n_obs`` observational rows followed by ``n_int`` rows
    that each intervene on one uniformly chosen node with a value from the family's
    ``interventions.value``. ``threads`` pins the engine to that many threads (default:
    one per core); with one thread, or one task, it samples on the calling thread. The
    engine's pools are fork-safe: a forked DataLoader worker builds its own. The GIL is
    released while sampling (except for calls too small to be worth it) and the arrays
    are handed to numpy without a copy; a long call samples in chunks of tasks (some 50 ms
    each) and lets Python handle signals between them, so Ctrl-C raises KeyboardInterrupt
    promptly, and the chunks change no byte. Pass a :class:`CompiledFamily`
    (:func:`compile_family`) when calls are small: converting a family costs more than a
    few tasks.

    A family whose parameters overflow float32 (weights of 1e30 along a chain, a Cauchy
    scale near the float32 maximum) gives infinite or NaN values; the engine checks each
    task as it samples it and raises ValueError naming the first such task instead of
    letting it reach a model.
    """
    return TaskBatch(*_core.sample_tasks(_engine_family(family), base_seed, start, count, n_obs, n_int, threads))


def sample_graphs(
    family: FamilyLike, base_seed: int, start: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Only the graphs of tasks ``start .. start + count``: ``(adjacency, n_nodes)``, equal to
    what :func:`sample_tasks` returns for them but without drawing mechanisms or data."""
    return _core.sample_graphs(_engine_family(family), base_seed, start, count)
