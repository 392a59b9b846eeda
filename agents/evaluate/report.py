"""Write an evaluation's results: ``results.json`` (configuration, package versions,
per-episode metrics, set summaries), ``report.md`` and three plots:

* ``regret_curves.png``: simple regret (in target standard deviations) against the
  step, one panel per set, a line and a 95% band per policy;
* ``best_target.png``: the best target value seen so far minus the optimum's expected
  target, likewise (noisy samples can dip below the optimum's mean);
* ``normalised_regret.png``: bars of normalised simple regret after 3 steps and of
  normalised cumulative regret per set and policy, with 95% intervals, and the IQM
  across sets.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate.rollout import Records
from agents.evaluate.scores import Scores, budgets_for, episode_metrics
from agents.evaluate.sets import EpisodeSet
from causal_meta.atomic import json_safe, write_atomic, write_json

__all__ = ["write_report"]

_PACKAGES = ("causal-meta", "numpy", "scipy", "torch", "gymnasium", "stable-baselines3", "scikit-learn")


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def results_json(config: dict[str, Any], sets: list[EpisodeSet], records: dict[str, dict[str, Records]],
                 scores: Scores, budgets: list[int]) -> dict[str, Any]:
    """The content of results.json."""
    episodes: dict[str, dict[str, Any]] = {}
    for set_name, by_policy in records.items():
        episodes[set_name] = {}
        for name, r in by_policy.items():
            metrics = {key: values.tolist() for key, values in episode_metrics(r, budgets).items()}
            episodes[set_name][name] = {
                "seed": r.seeds.tolist(), "level": r.level.tolist(), "target_std": r.target_std.tolist(),
                "optimal_node": r.optimal_node.tolist(), "optimal_value": r.optimal_value.tolist(),
                "optimal_expected_target": r.optimal_expected_target.tolist(),
                "optimal_stderr": r.optimal_stderr.tolist(), **metrics,
                "seconds": r.seconds, "episodes_per_second": len(r.seeds) / r.seconds,
            }
    return json_safe({
        "config": config,
        "versions": _versions(),
        "sets": [{"name": s.name, "env": s.env, "episodes": s.episodes, "seed": s.seed} for s in sets],
        "summary": {s: {p: {k: e.to_json() for k, e in m.items()} for p, m in by_p.items()}
                    for s, by_p in scores.sets.items()},
        "iqm": {p: {k: e.to_json() for k, e in m.items()} for p, m in scores.iqm.items()},
        "notes": scores.notes,
        "episodes": episodes,
    })


def markdown(sets: list[EpisodeSet], records: dict[str, dict[str, Records]], scores: Scores, budgets: list[int],
             horizon: int, title: str) -> str:
    """The content of report.md."""
    shown = budgets_for(budgets, horizon)
    early = 3 if 3 in shown else shown[0]
    lines = [f"# {title}", "",
             f"{len(sets)} sets, {sets[0].episodes if sets else 0} episodes each, horizon {horizon}. Normalised "
             "regret: (policy - oracle) / (random - oracle) on the same episodes, so random = 1 and oracle = 0; "
             "lower is better. Brackets: 95% bootstrap intervals. Regrets marked (std) are in units of the "
             "target's observational standard deviation.", ""]
    if scores.iqm:
        lines += ["## Across sets: interquartile mean of normalised regret", "",
                  "The interquartile mean over sets of each policy's normalised regret in the per-set tables "
                  "below (the middle half of the sets; with fewer than four sets, their mean). Brackets: a "
                  "bootstrap over the episodes of each set.", "",
                  f"| policy | simple regret @{early} | simple regret @{horizon} | cumulative regret |",
                  "|---|---|---|---|"]
        for name, metrics in scores.iqm.items():
            keys = (f"normalised_simple_regret@{early}", f"normalised_simple_regret@{horizon}",
                    "normalised_cumulative_regret")
            cells = [metrics.get(key) for key in keys]
            lines.append(f"| {name} | " + " | ".join(str(c) if c else "n/a" for c in cells) + " |")
        lines.append("")
    lines += ["## Per set", ""]
    header = ["policy", *[f"norm. simple @{b}" for b in shown], "norm. cumulative", f"simple @{horizon} (std)",
              "cumulative (std)", "parent rate", "range use", "episodes/s"]
    for episode_set in sets:
        by_policy = scores.sets.get(episode_set.name)
        if not by_policy:
            continue
        env = ", ".join(f"{k}={v}" for k, v in episode_set.env.items())
        lines += [f"### {episode_set.name} ({env})", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        for name, m in by_policy.items():
            r = records[episode_set.name][name]
            cells = [str(m.get(f"normalised_simple_regret@{b}", "n/a")) for b in shown]
            cells += [str(m.get("normalised_cumulative_regret", "n/a")), str(m[f"simple_regret_std@{horizon}"]),
                      str(m["cumulative_regret_std"]), str(m["parent_rate"]), str(m["range_use"]),
                      f"{len(r.seeds) / r.seconds:.0f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if scores.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in scores.notes], ""]
    return "\n".join(lines)


def _colours(policies: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(policies)}


def _curve_figure(scores: Scores, key: str, ylabel: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(scores.curves)
    policies = list(dict.fromkeys(p for by_p in scores.curves.values() for p in by_p))
    colours = _colours(policies)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, set_name in zip(axes, names):
        for name, curves in scores.curves[set_name].items():
            mean, low, high = curves[key]
            steps = np.arange(1, len(mean) + 1)
            ax.plot(steps, mean, color=colours[name], label=name)
            ax.fill_between(steps, low, high, color=colours[name], alpha=0.2, linewidth=0)
        ax.set_title(set_name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _bar_figure(scores: Scores, horizon: int, budgets: list[int], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = budgets_for(budgets, horizon)
    early = 3 if 3 in shown else shown[0]
    panels = [(f"normalised_simple_regret@{early}", f"normalised simple regret after {early} steps"),
              ("normalised_cumulative_regret", "normalised cumulative regret")]
    groups = [*scores.sets, "IQM"]
    policies = list(dict.fromkeys(p for by_p in scores.sets.values() for p in by_p))
    colours = _colours(policies)
    fig = Figure(figsize=(min(18.0, max(8.0, 0.12 * len(groups) * max(1, len(policies)))), 6.5))
    FigureCanvasAgg(fig)
    width = 0.8 / max(1, len(policies))
    for ax, (key, title) in zip(fig.subplots(2, 1), panels):
        for j, name in enumerate(policies):
            estimates = [scores.sets[g].get(name, {}).get(key) for g in groups[:-1]]
            estimates.append(scores.iqm.get(name, {}).get(key))
            x = np.arange(len(groups)) + (j - (len(policies) - 1) / 2) * width
            mean = np.array([e.mean if e else np.nan for e in estimates])
            err = np.array([[e.mean - e.low, e.high - e.mean] if e else [np.nan, np.nan] for e in estimates]).T
            ax.bar(x, mean, width, yerr=np.nan_to_num(err), color=colours[name], label=name, capsize=2)
        ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
        ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title} (random = 1, oracle = 0)", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.axes[0].legend(fontsize=7, ncol=len(policies))
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def write_report(directory: Path, config: dict[str, Any], sets: list[EpisodeSet],
                 records: dict[str, dict[str, Records]], scores: Scores, budgets: list[int], horizon: int,
                 title: str = "CausalBO evaluation") -> dict[str, Path]:
    """Write results.json, report.md and the plots into ``directory``; their paths.

    An earlier evaluation there is replaced, and a line on stderr says so (with the time
    it was written): rerunning ``python -m agents.grpo`` resumes from the finished
    ``last.pt`` and its seeded evaluation gives the same numbers again, so a new folder
    per rerun would pile up copies, while the trainer's printout and the README name
    ``runs/<preset>/evaluation`` as the place to look."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"results": directory / "results.json", "report": directory / "report.md",
             "regret_curves": directory / "regret_curves.png", "best_target": directory / "best_target.png",
             "normalised_regret": directory / "normalised_regret.png"}
    if paths["results"].exists():
        written = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(paths["results"].stat().st_mtime))
        print(f"note: overwriting the evaluation in {directory} (written {written})", file=sys.stderr)
    data = results_json(config, sets, records, scores, budgets)
    write_json(paths["results"], data, indent=None)
    write_atomic(paths["report"], markdown(sets, records, scores, budgets, horizon, title).encode())
    _curve_figure(scores, "simple_regret_std", "simple regret / std(target)", paths["regret_curves"])
    _curve_figure(scores, "best_target_gap_std", "(best target - optimum) / std", paths["best_target"])
    _bar_figure(scores, horizon, budgets, paths["normalised_regret"])
    return paths
