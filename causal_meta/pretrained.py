"""Pre-trained structure learners from checkpoints: what benchmarks score next to PC and
GES, and what the agents use as their initial surrogate.

The checkpoint carries its own resolved config, so the architecture is rebuilt from the
file itself; `load_checkpoint` refuses files that are truncated, of another format
version or from another model.
"""

from __future__ import annotations

from pathlib import Path

from causal_meta.models.avici import AviciLearner
from causal_meta.train import checkpoint as ckpt
from causal_meta.train.config import ModelConfig
from causal_meta.train.loop import build_model

# The CPU checkpoint shipped with the package (see its MODEL_CARD.md).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "avici_cpu_small.pt"


def load_learner(path: str | Path = DEFAULT_CHECKPOINT, n_samples: int = 100) -> AviciLearner:
    """The AVICI model saved at ``path``, ready to ``fit(data, mask)`` on CPU."""
    saved = ckpt.load_checkpoint(path, expected_model="avici")
    model_cfg = ModelConfig(**saved["config"]["model"])
    model = build_model(model_cfg)
    model.load_state_dict(saved["state"]["model"])
    model.eval()
    return AviciLearner(model, n_samples=n_samples)
