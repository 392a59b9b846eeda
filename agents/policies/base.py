"""The policy protocol and helpers shared by the policies."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from envs.actions import one_hot_actions

__all__ = ["OutcomePolicy", "Policy", "RandomStartPolicy", "as_batch"]


class Policy(Protocol):
    """stable-baselines3's prediction interface."""

    def predict(self, observation: dict[str, np.ndarray], state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]: ...


def as_batch(observation: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], bool]:
    """The observation with a leading batch axis, and whether it was a single one (its
    ``target`` is then 1-D)."""
    single = np.ndim(observation["target"]) == 1
    if single:
        return {key: np.asarray(value)[None] for key, value in observation.items()}, True
    return observation, False


Memory = list[list[tuple[int, float]]]
"""The state of a policy that remembers its actions: for each environment of the batch,
the (node, value entry) of every action taken in its current episode."""


def start_memory(state: Memory | None, episode_start: np.ndarray | None, batch: int) -> Memory:
    """The memory to continue from: fresh for ``state=None``; otherwise ``state`` with the
    environments where ``episode_start`` is True emptied (stable-baselines3's convention
    for recurrent state)."""
    if state is None:
        return [[] for _ in range(batch)]
    if len(state) != batch:
        raise ValueError(f"state length = {len(state)} is not allowed: must be the batch size {batch}")
    starts = np.zeros(batch, bool) if episode_start is None else np.asarray(episode_start, bool).reshape(batch)
    return [[] if start else list(history) for history, start in zip(state, starts)]


def remember(memory: Memory, nodes: np.ndarray, entries: np.ndarray) -> Memory:
    """``memory`` with each environment's new action appended."""
    for history, node, entry in zip(memory, nodes.tolist(), entries.tolist()):
        history.append((int(node), float(entry)))
    return memory


def outcomes(observation: dict[str, np.ndarray], i: int, history: list[tuple[int, float]]) -> np.ndarray:
    """The standardised target value that each remembered action of environment ``i``
    produced (the mean over its rows), read from the interventional rows of the
    observation in order. ValueError when the rows do not match the memory (a new
    episode started without ``episode_start``)."""
    rows = np.asarray(observation["row_mask"][i], bool)
    flags = np.asarray(observation["intervened"][i], bool) & rows[:, None]
    step_rows = np.flatnonzero(flags.any(axis=1))
    k = len(history)
    if (k == 0) != (len(step_rows) == 0) or (k and len(step_rows) % k):
        raise ValueError(f"the policy remembers {k} actions but the observation has {len(step_rows)} interventional "
                         "rows: pass episode_start=True for environments whose episode just began")
    if not k:
        return np.zeros(0)
    per_step = len(step_rows) // k
    nodes = flags[step_rows].argmax(axis=1).reshape(k, per_step)[:, 0]
    if nodes.tolist() != [node for node, _ in history]:
        raise ValueError("the variables intervened on in the observation differ from the remembered actions: pass "
                         "episode_start=True for environments whose episode just began")
    target = int(np.argmax(observation["target"][i]))
    return np.asarray(observation["samples"][i], np.float64)[step_rows, target].reshape(k, per_step).mean(axis=1)


class OutcomePolicy:
    """Base of the policies that choose from the outcomes of their own earlier actions
    in the episode (the BO baselines): stable-baselines3's ``predict`` over a batch, the
    actions remembered in the SB3 ``state`` (pass ``episode_start`` as SB3 does), their
    outcomes read from the observation (:func:`outcomes`), and each environment's choice
    left to :meth:`choose`."""

    def predict(self, observation: dict[str, np.ndarray], state: Memory | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = False) -> tuple[np.ndarray, Memory]:
        obs, single = as_batch(observation)
        batch, width = np.shape(obs["valid"])
        memory = start_memory(state, episode_start, batch)
        nodes, entries = np.zeros(batch, np.int64), np.zeros(batch)
        for i, history in enumerate(memory):
            nodes[i], entries[i] = self.choose(obs, i, history, outcomes(obs, i, history))
        actions = one_hot_actions(nodes, entries, width)
        return (actions[0] if single else actions), remember(memory, nodes, entries)

    def choose(self, obs: dict[str, np.ndarray], i: int, history: list[tuple[int, float]], ys: np.ndarray
               ) -> tuple[int, float]:
        """The (variable, value entry in [-1, 1]) for environment ``i`` of the batch
        ``obs``, given its remembered actions and their standardised outcomes ``ys``."""
        raise NotImplementedError


class RandomStartPolicy(OutcomePolicy):
    """An :class:`OutcomePolicy` that opens each episode, before any outcome, with the
    usual random initial design: a uniformly random valid variable and a uniform value
    entry in [-1, 1], from the generator seeded by ``seed``; later steps are left to
    :meth:`acquire`."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, obs: dict[str, np.ndarray], i: int, history: list[tuple[int, float]], ys: np.ndarray
               ) -> tuple[int, float]:
        valid = np.flatnonzero(obs["valid"][i])
        if not history:
            return int(self.rng.choice(valid)), float(self.rng.uniform(-1.0, 1.0))
        return self.acquire(obs, i, valid, history, ys)

    def acquire(self, obs: dict[str, np.ndarray], i: int, valid: np.ndarray, history: list[tuple[int, float]],
                ys: np.ndarray) -> tuple[int, float]:
        """The choice once outcomes exist; ``valid`` holds the indices of the valid
        variables."""
        raise NotImplementedError
