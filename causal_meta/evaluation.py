"""Test tasks and how a posterior is scored on them: one path for the trainer's report
(``python -m agents.pretrain``) and ``benchmarks/structure.py``, so that both describe
the same tasks with the same numbers.

Test tasks of a family are drawn from the seed ``derive_seed(data_seed, "test:LABEL")``
(validation: ``"val:LABEL"``), where LABEL names the family (``SUITE/NAME`` in a suite),
and keep only graphs that none of the first :data:`DISJOINT_FROM_TRAIN_TASKS` training
tasks has. A task is scored on its real variables by :func:`causal_meta.metrics.summarize`
(learners that give scores rather than probabilities: by :data:`RANKING_METRICS` only).
"""

from __future__ import annotations

import numpy as np
import torch

from causal_meta import metrics
from causal_meta.data import derive_seed, disjoint_tasks
from causal_meta.specs import Family

__all__ = ["DISJOINT_FROM_TRAIN_TASKS", "RANKING_METRICS", "held_out_tasks", "score_task"]

DISJOINT_FROM_TRAIN_TASKS = 20_000
"""How many training graphs a validation or test graph must differ from."""


def held_out_tasks(family: Family, label: str, purpose: str, data_seed: int, count: int, n_obs: int, n_int: int,
                   train_family: Family, normalize: bool = True) -> dict[str, torch.Tensor]:
    """``count`` validation or test tasks (``purpose``: "val" or "test") of ``family``,
    seeded by ``purpose`` and ``label`` (so validation and test never share a seed), none
    of whose graphs occurs among the first training tasks of ``train_family`` from the
    stream ``data_seed``."""
    return disjoint_tasks(family, derive_seed(data_seed, f"{purpose}:{label}"), count, n_obs, n_int, train_family,
                          data_seed, DISJOINT_FROM_TRAIN_TASKS, normalize=normalize)


_RANKING = {"auroc": metrics.edge_auroc, "auprc": metrics.edge_auprc, "best_edge_f1": metrics.edge_best_f1}

RANKING_METRICS = tuple(_RANKING)
"""The metrics that read only the order of the values: all that score baselines get."""


def score_task(truth: np.ndarray, probs: np.ndarray, samples: np.ndarray | None, *,
               scores_only: bool = False) -> dict[str, float]:
    """Every metric of one task: ``truth`` and ``probs`` (d, d) on its real variables,
    ``samples`` (S, d, d) or None; ``best_edge_f1`` (:func:`causal_meta.metrics.edge_best_f1`)
    next to those of :func:`causal_meta.metrics.summarize`.

    ``scores_only``: ``probs`` are scores, not probabilities (the score baselines of
    :mod:`causal_meta.baselines`), so only :data:`RANKING_METRICS` are computed; thresholds
    at 0.5, calibration and likelihood would be numbers without a meaning.
    """
    truth = truth.astype(np.uint8)
    if scores_only:
        return {k: float(metric(truth, probs)) for k, metric in _RANKING.items()}
    summary = metrics.summarize(truth, probs, samples)
    return {**{k: float(v) for k, v in summary.items()}, "best_edge_f1": float(metrics.edge_best_f1(truth, probs))}
