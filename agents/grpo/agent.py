"""The trained GRPO agent: the intervention policy with its surrogate, behind the
stable-baselines3 ``predict`` protocol, and its loading from a checkpoint.

A checkpoint of ``python -m agents.grpo`` (model name ``grpo``) holds the policy's
weights under ``state.model`` with its sizes in ``config.policy``, and the surrogate's
weights under ``state.surrogate`` with its architecture in ``state.surrogate_config`` (any
registered model: the trainer's ``surrogate.checkpoint`` may be AVICI's or BCNP's).
:func:`load_agent` rebuilds both from the file alone and loads it with the safe,
weights-only loader of :mod:`causal_meta.train.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.grpo.policy import InterventionPolicy, PolicyConfig, observation_tensors
from agents.policies.base import as_batch
from causal_meta.pretrained import restore_section
from causal_meta.surrogate import ParentSurrogate
from causal_meta.train.checkpoint import load_checkpoint, restore_module, saved_section
from envs.actions import one_hot_actions

__all__ = ["MODEL_NAME", "GrpoAgent", "load_agent"]

MODEL_NAME = "grpo"


class GrpoAgent:
    """Acts on batched or single CausalBO observations: the surrogate's parent
    probabilities, then the policy; ``deterministic`` takes the most likely variable at
    its mean value, otherwise an action is sampled."""

    def __init__(self, policy: InterventionPolicy, surrogate: ParentSurrogate) -> None:
        self.policy, self.surrogate = policy, surrogate

    def act(self, observation: dict[str, np.ndarray], deterministic: bool = True,
            generator: torch.Generator | None = None) -> np.ndarray:
        """float32 actions (B, max_nodes + 1) for a batch of observations."""
        probs = self.surrogate.parent_probs(observation)
        obs = observation_tensors(observation, self.surrogate.device)
        was_training = self.policy.training
        self.policy.eval()
        try:
            with torch.no_grad():
                logits, mean = self.policy(obs, probs)
                if deterministic:
                    nodes, z = self.policy.greedy(logits, mean)
                else:
                    nodes, z = (x[:, 0] for x in self.policy.sample(logits, mean, 1, generator))
        finally:
            self.policy.train(was_training)
        return one_hot_actions(nodes.cpu().numpy(), torch.tanh(z).cpu().numpy(), logits.shape[1])

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        obs, single = as_batch(observation)
        actions = self.act(obs, deterministic)
        return (actions[0] if single else actions), state


def load_agent(path: str | Path, device: str | torch.device = "cpu") -> GrpoAgent:
    """The agent saved at ``path``; CheckpointError (naming the file) for a file that is
    not a readable GRPO checkpoint or whose weights do not fit its own config (checked
    before either network is built)."""
    saved = load_checkpoint(path, expected_model=MODEL_NAME)
    policy_config = saved_section(saved, "config.policy", path, settings=True)
    policy = restore_module(lambda: InterventionPolicy(PolicyConfig(**policy_config)),
                            saved_section(saved, "state.model", path), path, "the intervention policy")
    surrogate = restore_section(saved, path, "state.surrogate_config", "state.surrogate")
    policy.eval().to(device)
    surrogate.eval().to(device)
    return GrpoAgent(policy, ParentSurrogate(surrogate))
