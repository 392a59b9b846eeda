"""The shipped CPU checkpoint loads as a structure learner and beats chance on its family."""

from __future__ import annotations

import numpy as np

from causal_meta.families import load_family
from causal_meta.metrics import edge_auroc
from causal_meta.pretrained import DEFAULT_CHECKPOINT, load_learner
from causal_meta.scm import sample_tasks


def test_shipped_checkpoint_is_small_and_loads() -> None:
    assert DEFAULT_CHECKPOINT.is_file()
    assert DEFAULT_CHECKPOINT.stat().st_size < 8 * 2**20
    learner = load_learner(n_samples=5)
    tasks = sample_tasks(load_family("cpu_small/er2_linear_d10"), 7, 0, 1, 200)
    posterior = learner.fit(tasks.data[0], tasks.mask[0])
    assert posterior.probs.shape == (10, 10) and posterior.samples.shape == (5, 10, 10)
    assert np.all(np.diag(posterior.probs) == 0)


def test_shipped_checkpoint_ranks_edges_above_chance() -> None:
    # 40 tasks: the mean AUROC of a chance ranker is 0.5 with a standard error near 0.015.
    learner = load_learner(n_samples=1)
    tasks = sample_tasks(load_family("cpu_small/er2_linear_d10"), 11, 0, 40, 200)
    scores = [edge_auroc(tasks.adjacency[t], learner.fit(tasks.data[t], tasks.mask[t]).probs) for t in range(40)]
    assert np.mean(scores) > 0.6
