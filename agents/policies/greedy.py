"""A simple, non-learned heuristic: the bar a learned policy must clear, beyond random."""

from __future__ import annotations

import numpy as np

from agents.policies.base import Memory, as_batch, outcomes, remember, start_memory
from envs.actions import one_hot_actions

__all__ = ["GreedyPolicy", "target_correlations"]


def target_correlations(observation: dict[str, np.ndarray]) -> np.ndarray:
    """(N, D) Pearson correlation of every variable with the target over the rows filled
    so far (observational and interventional alike); 0 for constant columns."""
    x = np.asarray(observation["samples"], np.float64)
    rows = np.asarray(observation["row_mask"], bool)[..., None]
    target = np.asarray(observation["target"]).argmax(axis=1)
    count = np.maximum(rows.sum(axis=1), 1)
    centred = np.where(rows, x - (x * rows).sum(axis=1, keepdims=True) / count[:, None], 0.0)
    y = centred[np.arange(len(x)), :, target]
    cov = np.einsum("ntd,nt->nd", centred, y)
    var = (centred**2).sum(axis=1)
    scale = np.sqrt(var * var[np.arange(len(x)), target][:, None])
    return np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)


class GreedyPolicy:
    """Correlation-guided search that keeps its best find.

    Each step it ranks the valid variables by the absolute correlation of their values
    with the target's in the rows seen so far. On even steps (0, 2, 4, ...) it tries the
    best-ranked variable not yet tried, at the end of its range that the correlation's
    sign says lowers the target (the low end for a positive correlation); on odd steps,
    and once every variable has been tried, it replays the (variable, end) whose
    outcomes had the lowest mean target. It remembers its own actions in the
    stable-baselines3 ``state`` (pass ``episode_start`` as SB3 does); the outcomes come
    from the observation. Deterministic.

    On linear SCMs the best single intervention is at an end of some variable's range,
    so this finds it once it tries the right variable; it has no notion of values inside
    a range or of nonlinear responses.
    """

    def predict(self, observation: dict[str, np.ndarray], state: Memory | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = False) -> tuple[np.ndarray, Memory]:
        obs, single = as_batch(observation)
        batch, width = np.shape(obs["valid"])
        memory = start_memory(state, episode_start, batch)
        corr = target_correlations(obs)
        nodes, entries = np.zeros(batch, np.int64), np.zeros(batch)
        for i, history in enumerate(memory):
            nodes[i], entries[i] = self._choose(np.asarray(obs["valid"][i], bool), corr[i], history,
                                                outcomes(obs, i, history))
        actions = one_hot_actions(nodes, entries, width)
        return (actions[0] if single else actions), remember(memory, nodes, entries)

    @staticmethod
    def _choose(valid: np.ndarray, corr: np.ndarray, history: list[tuple[int, float]], ys: np.ndarray
                ) -> tuple[int, float]:
        tried = {node for node, _ in history}
        untried = [i for i in np.argsort(-np.abs(corr), kind="stable").tolist() if valid[i] and i not in tried]
        if untried and (len(history) % 2 == 0 or not history):
            node = untried[0]
            return node, (-1.0 if corr[node] >= 0 else 1.0)
        means: dict[tuple[int, float], list[float]] = {}
        for pair, y in zip(history, ys.tolist()):
            means.setdefault(pair, []).append(y)
        return min(means, key=lambda pair: float(np.mean(means[pair])))
