"""Evaluation of CausalBO policies: fixed seeded episode sets, every policy on the same
episodes, regret normalised between random and oracle, with bootstrap intervals.

    python -m agents.evaluate --policy greedy --policy bo --output runs/eval

or, from Python, :func:`evaluate` with policy specs (names or files) and
:func:`~agents.evaluate.sets.build_sets`. The pieces: :mod:`~agents.evaluate.sets`
(which episodes), :mod:`~agents.evaluate.policies` (which policies),
:mod:`~agents.evaluate.rollout` (playing them), :mod:`~agents.evaluate.scores` (the
numbers) and :mod:`~agents.evaluate.report` (files and plots).
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.evaluate.policies import PolicySource, resolve
from agents.evaluate.rollout import Records, make_env, run_set
from agents.evaluate.scores import Scores, check_budgets, check_settings, default_budgets, score
from agents.evaluate.sets import EpisodeSet, build_sets
from envs.settings import EnvSettings

__all__ = ["REFERENCES", "EpisodeSet", "PolicySource", "Records", "Scores", "build_sets", "evaluate", "resolve"]

REFERENCES = ("random", "oracle")
"""The policies that normalised regret is measured against; they always run."""


def evaluate(policies: Sequence[str | PolicySource], sets: Sequence[EpisodeSet], *,
             settings: EnvSettings | None = None, budgets: Sequence[int] | None = None, resamples: int = 2000,
             seed: int = 0, device: str = "cpu", progress: bool = False, vectorised: bool = True
             ) -> tuple[dict[str, dict[str, Records]], Scores, list[str]]:
    """Run every policy on every set, the episodes played with ``settings`` (None:
    EnvSettings's defaults; ValueError if they skip the optimum, as regrets need it);
    returns ``records[set][policy]``, the scores and notes on what was skipped. Random
    and oracle are added when not asked for. A policy of fixed observation width (an SB3
    model) skips the sets whose SCMs do not fit it; ValueError if it fits none.
    ``vectorised=False`` runs curriculum sets on single environments too (the same
    records, slower). ``budgets``: the steps after which simple regret is reported
    (None: :data:`~agents.evaluate.scores.BUDGETS` within the horizon); ValueError for
    one past the horizon, before anything runs."""
    settings = EnvSettings() if settings is None else settings
    check_settings(settings)
    horizon = settings.horizon
    budgets = default_budgets(horizon) if budgets is None else list(budgets)
    check_budgets(budgets, horizon)
    sources = [resolve(p, device) if isinstance(p, str) else p for p in policies]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"policies = {names} is not allowed: each policy may appear once")
    sources = [resolve(name) for name in REFERENCES if name not in names] + sources
    notes: list[str] = []
    plan = _plan(sources, sets, settings.rows, notes)
    bar = _progress_bar(sum(s.episodes * horizon for _, s, _ in plan), progress)
    records: dict[str, dict[str, Records]] = {s.name: {} for s in sets}
    try:
        for source, episode_set, width in plan:
            env = make_env(episode_set, settings, width, vectorised)
            policy_seed = (seed * 7919 + episode_set.seed) % 2**63
            try:
                records[episode_set.name][source.name] = run_set(
                    lambda e, source=source: source.build(e, policy_seed), episode_set, env, horizon,
                    None if bar is None else bar.update)
            finally:
                env.close()
    finally:
        if bar is not None:
            bar.close()
    records = {name: by_policy for name, by_policy in records.items() if by_policy}
    scores = score(records, budgets, resamples, seed, REFERENCES)
    scores.notes[:0] = notes
    return records, scores, notes


def _plan(sources: list[PolicySource], sets: Sequence[EpisodeSet], rows: int, notes: list[str]
          ) -> list[tuple[PolicySource, EpisodeSet, int | None]]:
    """(policy, set, fixed width or None) for every pair that fits episodes of ``rows``
    rows."""
    plan = []
    for source in sources:
        fitting = 0
        for episode_set in sets:
            if source.rows is not None and source.rows != rows:
                notes.append(f"{source.name} skips {episode_set.name}: it reads {source.rows} rows, the episodes "
                             f"have n_obs + horizon * samples_per_step = {rows}")
                continue
            if source.width is not None and source.width < episode_set.widest():
                notes.append(f"{source.name} skips {episode_set.name}: it reads {source.width} variables, the set "
                             f"has up to {episode_set.widest()}")
                continue
            plan.append((source, episode_set, source.width))
            fitting += 1
        if not fitting:
            raise ValueError(f"policy {source.name} fits none of the sets: {'; '.join(notes[-len(sets):])}")
    return plan


def _progress_bar(total: int, enabled: bool):  # noqa: ANN202 - tqdm or None
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="env-step", desc="evaluate", smoothing=0.1)
