"""Score the classical structure learners on fixed test tasks of a family: the bar that
learned models must beat.

    python benchmarks/structure.py --family train_competence [--tasks 20] [--seed 0] [--checkpoint PATH]

Runs PC, GES and the random baseline (:mod:`causal_meta.baselines`) on tasks
``0 .. tasks-1`` of the test stream ``derive_seed(seed, "test")`` (:func:`causal_meta.data.fixed_tasks`,
standardised as models see them, with the data module's default numbers of
observational and interventional rows unless given). Metrics are computed per task on the
task's real variables and averaged over the tasks where they are defined. The random
baseline's density is the family's expected edge density, measured on the first 2000
graphs of the training stream ``seed`` (the prior a trained model has seen, never the
test graphs).

Prints a Markdown table, writes JSON (settings, means, standard errors, per-task values)
to ``structure_<family>.json`` in a fresh directory under ``runs/benchmarks/`` (or
``--out``) and a bar plot PNG
next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import fields
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from _common import default_out

from causal_meta import baselines, metrics
from causal_meta.data import StreamSpec, derive_seed, fixed_tasks
from causal_meta.families import load_family
from causal_meta.pretrained import DEFAULT_CHECKPOINT
from causal_meta.scm import sample_graphs
from causal_meta.specs import Family

DENSITY_GRAPHS = 2000

# (summarize key, table header, higher is better)
COLUMNS = [
    ("auroc", "AUROC", True),
    ("auprc", "AUPRC", True),
    ("edge_f1", "edge F1 @0.5", True),
    ("expected_edge_f1", "E[edge F1] (samples)", True),
    ("shd", "SHD", False),
    ("sid", "SID", False),
    ("orientation_accuracy", "orient. acc.", True),
    ("seconds", "s / task", False),
]


def family_density(family: Family, seed: int, count: int = DENSITY_GRAPHS) -> float:
    """Expected share of ordered pairs (i, j), i != j, with an edge i -> j in ``family``."""
    adjacency, n_nodes = sample_graphs(family, seed, 0, count)
    pairs = (n_nodes * (n_nodes - 1)).sum()
    return float(adjacency.sum() / pairs)


def load_test_tasks(family: Family, seed: int, count: int, n_obs: int, n_int: int) -> dict[str, np.ndarray]:
    """The fixed test tasks as numpy arrays: data, mask, adjacency, n_nodes."""
    tasks = fixed_tasks(family, derive_seed(seed, "test"), count, n_obs, n_int)
    return {
        "data": tasks["data"].numpy(),
        "mask": tasks["intervened"].numpy().astype(np.uint8),
        "adjacency": tasks["adjacency"].numpy().astype(np.uint8),
        "n_nodes": tasks["n_nodes"].numpy(),
    }


def score(tasks: dict[str, np.ndarray], fitted: baselines.PosteriorBatch) -> dict[str, list[float]]:
    """Per-task metrics (:func:`causal_meta.metrics.summarize`) on each task's real variables."""
    per_task: dict[str, list[float]] = {"seconds": fitted.seconds.tolist()}
    for t, d in enumerate(tasks["n_nodes"]):
        samples = None if fitted.samples is None else fitted.samples[t, :, :d, :d]
        row = metrics.summarize(tasks["adjacency"][t, :d, :d], fitted.probs[t, :d, :d], samples)
        for key, value in row.items():
            per_task.setdefault(key, []).append(value)
    return per_task


def mean_and_sem(values: list[float]) -> tuple[float, float]:
    """Mean and standard error over the tasks where a metric is defined (NaN if none)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan, math.nan
    sem = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(arr.mean()), sem


def markdown_table(results: dict[str, dict]) -> str:
    """Rows: learners; columns: :data:`COLUMNS`, as mean ± standard error."""
    header = "| learner | " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = []
    for name, result in results.items():
        cells = []
        for key, _, _ in COLUMNS:
            mean, sem = result["mean"].get(key, math.nan), result["sem"].get(key, math.nan)
            digits = 2 if key in ("shd", "sid") else 3
            if math.isnan(mean):
                cells.append("n/a")  # defined on no task, e.g. orientation with no edge predicted
            else:
                cells.append(f"{mean:.{digits}f}" + ("" if math.isnan(sem) else f" ± {sem:.{digits}f}"))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def bar_plot(results: dict[str, dict], title: str, path: Path) -> None:
    """Scores in [0, 1] on the left, distances (lower is better) on the right."""
    groups = [[c for c in COLUMNS if c[0] not in ("shd", "sid", "seconds")],
              [c for c in COLUMNS if c[0] in ("shd", "sid")]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(results)
    for ax, group in zip(axes, groups):
        x = np.arange(len(group))
        for k, (name, result) in enumerate(results.items()):
            means = [result["mean"].get(key, math.nan) for key, _, _ in group]
            sems = [result["sem"].get(key, math.nan) for key, _, _ in group]
            ax.bar(x + k * width, means, width, yerr=np.nan_to_num(sems), capsize=2, label=name)
        ax.set_xticks(x + width * (len(results) - 1) / 2, [h for _, h, _ in group], fontsize=8)
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("higher is better")
    axes[1].set_ylabel("lower is better")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> dict:
    """Fit every learner on the test tasks; return the JSON-ready results."""
    family = load_family(args.family)
    tasks = load_test_tasks(family, args.seed, args.tasks, args.n_obs, args.n_int)
    density = family_density(family, args.seed)
    checkpoint = args.checkpoint if args.checkpoint is not None else DEFAULT_CHECKPOINT
    settings = {"pc": {"alpha": args.alpha}, "ges": {}, "random": {"density": density}, "avici": {"path": str(checkpoint)}}
    names = dict.fromkeys([*args.learners, *(["avici"] if args.checkpoint is not None else [])])
    learners = {name: baselines.get_learner(name, n_samples=args.samples, **settings[name]) for name in names}
    results = {}
    for name, learner in learners.items():
        print(f"fitting {name} on {args.tasks} tasks ...", file=sys.stderr, flush=True)
        fitted = baselines.fit_tasks(learner, tasks["data"], tasks["mask"], tasks["n_nodes"], seed=args.seed)
        per_task = score(tasks, fitted)
        stats = {key: mean_and_sem(values) for key, values in per_task.items()}
        results[name] = {
            "settings": {"n_samples": args.samples, **settings[name]},
            "mean": {key: m for key, (m, _) in stats.items()},
            "sem": {key: s for key, (_, s) in stats.items()},
            "per_task": per_task,
        }
    return {
        "family": args.family,
        "family_spec": family.to_dict(),
        "seed": args.seed,
        "test_seed": derive_seed(args.seed, "test"),
        "tasks": args.tasks,
        "n_obs": args.n_obs,
        "n_int": args.n_int,
        "density": density,
        "threshold": 0.5,
        "learners": results,
    }


def _nan_to_null(value: object) -> object:
    """NaN (an undefined metric) as JSON null, since NaN is not valid JSON."""
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_null(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _defaults() -> dict[str, int]:
    """The data module's default row counts, so that baselines see what models see."""
    return {f.name: f.default for f in fields(StreamSpec) if f.name in ("n_obs", "n_int")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--help`` lists them."""
    rows = _defaults()
    parser = argparse.ArgumentParser(
        prog="python benchmarks/structure.py",
        description="Score PC, GES and the random baseline on fixed test tasks of a family.",
    )
    parser.add_argument("--family", default="train_competence",
                        help="family reference: NAME (a collection's train family), NAME/FAMILY or a YAML path")
    parser.add_argument("--tasks", type=int, default=20, help="number of test tasks (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="training seed; test tasks use derive_seed(seed, 'test')")
    parser.add_argument("--n-obs", type=int, default=rows["n_obs"], help="observational rows per task")
    parser.add_argument("--n-int", type=int, default=rows["n_int"], help="interventional rows per task")
    parser.add_argument("--samples", type=int, default=100, help="graph samples per task (default 100)")
    parser.add_argument("--alpha", type=float, default=0.05, help="PC's significance level (default 0.05)")
    parser.add_argument("--learners", nargs="+", default=["pc", "ges", "random"], choices=list(baselines.LEARNERS),
                        help="learners to score (default: pc ges random); avici is the shipped checkpoint "
                             "unless --checkpoint names another")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="also score the AVICI model saved in this checkpoint on the same tasks")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default: runs/benchmarks/<time>/structure_<family>.json); the PNG "
                             "goes next to it")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error(f"--tasks must be >= 1; got {args.tasks}")
    if args.out is None:
        stem = Path(args.family).stem if args.family.endswith((".yaml", ".yml")) else args.family.replace("/", "_")
        args.out = default_out(f"structure_{stem}.json")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run, print the table, write JSON and PNG."""
    args = parse_args(argv)
    report = run(args)
    title = (f"{args.family}: {args.tasks} test tasks, n_obs = {args.n_obs}, n_int = {args.n_int} "
             f"(random density {report['density']:.3f})")
    print(f"### {title}\n\n{markdown_table(report['learners'])}\n")
    print("Means ± standard errors over tasks. Point metrics threshold P(edge) > 0.5, so the "
          "undirected edges of PC and GES (0.5 each way) are not predicted there; the samples orient them.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_nan_to_null(report), indent=2, allow_nan=False) + "\n")
    bar_plot(report["learners"], title, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
