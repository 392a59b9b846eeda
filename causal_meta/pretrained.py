"""Pre-trained structure learners from checkpoints: what benchmarks score next to PC and
GES, and what the agents use as their initial surrogate
(:class:`causal_meta.surrogate.ParentSurrogate`).

The checkpoint carries its own resolved config, so the architecture is rebuilt from the
file itself, through the model registry (:mod:`causal_meta.models.registry`), with its
shapes checked against the saved weights before anything is built; `load_checkpoint`
refuses files that are truncated, of another format version or from another model.
Loading imports the model and the checkpoint format only: no training, logging,
configuration or plotting code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from causal_meta.models import registry
from causal_meta.models.learner import AmortizedLearner
from causal_meta.train import checkpoint as ckpt

__all__ = ["CHECKPOINTS", "DEFAULT_CHECKPOINT", "load_learner", "restore_model", "restore_section"]

CHECKPOINTS = {name: Path(__file__).resolve().parent / "checkpoints" / f"{name}_cpu_small.pt"
               for name in ("avici", "bcnp")}
"""The CPU checkpoints shipped with the package, by model (see checkpoints/MODEL_CARD*.md)."""

DEFAULT_CHECKPOINT = CHECKPOINTS["avici"]
"""The default learner and initial surrogate of the agents."""


def load_learner(path: str | Path | None = None, n_samples: int = 100,
                 model: str | None = None) -> AmortizedLearner:
    """The model saved at ``path`` (refused unless it is ``model``, when given; any
    registered model otherwise), ready to ``fit(data, mask)`` on CPU. Without ``path``,
    the shipped checkpoint of ``model`` (AVICI's by default)."""
    if path is None:
        if (model or "avici") not in CHECKPOINTS:
            raise ValueError(f"model = {model!r} is not allowed without a path: checkpoints ship for "
                             f"{sorted(CHECKPOINTS)}")
        path = CHECKPOINTS[model or "avici"]
    allowed = model if model is not None else tuple(registry.MODELS)
    saved = ckpt.load_checkpoint(path, expected_model=allowed)
    return AmortizedLearner(restore_model(saved, path, allowed).eval(), n_samples=n_samples)


def restore_model(saved: Mapping[str, Any], path: str | Path,
                  expected: str | tuple[str, ...] = tuple(registry.MODELS)) -> nn.Module:
    """The file's own model (settings ``config.model``, weights ``state.model``), which
    its metadata names: refused unless the config builds that model, one of ``expected``
    (:func:`causal_meta.train.checkpoint.check_configured_model`), since the model
    built is the config's, whatever the metadata says."""
    configured = _model_name(ckpt.saved_section(saved, "config.model", path, settings=True))
    ckpt.check_configured_model(saved, path, configured, "config.model.name", expected)
    return restore_section(saved, path, "config.model", "state.model")


def restore_section(saved: Mapping[str, Any], path: str | Path, config: str, weights: str) -> nn.Module:
    """A model of a loaded checkpoint: its settings from the section ``config`` of the
    file (through the registry), its weights from ``weights``, shapes checked before
    anything is built (:func:`causal_meta.train.checkpoint.restore_module`). For a model
    the metadata does not name, such as the surrogate inside a GRPO checkpoint."""
    settings = ckpt.saved_section(saved, config, path, settings=True)
    state = ckpt.saved_section(saved, weights, path)
    return ckpt.restore_module(lambda: registry.build(settings), state, path, f"the {_model_name(settings)} model")


def _model_name(settings: Mapping[str, Any]) -> str:
    """The model that ``registry.build(settings)`` builds."""
    return str(settings.get("name", registry.DEFAULT))
