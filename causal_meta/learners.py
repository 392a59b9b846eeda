"""The protocol every structure learner implements, classical or amortized.

A structure learner turns one task (data float32 ``(n, d)``, intervention mask ``(n, d)``)
into an :class:`EdgePosterior`. This module holds only that contract, with no model, no
training and no plotting code: models and baselines import it, and loading a trained
learner (for example as a CausalBO surrogate) pulls in nothing more than the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["EdgePosterior", "StructureLearner"]


@dataclass(frozen=True)
class EdgePosterior:
    """What a learner says about one task's graph.

    ``probs`` is float64 ``(d, d)`` with ``probs[i, j] = P(i -> j)`` in [0, 1] and a zero
    diagonal; ``samples`` is uint8 ``(S, d, d)`` graphs drawn from the learner's posterior,
    or None for a learner that has only marginals. Checked on construction so that a new
    learner that breaks the contract fails where it is built, not in a metric later.
    """

    probs: NDArray[np.float64]
    samples: NDArray[np.uint8] | None = None

    def __post_init__(self) -> None:
        p = self.probs
        if p.ndim != 2 or p.shape[0] != p.shape[1]:
            raise ValueError(f"probs must have shape (d, d); got {p.shape}")
        if not ((p >= 0) & (p <= 1)).all() or np.diagonal(p).any():
            raise ValueError("probs must lie in [0, 1] with a zero diagonal")
        s = self.samples
        if s is not None and (s.ndim != 3 or s.shape[1:] != p.shape):
            raise ValueError(f"samples must have shape (S, {p.shape[0]}, {p.shape[0]}); got {s.shape}")


@runtime_checkable
class StructureLearner(Protocol):
    """Anything that fits one task at a time: classical algorithms and trained models."""

    name: str

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> EdgePosterior:
        """Posterior over the graph of the task ``data`` (n, d) with intervention ``mask``."""
        ...
