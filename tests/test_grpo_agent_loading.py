"""Loading a GRPO agent checks its checkpoint where the values enter: a file whose
policy, optimizer or surrogate tensors are not finite is refused at load time, naming
the file and the tensor, instead of failing later as a NaN action."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.grpo.agent import MODEL_NAME, load_agent
from agents.grpo.policy import InterventionPolicy, PolicyConfig
from causal_meta.pretrained import DEFAULT_CHECKPOINT
from causal_meta.train import checkpoint as ckpt
from causal_meta.train.checkpoint import CheckpointError
from envs.vector import CausalBOVectorEnv

SIZES = PolicyConfig(d_model=16, heads=2, head_dim=8, layers=1, ffn=32)


@pytest.fixture(scope="module")
def grpo_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small GRPO checkpoint as the trainer lays it out, after one optimizer step."""
    torch.manual_seed(0)
    policy = InterventionPolicy(SIZES)
    optimizer = torch.optim.Adam(policy.parameters())
    sum(p.sum() for p in policy.parameters()).backward()
    optimizer.step()
    surrogate = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    state = {"model": policy.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": {}, "scaler": {},
             "stream": {"iteration": 1}, "rng": ckpt.capture_rng_state(),
             "surrogate": surrogate["state"]["model"], "surrogate_config": surrogate["config"]["model"]}
    directory = tmp_path_factory.mktemp("grpo")
    return ckpt.CheckpointManager(directory).save(state, step=1, model_name=MODEL_NAME,
                                                  config={"policy": dataclasses.asdict(SIZES)})


def test_the_small_checkpoint_loads_and_acts(grpo_checkpoint: Path) -> None:
    obs, _ = CausalBOVectorEnv(2, level=1).reset(seed=0)
    actions, _ = load_agent(grpo_checkpoint).predict(obs, deterministic=True)
    assert np.isfinite(actions).all()


def _a_weight(state: dict) -> tuple[str, torch.Tensor]:
    name = next(iter(state))
    return name, state[name]


TENSORS = {  # section of the saved state -> (dotted key below it, tensor)
    "model": _a_weight,
    "optimizer": lambda optimizer: ("state.0.exp_avg", optimizer["state"][0]["exp_avg"]),
    "surrogate": _a_weight,
}


@pytest.mark.parametrize("section", list(TENSORS))
def test_a_checkpoint_with_nan_tensors_is_refused_at_load_naming_file_and_tensor(
        grpo_checkpoint: Path, tmp_path: Path, section: str) -> None:
    saved = torch.load(grpo_checkpoint, weights_only=True)
    key, tensor = TENSORS[section](saved["state"][section])
    tensor.fill_(float("nan"))
    path = tmp_path / "diverged.pt"
    torch.save(saved, path)
    with pytest.raises(CheckpointError, match=rf"^checkpoint {path}: tensor {re.escape(f'state.{section}.{key}')} "
                                              rf"holds {tensor.numel()} NaN or infinite value") as info:
        load_agent(path)
    assert info.value.path == path
