"""From step records to the numbers a report shows: per-episode metrics, set means with
95% bootstrap intervals, regret normalised between random (1) and oracle (0), and the
interquartile mean across sets.

* Simple regret after b steps: the lowest expected target among the first b
  interventions minus the optimum's; cumulative regret: the sum over the horizon of
  expected target minus optimum. Both also in units of the target's observational
  standard deviation (``_std``), which makes levels of different scale comparable.
* Normalised regret of a policy on a set: (P - O) / (R - O), with P, O and R the mean
  regrets of the policy, the oracle and the random policy on the same episodes. Its
  interval resamples episodes jointly for the three (a paired bootstrap).
* Parent rate: the share of steps that intervened on a true parent of the target.
  Range use: the mean of |u| over steps, u in [-1, 1] the value's position in the
  variable's range (0 at the centre, 1 at an end; uniform values give 0.5).
* Across sets, the interquartile mean (IQM) of the sets' normalised regrets, the
  numbers of the per-set tables (the middle half of the sets, robust to a few extreme
  ones; with fewer than four sets nothing is trimmed and it is their mean), with a
  bootstrap that resamples episodes within each set (stratified) and holds each set's
  random - oracle gap fixed. Not the IQM of per-episode scores pooled over sets: a
  policy that reaches the optimum in most episodes scores 0 in more than three
  quarters of them, and that IQM shows about 0 (1e-6 and less) while its sets' means,
  the numbers a reader sees in the per-set tables, are around 0.1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap, trim_mean

from agents.evaluate.rollout import Records
from causal_meta.options import require
from envs.settings import EnvSettings

__all__ = ["BUDGETS", "CONFIDENCE", "NORMALISED", "Estimate", "Scores", "budgets_for", "check_budgets",
           "check_settings", "default_budgets", "episode_metrics", "iqm_interval", "mean_interval", "ratio_interval",
           "score"]

CONFIDENCE = 0.95
BUDGETS = (1, 3, 5, 10)
"""The steps after which simple regret is reported (besides the horizon) unless other
budgets are given: those of them within the horizon (`default_budgets`)."""
NORMALISED = ("simple_regret", "cumulative_regret")
"""Metrics that are also reported normalised: simple regret at each budget, and the
cumulative regret."""


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% interval."""

    mean: float
    low: float
    high: float

    def to_json(self) -> list[float]:
        return [self.mean, self.low, self.high]

    def __str__(self) -> str:
        if not math.isfinite(self.mean):
            return "n/a"
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}]"


def check_budgets(budgets: Sequence[int], horizon: int) -> None:
    """ValueError naming the budgets that do not fit ``horizon``: simple regret after b
    steps needs 1 <= b <= horizon (dropping the others would hide a typo, or a horizon
    shorter than meant, behind a report that merely lacks a column)."""
    low = [b for b in budgets if b < 1]
    past = [b for b in budgets if b > horizon]
    reasons = ([f"{low} below 1"] if low else []) + ([f"{past} past the horizon {horizon}"] if past else [])
    if reasons:
        raise ValueError(f"budgets = {list(budgets)} is not allowed: {' and '.join(reasons)}; every budget must be "
                         f"in [1, {horizon}], from one step to the horizon (simple regret at the horizon is "
                         "reported anyway)")


def check_settings(settings: EnvSettings) -> None:
    """ValueError unless the episodes of ``settings`` report regrets: every score here is
    a regret, which needs the optimum that ``env.optimum_samples = 0`` skips (a training
    run may skip it)."""
    require(settings.optimum_samples != 0, "env.optimum_samples", settings.optimum_samples,
            "an integer >= 2 in an evaluation (regrets need the optimum)")


def default_budgets(horizon: int) -> list[int]:
    """The :data:`BUDGETS` within ``horizon``: budgets nobody asked for are fitted to the
    horizon, budgets given are checked (`check_budgets`)."""
    return [b for b in BUDGETS if b <= horizon]


def budgets_for(budgets: Sequence[int], horizon: int) -> list[int]:
    """The budgets and the horizon itself, sorted; ValueError for a budget that does not
    fit the horizon (`check_budgets`)."""
    check_budgets(budgets, horizon)
    return sorted({*budgets, horizon})


def episode_metrics(records: Records, budgets: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-episode metrics (E,) of a policy on a set (see the module docstring)."""
    horizon = records.simple_regret.shape[1]
    std = records.target_std
    out: dict[str, np.ndarray] = {}
    for b in budgets_for(budgets, horizon):
        out[f"simple_regret@{b}"] = records.simple_regret[:, b - 1]
        out[f"simple_regret_std@{b}"] = records.simple_regret[:, b - 1] / std
    out["cumulative_regret"] = records.cumulative_regret[:, -1]
    out["cumulative_regret_std"] = records.cumulative_regret[:, -1] / std
    out["parent_rate"] = records.is_parent.mean(axis=1)
    out["range_use"] = np.abs(records.entry).mean(axis=1)
    out["mean_target"] = records.target_value.mean(axis=1)
    out["best_target"] = records.best_target_value[:, -1]
    out["reward"] = records.reward.mean(axis=1)
    return out


def _bootstrap(data: tuple[np.ndarray, ...], statistic, resamples: int, seed: int) -> Estimate:
    value = float(statistic(*data, axis=-1))
    if not math.isfinite(value):
        return Estimate(value, math.nan, math.nan)
    if len(data[0]) < 2 or all(np.ptp(x) == 0 for x in data):
        return Estimate(value, value, value)
    result = bootstrap(data, statistic, n_resamples=resamples, confidence_level=CONFIDENCE, method="percentile",
                       paired=len(data) > 1, vectorized=True, rng=np.random.default_rng(seed))
    return Estimate(value, float(result.confidence_interval.low), float(result.confidence_interval.high))


def mean_interval(x: np.ndarray, resamples: int = 2000, seed: int = 0) -> Estimate:
    """The mean of ``x`` with a 95% percentile-bootstrap interval (scipy.stats.bootstrap)."""
    return _bootstrap((np.asarray(x, np.float64),), np.mean, resamples, seed)


def _ratio(policy: np.ndarray, oracle: np.ndarray, random: np.ndarray, axis: int = -1) -> np.ndarray:
    floor = oracle.mean(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (policy.mean(axis=axis) - floor) / (random.mean(axis=axis) - floor)


def ratio_interval(policy: np.ndarray, oracle: np.ndarray, random: np.ndarray, resamples: int = 2000,
                   seed: int = 0) -> Estimate:
    """(mean(policy) - mean(oracle)) / (mean(random) - mean(oracle)) with a paired 95%
    bootstrap interval; NaN when random does not beat the oracle's regret on average."""
    arrays = tuple(np.asarray(a, np.float64) for a in (policy, oracle, random))
    if not random.mean() - oracle.mean() > 0:
        return Estimate(math.nan, math.nan, math.nan)
    return _bootstrap(arrays, _ratio, resamples, seed)


def iqm_interval(scores: Sequence[np.ndarray], resamples: int = 2000, seed: int = 0) -> Estimate:
    """Interquartile mean over sets of each set's mean score (``scores``: one array of
    per-episode scores per set), with a 95% percentile interval from a bootstrap that
    resamples episodes within each set."""
    scores = [np.asarray(s, np.float64) for s in scores if len(s)]
    if not scores:
        return Estimate(math.nan, math.nan, math.nan)
    value = float(trim_mean([s.mean() for s in scores], 0.25))
    rng = np.random.default_rng(seed)
    means = np.stack([s[rng.integers(0, len(s), (resamples, len(s)))].mean(axis=1) for s in scores], axis=1)
    stats = trim_mean(means, 0.25, axis=1)
    alpha = (1.0 - CONFIDENCE) / 2.0
    return Estimate(value, float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha)))


@dataclass
class Scores:
    """Everything a report needs: ``sets[set][policy][metric]`` estimates,
    ``normalised_episodes[set][policy][metric]`` per-episode normalised scores, the
    ``iqm[policy][metric]`` across sets, ``curves[set][policy][name]`` per-step (mean,
    low, high) arrays, and ``notes``."""

    sets: dict[str, dict[str, dict[str, Estimate]]]
    iqm: dict[str, dict[str, Estimate]]
    curves: dict[str, dict[str, dict[str, np.ndarray]]]
    notes: list[str]


def _curve(x: np.ndarray) -> np.ndarray:
    """(3, H): per-step mean and a 95% normal interval over episodes."""
    mean = x.mean(axis=0)
    half = 1.96 * x.std(axis=0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.zeros_like(mean)
    return np.stack([mean, mean - half, mean + half])


def score(records: Mapping[str, Mapping[str, Records]], budgets: Sequence[int], resamples: int = 2000,
          seed: int = 0, reference: tuple[str, str] = ("random", "oracle")) -> Scores:
    """Scores of ``records[set][policy]``; the ``reference`` policies (random, oracle)
    must have run on every set for the normalised metrics."""
    random_name, oracle_name = reference
    sets: dict[str, dict[str, dict[str, Estimate]]] = {}
    curves: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    normalised: dict[str, dict[str, list[np.ndarray]]] = {}
    notes: list[str] = []
    for set_index, (set_name, by_policy) in enumerate(records.items()):
        metrics = {name: episode_metrics(r, budgets) for name, r in by_policy.items()}
        sets[set_name], curves[set_name] = {}, {}
        keys = [k for k in next(iter(metrics.values())) if k.split("@")[0] in NORMALISED]
        for p_index, (name, per_episode) in enumerate(metrics.items()):
            stream = seed + 1000 * set_index + p_index
            out = {key: mean_interval(values, resamples, stream) for key, values in per_episode.items()}
            if random_name in metrics and oracle_name in metrics:
                for key in keys:
                    ratio = ratio_interval(per_episode[key], metrics[oracle_name][key], metrics[random_name][key],
                                           resamples, stream)
                    out[f"normalised_{key}"] = ratio
                    floor = metrics[oracle_name][key]
                    gap = metrics[random_name][key].mean() - floor.mean()
                    if gap > 0:
                        normalised.setdefault(name, {}).setdefault(key, []).append((per_episode[key] - floor) / gap)
                    elif name == random_name:
                        notes.append(f"{set_name}: {key} of random is not above the oracle's, so it is not normalised")
            sets[set_name][name] = out
            r = by_policy[name]
            std = r.target_std[:, None]
            curves[set_name][name] = {
                "simple_regret_std": _curve(r.simple_regret / std),
                "best_target_gap_std": _curve((r.best_target_value - r.optimal_expected_target[:, None]) / std),
            }
    iqm = {name: {f"normalised_{key}": iqm_interval(scores, resamples, seed) for key, scores in by_key.items()}
           for name, by_key in normalised.items()}
    return Scores(sets, iqm, curves, notes)
