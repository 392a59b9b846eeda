"""What ``--policy`` accepts: a built-in name or a file, resolved to something the
harness can build for each episode set."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gymnasium.vector import VectorEnv

from agents.evaluate.rollout import optimal_actions
from agents.policies import (BUILTIN, CboPolicy, GpBoPolicy, GreedyPolicy, OraclePolicy, Policy, RandomPolicy,
                             true_knowledge)

__all__ = ["PolicySource", "resolve"]


@dataclass(frozen=True)
class PolicySource:
    """A resolved policy: its label in reports, a factory ``build(env, seed)`` for the
    vector environment it will act in, and the observation shape it needs (None: any
    width or row count)."""

    name: str
    build: Callable[[VectorEnv, int], Policy]
    width: int | None = None
    rows: int | None = None


def _builtin(name: str) -> PolicySource:
    builders: dict[str, Callable[[VectorEnv, int], Policy]] = {
        "random": lambda env, seed: RandomPolicy(seed),
        "greedy": lambda env, seed: GreedyPolicy(),
        "oracle": lambda env, seed: OraclePolicy(lambda: optimal_actions(env)),
        "bo": lambda env, seed: GpBoPolicy(seed),
        "botorch": _botorch,
        "cbo": lambda env, seed: CboPolicy(lambda: true_knowledge(env)),
    }
    return PolicySource(name, builders[name])


def _botorch(env: VectorEnv, seed: int) -> Policy:
    """The BoTorch baseline, imported here: it needs the optional extra ``bo``."""
    from agents.policies.botorch_bo import BoTorchPolicy

    return BoTorchPolicy(seed)


def resolve(spec: str, device: str = "cpu") -> PolicySource:
    """The policy named by ``spec``: one of :data:`~agents.policies.BUILTIN`, or the path
    of a stable-baselines3 zip or of a ``python -m agents.grpo`` checkpoint (both loaded
    without running code from them). ValueError (or CheckpointError, a ValueError)
    naming the spec and what is allowed otherwise."""
    if spec in BUILTIN:
        return _builtin(spec)
    path = Path(spec)
    if path.is_dir():
        from causal_meta.train.checkpoint import CheckpointError, require_file

        try:
            require_file(path, "policy", ("checkpoints/last.pt", "model.zip", "checkpoints/last.zip"))
        except CheckpointError as err:
            raise CheckpointError(f"policy = {spec!r} is not allowed: {err}", path) from err
    if not path.is_file():
        raise ValueError(f"policy = {spec!r} is not allowed: not a built-in policy {list(BUILTIN)} and no such file")
    from agents.baselines.load import is_sb3_zip, load_sb3

    if is_sb3_zip(path):
        model = load_sb3(path, device)
        return PolicySource(f"{model.algorithm.lower()}:{path.stem}", lambda env, seed: model, model.width,
                            model.rows)
    if zipfile.is_zipfile(path):  # torch checkpoints are zip archives too
        from agents.grpo.agent import MODEL_NAME, load_agent
        from causal_meta.train.checkpoint import CheckpointError

        try:
            agent = load_agent(path, device)
        except CheckpointError as err:
            saved = _saved_model(path)
            problem = err if saved in (None, MODEL_NAME) else (
                f"{path} holds a model {saved!r}, not a policy: evaluation plays GRPO checkpoints (model "
                f"{MODEL_NAME!r}, written by python -m agents.grpo) and stable-baselines3 zips")
            raise CheckpointError(f"policy = {spec!r} is not allowed: {problem}", path) from err
        return PolicySource(f"grpo:{path.stem}", lambda env, seed: agent)
    raise ValueError(f"policy = {spec!r} is not allowed: the file is neither a stable-baselines3 zip (a zip archive "
                     "with 'data' and 'policy.pth') nor a GRPO checkpoint")


def _saved_model(path: Path) -> str | None:
    """The model name in a torch checkpoint's metadata, read safely (weights only, the
    tensors mapped, not read); None when the file does not say. The checkpoint loader
    words a mismatch for a training run, so the harness names the model itself."""
    import pickle

    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None
    metadata = saved.get("metadata") if isinstance(saved, dict) else None
    name = metadata.get("model_name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None
