"""Load a stable-baselines3 zip without running code from it, as a CausalBO policy.

SB3's own ``load`` unpickles (cloudpickle) the classes, spaces and schedules stored in
the zip's ``data`` entry, so opening a zip from someone else can run their code. Here
nothing in the zip is unpickled:

* every pickled entry is replaced before SB3 sees it (SB3's ``custom_objects``);
* the policy class is read from its pickle with :mod:`pickletools`, which parses
  opcodes without executing them, and must be a plain reference to one of the
  dictionary-observation policies in :data:`POLICIES` (PPO, A2C, SAC, TD3);
* the observation and action spaces are rebuilt as CausalBO spaces of the width and row
  count that the zip's text describes, and must print exactly as the zip's own do;
* schedules are rebuilt from their printed constants (they do not affect prediction);
* weights are read by SB3 with ``torch.load(weights_only=True)``, once every weight file
  in the zip has passed the safe reader of :mod:`causal_meta.train.checkpoint`.

A zip that does not fit (another policy class, a flattened Box observation, Python
objects in ``policy_kwargs``) is refused with a :class:`~causal_meta.train.checkpoint.
CheckpointError` that says why.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from base64 import b64decode
from pathlib import Path
from typing import Any

import numpy as np

from agents.policies.base import as_batch
from causal_meta.train.checkpoint import CheckpointError, check_member_sizes, load_weights, require_file
from envs.config import action_space, observation_space

__all__ = ["POLICIES", "Sb3Policy", "is_sb3_zip", "load_sb3"]

POLICIES = {
    ("stable_baselines3.common.policies", "MultiInputActorCriticPolicy"): "on_policy",
    ("stable_baselines3.sac.policies", "MultiInputPolicy"): "SAC",
    ("stable_baselines3.td3.policies", "MultiInputPolicy"): "TD3",
}
"""Policy classes a zip may name (by module and name), and the algorithm they belong to
(on-policy: PPO when the zip has PPO's ``clip_range``, else A2C)."""

_SAFE_OPCODES = {"PROTO", "FRAME", "SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "MEMOIZE", "BINPUT", "PUT",
                 "STACK_GLOBAL", "GLOBAL", "STOP"}
_CONSTANT = re.compile(r"ConstantSchedule\(val=([-+0-9.eE]+|inf|nan)\)")


def is_sb3_zip(path: Path) -> bool:
    """Whether ``path`` is a zip archive with SB3's ``data`` and ``policy.pth`` entries."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    return {"data", "policy.pth"} <= names


def load_sb3(path: str | Path, device: str = "cpu") -> Sb3Policy:
    """The SB3 model saved at ``path`` as a policy; CheckpointError if it cannot be loaded
    safely or is not a CausalBO policy."""
    path = Path(path)
    require_file(path, "stable-baselines3 zip", ("model.zip", "checkpoints/last.zip"))
    try:
        with zipfile.ZipFile(path) as archive:
            check_member_sizes(archive, path.stat().st_size, path, str(path))
            data = json.loads(archive.read("data"))
            weights = {name: archive.read(name) for name in archive.namelist() if name.endswith(".pth")}
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not a readable stable-baselines3 zip ({type(err).__name__}: {err})",
                              path) from err
    for name, content in weights.items():  # the torch files SB3 will read, through the one safe reader first
        load_weights(io.BytesIO(content), path, f"{path} member {name}")
    algorithm, policy_class = _policy_class(path, data)
    rows, width = _dimensions(path, data)
    replacements = _replacements(path, data, policy_class, rows, width)
    import stable_baselines3

    cls = getattr(stable_baselines3, algorithm)
    try:
        model = cls.load(path, custom_objects=replacements, device=device)
    except Exception as err:  # SB3 raises many types for a damaged zip
        raise CheckpointError(f"{path} could not be loaded by stable-baselines3 {algorithm} "
                              f"({type(err).__name__}: {err})", path) from err
    return Sb3Policy(model, algorithm, rows, width, path)


def _policy_class(path: Path, data: dict[str, Any]) -> tuple[str, type]:
    entry = data.get("policy_class")
    if not isinstance(entry, dict) or ":serialized:" not in entry:
        raise CheckpointError(f"{path}: its data has no pickled policy_class", path)
    reference = _global_reference(path, entry[":serialized:"])
    if reference not in POLICIES:
        allowed = [f"{module}.{name}" for module, name in POLICIES]
        raise CheckpointError(f"{path}: policy class {'.'.join(reference)} is not allowed: CausalBO zips use a "
                              f"dictionary-observation policy, one of {allowed}", path)
    family = POLICIES[reference]
    algorithm = ("PPO" if "clip_range" in data else "A2C") if family == "on_policy" else family
    import importlib

    return algorithm, getattr(importlib.import_module(reference[0]), reference[1])


def _global_reference(path: Path, serialized: str) -> tuple[str, str]:
    """(module, name) of a pickle that is only a reference to a global, read without
    unpickling; CheckpointError for anything else (a pickled object, code, a lambda)."""
    try:
        ops = list(pickletools.genops(b64decode(serialized)))
    except Exception as err:
        raise CheckpointError(f"{path}: policy_class is not a valid pickle ({err})", path) from err
    names = {op.name for op, _, _ in ops}
    if not names <= _SAFE_OPCODES:
        raise CheckpointError(f"{path}: policy_class is a pickled object, not a reference to a class "
                              f"(opcodes {sorted(names - _SAFE_OPCODES)}); refused without unpickling", path)
    strings = [arg for op, arg, _ in ops if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE")]
    globals_ = [arg for op, arg, _ in ops if op.name == "GLOBAL"]
    if globals_:
        module, _, name = str(globals_[0]).partition(" ")
        return module, name
    if len(strings) == 2:
        return strings[0], strings[1]
    raise CheckpointError(f"{path}: policy_class is not a single class reference", path)


def _dimensions(path: Path, data: dict[str, Any]) -> tuple[int, int]:
    """(rows T, width max_nodes) of the zip's observation space, from its printed form."""
    entry = data.get("observation_space", {})
    text = entry.get("spaces") if isinstance(entry, dict) else None
    rows = re.search(r"'row_mask': MultiBinary\((\d+)\)", text or "")
    width = re.search(r"'node_mask': MultiBinary\((\d+)\)", text or "")
    if not (rows and width):
        raise CheckpointError(f"{path}: its observation space is not a CausalBO Dict observation "
                              f"(got {entry.get(':type:') if isinstance(entry, dict) else entry!r}); train SB3 "
                              "models on the Dict observation with MultiInputPolicy", path)
    return int(rows.group(1)), int(width.group(1))


def _replacements(path: Path, data: dict[str, Any], policy_class: type, rows: int, width: int) -> dict[str, Any]:
    """A safe stand-in for every pickled entry of ``data``."""
    obs_space, act_space = observation_space(rows, width), action_space(width)
    if data["observation_space"].get("spaces") != str(obs_space.spaces):
        raise CheckpointError(f"{path}: its observation space {data['observation_space'].get('spaces')} is not the "
                              f"CausalBO observation space {obs_space.spaces}", path)
    saved_action = data.get("action_space", {})
    if saved_action.get("_shape") != [width + 1] or saved_action.get("low") != str(act_space.low):
        raise CheckpointError(f"{path}: its action space (shape {saved_action.get('_shape')}) is not the CausalBO "
                              f"action space Box(-1, 1, ({width + 1},))", path)
    if isinstance(data.get("policy_kwargs"), dict) and ":serialized:" in data["policy_kwargs"]:
        raise CheckpointError(f"{path}: its policy_kwargs hold Python objects (for example an activation class), "
                              "which cannot be loaded without running code; only JSON policy_kwargs load", path)
    out: dict[str, Any] = {"policy_class": policy_class, "observation_space": obs_space, "action_space": act_space}
    for key, entry in data.items():
        if key in out or not (isinstance(entry, dict) and ":serialized:" in entry):
            continue
        constant = _CONSTANT.search(str(entry.get("value_schedule", "")))
        # Schedules, buffer classes and training frequencies do not affect prediction:
        # a constant stands in for a schedule, None for the rest (SB3 then picks its default).
        out[key] = float(constant.group(1)) if constant else _default(key)
    return out


def _default(key: str) -> Any:
    if key == "train_freq":
        from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit

        return TrainFreq(1, TrainFrequencyUnit.STEP)
    return None


class Sb3Policy:
    """An SB3 model behind the policy protocol, for observations of width ``width`` and
    ``rows`` rows (those it was trained on)."""

    def __init__(self, model: Any, algorithm: str, rows: int, width: int, path: Path) -> None:
        self.model, self.algorithm, self.rows, self.width, self.path = model, algorithm, rows, width, path

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        obs, single = as_batch(observation)
        shape = np.shape(obs["samples"])[1:]
        if shape != (self.rows, self.width):
            raise ValueError(f"observation shape (T, max_nodes) = {shape} is not allowed: the SB3 model {self.path} "
                             f"was trained on ({self.rows}, {self.width})")
        actions, state = self.model.predict(obs, state, episode_start, deterministic)
        return (actions[0] if single else actions), state
