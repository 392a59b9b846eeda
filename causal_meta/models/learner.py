"""A trained amortized model behind the structure-learner protocol
(:class:`causal_meta.learners.StructureLearner`), so that benchmarks score it like PC and
GES and the CausalBO surrogate queries it one observation at a time.

It works for every model of :mod:`causal_meta.models.registry`: each one answers
``edge_probs(data, intervened, node_mask)`` and ``posterior(data, intervened, node_mask,
n_samples, generator)`` with its own graph sampler.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from causal_meta.data import normalize_data
from causal_meta.learners import EdgePosterior

__all__ = ["AmortizedLearner", "evaluating"]


class AmortizedLearner:
    """``fit`` standardises the task as the training stream does
    (:func:`causal_meta.data.normalize_data`), runs the model in eval mode without
    gradients (and restores its mode), and draws ``n_samples`` graphs from the model's
    posterior with a generator seeded by ``seed``."""

    def __init__(self, model: torch.nn.Module, n_samples: int = 100) -> None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 0:
            raise ValueError(f"n_samples = {n_samples!r} is not allowed: must be an integer >= 0")
        self.model = model
        self.n_samples = int(n_samples)
        self.name: str = model.config.name

    def _inputs(self, data: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x, m = np.asarray(data), np.asarray(mask)
        if x.ndim != 2 or x.shape[1] == 0 or m.shape != x.shape:
            raise ValueError(f"data must be (n, d) with d >= 1 and mask of the same shape; "
                             f"got data {x.shape}, mask {m.shape}")
        if not np.isfinite(x).all():
            raise ValueError("data must be finite")
        device = next(self.model.parameters()).device
        return torch.from_numpy(normalize_data(x)[None]).to(device), torch.from_numpy(m[None] != 0).to(device)

    def edge_probs(self, data: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        """``P(i -> j)`` float32 (d, d) of the task ``data`` (n, d) with intervention
        ``mask`` (n, d), on the model's device. Cheaper than :meth:`fit` when no graph
        samples are needed (a surrogate queried every environment step)."""
        values, intervened = self._inputs(data, mask)
        with evaluating(self.model), torch.no_grad():
            return self.model.edge_probs(values, intervened)[0]

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> EdgePosterior:
        """Posterior of the task ``data`` (n, d) with intervention ``mask`` (n, d)."""
        values, intervened = self._inputs(data, mask)
        generator = torch.Generator(device=values.device).manual_seed(int(seed))
        with evaluating(self.model):
            probs, samples = self.model.posterior(values, intervened, None, self.n_samples, generator)
        return EdgePosterior(probs[0].double().cpu().numpy(), samples[0].cpu().numpy())


class evaluating:
    """The model in eval mode for a block, its previous mode restored after (a model
    queried between training steps goes back to training)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> None:
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)
