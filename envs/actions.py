"""The action of a CausalBO environment: which variable to intervene on, and the value.

One rule, used by the environment's ``step``, its what-if method, the vector
environment and every baseline, so that training, evaluation and baselines cannot drift
apart (the system this project replaces used different intervention ranges in training
and evaluation, and let its random baseline intervene on the target).

An action is a float vector of length ``max_nodes + 1``:

* ``action[:max_nodes]`` score the variables. The chosen variable is the argmax of the
  scores over the valid nodes: real (not padding), not the target, and manipulable
  (every other node for curriculum SCMs; the published ones for named SCMs). Ties go to
  the lowest index. The target and padded nodes can never be chosen. Scores outside
  [-1, 1] are used as they are: only their order counts.
* ``action[max_nodes]`` is clipped to [-1, 1] (as stable-baselines3 clips Box actions)
  and mapped affinely onto the chosen node's interval: -1 -> ``low[i]``, 1 -> ``high[i]``.

A NaN or infinite entry, a non-numeric array or a wrong shape raises ValueError.

The interval of node i, in the units of the SCM, is ``mean_i + r * std_i`` for r in the
:class:`InterventionRange` [low, high], where mean and std are the node's observational
moments: a range of [-2, 2] means "up to two observational standard deviations either
way" whatever the scale of the variable. Named benchmark SCMs use their published
intervention domains instead. The interval's ends are rounded to float32, the precision
at which the engine sets values, so that every decoded value lies inside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_meta.options import option
from envs.checks import check_array

__all__ = ["DEFAULT_INTERVENTION_RANGE", "InterventionRange", "check_actions", "decode_action", "decode_actions",
           "encode_actions", "one_hot_actions"]


@dataclass(frozen=True)
class InterventionRange:
    """Intervention values from ``low`` to ``high`` observational standard deviations
    around each variable's observational mean."""

    low: float = option(-2.0, "lowest value: this many observational standard deviations from the mean")
    high: float = option(2.0, "highest value: this many observational standard deviations from the mean")

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"env.intervention_range.{name} = {value!r} is not allowed: must be a finite number")
        if not self.low < self.high:
            raise ValueError(f"env.intervention_range = ({self.low}, {self.high}) is not allowed: needs low < high")

    @classmethod
    def of(cls, value: Any) -> InterventionRange:
        """An InterventionRange from itself, ``w`` (meaning [-w, w]) or ``(low, high)``."""
        if isinstance(value, InterventionRange):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(-value, value)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return cls(*value)
        raise ValueError(f"env.intervention_range = {value!r} is not allowed: expected a number w (for [-w, w]), "
                         "a pair (low, high) or an InterventionRange")

    def bounds(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-node (low, high) in the SCM's units."""
        return mean + self.low * std, mean + self.high * std


DEFAULT_INTERVENTION_RANGE = InterventionRange(-2.0, 2.0)
"""Two observational standard deviations either side of the mean."""


def check_actions(actions: Any, max_nodes: int, leading: Mapping[str, int | None] | None = None) -> np.ndarray:
    """``actions`` as float64 of shape (*leading, max_nodes + 1): one action, or a batch
    whose leading axes ``leading`` names in the caller's terms with their sizes (None:
    any), e.g. ``{"env": num_envs, "candidate": None}``, so that a bad entry is reported
    at the caller's index (``action[env 1, candidate 2, entry 3] = nan``), not at an
    index into the flattened batch that is decoded. ValueError for another shape, a
    non-numeric array or a non-finite entry."""
    return check_array(actions, "action", {**(leading or {}), "entry": max_nodes + 1})


def decode_actions(a: np.ndarray, valid: np.ndarray, low: np.ndarray, high: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Chosen nodes (int64) and values of checked actions ``a`` ((N, D + 1)), given
    per-environment masks ``valid`` (N, D) and bounds ``low``, ``high`` (N, D). The values
    are float32, the precision at which the engine sets them."""
    d = valid.shape[1]
    nodes = np.where(valid, a[:, :d], -np.inf).argmax(axis=1)
    rows = np.arange(len(nodes))
    lo, hi = low[rows, nodes], high[rows, nodes]
    values = lo + (np.minimum(np.maximum(a[:, d], -1.0), 1.0) + 1.0) / 2.0 * (hi - lo)
    return nodes, values.astype(np.float32)


def decode_action(a: np.ndarray, penalty: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[int, float]:
    """:func:`decode_actions` for one checked action ``a`` ((D + 1,)) and (D,) arrays, with
    the same arithmetic in Python floats (a single step cannot afford the batch overhead).
    ``penalty`` is 0 for valid nodes and -inf for the others (cached per episode): adding
    it to the finite scores masks exactly as ``np.where(valid, scores, -inf)`` does."""
    d = len(penalty)
    node = int((a[:d] + penalty).argmax())
    lo, hi = float(low[node]), float(high[node])
    value = lo + (min(max(float(a[d]), -1.0), 1.0) + 1.0) / 2.0 * (hi - lo)
    return node, float(np.float32(value))


def encode_actions(nodes: np.ndarray, values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The inverse of :func:`decode_actions`: float32 actions (N, D + 1) that choose node
    ``nodes[k]`` (scores 1 there, -1 elsewhere) with value ``values[k]``, given the
    bounds ``low``, ``high`` (N, D). Values outside a node's interval are clipped to it.
    Decoding gives back the node, and the value up to float32 rounding."""
    nodes = np.asarray(nodes, np.int64)
    rows = np.arange(len(nodes))
    lo, hi = low[rows, nodes], high[rows, nodes]
    return one_hot_actions(nodes, np.clip(2.0 * (np.asarray(values, np.float64) - lo) / (hi - lo) - 1.0, -1.0, 1.0),
                           low.shape[1])


def one_hot_actions(nodes: np.ndarray, entries: np.ndarray, width: int) -> np.ndarray:
    """float32 actions (N, width + 1) that choose ``nodes`` (score 1, -1 elsewhere) with
    the value entries ``entries`` (in [-1, 1]: the position in each node's interval)."""
    out = -np.ones((len(nodes), width + 1), np.float32)
    out[np.arange(len(nodes)), nodes] = 1.0
    out[:, width] = entries
    return out
