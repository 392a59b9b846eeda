"""The intervention policy's sizes, in a module that imports neither torch nor Hydra:
the ``policy`` section of the GRPO config (``python -m agents.grpo --help`` lists it
before torch, a second or more, would be loaded) and what a checkpoint's
``config.policy`` rebuilds :class:`~agents.grpo.policy.InterventionPolicy` from."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from causal_meta.options import option

__all__ = ["PolicyConfig"]


@dataclass
class PolicyConfig:
    """Sizes of the intervention policy (also the ``policy`` section of the GRPO config)."""

    d_model: int = option(32, "width of the embeddings and attention")
    heads: int = option(4, "attention heads")
    head_dim: int = option(8, "width of one attention head")
    layers: int = option(2, "pairs of attention blocks (over rows, then over variables)")
    ffn: int = option(64, "hidden width of each feed-forward block")
    value_std: float = option(0.5, "standard deviation of the pre-squash value (its initial value if learned)")
    learn_std: bool = option(False, "learn the value's standard deviation")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"policy.{f.name} = {value!r} is not allowed: must be an integer >= 1")
        if not (isinstance(self.value_std, (int, float)) and math.isfinite(self.value_std) and self.value_std > 0):
            raise ValueError(f"policy.value_std = {self.value_std!r} is not allowed: must be a finite number > 0")
