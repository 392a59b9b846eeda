"""The one registry of amortized structure learners: model name -> network class.

Every registered class declares its settings once, as a dataclass in its class attribute
``Config`` (the ``model`` section of a pre-training config, and what a checkpoint's
``config.model`` holds), and answers the protocol the trainer, the evaluation and
:class:`causal_meta.models.learner.AmortizedLearner` use:

* ``forward(data, intervened, node_mask)``: edge logits (B, d, d);
* ``edge_probs(...)`` and ``posterior(..., n_samples, generator)``: edge probabilities,
  and graphs from the model's own sampler;
* ``training_loss(batch)``: the loss it minimises and the terms to log;
* ``after_step(step, terms, mean_across_ranks)``, ``training_state()`` and
  ``load_training_state(state)``: its training hook (AVICI's dual ascent) and the
  hook's state, saved in every checkpoint.

A new model is one module plus its presets, one line here and its settings class in
:data:`causal_meta.models.settings.SETTINGS` (torch-free, for the config); nothing in
:mod:`causal_meta.train` names a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from causal_meta.models.avici import Avici
from causal_meta.models.bcnp import Bcnp

__all__ = ["DEFAULT", "MODELS", "build", "model_class"]

MODELS: dict[str, type[nn.Module]] = {"avici": Avici, "bcnp": Bcnp}
"""Registered models by name."""

DEFAULT = "avici"
"""The model a pre-training config starts from."""


def model_class(name: str) -> type[nn.Module]:
    """The network class registered as ``name``."""
    if name not in MODELS:
        raise ValueError(f"model.name = {name!r} is not allowed: models available: {sorted(MODELS)}")
    return MODELS[name]


def build(settings: Mapping[str, Any] | Any) -> nn.Module:
    """An untrained model from its settings: a ``Config`` instance, or a mapping with
    its keys (a checkpoint's ``config.model``; ``name`` picks the model, :data:`DEFAULT`
    when absent)."""
    if not isinstance(settings, Mapping):
        return model_class(settings.name)(settings)
    cls = model_class(str(settings.get("name", DEFAULT)))
    return cls(cls.Config(**settings))
