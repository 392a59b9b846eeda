"""The adaptive curriculum of the GRPO trainer over the environment's levels.

Training starts at level ``start``. Every ``check_every`` iterations the episodes
played at the current level since the last check are judged: the check passes when the
policy's most likely variable (what it plays when deterministic) was a true parent of
the target in at least a share ``parent_rate`` of their steps, and their mean simple
regret at the horizon, in target standard deviations, is at most ``regret``. After ``patience``
consecutive passing checks, and once at least ``min_episodes`` episodes were played at
the level, the curriculum moves to the next level; after ``max_episodes`` it moves on
regardless (the history records which). ``stop`` is the last level. A share ``review``
of each iteration's environments replays earlier levels (uniformly), so that the policy
keeps what it learnt.

Reward, parent rate, regret and surrogate F1 are kept per level for the logs; the
level history (iteration, level, reason) for the plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_meta.options import option
from envs.curriculum import MAX_LEVEL

__all__ = ["Curriculum", "CurriculumConfig", "TRACKED"]

TRACKED = ("reward", "parent_rate", "greedy_parent_rate", "simple_regret_std", "surrogate_f1")
"""Per-episode metrics kept per level."""


@dataclass
class CurriculumConfig:
    """When the curriculum advances (the ``curriculum`` section of the GRPO config)."""

    start: int = option(1, "first level")
    stop: int = option(3, "last level")
    check_every: int = option(5, "iterations between checks")
    patience: int = option(2, "consecutive passing checks needed to advance")
    min_episodes: int = option(320, "episodes at a level before it may advance")
    max_episodes: int = option(1600, "episodes after which a level advances regardless")
    parent_rate: float = option(0.8, "a check passes when the policy's most likely variable is a parent at least "
                                     "this often ...")
    regret: float = option(0.3, "... and at most this mean simple regret at the horizon (target std units)")
    review: float = option(0.25, "share of environments that replay earlier levels")

    def __post_init__(self) -> None:
        for name in ("start", "stop"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_LEVEL:
                raise ValueError(f"curriculum.{name} = {value} is not allowed: must be a level in [1, {MAX_LEVEL}]")
        if self.stop < self.start:
            raise ValueError(f"curriculum.stop = {self.stop} is not allowed: must be >= curriculum.start = "
                             f"{self.start}")
        for name in ("check_every", "patience", "min_episodes", "max_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"curriculum.{name} = {getattr(self, name)} is not allowed: must be an integer >= 1")
        for name, low, high in (("parent_rate", 0.0, 1.0), ("review", 0.0, 1.0)):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"curriculum.{name} = {getattr(self, name)} is not allowed: must be in [0, 1]")
        if not (math.isfinite(self.regret) and self.regret >= 0):
            raise ValueError(f"curriculum.regret = {self.regret} is not allowed: must be a finite number >= 0")


class Curriculum:
    """The curriculum's state; :meth:`state_dict` holds only numbers and lists."""

    def __init__(self, config: CurriculumConfig) -> None:
        self.config = config
        self.level = config.start
        self.episodes_at_level = 0
        self.passes = 0
        self.window: dict[str, list[float]] = {"greedy_parent_rate": [], "simple_regret_std": []}
        self.history: list[list[Any]] = [[0, config.start, "start"]]
        self.totals: dict[int, dict[str, float]] = {}

    def levels(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """The level of each of ``count`` new episodes: the current one, and for a share
        ``review`` of them an earlier one."""
        out = np.full(count, self.level, np.int64)
        if self.level > self.config.start and self.config.review > 0:
            review = rng.random(count) < self.config.review
            out[review] = rng.integers(self.config.start, self.level, int(review.sum()))
        return out

    def record(self, levels: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        """Add finished episodes: their levels (E,) and the :data:`TRACKED` metrics (E,)."""
        for level in np.unique(levels).tolist():
            at = levels == level
            totals = self.totals.setdefault(int(level), {"episodes": 0.0, **{key: 0.0 for key in TRACKED}})
            totals["episodes"] += float(at.sum())
            for key in TRACKED:
                totals[key] += float(np.nansum(metrics[key][at]))
        current = levels == self.level
        self.episodes_at_level += int(current.sum())
        for key in self.window:
            self.window[key].extend(metrics[key][current].tolist())

    def check(self, iteration: int) -> str | None:
        """At a check iteration, judge the window; return "advanced" or "capped" when the
        level moved on, else None."""
        cfg = self.config
        if iteration % cfg.check_every:
            return None
        parent = np.nanmean(self.window["greedy_parent_rate"]) if self.window["greedy_parent_rate"] else 0.0
        regret = np.nanmean(self.window["simple_regret_std"]) if self.window["simple_regret_std"] else math.inf
        self.window = {key: [] for key in self.window}
        if self.level >= cfg.stop:
            return None
        self.passes = self.passes + 1 if parent >= cfg.parent_rate and regret <= cfg.regret else 0
        reason = None
        if self.passes >= cfg.patience and self.episodes_at_level >= cfg.min_episodes:
            reason = "advanced"
        elif self.episodes_at_level >= cfg.max_episodes:
            reason = "capped"
        if reason:
            self.level += 1
            self.episodes_at_level, self.passes = 0, 0
            self.history.append([iteration, self.level, reason])
        return reason

    def means(self) -> dict[int, dict[str, float]]:
        """Per level: episodes and the mean of every tracked metric."""
        return {level: {"episodes": t["episodes"], **{k: t[k] / max(t["episodes"], 1.0) for k in TRACKED}}
                for level, t in sorted(self.totals.items())}

    def state_dict(self) -> dict[str, Any]:
        return {"level": self.level, "episodes_at_level": self.episodes_at_level, "passes": self.passes,
                "window": {k: list(v) for k, v in self.window.items()}, "history": [list(h) for h in self.history],
                "totals": {str(level): dict(t) for level, t in self.totals.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.level, self.episodes_at_level, self.passes = state["level"], state["episodes_at_level"], state["passes"]
        self.window = {k: list(v) for k, v in state["window"].items()}
        self.history = [list(h) for h in state["history"]]
        self.totals = {int(level): dict(t) for level, t in state["totals"].items()}
